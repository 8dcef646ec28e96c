"""A role template that imports a macro file from its own templates folder is rendered whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PLAY = """\
- hosts: web
  roles:
    - edge
"""
TASKS = """\
- name: nginx site
  ansible.builtin.template:
    src: site.conf.j2
    dest: /etc/nginx/conf.d/site.conf
"""
MACROS = """\
{% macro listen(port) -%}
listen {{ port }};
{%- endmacro %}
"""
SITE = """\
{% import 'macros.j2' as m %}
server {
    {{ m.listen(edge_port) }}
    server_name example.org;
}
"""


def _project(root: Path, edge_port: int) -> Path:
    (root / "roles/edge/tasks").mkdir(parents=True)
    (root / "roles/edge/templates").mkdir(parents=True)
    (root / "roles/edge/defaults").mkdir(parents=True)
    (root / "site.yml").write_text(PLAY)
    (root / "inventory.ini").write_text("[web]\nweb1\n")
    (root / "roles/edge/tasks/main.yml").write_text(TASKS)
    (root / "roles/edge/templates/macros.j2").write_text(MACROS)
    (root / "roles/edge/templates/site.conf.j2").write_text(SITE)
    (root / "roles/edge/defaults/main.yml").write_text(f"edge_port: {edge_port}\n")
    (root / "host_sysctl.conf").write_text("")
    return root


def _rules(root: Path) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "portpolicy", "check", ".", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return [f"{f['rule']} {f['path']}" for f in json.loads(run.stdout)["findings"]]


def test_a_macro_imported_from_the_role_templates_renders_the_listen(tmp_path: Path) -> None:
    """nginx on 40000 (inside the ephemeral range) is PP002, seen only through the macro."""
    assert "PP002 roles/edge/defaults/main.yml" in _rules(_project(tmp_path, 40000))


def test_the_same_role_on_a_port_outside_the_range_is_clean(tmp_path: Path) -> None:
    assert _rules(_project(tmp_path, 8080)) == []
