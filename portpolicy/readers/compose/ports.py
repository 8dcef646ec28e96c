"""``ports`` and ``expose``: what a service publishes on the host and listens on in its container.

Port strings follow the Compose specification and ``docker/go-connections``
``nat.ParsePortSpec`` (the parser Compose uses). An unquoted ``2222:22`` is that string to
Compose v2 (YAML 1.2) but a base-60 integer to YAML 1.1 loaders: ``base60`` notes it (PP020).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import field

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    PortRange,
    PortSet,
    RunAs,
    Unresolved,
    YamlAmbiguity,
)
from portpolicy.readers.base import parse_port_range, shown
from portpolicy.readers.compose.values import Value, Values
from portpolicy.readers.dotenv import UNKNOWN
from portpolicy.records import record
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, is_null, items

_PROTOCOLS = ("tcp", "udp", "sctp")
_SEXAGESIMAL = re.compile(r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+")
"""YAML 1.1's base-60 integer (yaml.org/type/int.html), as PyYAML's resolver has it."""
_YAML_INT = "tag:yaml.org,2002:int"
_MAX_BASE60 = 64
"""Longer text is no port mapping anyone meant; it is left alone rather than converted."""


@record(frozen=False)
class PortMapping:
    """One parsed ``ports`` entry: the host side (None when automatic) and the container side."""

    container: PortRange
    protocol: str
    container_location: Location
    host: PortRange | None = None
    address: BindAddress = field(default_factory=BindAddress)
    host_location: Location | None = None


def port_entry(values: Values, node: Node, out: list[PortMapping]) -> Iterator[Fact]:
    """A ``ports`` entry in short (string or number) or long (mapping) syntax."""
    if isinstance(node, MappingNode):
        yield from long_port(values, node, out)
        return
    val = None if is_null(node) else values.value(node)
    if val is None:
        why = "ports: an entry must be a port string, a number or a mapping"
        yield InvalidPort("", why, values.loc(node))
        return
    yield from short_port(values, val, out)


def short_port(values: Values, val: Value, out: list[PortMapping]) -> Iterator[Fact]:
    """``[IP:][HOST:]CONTAINER[/PROTO]`` as ``nat.ParsePortSpec`` splits it."""
    raw, loc = val.raw, val.location
    ip, host, container = _split_parts(val.text.strip())
    container, _, proto = container.partition("/")
    if UNKNOWN in container or UNKNOWN in proto:
        yield values.unresolved(val, "port mapping: the container port")
        return
    protocol = _protocol(proto)
    if protocol is None:
        why = f"port mapping {shown(raw)!r}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
        yield InvalidPort(raw, why, loc)
        return
    if not container:
        yield InvalidPort(raw, f"port mapping {shown(raw)!r}: no container port", loc)
        return
    crange = parse_port_range(container, loc, f"port mapping {shown(raw)!r}: container port", allow_zero=True)
    if not isinstance(crange, PortRange):
        if crange is not None:
            yield _with_value(crange, raw)
        return
    mapping = PortMapping(crange, protocol, loc)
    if UNKNOWN in ip or UNKNOWN in host:
        yield values.unresolved(val, "port mapping: the host side")
        out.append(mapping)
        return
    address = _address(ip)
    if address is None:
        yield InvalidPort(raw, f"port mapping {shown(raw)!r}: {shown(ip)!r} is no IP address", loc)
        return
    host_fact = _host_range(host, crange, loc, f"port mapping {shown(raw)!r}")
    if isinstance(host_fact, (InvalidPort, Unresolved)):
        if not ip and _address(host) is not None:
            why = f"{host_fact.reason} (an IP needs IP:HOST:CONTAINER, e.g. '{shown(host)}::{shown(container)}')"
            host_fact = InvalidPort(raw, why, loc, f"port mapping {shown(raw)!r}: host port")
        yield _with_value(host_fact, raw)
        return
    mapping.address, mapping.host, mapping.host_location = address, host_fact, loc
    out.append(mapping)


def long_port(values: Values, node: MappingNode, out: list[PortMapping]) -> Iterator[Fact]:
    """``target`` / ``published`` / ``host_ip`` / ``protocol`` (``mode``, ``name`` do not matter)."""
    fields = {k: v for k, _, v in items(node)}
    target = values.value(fields.get("target"))
    if target is None:
        yield InvalidPort("", "long-syntax port without a 'target' container port", values.loc(node))
        return
    if not target.known:
        yield values.unresolved(target, "port target")
        return
    ctx = f"port target {shown(target.raw)!r}"
    if "-" in target.text.strip()[1:]:
        why = f"{ctx}: the target must be one port, not a range"
        yield InvalidPort(target.raw, why, target.location, ctx)
        return
    crange = parse_port_range(target.text, target.location, ctx, allow_zero=True)
    if not isinstance(crange, PortRange):
        if crange is not None:
            yield _with_value(crange, target.raw)
        return
    proto_val = values.value(fields.get("protocol"))
    if proto_val is not None and not proto_val.known:
        yield values.unresolved(proto_val, "port protocol")
        return
    proto = proto_val.text if proto_val is not None else ""
    protocol = _protocol(proto)
    if protocol is None:
        assert proto_val is not None
        why = f"port protocol {shown(proto)!r} is not tcp, udp or sctp"
        yield InvalidPort(proto_val.raw, why, proto_val.location)
        return
    mapping = PortMapping(crange, protocol, target.location)
    out.append(mapping)
    ip_val = values.value(fields.get("host_ip"))
    published = values.value(fields.get("published"))
    if published is None:
        return
    for part in (ip_val, published):
        if part is not None and not part.known:
            yield values.unresolved(part, "published port" if part is published else "port host_ip")
            return
    address = _address(ip_val.text.strip() if ip_val is not None else "")
    if address is None:
        assert ip_val is not None
        out.pop()
        yield InvalidPort(ip_val.raw, f"port host_ip {shown(ip_val.raw)!r} is no IP address", ip_val.location)
        return
    ctx = f"published port {shown(published.raw)!r}"
    host = _host_range(published.text.strip(), crange, published.location, ctx)
    if isinstance(host, (InvalidPort, Unresolved)):
        out.pop()
        yield _with_value(host, published.raw)
        return
    mapping.address, mapping.host, mapping.host_location = address, host, published.location


def expose_entry(values: Values, node: Node, out: list[PortMapping]) -> Iterator[Fact]:
    """``PORT[-END][/PROTO]``: a container port, never published."""
    val = None if is_null(node) else values.value(node)
    if val is None:
        yield InvalidPort("", "expose: an entry must be a port string or number", values.loc(node))
        return
    if not val.known:
        yield values.unresolved(val, "exposed port")
        return
    port, _, proto = val.text.strip().partition("/")
    protocol = _protocol(proto)
    ctx = f"exposed port {shown(val.raw)!r}"
    if protocol is None:
        why = f"{ctx}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
        yield InvalidPort(val.raw, why, val.location, ctx)
        return
    prange = parse_port_range(port, val.location, ctx, allow_zero=True)
    if isinstance(prange, PortRange):
        out.append(PortMapping(prange, protocol, val.location))
    elif prange is not None:
        yield _with_value(prange, val.raw)


def base60(values: Values, node: Node, context: str) -> YamlAmbiguity | None:
    """A plain, untagged scalar a YAML 1.1 loader reads as a base-60 integer, else None.

    The node was composed by a YAML 1.1 resolver, so its tag says int only for a plain
    scalar (or an explicit ``!!int``); the pattern tells base 60 from a plain number.
    """
    if not isinstance(node, ScalarNode) or node.style or node.tag != _YAML_INT:
        return None
    text = str(node.value)
    if len(text) > _MAX_BASE60 or not _SEXAGESIMAL.fullmatch(text):
        return None
    return YamlAmbiguity(text, str(_base60_value(text)), values.loc(node), context)


def _base60_value(text: str) -> int:
    """PyYAML's ``construct_yaml_int`` for a base-60 scalar: ``2222:22`` is 2222 * 60 + 22."""
    value = 0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        value = value * 60 + int(part)
    return -value if text.startswith("-") else value


def container_side(
    name: str,
    m: PortMapping,
    run_as: RunAs,
    netns: str,
    key: str,
    covered: dict[str, PortSet],
    evidence: tuple[Evidence, ...],
    image: str = "",
) -> Iterator[Listener]:
    """The container's own socket; a port the service already declared is one socket, not two."""
    have = covered.get(m.protocol, PortSet())
    for piece in PortSet.of([m.container]).minus(have):
        yield Listener(
            service=name,
            protocol=m.protocol,
            ports=piece,
            address=BindAddress.wildcard(),
            location=m.container_location,
            run_as=run_as,
            bound_by="process",
            netns=netns,
            source=f"services.{name}.{key}",
            evidence=evidence,
            image=image,
        )
    covered[m.protocol] = have.union(m.container)


def _split_parts(text: str) -> tuple[str, str, str]:
    """IP, host port and container port of a short-syntax mapping (``nat.splitParts``)."""
    parts = text.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _protocol(text: str) -> str | None:
    """The protocols Docker accepts (any case); None for anything else."""
    proto = text.strip().lower() or "tcp"
    return proto if proto in _PROTOCOLS else None


def _address(ip: str) -> BindAddress | None:
    """The host address a published port binds: none is every address, IPv4 and IPv6."""
    if not ip:
        return BindAddress.wildcard()
    if ip.startswith("["):
        if not ip.endswith("]"):
            return None
        ip = ip[1:-1]
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return None
    family = "ipv4" if parsed.version == 4 else "ipv6"
    if parsed.is_unspecified:
        return BindAddress.wildcard(family)
    return BindAddress(ip, family)


def _host_range(
    text: str, container: PortRange, loc: Location, ctx: str
) -> PortRange | InvalidPort | Unresolved | None:
    """The fixed host ports of a mapping, or None when the runtime picks them.

    Empty or 0 is automatic; a host range for one container port means "any free port
    in this range", also a runtime choice. Ranges of different lengths are invalid.
    """
    if not text:
        return None
    host = parse_port_range(text, loc, f"{ctx}: host port", allow_zero=True)
    if not isinstance(host, PortRange):
        return host
    if host.size != container.size:
        if container.size == 1:
            return None
        return InvalidPort(
            text, f"{ctx}: host range {host} and container range {container} differ in length", loc, ctx
        )
    return host


def _with_value(fact: InvalidPort | Unresolved, value: str) -> InvalidPort | Unresolved:
    """The same fact naming the whole entry as written, which is what the user searches for."""
    if isinstance(fact, InvalidPort):
        return InvalidPort(value, fact.reason, fact.location, fact.context)
    return Unresolved(value, fact.reason, fact.location)
