"""The Service-to-pod join (PP017): selectors against pod-template labels, targetPort by name or number.

Fixtures are the shapes real charts ship: a Deployment and its Service in one multi-document
file, a StatefulSet with a headless Service in its own namespace, a CronJob, a bare Pod.
"""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy.model import ServicePort
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded, run_python_bounded


def deployment(name: str, labels: str, ports: str, kind: str = "Deployment", namespace: str = "") -> str:
    """A workload whose one container declares ``ports`` (YAML flow list), its template labelled ``labels``."""
    ns = f"  namespace: {namespace}\n" if namespace else ""
    return (
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n"
        f"  selector:\n    matchLabels: {labels}\n  template:\n    metadata:\n      labels: {labels}\n"
        f"    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/{name}:1.0\n"
        f"          ports: {ports}\n"
    )


def service(name: str, selector: str, ports: str, namespace: str = "") -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n{ns}spec:\n  selector: {selector}\n  ports: {ports}\n"


def pp017(root: Path) -> list[tuple[int, str, str]]:
    report = scan_tree(root, select=["PP017"])
    return [(f.location.line, f.severity, f.message) for f in report.findings if f.rule == "PP017"]


def service_ports(root: Path) -> list[ServicePort]:
    return [f for f in scan_tree(root, select=["PP017"]).facts if isinstance(f, ServicePort)]


def test_renamed_port_reaches_nothing(tmp_path: Path) -> None:
    """The real chart bug: ``http`` in the Service, ``htttp`` on the container."""
    text = (
        deployment("web", "{app: web}", "[{name: htttp, containerPort: 8080}]")
        + "---\n"
        + service("web", "{app: web}", "[{name: http, port: 80, targetPort: http}]")
    )
    write_tree(tmp_path, {"deploy/web.yaml": text})
    [(line, severity, message)] = pp017(tmp_path)
    assert (line, severity) == (23, "warning")
    assert message == (
        "Service web port 80/TCP targets the container port named 'http', but no container of the pods its"
        " selector picks (Deployment web) declares that name for TCP; they declare htttp TCP/8080: the"
        " endpoints controller makes no endpoint for it and traffic goes nowhere; make the names agree"
    )


def test_matching_name_reaches_the_container_port(tmp_path: Path) -> None:
    text = (
        deployment("web", "{app: web, tier: front}", "[{name: http, containerPort: 8080}]")
        + "---\n"
        + service("web", "{app: web}", "[{name: http, port: 80, targetPort: http}]")
    )
    write_tree(tmp_path, {"deploy/web.yaml": text})
    assert pp017(tmp_path) == []
    [sp] = service_ports(tmp_path)
    assert (sp.join, sp.selects, sp.reaches) == ("reached", ("Deployment web",), ("web/app TCP/8080 (http)",))


def test_named_port_of_another_protocol_gives_no_endpoint(tmp_path: Path) -> None:
    """FindPort matches name and protocol: a UDP Service port never reaches a TCP ``dns`` port."""
    text = (
        deployment("dns", "{app: dns}", "[{name: dns, containerPort: 5353}]")
        + "---\n"
        + service("dns", "{app: dns}", "[{name: dns, port: 53, protocol: UDP, targetPort: dns}]")
    )
    write_tree(tmp_path, {"deploy/dns.yaml": text})
    [(_, severity, message)] = pp017(tmp_path)
    assert severity == "warning" and "declares that name for UDP; they declare dns TCP/5353" in message


def test_statefulset_with_headless_service_in_its_namespace(tmp_path: Path) -> None:
    sts = deployment("db", "{app: db}", "[{name: postgres, containerPort: 5432}]", "StatefulSet", "data")
    headless = service("db", "{app: db}", "[{name: pg, port: 5432, targetPort: postgres}]", "data")
    headless = headless.replace("spec:\n", "spec:\n  clusterIP: None\n")
    # the same labels in another namespace are not selected: that Service's selector picks nothing
    other_ns = service("db", "{app: db}", "[{name: pg, port: 5432, targetPort: pgsql}]", "staging")
    write_tree(tmp_path, {"k8s/db.yaml": sts + "---\n" + headless + "---\n" + other_ns})
    assert pp017(tmp_path) == []
    joins = {(sp.k8s_namespace, sp.join) for sp in service_ports(tmp_path)}
    assert joins == {("data", "reached"), ("staging", "unknown")}


def test_selector_matching_nothing_is_unknown_and_no_selector_is_skipped(tmp_path: Path) -> None:
    lone = service("ext", "{app: operator-managed}", "[{port: 80, targetPort: http}]")
    manual = "apiVersion: v1\nkind: Service\nmetadata:\n  name: db-external\nspec:\n  ports: [{port: 5432}]\n"
    alias = service("alias", "{app: web}", "[{port: 80, targetPort: http}]").replace(
        "spec:\n", "spec:\n  type: ExternalName\n  externalName: web.example.com\n"
    )
    web = deployment("web", "{app: web}", "[{name: web, containerPort: 80}]")
    write_tree(tmp_path, {"k8s/svc.yaml": "---\n".join((lone, manual, alias, web))})
    assert pp017(tmp_path) == []
    assert [(sp.join, sp.join_reason) for sp in service_ports(tmp_path)] == [
        ("unknown", "its selector matches no pod template in namespace default of this scope"),
        ("skipped", "no selector: its endpoints are managed by hand"),
        ("skipped", "an ExternalName Service is a DNS alias: no endpoints"),
    ]


def test_a_selector_must_be_a_subset_of_the_labels(tmp_path: Path) -> None:
    """``{app: web, tier: back}`` does not pick a template labelled only ``app: web``."""
    text = (
        deployment("web", "{app: web}", "[{name: web, containerPort: 8080}]")
        + "---\n"
        + service("web", "{app: web, tier: back}", "[{port: 80, targetPort: http}]")
    )
    write_tree(tmp_path, {"k8s/web.yaml": text})
    assert pp017(tmp_path) == []
    assert [sp.join for sp in service_ports(tmp_path)] == ["unknown"]


def test_numeric_target_is_info_only_when_every_container_lists_its_ports(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\n  labels: {app: api}\nspec:\n"
        "  containers:\n    - name: api\n      image: ghcr.io/acme/api:2\n      ports: [{containerPort: 80}]\n"
    )
    write_tree(
        tmp_path,
        {"k8s/api.yaml": pod + "---\n" + service("api", "{app: api}", "[{port: 80, targetPort: 8080}]")},
    )
    [(_, severity, message)] = pp017(tmp_path)
    assert severity == "info" and message.startswith(
        "Service api port 80/TCP targets port 8080, but no container"
    )
    assert "it reaches a process only if one listens there undeclared" in message
    # a second picked workload that lists no ports: the number is used as is, nothing to say
    silent = deployment("api-canary", "{app: api}", "[]")
    write_tree(tmp_path, {"k8s/canary.yaml": silent})
    assert pp017(tmp_path) == []
    # and the declared number reaches
    write_tree(
        tmp_path, {"k8s/canary.yaml": deployment("api-canary", "{app: api}", "[{containerPort: 8080}]")}
    )
    assert pp017(tmp_path) == []


def test_cronjob_and_sidecar_ports_are_joined(tmp_path: Path) -> None:
    cron = (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\nspec:\n  schedule: '@daily'\n"
        "  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels: {job: report}\n"
        "        spec:\n          initContainers:\n            - name: proxy\n              image: envoyproxy/envoy:v1.30\n"
        "              restartPolicy: Always\n              ports: [{name: admin, containerPort: 9901}]\n"
        "          containers:\n            - name: report\n              image: ghcr.io/acme/report:1\n"
    )
    svc = service("report-admin", "{job: report}", "[{port: 9901, targetPort: admin}]")
    write_tree(tmp_path, {"k8s/report.yaml": cron + "---\n" + svc})
    assert pp017(tmp_path) == []
    [sp] = service_ports(tmp_path)
    assert sp.selects == ("CronJob report",) and sp.reaches == ("report/proxy TCP/9901 (admin)",)


def test_templated_labels_or_selector_are_unknown(tmp_path: Path) -> None:
    """A Jinja template hides labels: a template that may be picked silences the verdict."""
    hidden = deployment("web", "{app: web, release: '{{ release }}'}", "[{name: web, containerPort: 80}]")
    svc = service("web", "{app: web}", "[{port: 80, targetPort: http}]")
    write_tree(tmp_path, {"k8s/web.yaml.j2": hidden + "---\n" + svc})
    assert pp017(tmp_path) == []
    assert [sp.join for sp in service_ports(tmp_path)] == ["unknown"]
    templated = service("web", "{app: '{{ app }}'}", "[{port: 80, targetPort: http}]")
    write_tree(tmp_path, {"k8s/web.yaml.j2": templated})
    assert [sp.join_reason for sp in service_ports(tmp_path)] == ["its selector is a template or variable"]


def test_facts_show_the_join(tmp_path: Path) -> None:
    text = (
        deployment("web", "{app: web}", "[{name: http, containerPort: 8080}]")
        + "---\n"
        + service("web", "{app: web}", "[{name: http, port: 80, targetPort: http}]")
    )
    write_tree(tmp_path, {"deploy/web.yaml": text})
    done = run_cli("facts", "--format", "json", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [sp] = json.loads(done.stdout)["service_ports"]
    assert (sp["service"], sp["port"], sp["target"], sp["join"]) == ("web", "TCP/80", "http", "reached")
    assert sp["selects"] == ["Deployment web"] and sp["reaches"] == ["web/app TCP/8080 (http)"]
    text_out = run_cli("facts", ".", cwd=tmp_path).stdout
    assert "Kubernetes Service ports" in text_out
    assert (
        "deploy/web.yaml:23:11  web      TCP/80 (http)  http    Deployment web  web/app TCP/8080 (http)"
        in text_out
    )


N = 5000


def test_thousands_of_services_and_deployments_join_in_linear_time(tmp_path: Path) -> None:
    """5,000 Services and 5,000 Deployments, one selector each; every 1,000th port name is misspelt."""
    docs = []
    for i in range(N):
        name = "htttp" if i % 1000 == 0 else "http"
        docs.append(deployment(f"app{i}", f"{{app: app{i}}}", f"[{{name: {name}, containerPort: 8080}}]"))
        docs.append(service(f"app{i}", f"{{app: app{i}}}", "[{port: 80, targetPort: http}]"))
    write_tree(tmp_path, {"k8s/all.yaml": "---\n".join(docs)})
    run = run_bounded("check", "--select", "PP017", "--format", "json", ".", cwd=tmp_path, timeout=60)
    assert not run.crashed, run.stderr[-2000:]
    found = json.loads(run.stdout)["findings"]
    assert sorted(f["message"].split(" port ")[0] for f in found) == [
        f"Service app{i}" for i in sorted(range(0, N, 1000), key=str)
    ]


def test_one_selector_matching_every_pod_is_joined_once(tmp_path: Path) -> None:
    """3,000 Services share a selector every one of 3,000 pods carries: joined once, not 9 million times."""
    docs = [
        deployment(f"w{i}", f"{{app: all, i: 'w{i}'}}", "[{name: web, containerPort: 80}]")
        for i in range(3000)
    ]
    docs += [service(f"s{i}", "{app: all}", "[{port: 80, targetPort: http}]") for i in range(3000)]
    write_tree(tmp_path, {"k8s/all.yaml": "---\n".join(docs)})
    report = scan_tree(tmp_path, select=["PP017"])
    found = [f for f in report.findings if f.rule == "PP017"]
    assert len(found) == 3000
    assert (
        "(Deployment w0, Deployment w1, Deployment w2, Deployment w3, Deployment w4, 2995 more)"
        in found[0].message
    )


LINEAR_CHILD = """
import json, os, time
from portpolicy.config import Config
from portpolicy.pipeline import scan

best = {}
for _ in range(3):  # best of 3, stopping once the times already pass
    for tree in ("n800", "n1600"):
        start = time.perf_counter()
        report = scan([tree], Config(select=("PP017",)))
        best[tree] = min(best.get(tree, 1e9), time.perf_counter() - start)
        assert sum(f.rule == "PP017" for f in report.findings) == int(tree[1:])
    if best["n1600"] < 3.0 * best["n800"] + 0.2:
        break
print(json.dumps(best))
"""


def test_doubling_services_that_share_a_selector_does_not_quadruple_the_time(tmp_path: Path) -> None:
    """N Services whose one selector picks all N pods (each without the named port): linear in N."""
    for n in (800, 1600):
        docs = [
            deployment(f"w{i}", f"{{app: all, i: 'w{i}'}}", "[{name: web, containerPort: 80}]")
            for i in range(n)
        ]
        docs += [service(f"s{i}", "{app: all}", "[{port: 80, targetPort: http}]") for i in range(n)]
        write_tree(tmp_path / f"n{n}", {"all.yaml": "---\n".join(docs)})
    run = run_python_bounded(LINEAR_CHILD, cwd=tmp_path, timeout=120)
    assert not run.crashed, run.stderr[-2000:]
    times = json.loads(run.stdout)
    assert times["n1600"] < 3.0 * times["n800"] + 0.2, times


def test_selectors_built_to_defeat_the_index_stop_at_the_budget(tmp_path: Path) -> None:
    """2,024 distinct selectors (3 of 24 shared labels) each matching all 2,000 pods: bounded, and said."""
    labels = ", ".join(f"l{k}: v" for k in range(24))
    docs = [deployment(f"w{i}", f"{{{labels}}}", "[{name: web, containerPort: 80}]") for i in range(2000)]
    n = 0
    for a in range(24):
        for b in range(a + 1, 24):
            for c in range(b + 1, 24):
                selector = f"{{l{a}: v, l{b}: v, l{c}: v}}"
                docs.append(service(f"s{n}", selector, "[{port: 80, targetPort: http}]"))
                n += 1
    write_tree(tmp_path, {"k8s/all.yaml": "---\n".join(docs)})
    run = run_bounded("facts", "--format", "json", ".", cwd=tmp_path, timeout=60)
    assert not run.crashed, run.stderr[-2000:]
    facts = json.loads(run.stdout)
    stopped = [u for u in facts["unresolved"] if "Service-to-pod join stopped" in u["reason"]]
    assert len(stopped) == 1
    joins = {sp["join"] for sp in facts["service_ports"]}
    assert joins == {"unreached", "unknown"}
