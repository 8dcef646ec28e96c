"""firewall-cmd command lines in shell scripts: ports, services, source ports, rich rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import FirewallRule, InvalidPort, PortRange, Unresolved
from portpolicy.readers import firewall_cmd, shell
from portpolicy.readers.base import Source
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree

SCRIPT = FIXTURES / "firewall_cmd" / "provision" / "firewall.sh"


def facts_of(text: str, path: str = "provision/firewall.sh") -> list[object]:
    return list(shell.read(Source(path, text)))


def test_the_provisioning_script() -> None:
    facts = facts_of(SCRIPT.read_text())
    rules = [f for f in facts if isinstance(f, FirewallRule)]
    got = [
        (r.location.line, r.chain, r.protocol, r.port_text, str(r.source_ports), r.sources, r.service)
        for r in rules
    ]
    assert got == [
        (3, "public", "tcp", "22", "None", (), "ssh"),
        (3, "public", "tcp", "443", "None", (), "https"),
        (4, "public", "tcp", "8080", "None", (), ""),
        (4, "public", "udp", "60000-61000", "None", (), ""),
        (5, "", "tcp", "1024-65535", "None", ("10.0.0.0/8",), ""),
        (6, "", "udp", "all ports", "53", (), ""),
    ]
    assert all(r.firewall == "firewalld" and r.ruleset_stateful and r.direction == "in" for r in rules)
    assert [(f.location.line, f.value) for f in facts if isinstance(f, InvalidPort)] == [(8, "70000")]
    assert [(f.location.line, f.value) for f in facts if isinstance(f, Unresolved)] == [
        (9, "${APP_PORT}/tcp")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "firewall-cmd --permanent --remove-port=9090/tcp",
        "firewall-cmd --reload",
        "firewall-cmd --list-all",
        "firewall-cmd --query-port=80/tcp",
        "firewall-cmd --permanent --new-zone=dmz2",
    ],
)
def test_commands_that_open_nothing(line: str) -> None:
    assert facts_of(f"#!/bin/sh\n{line}\n") == []


def test_offline_cmd_and_unknown_service() -> None:
    facts = facts_of("firewall-offline-cmd --add-service=no-such-thing --add-port=2049/tcp\n")
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["no-such-thing"]
    assert [f.ports for f in facts if isinstance(f, FirewallRule)] == [PortRange(2049, 2049)]


def test_rich_rule_parser_is_shared_with_the_ansible_module() -> None:
    fact = firewall_cmd.rich_rule(
        'rule family="ipv6" source address="2001:db8::/32" port port="5432" protocol="tcp" accept',
        Source("x.sh", "").at(1),
        "internal",
    )
    assert isinstance(fact, FirewallRule)
    assert (fact.family, fact.sources, fact.ports, fact.chain) == (
        "ipv6",
        ("2001:db8::/32",),
        PortRange(5432, 5432),
        "internal",
    )
    assert firewall_cmd.rich_rule('rule service name="http" accept', Source("x.sh", "").at(1), "") is None


def test_rules_on_the_script(tmp_path: Path) -> None:
    write_tree(tmp_path, {"provision/firewall.sh": SCRIPT.read_text()})
    found = [(f.rule, f.severity, f.location.line) for f in scan_tree(tmp_path).findings]
    assert found == [
        ("PP003", "warning", 4),
        ("PP003", "info", 5),
        ("PP011", "warning", 6),
        ("PP005", "error", 8),
    ]
    result = run_cli("facts", ".", cwd=tmp_path)
    assert "firewalld  public  in   accept  udp    60000-61000" in result.stdout
