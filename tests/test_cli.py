"""The CLI as users run it: real child processes, exit codes, formats, errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

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
    # info: no runtime is configured, and these bind 80/443 as 101 where only Docker >= 20.10 lowers the limit
    ("PP001", "proxy/nginx/default.conf", 2),
    ("PP001", "shop/compose.yaml", 15),
    ("PP001", "shop/compose.yaml", 16),
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
    assert lines[-1] == "Found 16 problems (6 errors, 6 warnings, 4 infos) in 12 files (26 files checked)."
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
        "PP001": 7,
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
        (("check", "--select", "PP0O1"), "unknown rule or prefix 'PP0O1' (did you mean 'PP001'?)"),
        (("check", "--extend-select", "pp013"), "unknown rule or prefix 'pp013' (did you mean 'PP013'?)"),
        (
            ("check", "--ignore", "privileged-port"),
            "unknown rule or prefix 'privileged-port' (did you mean 'privileged-port-without-privilege'?)",
        ),
        (("explain", "PP01"), "unknown rule 'PP01' (did you mean 'PP001', 'PP010' or 'PP011'?)"),
        (("explain", "port-conflikt"), "(did you mean 'port-conflict'?)"),
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
        == f"portpolicy: error: {tmp_path / '.portpolicy.yml'}:2: unknown config key 'fail_on'"
        " (did you mean 'fail-on'?)"
    )


def test_bad_config_value_and_pyproject_section(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pyproject.toml": "[tool.portpolicy]\nplatform = 'beos'\n"})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "pyproject.toml:2: config key 'platform': 'beos' is not one of" in result.stderr


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
    assert "skipped notes.txt: not a configuration file, by its type" in result.stderr
    assert "skipped broken.yaml: YAML that no reader recognises" in result.stderr
    result = run_cli("check", "-v", "--select", "PP004", cwd=EXAMPLES)
    assert "    ci/docker-compose.yml:6:9: note: jenkins binds tcp/8080 here" in result.stdout


def test_nonexistent_path_is_a_usage_error(tmp_path: Path) -> None:
    """A typo'd path in CI must fail, not pass as "no problems" (issue #14)."""
    result = run_cli("check", "nowhere", "-v", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "portpolicy: error: no such file or directory: nowhere\n"


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


COMPOSE = "services:\n  web:\n    image: nginx\n    user: '101'\n    network_mode: host\n    expose: ['80']\n"
"""One PP001 at 6:14 (a non-root user on the host network binding 80), related to lines 4 and 5."""


@pytest.mark.parametrize("command", ["check", "facts"])
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("missing/dir/out.json", "its directory does not exist"),
        (".", "it is a directory"),
    ],
)
def test_unwritable_output_is_one_line_and_exit_2(
    tmp_path: Path, command: str, target: str, reason: str
) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    result = run_cli(command, "-o", target, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"portpolicy: error: cannot write {target}: {reason}\n"


def test_output_never_follows_a_symbolic_link(tmp_path: Path) -> None:
    """A pull request can commit report.sarif -> ~/.bashrc where CI writes its report."""
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    repo = write_tree(tmp_path / "repo", {"compose.yaml": COMPOSE})
    (repo / "report.sarif").symlink_to(victim)
    result = run_cli("check", "--format", "sarif:report.sarif", cwd=repo)
    assert result.returncode == 2
    assert "cannot write report.sarif: it is a symbolic link" in result.stderr
    assert victim.read_text() == "keep me\n"


def test_internal_error_is_exit_3_with_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    from tests.hostile import run_python_bounded

    code = (
        "import sys\n"
        "import portpolicy.pipeline\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('boom \\x1b[2J')\n"
        "portpolicy.pipeline.scan = broken\n"
        "from portpolicy.cli import main\n"
        "sys.exit(main(sys.argv[1:] or ['check', '.']))\n"
    )
    plain = run_python_bounded(code, cwd=tmp_path)
    assert plain.returncode == 3 and plain.stdout == ""
    # The exception's text (which may quote a scanned file) is left for --debug.
    assert re.fullmatch(
        r"portpolicy: internal error: RuntimeError at portpolicy/cli\.py:\d+ — please report it at "
        r"https://github\.com/portpolicy/portpolicy/issues; run with --debug for the traceback\n",
        plain.stderr,
    ), plain.stderr
    assert "boom" not in plain.stderr
    debug = run_python_bounded(code.replace("['check', '.']", "['check', '--debug', '.']"), cwd=tmp_path)
    assert debug.returncode == 3
    assert debug.stderr.startswith("Traceback (most recent call last):") and "in broken" in debug.stderr
    assert "\x1b" not in debug.stderr.splitlines()[-1]


def test_debug_prints_tracebacks_the_scan_recorded(tmp_path: Path) -> None:
    """The pipeline keeps the tracebacks of internal errors it turned into PP000 (Report.tracebacks)."""
    from tests.hostile import run_python_bounded

    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    code = (
        "import sys\n"
        "import portpolicy.pipeline as pipeline\n"
        "real = pipeline.scan\n"
        "def scan(*args, **kwargs):\n"
        "    report = real(*args, **kwargs)\n"
        "    report.tracebacks = ['Traceback (most recent call last):\\n  recorded in a reader\\n']\n"
        "    return report\n"
        "pipeline.scan = scan\n"
        "from portpolicy.cli import main\n"
        "sys.exit(main(sys.argv[1:] or ['check', '--debug', '.']))\n"
    )
    result = run_python_bounded(code, cwd=tmp_path)
    assert result.returncode == 1 and "  recorded in a reader\n" in result.stderr
    quiet = run_python_bounded(code.replace("'--debug', ", ""), cwd=tmp_path)
    assert quiet.returncode == 1 and "recorded in a reader" not in quiet.stderr


def test_summary_counts_files_with_problems_and_files_checked(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a/compose.yaml": COMPOSE, "b/compose.yaml": COMPOSE.replace("'101'", "root")})
    result = run_cli("check", cwd=tmp_path)
    assert result.stdout.splitlines()[-1] == "Found 1 problem (1 error) in 1 file (2 files checked)."


def test_quiet_prints_only_the_findings(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    result = run_cli("check", "--quiet", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("compose.yaml:6:14: PP001 [error] web binds tcp/80")
    assert len(result.stdout.splitlines()) == 1 and result.stderr == ""


def test_show_source_draws_the_line_and_a_caret_under_the_column(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    result = run_cli("check", "--show-source", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("compose.yaml:6:14: PP001")
    assert lines[1:4] == ["  |", "6 |     expose: ['80']", "  |              ^"]
    assert lines[4] == "  note: compose.yaml:4:11: runs as 101"
    assert lines[5:8] == ["  |", "4 |     user: '101'", "  |           ^"]
    assert lines[1:4] == ["  |", "6 |     expose: ['80']", "  |              ^"]
    caret = lines[3].index("^")
    assert lines[2][caret : caret + 4] == "'80'"  # the caret sits under column 14
    plain = run_cli("check", cwd=tmp_path)  # a pipe: one line per finding, as before
    assert "|" not in plain.stdout
    assert run_cli("check", "--show-source", "--no-show-source", cwd=tmp_path).stdout == plain.stdout


def test_show_source_cuts_long_lines_around_the_column(tmp_path: Path) -> None:
    padding = "x" * 500
    text = COMPOSE.replace("expose: ['80']", f"expose: ['80']  # {padding}").replace(
        "image: nginx", f"image: nginx  # {padding}"
    )
    write_tree(tmp_path, {"compose.yaml": text})
    lines = run_cli("check", "--show-source", cwd=tmp_path).stdout.splitlines()
    assert lines[2].startswith("6 |     expose: ['80']  # xxx") and lines[2].endswith("…")
    assert len(lines[2]) < 220


def _read_all(fd: int) -> str:
    import select

    data = b""
    while select.select([fd], [], [], 0.2)[0]:
        data += os.read(fd, 4096)
    return data.decode()


def test_progress_line_appears_after_the_delay_and_is_erased(tmp_path: Path) -> None:
    import time

    from portpolicy.progress import ERASE, Progress

    main_fd, terminal = os.openpty()
    try:
        with Progress("checking deploy", fd=terminal, delay=0.05) as progress:
            time.sleep(0.3)
        assert progress.shown
        shown = _read_all(main_fd)
    finally:
        os.close(main_fd)
        os.close(terminal)
    assert "portpolicy: checking deploy (0s)" in shown and shown.endswith(ERASE)
    with open(os.devnull, "w") as null:  # not a terminal: never shown
        assert not Progress("checking", fd=null.fileno(), delay=0.01).enabled


def test_config_schema_is_ready_for_editors_and_schemastore() -> None:
    import jsonschema

    schema = json.loads((REPO / "portpolicy/schemas/config.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].startswith("https://") and schema["title"] == "portpolicy configuration"
    missing = []

    def walk(node: dict[str, Any], path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{path}{key}")
            walk(sub, f"{path}{key}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}*.")

    walk(schema, "")
    assert missing == []
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"# yaml-language-server: $schema={schema['$id']}" in readme and f'"{schema["$id"]}"' in readme
    assert (REPO / "portpolicy/py.typed").exists()
