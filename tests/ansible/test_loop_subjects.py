"""Issue #24, item 1: each loop item is its own finding, at the list entry that wrote it.

Every item of ``loop:``/``with_items`` shares the task's line; the engine keys findings by
rule, place and subject (``engine.SUBJECTS``), so a typo'd port in a list is no longer hidden
behind another item's finding. Items that went through filters are found again at their
list entries (``ansible/provenance.py``); the task line stays as related evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portpolicy.model import Evidence, FirewallRule
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

LOOPS = FIXTURES / "ansible_subjects"
VARS = "group_vars/postgres_cluster.yml"
TASKS = "roles/postgres_node/tasks/main.yml"


def _check(folder: Path, fmt: str) -> Any:
    done = run_cli("check", ".", "--format", fmt, "--fail-on", "never", cwd=folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_typod_port_is_reported_at_its_list_line_beside_the_other_item() -> None:
    report = _check(LOOPS / "firewall_loop", "json")
    opened = [f for f in report["findings"] if f["rule"] == "PP013" and " opens " in f["message"]]
    # before: one finding at the task's line (tcp/22's), the typo's hidden behind it
    assert [(f["path"], f["line"], f["message"].split(",")[0]) for f in opened] == [
        (VARS, 10, "firewalld zone public opens tcp/22"),
        (VARS, 12, "firewalld zone public opens tcp/64320"),
    ]
    for finding in opened:
        assert (TASKS, 4, "the value is used here") in {
            (r["path"], r["line"], r["message"]) for r in finding["related"]
        }
    # the listener the typo left closed: PgBouncer's own port
    closed = [f for f in report["findings"] if f["rule"] == "PP013" and " listens on " in f["message"]]
    assert [f["message"].split(" on *")[0] for f in closed] == ["pgbouncer listens on tcp/6432"]


def test_a_loop_whose_items_are_all_fine_gives_no_loop_finding() -> None:
    report = _check(LOOPS / "firewall_loop_fine", "json")
    assert not [f for f in report["findings"] if f["rule"] == "PP013"]
    assert not [f for f in report["findings"] if f["path"] in (VARS, TASKS)]


@pytest.mark.parametrize("fmt", ["sarif", "gitlab"])
def test_items_of_one_task_get_distinct_ids(tmp_path: Path, fmt: str) -> None:
    """Several findings at one task's line (the items' values are not written in a list)."""
    tree = write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "extend-select: [PP013]\n",
            "site.yml": (
                "- hosts: db\n  tasks:\n"
                "    - name: ports\n"
                "      community.general.ufw:\n        rule: allow\n        port: '{{ item }}'\n"
                "        proto: tcp\n"
                '      loop: "{{ range(9100, 9103) | list }}"\n'
                "    - name: listener\n"
                "      ansible.builtin.copy:\n        dest: /etc/systemd/system/app.socket\n"
                "        content: |\n          [Socket]\n          ListenStream=8080\n"
            ),
        },
    )
    doc = _check(tree, fmt)
    if fmt == "sarif":
        results = doc["runs"][0]["results"]
        ids = [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
        lines = {
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
            for r in results
            if r["ruleId"] == "PP013"
        }
    else:
        results = doc
        ids = [r["fingerprint"] for r in results]
        lines = {r["location"]["lines"]["begin"] for r in results if r["check_name"].startswith("PP013")}
    opened = [r for r in results if "opens" in json.dumps(r)]
    assert len(opened) == 3 and lines >= {6}
    assert len(ids) == len(set(ids))


def _loop_tree(tmp_path: Path, vars_text: str, loop: str) -> dict[int, int | None]:
    """Port -> the line of the evidence that marks where its loop item is written."""
    tree = write_tree(
        tmp_path,
        {
            "inventory.ini": "[db]\ndb1\n",
            "ansible.cfg": "[defaults]\ninventory = inventory.ini\n",
            "group_vars/db.yml": vars_text,
            "site.yml": (
                "- hosts: db\n  tasks:\n"
                "    - ansible.posix.firewalld:\n"
                '        port: "{{ item.port | default(item.value | default(item)) }}/tcp"\n'
                "        state: enabled\n"
                f"      {loop}\n"
            ),
        },
    )
    report = scan_tree(tree)
    out: dict[int, int | None] = {}
    for fact in report.facts:
        if isinstance(fact, FirewallRule) and fact.ports is not None:
            marks = [
                e for e in fact.evidence if isinstance(e, Evidence) and e.message.startswith("the loop item")
            ]
            out[fact.ports.start] = marks[0].location.line if marks else None
    return out


PORTS = "ports:\n  - 5432\n  - 6432\n  - 8008\nextra:\n  - 9100\n  - 5432\n"
SERVICES = (
    "services:\n"
    "  - name: postgres\n    port: 5432\n    enabled: true\n"
    "  - name: pgbouncer\n    port: 6432\n    enabled: false\n"
    "  - name: patroni\n    port: 8008\n    enabled: true\n"
)


@pytest.mark.parametrize(
    ("vars_text", "loop", "expected"),
    [
        (PORTS, "loop: \"{{ ports | select('gt', 6000) | list }}\"", {6432: 3, 8008: 4}),
        (PORTS, "loop: \"{{ ports | reject('eq', 6432) | list }}\"", {5432: 2, 8008: 4}),
        (PORTS, 'loop: "{{ ports | union(extra) }}"', {5432: 2, 6432: 3, 8008: 4, 9100: 6}),
        (PORTS, 'loop: "{{ extra | difference(ports) }}"', {9100: 6}),
        (PORTS, 'loop: "{{ (extra + ports) | unique }}"', {9100: 6, 5432: 7, 6432: 3, 8008: 4}),
        (PORTS, 'loop: "{{ [ports, extra] | flatten }}"', {5432: 2, 6432: 3, 8008: 4, 9100: 6}),
        (SERVICES, "loop: \"{{ services | selectattr('enabled') | list }}\"", {5432: 2, 8008: 8}),
        (SERVICES, "loop: \"{{ services | map(attribute='port') | list }}\"", {5432: 3, 6432: 6, 8008: 9}),
        ("pg:\n  postgres: 5432\n  patroni: 8008\n", 'loop: "{{ pg | dict2items }}"', {5432: 2, 8008: 3}),
        ("pg:\n  postgres: 5432\n  patroni: 8008\n", 'with_dict: "{{ pg }}"', {5432: 2, 8008: 3}),
        (
            "pairs:\n  - {key: postgres, value: 5432}\n  - {key: patroni, value: 8008}\n",
            'with_dict: "{{ pairs | items2dict }}"',
            {5432: 2, 8008: 3},
        ),
        # computed values are written nowhere: the task's line stays
        (
            PORTS,
            "loop: \"{{ ports | map('int') | map('string') | list }}\"",
            {5432: None, 6432: None, 8008: None},
        ),
    ],
)
def test_a_loop_item_keeps_its_line_through_filters(
    tmp_path: Path, vars_text: str, loop: str, expected: dict[int, int | None]
) -> None:
    assert _loop_tree(tmp_path, vars_text, loop) == expected


def test_equal_values_in_two_lists_point_at_the_first_written(tmp_path: Path) -> None:
    """``union`` keeps the first of equal items: 5432 is ``ports``' entry, not ``extra``'s."""
    got = _loop_tree(tmp_path, PORTS, 'loop: "{{ ports | union(extra) }}"')
    assert got[5432] == 2


def test_a_huge_list_behind_a_filter_stays_bounded(tmp_path: Path) -> None:
    entries = "".join(
        f"  - {{name: s{i}, port: {1024 + i % 60000}, tags: [a, b, c]}}\n" for i in range(40_000)
    )
    write_tree(
        tmp_path,
        {
            "inventory.ini": "[db]\ndb1\n",
            "ansible.cfg": "[defaults]\ninventory = inventory.ini\n",
            "group_vars/db.yml": "services:\n" + entries,
            "site.yml": (
                "- hosts: db\n  tasks:\n"
                '    - ansible.posix.firewalld:\n        port: "{{ item }}/tcp"\n        state: enabled\n'
                "      loop: \"{{ services | map(attribute='port') | unique | list }}\"\n"
            ),
        },
    )
    done = run_bounded("check", ".", "--format", "json", "--fail-on", "never", cwd=tmp_path, timeout=60)
    assert not done.crashed, done.stderr[-2000:]
    assert done.returncode == 0
