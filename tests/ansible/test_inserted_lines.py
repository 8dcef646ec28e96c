"""``lineinfile``/``blockinfile`` add a line or block to a file the scan does not have.

The classic LAMP example opens MySQL's port with ``lineinfile`` into
``/etc/sysconfig/iptables`` after the distribution's ``:OUTPUT`` line: read alone, the rule
is outside any table and does not parse, which says nothing about the file Ansible edits.
It is counted unresolved with that reason, not reported as PP000; ``copy`` writes the whole
file, so its content that does not parse stays PP000.
"""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import ParseError, Unresolved
from tests.helpers import run_cli, scan_tree, write_tree

TASKS = """\
- name: insert iptables rule
  lineinfile:
    dest: /etc/sysconfig/iptables
    state: present
    regexp: "{{ mysql_port }}"
    insertafter: "^:OUTPUT "
    line: "-A INPUT -p tcp  --dport {{ mysql_port }} -j  ACCEPT"
  notify: restart iptables
"""
TREE = {
    "hosts": "[dbservers]\ndb1.example.com\n",
    "site.yml": "- hosts: dbservers\n  roles:\n    - db\n",
    "group_vars/dbservers": "---\nmysql_port: 3306\n",
    "roles/db/tasks/main.yml": TASKS,
}


def test_an_inserted_rule_that_does_not_parse_alone_is_unresolved_not_pp000(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, TREE))
    assert not [f for f in report.facts if isinstance(f, ParseError)]
    [unresolved] = [f for f in report.facts if isinstance(f, Unresolved)]
    assert unresolved.reason.startswith(
        "lineinfile adds this to /etc/sysconfig/iptables; read without the rest of that file it does not parse: "
    )
    assert (unresolved.location.path, unresolved.location.line) == ("roles/db/tasks/main.yml", 7)
    result = run_cli("check", ".", cwd=tmp_path)
    assert "PP000" not in result.stdout, result.stdout


def test_copy_writes_the_whole_file_so_its_syntax_is_judged(tmp_path: Path) -> None:
    """The negative twin: the same rule as a whole file's content is the file as written."""
    copy = TASKS.replace("lineinfile:", "copy:").replace(
        '    line: "-A INPUT -p tcp  --dport {{ mysql_port }} -j  ACCEPT"\n',
        '    content: "-A INPUT -p tcp  --dport {{ mysql_port }} -j  ACCEPT\\n"\n',
    )
    report = scan_tree(write_tree(tmp_path, {**TREE, "roles/db/tasks/main.yml": copy}))
    assert [f.message for f in report.facts if isinstance(f, ParseError)] == [
        "rule outside a table (no '*filter' line before it): '-A'"
    ]
