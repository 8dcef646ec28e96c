"""Baselines: record today's findings, fail only on new ones, even after lines move."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli, write_tree

COMPOSE = """\
services:
  agent:
    image: jenkins/inbound-agent
    ports:
      - "50000:50000"
  status:
    image: nginx:1.27
    user: "101"
    network_mode: host
    expose:
      - "80"
"""


def test_write_then_use_a_baseline(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    assert run_cli("check", cwd=tmp_path).returncode == 1
    written = run_cli("check", "--write-baseline", "baseline.json", cwd=tmp_path)
    assert written.returncode == 0, written.stdout
    assert "wrote 2 findings to baseline.json" in written.stderr
    doc = json.loads((tmp_path / "baseline.json").read_text())
    assert doc["version"] == 1 and doc["tool"]["name"] == "portpolicy" and doc["tool"]["version"]
    assert {(e["rule"], e["path"]) for e in doc["entries"]} == {
        ("PP001", "compose.yaml"),
        ("PP002", "compose.yaml"),
    }
    assert all(len(e["fingerprint"]) == 32 and e["message"] for e in doc["entries"])
    result = run_cli("check", "--baseline", "baseline.json", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "No problems found in 1 file.\n"
    assert "2 findings hidden by the baseline baseline.json" in result.stderr


def test_only_the_new_finding_survives_inserted_lines(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    run_cli("check", "--write-baseline", "baseline.json", cwd=tmp_path)
    shifted = "# CI services\n\n\n" + COMPOSE.replace(
        "  status:\n", '  cache:\n    image: redis:7\n    ports:\n      - "45000:6379"\n  status:\n'
    )
    (tmp_path / "compose.yaml").write_text(shifted, encoding="utf-8")
    for fmt in ("json", "sarif", "gitlab"):
        result = run_cli("check", "--baseline", "baseline.json", "--format", fmt, cwd=tmp_path)
        assert result.returncode == 0, fmt  # the new findings are warnings: below the default fail-on
    doc = json.loads(run_cli("check", "--baseline", "baseline.json", "--format", "json", cwd=tmp_path).stdout)
    # the inserted cache's two findings (its port in the ephemeral range; Redis published on
    # every address), none of the moved old ones
    assert [(f["rule"], f["line"]) for f in doc["findings"]] == [("PP002", 12), ("PP015", 12)]
    assert "45000" in doc["findings"][0]["message"] and "Redis" in doc["findings"][1]["message"]
    failing = run_cli("check", "--baseline", "baseline.json", "--fail-on", "warning", cwd=tmp_path)
    assert failing.returncode == 1


def test_a_changed_offending_line_is_new(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    run_cli("check", "--write-baseline", "baseline.json", cwd=tmp_path)
    (tmp_path / "compose.yaml").write_text(COMPOSE.replace('"80"', '"443"'), encoding="utf-8")
    result = run_cli("check", "--baseline", "baseline.json", cwd=tmp_path)
    assert result.returncode == 1 and "PP001" in result.stdout and "tcp/443" in result.stdout


def test_bad_baseline_is_a_usage_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE, "bad.json": "[1, 2]\n", "broken.json": "{"})
    for name, message in (
        ("missing.json", "cannot read baseline missing.json"),
        ("bad.json", "not a version 1 portpolicy baseline"),
        ("broken.json", "is not JSON"),
    ):
        result = run_cli("check", "--baseline", name, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_baseline_is_never_written_through_a_symbolic_link(tmp_path: Path) -> None:
    """A pull request could commit ``baseline.json -> ~/.bashrc``: writing must not follow it."""
    write_tree(tmp_path, {"repo/compose.yaml": COMPOSE, "victim": "keep me\n"})
    (tmp_path / "repo/baseline.json").symlink_to(tmp_path / "victim")
    result = run_cli("check", "--write-baseline", "baseline.json", cwd=tmp_path / "repo")
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "victim").read_text() == "keep me\n"


def test_fingerprints_hash_the_line_the_finding_is_on_whatever_odd_breaks_precede_it(tmp_path: Path) -> None:
    """Lines are numbered as the readers number them: a form feed or U+2028 ends no line."""
    from portpolicy.fingerprint import LineCache

    (tmp_path / "Dockerfile").write_text("FROM a\n# x\x0cy\u2028z\nEXPOSE 80800\n", encoding="utf-8")
    cache = LineCache((str(tmp_path),))
    assert cache.line(str(tmp_path / "Dockerfile"), 3) == "EXPOSE 80800"
