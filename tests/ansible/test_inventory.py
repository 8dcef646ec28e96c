"""Inventories and free-form task arguments read as Ansible reads them, at any length (issue #20)."""

from __future__ import annotations

from pathlib import Path

import yaml

from portpolicy.ansible.args import parse_args
from portpolicy.ansible.inventory import Inventory, read_ini
from portpolicy.model import FirewallRule
from tests.helpers import scan_tree, write_tree


def _ini(text: str) -> Inventory:
    inv = Inventory()
    read_ini(inv, "hosts", text)
    return inv


def test_a_long_host_line_is_split_as_the_shell_splits_it() -> None:
    """Lines over 2,048 characters were split on blanks: the quoted note broke into words."""
    note = "x " * 3_000
    inv = _ini(f"[web]\nh1 note='{note}' ansible_port=2222 # comment\n")
    values = {name: var.value for layer in inv.host_vars["h1"] for name, var in layer.items()}
    assert values == {"note": note, "ansible_port": 2222}


def test_a_quoted_group_variable_loses_its_quotes_and_comment_at_any_length() -> None:
    long = "y" * 5_000
    inv = _ini(f'[web:vars]\nshort="a b" # c\nlong="{long}" ; c\n')
    values = {name: var.value for layer in inv.groups["web"].vars for name, var in layer.items()}
    assert values == {"short": "a b", "long": long}


def test_host_patterns_match_as_globs_and_a_hostile_one_matches_nothing() -> None:
    inv = _ini("[web]\nweb1\nweb2\n[db]\ndb1\n")
    assert inv.match("web*") == {"web1", "web2"}
    assert inv.match("w?b[12]:db*") == {"web1", "web2", "db1"}
    assert inv.match("web[" + "[" * 40_000) is None  # longer than any name: no match, no translation


def _free_form(text: str) -> dict[str, tuple[str, int]]:
    node = yaml.ScalarNode("tag:yaml.org,2002:str", text, yaml.Mark("t.yml", 0, 0, 4, None, 0))
    args = parse_args("t.yml", node, None).items()
    return {name: (arg.raw, arg.location.column) for name, arg in args if name != "_raw_params"}


def test_free_form_arguments_keep_quotes_templates_and_columns() -> None:
    assert _free_form('port=8080/tcp msg="a b" dest={{ d }}/x state=enabled') == {
        "port": ("8080/tcp", 10),  # the node's column (5) and the value's offset
        "msg": ("a b", 23),
        "dest": ("{{ d }}/x", 34),
        "state": ("enabled", 50),
    }


def test_an_unclosed_template_ends_a_value_and_the_next_key_is_still_found() -> None:
    assert _free_form("c={{ y }} a=x{{ b=1 d='{{' e") == {
        "c": ("{{ y }}", 7),
        "a": ("x", 17),
        "b": ("1", 23),
        "d": ("{{", 27),
    }


def test_a_key_starts_a_word() -> None:
    assert _free_form("x-y=1 éa=2 " + "z" * 10_000 + " port=22") == {
        "y": ("1", 9),
        "éa": ("2", 14),
        "port": ("22", 10_022),
    }


def test_a_section_header_may_carry_a_comment_as_ansible_reads_it() -> None:
    """autobase's inventory: ``[etcd_cluster]  # recommendation: 3, or 5-7 nodes`` was read as a host."""
    inv = _ini("[etcd_cluster]  # recommendation: 3 nodes\n10.0.0.1\n[consul:vars] # comment\nport=8500\n")
    assert set(inv.groups["etcd_cluster"].hosts) == {"10.0.0.1"}
    assert not {"[etcd_cluster]", "[consul:vars]"} & set(inv.host_vars)
    values = {name: var.value for layer in inv.groups["consul"].vars for name, var in layer.items()}
    assert values == {"port": 8500}


def test_an_ini_inventory_named_yml_is_read_as_ini_as_ansible_falls_back(tmp_path: Path) -> None:
    """ceph-ansible's tests/inventories/single-machine.yml is INI: Ansible's yaml plugin fails, ini reads it."""
    write_tree(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\ninventory = inventories/single.yml\n",
            "inventories/single.yml": "[web]\nlocalhost\n\n[db]\nlocalhost\n",
            "inventories/group_vars/web.yml": "web_port: 50000\n",
            "site.yml": (
                "- hosts: web\n  tasks:\n    - name: open\n      ansible.posix.firewalld:\n"
                "        port: '{{ web_port }}/tcp'\n        state: enabled\n        permanent: true\n"
            ),
        },
    )
    report = scan_tree(tmp_path)
    assert not [f for f in report.findings if f.rule == "PP000"]
    # group_vars/web.yml applies: the inventory's groups were read
    opened = [f for f in report.facts if isinstance(f, FirewallRule)]
    assert [str(f.ports) for f in opened] == ["50000"]
