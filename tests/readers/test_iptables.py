"""Tests for the iptables reader: iptables-save files and iptables command lines in scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy import recognise, signatures
from portpolicy.model import Fact, FirewallRule, InvalidPort, ParseError, PortRange, Unresolved
from portpolicy.readers import iptables
from portpolicy.readers.base import Source
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree

ROOT = FIXTURES / "iptables"


def read(rel: str) -> list[Fact]:
    """The file read by the reader recognition picks for it (iptables-save or shell script)."""
    text = (ROOT / rel).read_text()
    signature = recognise.recognise(rel, text).signature
    assert signature is not None, rel
    return list(signatures.reader(signature).read(Source(rel, text)))


def parse(text: str, path: str = "etc/iptables/rules.v4") -> list[Fact]:
    return iptables.read(Source(path, text))


def rules(facts: list[Fact]) -> list[FirewallRule]:
    return [f for f in facts if isinstance(f, FirewallRule) and f.service != "policy"]


def at_line(facts: list[Fact], line: int) -> list[FirewallRule]:
    return [f for f in rules(facts) if f.location.line == line]


@pytest.mark.parametrize(
    "path, expected",
    [
        ("etc/iptables/rules.v4", ["iptables"]),
        ("etc/iptables/rules.v6", ["iptables"]),
        ("etc/sysconfig/iptables", ["iptables", "shell"]),
        ("etc/sysconfig/ip6tables", ["iptables", "shell"]),
        ("etc/iptables/custom.rules", ["iptables"]),
        ("roles/fw/templates/rules.v4.j2", ["iptables"]),
        ("scripts/firewall.sh", ["shell"]),
        ("roles/fw/templates/firewall.sh.j2", ["shell"]),
        ("roles/fw/templates/iptables.j2", ["shell"]),
        ("etc/network/if-pre-up.d/iptables", ["shell"]),
        ("etc/udev/rules.d/70-net.rules", []),
        ("roles/web/templates/nginx.conf.j2", []),
        ("etc/ufw/user.rules", []),
    ],
)
def test_name_priors(path: str, expected: list[str]) -> None:
    """Which of the iptables-save and shell-script formats a path suggests (content decides)."""
    named = [
        s.name for s in (signatures.by_name("iptables"), signatures.by_name("shell")) if s and s.named(path)
    ]
    assert named == expected


def test_content_decides_between_a_save_file_and_a_script() -> None:
    save = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    script = "#!/bin/sh\niptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n"
    for text, name in ((save, "iptables"), (script, "shell")):
        found = recognise.recognise("etc/sysconfig/iptables", text).signature
        assert found is not None and found.name == name


def test_docker_host_save_file() -> None:
    facts = read("docker-host/etc/iptables/rules.v4")
    multiport = at_line(facts, 27)
    assert {str(r.ports) for r in multiport} == {"80", "443", "8000-8010"}
    assert all(r.family == "ipv4" and r.direction == "in" and r.ruleset_stateful for r in multiport)
    (nodeport,) = at_line(facts, 28)
    assert nodeport.ports == PortRange(30000, 32767) and not nodeport.ports.overlaps(PortRange(32768, 60999))
    (wide,) = at_line(facts, 29)
    assert wide.ports == PortRange(1024, 65535) and wide.sources == ("10.20.0.0/16",)
    (docker,) = at_line(facts, 37)
    assert (docker.direction, docker.chain, str(docker.ports)) == ("forward", "DOCKER", "5432")
    # nat table REDIRECT/DNAT rules are not filter accepts; ICMP opens no port
    assert not [r for r in rules(facts) if r.location.line in (9, 12, 30)]
    # the SSH user chain is reached with the caller's "-p tcp --dport 22"
    ssh = {(r.action, str(r.ports), r.sources) for r in rules(facts) if r.chain == "SSH"}
    assert ssh == {("accept", "22", ("192.0.2.0/24",)), ("drop", "22", ())}
    (lo,) = at_line(facts, 23)
    assert lo.interface == "lo" and lo.ports is None


def test_policies() -> None:
    facts = read("docker-host/etc/iptables/rules.v4")
    policies = {(f.chain, f.action) for f in facts if isinstance(f, FirewallRule) and f.service == "policy"}
    assert policies == {("INPUT", "drop"), ("FORWARD", "drop"), ("OUTPUT", "accept")}
    rhel = read("rhel/etc/sysconfig/iptables")
    # INPUT and FORWARD end in an unconditional REJECT: their ACCEPT policy is never reached
    assert {f.chain for f in rhel if isinstance(f, FirewallRule) and f.service == "policy"} == {"OUTPUT"}


def test_state_matches() -> None:
    facts = read("rhel/etc/sysconfig/iptables")
    (established,) = at_line(facts, 8)
    assert established.stateful and established.ports is None
    (ssh,) = at_line(facts, 11)
    assert not ssh.stateful and ssh.ruleset_stateful  # --state NEW


def test_legacy_script() -> None:
    facts = read("legacy-script/firewall.sh")
    (dns,) = at_line(facts, 17)
    assert dns.ports is None and dns.source_ports == PortRange(53, 53) and not dns.stateful
    assert not dns.ruleset_stateful
    assert {str(r.ports) for r in at_line(facts, 20)} == {"80", "443"}  # continuation lines joined
    (ssh,) = at_line(facts, 19)
    assert ssh.ports == PortRange(22, 22)  # service name
    (wide,) = at_line(facts, 23)
    assert wide.ports == PortRange(1024, 65535) and wide.sources == ()
    (low,) = at_line(facts, 24)
    assert (low.action, low.ports) == ("drop", PortRange(0, 1023))
    assert {str(r.ports) for r in at_line(facts, 25)} == {"1-8079", "8081-65535"}
    invalid = {f.location.line: f.value for f in facts if isinstance(f, InvalidPort)}
    assert invalid == {27: "2000:1000", 28: "65536"}
    unresolved = {f.location.line: f.value for f in facts if isinstance(f, Unresolved)}
    assert unresolved == {26: "$APP_PORT", 36: "$port"}
    assert not at_line(facts, 29)  # -t nat REDIRECT
    v6 = [r for r in rules(facts) if r.family == "ipv6"]
    assert {str(r.ports) for r in v6} == {"None", "22"} and all(r.ruleset_stateful for r in v6)


def test_script_without_firewall_commands_is_skipped_with_the_reason(tmp_path: Path) -> None:
    found = recognise.recognise("backup.sh", (ROOT / "legacy-script" / "backup.sh").read_text())
    assert found.signature is None
    report = scan_tree(ROOT / "legacy-script")
    assert "backup.sh" not in report.files
    (skip,) = [s for s in report.skipped if s.path == "backup.sh"]
    assert skip.reason == "named like a shell script that runs firewall commands, but its content is not"


def test_open_ended_and_multiport_forms() -> None:
    facts = parse(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 1024: -j ACCEPT\n"
        "-A INPUT -p udp -m multiport --sports 53,123 -m conntrack --ctstate ESTABLISHED -j ACCEPT\n"
        "-A INPUT -p tcp ! -s 10.0.0.0/8 --destination-port 25 -j REJECT\nCOMMIT\n"
    )
    (open_end,) = at_line(facts, 3)
    assert open_end.ports == PortRange(1024, 65535)
    replies = at_line(facts, 4)
    assert {str(r.source_ports) for r in replies} == {"53", "123"} and all(r.stateful for r in replies)
    (smtp,) = at_line(facts, 5)
    assert smtp.action == "reject" and smtp.sources == ()  # negated source: nearly everyone


def test_ip6tables_save_family() -> None:
    facts = parse(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 443 -j ACCEPT\nCOMMIT\n", "etc/iptables/rules.v6"
    )
    assert {r.family for r in rules(facts)} == {"ipv6"}


def test_malformed_save_file() -> None:
    facts = parse(
        "-A INPUT -p tcp --dport 22 -j ACCEPT\n*filter\n:INPUT\n-A INPUT -p tcp --dport 'x -j ACCEPT\n"
    )
    assert len([f for f in facts if isinstance(f, ParseError)]) == 3


def test_cli_reports_sport_bypass_and_wide_accept() -> None:
    result = run_cli("check", "--format", "json", str(ROOT / "legacy-script"))
    assert result.returncode == 1, result.stderr
    assert '"PP005"' in result.stdout


def test_templated_script(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "templates/firewall.sh.j2": (
                "#!/bin/sh\n{% for p in fw_ports %}\niptables -A INPUT -p tcp --dport {{ p }} -j ACCEPT\n{% endfor %}\n"
                "iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n"
            )
        },
    )
    report = scan_tree(tmp_path)
    assert [u.value for u in report.unresolved] == ["{{p}}"]
    assert [str(f.ports) for f in report.facts if isinstance(f, FirewallRule)] == ["443"]


def test_rules_narrowed_by_unmodelled_matches_claim_no_port() -> None:
    facts = parse(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -m addrtype --dst-type BROADCAST -j ACCEPT\n"
        "-A INPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT\n-A INPUT -p tcp --syn -j DROP\nCOMMIT\n"
    )
    assert [(r.location.line, str(r.ports)) for r in rules(facts)] == [(4, "5353")]


def test_prose_mentioning_ufw_is_not_a_firewall_script() -> None:
    text = "#!/bin/sh\ncat <<EOF\nThe role deletes every `ufw` rule that doesn't have a comment\nEOF\necho 'ufw is nice\n"
    assert recognise.recognise("gen.sh", text).signature is None
