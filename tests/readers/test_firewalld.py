"""Tests for the firewalld reader: zone, service and policy XML, the catalogue, and safety."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from portpolicy import recognise
from portpolicy.model import FirewallRule, InvalidPort, ParseError, PortRange, Unresolved
from portpolicy.readers import firewalld, firewalld_catalogue
from portpolicy.readers.base import Source
from portpolicy.signatures.firewalld import SIGNATURE
from tests.helpers import REPO, run_cli, scan_tree, write_tree

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "firewalld"
ZONES = "etc/firewalld/zones"


def scan(files: dict[str, str]) -> list[object]:
    """Read every file, then assemble them as one host, as the pipeline does."""
    facts: list[object] = []
    for path, text in files.items():
        assert SIGNATURE.named(path), path
        facts.extend(firewalld.read(Source(path, text)))
    return list(firewalld.assemble(facts))  # type: ignore[arg-type]


def fixture(name: str) -> list[object]:
    root = FIXTURES / name
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and SIGNATURE.named(p.relative_to(root).as_posix())
    }
    return scan(files)


def only(facts: Sequence[object], kind: type[T]) -> list[T]:
    return [f for f in facts if isinstance(f, kind)]


def rules(facts: Sequence[object], chain: str | None = None) -> list[FirewallRule]:
    return [r for r in only(facts, FirewallRule) if chain is None or r.chain == chain]


def zone(body: str, name: str = "public", attrs: str = "") -> list[object]:
    return scan(
        {f"{ZONES}/{name}.xml": f'<?xml version="1.0" encoding="utf-8"?>\n<zone{attrs}>\n{body}</zone>\n'}
    )


def ports(facts: Sequence[object]) -> list[tuple[str, str, str]]:
    return [(r.protocol, r.port_text, r.service) for r in rules(facts)]


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "path",
    [
        "etc/firewalld/zones/public.xml",
        "usr/lib/firewalld/services/ssh.xml",
        "etc/firewalld/policies/lan-to-host.xml",
        "etc/firewalld/firewalld.conf",
        "roles/firewall/templates/public.xml.j2",
        "roles/base/files/firewalld-internal.xml",
        "roles/base/files/zones/internal.xml",
        "firewalld/config/zones/trusted.xml",
    ],
)
def test_names_of_firewalld_files(path: str) -> None:
    assert SIGNATURE.named(path)


@pytest.mark.parametrize(
    "path", ["pom.xml", "src/main/resources/services/app.xml", "docs/index.xml", "etc/nginx/nginx.conf"]
)
def test_leaves_other_files_alone(path: str) -> None:
    assert not SIGNATURE.named(path)


def test_firewalld_xml_that_opens_nothing_yields_nothing() -> None:
    text = '<?xml version="1.0"?>\n<ipset type="hash:net">\n  <entry>10.0.0.0/8</entry>\n</ipset>\n'
    rel = "roles/firewall/files/blocklist.xml"
    assert recognise.recognise(rel, text).signature == SIGNATURE
    assert list(firewalld.read(Source(rel, text))) == []


def test_other_xml_near_firewalld_files_is_not_claimed() -> None:
    docbook = '<?xml version="1.0"?>\n<!DOCTYPE refentry PUBLIC "-//OASIS//DTD DocBook XML V4.2//EN" "x.dtd">\n<refentry/>\n'
    found = recognise.recognise("firewalld/doc/xml/firewalld.zone.xml", docbook)
    assert found.signature is None and found.reason.startswith("named like a firewalld configuration")


def test_the_root_element_not_the_folder_says_what_a_file_is() -> None:
    """A service file kept in a zones folder is a service: it defines ports, it opens none."""
    service = "<service><port port='1' protocol='tcp'/></service>"
    facts = list(firewalld.read(Source(f"{ZONES}/x.xml", service)))
    assert [type(f).__name__ for f in facts] == ["FirewalldDoc"] and facts[0].role == "service"
    zone = "<zone><port port='8080' protocol='tcp'/></zone>"
    (doc,) = firewalld.read(Source("etc/firewalld/services/odd.xml", zone))
    assert doc.role == "zone"


# --------------------------------------------------------------------------- zones


def test_public_zone_ssh_and_dhcpv6_client() -> None:
    facts = zone('  <service name="ssh"/>\n  <service name="dhcpv6-client"/>\n')
    ssh, dhcp = rules(facts)
    assert (ssh.protocol, ssh.ports, ssh.service, ssh.family) == ("tcp", PortRange(22, 22), "ssh", "dual")
    assert ssh.location.line == 3 and ssh.location.column == 3
    assert (ssh.firewall, ssh.direction, ssh.action, ssh.chain) == ("firewalld", "in", "accept", "public")
    assert ssh.ruleset_stateful and not ssh.stateful and ssh.sources == ()
    assert "service ssh: 22/tcp" in ssh.evidence[0].message
    assert ssh.evidence[0].message.startswith(f"firewalld {firewalld.catalogue()[0]} ")
    # dhcpv6-client only has an IPv6 destination, so firewalld adds it for IPv6 alone.
    assert (dhcp.protocol, dhcp.ports, dhcp.family) == ("udp", PortRange(546, 546), "ipv6")


def test_attribute_order_and_comments_inside() -> None:
    facts = zone(
        '  <port protocol="tcp" port="80"/><!-- web -->\n'
        '  <port port="1714-1764" protocol="udp"/>\n'
        '  <!-- <port protocol="tcp" port="9090"/> -->\n'
    )
    assert ports(facts) == [("tcp", "80", ""), ("udp", "1714-1764", "")]


def test_workstation_zone_opens_1025_65535_when_it_is_the_default_zone() -> None:
    facts = fixture("workstation")
    wide = [r for r in rules(facts) if r.ports == PortRange(1025, 65535)]
    assert sorted(r.protocol for r in wide) == ["tcp", "udp"]
    assert {r.chain for r in rules(facts)} == {"FedoraWorkstation"}  # FedoraServer ships unused


def test_workstation_zone_is_reported_by_pp003(tmp_path: Path) -> None:
    report = scan_tree(FIXTURES / "workstation")
    assert sorted((f.rule, f.location.line) for f in report.findings) == [("PP003", 8), ("PP003", 9)]


def test_samba_dc_resolves_through_the_catalogue_with_includes() -> None:
    facts = zone('  <service name="samba-dc"/>\n')
    got = {(r.protocol, str(r.ports)) for r in rules(facts)}
    assert ("tcp", "49152-65535") in got
    assert {
        ("tcp", "445"),
        ("tcp", "88"),
        ("udp", "53"),
        ("tcp", "636"),
    } <= got  # samba, kerberos, dns, ldaps
    dyn = next(r for r in rules(facts) if r.ports == PortRange(49152, 65535))
    assert dyn.service == "samba-dc" and dyn.location.line == 3
    assert (
        dyn.evidence[0].message == f"firewalld {firewalld.catalogue()[0]} service samba-dc: 49152-65535/tcp"
    )
    kerberos = next(r for r in rules(facts) if r.ports == PortRange(88, 88) and r.protocol == "tcp")
    assert "service kerberos (included by samba-dc)" in kerberos.evidence[0].message


def test_service_file_in_the_tree_overrides_the_catalogue() -> None:
    facts = fixture("server")
    ssh = [r for r in rules(facts, "public") if r.service == "ssh"]
    assert [(r.protocol, r.ports) for r in ssh] == [("tcp", PortRange(2222, 2222))]
    assert ssh[0].evidence[0].location.path == "etc/firewalld/services/ssh.xml"
    assert ssh[0].evidence[0].location.line == 5


def test_custom_service_with_include_from_the_tree() -> None:
    facts = fixture("server")
    backup = [r for r in rules(facts, "internal") if r.service == "backup-agent"]
    assert [str(r.ports) for r in backup] == ["7790", "7791-7799", "2222"]


def test_unknown_service_is_unresolved_not_pp000() -> None:
    facts = zone('  <service name="nfs4-legacy"/>\n')
    assert not rules(facts) and not only(facts, ParseError)
    (u,) = only(facts, Unresolved)
    assert u.value == "nfs4-legacy" and "neither in this host's service files nor in firewalld" in u.reason
    assert u.location.line == 3


def test_zone_with_sources_only_is_restricted() -> None:
    facts = zone(
        '  <source address="10.20.0.0/16"/>\n  <source ipset="monitoring"/>\n  <port protocol="tcp" port="9100"/>\n',
        name="internal",
    )
    (r,) = rules(facts)
    assert r.sources == ("10.20.0.0/16", "ipset:monitoring") and r.restricted
    assert [e.location.line for e in r.evidence] == [3, 4]


@pytest.mark.parametrize(
    ("name", "extra"),
    [("internal", '  <interface name="eth1"/>\n'), ("public", "")],
    ids=["with-interface", "default-zone"],
)
def test_zone_sources_do_not_restrict_an_interface_or_default_zone(name: str, extra: str) -> None:
    facts = zone(
        f'  <source address="10.0.0.0/8"/>\n{extra}  <port protocol="tcp" port="9100"/>\n', name=name
    )
    (r,) = rules(facts)
    assert r.sources == () and not r.restricted


def test_target_accept_accepts_every_port() -> None:
    facts = zone('  <interface name="docker0"/>\n', name="docker", attrs=' target="ACCEPT"')
    (r,) = rules(facts)
    assert (r.action, r.protocol, r.ports, r.interface) == ("accept", "any", None, "docker0")
    assert "every packet no rule matches is accepted" in r.evidence[-1].message


def test_target_accept_behind_a_catch_all_reject_only_forwards() -> None:
    # libvirt's zone: ACCEPT target for routed traffic, a low-priority reject for the host.
    body = '  <rule priority="32767">\n    <reject/>\n  </rule>\n  <service name="dns"/>\n'
    facts = zone(body, name="libvirt", attrs=' target="ACCEPT"')
    assert [(r.action, r.protocol, r.port_text) for r in rules(facts)] == [
        ("accept", "tcp", "53"),
        ("accept", "udp", "53"),
        ("reject", "any", "all ports"),
    ]


@pytest.mark.parametrize(("target", "action"), [("DROP", "drop"), ("%%REJECT%%", "reject")])
def test_target_drop_and_reject(target: str, action: str) -> None:
    (r,) = rules(zone("", attrs=f' target="{target}"'))
    assert (r.action, r.ports) == (action, None)


def test_shipped_zone_nothing_uses_is_not_in_force() -> None:
    body = '<?xml version="1.0"?>\n<zone target="ACCEPT">\n  <short>Trusted</short>\n</zone>\n'
    assert rules(scan({"usr/lib/firewalld/zones/trusted.xml": body})) == []
    bound = body.replace("<short>", '<interface name="lo"/><short>')
    assert len(rules(scan({"usr/lib/firewalld/zones/trusted.xml": bound}))) == 1


def test_etc_zone_replaces_the_shipped_one() -> None:
    facts = fixture("server")
    assert not [r for r in rules(facts, "public") if r.service == "cockpit"]
    assert not rules(facts, "trusted")


def test_source_port_only_rule_for_pp011() -> None:
    (r,) = rules(zone('  <source-port port="53" protocol="udp"/>\n'))
    assert (r.protocol, r.ports, r.source_ports, r.action) == ("udp", None, PortRange(53, 53), "accept")
    assert not r.stateful


def test_source_port_only_service_is_a_source_port_rule() -> None:
    (r,) = rules(zone('  <service name="upnp-client"/>\n'))
    assert (r.ports, r.source_ports, r.service) == (None, PortRange(1900, 1900), "upnp-client")


def test_source_port_rule_is_reported_by_pp011(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            f"{ZONES}/public.xml": '<zone>\n  <source-port port="53" protocol="udp"/>\n  <service name="ssh"/>\n</zone>\n'
        },
    )
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP011", 2)]


def test_forward_ports_and_protocols() -> None:
    facts = fixture("server")
    dmz = {(r.direction, str(r.ports)): r for r in rules(facts, "dmz") if r.ports is not None}
    assert "redirected to local port 8080" in dmz[("in", "80")].evidence[0].message
    assert "forwarded to 192.0.2.10 port 22" in dmz[("forward", "2222")].evidence[0].message
    assert not [r for r in rules(facts, "dmz") if r.protocol == "gre"]  # no ports to speak of
    (tcp_all,) = rules(zone('  <protocol value="tcp"/>\n'))
    assert (tcp_all.protocol, tcp_all.ports) == ("tcp", None)


# --------------------------------------------------------------------------- rich rules


def test_rich_rules() -> None:
    facts = fixture("server")
    internal = rules(facts, "internal")
    pg = next(r for r in internal if r.ports == PortRange(5432, 5432))
    assert (pg.sources, pg.family, pg.action) == (("10.20.5.0/24",), "ipv4", "accept")
    # An inverted rule source: the zone's own sources still apply, the exception is evidence.
    rejected = next(r for r in internal if r.action == "reject")
    assert rejected.sources == ("10.20.0.0/16", "ipset:monitoring") and rejected.service == "ssh"
    assert any("every source except 10.20.9.9" in e.message for e in rejected.evidence)
    # Source whitelisting: no element, so every port from that source.
    allow = next(r for r in internal if r.sources == ("10.20.7.0/24",))
    assert (allow.protocol, allow.ports) == ("any", None)
    assert any("rate-limited" in e.message for e in allow.evidence)
    sport = next(r for r in internal if r.source_ports is not None)
    assert (sport.ports, sport.source_ports, sport.family) == (None, PortRange(123, 123), "ipv4")
    # A rule that only logs opens nothing.
    assert not [r for r in internal if r.ports == PortRange(8080, 8080)]


def test_rich_rule_without_source_in_an_unrestricted_zone() -> None:
    facts = zone(
        '  <rule family="ipv6">\n    <port protocol="udp" port="60000-61000"/>\n    <accept/>\n  </rule>\n'
    )
    (r,) = rules(facts)
    assert (r.ports, r.family, r.sources) == (PortRange(60000, 61000), "ipv6", ())


# --------------------------------------------------------------------------- policies


def test_policy_to_host_is_inbound_and_disabled_policy_is_skipped() -> None:
    facts = fixture("server")
    lan = rules(facts, "lan-to-host")
    assert {(r.direction, r.protocol, str(r.ports)) for r in lan} == {
        ("in", "tcp", "53"),
        ("in", "udp", "53"),
    }
    assert "internal -> HOST" in lan[0].evidence[-1].message
    assert not rules(facts, "gateway")


def test_policy_between_zones_is_forward() -> None:
    policy = '<policy target="ACCEPT">\n  <ingress-zone name="internal"/>\n  <egress-zone name="external"/>\n</policy>\n'
    (r,) = rules(scan({"etc/firewalld/policies/out.xml": policy}))
    assert (r.direction, r.action, r.ports) == ("forward", "accept", None)


# --------------------------------------------------------------------------- invalid input


def test_invalid_ports() -> None:
    facts = fixture("broken")
    bad = {f.value: f for f in only(facts, InvalidPort)}
    assert set(bad) == {"65536", "0", "9000-8000", "80,443"}
    assert "outside 1-65535" in bad["65536"].reason and "refuses to load" in bad["65536"].reason
    assert "swaps it to 8000-9000" in bad["9000-8000"].reason
    assert [(r.ports, r.location.line) for r in rules(facts)] == [
        (PortRange(8000, 9000), 6),
        (PortRange(8080, 8080), 10),
    ]
    (name,) = only(facts, Unresolved)
    assert name.value == "http" and "/etc/services" in name.reason
    assert any("protocol 'tpc'" in p.message for p in only(facts, ParseError))


def test_invalid_ports_are_pp005() -> None:
    report = scan_tree(FIXTURES / "broken")
    pp005 = sorted(f.location.line for f in report.findings if f.rule == "PP005")
    assert pp005 == [4, 5, 6, 7]


def test_malformed_xml_is_pp000_with_position() -> None:
    facts = fixture("broken")
    errors = {p.location.path.rsplit("/", 1)[-1]: p for p in only(facts, ParseError)}
    assert errors["malformed.xml"].message.startswith("malformed XML: mismatched tag")
    assert (errors["malformed.xml"].location.line, errors["malformed.xml"].location.column) == (5, 3)


@pytest.mark.parametrize("name", ["laughs.xml", "xxe.xml"])
def test_xml_bomb_and_external_entity_are_refused_quickly(name: str) -> None:
    text = (FIXTURES / "broken" / ZONES / name).read_text(encoding="utf-8")
    started = time.perf_counter()
    facts = list(firewalld.read(Source(f"{ZONES}/{name}", text)))
    assert time.perf_counter() - started < 1.0
    (error,) = facts
    assert isinstance(error, ParseError) and "DOCTYPE/ENTITY declarations are refused" in error.message
    assert error.location.line == 2


def test_a_declaration_the_prescan_misses_is_still_refused_by_the_parser() -> None:
    # Reached only through the parser handlers: the pre-scan is bypassed on purpose.
    source = Source(f"{ZONES}/x.xml", '<!DOCTYPE zone [<!ENTITY a "b">]>\n<zone><short>&a;</short></zone>\n')
    error = firewalld._parse(source, source.text)
    assert isinstance(error, ParseError) and "refused" in error.message


def test_deep_nesting_is_bounded() -> None:
    text = "<zone>" + "<rule>" * 200 + "</rule>" * 200 + "</zone>"
    (error,) = list(firewalld.read(Source(f"{ZONES}/deep.xml", text)))
    assert isinstance(error, ParseError) and "nested deeper" in error.message


# --------------------------------------------------------------------------- templates


def test_jinja_template_values_are_unresolved_and_the_rest_is_read() -> None:
    facts = fixture("role")
    assert not only(facts, ParseError)
    unresolved = {u.location.line: u for u in only(facts, Unresolved)}
    assert set(unresolved) == {3, 6, 8, 9}
    assert unresolved[8].value == "{{ app_port }}"
    public = rules(facts, "public")
    assert [(r.protocol, r.port_text) for r in public] == [("udp", "60000-61000"), ("udp", "all ports")]


def test_statement_inside_a_port_value_is_unresolved_not_invalid() -> None:
    text = '<zone>\n  <port protocol="tcp" port="{% if tls %}443{% else %}80{% endif %}"/>\n</zone>\n'
    facts = scan({"roles/web/templates/firewalld-public.xml.j2": text})
    assert not only(facts, InvalidPort) and len(only(facts, Unresolved)) == 1


def test_default_zone_from_firewalld_conf() -> None:
    stock = '<zone>\n  <port protocol="tcp" port="10000-20000"/>\n</zone>\n'
    files = {"usr/lib/firewalld/zones/FedoraServer.xml": stock}
    assert rules(scan(files)) == []
    files["etc/firewalld/firewalld.conf"] = "# comment\nDefaultZone=FedoraServer\n"
    assert len(rules(scan(files))) == 1


# --------------------------------------------------------------------------- catalogue and CLI


def test_catalogue_records_its_release() -> None:
    release, services = firewalld.catalogue()
    assert release.startswith("2.") and "(" in release
    assert len(services) > 200
    header = (REPO / "portpolicy/data/firewalld_services.yml").read_text(encoding="utf-8").splitlines()[1]
    assert "scripts/firewalld_catalogue.py" in header and "commit" in header
    assert firewalld_catalogue.service_ports("mosh") == [("udp", PortRange(60000, 61000))]
    assert firewalld_catalogue.service_ports("no-such-service") is None


def test_catalogue_script_builds_the_table(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "firewalld_catalogue", REPO / "scripts/firewalld_catalogue.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    write_tree(
        tmp_path / "fw",
        {
            "firewalld.spec": "Name: firewalld\nVersion: 9.9.9\n",
            "config/services/web.xml": '<service>\n  <port protocol="tcp" port="80"/><!-- http -->\n'
            '  <include service="dns"/>\n</service>\n',
            "config/services/gre.xml": '<service><port port="" protocol="gre"/></service>\n',
            "config/services/bad.xml": '<!DOCTYPE service [<!ENTITY x "y">]>\n<service/>\n',
        },
    )
    out = tmp_path / "services.yml"
    with pytest.raises(ValueError, match="DTD declarations are refused"):
        module.main([str(tmp_path / "fw"), "-o", str(out)])
    (tmp_path / "fw/config/services/bad.xml").unlink()
    assert module.main([str(tmp_path / "fw"), "--commit", "abc123", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'release: "9.9.9 (abc123)"' in text
    assert '"web":\n    ports: ["80/tcp"]\n    includes: ["dns"]' in text
    assert '"gre":\n    protocols: ["gre"]' in text


def test_facts_table_shows_firewalld_rules() -> None:
    result = run_cli("facts", ".", cwd=FIXTURES / "server")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if "internal.xml:10:3" in line)
    assert row.split() == ["etc/firewalld/zones/internal.xml:10:3", ".", "firewalld", "internal", "in", "accept",
                           "tcp", "5432", "10.20.5.0/24", "ruleset"]  # fmt: skip
    assert any("49152-65535 [samba-dc]" in line for line in lines)
    assert any("all (sport 123)" in line for line in lines)


def test_line_numbers_count_only_crlf_cr_and_lf() -> None:
    """firewalld.conf split at \\f and U+2028, the DOCTYPE position counted only LF."""
    conf = list(
        firewalld.read(Source("etc/firewalld/firewalld.conf", "# a\x0cb\u2028c\nDefaultZone=${ZONE}\n"))
    )
    assert [(f.value, f.location.line) for f in conf if isinstance(f, Unresolved)] == [
        ("DefaultZone=${ZONE}", 2)
    ]
    xml = "<?xml version='1.0'?>\r<!-- a -->\r<!DOCTYPE zone [<!ENTITY a 'b'>]>\r<zone/>\r"
    errors = [
        f for f in firewalld.read(Source("etc/firewalld/zones/x.xml", xml)) if isinstance(f, ParseError)
    ]
    assert [(e.location.line, e.location.column) for e in errors] == [(3, 1)]
