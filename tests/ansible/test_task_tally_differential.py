"""Items 2, 3 and 5 of issue 24 against ansible-core itself: the same values, or unresolved.

* bare-name loops: Ansible 2.0 wrapped the name in ``{{ }}`` and handed the value to the
  loop's lookup; here ansible-core's ``Templar`` templates it and its own lookup plugins
  (``items``, ``dict``, ``flattened``, ``indexed_items``) make the items;
* a host's own variables: ``hostvars[inventory_hostname]`` and ``vars`` as ansible-core's
  variable manager builds them for the host (``hostvars`` maps each host to its variables);
* ``set_fact`` accumulation: each loop item templated by ``Templar`` with the value the
  previous item set, as the task executor does.

ansible-core is a test extra and installed in CI; without it these tests are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from portpolicy.ansible import tasks
from portpolicy.ansible.jinja import evaluate
from portpolicy.ansible.variables import Scope, Var, vars_of
from portpolicy.model import Location
from portpolicy.yamlnodes import compose_documents
from tests.helpers import scan_tree, write_tree

try:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import lookup_loader
    from ansible.template import Templar, trust_as_template
except ImportError:  # pragma: no cover - CI installs ansible-core
    pytest.skip("ansible-core is not installed (pip install ansible-core)", allow_module_level=True)

VARS_YAML = """
firewall_ports: [22, 9100, "8000-8010"]
nested: [[5000, [5001, [5002]]], 5003]
web_sysctl: {net.core.somaxconn: 4096, net.ipv4.tcp_fin_timeout: 15}
app_port: 8001
listen: "{{ app_port + 1 }}"
sysctl_conf:
  database: [{name: net.ipv4.ip_local_port_range, value: "2000 65000"}]
  monitored: [{name: net.ipv4.ip_local_reserved_ports, value: "9100"}]
ports_by_group: {database: [5432, 8008], monitored: [9100, 5432]}
group_names: [database, monitored]
"""
VARS: dict[str, Any] = yaml.safe_load(VARS_YAML)


def _scope() -> Scope:
    (doc,) = compose_documents(VARS_YAML)
    return Scope([vars_of(doc, "group_vars/all.yml", "group vars")])


def _trusted(value: Any) -> Any:
    """Values as ansible-core loads them from the repository's YAML: their templates are trusted."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def _templar(extra: dict[str, Any] | None = None) -> Templar:
    return Templar(loader=DataLoader(), variables={**_trusted(VARS), **(extra or {})})


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("key", "lookup", "name"),
    [
        ("with_items", "items", "firewall_ports"),
        ("with_items", "items", "nested"),
        ("with_list", "list", "firewall_ports"),
        ("with_flattened", "flatten", "nested"),
        ("with_dict", "dict", "web_sysctl"),
        ("with_indexed_items", "indexed_items", "firewall_ports"),
        ("with_items", "items", "firewall_ports | reverse | list"),
    ],
)
def test_a_bare_name_loop_gives_the_items_ansible_2_0_gave(key: str, lookup: str, name: str) -> None:
    (task,) = compose_documents(f"{key}: {name}\n")
    keys = {k.value: v for k, v in task.value}
    notes: list[str] = []
    mine = tasks.loop_items(_scope(), keys, "site.yml", notes)
    assert not isinstance(mine, Exception), mine
    templar = _templar()
    terms = templar.template(trust_as_template("{{ " + name + " }}"))
    if lookup == "flatten":  # the flattened lookup now lives in community.general: its filter twin
        theirs = templar.evaluate_expression(trust_as_template(f"{name} | flatten"))
    else:
        theirs = lookup_loader.get(lookup, loader=DataLoader(), templar=templar).run(
            terms if lookup != "dict" else [terms], variables=VARS
        )
    assert [_plain(item) for item, _ in mine] == _plain(theirs)
    assert notes and "bare variable" in notes[0]


EXPRESSIONS = [
    "hostvars[inventory_hostname]['app_port']",
    "hostvars[inventory_hostname].app_port",
    "hostvars[inventory_hostname]['app_' ~ 'port'] + 1",
    "vars['app_port']",
    "vars.firewall_ports[1]",
    "vars['listen'] | int",
    "hostvars[inventory_hostname].sysctl_conf.database[0].value",
    "hostvars[inventory_hostname]['missing'] | default(7)",
    "vars.missing is defined",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_the_hosts_own_variables_are_what_ansible_core_gives(expr: str) -> None:
    mine = evaluate(expr, _scope())
    host = _trusted(VARS)
    templar = _templar({"inventory_hostname": "db1", "vars": host, "hostvars": {"db1": host}})
    theirs = templar.evaluate_expression(trust_as_template(expr))
    assert mine == theirs and isinstance(theirs, type(mine))  # ansible-core tags its strings


SET_FACTS = [
    ("acc", "{{ acc | default([]) + ports_by_group[item] }}"),
    ("acc", "{{ acc | default([]) | union(ports_by_group[item]) }}"),
    ("acc", "{{ acc | default({}) | combine({item: ports_by_group[item]}) }}"),
    ("acc", "{{ acc | default([]) + sysctl_conf[item] }}"),
    ("acc", "{{ (acc | default([]) + [item | length]) | sort }}"),
]


@pytest.mark.parametrize(("name", "expr"), SET_FACTS)
def test_set_fact_over_a_loop_accumulates_as_ansible_core_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, expr: str
) -> None:
    write_tree(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\ninventory = inventory\n",
            "inventory": "[database]\ndb1\n[monitored:children]\ndatabase\n",
            "group_vars/all.yml": "\n".join(
                line for line in VARS_YAML.splitlines() if not line.startswith("group_names")
            ),
            "site.yml": f"- hosts: database\n  tasks:\n    - set_fact:\n        {name}: '{expr}'\n"
            "      loop: '{{ group_names }}'\n",
        },
    )
    seen: list[Any] = []
    real = tasks._CONTROL_FLOW["set_fact"]

    def recording(ctx: Any, a: Any, node: Any) -> str | None:
        why = real(ctx, a, node)
        seen.append(ctx.runtime[name].value)
        return why

    monkeypatch.setitem(tasks._CONTROL_FLOW, "set_fact", recording)
    scan_tree(tmp_path)
    variables = _trusted(VARS)
    for item in VARS["group_names"]:  # the task executor: one templating per item, the fact set after it
        templar = Templar(loader=DataLoader(), variables={**variables, "item": item})
        variables[name] = templar.template(trust_as_template(expr))
    assert seen and _plain(seen[-1]) == _plain(variables[name])


def test_the_scope_a_set_fact_sees_holds_the_previous_items_value() -> None:
    """The unit under the accumulation: the task's scope was made before the loop began."""
    runtime: dict[str, Var] = {}
    scope = _scope().child({}, runtime)
    assert scope.lookup("acc") is None
    runtime["acc"] = Var("acc", [1], Location("site.yml"), "set_fact")
    assert scope.child(dict(runtime)).template("{{ acc + [2] }}") == [1, 2]
