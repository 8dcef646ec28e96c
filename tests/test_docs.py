"""The worked custom rule in docs/rules.md is real: it loads, validates and fires as documented."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.helpers import REPO, run_cli, write_tree

DOC = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")


def documented_rule() -> str:
    block = DOC.split("<!-- tested: tests/test_docs.py", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", block, re.S)
    assert match
    return match.group(1)


def test_worked_example_rule_fires_as_documented(tmp_path: Path) -> None:
    rule_text = documented_rule()
    write_tree(
        tmp_path,
        {
            "policy/portpolicy/ACME100.yml": rule_text,
            "deploy/compose.yaml": (
                "services:\n"
                "  app:\n"
                "    image: ghcr.io/acme/app:2\n"
                "    ports:\n"
                '      - "8080:8080"\n'
                "  db:\n"
                "    image: postgres:16\n"
                "    ports:\n"
                '      - "5432:5432"\n'
                "  cache:\n"
                "    image: redis:7\n"
                "    ports:\n"
                '      - "127.0.0.1:6379:6379"\n'
            ),
        },
    )
    result = run_cli("check", "--rules-dir", "policy/portpolicy", "deploy/", cwd=tmp_path)
    expected = DOC.split("$ portpolicy check --rules-dir policy/portpolicy deploy/\n", 1)[1].split("```", 1)[
        0
    ]
    assert result.stdout == expected
    assert result.returncode == 1
    listed = run_cli("rules", "--rules-dir", "policy/portpolicy", cwd=tmp_path).stdout
    assert "ACME100  database-published-on-all-interfaces" in listed
    assert run_cli("explain", "ACME100", "--rules-dir", "policy/portpolicy", cwd=tmp_path).stdout.startswith(
        "# ACME100"
    )


def test_worked_example_is_valid_and_its_own_examples_hold(tmp_path: Path) -> None:
    data = yaml.safe_load(documented_rule())
    for i, example in enumerate(data["examples"]):
        root = write_tree(tmp_path / str(i), {**example["files"], "rules/ACME100.yml": documented_rule()})
        result = run_cli("check", "--rules-dir", "rules", "--select", "ACME100", "--format", "json", cwd=root)
        import json

        assert len(json.loads(result.stdout)["findings"]) == example["expect"]


def test_readme_example_output_is_real() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ portpolicy check ci monitoring shop\n", 1)[1].split("```", 1)[0]
    result = run_cli("check", "ci", "monitoring", "shop", cwd=REPO / "examples")
    assert result.stdout == shown and result.returncode == 1


DOCUMENTS = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md", REPO / "CONTRIBUTING.md"]
"""The pages that describe today's code (``docs/sweeps/`` are dated records, left as they were)."""
PACKAGE_PATH = re.compile(r"\bportpolicy/[\w/.-]*\.py\b")
SHORT_PATH = re.compile(r"`([\w.-]+(?:/[\w.-]+)+\.py)`")
"""``readers/nginx.py`` in a table: below the repository, the package, or (CONTRIBUTING's
handler steps) the Ansible stage."""
BASES = (REPO, REPO / "portpolicy", REPO / "portpolicy" / "ansible")


def test_every_module_path_in_the_docs_exists() -> None:
    """A module that moves (a reader split into a package, a rename) takes its docs with it."""
    missing = []
    for page in DOCUMENTS:
        text = page.read_text(encoding="utf-8")
        missing += [
            f"{page.name}: {p}" for p in sorted(set(PACKAGE_PATH.findall(text))) if not (REPO / p).is_file()
        ]
        missing += [
            f"{page.name}: {p}"
            for p in sorted(set(SHORT_PATH.findall(text)))
            if not any((base / p).is_file() for base in BASES)
        ]
    assert not missing, missing


def test_the_path_check_sees_a_moved_module() -> None:
    """The patterns find paths written as the docs write them, so the check above can fail."""
    text = "in `portpolicy/ansible/jinja.py` and `readers/firewalld.py` (see portpolicy/readers/base.py)"
    assert PACKAGE_PATH.findall(text) == ["portpolicy/ansible/jinja.py", "portpolicy/readers/base.py"]
    assert SHORT_PATH.findall(text) == ["portpolicy/ansible/jinja.py", "readers/firewalld.py"]
    assert not (REPO / "portpolicy/ansible/jinja.py").exists()
