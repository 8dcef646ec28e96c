"""docs/rules is generated from the rule files: committed pages must equal the generated ones."""

from __future__ import annotations

import os
import subprocess
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from portpolicy import engine, ruledoc
from tests.helpers import REPO, run_cli

DOCS = REPO / "docs" / "rules"
REGENERATE = "regenerate with: python -m portpolicy.ruledoc --write docs/rules"


def test_committed_pages_equal_the_generated_ones() -> None:
    wanted = ruledoc.pages()
    present = {p.name for p in DOCS.glob("*.md")}
    assert present == set(wanted), REGENERATE
    stale = [name for name, text in wanted.items() if (DOCS / name).read_text(encoding="utf-8") != text]
    assert stale == [], f"{stale} out of date; {REGENERATE}"


def test_every_builtin_rule_has_a_page_with_the_required_sections() -> None:
    for rule in engine.load_rules():
        page = (DOCS / f"{rule.id}.md").read_text(encoding="utf-8")
        for section in ("## Why it matters", "## How to fix", "## Examples"):
            assert section in page, (rule.id, section)
        assert rule.summary in page
        assert f"[{rule.id}]({rule.id}.md)" in (DOCS / "index.md").read_text(encoding="utf-8")


def test_explain_prints_the_page_text() -> None:
    result = run_cli("explain", "PP001")
    assert result.returncode == 0
    page = (DOCS / "PP001.md").read_text(encoding="utf-8")
    assert page.endswith(result.stdout)


def test_check_mode_of_the_generator() -> None:
    ok = _module("--check", str(DOCS))
    assert ok.returncode == 0, ok.stderr
    bad = _module("--check", str(REPO / "docs"))
    assert bad.returncode == 1 and "out of date" in bad.stderr


def _module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "portpolicy.ruledoc", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_help_urls_point_at_the_project_repository() -> None:
    urls = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    assert urls["Repository"] == ruledoc.REPOSITORY
    rule = next(r for r in engine.load_rules() if r.id == "PP001")
    url = ruledoc.rule_url(rule)
    assert url is not None and url.startswith(ruledoc.REPOSITORY + "/blob/main/")
    assert (REPO / url.removeprefix(ruledoc.REPOSITORY + "/blob/main/")).is_file()
