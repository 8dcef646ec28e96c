"""The built-in rules' messages, word for word, in the variants the golden trees do not reach.

The conditional pieces of a message (a live socket's note, a firewall rule's place, the
service it came from, what limits its exposure) are the rules' own ``report.phrases``:
each variant is pinned here, so moving a piece of text never changes a message.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from portpolicy import engine, hosts
from portpolicy.config import Config
from portpolicy.model import (
    BindAddress,
    Fact,
    FirewallRule,
    KernelSetting,
    Listener,
    Location,
    PortPool,
    PortRange,
    RunAs,
)
from tests.helpers import scan_tree, write_tree

AT = Location("etc/x.conf", 3, 1)


def messages(rule_id: str, facts: list[tuple[str, Fact]], **config: Any) -> list[str]:
    """The messages one built-in rule (with its ``also`` sides) gives on one host of ``facts``."""
    bucket = hosts.HostBucket("h", "test", None, list(facts))
    _, derived = hosts.build([bucket], Config(**config))
    rules = [r for r in engine.load_rules() if r.id == rule_id]
    return [f.message for f in engine.evaluate(rules, derived)]


def listener(port: int, *, service: str = "web", line: int = 3) -> Listener:
    return Listener(
        service, "tcp", PortRange.single(port), BindAddress(), Location("etc/x.conf", line, 1), RunAs("app")
    )


def opening(ports: PortRange | None, **fields: Any) -> FirewallRule:
    values: dict[str, Any] = {"firewall": "nftables", "chain": "input", **fields}
    return FirewallRule(direction="in", action="accept", protocol="tcp", ports=ports, location=AT, **values)


def sysctl(key: str, value: str, line: int = 1) -> KernelSetting:
    return KernelSetting(f"net.ipv4.{key}", value, Location("etc/sysctl.d/90.conf", line, 1))


PP002_TAIL = (
    "web listens on tcp/40000, inside the ephemeral range 32768-60999 (default for platform linux): an outgoing"
    " connection can take the port first and the next start fails with EADDRINUSE; reserve it with"
    " `net.ipv4.ip_local_reserved_ports = 40000`"
)


def test_pp002_hints_a_move_only_with_room_below_the_range() -> None:
    assert messages("PP002", [("systemd", listener(40000))]) == [PP002_TAIL + " or move it below 32768"]
    low = messages("PP002", [("systemd", listener(1500))], kernel={"ip_local_port_range": "1024 60999"})
    assert low == [
        "web listens on tcp/1500, inside the ephemeral range 1024-60999 (command line): an outgoing connection"
        " can take the port first and the next start fails with EADDRINUSE; reserve it with"
        " `net.ipv4.ip_local_reserved_ports = 1500`"
    ]


def test_pp002_says_a_live_socket_may_have_an_automatic_port() -> None:
    assert messages("PP002", [("live", listener(40000))]) == [
        PP002_TAIL + " or move it below 32768 (seen on the live host: if the program asked for an automatic"
        " port, it gets another one on restart and this is harmless; if the port is configured, reserve it)"
    ]


def test_pp002_names_the_list_that_keeps_every_reservation() -> None:
    facts: list[tuple[str, Fact]] = [
        ("sysctl", sysctl("ip_local_reserved_ports", "50000")),
        ("systemd", listener(40000)),
    ]
    assert "`net.ipv4.ip_local_reserved_ports = 40000,50000`" in messages("PP002", facts)[0]


WIDE = PortRange(30000, 40000)


@pytest.mark.parametrize(
    ("fields", "start"),
    [
        ({}, "nftables chain input accepts new inbound tcp/30000-40000 from any source"),
        ({"chain": ""}, "nftables accepts new inbound tcp/30000-40000 from any source"),
        (
            {"firewall": "firewalld", "chain": "public", "service": "samba-dc"},
            "firewalld zone public accepts new inbound tcp/30000-40000 (service samba-dc) from any source",
        ),
        (
            {"firewall": "firewalld", "chain": "", "service": "policy"},
            "firewalld accepts new inbound tcp/30000-40000 from any source",
        ),
    ],
)
def test_pp003_names_the_rules_place_and_service(fields: dict[str, Any], start: str) -> None:
    found = messages("PP003", [("nftables", opening(WIDE, **fields))])
    assert found == [
        start + ", overlapping the ephemeral range 32768-60999 (default for platform linux): every process"
        " that binds an automatic port becomes reachable"
    ]


def test_pp003_says_which_sources_limit_the_exposure() -> None:
    rule = opening(WIDE, sources=("10.20.0.0/16", "ipset:monitoring"))
    assert messages("PP003", [("nftables", rule)]) == [
        "nftables chain input accepts new inbound tcp/30000-40000 from 10.20.0.0/16, ipset:monitoring,"
        " overlapping the ephemeral range 32768-60999 (default for platform linux): every process that binds"
        " an automatic port becomes reachable; only sources 10.20.0.0/16, ipset:monitoring match, so the"
        " exposure is limited to them"
    ]
    anyone = opening(WIDE, sources=("any",))
    assert messages("PP003", [("nftables", anyone)])[0].startswith(
        "nftables chain input accepts new inbound tcp/30000-40000 from any source, overlapping"
    )


def test_pp011_names_the_service_it_came_from() -> None:
    rule = opening(None, source_ports=PortRange.single(53), firewall="firewalld", chain="dmz", service="dns")
    assert messages("PP011", [("firewalld", rule)]) == [
        "firewalld zone dmz accepts inbound tcp packets from source port 53 (service dns) to every local port;"
        " the sender chooses its source port, so anyone sending from 53 reaches every service on the host."
        " Accept replies by connection state instead"
    ]


def test_pp013_both_sides() -> None:
    facts: list[tuple[str, Fact]] = [
        ("firewalld", opening(PortRange.single(8080), firewall="firewalld", chain="public", service="http")),
        ("systemd", listener(9090, line=5)),
    ]
    assert messages("PP013", facts) == [
        "firewalld zone public opens tcp/8080 (service http), but no listener on host h binds it: remove the"
        " opening, or declare the service that uses it",
        "web listens on tcp/9090 on *, but no firewall rule read for host h accepts it: open the port, or bind"
        " the listener to loopback if only local clients use it",
    ]


def test_pp006_cuts_a_long_value() -> None:
    long = "1" * 100
    assert messages("PP006", [("sysctl", sysctl("ip_unprivileged_port_start", long))]) == [
        f"the kernel refuses `net.ipv4.ip_unprivileged_port_start = {'1' * 80}...` with EINVAL:"
        f" {'1' * 40}... is above 65535; the previous value stays in force"
    ]
    short = messages("PP006", [("sysctl", sysctl("ip_local_port_range", "70000 80000"))])
    assert short == [
        "the kernel refuses `net.ipv4.ip_local_port_range = 70000 80000` with EINVAL: 70000 is outside"
        " 1-65535; the previous value stays in force"
    ]


def test_pp007_pp009_pp010_suggest_values() -> None:
    reserved = [
        ("sysctl", sysctl("ip_local_reserved_ports", "30000-32767", 1)),
        ("sysctl", sysctl("ip_local_reserved_ports", "50000", 2)),
    ]
    assert messages("PP007", reserved) == [
        "this write replaces the whole reserved list, so the earlier reservation of 30000-32767 is lost; write"
        " `net.ipv4.ip_local_reserved_ports = 30000-32767,50000` instead"
    ]
    parity = messages("PP009", [("sysctl", sysctl("ip_local_port_range", "40000 40000"))])
    assert parity == [
        "ip_local_port_range 40000-40000: start and end have the same parity, and the kernel logs"
        ' "prefer different parity for start/end values"; use `40000 40001`'
    ]
    pool = PortPool("nodeport", PortRange(30000, 40000), AT)
    assert messages("PP010", [("kubernetes", pool)]) == [
        "the NodePort range 30000-40000 overlaps the ephemeral range 32768-60999 (default for platform linux)"
        " and is not reserved: an outgoing connection can take a NodePort; reserve 32768-40000 in"
        " `net.ipv4.ip_local_reserved_ports` on the nodes (one write that keeps every reservation)"
    ]


def test_templates_name_fields_and_phrases_never_model_properties() -> None:
    """Words of a message belong to the rule (``report.phrases``), not to a property of the model."""
    for rule in engine.load_rules():
        for part in (rule, *rule.also):
            fields = {f.name for f in dataclasses.fields(engine.FACT_CLASSES[part.fact])}
            allowed = fields | {name for name, _ in part.phrases} | {"other"}
            texts = [part.message, *(t for _, t in part.cases), *(t for _, t in part.related)]
            texts += [t for _, choices in part.phrases for _, t in choices]
            for text in texts:
                named = set(re.findall(r"\{([a-z_][a-z0-9_]*)", text))
                assert named <= allowed, (rule.id, named - allowed)


def test_pp004_speaks_of_a_socket_unit_only_where_pid_1_binds_the_port(tmp_path: Path) -> None:
    unit = "[Service]\nUser=prom\nExecStart=/usr/bin/{0} --web.listen-address=:9100\n"
    write_tree(
        tmp_path,
        {
            "etc/systemd/system/node_exporter.service": unit.format("node_exporter"),
            "etc/systemd/system/blackbox.service": unit.format("blackbox_exporter"),
            "etc/systemd/system/metrics.socket": "[Socket]\nListenStream=9100\n",
        },
    )
    messages = {f.location.path.rsplit("/", 1)[-1]: f.message for f in scan_tree(tmp_path).findings}
    assert "whichever starts second fails with EADDRINUSE" in messages["node_exporter.service"]
    assert "socket unit" not in messages["node_exporter.service"]
    assert "the socket unit PID 1 sets up second fails" in messages["metrics.socket"]
