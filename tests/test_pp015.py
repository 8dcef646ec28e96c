"""PP015: a sensitive service reachable from outside, in compose, Kubernetes, Ansible and
root-filesystem trees, with the traps that must stay quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portpolicy.model import Finding
from tests.helpers import run_cli, scan_tree, write_tree


def _pp015(tmp_path: Path, files: dict[str, str]) -> list[Finding]:
    write_tree(tmp_path, files)
    return [f for f in scan_tree(tmp_path).findings if f.rule == "PP015"]


def _compose(ports: str, image: str = "redis:7-alpine", extra: str = "") -> dict[str, str]:
    return {"compose.yaml": f"services:\n  cache:\n    image: {image}\n    ports:\n{ports}{extra}"}


UFW_DEFAULT = 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
UFW_RULES = """*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 6379 0.0.0.0/0 any 10.0.0.0/8 in
-A ufw-user-input -p tcp --dport 6379 -s 10.0.0.0/8 -j ACCEPT

### END RULES ###
COMMIT
"""


def test_redis_published_on_every_address_is_a_warning(tmp_path: Path) -> None:
    [finding] = _pp015(tmp_path, _compose('      - "6379:6379"\n'))
    assert finding.severity == "warning"
    assert (finding.location.path, finding.location.line) == ("compose.yaml", 5)
    assert finding.message.startswith("Redis is reachable from outside on tcp/6379 on every address")
    assert "no firewall rule read for its host limits who connects" in finding.message
    assert "`127.0.0.1:6379:6379`" in finding.message


def test_a_loopback_binding_is_quiet(tmp_path: Path) -> None:
    assert _pp015(tmp_path, _compose('      - "127.0.0.1:6379:6379"\n      - "[::1]:6380:6379"\n')) == []


def test_the_image_names_the_service_whatever_the_host_port(tmp_path: Path) -> None:
    [finding] = _pp015(tmp_path, _compose('      - "8080:6379"\n', image="redis:7"))
    assert finding.message.startswith("Redis is reachable from outside on tcp/8080")
    assert "its image redis:7 runs Redis" in finding.message
    assert "`127.0.0.1:8080:6379`" in finding.message


def test_a_web_server_on_a_database_port_is_quiet(tmp_path: Path) -> None:
    assert _pp015(tmp_path, _compose('      - "6379:80"\n', image="nginx:1.27")) == []


def test_an_internal_only_network_publishes_nothing(tmp_path: Path) -> None:
    extra = "    networks: [backend]\nnetworks:\n  backend:\n    internal: true\n"
    assert _pp015(tmp_path, _compose('      - "6379:6379"\n', extra=extra)) == []


def test_an_internal_default_network_publishes_nothing(tmp_path: Path) -> None:
    extra = "networks:\n  default:\n    internal: true\n"
    assert _pp015(tmp_path, _compose('      - "6379:6379"\n', extra=extra)) == []


def test_one_routed_network_beside_the_internal_one_publishes(tmp_path: Path) -> None:
    extra = (
        "    networks:\n      backend:\n      front:\n        aliases: [cache]\n"
        "networks:\n  backend:\n    internal: true\n  front: {}\n"
    )
    assert len(_pp015(tmp_path, _compose('      - "6379:6379"\n', extra=extra))) == 1


def test_a_public_proxy_and_an_exposed_database_are_quiet(tmp_path: Path) -> None:
    files = {
        "compose.yaml": """services:
  proxy:
    image: traefik:v3.1
    ports: ["80:80", "443:443"]
  db:
    image: postgres:16
    expose: ["5432"]
  cache:
    image: redis:7
"""
    }
    assert _pp015(tmp_path, files) == []


def test_host_networking_binds_on_the_host(tmp_path: Path) -> None:
    files = {
        "compose.yaml": """services:
  search:
    image: docker.elastic.co/elasticsearch/elasticsearch:8.15.0
    network_mode: host
    expose: ["9200"]
"""
    }
    [finding] = _pp015(tmp_path, files)
    assert finding.message.startswith("Elasticsearch is reachable from outside on tcp/9200 on every address")
    assert "(bound by the service itself)" in finding.message


def test_daemon_json_ip_makes_unaddressed_ports_loopback(tmp_path: Path) -> None:
    files = {
        **_compose('      - "6379:6379"\n'),
        "etc/docker/daemon.json": '{"ip": "127.0.0.1"}\n',
    }
    assert _pp015(tmp_path, files) == []


def test_rootfs_tree_ufw_limits_the_port_but_docker_bypasses_it(tmp_path: Path) -> None:
    files = {
        "etc/default/ufw": UFW_DEFAULT,
        "etc/ufw/user.rules": UFW_RULES,
        "etc/docker/daemon.json": '{"log-driver": "journald", "live-restore": true}\n',
        **_compose('      - "6379:6379"\n'),
    }
    [finding] = _pp015(tmp_path, files)
    assert finding.severity == "info"
    assert "the host firewall limits the port, but not this published port" in finding.message
    assert "DOCKER-USER" in finding.message


def test_docker_user_restriction_with_ufw_is_quiet(tmp_path: Path) -> None:
    files = {
        "etc/default/ufw": UFW_DEFAULT,
        "etc/ufw/user.rules": UFW_RULES,
        "etc/ufw/after.rules": """*filter
:DOCKER-USER - [0:0]
-A DOCKER-USER -i eth0 ! -s 10.0.0.0/8 -p tcp -m conntrack --ctorigdstport 6379 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
""",
        **_compose('      - "6379:6379"\n'),
    }
    assert _pp015(tmp_path, files) == []


def test_a_rule_open_to_everyone_keeps_the_warning(tmp_path: Path) -> None:
    rules = UFW_RULES.replace(
        "### END RULES ###",
        "### tuple ### allow tcp 6379 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 6379 -j ACCEPT\n\n"
        "### END RULES ###",
    )
    files = {"etc/default/ufw": UFW_DEFAULT, "etc/ufw/user.rules": rules, **_compose('      - "6379:6379"\n')}
    [finding] = _pp015(tmp_path, files)
    assert finding.severity == "warning"


def test_host_redis_daemon_on_every_address(tmp_path: Path) -> None:
    files = {"etc/redis/redis.conf": "bind 0.0.0.0\nport 6379\nprotected-mode no\n"}
    [finding] = _pp015(tmp_path, files)
    assert finding.severity == "warning"
    assert "(bound by the service itself)" in finding.message
    assert "`bind 127.0.0.1 -::1`" in finding.message


def test_host_mysql_daemon_with_no_bind_address_binds_every_address(tmp_path: Path) -> None:
    """mysqld's default bind-address is ``*``; a ``[client]`` port beside it is no listener."""
    files = {"etc/mysql/my.cnf": "[client]\nport = 80\n\n[mysqld]\nport = 3306\n"}
    [finding] = _pp015(tmp_path, files)
    assert (finding.severity, finding.location.line) == ("warning", 5)
    assert finding.message.startswith("MySQL is reachable from outside on tcp/3306 on every address")
    assert [f.rule for f in scan_tree(tmp_path).findings] == ["PP015"]
    write_tree(tmp_path, {"etc/mysql/my.cnf": files["etc/mysql/my.cnf"] + "bind-address = 127.0.0.1\n"})
    assert _pp015(tmp_path, {}) == []


def test_host_redis_daemon_behind_a_dropping_input_policy(tmp_path: Path) -> None:
    files = {
        "etc/redis/redis.conf": "bind 0.0.0.0\nport 6379\n",
        "etc/iptables/rules.v4": "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    }
    assert _pp015(tmp_path, files) == []


POD = """apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          ports:
            - containerPort: 5432
"""


def test_kubernetes_host_port_is_a_warning(tmp_path: Path) -> None:
    [finding] = _pp015(tmp_path, {"k8s/db.yaml": POD + "              hostPort: 5432\n"})
    assert finding.severity == "warning"
    assert finding.location.line == 18
    assert finding.message.startswith("PostgreSQL is reachable from outside on tcp/5432 on every address")
    assert "(a hostPort the node forwards to the pod)" in finding.message
    assert "Drop the hostPort" in finding.message


def test_kubernetes_container_port_without_host_port_is_quiet(tmp_path: Path) -> None:
    assert _pp015(tmp_path, {"k8s/db.yaml": POD}) == []


PLAY = """- hosts: db
  become: true
  tasks:
    - name: SSH
      community.general.ufw: {rule: allow, port: "22", proto: tcp}
{ufw}    - name: MongoDB
      community.docker.docker_container:
        name: mongo
        image: mongo:7
        published_ports:
          - "27017:27017"
"""
UFW_MONGO = """    - name: MongoDB from the app subnet only
      community.general.ufw: {rule: allow, port: "27017", proto: tcp, from_ip: 10.20.0.0/16}
"""


@pytest.mark.parametrize(("ufw", "severity"), [("", "warning"), (UFW_MONGO, "info")])
def test_ansible_docker_container_and_ufw_on_one_play(tmp_path: Path, ufw: str, severity: str) -> None:
    files = {
        "ansible.cfg": "[defaults]\ninventory = inventory\n",
        "inventory": "[db]\ndb1\n",
        "site.yml": PLAY.replace("{ufw}", ufw),
    }
    [finding] = _pp015(tmp_path, files)
    assert finding.severity == severity
    assert finding.location.path == "site.yml"
    assert finding.message.startswith("MongoDB is reachable from outside on tcp/27017")
    assert "its image mongo:7 runs MongoDB" in finding.message


def test_cli_reports_it_in_json(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "6379:6379"\n'))
    run = run_cli("check", "--select", "PP015", "--format", "json", "--fail-on", "warning", ".", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)["findings"]
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in findings] == [
        ("PP015", "warning", "compose.yaml", 5)
    ]
