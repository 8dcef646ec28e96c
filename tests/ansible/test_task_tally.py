"""Issue 24, items 2, 3, 5 and 7: bare-name loops, a host's own hostvars, accumulated set_fact
values, custom modules and ``port-modules``; and ``--statistics`` counting every task once.

The multi-role project under ``tests/fixtures/ansible-tally`` holds each of them: two plays,
three roles, an ``include_tasks``, loops old and new, a block whose ``when:`` is false, a
custom module in a role's ``library/``, and a task whose port comes from a ``lookup()``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from portpolicy.model import FirewallRule, KernelSetting, Listener, Unresolved
from portpolicy.pipeline import Report
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

TALLY = FIXTURES / "ansible-tally"
CFG = {"ansible.cfg": "[defaults]\ninventory = inventory\n"}


def _scan(tmp_path: Path, files: dict[str, str], **overrides: object) -> Report:
    write_tree(tmp_path, {**CFG, **files})
    return scan_tree(tmp_path, **overrides)


def _rules(report: Report) -> list[tuple[str, str, str]]:
    return sorted((f.host, f.protocol, f.port_text) for f in report.facts if isinstance(f, FirewallRule))


def _task_count(root: Path) -> int:
    """Tasks written in the fixture's task files, blocks opened (an independent count)."""

    def count(tasks: object) -> int:
        n = 0
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict) and "block" in task:
                n += sum(count(task.get(part)) for part in ("block", "rescue", "always"))
            elif isinstance(task, dict):
                n += 1
        return n

    return sum(
        count(yaml.safe_load(path.read_text(encoding="utf-8"))) for path in root.glob("roles/*/tasks/*.yml")
    )


# --------------------------------------------------------------------------- item 2: bare-name loops


def test_a_bare_name_loop_is_the_variable_as_ansible_2_0_evaluated_it(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "group_vars/all.yml": "firewall_ports: [8080, 8443]\nnested: [[5000, [5001]], 5002]\n"
            "udp_ports: {dns: 53}\n",
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - ansible.posix.firewalld: {port: '{{ item }}/tcp', state: enabled}\n"
            "      with_items: firewall_ports\n"
            "    - ansible.posix.firewalld: {port: '{{ item }}/sctp', state: enabled}\n"
            "      with_flattened: nested\n"
            "    - ansible.posix.firewalld: {port: '{{ item.value }}/udp', state: enabled}\n"
            "      with_dict: udp_ports\n"
            "    - ansible.posix.firewalld: {port: '{{ item.1 }}/dccp', state: enabled}\n"
            "      with_indexed_items: firewall_ports | reverse | list\n",
        },
    )
    assert _rules(report) == sorted(
        [
            ("app", "tcp", "8080"),
            ("app", "tcp", "8443"),
            ("app", "sctp", "5000"),
            ("app", "sctp", "5001"),
            ("app", "sctp", "5002"),
            ("app", "udp", "53"),
            ("app", "dccp", "8443"),
            ("app", "dccp", "8080"),
        ]
    )
    notes = [n for t in report.ansible_tasks for n in t.notes]
    assert len(notes) == 4 and all("bare variable" in n and "Ansible 2.0" in n for n in notes)
    assert {t.bucket for t in report.ansible_tasks} == {"resolved"}


def test_a_bare_name_no_file_defines_is_an_unresolved_task_not_a_silent_one(tmp_path: Path) -> None:
    """``with_items: result.stdout_lines`` names a registered result: known only when the play runs."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - ansible.posix.firewalld: {port: '{{ item }}/tcp', state: enabled}\n"
            "      with_items: found.stdout_lines\n",
        },
    )
    (task,) = report.ansible_tasks
    assert task.bucket == "unresolved" and "found.stdout_lines is a bare name" in task.reason
    assert [u.value for u in report.unresolved] == ["{{ item }}/tcp"]
    assert not _rules(report)


def test_a_loop_whose_items_are_all_fine_gives_no_finding(tmp_path: Path) -> None:
    """The negative twin: the same bare-name loop over unprivileged, well-formed ports."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "group_vars/all.yml": "firewall_ports: [8080, 8081]\n",
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - ansible.posix.firewalld: {port: '{{ item }}/tcp', state: enabled}\n"
            "      with_items: firewall_ports\n",
        },
    )
    assert len(_rules(report)) == 2 and not report.findings


# --------------------------------------------------------------------------- item 3: own hostvars


def test_the_hosts_own_hostvars_and_vars_resolve_per_class_of_hosts(tmp_path: Path) -> None:
    forms = [
        "hostvars[inventory_hostname]['app_port']",
        "hostvars[inventory_hostname].app_port",
        "vars['app_port']",
        "vars.app_port",
        "hostvars[inventory_hostname]['app_' + 'port']",
    ]
    tasks = "".join(
        f'    - ansible.posix.firewalld: {{port: "{{{{ {f} }}}}/tcp", state: enabled}}\n' for f in forms
    )
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\napp2\n",
            "host_vars/app1.yml": "app_port: 8001\n",
            "host_vars/app2.yml": "app_port: 8002\n",
            "site.yml": "- hosts: app\n  tasks:\n" + tasks,
        },
    )
    assert _rules(report) == sorted([("app:app1", "tcp", "8001")] * 5 + [("app:app2", "tcp", "8002")] * 5)


def test_another_hosts_hostvars_stay_unresolved_with_the_reason(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n[db]\ndb1\n",
            "host_vars/db1.yml": "db_port: 5432\n",
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - ansible.posix.firewalld: {port: \"{{ hostvars['db1'].db_port }}/tcp\", state: enabled}\n",
        },
    )
    (unresolved,) = report.unresolved
    assert "hostvars of other hosts are not evaluated statically" in unresolved.reason


# --------------------------------------------------------------------------- item 5: accumulation


def test_set_fact_accumulates_over_a_loop_and_tasks_per_class_of_hosts(tmp_path: Path) -> None:
    """A dict built with ``combine`` over ``group_names`` (two groups for db1), extended by a
    later task, read by a sysctl loop: each class of hosts gets its own settings."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[db]\ndb1\n[cache]\ncache1\n[monitored:children]\ndb\n",
            "group_vars/all.yml": "by_group:\n  db: {net.ipv4.ip_local_port_range: '2000 65001'}\n"
            "  cache: {net.ipv4.ip_local_reserved_ports: '6379', vm.overcommit_memory: '1'}\n"
            "  monitored: {net.ipv4.ip_local_reserved_ports: '9100'}\n",
            "site.yml": "- hosts: all\n  tasks:\n"
            '    - set_fact:\n        kernel: "{{ kernel | default({}) | combine(by_group[item]) }}"\n'
            "      loop: '{{ group_names }}'\n"
            "    - set_fact:\n"
            "        kernel: \"{{ kernel | combine({'net.ipv4.ip_unprivileged_port_start': '80'}) }}\"\n"
            "    - ansible.posix.sysctl: {name: '{{ item.key }}', value: '{{ item.value }}'}\n"
            "      with_dict: '{{ kernel }}'\n"
            '    - copy:\n        dest: /etc/redis/redis.conf\n        content: "port 6379\\n"\n',
        },
    )
    settings = sorted((k.host, k.key, k.value) for k in report.facts if isinstance(k, KernelSetting))
    assert settings == [  # the kernel's port settings (vm.* is no port setting)
        ("all:cache1", "net.ipv4.ip_local_reserved_ports", "6379"),
        ("all:cache1", "net.ipv4.ip_unprivileged_port_start", "80"),
        ("all:db1", "net.ipv4.ip_local_port_range", "2000 65001"),
        ("all:db1", "net.ipv4.ip_local_reserved_ports", "9100"),
        ("all:db1", "net.ipv4.ip_unprivileged_port_start", "80"),
    ]
    clash = [f for f in report.findings if f.rule == "PP002"]
    assert [f.host for f in clash] == ["all:db1"]  # redis 6379 in 2000-65001, on the db host only


def test_an_accumulated_dict_that_never_touches_a_port_setting_gives_no_finding(tmp_path: Path) -> None:
    """The negative twin: the same accumulation, with kernel settings that are not port settings."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[db]\ndb1\n[monitored:children]\ndb\n",
            "group_vars/all.yml": "by_group:\n  db: {vm.swappiness: '1'}\n  monitored: {net.core.somaxconn: '4096'}\n",
            "site.yml": "- hosts: all\n  tasks:\n"
            '    - set_fact:\n        kernel: "{{ kernel | default({}) | combine(by_group[item]) }}"\n'
            "      loop: '{{ group_names }}'\n"
            "    - ansible.posix.sysctl: {name: '{{ item.key }}', value: '{{ item.value }}'}\n"
            "      with_dict: '{{ kernel }}'\n"
            '    - copy:\n        dest: /etc/redis/redis.conf\n        content: "port 6379\\n"\n',
        },
    )
    assert not [k for k in report.facts if isinstance(k, KernelSetting)]
    assert not [f for f in report.findings if f.rule == "PP002"]
    assert [t.bucket for t in report.ansible_tasks] == ["resolved"] * 3


def test_an_accumulation_past_the_budget_is_unknown_not_a_huge_value(tmp_path: Path) -> None:
    """``x + x`` doubles per item: the Jinja budget stops it, and the task says why."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - set_fact:\n        grow: \"{{ grow | default(['8080']) + grow | default(['8080']) }}\"\n"
            "      loop: '{{ range(64) | list }}'\n"
            "    - ansible.posix.firewalld: {port: '{{ item }}/tcp', state: enabled}\n"
            "      loop: '{{ grow }}'\n",
        },
    )
    buckets = [t.bucket for t in report.ansible_tasks]
    assert buckets == ["unresolved", "unresolved"]
    assert "budget" in report.ansible_tasks[0].reason
    assert not _rules(report)


# --------------------------------------------------------------------------- item 7: custom modules


def test_a_custom_module_is_counted_unresolved_and_named(tmp_path: Path) -> None:
    files = {
        "inventory": "[app]\napp1\n",
        "library/site_fw.py": "# a module of this repository\n",
        "site.yml": "- hosts: app\n  tasks:\n    - site_fw: {port: 8443, proto: tcp}\n",
    }
    report = _scan(tmp_path, files)
    (task,) = report.ansible_tasks
    assert (task.bucket, task.reason) == (
        "unresolved",
        "custom module `site_fw` (library/site_fw.py): not evaluated",
    )
    assert not _rules(report)


def test_port_modules_maps_a_custom_modules_arguments_to_facts(tmp_path: Path) -> None:
    """The config's ``port-modules``: a firewall module and a listener module, a list of ports."""
    files = {
        "inventory": "[app]\napp1\n",
        ".portpolicy.yml": "port-modules:\n"
        "  site_fw:\n    fact: firewall\n    port: ports\n    protocol: proto\n"
        "  acme.net.daemon_port:\n    fact: listener\n    port: listen\n    protocol: udp\n",
        "library/site_fw.py": "# a module of this repository\n",
        "ansible_collections/acme/net/plugins/modules/daemon_port.py": "# a collection module\n",
        "group_vars/all.yml": "site_ports: [8443, '9000-9010']\n",
        "site.yml": "- hosts: app\n  tasks:\n"
        "    - site_fw: {ports: '{{ site_ports }}', proto: tcp}\n"
        "    - site_fw: {ports: 7000, proto: tcp, state: absent}\n"
        "    - acme.net.daemon_port: {listen: 514}\n",
    }
    report = _scan(tmp_path, files)
    assert _rules(report) == [("app", "tcp", "8443"), ("app", "tcp", "9000-9010")]
    listeners = [(x.service, x.protocol, str(x.ports)) for x in report.facts if isinstance(x, Listener)]
    assert listeners == [("acme.net.daemon_port", "udp", "514")]
    assert [t.bucket for t in report.ansible_tasks] == ["resolved", "resolved", "resolved"]
    assert not report.unresolved


def test_port_modules_in_the_config_are_checked(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {**CFG, ".portpolicy.yml": "port-modules:\n  site_fw:\n    fact: opens\n    port: p\n"}
    )
    done = run_cli("check", ".", cwd=tmp_path)
    assert done.returncode == 2 and "port-modules" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- the statistics add up


def test_every_task_of_the_multi_role_project_is_in_exactly_one_bucket(tmp_path: Path) -> None:
    tree = shutil.copytree(TALLY, tmp_path / "tree")
    done = run_cli("check", "--statistics", "--format", "json", ".", cwd=tree)
    assert done.returncode in (0, 1), done.stderr
    tasks = json.loads(done.stdout)["summary"]["statistics"]["ansible_tasks"]
    buckets = ("resolved", "unresolved", "no_port", "skipped")
    assert sum(tasks[b] for b in buckets) == tasks["tasks"] == _task_count(tree)
    assert tasks["skipped"] == 2  # the block whose when: is false
    assert tasks["no_port"] == 2  # apt, service
    assert tasks["unresolved_reasons"] == {"custom module: not evaluated": 1, "value not resolved": 1}


def test_the_multi_role_project_in_text_and_verbose(tmp_path: Path) -> None:
    tree = shutil.copytree(TALLY, tmp_path / "tree")
    done = run_cli("check", "--statistics", "-v", ".", cwd=tree)
    out, err = done.stdout, done.stderr
    assert "custom module `open_port` (roles/web/library/open_port.py): not evaluated" in err
    assert "roles/common/tasks/firewall.yml:2:3: note: with_items: firewall_ports is a bare variable" in err
    assert (
        "Ansible tasks: 13 in the plays run: 7 resolved, 2 unresolved, 2 declaring no port, 2 skipped" in out
    )
    # the ephemeral range the accumulated facts set on the database hosts, against their listener
    (clash,) = [line for line in out.splitlines() if ": PP002 " in line]
    assert "tcp/5432" in clash and "2000-65000" in clash


def test_the_web_play_sees_no_clash(tmp_path: Path) -> None:
    """The web hosts get the accumulated web settings only: no port range, no PP002 there."""
    tree = shutil.copytree(TALLY, tmp_path / "tree")
    report = scan_tree(tree)
    settings = sorted((k.host, k.key, k.value) for k in report.facts if isinstance(k, KernelSetting))
    assert settings == [("database", "net.ipv4.ip_local_port_range", "2000 65000")]
    assert {f.host for f in report.findings if f.rule == "PP002"} == {"database"}
    assert any(isinstance(u, Unresolved) and "lookup()" in u.reason for u in report.unresolved)


# --------------------------------------------------------------------------- hostile shapes


def test_hostile_accumulations_loops_and_custom_modules_stay_bounded(tmp_path: Path) -> None:
    """Strangers' pull requests: a set_fact doubling a dict per item, thousands of set_fact keys,
    a bare-name loop over a huge list, a custom module's port list of 50 000 entries, blocks
    nested past the walker's depth under a false ``when:``: a bounded run, no traceback."""
    nested = "- name: top\n  when: false\n  block:\n"
    for depth in range(1, 60):
        nested += "  " * depth + "- block:\n" + "  " * depth + "  - debug: {msg: x}\n" + "  " * depth + "  "
    nested += "  - debug: {msg: deepest}\n"
    keys = "".join(f"        k{i}: '{{{{ {i} }}}}'\n" for i in range(5000))
    write_tree(
        tmp_path,
        {
            **CFG,
            "inventory": "[app]\napp1\n",
            ".portpolicy.yml": "port-modules:\n  site_fw: {fact: firewall, port: ports}\n",
            "library/site_fw.py": "# module\n",
            "group_vars/all.yml": "huge: [" + ", ".join(str(1024 + i % 60000) for i in range(50000)) + "]\n",
            "nested.yml": nested,
            "site.yml": "- hosts: app\n  tasks:\n"
            "    - set_fact:\n        d: \"{{ d | default({'a': 1}) | combine({item: d | default({})}) }}\"\n"
            "      loop: '{{ range(500) | list }}'\n"
            "    - set_fact:\n"
            + keys
            + "    - ansible.posix.firewalld: {port: '{{ item }}/tcp', state: enabled}\n"
            "      with_items: huge\n"
            "    - site_fw: {ports: '{{ huge }}'}\n"
            "    - include_tasks: nested.yml\n",
        },
    )
    done = run_bounded(
        "check", ".", "--format", "json", "--statistics", "--fail-on", "never", cwd=tmp_path, timeout=120
    )
    assert not done.timed_out and done.returncode == 0, done.stderr[-2000:]
    tasks = json.loads(done.stdout)["summary"]["statistics"]["ansible_tasks"]
    assert sum(tasks[b] for b in ("resolved", "unresolved", "no_port", "skipped")) == tasks["tasks"]


def test_collection_modules_are_indexed_once_by_their_full_name() -> None:
    """One pass over the project's files (it was a sorted scan per task: 20 s on the generated tree)."""
    from portpolicy.ansible.modules.custom import _collection_modules

    files = {
        "z/ansible_collections/acme/net/plugins/modules/daemon_port.py",
        "a/ansible_collections/acme/net/plugins/modules/daemon_port.py",
        "a/ansible_collections/acme/net/plugins/modules/sub/nested.sh",
        "a/ansible_collections/acme/net/plugins/module_utils/helper.py",
        "roles/x/library/site_fw.py",
    }
    index = _collection_modules(files)
    assert index["acme.net.daemon_port"] == "a/ansible_collections/acme/net/plugins/modules/daemon_port.py"
    assert index["acme.net.nested"] == "a/ansible_collections/acme/net/plugins/modules/sub/nested.sh"
    assert "acme.net.helper" not in index and not any("site_fw" in k for k in index)
