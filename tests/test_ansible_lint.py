"""The ansible-lint plugin: portpolicy findings inside an ansible-lint run, at their line and column.

ansible-lint has no entry-point plugins: the wheel installs the rule file under
``ansiblelint/rules/custom/portpolicy/``, the one directory it searches by itself. One test
installs the package into a directory and points ansible-lint's custom-rules lookup there
(``ANSIBLE_LINT_CUSTOM_RULESDIR`` names that same lookup), so no ``-r`` flag is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, write_tree

BIN = Path(sys.executable).parent
RULES_DIR = REPO / "portpolicy/ansiblelint"

COMPOSE = """\
services:
  api:
    image: example/api:1.4
    ports:
      - "8080:8080"
  metrics:
    image: example/metrics:2.0
    ports:
      - "8080:9100"{noqa}
"""
PLAYBOOK = """\
---
- name: Deploy
  hosts: all
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def _ansible_lint() -> str:
    path = BIN / "ansible-lint"
    found = str(path) if path.exists() else shutil.which("ansible-lint")
    if found is None:
        pytest.fail("ansible-lint is part of the test extras: pip install '.[test]'")
    return found


def lint(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "HOME": str(project.parent / "home"),
        "ANSIBLE_HOME": str(project.parent / "ansible-home"),
        "XDG_CACHE_HOME": str(project.parent / "cache"),
        "NO_COLOR": "1",
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    full.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        # -L (list rules) only takes the brief, rich or md formats
        [_ansible_lint(), "--offline", "--nocolor", *(() if "-L" in args else ("--format", "pep8")), *args],
        cwd=project,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def project(tmp_path: Path, noqa: str = "") -> Path:
    root = tmp_path / "project"
    write_tree(root, {"docker-compose.yml": COMPOSE.format(noqa=noqa), "site.yml": PLAYBOOK})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


EXPECTED = (
    "docker-compose.yml:9:9: portpolicy[port-conflict]: PP004 error: metrics binds tcp/8080 on *, "
    "which api already binds on *"
)


def test_planted_problem_at_its_line_and_column(tmp_path: Path) -> None:
    result = lint(project(tmp_path), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 2, result.stdout + result.stderr
    findings = [line for line in result.stdout.splitlines() if "portpolicy" in line]
    assert len(findings) == 1 and findings[0].startswith(EXPECTED), result.stdout
    assert "site.yml" not in result.stdout  # the clean playbook passes the built-in rules


@pytest.mark.parametrize("noqa", ["  # noqa: portpolicy[port-conflict]", "  # noqa: portpolicy"])
def test_noqa_silences_it(tmp_path: Path, noqa: str) -> None:
    result = lint(project(tmp_path, noqa), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "portpolicy" not in result.stdout


def test_another_rules_noqa_does_not(tmp_path: Path) -> None:
    result = lint(project(tmp_path, "  # noqa: yaml[line-length]"), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 2
    assert EXPECTED in result.stdout


def test_skip_list_by_tag(tmp_path: Path) -> None:
    result = lint(project(tmp_path), "-r", str(RULES_DIR), "-R", "-x", "portpolicy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_wheel_layout_is_found_without_flags(tmp_path: Path) -> None:
    target = tmp_path / "site"
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".*cache", "tests"),
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    custom = target / "ansiblelint/rules/custom"
    assert sorted(p.name for p in (custom / "portpolicy").glob("*.py")) == [
        "__init__.py",
        "portpolicy_ansiblelint_rules.py",
    ]
    assert not (target / "ansiblelint/__init__.py").exists()  # never shadows ansible-lint's own package
    env = {"PYTHONPATH": str(target), "ANSIBLE_LINT_CUSTOM_RULESDIR": str(custom)}
    result = lint(project(tmp_path), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert EXPECTED in result.stdout
    listed = lint(project(tmp_path / "again"), "-L", env=env)
    assert "portpolicy" in listed.stdout


SYSCTL_PLAYBOOK = """\
---
- name: Tune ports
  hosts: all
  tasks:
    - name: Widen the ephemeral range
      ansible.posix.sysctl:
        name: net.ipv4.ip_local_port_range
        value: "40000 30000"{noqa}
        sysctl_set: true
"""


def test_planted_problem_in_a_playbook(tmp_path: Path) -> None:
    """A sysctl task the kernel would refuse (start above end): PP006 at the value's line, and # noqa."""
    for noqa, code in (("", 2), ("  # noqa: portpolicy", 0)):
        root = tmp_path / f"p{code}" / "project"
        write_tree(
            root,
            {
                "site.yml": SYSCTL_PLAYBOOK.format(noqa=noqa),
                ".ansible-lint": "mock_modules:\n  - ansible.posix.sysctl\n",
            },
        )
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        result = lint(root, "-r", str(RULES_DIR), "-R")
        assert result.returncode == code, result.stdout + result.stderr
        if code:
            assert "site.yml:8:" in result.stdout and "PP006" in result.stdout, result.stdout
