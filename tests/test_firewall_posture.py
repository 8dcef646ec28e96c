"""The host's firewall posture: its inbound policy and how its runtime's published ports meet it.

Every firewall reader states the policy its own way (ufw's default file and commands, a
firewalld default zone's target, an nftables or iptables input chain); Docker's daemon.json,
a ``DOCKER-USER`` chain, a firewalld policy into the ``docker`` zone and a rootless runtime
say how published ports pass. ``Namespace.inbound_policy`` and ``runtime_firewall`` carry it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portpolicy import hosts, recognise
from portpolicy.config import Config
from portpolicy.model import Namespace, ParseError, Posture
from portpolicy.readers import dockerd
from portpolicy.readers.base import Source
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

COMPOSE = 'services:\n  cache:\n    image: redis:7\n    ports:\n      - "6379:6379"\n'
UFW_DEFAULT = 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
NFT_DROP = (
    "#!/usr/sbin/nft -f\nflush ruleset\n\ntable inet filter {\n  chain input {\n"
    "    type filter hook input priority filter; policy drop;\n    ct state established,related accept\n"
    "    iif lo accept\n    tcp dport 22 accept\n  }\n}\n"
)
RULES_V4 = (
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
    "-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n"
)


def host_ns(tmp_path: Path, files: dict[str, str], **config: object) -> Namespace:
    write_tree(tmp_path, files)
    report = scan_tree(tmp_path, **config)
    (host,) = report.hosts
    return next(ns for ns in host.namespaces if ns.kind == "host")


def posture(ns: Namespace) -> tuple[object, object, str | None, object, str | None]:
    inbound, runtime = ns.inbound_policy, ns.runtime_firewall
    where = [
        None if s.location is None else f"{s.location.path}:{s.location.line}" for s in (inbound, runtime)
    ]
    return inbound.value, runtime.value, where[0], runtime.value and runtime.source, where[1]


def test_ufw_default_file_and_a_published_port(tmp_path: Path) -> None:
    ns = host_ns(tmp_path, {"etc/default/ufw": UFW_DEFAULT, "srv/app/docker-compose.yml": COMPOSE})
    assert ns.inbound_policy.value == "drop"
    assert ns.inbound_policy.source == "ufw default incoming drop"
    assert (ns.inbound_policy.location.path, ns.inbound_policy.location.line) == ("etc/default/ufw", 2)  # type: ignore[union-attr]
    assert ns.runtime_firewall.value == "bypasses"
    assert "DNAT in nat PREROUTING" in ns.runtime_firewall.source


def test_nothing_read_leaves_both_unknown(tmp_path: Path) -> None:
    ns = host_ns(tmp_path, {"etc/sysctl.d/10-net.conf": "net.ipv4.ip_local_port_range = 32768 60999\n"})
    assert (ns.inbound_policy.value, ns.runtime_firewall.value) == (None, None)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ('<zone>\n  <short>Public</short>\n  <service name="ssh"/>\n</zone>\n', "reject"),
        ('<zone target="DROP">\n  <service name="ssh"/>\n</zone>\n', "drop"),
        ('<zone target="ACCEPT">\n  <service name="ssh"/>\n</zone>\n', "accept"),
    ],
)
def test_firewalld_default_zone_target(tmp_path: Path, zone: str, expected: str) -> None:
    ns = host_ns(
        tmp_path,
        {
            "etc/firewalld/firewalld.conf": "DefaultZone=public\n",
            "etc/firewalld/zones/public.xml": '<?xml version="1.0" encoding="utf-8"?>\n' + zone,
            "srv/app/compose.yaml": COMPOSE,
        },
    )
    assert ns.inbound_policy.value == expected
    assert ns.inbound_policy.source.startswith("firewalld default zone public, target=")


def test_firewalld_conf_alone_means_the_shipped_zone_rejects(tmp_path: Path) -> None:
    ns = host_ns(tmp_path, {"etc/firewalld/firewalld.conf": "DefaultZone=public\nFirewallBackend=nftables\n"})
    assert ns.inbound_policy.value == "reject"
    assert "as shipped" in ns.inbound_policy.source


def test_firewalld_policy_into_the_docker_zone_filters(tmp_path: Path) -> None:
    policy = (
        '<?xml version="1.0" encoding="utf-8"?>\n<policy target="REJECT">\n'
        '  <ingress-zone name="public"/>\n  <egress-zone name="docker"/>\n</policy>\n'
    )
    ns = host_ns(
        tmp_path,
        {
            "etc/firewalld/firewalld.conf": "DefaultZone=public\n",
            "etc/firewalld/policies/public-to-docker.xml": policy,
            "srv/app/compose.yaml": COMPOSE,
        },
    )
    assert (ns.inbound_policy.value, ns.runtime_firewall.value) == ("reject", "filtered")
    assert "public-to-docker" in ns.runtime_firewall.source


def test_nftables_input_policy_drop(tmp_path: Path) -> None:
    ns = host_ns(tmp_path, {"etc/nftables.conf": NFT_DROP, "opt/stack/docker-compose.yml": COMPOSE})
    assert posture(ns)[:3] == ("drop", "bypasses", "etc/nftables.conf:6")
    assert ns.inbound_policy.source == "nftables chain input policy drop"


def test_iptables_chain_that_ends_in_reject(tmp_path: Path) -> None:
    # RHEL's classic ruleset: ACCEPT policy, never reached past the final REJECT
    ns = host_ns(tmp_path, {"etc/sysconfig/iptables": RULES_V4})
    assert ns.inbound_policy.value == "reject"
    assert ns.inbound_policy.source == "iptables chain INPUT ends in an unconditional reject"
    assert ns.inbound_policy.location is not None and ns.inbound_policy.location.line == 7


def test_iptables_docker_user_drop_filters(tmp_path: Path) -> None:
    rules = RULES_V4.replace(
        "COMMIT\n",
        ":DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n"
        "-A DOCKER-USER -i eth0 ! -s 192.0.2.0/24 -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n",
    )
    ns = host_ns(tmp_path, {"etc/iptables/rules.v4": rules, "srv/app/docker-compose.yml": COMPOSE})
    assert posture(ns)[:2] == ("reject", "filtered")
    assert ns.runtime_firewall.location is not None and ns.runtime_firewall.location.line == 10


@pytest.mark.parametrize(
    "chain",
    [
        # Docker's own default: a RETURN first, nothing filtered
        ":DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\n-A DOCKER-USER -j DROP\n",
        # a blocklist of one source leaves everyone else in
        ":DOCKER-USER - [0:0]\n-A DOCKER-USER -s 203.0.113.7 -j DROP\n",
    ],
)
def test_docker_user_that_restricts_nothing_still_bypasses(tmp_path: Path, chain: str) -> None:
    rules = RULES_V4.replace("COMMIT\n", chain + "COMMIT\n")
    ns = host_ns(tmp_path, {"etc/iptables/rules.v4": rules, "srv/app/docker-compose.yml": COMPOSE})
    assert ns.runtime_firewall.value == "bypasses"


def test_docker_user_drop_through_a_jump_as_ufw_docker_writes_it(tmp_path: Path) -> None:
    after = (
        "*filter\n:ufw-after-input - [0:0]\n:ufw-docker-logging-deny - [0:0]\n:DOCKER-USER - [0:0]\n"
        "-A DOCKER-USER -j RETURN -s 10.0.0.0/8\n"
        "-A DOCKER-USER -j ufw-docker-logging-deny -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -d 192.168.0.0/16\n"
        "-A DOCKER-USER -j RETURN\n-A ufw-docker-logging-deny -j DROP\nCOMMIT\n"
    )
    ns = host_ns(
        tmp_path,
        {"etc/default/ufw": UFW_DEFAULT, "etc/ufw/after.rules": after, "srv/app/docker-compose.yml": COMPOSE},
    )
    assert posture(ns)[:2] == ("drop", "filtered")
    assert ns.runtime_firewall.location is not None and ns.runtime_firewall.location.line == 6


def test_iptables_commands_in_a_script(tmp_path: Path) -> None:
    script = (
        "#!/bin/sh\nset -e\niptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n"
        "iptables -I DOCKER-USER -i eth0 ! -s 10.0.0.0/8 -j DROP\n"
    )
    ns = host_ns(tmp_path, {"firewall.sh": script, "docker-compose.yml": COMPOSE})
    assert posture(ns)[:3] == ("drop", "filtered", "firewall.sh:3")


@pytest.mark.parametrize(
    ("daemon", "value", "line"),
    [
        ('{\n  "log-driver": "journald",\n  "iptables": false\n}\n', "filtered", 3),
        ('{\n  "ip": "127.0.0.1",\n  "userland-proxy": false\n}\n', "loopback", 2),
        ('{\n  "iptables": true,\n  "ip": "0.0.0.0"\n}\n', "bypasses", 1),
    ],
)
def test_daemon_json(tmp_path: Path, daemon: str, value: str, line: int) -> None:
    ns = host_ns(
        tmp_path,
        {"etc/default/ufw": UFW_DEFAULT, "etc/docker/daemon.json": daemon, "srv/a/compose.yml": COMPOSE},
    )
    assert posture(ns)[1] == value
    assert posture(ns)[4] == f"etc/docker/daemon.json:{line}"


def test_daemon_json_is_read_by_name_only_in_a_docker_folder() -> None:
    assert not recognise.never_config("etc/docker/daemon.json")
    assert recognise.recognise("etc/docker/daemon.json", '{"iptables": false}').signature is not None
    assert recognise.never_config("app/daemon.json")
    assert recognise.never_config("etc/docker/other.json")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 200_000, "RecursionError"),
        ('{"iptables": fals', "JSONDecodeError"),
        ("[1, 2]", "must hold a JSON object"),
        ("{" + " " * (dockerd.MAX_BYTES + 1) + "}", "is not parsed"),
    ],
)
def test_daemon_json_hostile_or_broken_is_a_parse_error(text: str, reason: str) -> None:
    (fact,) = list(dockerd.read(Source("etc/docker/daemon.json", text)))
    assert isinstance(fact, ParseError) and reason in fact.message


def test_daemon_json_nesting_bomb_in_a_child_is_pp000(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/docker/daemon.json": '{"a": ' + "[" * 500_000 + "]" * 500_000 + "}"})
    run = run_bounded("check", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed
    found = json.loads(run.stdout)["findings"]
    assert [f["rule"] for f in found] == ["PP000"]


def test_rootless_runtime_filters(tmp_path: Path) -> None:
    ns = host_ns(
        tmp_path, {"etc/default/ufw": UFW_DEFAULT, "srv/a/compose.yml": COMPOSE}, runtime="docker-rootless"
    )
    assert posture(ns)[:2] == ("drop", "filtered")
    assert "port forwarder" in ns.runtime_firewall.source


def test_strictest_policy_wins_when_two_firewalls_are_read(tmp_path: Path) -> None:
    accept_all = NFT_DROP.replace("policy drop", "policy accept")
    ns = host_ns(tmp_path, {"etc/nftables.conf": accept_all, "etc/default/ufw": UFW_DEFAULT})
    assert ns.inbound_policy.value == "drop" and ns.inbound_policy.source.startswith("ufw")


def test_compose_under_srv_joins_the_tree_but_not_elsewhere() -> None:
    config = Config()
    assert hosts.scope_of("srv/app/docker-compose.yml", "compose", config)[0] == "."
    assert hosts.scope_of("opt/app/compose.yaml", "compose", config)[0] == "."
    assert hosts.scope_of("deploy/app/docker-compose.yml", "compose", config)[0] == "deploy/app"


def test_reader_posture_facts_are_plain_values() -> None:
    facts = list(dockerd.read(Source("etc/docker/daemon.json", '{"iptables": false}')))
    assert facts == [Posture("runtime", "filtered", dockerd.FILTERED, facts[0].location)]


def test_facts_command_shows_both_with_their_sources(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/nftables.conf": NFT_DROP, "srv/app/docker-compose.yml": COMPOSE})
    text = run_cli("facts", ".", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "inbound_policy = drop  (nftables chain input policy drop at etc/nftables.conf:6:" in text.stdout
    assert "runtime_firewall = bypasses  (published by rootful docker" in text.stdout
    data = json.loads(run_cli("facts", "--format", "json", ".", cwd=tmp_path).stdout)
    (ns,) = [n for h in data["hosts"] for n in h["namespaces"] if n["kind"] == "host"]
    assert ns["inbound_policy"]["value"] == "drop"
    assert ns["runtime_firewall"]["location"] is None
