"""Variable precedence, inventories, and the modules that declare ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import FirewallRule, InvalidPort, KernelSetting, Listener, ParseError, Unresolved
from portpolicy.pipeline import Report
from tests.helpers import scan_tree, write_tree

ROLE_TASK = """- name: open
  ansible.posix.firewalld:
    port: "{{ app_port }}/tcp"
    state: enabled
"""


def _scan(tmp_path: Path, files: dict[str, str]) -> Report:
    write_tree(tmp_path, {"ansible.cfg": "[defaults]\ninventory = inventory\n", **files})
    return scan_tree(tmp_path)


def _ports(report: Report) -> list[tuple[str, str]]:
    return sorted((f.host, f.port_text) for f in report.facts if isinstance(f, FirewallRule))


def _precedence_tree(**overrides: str) -> dict[str, str]:
    files = {
        "inventory": "[app]\napp1\n",
        "roles/app/defaults/main.yml": "app_port: 1001\n",
        "roles/app/tasks/main.yml": ROLE_TASK,
        "site.yml": "- hosts: app\n  roles:\n    - app\n",
    }
    files.update(overrides)
    return files


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "1001"),
        ({"group_vars/all.yml": "app_port: 1002\n"}, "1002"),
        ({"group_vars/all.yml": "app_port: 1002\n", "group_vars/app": "app_port: 1003\n"}, "1003"),
        ({"group_vars/app/ports.yaml": "app_port: 1003\n", "host_vars/app1.yml": "app_port: 1004\n"}, "1004"),
        ({"inventory": "[app]\napp1 app_port=1005\n", "group_vars/app.yml": "app_port: 1003\n"}, "1005"),
        (
            {
                "host_vars/app1.yml": "app_port: 1004\n",
                "site.yml": "- hosts: app\n  vars:\n    app_port: 1006\n  roles: [app]\n",
            },
            "1006",
        ),
        (
            {
                "vars/ports.yml": "app_port: 1007\n",
                "site.yml": "- hosts: app\n  vars:\n    app_port: 1006\n  vars_files: [vars/ports.yml]\n  roles: [app]\n",
            },
            "1007",
        ),
        ({"roles/app/vars/main.yml": "app_port: 1008\n", "group_vars/all.yml": "app_port: 1002\n"}, "1008"),
        (
            {
                "roles/app/vars/main.yml": "app_port: 1008\n",
                "site.yml": "- hosts: app\n  roles:\n    - role: app\n      app_port: 1009\n",
            },
            "1009",
        ),
        ({"roles/app/tasks/main.yml": ROLE_TASK + "  vars:\n    app_port: 1010\n"}, "1010"),
        ({"inventory": "[app]\napp1\n[app:vars]\napp_port=1011\n"}, "1011"),
    ],
)
def test_precedence(tmp_path: Path, overrides: dict[str, str], expected: str) -> None:
    report = _scan(tmp_path, _precedence_tree(**overrides))
    assert _ports(report) == [("app", expected)]


def test_hosts_that_disagree_run_as_classes_of_hosts(tmp_path: Path) -> None:
    """Each class of hosts gets its own value (tests/ansible/test_per_host.py has the rest)."""
    report = _scan(
        tmp_path,
        _precedence_tree(inventory="[app]\napp1 app_port=2001\napp2 app_port=2002\n"),
    )
    assert _ports(report) == [("app:app1", "2001"), ("app:app2", "2002")]


def test_hosts_that_disagree_past_the_bound_leave_the_value_unresolved(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            **_precedence_tree(inventory="[app]\napp1 app_port=2001\napp2 app_port=2002\n"),
            ".portpolicy.yml": "ansible-host-classes: 1\n",
        },
    )
    assert _ports(report) == []
    [unresolved] = [f for f in report.facts if isinstance(f, Unresolved)]
    assert "app_port differs between the hosts of 'app'" in unresolved.reason
    assert (unresolved.location.path, unresolved.location.line) == ("roles/app/tasks/main.yml", 3)


def test_yaml_inventory_children_and_group_vars(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        _precedence_tree(
            inventory="""all:
  vars:
    app_port: 3001
  children:
    prod:
      vars:
        app_port: 3002
      children:
        app:
          hosts:
            app1:
""",
        )
        | {"inventory.yml": "not: [an inventory"},
    )
    assert _ports(report) == [("app", "3002")]


def test_vault_unsafe_undefined_and_lookups_are_unresolved(tmp_path: Path) -> None:
    vault = "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6234\n"
    report = _scan(
        tmp_path,
        {
            "inventory": "[app]\napp1\n",
            "group_vars/app.yml": f"vaulted: {vault}unsafe: !unsafe '{{{{ x }}}}'\n",
            "site.yml": """- hosts: app
  tasks:
    - ansible.posix.firewalld: {port: "{{ vaulted }}/tcp", state: enabled}
    - ansible.posix.firewalld: {port: "{{ unsafe }}/tcp", state: enabled}
    - ansible.posix.firewalld: {port: "{{ nowhere }}/tcp", state: enabled}
    - ansible.posix.firewalld: {port: "{{ lookup('env', 'P') }}/tcp", state: enabled}
    - ansible.posix.firewalld: {port: "{{ ansible_port }}/tcp", state: enabled}
""",
        },
    )
    assert report.findings == []
    reasons = [
        f.reason
        for f in sorted((f for f in report.facts if isinstance(f, Unresolved)), key=lambda f: f.location)
    ]
    assert len(reasons) == 5
    assert "vault-encrypted" in reasons[0]
    assert "!unsafe" in reasons[1]
    assert "'nowhere' is not defined" in reasons[2]
    assert "lookup()" in reasons[3]
    assert "gathered from the host" in reasons[4]


def test_legacy_key_value_when_and_loops(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[fw]\nfw1\n",
            "site.yml": """- hosts: fw
  vars:
    open_ports: [8080, 8443]
    enable_debug: false
  tasks:
    - name: legacy
      firewalld: port=9000-9010/udp permanent=yes state=enabled
    - name: legacy off
      firewalld: port=9011/udp state=disabled
    - name: loop
      ansible.posix.firewalld:
        port: "{{ item }}/tcp"
        state: enabled
      loop: "{{ open_ports }}"
    - name: literal false
      ansible.posix.firewalld: {port: 7000/tcp, state: enabled}
      when: false
    - name: false from a variable
      ansible.posix.firewalld: {port: 7001/tcp, state: enabled}
      when: enable_debug | bool
    - name: unknown condition still may run
      ansible.posix.firewalld: {port: 7002/tcp, state: enabled}
      when: ansible_os_family == 'RedHat'
    - name: per-item condition
      ansible.posix.firewalld: {port: "{{ item }}/tcp", state: enabled}
      loop: [7003, 7004]
      when: item > 7003
    - name: loop that does not resolve
      ansible.posix.firewalld: {port: "{{ item }}/tcp", state: enabled}
      loop: "{{ query('inventory_hostnames', 'all') }}"
    - block:
        - ansible.posix.firewalld: {port: "{{ block_port }}/tcp", state: enabled}
      vars:
        block_port: 7005
""",
        },
    )
    assert _ports(report) == [
        ("fw", "7002"), ("fw", "7004"), ("fw", "7005"), ("fw", "8080"), ("fw", "8443"), ("fw", "9000-9010"),
    ]  # fmt: skip
    legacy = next(f for f in report.facts if isinstance(f, FirewallRule) and f.port_text == "9000-9010")
    assert (legacy.location.line, legacy.protocol) == (7, "udp")
    looped = sorted(
        (f.location.line, f.evidence[-1].location.line)
        for f in report.facts
        if isinstance(f, FirewallRule) and f.port_text.startswith("84")
    )
    assert looped == [(12, 3)]
    [unresolved] = [f for f in report.facts if isinstance(f, Unresolved)]
    assert "loop not resolved" in unresolved.reason


def test_ufw_and_iptables(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[fw]\nfw1\n",
            "site.yml": """- hosts: fw
  tasks:
    - community.general.ufw: {rule: allow, port: "80,443", proto: tcp}
    - community.general.ufw: {rule: deny, from_port: "53", proto: udp, direction: out}
    - community.general.ufw: {rule: allow, port: "8080", delete: true}
    - community.general.ufw: {state: enabled, policy: deny}
    - community.general.ufw: {rule: limit, port: ssh}
    - ansible.builtin.iptables: {chain: INPUT, protocol: tcp, destination_port: "8000:8010", jump: ACCEPT, ctstate: [NEW]}
    - ansible.builtin.iptables:
        {chain: INPUT, protocol: tcp, destination_ports: ["5000", "5001:5002"], jump: DROP, source: 10.0.0.0/8}
    - ansible.builtin.iptables: {chain: INPUT, protocol: tcp, destination_port: "22", jump: ACCEPT, state: absent}
    - ansible.builtin.iptables: {chain: INPUT, policy: DROP}
    - ansible.builtin.iptables: {chain: OUTPUT, protocol: udp, source_port: "53", jump: ACCEPT}
    - ansible.builtin.iptables: {table: nat, chain: PREROUTING, protocol: tcp, destination_port: "80", jump: DNAT}
    - ansible.builtin.iptables: {chain: INPUT, protocol: tcp, destination_port: "70000", jump: ACCEPT}
    - ansible.builtin.iptables: {chain: INPUT, protocol: udp, source_port: "123", jump: ACCEPT, ctstate: [ESTABLISHED]}
    - ansible.builtin.iptables: {chain: INPUT, protocol: udp, source_port: "{{ ntp_port }}", jump: ACCEPT}
""",
        },
    )
    got = sorted(
        (
            f.firewall,
            f.direction,
            f.action,
            f.protocol,
            f.port_text,
            str(f.source_ports),
            f.sources,
            f.stateful,
        )
        for f in report.facts
        if isinstance(f, FirewallRule)
    )
    assert got == [
        ("iptables", "in", "accept", "tcp", "8000-8010", "None", (), False),
        ("iptables", "in", "accept", "udp", "all ports", "123", (), True),
        ("iptables", "in", "drop", "any", "all ports", "None", (), False),  # policy: DROP
        ("iptables", "in", "drop", "tcp", "5000", "None", ("10.0.0.0/8",), False),
        ("iptables", "in", "drop", "tcp", "5001-5002", "None", ("10.0.0.0/8",), False),
        ("iptables", "out", "accept", "udp", "all ports", "53", (), False),
        ("ufw", "in", "accept", "tcp", "443", "None", (), False),
        ("ufw", "in", "accept", "tcp", "80", "None", (), False),
        ("ufw", "in", "drop", "any", "all ports", "None", (), False),  # policy: deny
        ("ufw", "out", "drop", "udp", "all ports", "53", (), False),
    ]
    invalid = [f for f in report.facts if isinstance(f, InvalidPort)]
    assert [(f.location.line, f.value) for f in invalid] == [(15, "70000")]
    unresolved = [(f.location.line, f.value) for f in report.facts if isinstance(f, Unresolved)]
    assert unresolved == [(7, "ssh"), (17, "{{ ntp_port }}")]


def test_sysctl_lineinfile_copy_and_docker_container(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[db]\ndb1\n",
            "site.yml": """- hosts: db
  vars:
    reserved: "5432,6379"
    pg_user: "999"
  tasks:
    - ansible.posix.sysctl:
        name: net.ipv4.ip_local_reserved_ports
        value: "{{ reserved }}"
        sysctl_file: /etc/sysctl.d/50-reserved.conf
    - ansible.posix.sysctl: name=net.ipv4.ip_local_port_range value="1024 65535" state=absent
    - ansible.builtin.lineinfile:
        path: /etc/sysctl.d/60-range.conf
        line: net.ipv4.ip_local_port_range = 10000 60999
    - ansible.builtin.copy:
        dest: /etc/sysctl.d/70-start.conf
        content: |
          # lowered for the proxy
          net.ipv4.ip_unprivileged_port_start = 80
    - community.docker.docker_container:
        name: pg
        image: postgres:16
        user: "{{ pg_user }}"
        network_mode: host
        exposed_ports:
          - "5432"
""",
        },
    )
    settings = sorted((f.key, f.value, f.location.line) for f in report.facts if isinstance(f, KernelSetting))
    assert settings == [
        ("net.ipv4.ip_local_port_range", "10000 60999", 13),
        ("net.ipv4.ip_local_reserved_ports", "5432,6379", 8),
        ("net.ipv4.ip_unprivileged_port_start", "80", 18),
    ]
    listeners = [
        (f.service, f.ports.start, f.run_as.user, f.netns, f.location.line)
        for f in report.facts
        if isinstance(f, Listener)
    ]
    assert listeners == [("pg", 5432, "999", "host", 25)]
    assert {f.rule for f in report.findings} == {"PP008", "PP015"}  # postgres on the host network, all addresses


def test_template_branch_that_does_not_resolve_is_unresolved_not_a_finding(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[web]\nweb1\n",
            "site.yml": """- hosts: web
  tasks:
    - ansible.builtin.template:
        src: templates/api.socket.j2
        dest: /etc/systemd/system/api.socket
""",
            "templates/api.socket.j2": """[Socket]
ListenStream=8080
{% if ansible_distribution == 'Debian' %}
ListenStream=45000
{% endif %}
ListenStream={{ undefined_port }}
""",
        },
    )
    assert report.findings == []
    assert [(f.ports.start, f.location.line) for f in report.facts if isinstance(f, Listener)] == [(8080, 2)]
    unresolved = sorted((f.location.line, f.reason) for f in report.facts if isinstance(f, Unresolved))
    assert [line for line, _ in unresolved] == [4, 6]
    assert "not rendered" in unresolved[0][1] and "ansible_distribution" in unresolved[0][1]
    assert "'undefined_port' is not defined" in unresolved[1][1]


def test_firewalld_service_opens_the_catalogue_ports(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[dc]\ndc1\n",
            "site.yml": """- hosts: dc
  vars:
    dc_service: samba-dc
  tasks:
    - name: Open the AD DC services
      ansible.posix.firewalld:
        service: "{{ dc_service }}"
        zone: internal
        permanent: true
        state: enabled
    - ansible.posix.firewalld: {service: no-such-service, state: enabled}
""",
        },
    )
    rules = [f for f in report.facts if isinstance(f, FirewallRule)]
    dynamic = next(r for r in rules if r.ports is not None and r.ports.start == 49152)
    assert (dynamic.protocol, dynamic.ports.end, dynamic.chain, dynamic.service) == (
        "tcp",
        65535,
        "internal",
        "samba-dc",
    )
    assert any("dc_service is defined here" in e.message for e in dynamic.evidence)
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP003", 3)]  # where samba-dc is written
    assert "(service samba-dc)" in report.findings[0].message
    assert [u.value for u in report.facts if isinstance(u, Unresolved)] == ["no-such-service"]


def test_kubespray_layout_nested_roles_defaults_dirs_and_play_wide_role_defaults(tmp_path: Path) -> None:
    """kubespray's shape: ``role: kubernetes/node`` lives in roles/kubernetes/node, the values
    come from a defaults-only role (``defaults/main/*.yml``) listed first in every play, and a
    ``when`` on an imported task file picks one of two load balancers."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[kube_node]\nnode1\n",
            "roles/kubespray_defaults/defaults/main/main.yml": (
                'kube_apiserver_node_port_range: "30000-32767"\nloadbalancer_apiserver_type: nginx\n'
            ),
            "roles/kubespray_defaults/defaults/main/download.yml": "nginx_image_tag: 1.27\n",
            "roles/kubernetes/node/tasks/main.yml": """- name: Install nginx-proxy
  import_tasks: loadbalancer/nginx-proxy.yml
  when: loadbalancer_apiserver_type == 'nginx'

- name: Install haproxy
  import_tasks: loadbalancer/haproxy.yml
  when: loadbalancer_apiserver_type == 'haproxy'

- name: Ensure nodePort range is reserved
  ansible.posix.sysctl:
    name: net.ipv4.ip_local_reserved_ports
    value: "{{ kube_apiserver_node_port_range }}"
    sysctl_file: /etc/sysctl.d/99-sysctl.conf
""",
            "roles/kubernetes/node/tasks/loadbalancer/nginx-proxy.yml": """- name: nginx-proxy | Write nginx-proxy configuration
  template:
    src: loadbalancer/nginx.conf.j2
    dest: /etc/nginx/nginx.conf
""",
            "roles/kubernetes/node/tasks/loadbalancer/haproxy.yml": """- name: haproxy | Write haproxy configuration
  template:
    src: loadbalancer/haproxy.cfg.j2
    dest: /etc/haproxy/haproxy.cfg
""",
            "roles/kubernetes/node/templates/loadbalancer/nginx.conf.j2": (
                "events {}\nstream {\n  server {\n    listen 127.0.0.1:6443;\n  }\n}\n"
            ),
            "roles/kubernetes/node/templates/loadbalancer/haproxy.cfg.j2": (
                "frontend kube_api_frontend\n  bind 127.0.0.1:6443\n"
            ),
            "cluster.yml": """- name: Install Kubernetes nodes
  hosts: kube_node
  roles:
    - { role: kubespray_defaults }
    - { role: kubernetes/node, tags: node }
""",
        },
    )
    assert report.findings == []  # one load balancer, not two on 6443
    (setting,) = [f for f in report.facts if isinstance(f, KernelSetting)]
    assert (setting.value, setting.host) == ("30000-32767", "kube_node")
    listeners = [f for f in report.facts if isinstance(f, Listener)]
    assert [(ln.service, ln.ports.start) for ln in listeners] == [("nginx", 6443)]


def test_a_template_that_renders_only_partly_is_unresolved_not_a_parse_error(tmp_path: Path) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[k8s]\nm1\n",
            "roles/cp/tasks/main.yml": """- template:
    src: kubeadm-config.yaml.j2
    dest: /etc/kubernetes/kubeadm-config.yaml
""",
            "roles/cp/templates/kubeadm-config.yaml.j2": """apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
dns:
  imageRepository: {{ coredns_image_repo | regex_replace('/coredns(?!/coredns).*$', '') }}
  imageTag: {{ coredns_image_tag }}
apiServer:
  extraArgs:
    - name: service-node-port-range
      value: "30000-32767"
""",
            "site.yml": "- hosts: k8s\n  roles: [cp]\n",
        },
    )
    assert [f.rule for f in report.findings] == []  # kubespray's kubeadm-config: no PP000
    assert not [f for f in report.facts if isinstance(f, ParseError)]


def test_kernel_setting_findings_point_at_the_data_item_or_variable_that_holds_the_value(
    tmp_path: Path,
) -> None:
    report = _scan(
        tmp_path,
        {
            "inventory": "[db]\ndb1\n",
            "group_vars/db.yml": 'db_port_range: "40000 30000"\n',
            "roles/tune/defaults/main.yml": """sysctl_settings:
  - name: net.core.somaxconn
    value: 4096
  - name: net.ipv4.ip_unprivileged_port_start
    value: 40000
""",
            "roles/tune/tasks/main.yml": """- name: Kernel settings from the role's data
  ansible.posix.sysctl:
    name: "{{ item.name }}"
    value: "{{ item.value }}"
    sysctl_file: /etc/sysctl.d/90-tune.conf
  loop: "{{ sysctl_settings }}"

- name: The database's port range
  ansible.posix.sysctl:
    name: net.ipv4.ip_local_port_range
    value: "{{ db_port_range }}"
""",
            "site.yml": "- hosts: db\n  roles: [tune]\n",
        },
    )
    found = sorted((f.rule, f.location.path, f.location.line) for f in report.findings)
    assert found == [
        ("PP006", "group_vars/db.yml", 1),  # the inverted range, where it is written
        ("PP006", "roles/tune/defaults/main.yml", 4),  # the loop item whose value the kernel refuses
    ]
    for f in report.findings:
        assert f.related[0].message == "the value is used here"
        assert f.related[0].location.path == "roles/tune/tasks/main.yml"


BROKEN_YAML = "port: [1\n"


@pytest.mark.parametrize(
    ("broken", "extra"),
    [
        ("group_vars/all.yml", {}),
        ("group_vars/app/ports.yml", {}),
        ("host_vars/app1.yml", {}),
        ("roles/app/defaults/main.yml", {}),
        ("roles/app/vars/main.yml", {}),
        ("roles/app/meta/main.yml", {}),
        ("vars/ports.yml", {"site.yml": "- hosts: app\n  vars_files: [vars/ports.yml]\n  roles: [app]\n"}),
        (
            "vars/extra.yml",
            {"roles/app/tasks/main.yml": ROLE_TASK + "- ansible.builtin.include_vars: vars/extra.yml\n"},
        ),
        (
            "inventory/hosts.yml",
            {"ansible.cfg": "[defaults]\ninventory = inventory/hosts.yml\n", "inventory": None},
        ),
    ],
)
def test_a_variables_file_that_does_not_parse_is_pp000(
    tmp_path: Path, broken: str, extra: dict[str, str | None]
) -> None:
    """Every Ansible variables file that does not parse is reported, once, at its error."""
    files = {**_precedence_tree(), **extra, broken: BROKEN_YAML}
    report = _scan(tmp_path, {k: v for k, v in files.items() if v is not None})
    errors = [(f.rule, f.location.path, f.location.line) for f in report.findings if f.rule == "PP000"]
    assert errors == [("PP000", broken, 2)]
    assert broken in report.files


@pytest.mark.parametrize(
    ("task", "token"),
    [
        ('ansible.posix.firewalld: {port: "²/tcp", state: enabled}', "²"),
        ('ansible.posix.firewalld: {port: "٨٠/tcp", state: enabled}', "٨٠"),
        ('ansible.posix.firewalld: {port: "8080-٨٠٨١/tcp", state: enabled}', "٨٠٨١"),
        ('community.general.ufw: {rule: allow, port: "٨٠"}', "٨٠"),
        ('community.general.ufw: {rule: allow, port: "²"}', "²"),
        (
            'ansible.builtin.iptables: {chain: INPUT, protocol: tcp, destination_port: "²:80", jump: ACCEPT}',
            "²",
        ),
        ('ansible.builtin.iptables: {chain: INPUT, source_port: "٥٣", jump: ACCEPT}', "٥٣"),
        ('ansible.posix.firewalld: {port: "' + "9" * 5000 + '/tcp", state: enabled}', "99999"),
        ('community.general.ufw: {rule: allow, port: "' + "1" * 5000 + '"}', "11111"),
    ],
)
def test_only_ascii_digits_make_a_port(tmp_path: Path, task: str, token: str) -> None:
    """``str.isdigit`` accepts ``²`` (which ``int`` refuses) and ``٨٠`` (which it reads as 80)."""
    report = _scan(
        tmp_path, {"inventory": "[fw]\nfw1\n", "site.yml": f"- hosts: fw\n  tasks:\n    - {task}\n"}
    )
    assert not [f for f in report.facts if isinstance(f, FirewallRule)]
    [finding] = report.findings
    assert (finding.rule, finding.location.line) == ("PP005", 3)
    assert token in finding.message and len(finding.message) < 200


def test_a_sysctl_task_value_goes_through_the_kernel_setting_parser(tmp_path: Path) -> None:
    """Not the module's own ``int()``: the kernel's verdict on text it cannot read (PP006)."""
    report = _scan(
        tmp_path,
        {
            "inventory": "[db]\ndb1\n",
            "site.yml": """- hosts: db
  tasks:
    - ansible.posix.sysctl: {name: net.ipv4.ip_local_port_range, value: "²0000 60000"}
    - ansible.posix.sysctl: {name: net.ipv4.ip_unprivileged_port_start, value: "٨٠"}
    - ansible.posix.sysctl: {name: net.ipv4.ip_local_reserved_ports, value: "1%s"}
"""
            % ("0" * 5000),
        },
    )
    assert sorted((f.rule, f.location.line) for f in report.findings) == [
        ("PP006", 3),
        ("PP006", 4),
        ("PP006", 5),
    ]
    assert all(len(f.message) < 400 for f in report.findings)
