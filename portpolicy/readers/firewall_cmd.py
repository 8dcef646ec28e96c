"""``firewall-cmd`` command lines in shell scripts, and firewalld's rich-rule language.

``firewall-cmd [--permanent] [--zone=Z] --add-port=8080/tcp`` (also ranges, several
options per line and ``--add-port 8080/tcp``), ``--add-service=samba-dc`` (the ports of
firewalld's own service catalogue, see ``firewalld_catalogue.service_ports``), ``--add-source-port``
and ``--add-rich-rule='rule ...'`` (firewalld.richlanguage(5)). ``--remove-*``, queries
and zone management open nothing. ``firewall-offline-cmd`` takes the same options. The
shell reader (``readers.shell``) owns scripts and hands these lines here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from portpolicy.model import Evidence, Fact, FirewallRule, Location, PortRange, Unresolved
from portpolicy.readers import firewalld_catalogue
from portpolicy.readers.base import PROTOCOLS, Source, is_templated, parse_port_range, shown
from portpolicy.readers.lexing import split_shell

TOOLS = ("firewall-cmd", "firewall-offline-cmd")


def _protocol(text: str | None) -> str:
    value = (text or "").strip().lower()
    return value if value in PROTOCOLS else "any"


_COLUMN_SEARCH = 4096
"""The tool's column is looked for in a line's first characters only: a real command line
is shorter, and a hostile line of thousands of commands then costs no more than this each."""


def _tool_column(line: str) -> int:
    found = [i for i in (line.find(tool, 0, _COLUMN_SEARCH) for tool in TOOLS) if i >= 0]
    return min(found, default=0) + 1


def command(source: Source, number: int, line: str, words: list[str]) -> Iterator[Fact]:
    """One ``firewall-cmd`` invocation (the arguments after the command name)."""
    at = source.at(number, _tool_column(line))
    zone = ""
    options: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        if not eq and name.startswith("--add-") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value, i = words[i + 1], i + 1
        if name == "--zone":
            zone = value
        elif name.startswith("--add-"):
            options.append((name, value))
        i += 1
    for name, value in options:
        if is_templated(value) or value.startswith("$"):
            yield Unresolved(value, f"firewall-cmd {name}: the value is a variable or template", at)
            continue
        if name == "--add-port":
            yield from _port(value, at, zone, source_port=False)
        elif name == "--add-source-port":
            yield from _port(value, at, zone, source_port=True)
        elif name == "--add-service":
            yield from _service(value, at, zone)
        elif name == "--add-rich-rule":
            fact = rich_rule(value, at, zone)
            if fact is not None:
                yield fact


def _port(value: str, at: Location, zone: str, source_port: bool) -> Iterator[Fact]:
    number, _, proto = value.partition("/")
    what = "--add-source-port" if source_port else "--add-port"
    rng = parse_port_range(number, at, f"firewall-cmd {what}={shown(value)}", sep="-")
    if not isinstance(rng, PortRange):
        if rng is not None:
            yield rng
        return
    yield FirewallRule(
        "firewalld",
        "in",
        "accept",
        _protocol(proto),
        None if source_port else rng,
        at,
        source_ports=rng if source_port else None,
        ruleset_stateful=True,
        chain=zone,
    )


def _service(name: str, at: Location, zone: str) -> Iterator[Fact]:
    ports = firewalld_catalogue.service_ports(name)
    if ports is None:
        yield Unresolved(
            name, f"firewall-cmd --add-service: {shown(name)!r} is not in firewalld's catalogue", at
        )
        return
    release = firewalld_catalogue.catalogue()[0]
    for proto, rng in ports:
        note = Evidence(at, f"firewalld {release} service {shown(name)}: {rng}/{proto}")
        yield FirewallRule(
            "firewalld",
            "in",
            "accept",
            proto,
            rng,
            at,
            ruleset_stateful=True,
            chain=zone,
            service=name,
            evidence=(note,),
        )


def rich_rule(text: str, where: Location, zone: str, evidence: tuple[Any, ...] = ()) -> Fact | None:
    """The port opening a firewalld rich rule makes, if it is one (firewalld.richlanguage(5))."""
    try:
        words = split_shell(text)
    except ValueError:
        return None
    if not words or words[0] != "rule":
        return None
    attrs: dict[str, dict[str, str]] = {}
    element = ""
    action = ""
    negated = False
    for word in words[1:]:
        if "=" in word:
            key, _, value = word.partition("=")
            attrs.setdefault(element, {})[key] = value
        elif word in ("accept", "reject", "drop"):
            action, element = word, word
        elif word == "not":
            negated = True
        else:
            element = word
    if not action or negated or {"forward-port", "service", "icmp-block", "masquerade"} & set(attrs):
        return None
    family = attrs.get("", {}).get("family", "dual")
    sources = tuple(v for k, v in attrs.get("source", {}).items() if k == "address")
    ports = source_ports = None
    proto = "any"
    if "port" in attrs:
        rng = parse_port_range(attrs["port"].get("port", ""), where, "firewalld rich rule port", sep="-")
        if not isinstance(rng, PortRange):
            return rng
        ports, proto = rng, _protocol(attrs["port"].get("protocol"))
    if "source-port" in attrs:
        rng = parse_port_range(
            attrs["source-port"].get("port", ""), where, "firewalld rich rule source-port", sep="-"
        )
        if not isinstance(rng, PortRange):
            return rng
        source_ports, proto = rng, _protocol(attrs["source-port"].get("protocol"))
    if "protocol" in attrs and ports is None:
        proto = _protocol(attrs["protocol"].get("value"))
    return FirewallRule(
        "firewalld",
        "in",
        action,
        proto,
        ports,
        where,
        source_ports=source_ports,
        sources=sources,
        family=family if family in ("ipv4", "ipv6") else "dual",
        ruleset_stateful=True,
        chain=zone,
        evidence=tuple(evidence),
    )
