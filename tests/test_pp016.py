"""PP016: a published port on a host whose firewall denies inbound traffic, reachable anyway."""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy.model import Finding
from tests.helpers import run_cli, scan_tree, write_tree

COMPOSE = (
    'services:\n  proxy:\n    image: caddy:2\n    ports:\n      - "80:80"\n      - "443:443"\n'
    '  db:\n    image: postgres:16\n    ports:\n      - "5432:5432"\n'
)
NFT_DROP = (
    "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
    "    ct state established,related accept\n    tcp dport { 22, 80, 443 } accept\n  }\n}\n"
)


def pp016(tmp_path: Path, files: dict[str, str], **config: object) -> list[Finding]:
    write_tree(tmp_path, files)
    return [f for f in scan_tree(tmp_path, select=["PP016"], **config).findings if f.rule == "PP016"]


def test_root_filesystem_tree_with_ufw_cli(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/default/ufw": 'DEFAULT_INPUT_POLICY="DROP"\n',
            "etc/ufw/user.rules": "*filter\n:ufw-user-input - [0:0]\n"
            "-A ufw-user-input -p tcp --dport 80 -j ACCEPT\n-A ufw-user-input -p tcp --dport 443 -j ACCEPT\nCOMMIT\n",
            "srv/shop/docker-compose.yml": COMPOSE,
        },
    )
    run = run_cli("check", "--select", "PP016", "--format", "json", ".", cwd=tmp_path)
    found = json.loads(run.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in found] == [
        ("PP016", "srv/shop/docker-compose.yml", 10)
    ]
    message = found[0]["message"]
    assert "db publishes tcp/5432 (to container port 5432)" in message
    assert "(ufw default incoming drop)" in message
    assert "DNAT in nat PREROUTING" in message and "127.0.0.1:5432:5432" in message
    assert [(r["path"], r["line"]) for r in found[0]["related"]] == [("etc/default/ufw", 1)]


def test_firewalld_default_zone_rejects(tmp_path: Path) -> None:
    found = pp016(
        tmp_path,
        {
            "etc/firewalld/firewalld.conf": "DefaultZone=public\n",
            "etc/firewalld/zones/public.xml": '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n'
            '  <service name="ssh"/>\n  <service name="http"/>\n  <service name="https"/>\n</zone>\n',
            "opt/shop/compose.yaml": COMPOSE,
        },
    )
    assert [(f.location.line, "target=default (reject)" in f.message) for f in found] == [(10, True)]


def test_nftables_policy_drop(tmp_path: Path) -> None:
    found = pp016(tmp_path, {"etc/nftables.conf": NFT_DROP, "srv/shop/docker-compose.yml": COMPOSE})
    assert [f.location.line for f in found] == [10]
    assert "nftables chain input policy drop" in found[0].message


def test_kubernetes_static_pod_host_port_on_a_host_that_drops(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n"
        "  containers:\n    - name: exporter\n      image: prom/node-exporter:v1.8.2\n"
        "      ports:\n        - containerPort: 9100\n          hostPort: 9100\n"
    )
    found = pp016(tmp_path, {"etc/nftables.conf": NFT_DROP, "etc/kubernetes/manifests/exporter.yaml": pod})
    assert [(f.location.path, f.location.line) for f in found] == [
        ("etc/kubernetes/manifests/exporter.yaml", 12)
    ]


def test_docker_user_restriction_is_no_finding(tmp_path: Path) -> None:
    rules = (
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n"
        "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n"
        "-A DOCKER-USER -i eth0 ! -s 10.0.0.0/8 -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n"
    )
    assert pp016(tmp_path, {"etc/iptables/rules.v4": rules, "srv/shop/docker-compose.yml": COMPOSE}) == []


def test_daemon_json_iptables_false_or_loopback_ip_is_no_finding(tmp_path: Path) -> None:
    base = {"etc/nftables.conf": NFT_DROP, "srv/shop/docker-compose.yml": COMPOSE}
    off = pp016(tmp_path / "off", {**base, "etc/docker/daemon.json": '{ "iptables": false }\n'})
    local = pp016(tmp_path / "local", {**base, "etc/docker/daemon.json": '{ "ip": "127.0.0.1" }\n'})
    on = pp016(tmp_path / "on", {**base, "etc/docker/daemon.json": '{ "live-restore": true }\n'})
    assert (len(off), len(local), len(on)) == (0, 0, 1)


def test_rootless_runtime_is_no_finding(tmp_path: Path) -> None:
    files = {"etc/nftables.conf": NFT_DROP, "srv/shop/docker-compose.yml": COMPOSE}
    assert pp016(tmp_path, files, runtime="podman-rootless") == []


def test_firewall_that_accepts_everything_is_no_finding(tmp_path: Path) -> None:
    files = {"etc/nftables.conf": NFT_DROP.replace("policy drop", "policy accept")}
    assert pp016(tmp_path, {**files, "srv/shop/docker-compose.yml": COMPOSE}) == []


def test_compose_project_elsewhere_is_another_host_unless_mapped(tmp_path: Path) -> None:
    files = {"firewall/nftables.conf": NFT_DROP, "deploy/docker-compose.yml": COMPOSE}
    assert pp016(tmp_path / "apart", files) == []
    mapped = {**files, ".portpolicy.yml": "hosts:\n  shop:\n    paths: [firewall/**, deploy/**]\n"}
    assert [f.host for f in pp016(tmp_path / "mapped", mapped)] == ["shop"]


PLAY = """- hosts: app
  become: true
  tasks:
    - name: Deny incoming by default
      community.general.ufw:
        default: deny
        direction: incoming
    - name: Allow SSH and HTTPS
      community.general.ufw:
        rule: allow
        port: "{{ item }}"
        proto: tcp
      loop: ["22", "443"]
    - name: Enable ufw
      community.general.ufw:
        state: enabled
    - name: Run Redis
      community.docker.docker_container:
        name: redis
        image: redis:7
        published_ports:
          - "6379:6379"
    - name: Run the proxy
      community.docker.docker_container:
        name: proxy
        image: nginx:1.27
        published_ports:
          - "443:443"
"""


def test_ansible_play_with_docker_container_and_ufw(tmp_path: Path) -> None:
    found = pp016(tmp_path, {"inventory": "[app]\napp1\n", "site.yml": PLAY})
    assert [(f.location.path, f.location.line) for f in found] == [("site.yml", 22)]
    assert "redis publishes tcp/6379" in found[0].message and "ufw default incoming drop" in found[0].message


def test_ansible_play_with_a_docker_user_rule_is_no_finding(tmp_path: Path) -> None:
    rule = (
        "    - name: Only the office reaches published ports\n      ansible.builtin.iptables:\n"
        "        chain: DOCKER-USER\n        in_interface: eth0\n        source: '!192.0.2.0/24'\n"
        "        jump: DROP\n"
    )
    assert pp016(tmp_path, {"inventory": "[app]\napp1\n", "site.yml": PLAY + rule}) == []


def test_ansible_iptables_policy_drop(tmp_path: Path) -> None:
    play = PLAY.replace(
        "      community.general.ufw:\n        default: deny\n        direction: incoming\n",
        "      ansible.builtin.iptables:\n        chain: INPUT\n        policy: DROP\n",
    )
    found = pp016(tmp_path, {"inventory": "[app]\napp1\n", "site.yml": play})
    assert [f.location.line for f in found] == [22]
    assert "iptables chain INPUT policy drop" in found[0].message
