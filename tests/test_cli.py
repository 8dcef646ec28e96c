"""The CLI as users run it: real child processes, exit codes, formats, errors without tracebacks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli, write_tree

EXAMPLES = REPO / "examples"
PLANTED = [
    ("PP002", "ci/docker-compose.yml", 7),
    ("PP004", "ci/docker-compose.yml", 14),
    ("PP003", "edge/etc/nftables.conf", 10),
    ("PP011", "edge/etc/nftables.conf", 11),
    ("PP007", "hosts/web01/etc/sysctl.d/30-jenkins-agent.conf", 2),
    ("PP009", "hosts/web01/etc/sysctl.d/60-performance.conf", 4),
    ("PP006", "hosts/web01/etc/sysctl.d/90-hardening.conf", 3),
    ("PP002", "hosts/web01/etc/systemd/system/app.socket", 2),
    ("PP002", "hosts/web01/etc/systemd/system/grafana.socket", 2),
    ("PP001", "k8s/ingress.yaml", 26),
    ("PP001", "k8s/ingress.yaml", 27),
    ("PP001", "monitoring/compose.yaml", 18),
    ("PP001", "workstation/home/alice/.config/systemd/user/dev-proxy.socket", 5),
]


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("portpolicy 0.")


def test_check_examples_text_finds_exactly_the_planted_problems() -> None:
    result = run_cli("check", ".", cwd=EXAMPLES)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    found = []
    for line in lines[:-1]:
        where, rule = line.split(" ", 2)[:2]
        path, lineno, _col, _ = where.split(":")
        found.append((rule, path, int(lineno)))
    assert found == PLANTED
    assert lines[-1] == "Found 13 problems (6 errors, 6 warnings, 1 info) in 26 files."
    assert "\033[" not in result.stdout


def test_paths_are_relative_to_the_working_directory() -> None:
    result = run_cli("check", "examples/ci", "--format", "json", cwd=REPO)
    doc = json.loads(result.stdout)
    assert {f["path"] for f in doc["findings"]} == {"examples/ci/docker-compose.yml"}


def test_json_shape() -> None:
    result = run_cli("check", str(EXAMPLES), "--format", "json", cwd=EXAMPLES)
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["tool"]["name"] == "portpolicy"
    conflict = next(f for f in doc["findings"] if f["rule"] == "PP004")
    assert set(conflict) >= {
        "rule",
        "name",
        "severity",
        "message",
        "path",
        "line",
        "column",
        "host",
        "related",
    }
    assert conflict["name"] == "port-conflict" and conflict["severity"] == "error"
    assert conflict["path"] == "ci/docker-compose.yml" and (conflict["line"], conflict["column"]) == (14, 9)
    assert conflict["host"] == "ci"
    assert conflict["related"] == [
        {"path": "ci/docker-compose.yml", "line": 6, "column": 9, "message": "jenkins binds tcp/8080 here"}
    ]
    assert doc["summary"]["by_rule"] == {
        "PP001": 4,
        "PP002": 3,
        "PP003": 1,
        "PP004": 1,
        "PP006": 1,
        "PP007": 1,
        "PP009": 1,
        "PP011": 1,
    }


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((), 1),
        (("--fail-on", "never"), 0),
        (("--select", "PP009"), 0),
        (("--select", "PP009", "--fail-on", "info"), 1),
        (("--select", "PP002", "--fail-on", "warning"), 1),
        (("--select", "PP002"), 0),
        (("--ignore", "PP001,PP004,PP006"), 0),
    ],
)
def test_exit_codes(args: tuple[str, ...], code: int) -> None:
    assert run_cli("check", ".", *args, cwd=EXAMPLES).returncode == code


def test_clean_tree_exits_zero_with_a_summary(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n"})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "No problems found in 1 file.\n"


def test_output_file_is_written_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_cli("check", str(EXAMPLES), "--format", "json", "--output", str(out), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert json.loads(out.read_text())["summary"]["findings"] == len(PLANTED)
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "--select", "ZZ999"), "unknown rule or prefix 'ZZ999'"),
        (("check", "--fail-on", "sometimes"), "invalid choice: 'sometimes'"),
        (("check", "--config", "missing.yml"), "config file missing.yml does not exist"),
        (("explain", "PP999"), "unknown rule 'PP999'"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("check", "--rules-dir", "nope"), "does not exist"),
    ],
)
def test_usage_errors_are_one_clear_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {".portpolicy.yml": "platform: linux\nfail_on: warning\n", "sub/compose.yaml": "services: {}\n"},
    )
    result = run_cli("check", "sub", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"portpolicy: error: {tmp_path / '.portpolicy.yml'}: unknown config key 'fail_on'"
    )


def test_bad_config_value_and_pyproject_section(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pyproject.toml": "[tool.portpolicy]\nplatform = 'beos'\n"})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "pyproject.toml: config key 'platform': 'beos' is not one of" in result.stderr


def test_config_is_found_by_walking_up_and_applies(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "pyproject.toml": "[tool.portpolicy]\nfail-on = 'warning'\nignore = ['PP004']\n",
            "deep/er/compose.yaml": "services:\n  a: {image: x, ports: ['50000:50000']}\n  b: {image: y, ports: ['50000:1']}\n",
        },
    )
    result = run_cli("check", "er", "--format", "json", cwd=tmp_path / "deep")
    doc = json.loads(result.stdout)
    assert {f["rule"] for f in doc["findings"]} == {"PP002"}
    assert result.returncode == 1  # a warning fails under fail-on: warning


def test_platform_changes_the_verdict(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  app: {image: x, ports: ['15000:15000']}\n"})
    assert run_cli("check", cwd=tmp_path).returncode == 0
    result = run_cli("check", "--platform", "freebsd", "--fail-on", "warning", cwd=tmp_path)
    assert (
        result.returncode == 1
        and "inside the ephemeral range 10000-65535 (default for platform freebsd)" in result.stdout
    )


def test_rootless_runtime_cannot_publish_low_host_ports(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web: {image: nginx, ports: ['80:8080']}\n"})
    assert run_cli("check", cwd=tmp_path).returncode == 0
    result = run_cli("check", "--runtime", "docker-rootless", cwd=tmp_path)
    assert result.returncode == 1
    assert "PP001" in result.stdout and "port forwarder, running as the unprivileged user" in result.stdout


def test_verbose_lists_related_evidence_and_skipped_files(tmp_path: Path) -> None:
    write_tree(tmp_path, {"notes.txt": "hello", "broken.yaml": "a: [\n"})
    result = run_cli("check", ".", "notes.txt", "-v", cwd=tmp_path)
    assert "skipped notes.txt: no reader for this file type" in result.stderr
    assert "skipped broken.yaml: YAML that no reader recognises" in result.stderr
    result = run_cli("check", "-v", "--select", "PP004", cwd=EXAMPLES)
    assert "    ci/docker-compose.yml:6:9: note: jenkins binds tcp/8080 here" in result.stdout


def test_nonexistent_path_is_reported_not_fatal(tmp_path: Path) -> None:
    result = run_cli("check", "nowhere", "-v", cwd=tmp_path)
    assert result.returncode == 0 and "skipped nowhere: no such file or directory" in result.stderr


def test_rules_and_explain() -> None:
    result = run_cli("rules")
    assert result.returncode == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert ids == sorted(p.stem for p in (REPO / "rules").glob("PP*.yml"))
    assert {"PP000", "PP001", "PP002", "PP003", "PP004", "PP010", "PP011", "PP013"} <= set(ids)
    off = run_cli("rules").stdout
    assert "PP013" in off and "off" in next(line for line in off.splitlines() if line.startswith("PP013"))
    doc = run_cli("explain", "PP002").stdout
    assert doc.startswith("# PP002 listener-in-ephemeral-range")
    assert "## Why it matters" in doc and "## How to fix" in doc and "50000:50000" in doc
    assert run_cli("explain", "port-conflict").stdout.startswith("# PP004")


def test_facts_text_and_json() -> None:
    text = run_cli("facts", "hosts/web01", cwd=EXAMPLES).stdout
    assert "host hosts/web01  (root-filesystem tree hosts/web01; platform linux, runtime docker)" in text
    assert "ip_local_port_range = 1024-65534  (hosts/web01/etc/sysctl.d/60-performance.conf:4)" in text
    assert "refused: 2048 is above the ephemeral range start 1024" in text
    doc = json.loads(run_cli("facts", "--format", "json", cwd=EXAMPLES).stdout)
    metrics = next(ln for ln in doc["listeners"] if ln["service"].startswith("metrics.service"))
    assert metrics["ports"] == "80" and metrics["user"] == "metrics" and metrics["bound_by"] == "systemd"
    assert metrics["privilege"]["granted"] is True
    assert {h["name"] for h in doc["hosts"]} == {
        "ci",
        "edge",
        "hosts/web01",
        "k8s",
        "monitoring",
        "proxy",
        "proxy/nginx",
        "shop",
        "workstation/home/alice",
    }
    nginx = next(ln for ln in doc["listeners"] if ln["location"].startswith("proxy/nginx/default.conf"))
    assert (
        nginx["host"] == "proxy"
        and nginx["user"] == "nginx"
        and nginx["namespace"] == "proxy#container:proxy"
    )
    rules = [r for r in doc["firewall_rules"] if r["host"] == "edge"]
    assert {(r["ports"], r["source_ports"], r["action"]) for r in rules} >= {
        ("1024-65535", None, "accept"),
        (None, "53", "accept"),
    }


def test_startup_stays_light(tmp_path: Path) -> None:
    """--version and a one-file check import neither ansible nor jsonschema."""
    write_tree(tmp_path, {"compose.yaml": "services:\n  web: {image: nginx, ports: ['8080:80']}\n"})
    probe = (
        "import sys\n"
        "from portpolicy.cli import main\n"
        "for argv in (['--version'], ['check', 'compose.yaml']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'ansible', 'jsonschema', 'jinja2'})\n"
        "    print(argv[0], heavy)\n"
    )
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    ).stdout
    assert "--version []" in out and "check []" in out
