"""Tests for the ufw reader: user.rules, /etc/default/ufw and ufw command lines in scripts."""

from __future__ import annotations

from portpolicy.model import Fact, FirewallRule, InvalidPort, ParseError, PortRange, Unresolved
from portpolicy.readers import shell, ufw
from portpolicy.readers.base import Source
from portpolicy.signatures.ufw import SIGNATURE
from tests.helpers import FIXTURES, scan_tree

ROOT = FIXTURES / "ufw"


def rules(facts: list[Fact], line: int | None = None) -> list[FirewallRule]:
    return [
        f
        for f in facts
        if isinstance(f, FirewallRule) and f.service != "policy" and (line is None or f.location.line == line)
    ]


def script() -> list[Fact]:
    rel = "bootstrap/setup-firewall.sh"
    return shell.read(Source(rel, (ROOT / rel).read_text()))


def test_matches() -> None:
    named = SIGNATURE.named
    assert named("etc/ufw/user.rules") and named("etc/ufw/user6.rules") and named("etc/ufw/ufw.conf")
    assert named("etc/ufw/before.rules") and named("etc/default/ufw")
    assert not named("etc/before.rules") and not named("etc/default/grub")


def test_user_rules() -> None:
    rel = "host/etc/ufw/user.rules"
    facts = list(ufw.read(Source(rel, (ROOT / rel).read_text())))
    assert all(f.firewall == "ufw" and f.ruleset_stateful for f in rules(facts))
    assert {(r.protocol, str(r.ports)) for r in rules(facts, 26) + rules(facts, 27)} == {
        ("tcp", "80"),
        ("udp", "80"),
    }
    (mosh,) = rules(facts, 33)
    assert mosh.ports == PortRange(60000, 61000) and mosh.direction == "in"
    (pg,) = rules(facts, 36)
    assert (pg.interface, pg.sources) == ("eth1", ("10.10.0.0/16",))
    (ntp,) = rules(facts, 42)
    assert ntp.ports is None and ntp.source_ports == PortRange(123, 123) and not ntp.stateful
    (limit,) = rules(facts, 23)  # "limit": accepted through ufw-user-limit-accept, shown at the jump
    assert (limit.action, str(limit.ports)) == ("accept", "22")


def test_default_policies() -> None:
    rel = "host/etc/default/ufw"
    facts = list(ufw.read(Source(rel, (ROOT / rel).read_text())))
    got = {(f.direction, f.action) for f in facts if isinstance(f, FirewallRule)}
    assert got == {("in", "drop"), ("out", "accept"), ("forward", "drop")}


def test_command_lines() -> None:
    facts = script()
    assert {(r.protocol, str(r.ports)) for r in rules(facts, 10)} == {("tcp", "53"), ("udp", "53")}
    (tcp,) = rules(facts, 9)
    assert (tcp.protocol, tcp.ports) == ("tcp", PortRange(8080, 8080))
    full = rules(facts, 12)
    assert {str(r.ports) for r in full} == {"80", "443", "8080-8090"}
    assert all(r.sources == ("10.0.0.0/8",) and r.family == "ipv4" for r in full)
    (lan,) = rules(facts, 13)
    assert lan.ports is None and lan.protocol == "any" and lan.sources == ("192.168.1.0/24",)
    (iface,) = rules(facts, 14)
    assert (iface.interface, str(iface.ports)) == ("eth0", "9100")
    (deny,) = rules(facts, 15)
    assert deny.action == "drop"
    assert not rules(facts, 17)  # delete is no rule
    (route,) = rules(facts, 18)
    assert (route.direction, route.interface, str(route.ports)) == ("forward", "wg0", "25")
    (dns_reply,) = rules(facts, 21)
    assert dns_reply.ports is None and dns_reply.source_ports == PortRange(53, 53)
    limit = rules(facts, 8)
    assert {(r.action, str(r.ports)) for r in limit} >= {("accept", "22")} and limit[0].evidence
    assert all(r.ruleset_stateful for r in rules(facts))


def test_command_line_errors_and_unresolved() -> None:
    facts = script()
    assert [f.value for f in facts if isinstance(f, InvalidPort)] == ["70000"]
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["OpenSSH"]
    (error,) = [f for f in facts if isinstance(f, ParseError)]
    assert "80,443" in error.message


def test_default_commands_in_script() -> None:
    policies = {
        (f.direction, f.action) for f in script() if isinstance(f, FirewallRule) and f.service == "policy"
    }
    assert policies == {("in", "drop"), ("out", "accept")}


def test_scan_reads_ufw_tree() -> None:
    report = scan_tree(ROOT)
    assert report.readers["host/etc/ufw/user.rules"] == "ufw"
    assert report.readers["bootstrap/setup-firewall.sh"] == "shell"
