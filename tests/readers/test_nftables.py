"""Tests for the nftables reader: block and flat syntax, sets, defines, vmaps, includes, templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import Fact, FirewallRule, InvalidPort, ParseError, PortRange, Unresolved
from portpolicy.readers import nftables
from portpolicy.readers.base import Source
from portpolicy.signatures.nftables import SIGNATURE
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree

HOST = FIXTURES / "nftables" / "host"


def parse(text: str, path: str = "etc/nftables.conf") -> list[Fact]:
    return nftables.assemble(list(nftables.read(Source(path, text))))


def rules(facts: list[Fact]) -> list[FirewallRule]:
    return [f for f in facts if isinstance(f, FirewallRule)]


def opened(facts: list[Fact]) -> set[tuple[str, str, str | None]]:
    return {
        (r.action, r.protocol, str(r.ports) if r.ports else None)
        for r in rules(facts)
        if r.service != "policy"
    }


BASE = "table inet filter {{\n chain input {{\n  type filter hook input priority 0; policy drop;\n{body}\n }}\n}}\n"


def chain(body: str) -> list[Fact]:
    return parse(BASE.format(body=body))


@pytest.mark.parametrize(
    "path, expected",
    [
        ("etc/nftables.conf", True),
        ("etc/nftables.d/50-web.nft", True),
        ("etc/nftables.d/50-web.conf", True),
        ("roles/fw/templates/nftables.conf.j2", True),
        ("firewall/host.nft.j2", True),
        ("etc/nginx/nginx.conf", False),
        ("docs/nftables.md", False),
    ],
)
def test_matches(path: str, expected: bool) -> None:
    assert SIGNATURE.named(path) is expected


def test_single_ports_sets_ranges_and_service_names() -> None:
    facts = chain(
        "  tcp dport 22 accept\n  tcp dport { 80, https, 8000-8010 } accept\n  udp dport domain drop"
    )
    assert opened(facts) == {
        ("accept", "tcp", "22"),
        ("accept", "tcp", "80"),
        ("accept", "tcp", "443"),
        ("accept", "tcp", "8000-8010"),
        ("drop", "udp", "53"),
    }
    first = rules(facts)[0]
    assert (first.location.line, first.location.column, first.family, first.direction) == (4, 3, "dual", "in")


def test_nodeport_range_is_exact() -> None:
    (rule,) = [r for r in rules(chain("  udp dport 30000-32767 accept")) if r.service != "policy"]
    assert rule.ports == PortRange(30000, 32767)
    assert not rule.ports.overlaps(PortRange(32768, 60999))


def test_th_dport_with_l4proto_set_gives_one_fact_per_protocol() -> None:
    facts = chain("  meta l4proto { tcp, udp } th dport 53 accept")
    assert opened(facts) == {("accept", "tcp", "53"), ("accept", "udp", "53")}


def test_negated_port_is_the_complement() -> None:
    facts = chain("  tcp dport != 80 accept")
    assert {str(r.ports) for r in rules(facts) if r.service != "policy"} == {"1-79", "81-65535"}


def test_named_set_define_and_saddr() -> None:
    facts = parse(
        "define PORTS = { 80, 443 }\ndefine LAN = 10.0.0.0/8\n"
        "table ip filter {\n set web { type inet_service; elements = { 8080 } }\n"
        " chain input { type filter hook input priority 0;\n"
        "  tcp dport $PORTS ip saddr $LAN accept\n  tcp dport @web accept\n }\n}\n"
    )
    got = {(str(r.ports), r.sources, r.family) for r in rules(facts) if r.service != "policy"}
    assert got == {("80", ("10.0.0.0/8",), "ipv4"), ("443", ("10.0.0.0/8",), "ipv4"), ("8080", (), "ipv4")}


def test_verdict_map_gives_each_port_its_verdict() -> None:
    facts = chain("  tcp dport vmap { 22 : accept, 25 : drop }")
    assert opened(facts) == {("accept", "tcp", "22"), ("drop", "tcp", "25")}


def test_state_matches_and_ruleset_stateful() -> None:
    facts = chain(
        "  ct state established,related accept\n  udp sport 53 accept\n  ct state new tcp dport 22 accept"
    )
    est, sport, ssh = [r for r in rules(facts) if r.service != "policy"]
    assert est.stateful and est.ports is None
    assert not sport.stateful and sport.ports is None and sport.source_ports == PortRange(53, 53)
    assert not ssh.stateful  # "new" admits new connections
    assert all(r.ruleset_stateful for r in (est, sport, ssh))
    stateless = chain("  udp sport 53 accept")
    assert not any(r.ruleset_stateful for r in rules(stateless))


def test_jump_carries_the_callers_match() -> None:
    facts = parse(
        "table inet filter {\n chain input { type filter hook input priority 0; policy drop;\n"
        '  tcp dport 22 jump ssh\n  iifname "wg0" jump vpn\n }\n'
        " chain ssh { ip saddr 192.0.2.0/24 accept\n  drop\n }\n"
        " chain vpn { udp dport 5353 accept }\n"
        " chain unrelated { tcp dport 9999 accept }\n}\n"
    )
    got = {
        (r.chain, r.action, r.protocol, str(r.ports), r.sources, r.interface, r.location.line)
        for r in rules(facts)
        if r.service != "policy"
    }
    assert got == {
        ("ssh", "accept", "tcp", "22", ("192.0.2.0/24",), "", 6),
        ("ssh", "drop", "tcp", "22", (), "", 3),  # unconditional verdict: shown at the jump
        ("vpn", "accept", "udp", "5353", (), "wg0", 9),
    }


def test_policy_fact_and_unreachable_policy() -> None:
    (policy,) = [r for r in rules(chain("  tcp dport 22 accept")) if r.service == "policy"]
    assert (policy.action, policy.ports, policy.protocol, policy.chain) == ("drop", None, "any", "input")
    assert not [r for r in rules(chain("  tcp dport 22 accept\n  reject")) if r.service == "policy"]


def test_non_filter_and_non_port_rules_give_no_fact() -> None:
    facts = parse(
        "table ip nat {\n chain prerouting { type nat hook prerouting priority -100;\n"
        "  tcp dport 80 redirect to :8080\n }\n}\n"
        "table inet filter {\n chain input { type filter hook input priority 0; policy accept;\n"
        "  icmp type echo-request accept\n  meta l4proto ipv6-icmp accept\n  tcp dport 22 dnat to 10.0.0.1\n }\n}\n"
    )
    assert [r.service for r in rules(facts)] == ["policy"]


def test_flat_command_form_and_nft_prefix() -> None:
    facts = parse(
        "add table inet filter\nadd chain inet filter input { type filter hook input priority 0 ; policy drop ; }\n"
        "add rule inet filter input tcp dport 443 accept\nnft add rule inet filter input udp dport 51820 accept\n",
        "fw/rules.nft",
    )
    assert opened(facts) == {("accept", "tcp", "443"), ("accept", "udp", "51820")}


def test_invalid_ports_and_unknown_service() -> None:
    facts = chain(
        "  tcp dport 65536 accept\n  tcp dport 2000-1000 accept\n  tcp dport 0 accept\n  tcp dport nosuch accept"
    )
    invalid = [f for f in facts if isinstance(f, InvalidPort)]
    assert [f.value for f in invalid] == ["65536", "2000-1000", "0"]
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["nosuch"]
    assert not opened(facts)


def test_malformed_input_is_a_parse_error() -> None:
    facts = parse((FIXTURES / "nftables" / "broken" / "nftables.conf").read_text(), "broken/nftables.conf")
    messages = [f.message for f in facts if isinstance(f, ParseError)]
    assert any("never closed" in m for m in messages)
    assert any("unterminated string" in m for m in messages)
    assert parse("tabel inet filter { }\n")[0].kind == "parse_error"


def test_jinja_template_loops_are_unresolved_not_guessed() -> None:
    path = "role/templates/nftables.conf.j2"
    facts = parse((FIXTURES / "nftables" / path).read_text(), path)
    unresolved = {f.value for f in facts if isinstance(f, Unresolved)}
    assert "{{ port }}" in unresolved
    assert any(v.startswith("{{ nft_input_policy") for v in unresolved)
    assert not [r for r in rules(facts) if r.service == "policy"]
    assert ("accept", "tcp", "32768-60999") in opened(facts)


def test_includes_are_spliced_once(tmp_path: Path) -> None:
    report = scan_tree(HOST.parent / "host")
    facts = [f for f in report.facts if isinstance(f, FirewallRule)]
    mosh = [f for f in facts if f.ports == PortRange(60000, 61000)]
    assert len(mosh) == 1 and mosh[0].location.path.endswith("50-mosh.nft")
    assert mosh[0].direction == "in" and mosh[0].ruleset_stateful
    syslog = {(f.protocol, f.sources) for f in facts if f.ports == PortRange(514, 514)}
    assert syslog == {("tcp", ("10.40.0.0/16",)), ("udp", ("10.40.0.0/16",))}


def test_missing_include_is_unresolved(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"etc/nftables.conf": 'include "/etc/nftables/main.nft"\ninclude "/etc/nft.d/*.nft"\n'}
    )
    report = scan_tree(tmp_path)
    assert [u.value for u in report.unresolved] == ["/etc/nftables/main.nft"]


def test_cli_check_and_facts_on_the_host_fixture() -> None:
    result = run_cli("check", "--format", "json", str(HOST))
    assert result.returncode in (0, 1), result.stderr
    facts = run_cli("facts", str(HOST))
    assert "nftables" in facts.stdout and "60000-61000" in facts.stdout
    assert "30000-32767" in facts.stdout


def test_rules_narrowed_by_unmodelled_matches_claim_no_port() -> None:
    facts = chain(
        "  fib daddr type broadcast drop\n  ip daddr 224.0.0.251 udp dport 5353 accept\n  ip daddr 10.0.0.5 accept"
    )
    assert opened(facts) == {("accept", "udp", "5353")}


def test_fragment_with_top_level_chain_is_read() -> None:
    facts = parse(
        "chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 8443 accept\n}\n",
        "etc/nftables.d/input.nft",
    )
    assert opened(facts) == {("accept", "tcp", "8443")}
    loose = parse("tcp dport 8443 accept\n", "etc/nftables.d/extra.nft")
    assert [f.kind for f in loose] == ["unresolved"]
