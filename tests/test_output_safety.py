"""Hostile file names and content reach every output format safely (issue #20, output injection).

A pull request chooses its file names and file content: newlines, terminal escape
sequences, bytes that are not UTF-8, ``<``, ``&`` and ``]]>``. Text output must never pass
a control character through raw; JSON, SARIF and GitLab must stay valid UTF-8 and keep the
name's bytes (``\\xNN``, or percent-encoded in a SARIF URI); JUnit must stay well-formed and
valid XML. Each CLI run is bounded (tests/hostile.py).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from portpolicy.report.escape import display, unicode_text, xml_text
from tests.helpers import scan_tree, write_tree
from tests.hostile import ChildRun, run_bounded
from tests.validate import junit_errors, sarif_errors

COMPOSE = (
    b"services:\n  web:\n    image: nginx\n    user: '101'\n    network_mode: host\n    expose: ['80']\n"
)
"""One PP001 at line 6, column 14."""
NAMES = {
    b"new\nline": "new\\x0aline",
    b"ansi\x1b[31mred\x1b[0m<&]]>": "ansi\\x1b[31mred\\x1b[0m<&]]>",
    b"latin\xff": "latin\\xff",
}
"""Directory name on disk -> how reports spell it."""
ESC = "\x1b"


def _hostile_tree(root: Path) -> Path:
    for raw in NAMES:
        folder = os.path.join(os.fsencode(root), raw)
        os.mkdir(folder)
        with open(os.path.join(folder, b"compose.yaml"), "wb") as fh:
            fh.write(COMPOSE)
    return root


def _check(root: Path, *args: str) -> ChildRun:
    run = run_bounded("check", ".", *args, cwd=root)
    assert not run.crashed, run.stderr
    assert run.returncode == 1, run.stderr
    assert "\ufffd" not in run.stdout  # every byte written was valid UTF-8
    return run


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return _hostile_tree(tmp_path)


def test_text_output_shows_control_characters_escaped(hostile: Path) -> None:
    run = _check(hostile, "--show-source")
    assert ESC not in run.stdout and "\r" not in run.stdout
    headlines = [line for line in run.stdout.splitlines() if ": PP001 [error]" in line]
    assert sorted(line.split("/compose.yaml:6:14:")[0] for line in headlines) == sorted(NAMES.values())
    assert run.stdout.count("6 |     expose: ['80']") == 3  # the files are UTF-8 text: quoted


def test_json_gitlab_and_sarif_keep_the_bytes_of_names_that_are_not_utf8(hostile: Path) -> None:
    doc = json.loads(_check(hostile, "--format", "json").stdout)
    # JSON escapes control characters itself; a byte that is not UTF-8 becomes \xNN
    expected = {os.fsdecode(raw).replace("\udcff", "\\xff") + "/compose.yaml" for raw in NAMES}
    assert {f["path"] for f in doc["findings"]} == expected
    gitlab = json.loads(_check(hostile, "--format", "gitlab").stdout)
    assert "latin\\xff/compose.yaml" in {i["location"]["path"] for i in gitlab}
    sarif = json.loads(_check(hostile, "--format", "sarif").stdout)
    assert sarif_errors(sarif) == []
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
    }
    assert uris == {
        "new%0Aline/compose.yaml",
        "ansi%1B%5B31mred%1B%5B0m%3C%26%5D%5D%3E/compose.yaml",
        "latin%FF/compose.yaml",
    }


def test_junit_is_well_formed_and_valid_for_any_name(hostile: Path) -> None:
    report = _check(hostile, "--format", "junit").stdout
    assert junit_errors(report) == []
    suites = {s.get("name") for s in ET.fromstring(report).findall("testsuite")}
    # a newline is XML text (written as &#10; in an attribute); ESC and the lone byte are not
    assert suites == {
        "new\nline/compose.yaml",
        "ansi\\x1b[31mred\\x1b[0m<&]]>/compose.yaml",
        "latin\\xff/compose.yaml",
    }


def test_github_annotations_stay_one_command_per_finding(hostile: Path) -> None:
    lines = _check(hostile, "--format", "github").stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("::error file=") for line in lines[:3])
    assert ESC not in "".join(lines)
    assert any(line.startswith("::error file=latin\\xff/compose.yaml,line=6,col=14,") for line in lines)


def test_several_reports_from_one_scan_of_hostile_names(hostile: Path) -> None:
    run = _check(hostile, "--format", "github", "--format", "sarif:out.sarif", "--format", "junit:out.xml")
    assert run.stdout.count("::error ") == 3
    assert sarif_errors(json.loads((hostile / "out.sarif").read_text(encoding="utf-8"))) == []
    assert junit_errors((hostile / "out.xml").read_text(encoding="utf-8")) == []


def test_facts_text_and_json_escape_names(hostile: Path) -> None:
    text = run_bounded("facts", ".", cwd=hostile)
    assert text.returncode == 0 and not text.crashed and ESC not in text.stdout
    assert "latin\\xff/compose.yaml:6:14" in text.stdout
    doc = json.loads(run_bounded("facts", ".", "--format", "json", cwd=hostile).stdout)
    assert {ln["location"] for ln in doc["listeners"]} >= {"latin\\xff/compose.yaml:6:14"}


def test_messages_built_from_file_content_are_escaped(tmp_path: Path) -> None:
    """A service name is file content: YAML's \\e puts an escape character in the message."""
    text = COMPOSE.decode().replace("  web:", '  "web\\e[2J\\u202e":')
    write_tree(tmp_path, {"compose.yaml": text})
    run = _check(tmp_path)
    assert "web\\x1b[2J\\u202e binds tcp/80" in run.stdout and ESC not in run.stdout
    junit = _check(tmp_path, "--format", "junit").stdout
    assert junit_errors(junit) == [] and "web\\x1b[2J" in junit


def test_source_lines_of_a_file_that_is_not_utf8_are_never_quoted(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(COMPOSE.replace(b"['80']", b"['80']  # \xff\x1b[2J"))
    run = run_bounded("check", "--show-source", "--fail-on", "never", cwd=tmp_path)
    assert run.returncode == 0 and not run.crashed
    assert run.stdout.startswith("compose.yaml:1:1: PP000 [warning]") and "not valid UTF-8" in run.stdout
    assert " | " not in run.stdout and ESC not in run.stdout  # no line of it is quoted


def test_source_line_with_escape_characters_is_quoted_escaped(tmp_path: Path) -> None:
    conf = b"events {}\nhttp {\n  server {\n    listen 50000; # \x1b]0;owned\x07\n  }\n}\n"
    (tmp_path / "etc" / "nginx").mkdir(parents=True)
    (tmp_path / "etc" / "nginx" / "nginx.conf").write_bytes(conf)
    run = run_bounded("check", "--show-source", "--fail-on", "warning", cwd=tmp_path)
    assert run.returncode == 1 and "etc/nginx/nginx.conf:4:12: PP002 [warning]" in run.stdout
    assert "4 |     listen 50000; # \\x1b]0;owned\\x07\n  |            ^\n" in run.stdout
    assert ESC not in run.stdout and "\x07" not in run.stdout


def test_frames_quote_only_files_a_reader_read(tmp_path: Path) -> None:
    """A finding may point anywhere (a custom rule, a related location): no frame outside the scan."""
    from dataclasses import replace

    from portpolicy.model import Location, Related
    from portpolicy.report import text

    write_tree(tmp_path, {"compose.yaml": COMPOSE.decode(), "secret.txt": "token=hunter2\n"})
    report = scan_tree(tmp_path)
    [finding] = report.findings
    os.mkfifo(tmp_path / "fifo")
    elsewhere = (Related(Location("secret.txt", 1, 1), "here"), Related(Location("fifo", 1, 1), "and here"))
    report.findings = [replace(finding, related=elsewhere)]
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        shown = text.render(report, show_source=True)
        assert text.file_lines("fifo") is None  # a FIFO is never opened for reading, so never blocks
    finally:
        os.chdir(old)
    assert "hunter2" not in shown and "note: secret.txt:1:1: here" in shown
    assert "6 |     expose: ['80']" in shown


def test_file_lines_refuses_links_out_of_the_roots_and_binary_files(tmp_path: Path) -> None:
    from portpolicy.report.text import file_lines

    repo = write_tree(tmp_path / "repo", {"real.conf": "a\nb\n"})
    (tmp_path / "secret").write_text("token=hunter2\n")
    (repo / "inside.conf").symlink_to(repo / "real.conf")
    (repo / "outside.conf").symlink_to(tmp_path / "secret")
    (repo / "binary.conf").write_bytes(b"a\0b\n")
    roots = (str(repo),)
    assert file_lines(str(repo / "real.conf"), roots) == ["a", "b"]
    assert file_lines(str(repo / "inside.conf"), roots) == ["a", "b"]
    assert file_lines(str(repo / "outside.conf"), roots) is None
    assert file_lines(str(repo / "binary.conf"), roots) is None
    assert file_lines(str(repo), roots) is None


@pytest.mark.parametrize(
    ("raw", "shown", "unicode", "xml"),
    [
        ("a\x1b[31mb", "a\\x1b[31mb", "a\x1b[31mb", "a\\x1b[31mb"),
        ("tab\there\n", "tab\\x09here\\x0a", "tab\there\n", "tab\there\n"),
        ("csi\x9b2J", "csi\\x9b2J", "csi\x9b2J", "csi\x9b2J"),
        ("bidi\u202eevil", "bidi\\u202eevil", "bidi\u202eevil", "bidi\u202eevil"),
        (os.fsdecode(b"byte\xff"), "byte\\xff", "byte\\xff", "byte\\xff"),
        ("<&]]>\ufffe", "<&]]>\ufffe", "<&]]>\ufffe", "<&]]>\\ufffe"),
        ("plain ünïcode ✓", "plain ünïcode ✓", "plain ünïcode ✓", "plain ünïcode ✓"),
    ],
)
def test_one_escaping_helper_per_kind_of_output(raw: str, shown: str, unicode: str, xml: str) -> None:
    assert display(raw) == shown
    assert unicode_text(raw) == unicode and unicode.encode("utf-8")
    assert xml_text(raw) == xml


def test_rules_and_explain_escape_custom_rule_text(tmp_path: Path) -> None:
    """Custom rules come from the scanned repository (rules-dirs in its config): their text is input too."""
    import yaml

    from tests.helpers import REPO

    rule = yaml.safe_load((REPO / "rules" / "PP009.yml").read_text(encoding="utf-8"))
    rule.update(id="ACME001", name="loud-rule", summary="sum \x1b[2J mary")
    rule["rationale"] += "\n\x1b]0;owned\x07"
    write_tree(tmp_path, {"rules/ACME001.yml": yaml.safe_dump(rule)})
    listed = run_bounded("rules", "--rules-dir", "rules", cwd=tmp_path)
    assert listed.returncode == 0 and "ACME001  loud-rule" in listed.stdout
    assert "sum \\x1b[2J mary" in listed.stdout and ESC not in listed.stdout
    explained = run_bounded("explain", "ACME001", "--rules-dir", "rules", cwd=tmp_path)
    assert explained.returncode == 0 and "\\x1b]0;owned\\x07" in explained.stdout
    assert ESC not in explained.stdout and "\x07" not in explained.stdout
