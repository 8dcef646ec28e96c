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

from tests.helpers import REPO, run_cli, write_tree

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


# ---------------------------------------------------------------- issue #18: as its users expect

SYSCTL_ROLE = {
    "site.yml": "---\n- name: Tune\n  hosts: all\n  roles:\n    - tune\n",
    "roles/tune/tasks/main.yml": (
        "---\n- name: Copy sysctl settings\n  ansible.builtin.copy:\n"
        '    src: etc/sysctl.d/90-x.conf\n    dest: /etc/sysctl.d/90-x.conf\n    mode: "0644"\n'
    ),
    "roles/tune/files/etc/sysctl.d/90-x.conf": "net.ipv4.ip_local_port_range = 40000 30000\n",
}
UNUSED_NOQA = COMPOSE.format(noqa="").replace('      - "8080:8080"', '      - "8080:8080"  # noqa: PP002')
"""A suppression of a rule that reports nothing on its line: PP014, an info finding."""


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "project"
    write_tree(root, files)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_a_non_yaml_role_file_finding_reaches_ansible_lint(tmp_path: Path) -> None:
    """ansible-lint gives ``files/etc/sysctl.d/90-x.conf`` no kind and hands it to no rule."""
    result = lint(_tree(tmp_path, SYSCTL_ROLE), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = [ln for ln in result.stdout.splitlines() if "portpolicy" in ln]
    assert line.startswith(
        "roles/tune/files/etc/sysctl.d/90-x.conf:1:32: portpolicy[kernel-rejects-port-setting]"
    )


def test_an_info_finding_is_a_warning_and_not_fatal(tmp_path: Path) -> None:
    files = {"docker-compose.yml": UNUSED_NOQA.replace('"8080:9100"', '"8081:9100"'), "site.yml": PLAYBOOK}
    result = lint(_tree(tmp_path, files), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "docker-compose.yml:5:22: portpolicy[unused-suppression]: PP014 info" in result.stdout
    assert "0 failure(s), 1 warning(s)" in result.stderr


def test_fail_on_info_makes_the_info_finding_fatal(tmp_path: Path) -> None:
    files = {
        "docker-compose.yml": UNUSED_NOQA.replace('"8080:9100"', '"8081:9100"'),
        "site.yml": PLAYBOOK,
        ".portpolicy.yml": "fail-on: info\n",
    }
    result = lint(_tree(tmp_path, files), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "1 failure(s), 0 warning(s)" in result.stderr


def test_an_error_beside_an_info_finding_still_fails(tmp_path: Path) -> None:
    files = {"docker-compose.yml": UNUSED_NOQA, "site.yml": PLAYBOOK}
    result = lint(_tree(tmp_path, files), "-r", str(RULES_DIR), "-R")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "1 failure(s), 1 warning(s)" in result.stderr


def test_a_match_links_to_its_rule_page(tmp_path: Path) -> None:
    result = lint(project(tmp_path), "-r", str(RULES_DIR), "-R", "--format", "codeclimate")
    import json

    [issue] = [i for i in json.loads(result.stdout) if i["check_name"].startswith("portpolicy")]
    assert issue["url"] == "https://github.com/portpolicy/portpolicy/blob/main/docs/rules/PP004.md"
    assert (REPO / "docs/rules/PP004.md").is_file()


@pytest.mark.parametrize("noqa", ["# noqa: PP004", "# noqa: portpolicy[port-conflict]", "# noqa: portpolicy"])
def test_one_noqa_spelling_silences_both_channels(tmp_path: Path, noqa: str) -> None:
    root = project(tmp_path, "  " + noqa)
    result = lint(root, "-r", str(RULES_DIR), "-R")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "portpolicy" not in result.stdout
    cli = run_cli("check", ".", cwd=root)
    assert cli.returncode == 0 and "No problems found" in cli.stdout, cli.stdout + cli.stderr


TEMPLATE_ROLE = {
    "site.yml": "---\n- name: Web\n  hosts: all\n  roles:\n    - web\n",
    "roles/web/tasks/main.yml": (
        "---\n- name: Site config\n  ansible.builtin.template:\n"
        '    src: site.conf.j2\n    dest: /etc/nginx/conf.d/site.conf\n    mode: "0644"\n'
    ),
    "roles/web/templates/site.conf.j2": (
        "{# managed by ansible #}\n{% set tls = false %}\n{% if tls %}\n    ssl on;\n{% endif %}\n"
        "server {\n    server_name example.org;\n    listen 50000;{noqa}\n}\n"
    ),
}


@pytest.mark.parametrize("noqa", ["", "  # noqa: PP002"])
def test_a_template_finding_at_the_template_line_in_both_channels(tmp_path: Path, noqa: str) -> None:
    files = {**TEMPLATE_ROLE}
    files["roles/web/templates/site.conf.j2"] = files["roles/web/templates/site.conf.j2"].replace(
        "{noqa}", noqa
    )
    root = _tree(tmp_path, files)
    result = lint(root, "-r", str(RULES_DIR), "-R")
    cli = run_cli("check", ".", cwd=root)
    if noqa:
        assert "portpolicy" not in result.stdout and result.returncode == 0, result.stdout + result.stderr
        assert "No problems found" in cli.stdout, cli.stdout
        return
    where = "roles/web/templates/site.conf.j2:8:12"
    assert f"{where}: portpolicy[listener-in-ephemeral-range]: PP002 warning" in result.stdout, result.stdout
    assert result.returncode == 0  # a warning under the default fail-on (error)
    assert cli.stdout.startswith(f"{where}: PP002"), cli.stdout
