"""PP003, PP011 and PP013 end to end, the same verdicts whatever firewall syntax says it.

Each case is one realistic file per syntax; the rule must not care which tool wrote it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli, scan_tree, write_tree

WIDE_OPENINGS = {
    "nftables": (
        "etc/nftables.conf",
        "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
        "    ct state established,related accept\n    tcp dport {port} accept\n  }\n}\n",
        "{a}-{b}",
    ),
    "iptables-save": (
        "etc/iptables/rules.v4",
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport {port} -j ACCEPT\nCOMMIT\n",
        "{a}:{b}",
    ),
    "iptables script": (
        "scripts/firewall.sh",
        "#!/bin/sh\nset -e\nIPT=/sbin/iptables\n$IPT -P INPUT DROP\n"
        "$IPT -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
        "$IPT -A INPUT -p tcp --dport {port} -j ACCEPT\n",
        "{a}:{b}",
    ),
    "ufw command": (
        "provision/ufw.sh",
        "#!/bin/bash\nufw default deny incoming\nufw allow 22/tcp\nufw allow {port}/tcp\nufw --force enable\n",
        "{a}:{b}",
    ),
    "firewalld zone": (
        "etc/firewalld/zones/public.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <short>Public</short>\n'
        '  <service name="ssh"/>\n  <port protocol="tcp" port="{port}"/>\n</zone>\n',
        "{a}-{b}",
    ),
}


def _opening(tmp_path: Path, syntax: str, a: int, b: int) -> list[tuple[str, str]]:
    path, template, spec = WIDE_OPENINGS[syntax]
    write_tree(tmp_path, {path: template.replace("{port}", spec.format(a=a, b=b))})
    return [(f.rule, f.severity) for f in scan_tree(tmp_path).findings]


@pytest.mark.parametrize("syntax", sorted(WIDE_OPENINGS))
def test_wide_opening_over_the_ephemeral_range_in_every_syntax(tmp_path: Path, syntax: str) -> None:
    assert _opening(tmp_path, syntax, 1024, 65535) == [("PP003", "warning")]


@pytest.mark.parametrize("syntax", sorted(WIDE_OPENINGS))
def test_nodeport_range_ends_just_below_the_linux_ephemeral_range(tmp_path: Path, syntax: str) -> None:
    assert _opening(tmp_path, syntax, 30000, 32767) == []
    assert _opening(tmp_path, syntax, 30000, 32768) == [("PP003", "warning")]


def test_threshold_counts_ports_and_is_configurable(tmp_path: Path) -> None:
    # mosh's 60000-61000 (1001 ports) is wide by default; a 100-port passive FTP range is not
    assert _opening(tmp_path, "nftables", 60000, 61000) == [("PP003", "warning")]
    assert _opening(tmp_path, "nftables", 40000, 40099) == []
    write_tree(tmp_path, {".portpolicy.yml": "wide-range: 100\n"})
    assert _opening(tmp_path, "nftables", 40000, 40099) == [("PP003", "warning")]


def test_reserved_ports_cover_the_opening(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/50-ftp.conf": "net.ipv4.ip_local_reserved_ports = 40000-41999\n"})
    assert _opening(tmp_path, "nftables", 40000, 41999) == []
    assert _opening(tmp_path, "nftables", 40000, 42999) == [("PP003", "warning")]


def test_a_lowered_ephemeral_range_changes_the_verdict(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/60-net.conf": "net.ipv4.ip_local_port_range = 10000 64999\n"})
    assert _opening(tmp_path, "nftables", 30000, 32767) == [("PP003", "warning")]


def test_source_restriction_downgrades_to_info_and_says_so(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nftables.conf": "table inet filter {\n  chain input {\n"
            "    type filter hook input priority 0; policy drop;\n"
            "    ip saddr 10.20.0.0/16 tcp dport 1024-65535 accept\n  }\n}\n"
        },
    )
    (finding,) = scan_tree(tmp_path).findings
    assert (finding.rule, finding.severity) == ("PP003", "info")
    assert "only sources 10.20.0.0/16 match" in finding.message


def test_samba_dc_and_workstation_zone_from_the_catalogue(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "dc01/etc/firewalld/zones/internal.xml": '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n'
            '  <short>Internal</short>\n  <interface name="eth1"/>\n  <service name="samba-dc"/>\n</zone>\n',
            "ws01/etc/firewalld/zones/workstation.xml": '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n'
            '  <short>Workstation</short>\n  <port protocol="udp" port="1025-65535"/>\n'
            '  <port protocol="tcp" port="1025-65535"/>\n</zone>\n',
        },
    )
    found = [(f.rule, f.location.path, f.location.line) for f in scan_tree(tmp_path).findings]
    assert found == [
        ("PP003", "dc01/etc/firewalld/zones/internal.xml", 5),
        ("PP003", "ws01/etc/firewalld/zones/workstation.xml", 4),
        ("PP003", "ws01/etc/firewalld/zones/workstation.xml", 5),
    ]
    samba = scan_tree(tmp_path).findings[0]
    assert "tcp/49152-65535 (service samba-dc) from any source" in samba.message


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("fw.sh", "iptables -A INPUT -p udp --sport 53 -j ACCEPT\n", ["PP011"]),
        ("fw.sh", "iptables -A INPUT -p udp -m udp --sport 123 -j ACCEPT\n", ["PP011"]),
        # a destination port, or a state match, closes the hole
        ("fw.sh", "iptables -A INPUT -p udp --sport 53 --dport 5353 -j ACCEPT\n", []),
        ("fw.sh", "iptables -A INPUT -p udp --sport 53 -m conntrack --ctstate ESTABLISHED -j ACCEPT\n", []),
        # a drop by source port is no hole
        ("fw.sh", "iptables -A INPUT -p udp --sport 53 -j DROP\n", []),
        (
            "etc/nftables.conf",
            "table ip filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
            "    udp sport 53 accept\n  }\n}\n",
            ["PP011"],
        ),
        (
            "etc/nftables.conf",
            "table ip filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
            "    ct state new udp sport 53 accept\n  }\n}\n",
            ["PP011"],
        ),
        (
            "etc/firewalld/zones/public.xml",
            '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <source-port protocol="udp" port="53"/>\n</zone>\n',
            ["PP011"],
        ),
    ],
)
def test_source_port_bypass(tmp_path: Path, path: str, text: str, expected: list[str]) -> None:
    write_tree(tmp_path, {path: text})
    assert [f.rule for f in scan_tree(tmp_path).findings] == expected


def test_firewall_and_listener_disagree_only_when_selected_and_both_sides_are_known(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nftables.conf": "table inet filter {\n  chain input {\n"
            "    type filter hook input priority 0; policy drop;\n    iif lo accept\n"
            "    ct state established,related accept\n    tcp dport { 22, 8080 } accept\n  }\n}\n",
            "etc/ssh/sshd_config": "Port 22\n",
            "etc/systemd/system/api.socket": "[Socket]\nListenStream=8443\n",
            "etc/systemd/system/admin.socket": "[Socket]\nListenStream=127.0.0.1:9000\n",
        },
    )
    assert scan_tree(tmp_path).findings == []
    found = [(f.rule, f.location.path, f.location.line) for f in scan_tree(tmp_path, select="PP013").findings]
    # 8080 is opened for nothing; 8443 is opened by nothing; 22 matches; loopback 9000 needs no opening
    assert found == [
        ("PP013", "etc/nftables.conf", 6),
        ("PP013", "etc/systemd/system/api.socket", 2),
    ]
    # with no firewall read for the host, the listener side says nothing
    (tmp_path / "etc/nftables.conf").unlink()
    assert scan_tree(tmp_path, select="PP013").findings == []


def test_facts_show_firewall_rules_with_host_direction_action_and_source(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "gw/etc/iptables/rules.v4": "*filter\n:INPUT DROP [0:0]\n"
            "-A INPUT -s 192.0.2.0/24 -p tcp -m multiport --dports 80,443 -j ACCEPT\n"
            "-A INPUT -p tcp --dport 25 -j REJECT\nCOMMIT\n"
        },
    )
    result = run_cli("facts", ".", cwd=tmp_path)
    table = result.stdout.split("firewall rules:", 1)[1].strip().splitlines()
    assert table[0].split() == [
        "location",
        "host",
        "firewall",
        "chain",
        "dir",
        "action",
        "proto",
        "ports",
        "source",
        "state",
    ]
    assert [line.split() for line in table[1:5]] == [
        [
            "gw/etc/iptables/rules.v4:2:8",
            "gw",
            "iptables",
            "INPUT",
            "in",
            "drop",
            "any",
            "all",
            "[policy]",
            "any",
            "none",
        ],
        [
            "gw/etc/iptables/rules.v4:3:1",
            "gw",
            "iptables",
            "INPUT",
            "in",
            "accept",
            "tcp",
            "80",
            "192.0.2.0/24",
            "none",
        ],
        [
            "gw/etc/iptables/rules.v4:3:1",
            "gw",
            "iptables",
            "INPUT",
            "in",
            "accept",
            "tcp",
            "443",
            "192.0.2.0/24",
            "none",
        ],
        [
            "gw/etc/iptables/rules.v4:4:1",
            "gw",
            "iptables",
            "INPUT",
            "in",
            "reject",
            "tcp",
            "25",
            "any",
            "none",
        ],
    ]
