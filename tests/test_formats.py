"""Every output format on the example tree: valid, complete, stable, with the design's exit codes.

SARIF is validated against the OASIS 2.1.0 schema and JUnit against ``junit-10.xsd``, both
from the test dependencies (tests/validate.py); nothing outside the repository is read.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, run_cli, write_tree
from tests.validate import junit_errors, sarif_errors

EXAMPLES = REPO / "examples"
PLANTED = 16
"""The thirteen planted problems and three PP001 portability notes: no runtime is configured,
so the non-root nginx of proxy/ and shop/ binding 80 and 443 works only where the runtime
lowers ip_unprivileged_port_start (examples/README.md lists them)."""
SUMMARY = "Found 16 problems (6 errors, 6 warnings, 4 infos) in 12 files (26 files checked)."


def _run(fmt: str, *args: str, cwd: Path = EXAMPLES, env: dict[str, str] | None = None) -> Any:
    result = run_cli("check", ".", "--format", fmt, *args, cwd=cwd, env=env)
    assert result.returncode in (0, 1), result.stderr
    return result


def test_the_portability_notes_are_the_only_findings_a_configured_runtime_settles() -> None:
    doc = json.loads(_run("json").stdout)
    infos = [f for f in doc["findings"] if f["severity"] == "info"]
    assert sorted((f["rule"], f["severity"], f["path"], f["line"]) for f in infos) == [
        ("PP001", "info", "proxy/nginx/default.conf", 2),
        ("PP001", "info", "shop/compose.yaml", 15),
        ("PP001", "info", "shop/compose.yaml", 16),
        ("PP009", "info", "hosts/web01/etc/sysctl.d/60-performance.conf", 4),
    ]
    docker = json.loads(_run("json", "--runtime", "docker").stdout)
    assert docker["summary"]["findings"] == PLANTED - 3
    settled = {"proxy/nginx/default.conf", "shop/compose.yaml"}
    assert {f["path"] for f in docker["findings"]}.isdisjoint(settled)


def test_sarif_validates_against_the_official_schema_with_zero_errors() -> None:
    doc = json.loads(_run("sarif").stdout)
    assert sarif_errors(doc) == []
    run = doc["runs"][0]
    assert len(run["results"]) == PLANTED
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not loc["artifactLocation"]["uri"].startswith(("/", "file:"))
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
        assert len(result["partialFingerprints"]["portpolicy/v1"]) == 32


def test_sarif_rules_carry_docs_levels_and_security_severity() -> None:
    doc = json.loads(_run("sarif").stdout)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    pp001 = rules["PP001"]
    assert pp001["name"] == "privileged-port-without-privilege"
    assert pp001["defaultConfiguration"]["level"] == "error"
    assert pp001["helpUri"] == "https://github.com/portpolicy/portpolicy/blob/main/docs/rules/PP001.md"
    assert "## How to fix" in pp001["help"]["markdown"] and "`" not in pp001["help"]["text"]
    assert "security" in pp001["properties"]["tags"]
    assert float(pp001["properties"]["security-severity"]) > 0
    assert "security-severity" not in rules["PP009"]["properties"]  # not tagged security
    assert rules["PP009"]["defaultConfiguration"]["level"] == "note"
    assert all(len(r["fullDescription"]["text"]) <= 1024 for r in rules.values())


def test_sarif_related_locations_and_result_levels() -> None:
    doc = json.loads(_run("sarif").stdout)
    results = doc["runs"][0]["results"]
    conflict = next(r for r in results if r["ruleId"] == "PP004")
    assert conflict["level"] == "error"
    related = conflict["relatedLocations"][0]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "ci/docker-compose.yml"
    assert related["physicalLocation"]["region"]["startLine"] == 6
    assert related["message"]["text"] == "jenkins binds tcp/8080 here"
    assert {r["level"] for r in results} == {"error", "warning", "note"}


def test_sarif_of_a_clean_tree_is_valid_and_empty(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n"})
    result = run_cli("check", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["runs"][0]["results"] == []
    assert sarif_errors(doc) == []


def test_gitlab_code_quality() -> None:
    doc = json.loads(_run("gitlab").stdout)
    assert isinstance(doc, list) and len(doc) == PLANTED
    for issue in doc:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["lines"]["begin"] >= 1
        assert not issue["location"]["path"].startswith("/")
    assert len({i["fingerprint"] for i in doc}) == PLANTED
    severities = {i["check_name"]: i["severity"] for i in doc}
    assert severities["PP004"] == "major" and severities["PP002"] == "minor" and severities["PP009"] == "info"
    assert not _run("gitlab").stdout.startswith("\ufeff")


def test_gitlab_and_sarif_share_fingerprints() -> None:
    sarif = json.loads(_run("sarif").stdout)["runs"][0]["results"]
    gitlab = json.loads(_run("gitlab").stdout)
    assert [r["partialFingerprints"]["portpolicy/v1"] for r in sarif] == [i["fingerprint"] for i in gitlab]


def test_sarif_validator_catches_what_the_schema_forbids() -> None:
    doc = json.loads(_run("sarif").stdout)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    del doc["version"]
    assert len(sarif_errors(doc)) == 2


def test_junit_validates_against_junit_10_xsd() -> None:
    assert junit_errors(_run("junit").stdout) == []
    # the schema is strict about what the old report did: attributes a test case may not carry
    old = (
        '<testsuites><testsuite name="a" tests="1" failures="0" errors="0">'
        '<testcase name="x" file="a" line="3"/></testsuite></testsuites>'
    )
    assert len(junit_errors(old)) == 2


def test_junit() -> None:
    result = _run("junit")
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites" and root.get("failures") == str(PLANTED)
    suites = root.findall("testsuite")
    assert len(suites) == 26  # one per file read, clean ones with a passing test case
    failures = root.findall("testsuite/testcase/failure")
    assert len(failures) == PLANTED
    compose = next(s for s in suites if s.get("name") == "ci/docker-compose.yml")
    assert compose.get("tests") == "2" and compose.get("failures") == "2"
    assert compose.get("file") == "ci/docker-compose.yml"
    case = compose.find("testcase")
    assert case is not None and case.get("name") == "PP002 listener-in-ephemeral-range (line 7)"
    assert case.get("classname") == "ci/docker-compose.yml"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "PP002"
    assert (failure.text or "").startswith("ci/docker-compose.yml:7:9: PP002 [warning] jenkins listens on")
    clean = next(s for s in suites if s.get("failures") == "0")
    assert clean.get("tests") == "1" and clean.find("testcase/failure") is None
    assert sum(int(s.get("tests", "0")) for s in suites) == int(root.get("tests", "0"))


def test_junit_of_nothing_is_not_an_empty_report(tmp_path: Path) -> None:
    result = run_cli("check", "--format", "junit", cwd=tmp_path)
    assert result.returncode == 0
    root = ET.fromstring(result.stdout)
    assert root.get("tests") == "1" and len(root.findall("testsuite/testcase")) == 1


def test_github_annotations() -> None:
    lines = _run("github").stdout.splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == PLANTED
    assert lines[-1] == SUMMARY
    conflict = next(c for c in commands if "PP004" in c)
    assert conflict.startswith("::error file=ci/docker-compose.yml,line=14,col=9,title=PP004 port-conflict::")
    assert "%0Aci/docker-compose.yml:6:9: jenkins binds tcp/8080 here" in conflict
    assert any(c.startswith("::notice ") for c in commands) and any(
        c.startswith("::warning ") for c in commands
    )


def test_github_escaping() -> None:
    """Workflow-command escaping, after control characters from files became visible text."""
    from portpolicy.model import Finding, Location, Related
    from portpolicy.report import github

    f = Finding("PP001", "x", "error", "50% of\r\nports: a,b", Location("a,b:c%.yml", 3, 4))
    assert (
        github.command(f)
        == "::error file=a%2Cb%3Ac%25.yml,line=3,col=4,title=PP001 x::50%25 of\\x0d\\x0aports: a,b"
    )
    related = Finding(
        "PP004", "y", "error", "m", Location("a.yml", 1, 1), related=(Related(Location("b", 2, 3), "n"),)
    )
    assert github.command(related).endswith("::m%0Ab:2:3: n")  # our own line break stays one


def test_github_is_automatic_under_github_actions_unless_a_format_is_given() -> None:
    env = {"GITHUB_ACTIONS": "true"}
    auto = run_cli("check", ".", cwd=EXAMPLES, env=env)
    assert auto.stdout.startswith("::") and auto.returncode == 1
    text = run_cli("check", ".", "--format", "text", cwd=EXAMPLES, env=env)
    assert not text.stdout.startswith("::")
    plain = run_cli("check", ".", cwd=EXAMPLES, env={"GITHUB_ACTIONS": "false"})
    assert not plain.stdout.startswith("::")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github", "gitlab"])
@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((), 1),
        (("--fail-on", "never"), 0),
        (("--select", "PP009"), 0),
        (("--select", "PP009", "--fail-on", "info"), 1),
    ],
)
def test_exit_codes_are_the_same_in_every_format(fmt: str, args: tuple[str, ...], code: int) -> None:
    assert run_cli("check", ".", "--format", fmt, *args, cwd=EXAMPLES).returncode == code


@pytest.mark.parametrize("fmt", ["sarif", "junit", "github", "gitlab"])
def test_usage_and_config_errors_exit_2_in_every_format(tmp_path: Path, fmt: str) -> None:
    assert run_cli("check", "--format", fmt, "--select", "ZZ999", cwd=tmp_path).returncode == 2
    write_tree(tmp_path, {".portpolicy.yml": "bogus: 1\n"})
    result = run_cli("check", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "" and "bogus" in result.stderr


@pytest.mark.parametrize("fmt", ["sarif", "junit", "gitlab"])
def test_output_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    result = run_cli("check", ".", "--format", fmt, "-o", str(out), cwd=EXAMPLES)
    assert result.returncode == 1 and result.stdout == ""
    assert out.stat().st_size > 0


def test_fingerprints_are_identical_across_runs_and_survive_inserted_lines(tmp_path: Path) -> None:
    files = {
        "compose.yaml": (
            "services:\n  web:\n    image: nginx:1.27\n    user: '101'\n    network_mode: host\n"
            "    expose: ['80']\n  agent:\n    image: jenkins/inbound-agent\n    ports: ['50000:50000']\n"
        )
    }
    write_tree(tmp_path, files)
    first = json.loads(run_cli("check", "--format", "gitlab", cwd=tmp_path).stdout)
    second = json.loads(run_cli("check", "--format", "gitlab", cwd=tmp_path).stdout)
    assert first == second and len(first) == 2
    (tmp_path / "compose.yaml").write_text("\n\n# moved down\n\n" + files["compose.yaml"], encoding="utf-8")
    shifted = json.loads(run_cli("check", "--format", "gitlab", cwd=tmp_path).stdout)
    assert [i["location"]["lines"]["begin"] for i in shifted] == [
        i["location"]["lines"]["begin"] + 4 for i in first
    ]
    assert [i["fingerprint"] for i in shifted] == [i["fingerprint"] for i in first]
    sarif = json.loads(run_cli("check", "--format", "sarif", cwd=tmp_path).stdout)["runs"][0]["results"]
    assert [r["partialFingerprints"]["portpolicy/v1"] for r in sarif] == [i["fingerprint"] for i in first]


def test_fingerprint_changes_when_the_offending_line_changes() -> None:
    from portpolicy import fingerprint
    from portpolicy.model import Finding, Location

    a = Finding("PP002", "n", "warning", "m", Location("missing/file.yml", 3, 1), host="h")
    b = Finding("PP002", "n", "warning", "m", Location("missing/other.yml", 3, 1), host="h")
    c = Finding("PP001", "n", "warning", "m", Location("missing/file.yml", 3, 1), host="h")
    prints = fingerprint.compute([a, a, b, c])
    assert len(set(prints)) == 4  # path, rule and the occurrence counter all count


def test_statistics_text_and_json() -> None:
    text = run_cli("check", ".", "--statistics", cwd=EXAMPLES)
    assert text.returncode == 1
    tail = text.stdout.split("Statistics:", 1)[1]
    assert "3  PP002  listener-in-ephemeral-range" in tail
    assert "9  systemd  (3 findings)" in tail and "4  sysctl  (3 findings)" in tail
    assert "1  nftables  (2 findings)" in tail and "2  kubernetes  (2 findings)" in tail
    assert "files read: 26, skipped: 2" in tail
    assert "port values: 0 resolved from variables, 0 unresolved" in tail
    doc = json.loads(run_cli("check", ".", "--statistics", "--format", "json", cwd=EXAMPLES).stdout)
    stats = doc["summary"]["statistics"]
    assert {"type": "compose", "files": 4, "findings": 5} in stats["by_file_type"]
    assert {"type": "nginx", "files": 3, "findings": 1} in stats["by_file_type"]
    assert stats["files_read"] == 26 and stats["ports_unresolved"] == 0
    sarif = run_cli("check", ".", "--statistics", "--format", "sarif", cwd=EXAMPLES)
    json.loads(sarif.stdout)  # statistics go to stderr, the SARIF stays valid JSON
    assert "Statistics:" in sarif.stderr


def test_statistics_verbose_lists_skip_and_unresolved_reasons(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['${WEB_PORT}:80']\n",
            "notes.txt": "hello\n",
        },
    )
    result = run_cli("check", ".", "notes.txt", "--statistics", "-v", cwd=tmp_path)
    tail = result.stdout.split("Statistics:", 1)[1]
    assert "notes.txt: not a configuration file, by its type" in tail
    assert "1 unresolved" in tail and "compose.yaml:4:" in tail


def test_one_scan_writes_several_reports(tmp_path: Path) -> None:
    """--format FORMAT[:FILE] repeated: annotations on stdout, SARIF and JUnit in files, one exit code."""
    sarif, junit = tmp_path / "out.sarif", tmp_path / "out.xml"
    result = run_cli(
        "check",
        ".",
        "--format",
        "github",
        "--format",
        f"sarif:{sarif}",
        "--output-format",
        f"junit:{junit}",
        cwd=EXAMPLES,
    )
    assert result.returncode == 1, result.stderr
    assert sum(line.startswith("::") for line in result.stdout.splitlines()) == PLANTED
    assert len(json.loads(sarif.read_text())["runs"][0]["results"]) == PLANTED
    assert sarif_errors(json.loads(sarif.read_text())) == [] and junit_errors(junit.read_text()) == []
    single = json.loads(run_cli("check", ".", "--format", "sarif", cwd=EXAMPLES).stdout)
    assert json.loads(sarif.read_text())["runs"][0]["results"] == single["runs"][0]["results"]


def test_dash_o_names_the_file_of_the_report_without_one(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_cli("check", ".", "--format", "json", "--format", "text", "-o", str(out), cwd=EXAMPLES)
    # two reports without a file: -o cannot tell which one it names
    assert result.returncode == 2 and "the one --format without ':FILE'" in result.stderr
    result = run_cli("check", ".", "--format", "json", "--format", "text:-", "-o", str(out), cwd=EXAMPLES)
    assert result.returncode == 1 and result.stdout.endswith(SUMMARY + "\n")
    assert json.loads(out.read_text())["summary"]["findings"] == PLANTED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "text", "--format", "github"), "two reports would be written to standard output"),
        (("--format", "json:r.json", "--format", "sarif:r.json"), "two reports would be written to"),
        (("--format", "yaml"), "unknown format 'yaml'"),
        (("--format", "sarif:"), "a file name must follow the colon"),
    ],
)
def test_clashing_or_unknown_outputs_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("check", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing scanned into a file
