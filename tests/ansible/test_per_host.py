"""Per-host evaluation (issue #18): hosts that disagree on a value a play uses run as classes."""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import Listener, Unresolved
from tests.helpers import run_cli, scan_tree, write_tree

UNIT = """\
[Unit]
Description=web

[Service]
User={{ web_user }}
ExecStart=/usr/bin/gunicorn --bind 0.0.0.0:{{ web_port }} app:app
"""
TREE = {
    "ansible.cfg": "[defaults]\ninventory = inventory.ini\n",
    "inventory.ini": "[web]\nweb1 web_port=8443\nweb2\nweb3\n",
    "site.yml": "- name: Web\n  hosts: web\n  roles:\n    - web\n",
    "roles/web/defaults/main.yml": "web_port: 443\nweb_user: www-data\n",
    "roles/web/tasks/main.yml": (
        "- name: Unit\n  ansible.builtin.template:\n    src: web.service.j2\n"
        "    dest: /etc/systemd/system/web.service\n"
    ),
    "roles/web/templates/web.service.j2": UNIT,
}


def test_the_overridden_host_and_the_others_each_get_their_value(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, TREE))
    ports = sorted((f.host, str(f.ports)) for f in report.facts if isinstance(f, Listener))
    assert ports == [("web:web1", "8443"), ("web:web2,web3", "443")]
    assert not [f for f in report.facts if isinstance(f, Unresolved)]
    [finding] = report.findings
    assert finding.rule == "PP001" and finding.host == "web:web2,web3"
    # at the definition line of the value the hosts web2 and web3 use (the role default)
    assert (finding.location.path, finding.location.line) == ("roles/web/defaults/main.yml", 1)


def test_the_cli_names_the_class_of_hosts(tmp_path: Path) -> None:
    result = run_cli("facts", ".", cwd=write_tree(tmp_path, TREE))
    assert "host web:web1  (Ansible play 'Web'" in result.stdout, result.stdout
    assert "2 of 3 inventory host(s): web2, web3; hosts split on web_port" in result.stdout


def test_hosts_that_agree_stay_one_host(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, {**TREE, "inventory.ini": "[web]\nweb1 other=1\nweb2 other=2\n"}))
    assert sorted((f.host, str(f.ports)) for f in report.facts if isinstance(f, Listener)) == [("web", "443")]


def test_a_value_hidden_by_a_play_variable_splits_nothing(tmp_path: Path) -> None:
    site = "- name: Web\n  hosts: web\n  vars:\n    web_port: 8080\n  roles:\n    - web\n"
    report = scan_tree(write_tree(tmp_path, {**TREE, "site.yml": site}))
    assert sorted((f.host, str(f.ports)) for f in report.facts if isinstance(f, Listener)) == [
        ("web", "8080")
    ]


def test_past_the_bound_the_value_is_unresolved_with_the_reason(tmp_path: Path) -> None:
    hosts = "".join(f"web{i} web_port={8000 + i}\n" for i in range(10))
    report = scan_tree(write_tree(tmp_path, {**TREE, "inventory.ini": "[web]\n" + hosts}))
    assert not [f for f in report.facts if isinstance(f, Listener)]
    [unresolved] = [f for f in report.facts if isinstance(f, Unresolved)]
    assert "web_port differs between the hosts of 'web'" in unresolved.reason
    assert "more than 8 classes of hosts" in unresolved.reason and "ansible-host-classes" in unresolved.reason
    raised = scan_tree(tmp_path, **{"ansible-host-classes": 10})
    assert len([f for f in raised.facts if isinstance(f, Listener)]) == 10
