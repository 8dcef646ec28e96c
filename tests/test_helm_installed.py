"""Charts as they are installed (#26 item 5): each values overlay a chart ships is a release
of its own, a port wired in a branch the defaults leave out is rendered with the switch
that turns it on, a schema Helm refuses is PP000 and the chart is rendered without it, a
missing dependency is one unresolved line, and a chart with a thousand overlays is bounded.

The fixture charts are in ``tests/fixtures/helm/installed`` (copied to ``tmp_path``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from portpolicy.config import Config, HelmConfig
from portpolicy.helm import charts, package, switches
from portpolicy.pipeline import Report
from tests.helpers import FIXTURES, scan_tree, write_tree
from tests.hostile import run_bounded
from tests.test_helm import needs_engine

INSTALLED = FIXTURES / "helm" / "installed"


def installed(root: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(INSTALLED / name, root / name)
    return root


def findings(report: Report) -> list[tuple[str, str, int, str]]:
    return sorted((f.rule, f.location.path, f.location.line, f.message) for f in report.findings)


@needs_engine
def test_an_overlay_is_a_release_and_its_finding_names_it(tmp_path: Path) -> None:
    report = scan_tree(installed(tmp_path, "shop"))
    hosts = {h.name for h in report.hosts}
    assert {
        "helm:shop",
        "helm:shop[ci/nodeport-values.yaml]",
        "helm:shop[ci/fine-values.yaml]",
        "helm:shop[values.yaml with service.type=NodePort]",
    } <= hosts
    by_rule = {rule: (path, line, message) for rule, path, line, message in findings(report)}
    assert set(by_rule) == {"PP018", "PP019"}
    # only ci/nodeport-values.yaml asks for 40080; ci/fine-values.yaml (30090) and the
    # switched defaults (30080) are inside the range, so they are not named
    path, line, message = by_rule["PP019"]
    assert (path, line) == ("shop/templates/service.yaml", 14)
    assert "40080" in message
    assert message.endswith("(only the release of chart shop with ci/nodeport-values.yaml)")
    (pp019,) = [f for f in report.findings if f.rule == "PP019"]
    assert pp019.host == "helm:shop[ci/nodeport-values.yaml]"
    # the repeated containerPort is in every release: one finding, naming them all
    path, line, message = by_rule["PP018"]
    assert (path, line) == ("shop/templates/deployment.yaml", 20)
    assert message.endswith(
        "(every release of chart shop: values.yaml, values.yaml with service.type=NodePort, "
        "ci/fine-values.yaml, ci/nodeport-values.yaml)"
    )


@needs_engine
def test_a_fine_overlay_alone_gives_no_finding(tmp_path: Path) -> None:
    installed(tmp_path, "shop")
    (tmp_path / "shop" / "ci" / "nodeport-values.yaml").unlink()
    write_tree(tmp_path, {"shop/templates/deployment.yaml": _one_port_deployment()})
    report = scan_tree(tmp_path)
    assert "helm:shop[ci/fine-values.yaml]" in {h.name for h in report.hosts}
    assert findings(report) == []


def _one_port_deployment() -> str:
    text = (INSTALLED / "shop" / "templates" / "deployment.yaml").read_text()
    return text[: text.index("            - name: metrics")]


@needs_engine
def test_a_nodeport_branch_switched_only_by_values_is_rendered_with_the_switch(tmp_path: Path) -> None:
    report = scan_tree(installed(tmp_path, "switched"))
    (finding,) = report.findings
    assert (finding.rule, finding.location.path, finding.location.line) == (
        "PP019",
        "switched/templates/service.yaml",
        14,
    )
    assert "40080" in finding.message
    assert finding.message.endswith(
        "(only the release of chart switched with values.yaml with service.type=NodePort)"
    )
    assert finding.host == "helm:switched[values.yaml with service.type=NodePort]"


@needs_engine
def test_without_the_switch_in_values_no_extra_release_is_made(tmp_path: Path) -> None:
    installed(tmp_path, "switched")
    write_tree(tmp_path, {"switched/values.yaml": "service:\n  type: ClusterIP\n  nodePort: ''\n"})
    report = scan_tree(tmp_path)
    assert [h.name for h in report.hosts if h.name.startswith("helm:")] == ["helm:switched"]
    assert report.findings == []


@needs_engine
def test_a_schema_helm_refuses_is_pp000_and_the_chart_is_rendered_without_it(tmp_path: Path) -> None:
    report = scan_tree(installed(tmp_path, "schema"))
    by_rule = {f.rule: f for f in report.findings}
    assert set(by_rule) == {"PP000", "PP001"}
    assert by_rule["PP000"].location.path == "schema/values.schema.json"
    # Helm's own message, as Helm words it
    assert "is not valid against metaschema" in by_rule["PP000"].message
    assert "checked without the schema" in by_rule["PP000"].message
    # rendered anyway: port 80 on the host network for user 1000 (the literal in values.yaml)
    assert (by_rule["PP001"].location.path, by_rule["PP001"].location.line) == ("schema/values.yaml", 2)


@needs_engine
def test_a_schema_naming_another_document_never_reaches_helm(tmp_path: Path) -> None:
    tree = installed(tmp_path / "tree", "schema")
    outside = tmp_path / "outside.json"  # had Helm loaded it, the values (an object) would fail it
    outside.write_text('{"type": "string"}')
    schema = {"$ref": outside.as_uri(), "properties": {"x": {"$ref": "#/$defs/y"}}}
    write_tree(tree, {"schema/values.schema.json": json.dumps(schema)})
    report = scan_tree(tree)
    (pp000,) = [f for f in report.findings if f.rule == "PP000"]
    assert "$ref 'file:///" in pp000.message and "names another document" in pp000.message
    assert "want string" not in pp000.message
    assert any(f.rule == "PP001" for f in report.findings)


def test_schema_references_inside_the_file_and_known_metaschemas_are_fine() -> None:
    fine = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"a": {"$ref": "#/definitions/a"}},
    }
    assert package.outside_reference(json.dumps(fine).encode()) == ""
    assert package.outside_reference(b"{not json") == ""  # Helm's to refuse
    for ref in ("https://example.com/s.json", "other.json", "file:///etc/passwd"):
        assert "names another document" in package.outside_reference(json.dumps({"$ref": ref}).encode())
    odd_meta = json.dumps({"$schema": "file:///etc/passwd"}).encode()
    assert "names another document" in package.outside_reference(odd_meta)
    deep = ('{"a":' * 300 + "1" + "}" * 300).encode()
    assert "nested over" in package.outside_reference(deep)


@needs_engine
def test_a_missing_dependency_is_one_unresolved_line_naming_helm_dependency_build(tmp_path: Path) -> None:
    report = scan_tree(installed(tmp_path, "nodeps"))
    charts_unresolved = [u for u in report.unresolved if "chart not rendered" in u.reason]
    (line,) = charts_unresolved  # not one more for ci/other-values.yaml
    assert line.location.path == "nodeps/Chart.yaml"
    assert "dependency redis (oci://registry-1.docker.io/bitnamicharts)" in line.reason
    assert "`helm dependency build nodeps`" in line.reason


def test_overlays_are_found_where_charts_ship_them() -> None:
    files = [
        "c/values.yaml",
        "c/values.schema.json",
        "c/ci/a-values.yaml",
        "c/ci/b.yml",
        "c/ci/readme.md",
        "c/values-prod.yaml",
        "c/examples/values-small.yaml",
        "c/examples/deploy.yaml",
        "c/charts/sub/ci/x-values.yaml",
        "c/templates/values-x.yaml",
    ]
    assert charts.overlays("c", files, set()) == [
        "c/ci/a-values.yaml",
        "c/ci/b.yml",
        "c/values-prod.yaml",
        "c/examples/values-small.yaml",
    ]
    assert charts.overlays("c", files, {"c/values-prod.yaml"})[-1] == "c/examples/values-small.yaml"


@pytest.mark.parametrize(
    ("condition", "label"),
    [
        ('eq .Values.service.type "NodePort"', "service.type=NodePort"),
        ('eq "NodePort" .Values.service.type', "service.type=NodePort"),
        (
            'and (or (eq .Values.service.type "LoadBalancer") (eq .Values.service.type "NodePort"))'
            " (not (empty .Values.service.nodePort))",
            "service.type=NodePort",
        ),
        (".Values.service.expose", "service.expose=true"),
    ],
)
def test_the_minimal_switch_is_read_from_the_condition_around_the_wiring(condition: str, label: str) -> None:
    template = (
        f"ports:\n  - port: 80\n    {{{{- if {condition} }}}}\n"
        "    nodePort: {{ .Values.service.nodePort }}\n    {{- end }}\n"
    )
    values = "service:\n  type: ClusterIP\n  nodePort: 40080\n"
    assert [s.label for s in switches.find([template], values)] == [label]


def test_no_switch_is_guessed_for_an_else_branch_a_negation_or_a_met_condition() -> None:
    values = "service:\n  type: NodePort\n  nodePort: 40080\n  internal: false\n"
    wiring = "nodePort: {{ .Values.service.nodePort }}\n{{- end }}\n"
    templates = [
        '{{- if eq .Values.service.type "ClusterIP" }}\nx: 1\n{{- else }}\n' + wiring,
        "{{- if not .Values.service.internal }}\n" + wiring,
        '{{- if eq .Values.service.type "NodePort" }}\n' + wiring,
    ]
    assert switches.find(templates, values) == []


def test_releases_past_the_bound_are_listed_not_planned(tmp_path: Path) -> None:
    files = {"c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n", "c/values.yaml": "a: 1\n"}
    files.update({f"c/ci/{i:02}-values.yaml": "a: 2\n" for i in range(5)})
    write_tree(tmp_path, files)
    paths = [str(tmp_path / p) for p in files]
    plan = charts.plan(paths, Config(helm=HelmConfig(max_releases=3), roots=(str(tmp_path),)))
    assert [r.label for r in plan.releases] == ["", "ci/00-values.yaml", "ci/01-values.yaml"]
    assert [Path(p).name for p, _ in plan.passed] == ["02-values.yaml", "03-values.yaml", "04-values.yaml"]
    assert all("over 3 releases per chart (helm.max-releases)" in why for _, why in plan.passed)


# Hostile: a chart with a thousand overlays renders the bound and lists the rest.


@needs_engine
def test_a_chart_with_a_thousand_overlays_is_bounded(tmp_path: Path) -> None:
    files = {
        "big/Chart.yaml": "apiVersion: v2\nname: big\nversion: 0.1.0\n",
        "big/values.yaml": "port: 8080\n",
        "big/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  p: '{{ .Values.port }}'\n",
    }
    files.update({f"big/ci/{i:04}-values.yaml": f"port: {i}\n" for i in range(1000)})
    write_tree(tmp_path, files)
    run = run_bounded("facts", "--no-config", "--format", "json", ".", cwd=tmp_path, memory=16 << 30)
    assert not run.crashed, run.stderr[-2000:]
    facts = json.loads(run.stdout)
    rendered = sorted(h["name"] for h in facts["hosts"] if h["name"].startswith("helm:big"))
    assert rendered == ["helm:big", *(f"helm:big[ci/{i:04}-values.yaml]" for i in range(7))]
    skipped = {s["path"]: s["reason"] for s in facts["skipped"]}
    assert skipped["big/ci/0999-values.yaml"] == (
        "values overlay not rendered: over 8 releases per chart (helm.max-releases)"
    )
    assert sum(1 for p in skipped if p.startswith("big/ci/")) == 993


POD = """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: app
      image: example/app:1.0
      ports:
        - containerPort: 8080
        {{- if .Values.tls }}
        - containerPort: 8443
        {{- end }}
        - containerPort: 9090
"""


@needs_engine
def test_two_releases_of_one_chart_are_never_paired_as_one_object(tmp_path: Path) -> None:
    # ports[1] is 9090 in the default release and 8443 in the overlay's: PP018 pairs entries
    # of one container only, and the two releases' containers are not one (podinfo's tls switch)
    write_tree(
        tmp_path,
        {
            "p/Chart.yaml": "apiVersion: v2\nname: p\nversion: 0.1.0\n",
            "p/values.yaml": "tls: false\n",
            "p/values-tls.yaml": "tls: true\n",
            "p/templates/pod.yaml": POD,
        },
    )
    report = scan_tree(tmp_path)
    assert "helm:p[values-tls.yaml]" in {h.name for h in report.hosts}
    assert report.findings == []


def test_a_v1_chart_s_dependencies_come_from_requirements_yaml(tmp_path: Path) -> None:
    files = {
        "old/Chart.yaml": "apiVersion: v1\nname: old\nversion: 1.0.0\n",
        "old/requirements.yaml": "dependencies:\n  - name: loki\n    repository: https://grafana.github.io/helm-charts\n",
    }
    write_tree(tmp_path, files)
    plan = charts.plan([str(tmp_path / p) for p in files], Config(roots=(str(tmp_path),)))
    (release,) = plan.releases
    assert (
        "dependency loki (https://grafana.github.io/helm-charts) is not available offline" in release.problem
    )
