"""Helm charts rendered by Helm's own engine (#15): findings at the template and values lines,
unresolved charts with their reasons, one release per scope, and nothing Helm-related
loaded for a tree with no chart.

The fixture charts (``tests/fixtures/helm``) are copied to ``tmp_path``; the ``.tgz``
dependency is packed from ``sub/`` by the test. The package path (``helm-python-sdk``) is
the one CI installs; the ``helm`` executable path runs only where one is on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from portpolicy.config import Config
from portpolicy.helm import charts, lines, render
from portpolicy.model import Listener
from portpolicy.pipeline import Report
from portpolicy.report import text
from tests.helpers import FIXTURES, REPO, run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

HELM_FIXTURES = FIXTURES / "helm"
HAS_PACKAGE = render.find_engine(None, ()) != render.NO_ENGINE
needs_engine = pytest.mark.skipif(not HAS_PACKAGE, reason="neither helm-python-sdk nor helm is installed")


def chart_tree(root: Path) -> Path:
    """The fixture charts, with ``vendored/charts/sub-0.2.0.tgz`` packed from ``sub/`` (not scanned
    itself); ``installed/`` holds the charts of ``test_helm_installed``."""
    for chart in HELM_FIXTURES.iterdir():
        if chart.name not in {"sub", "installed"}:
            shutil.copytree(chart, root / chart.name)
    (root / "vendored" / "charts").mkdir()
    with tarfile.open(root / "vendored" / "charts" / "sub-0.2.0.tgz", "w:gz") as tar:
        tar.add(HELM_FIXTURES / "sub", arcname="sub")
    return root


def found(report: Report) -> set[tuple[str, str, int]]:
    return {(f.rule, f.location.path, f.location.line) for f in report.findings}


def unresolved(report: Report) -> dict[str, str]:
    return {u.location.path: u.reason for u in report.unresolved if u.location.path.endswith("Chart.yaml")}


@needs_engine
def test_fixture_charts_give_their_findings_at_template_and_values_lines(tmp_path: Path) -> None:
    report = scan_tree(chart_tree(tmp_path))
    assert found(report) == {
        # values turn on hostNetwork for a non-root pod on port 80: the literal is in values.yaml
        ("PP001", "web/values.yaml", 3),
        # the app's sidecar repeats 8080 as a literal of the template, once common's names resolve
        ("PP004", "app/templates/deployment.yaml", 19),
        # the nodePort outside the API server's range, from a chart template
        ("PP019", "nodeport/templates/service.yaml", 10),
        # the .tgz dependency's pod: the template is inside the archive, so its line 1
        ("PP001", "vendored/charts/sub-0.2.0.tgz", 1),
    }
    (pp001,) = [f for f in report.findings if f.location.path == "web/values.yaml"]
    related = [str(r.location) for r in pp001.related]
    # the port's template line, with the hostNetwork and runAsUser lines that decide the verdict
    assert {
        "web/templates/pod.yaml:16:13",
        "web/templates/pod.yaml:8:7",
        "web/templates/pod.yaml:10:9",
    } <= set(related)
    (pp004,) = [f for f in report.findings if f.rule == "PP004"]
    assert "app/templates/deployment.yaml:13" in " ".join(str(r.location) for r in pp004.related)
    # one release is one scope; a library chart is rendered only inside the charts that use it
    hosts = {h.name for h in report.hosts}
    assert {"helm:app", "helm:web", "helm:nodeport", "helm:vendored"} <= hosts
    assert "helm:common" not in hosts
    assert report.readers["app/templates/deployment.yaml"] == "helm"
    assert report.readers["common/templates/_names.tpl"] == "helm"
    assert not {s.path for s in report.skipped} & set(report.files)


@needs_engine
def test_a_missing_dependency_and_a_failing_template_leave_their_chart_unresolved(tmp_path: Path) -> None:
    reasons = unresolved(scan_tree(chart_tree(tmp_path)))
    assert set(reasons) == {"missing/Chart.yaml", "broken/Chart.yaml"}
    assert (
        "dependency postgresql (https://charts.example.com/stable) is not available offline"
        in (reasons["missing/Chart.yaml"])
    )
    assert reasons["missing/Chart.yaml"].endswith("`helm dependency build missing` vendors it")
    assert "a template failed" in reasons["broken/Chart.yaml"]
    assert "broken/templates/svc.yaml:4" in reasons["broken/Chart.yaml"]


@needs_engine
def test_the_cli_shows_an_unresolved_chart_in_facts(tmp_path: Path) -> None:
    chart_tree(tmp_path)
    done = run_cli("facts", "--no-config", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "missing/Chart.yaml:1:1" in done.stdout and "chart not rendered: dependency postgresql" in done.stdout
    )


WEB = {
    "Chart.yaml": "apiVersion: v2\nname: NAME\nversion: 0.1.0\n",
    "values.yaml": "port: 8080\n",
    "templates/pod.yaml": (
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n"
        "    spec:\n      hostNetwork: true\n      containers:\n        - name: web\n"
        "          image: example/web:1.0\n          ports:\n            - containerPort: {{ .Values.port }}\n"
    ),
}


def web_chart(root: Path, name: str) -> None:
    write_tree(root, {f"{name}/{k}": v.replace("NAME", name) for k, v in WEB.items()})


@needs_engine
def test_two_charts_conflict_only_when_the_config_puts_them_in_one_cluster(tmp_path: Path) -> None:
    web_chart(tmp_path, "one")
    web_chart(tmp_path, "two")
    assert found(scan_tree(tmp_path)) == set()
    releases = {"one": {"release": "one"}, "two": {"release": "two"}}
    assert found(scan_tree(tmp_path, helm={"charts": releases})) == set()
    shared = scan_tree(
        tmp_path, hosts={"cluster": {"paths": ["one/**", "two/**"]}}, helm={"charts": releases}
    )
    assert {(rule, path) for rule, path, _ in found(shared)} == {("PP004", "two/values.yaml")}


@needs_engine
def test_config_values_files_release_and_namespace_apply_in_order(tmp_path: Path) -> None:
    web_chart(tmp_path, "web")
    write_tree(
        tmp_path, {"deploy/prod.yaml": "# production\nport: 443\n", "deploy/user.yaml": "port: 8443\n"}
    )
    settings = {"values": ["deploy/prod.yaml"], "release": "shop", "namespace": "prod"}
    report = scan_tree(tmp_path, helm={"charts": {"web": settings}}, runtime="cri-o")
    # host networking, root by default: no PP001; the privileged port is written in prod.yaml
    listener = next(f for f in report.facts if isinstance(f, Listener))
    assert [str(e.location) for e in listener.evidence if e.value] == ["deploy/prod.yaml:2:7"]
    assert any("Helm release shop of chart web" in h.reason for h in report.hosts)
    later = scan_tree(
        tmp_path, helm={"charts": {"web": {"values": ["deploy/prod.yaml", "deploy/user.yaml"]}}}
    )
    listener = next(f for f in later.facts if isinstance(f, Listener))
    assert [str(e.location) for e in listener.evidence if e.value] == ["deploy/user.yaml:1:7"]


def test_without_an_engine_every_chart_is_skipped_and_the_summary_counts_them(tmp_path: Path) -> None:
    web_chart(tmp_path, "one")
    web_chart(tmp_path, "two")
    write_tree(tmp_path, {"etc/sysctl.d/10-ports.conf": "net.ipv4.ip_unprivileged_port_start = 1024\n"})
    code = (
        "import sys, shutil\n"
        "from portpolicy.helm import render\n"
        "render.SDK_MODULE = 'no_such_helm_module'\n"
        "shutil.which = lambda *a, **k: None\n"
        "from portpolicy.cli import main\n"
        "sys.exit(main(['check', '--no-config', '-v', '.']))\n"
    )
    done = run_cli_code(code, tmp_path)
    assert "2 Helm charts not checked: install portpolicy[helm] or put helm on PATH." in done.stdout
    assert "skipped one/Chart.yaml: install portpolicy[helm] or put helm on PATH" in done.stderr
    assert "skipped two/Chart.yaml: install portpolicy[helm] or put helm on PATH" in done.stderr
    assert text.CHARTS_NOT_CHECKED == render.NO_ENGINE


def run_cli_code(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={"PYTHONPATH": str(REPO), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


CHILD = """
import json, sys
from portpolicy.cli import main
code = main(["check", "--no-config", "."])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported_by_check(root: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=root, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1])["modules"])


def test_a_tree_with_no_chart_imports_nothing_of_helm(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "kubernetes" / "jobs", tmp_path / "k8s")
    modules = imported_by_check(tmp_path)
    assert "portpolicy.readers.kubernetes" in modules  # the manifests were read
    assert not {m for m in modules if m.startswith(("portpolicy.helm", "helm_python"))}


@needs_engine
def test_a_tree_with_a_chart_renders_it_in_a_child_not_in_this_process(tmp_path: Path) -> None:
    web_chart(tmp_path, "web")
    modules = imported_by_check(tmp_path)
    assert "portpolicy.helm.stage" in modules
    assert "helm_python" not in modules


# Bad input: each ends as an unresolved chart with its reason, within the time limit.

SLOW = "{{ range until 5000 }}{{ range until 5000 }}{{ range until 5000 }}{{ end }}{{ end }}{{ end }}\n"
BOMB = 'apiVersion: v2\nname: bomb\nversion: 0.1.0\na: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@needs_engine
@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"templates/x.yaml": SLOW}, "did not finish rendering within 10 s"),
        ({"values.yaml": "port: [80\n", "templates/x.yaml": "a: {{ .Values.port }}\n"}, "values.yaml"),
        ({"Chart.yaml": BOMB}, "Chart.yaml is not valid YAML"),
        (
            {"Chart.yaml": "apiVersion: v2\nname: big\nversion: 0.1.0\n" + "#" * 70_000 + "\n"},
            "Chart.yaml not read",
        ),
    ],
    ids=["endless-template", "values-not-yaml", "chart-yaml-bomb", "chart-yaml-huge"],
)
def test_bad_charts_end_unresolved_with_their_reason(
    tmp_path: Path, files: dict[str, str], reason: str
) -> None:
    base = {"Chart.yaml": "apiVersion: v2\nname: bad\nversion: 0.1.0\n", **files}
    write_tree(tmp_path, {f"bad/{k}": v for k, v in base.items()})
    web_chart(tmp_path, "web")  # a good chart beside it is still checked
    # the scan's own bound is time; the rendering child bounds its writable memory itself
    # (RLIMIT_DATA): an address-space limit inherited from here would fail Go now and then
    run = run_bounded("facts", "--no-config", "--format", "json", ".", cwd=tmp_path, memory=16 << 30)
    assert not run.crashed, run.stderr[-2000:]
    facts = json.loads(run.stdout)
    reasons = {u["location"]: u["reason"] for u in facts["unresolved"]}
    assert reason in reasons["bad/Chart.yaml:1:1"]
    assert "web/Chart.yaml:1:1" not in reasons
    assert [li["location"] for li in facts["listeners"]] == ["web/templates/pod.yaml:13:13"]


# The helm executable path: the same model as the package on the fixture charts.


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm executable on PATH")
def test_the_helm_executable_gives_the_same_model_as_the_package(tmp_path: Path) -> None:
    chart_tree(tmp_path)
    by_executable = scan_tree(tmp_path)
    assert any(h.name == "helm:web" for h in by_executable.hosts)
    assert found(by_executable) == {
        ("PP001", "web/values.yaml", 3),
        ("PP004", "app/templates/deployment.yaml", 19),
        ("PP019", "nodeport/templates/service.yaml", 10),
        ("PP001", "vendored/charts/sub-0.2.0.tgz", 1),
    }
    assert set(unresolved(by_executable)) == {"missing/Chart.yaml", "broken/Chart.yaml"}


# Small parts.


def test_helm_template_output_splits_back_into_one_text_per_source() -> None:
    stream = (
        "---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\n"
        "---\n# Source: app/templates/two.yaml\nkind: A\n---\n# Source: app/templates/two.yaml\nkind: B\n"
    )
    assert render.split_stream(stream) == {
        "app/templates/svc.yaml": "apiVersion: v1\nkind: Service\n",
        "app/templates/two.yaml": "kind: A\n---\nkind: B\n",
    }


def test_values_files_merge_as_helm_merges_them() -> None:
    base = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    render.merge_values(base, {"a": {"b": 3}, "l": [9]})
    assert base == {"a": {"b": 3, "c": 2}, "l": [9]}


def test_a_rendered_line_maps_to_its_template_line_or_to_line_1() -> None:
    template = "kind: Pod\n{{- if .Values.x }}\nspec:\n  port: {{ .Values.port | quote }}\n{{- end }}\n"
    mapped = lines.LineMap(template, 'kind: Pod\nspec:\n  port: "80"\n  extra: made-by-a-helper\n')
    assert mapped.location("t.yaml", 3).line == 4 and mapped.printed(3) == (("port",), "80")
    assert mapped.location("t.yaml", 2).line == 3
    assert mapped.location("t.yaml", 4).line == 1  # no template line made it: line 1, not a guess
    assert lines.LineMap(None, "x: 1\n").location("a.tgz", 1).line == 1


PARTIAL = """{{- define "app.pod" -}}
containers:
  - name: app
    ports:
      - name: http
        containerPort: {{ .Values.port }}
      {{- range $name, $p := .Values.extraPorts }}
      - name: {{ $name }}
        containerPort: {{ $p.containerPort }}
        protocol: {{ $p.protocol | default "TCP" }}
      {{- end }}
  - name: sidecar
    ports:
      - containerPort: {{ .Values.sidecarPort }}
        protocol: TCP
{{- end }}
"""


def test_a_line_an_include_printed_maps_to_its_partial_line_and_a_loop_body_to_itself() -> None:
    template = 'kind: Pod\nspec:\n  {{- include "app.pod" . | nindent 2 }}\n'
    rendered = (
        "kind: Pod\nspec:\n  containers:\n    - name: app\n      ports:\n        - name: http\n"
        "          containerPort: 8080\n        - name: a\n          containerPort: 9001\n"
        "          protocol: TCP\n        - name: b\n          containerPort: 9002\n          protocol: TCP\n"
        "    - name: sidecar\n      ports:\n        - containerPort: 9100\n          protocol: TCP\n"
    )
    partials = lines.Partials([("t/_other.tpl", "x: 1\n"), ("t/_pod.tpl", PARTIAL)])
    mapped = lines.LineMap(template, rendered, partials)
    where = {n: str(mapped.location("t/pod.yaml", n)) for n in range(1, 18)}
    assert where[2] == "t/pod.yaml:2:1"  # the template's own line
    assert where[4] == "t/_pod.tpl:3:3" and where[7] == "t/_pod.tpl:6:9"
    assert mapped.printed(7) == (("port",), "8080")
    # each turn of the range starts its body again, not a later line of the same shape
    assert where[8] == where[11] == "t/_pod.tpl:8:7"
    assert where[9] == where[12] == "t/_pod.tpl:9:9"
    assert where[16] == "t/_pod.tpl:14:7" and mapped.printed(16) == (("sidecarPort",), "9100")
    # without partials, or for a line no partial has, line 1 of the template as before
    assert lines.LineMap(template, rendered).location("t/pod.yaml", 7).line == 1
    assert lines.LineMap(template, "made: by-nobody\n", partials).location("t/pod.yaml", 1).line == 1


@needs_engine
def test_a_finding_in_a_partial_points_at_the_partial_line(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
            "app/values.yaml": "port: 8080\nsidecarPort: 9100\nextraPorts:\n  a:\n    containerPort: 80\n",
            "app/templates/_pod.tpl": PARTIAL,
            "app/templates/pod.yaml": (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n"
                "  securityContext:\n    runAsUser: 1000\n"
                '  {{- include "app.pod" . | nindent 2 }}\n'
            ),
        },
    )
    report = scan_tree(tmp_path)
    assert ("PP001", "app/templates/_pod.tpl", 9) in found(report)


def test_a_dependency_is_found_in_charts_then_by_file_url_then_by_name(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "lib/Chart.yaml": "apiVersion: v2\nname: lib\ntype: library\nversion: 1.0.0\n",
            "x/lib/Chart.yaml": "apiVersion: v2\nname: lib\ntype: library\nversion: 2.0.0\n",
            "x/app/Chart.yaml": (
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                "  - {name: lib, version: '*', repository: 'file://../../lib'}\n"
                "  - {name: other, version: '*', repository: 'https://example.com', alias: o}\n"
            ),
            "x/app/charts/other-1.0.0.tgz": "",
        },
    )
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        paths = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
        plan = charts.plan(paths, Config())
    finally:
        os.chdir(old)
    (release,) = plan.releases
    assert release.problem == ""
    assert release.charts == {
        "app": "x/app",
        "app/charts/other": "x/app/charts/other-1.0.0.tgz",
        "app/charts/o": "x/app/charts/other-1.0.0.tgz",
        "app/charts/lib": "lib",
    }
    assert release.files["app/charts/lib/Chart.yaml"] == "lib/Chart.yaml"
    assert plan.claimed == set(paths)
