"""Inventory fidelity (issue #18): host ranges, children, group and host vars, compared with
``ansible-inventory --list`` (ansible-core is a test extra; CI installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portpolicy.ansible.inventory import Inventory, expand_host_pattern, read_ini, read_vars_dirs, read_yaml
from portpolicy.ansible.loader import Loader
from portpolicy.model import Listener
from tests.helpers import scan_tree, write_tree

INI = """\
[web]
web[01:03].example.com http_port=8080
db[a:c] ansible_host=10.0.0.1
h[1:9:4]:2222
[web:vars]
x=1
[servers:children]
web
"""
YAML = """\
all:
  children:
    app:
      hosts:
        app[1:3]:
          app_port: 80
        node[a:b]-[01:02]:
      vars:
        y: 2
    top:
      children:
        app:
"""
VARS = {
    "host_vars/web02.example.com.yml": "http_port: 9090\n",
    "host_vars/app2.yml": "app_port: 8000\n",
    "group_vars/servers.yml": "z: [1, 2]\n",
    "group_vars/top.yml": "t: top\n",
}


def _ansible_inventory() -> str:
    found = shutil.which("ansible-inventory") or str(Path(sys.executable).parent / "ansible-inventory")
    if not Path(found).exists():
        pytest.skip(
            "ansible-core is not installed (pip install '.[test]'): no ansible-inventory to compare with"
        )
    return found


def _oracle(root: Path, name: str) -> dict[str, Any]:
    result = subprocess.run(
        [_ansible_inventory(), "-i", name, "--list"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root), "ANSIBLE_HOME": str(root / ".ansible")},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _ours(root: Path, name: str) -> Inventory:
    inv = Inventory()
    loader = Loader((str(root),))
    path = str(root / name)
    if name.endswith(".ini"):
        read_ini(inv, path, (root / name).read_text())
    else:
        assert read_yaml(inv, loader.load(path))
    files = {str(p): loader.load(str(p)) for p in root.glob("*_vars/*.yml")}
    read_vars_dirs(inv, str(root), files, 0)
    return inv


def _hostvars(inv: Inventory) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for host in inv.all_hosts:
        values: dict[str, Any] = {}
        for layer in inv.layers_for(host):
            values.update({k: v.value for k, v in layer.items()})
        out[host] = values
    return out


def _members(oracle: dict[str, Any], group: str) -> set[str]:
    entry = oracle.get(group, {})
    hosts = set(entry.get("hosts", ()))
    for child in entry.get("children", ()):
        hosts |= _members(oracle, child)
    return hosts


@pytest.mark.parametrize("name,text", [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_hosts_groups_and_variables_match_ansible_inventory(tmp_path: Path, name: str, text: str) -> None:
    write_tree(tmp_path, {name: text, **VARS})
    oracle = _oracle(tmp_path, name)
    ours = _ours(tmp_path, name)
    assert _hostvars(ours) == oracle["_meta"]["hostvars"]
    for group in (g for g in oracle if g not in ("_meta", "all", "ungrouped")):
        assert ours.members(group) == _members(oracle, group), group


def test_range_forms() -> None:
    assert expand_host_pattern("web[01:03].example.com")[0] == [f"web0{i}.example.com" for i in (1, 2, 3)]
    assert expand_host_pattern("db[a:c]") == (["dba", "dbb", "dbc"], None)
    assert expand_host_pattern("h[1:10:3]:22") == (["h1", "h4", "h7", "h10"], 22)
    assert expand_host_pattern("[::1]:22") == (["::1"], 22)
    assert expand_host_pattern("fe80::1") == (["fe80::1"], None)
    assert expand_host_pattern("bad[01:3]") == (["bad[01:3]"], None)  # ansible-core refuses it


def test_a_hostile_range_is_kept_as_written() -> None:
    assert expand_host_pattern("h[0:999999999]") == (["h[0:999999999]"], None)
    assert expand_host_pattern("h[0:99][0:99][0:99]") == (["h[0:99][0:99][0:99]"], None)


def test_host_vars_of_an_expanded_name_reach_the_play(tmp_path: Path) -> None:
    """``host_vars/web02.yml`` applies to ``web[01:03]``'s second host: its finding is not missed."""
    tree = {
        "ansible.cfg": "[defaults]\ninventory = inventory.ini\n",
        "inventory.ini": "[web]\nweb[01:03]\n",
        "host_vars/web02.yml": "web_port: 50000\n",
        "site.yml": "- name: Web\n  hosts: web\n  roles:\n    - web\n",
        "roles/web/defaults/main.yml": "web_port: 8080\n",
        "roles/web/tasks/main.yml": (
            "- name: Conf\n  ansible.builtin.template:\n    src: site.conf.j2\n    dest: /etc/nginx/conf.d/site.conf\n"
        ),
        "roles/web/templates/site.conf.j2": "server {\n    listen {{ web_port }};\n}\n",
    }
    report = scan_tree(write_tree(tmp_path, tree))
    ports = sorted((f.host, str(f.ports)) for f in report.facts if isinstance(f, Listener))
    assert ports == [("web:web01,web03", "8080"), ("web:web02", "50000")]
    [finding] = report.findings
    assert finding.rule == "PP002" and finding.host == "web:web02"
    assert (finding.location.path, finding.location.line) == ("host_vars/web02.yml", 1)
