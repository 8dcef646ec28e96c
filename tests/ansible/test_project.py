"""The Ansible stage end to end: a realistic project, host scoping, claims, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from portpolicy.model import FirewallRule, KernelSetting, Listener, Unresolved
from tests.helpers import FIXTURES, REPO, generate_tree, run_cli, scan_tree, write_tree

SITE = FIXTURES / "ansible" / "site"


def test_site_produces_exactly_the_planted_findings() -> None:
    """Each finding points at the line where the bad value is written, related to where it is used."""
    report = scan_tree(SITE)
    got = sorted((f.rule, f.location.path, f.location.line, f.host) for f in report.findings)
    assert got == [
        ("PP001", "inventory/production/hosts", 10, "legacy"),  # old1.example.com node_exporter_port=910
        ("PP003", "edge.yml", 5, "edge"),  # edge_ports: "60000:61000"
    ]
    pp001 = next(f for f in report.findings if f.rule == "PP001")
    related = [(r.location.path, r.location.line, r.message) for r in pp001.related]
    assert related[0] == (
        "roles/node_exporter/templates/node_exporter.service.j2",
        7,
        "the value is used here",
    )
    places = {(path, line) for path, line, _ in related}
    assert ("roles/node_exporter/defaults/main.yml", 3) in places  # node_exporter_listen builds on it
    assert ("roles/node_exporter/templates/node_exporter.service.j2", 6) in places  # User=
    pp003 = next(f for f in report.findings if f.rule == "PP003")
    assert [(r.location.path, r.location.line, r.message) for r in pp003.related] == [
        ("edge.yml", 8, "the value is used here")
    ]


def test_a_role_used_by_two_plays_lands_on_both_hosts() -> None:
    report = scan_tree(SITE)
    exporters = {
        (f.host, f.ports.start)
        for f in report.facts
        if isinstance(f, Listener) and f.service == "node_exporter.service"
    }
    # role default 9100 on web; group_vars/monitoring (no extension) 39100; INI host var 910
    assert exporters == {("web", 9100), ("monitoring", 39100), ("legacy", 910)}
    hosts = {h.name: h.reason for h in report.hosts}
    assert "Ansible play 'Web servers' at site.yml:2 (hosts: web" in hosts["web"]
    assert "Ansible play 'Edge proxies' at edge.yml:2" in hosts["edge"]


def test_firewall_loops_sysctl_data_and_resolution_counts() -> None:
    report = scan_tree(SITE)
    rules = sorted(
        (f.host, f.firewall, f.port_text, f.location.path)
        for f in report.facts
        if isinstance(f, FirewallRule)
    )
    assert rules == [
        ("edge", "firewalld", "8443", "edge.yml"),
        ("edge", "ufw", "60000-61000", "edge.yml"),
        ("web", "firewalld", "443", "roles/firewall/tasks/main.yml"),
        ("web", "firewalld", "80", "roles/firewall/tasks/main.yml"),
        ("web", "firewalld", "80", "roles/nginx_site/tasks/main.yml"),
    ]
    # state: comment in the data list is not a setting; the other two are, in list order
    settings = [(f.key, f.value) for f in report.facts if isinstance(f, KernelSetting)]
    assert settings == [
        ("net.ipv4.ip_local_port_range", "32768 60999"),
        ("net.ipv4.ip_local_reserved_ports", "39100"),
    ]
    unresolved = [f for f in report.facts if isinstance(f, Unresolved)]
    assert [(u.location.path, u.location.line) for u in unresolved] == [("edge.yml", 27)]
    assert "lookup() is only known when the playbook runs" in unresolved[0].reason
    assert report.resolved >= 8


def test_templates_used_by_a_task_are_not_read_raw_again_nor_those_no_task_deploys() -> None:
    """A role that ran put on its hosts exactly the templates its tasks chose."""
    report = scan_tree(SITE)
    assert report.readers["roles/node_exporter/templates/node_exporter.service.j2"] == "ansible"
    assert report.readers["roles/node_exporter/templates/unused.service.j2"] == "ansible"
    assert not [f for f in report.facts if isinstance(f, Listener) and "unused.service" in f.location.path]
    nginx = [f for f in report.facts if isinstance(f, Listener) and f.location.path.endswith("site.conf.j2")]
    # listen 443 ssl sits in an if on a default(false): not rendered; the extra listen is undefined
    assert [(f.host, f.ports.start, f.location.line) for f in nginx] == [("web", 80, 3)]


def test_templates_of_a_role_with_an_unresolved_src_are_still_read_raw(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "roles/app/tasks/main.yml": '- template:\n    src: "{{ unit_template }}"\n    dest: /etc/systemd/system/\n',
            "roles/app/templates/app.socket.j2": "[Socket]\nListenStream=45000\n",
            "site.yml": "- hosts: app\n  roles: [app]\n",
        },
    )
    report = scan_tree(tmp_path)
    assert report.readers["roles/app/templates/app.socket.j2"] == "systemd"
    assert [f.rule for f in report.findings] == ["PP002"]


def test_cli_facts_and_json_on_the_fixture() -> None:
    result = run_cli("check", "--format", "json", ".", cwd=SITE)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["by_rule"] == {"PP001": 1, "PP003": 1}
    facts = run_cli("facts", ".", cwd=SITE)
    assert "Ansible play 'Monitoring' at site.yml:11 (hosts: monitoring" in facts.stdout
    assert "lookup() is only known" in facts.stdout


def test_scanning_never_imports_ansible_or_jinja2() -> None:
    code = (
        "import sys, os; os.chdir(sys.argv[1]); from portpolicy.pipeline import scan; r = scan(['.']);"
        "assert r.findings; bad = [m for m in sys.modules if m.split('.')[0] in ('ansible', 'jinja2')];"
        "print(bad)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(SITE)], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_noqa_on_the_task_argument_line_suppresses(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "play.yml": """- hosts: relays
  tasks:
    - name: relay range
      community.general.ufw:
        rule: allow
        port: "60000:61000"  # noqa: PP003
        proto: udp
    - name: same, not suppressed
      community.general.ufw:
        rule: allow
        port: "50000:52000"
        proto: udp
""",
            "roles/.keep": "",
            "ansible.cfg": "[defaults]\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP003", 11)]


def test_config_maps_an_inventory_group_to_kernel_settings(tmp_path: Path) -> None:
    files = {
        "ansible.cfg": "[defaults]\ninventory = hosts\n",
        "hosts": "[api]\napi1\n",
        "play.yml": """- hosts: api
  tasks:
    - name: unit
      ansible.builtin.copy:
        dest: /etc/systemd/system/api.socket
        content: |
          [Socket]
          ListenStream=40000
""",
    }
    write_tree(tmp_path, files)
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP002", 8)]
    (tmp_path / ".portpolicy.yml").write_text(
        "hosts:\n  api:\n    kernel:\n      ip_local_port_range: 50000 60999\n"
    )
    assert scan_tree(tmp_path).findings == []


def test_a_role_no_play_uses_is_read_with_its_defaults(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "ansible-role-exporter/defaults/main.yml": "exporter_port: 45000\n",
            "ansible-role-exporter/meta/main.yml": "galaxy_info:\n  role_name: exporter\n",
            "ansible-role-exporter/tasks/main.yml": """- name: unit
  ansible.builtin.template:
    src: exporter.socket.j2
    dest: /etc/systemd/system/exporter.socket
""",
            "ansible-role-exporter/templates/exporter.socket.j2": "[Socket]\nListenStream={{ exporter_port }}\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.path, f.host) for f in report.findings] == [
        ("PP002", "ansible-role-exporter/defaults/main.yml", "ansible-role-exporter:role:exporter")
    ]
    used = report.findings[0].related[0]
    assert (used.location.path, used.location.line, used.message) == (
        "ansible-role-exporter/templates/exporter.socket.j2",
        2,
        "the value is used here",
    )


def test_a_lone_playbook_is_read_without_roles_or_inventory(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "tune.yml": """- name: Tune ports
  hosts: all
  tasks:
    - name: Widen the ephemeral range
      ansible.posix.sysctl:
        name: net.ipv4.ip_local_port_range
        value: "40000 30000"
""",
            "deep/er/still/not.yml": "- hosts: all\n  tasks: []\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.path, f.location.line, f.host) for f in report.findings] == [
        ("PP006", "tune.yml", 7, "all")
    ]
    assert report.readers["tune.yml"] == "ansible"


def _model(root: Path) -> list[str]:
    from portpolicy.report.facts import as_dict

    report = scan_tree(root)
    doc = as_dict(report)
    return sorted(json.dumps(doc[k], sort_keys=True) for k in doc if k != "version")


def test_replayed_role_runs_give_exactly_the_model_of_running_every_role(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Roles shared by hundreds of plays are replayed, never changing what the scan finds.

    The benchmark generator's tree has roles with chains of dependencies, inventories per
    environment and group, and plays in many playbooks: the hard case for the replay's checks
    (variable values and where they are defined, dependencies already run, the depth bound).
    """
    from portpolicy import pipeline
    from portpolicy.ansible import roles

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 10**9)  # count replays in this process
    generate_tree(tmp_path / "tree", 6000)
    hits: list[bool] = []
    real = roles._replay

    def counting(*args):  # type: ignore[no-untyped-def]
        hit = real(*args)
        hits.append(hit)
        return hit

    monkeypatch.setattr(roles, "_replay", counting)
    replayed = _model(tmp_path / "tree")
    assert hits.count(True) > 100 and hits.count(False) > 100  # both paths are exercised
    monkeypatch.setattr(roles, "_replay", lambda *args: False)
    assert _model(tmp_path / "tree") == replayed


def test_the_stage_in_a_second_process_gives_the_same_report(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On large trees the Ansible stage runs beside the per-file readers; nothing may differ."""
    from portpolicy import pipeline
    from portpolicy.report.facts import as_dict

    sequential = as_dict(scan_tree(SITE))
    started: list[object] = []
    real = pipeline._start_ansible_stage

    def start(paths, config, *pool):  # type: ignore[no-untyped-def]
        worker = real(paths, config, *pool)
        started.append(worker)
        return worker

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(pipeline, "_start_ansible_stage", start)
    report = scan_tree(SITE)
    assert started and started[0] is not None  # the worker really ran
    assert as_dict(report) == sequential
    assert sorted((f.rule, f.location.line) for f in report.findings) == [("PP001", 10), ("PP003", 5)]


def test_a_role_task_file_named_like_a_compose_file_is_a_task_file(tmp_path: Path) -> None:
    """geerlingguy.docker's ``tasks/docker-compose.yml``, included only when a flag is set."""
    write_tree(
        tmp_path,
        {
            "ansible-role-docker/defaults/main.yml": "docker_install_compose: false\n",
            "ansible-role-docker/tasks/main.yml": (
                "- include_tasks: docker-compose.yml\n  when: docker_install_compose | bool\n"
            ),
            "ansible-role-docker/tasks/docker-compose.yml": (
                "- name: Install Docker Compose\n  ansible.builtin.get_url:\n"
                "    url: https://example.invalid/docker-compose\n    dest: /usr/local/bin/docker-compose\n"
            ),
            "ansible-role-docker/meta/main.yml": "galaxy_info:\n  role_name: docker\n",
        },
    )
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert report.readers["ansible-role-docker/tasks/docker-compose.yml"] == "ansible"


def test_no_second_process_from_a_threaded_caller(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Forking while another thread holds a lock can hang the child: run the stage here instead."""
    import threading

    from portpolicy import pipeline
    from portpolicy.config import Config

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 1)
    paths = [str(p.relative_to(SITE)) for p in SITE.rglob("*") if p.is_file()]
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        cwd = os.getcwd()
        os.chdir(SITE)
        try:
            assert pipeline._start_ansible_stage(paths, Config()) is None
        finally:
            os.chdir(cwd)
    finally:
        release.set()
        other.join()


def test_a_playbook_with_a_syntax_error_is_pp000_at_its_position(tmp_path: Path) -> None:
    """A refused playbook was skipped in silence; its error is PP000 and the file counts as read."""
    write_tree(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\n",
            "site.yml": "- hosts: web\n  vars:\n    token: s3cr3t-t0ken\n  tasks: [unclosed\n",
            "ops.yml": "- import_playbook: broken.yml\n",
            "broken.yml": "- hosts: db\n  tasks:\n    - debug: msg=hi\n   bad: indent\n",
        },
    )
    report = scan_tree(tmp_path)
    errors = [(f.rule, f.location.path, f.location.line) for f in report.findings]
    assert errors == [("PP000", "broken.yml", 4), ("PP000", "site.yml", 5)]
    assert all("does not parse" in f.message and "s3cr3t" not in f.message for f in report.findings)
    assert report.readers["site.yml"] == "ansible" and report.readers["broken.yml"] == "ansible"


def test_a_playbook_with_an_alias_bomb_in_its_vars_is_pp000_in_a_bounded_run(tmp_path: Path) -> None:
    from tests.hostile import run_bounded

    bomb = '    a0: &a0 ["80", "80", "80", "80", "80", "80", "80", "80", "80", "80"]\n'
    for level in range(1, 9):
        bomb += f"    a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n"
    write_tree(tmp_path, {"site.yml": "- hosts: all\n  vars:\n" + bomb + "  tasks: []\n"})
    done = run_bounded("check", "--format", "json", "--fail-on", "never", "--no-config", ".", cwd=tmp_path)
    assert not done.crashed, done.stderr[-2000:]
    findings = [(f["rule"], f["path"], f["line"]) for f in json.loads(done.stdout)["findings"]]
    assert findings == [("PP000", "site.yml", 9)]  # a6, the first anchor past two million nodes
    assert "alias bomb" in json.loads(done.stdout)["findings"][0]["message"]


def test_a_refused_mapping_with_a_hosts_key_is_left_to_the_other_readers(tmp_path: Path) -> None:
    """A Kubernetes Ingress has ``- hosts:`` under ``tls:``; a broken one is not an Ansible playbook."""
    write_tree(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\n",
            "ingress.yaml": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nspec:\n  tls:\n"
            "    - hosts: [a\n",
        },
    )
    report = scan_tree(tmp_path)
    assert report.readers.get("ingress.yaml") != "ansible"
