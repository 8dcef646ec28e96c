"""A scan gives the same answer from inside a repository and from the folder above it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli, write_tree

TREE = {
    # a book's layout: example projects side by side, a test playbook importing one of them
    "tests/flask.yml": "---\n- hosts: all\n  tasks: []\n\n- import_playbook: ../flask/provisioning/main.yml\n",
    "flask/provisioning/main.yml": (
        "---\n- hosts: all\n  become: true\n  tasks:\n"
        "    - name: Open the app's port\n"
        "      community.general.ufw:\n        rule: allow\n        port: '45000'\n        proto: tcp\n"
        "    - name: Run the app\n"
        "      community.docker.docker_container:\n        name: app\n        image: example/app:1\n"
        "        published_ports:\n          - '45000:5000'\n"
    ),
}


def _findings(cwd: Path, target: str, prefix: str) -> list[tuple[str, str, int]]:
    result = run_cli("check", target, "--no-config", "--format", "json", "--fail-on", "never", cwd=cwd)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return sorted((f["rule"], f["path"].removeprefix(prefix), f["line"]) for f in report["findings"])


def test_a_playbook_two_folders_down_is_read_from_inside_and_from_the_parent(tmp_path: Path) -> None:
    repo = tmp_path / "book"
    write_tree(repo, TREE)
    inside = _findings(repo, ".", "")
    above = _findings(tmp_path, "book", "book/")
    assert inside == above
    assert ("PP002", "flask/provisioning/main.yml", 15) in inside  # the published port
