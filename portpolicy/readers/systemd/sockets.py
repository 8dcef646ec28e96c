"""Socket units: ``Listen*=`` values as systemd parses them, one ``Listener`` per IP port.

``socket_address_parse()`` and ``parse_ip_port()`` are followed exactly: port 0 and values
above 65535 are refused, numbers read like ``strtoul(..., 0)`` (``0x50`` and ``0120`` are 80),
an address needs a port, host names are never resolved. An empty ``Listen*=`` drops every
entry so far, of any type. The socket is bound by PID 1 (or the user manager) and runs as the
service it activates (``Service=``, or ``<name>.service``, ``<name>@.service`` with
``Accept=yes``).

PID 1 sets SO_REUSEADDR on every socket and binds and listens them one by one, so a unit
listing one stream port twice (or a wildcard beside an address of it) fails at the second
(``Failed to create listening socket ...: Address already in use``): those listeners carry
``refuses_repeat``. With ``ReusePort=yes`` (SO_REUSEPORT, one user) the kernel lets them
share the port, and UDP sockets that both set SO_REUSEADDR share it too: no mark then.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import NamedTuple

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import MAX_DIGITS, TOO_LARGE, ascii_int, is_templated, shown
from portpolicy.readers.systemd.dropins import HostUnits, MergedUnit
from portpolicy.readers.systemd.services import last_assignment, parse_bool, who_runs
from portpolicy.readers.systemd.specifiers import expand_specifiers
from portpolicy.readers.systemd.unitfile import Directive

# ``[addr]:port%dev`` / ``a.b.c.d:port%dev``: systemd wants ``%%dev`` in a unit file, but the
# manual writes ``%dev``; both are taken as an interface so neither reads as a specifier.
_SCOPED = re.compile(r"([^%]*:[^%:]+)%%?([^%/\s]+)")
_STRTOUL = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_MAX_COMPARED = 256
"""Listeners of one unit on one port compared pair by pair; beyond, only exact repeats count."""
REUSE_PORT_EVIDENCE = "ReusePort=yes: SO_REUSEPORT on "
"""The start of the evidence PP004 looks for (no unit or user name can hold its spaces)."""


def _bind_ipv6_only(value: str) -> str | None:
    lowered = value.lower()
    if lowered in {"default", "both", "ipv6-only"}:
        return lowered
    flag = parse_bool(value)
    if flag is None:
        return None
    return "ipv6-only" if flag else "both"


class _Address(NamedTuple):
    host: str | None
    family: str  # "ipv4", "ipv6" or "wild6" (an IPv6 wildcard: dual unless BindIPv6Only=ipv6-only)
    port: int


def _parse_ip_port(text: str) -> int | str:
    """systemd's parse_ip_port(): the port, or "range" (ERANGE) / "invalid" (EINVAL)."""
    if text[:2].lower() == "0b" and text[2:] and set(text[2:]) <= set("01"):
        number = _bounded_int(text[2:], 2)
    elif text[:2].lower() == "0o" and text[2:] and set(text[2:]) <= set("01234567"):
        number = _bounded_int(text[2:], 8)
    elif _STRTOUL.fullmatch(text):
        digits = text.lstrip("+-")
        if digits[:2].lower() == "0x":
            number = _bounded_int(digits[2:], 16)
        elif len(digits) > 1 and digits[0] == "0":
            number = _bounded_int(digits, 8)
        else:
            number = _bounded_int(digits, 10)
        if text.startswith("-") and number != 0:
            return "range"
    else:
        return "invalid"
    if number > 65535:
        return "range"
    if number == 0:
        return "invalid"
    return number


def _bounded_int(digits: str, base: int) -> int:
    """Digits already checked against ``base`` as a number; ``TOO_LARGE`` when too long to convert."""
    significant = digits.lstrip("0")
    return TOO_LARGE if len(significant) > MAX_DIGITS else int(significant or "0", base)


def _why_not_a_port(text: str) -> str | None:
    """The reason a string of digits is still refused as a port (0, or a bad octal number)."""
    number = ascii_int(text.lstrip("+-"))
    if number is None:
        return None
    if number == 0:
        return f"port {shown(text)} is not accepted (systemd requires 1-65535)"
    return f"{shown(text)!r} is not a number to systemd (a leading 0 means octal)"


def _parse_address(text: str) -> _Address | str:
    """systemd's socket_address_parse() for IP forms; a reason string when systemd refuses it."""
    port = _parse_ip_port(text)
    if port == "range":
        return f"port {shown(text)} is outside 1-65535"
    if isinstance(port, int):
        return _Address(None, "wild6", port)
    if "#" in text:
        return "a server name (#name) is not accepted here"
    colon = text.rfind(":")
    if colon < 0:
        return _why_not_a_port(text) or f"{shown(text)!r} is neither a port nor an address with a port"
    if text.startswith("["):
        if colon == 0 or text[colon - 1] != "]":
            return f"{shown(text)!r} is not an [IPv6]:port address"
        host_text, port_text, family = text[1 : colon - 1], text[colon + 1 :], "ipv6"
    else:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            host_text, port_text, family = text[:colon], text[colon + 1 :], "ipv4"
        else:
            return f"IPv6 address {shown(text)!r} has no port (write [{shown(text)}]:port)"
    number = _parse_ip_port(port_text)
    if number == "range":
        return f"port {shown(port_text)} is outside 1-65535"
    if not isinstance(number, int):
        return _why_not_a_port(port_text) or f"{shown(port_text)!r} is not a port number"
    try:
        host = ipaddress.IPv6Address(host_text) if family == "ipv6" else ipaddress.IPv4Address(host_text)
    except ValueError:
        kind = "IPv6" if family == "ipv6" else "IPv4"
        return f"{shown(host_text)!r} is not a numeric {kind} address (systemd never resolves host names)"
    if host.is_unspecified:
        return _Address(None, "wild6" if family == "ipv6" else "ipv4", number)
    return _Address(str(host), family, number)


_LISTEN_KINDS = {
    "ListenStream": "stream",
    "ListenDatagram": "datagram",
    "ListenSequentialPacket": "seqpacket",
}


class _Entry(NamedTuple):
    kind: str
    address: _Address | None  # None: an Unresolved placeholder, reported as such
    directive: Directive
    unresolved: Unresolved | None


def _one_socket(units: HostUnits, socket: MergedUnit) -> Iterator[Fact]:
    """The listeners (and invalid or unresolved values) of one loadable socket unit."""
    entries: list[_Entry] = []
    refusals: list[Fact] = []
    for directive in socket.directives("Socket"):
        if not directive.key.startswith("Listen"):
            continue
        if directive.value == "":
            entries.clear()  # socket_free_ports(): every Listen*= entry goes, of any type
            continue
        kind = _LISTEN_KINDS.get(directive.key)
        if kind is None:
            continue  # ListenFIFO=, ListenNetlink=, ListenSpecial=, ...: never an IP port
        entry = _listen_entry(kind, directive, socket)
        if isinstance(entry, _Entry):
            entries.append(entry)
        elif entry is not None:
            refusals.append(entry)
    yield from refusals

    def socket_settings() -> Iterator[Directive]:
        return socket.directives("Socket")

    accept, accept_at = last_assignment(socket_settings(), "Accept", parse_bool)
    service_value, service_at = last_assignment(
        socket_settings(),
        "Service",
        lambda v: expand_specifiers(v, socket).text if v.endswith(".service") else None,
    )
    ipv6_only, ipv6_at = last_assignment(socket_settings(), "BindIPv6Only", _bind_ipv6_only)
    protocol_value, _ = last_assignment(socket_settings(), "SocketProtocol", lambda v: v.lower() or None)
    reuse_port, reuse_at = last_assignment(socket_settings(), "ReusePort", parse_bool)

    if accept and service_value is not None:
        yield ParseError(
            "Accept=yes with Service=: systemd refuses to load this socket unit",
            service_at or socket.fragments[0].location,
        )
        return
    if accept and any(e.kind == "datagram" for e in entries):
        yield ParseError(
            "Accept=yes with ListenDatagram=: datagram sockets cannot accept; systemd refuses the unit",
            accept_at or socket.fragments[0].location,
        )
        return

    stem = socket.name.removesuffix(".socket")
    if service_value is not None:
        service = service_value
    elif accept:
        service = f"{stem.split('@', 1)[0]}@.service"
    else:
        service = f"{stem}.service"
    run_as, evidence = who_runs(units, socket, service)
    extra: list[Evidence] = []
    if service_at is not None:
        extra.append(Evidence(service_at, f"Service={shown(service)}"))
    if accept and accept_at is not None:
        extra.append(Evidence(accept_at, f"Accept=yes: one {service} instance per connection"))
    if ipv6_only == "ipv6-only" and ipv6_at is not None:
        extra.append(Evidence(ipv6_at, "BindIPv6Only=ipv6-only"))
    if reuse_port and reuse_at is not None:
        extra.append(Evidence(reuse_at, f"{REUSE_PORT_EVIDENCE}every socket of {socket.name}"))

    listeners: list[Listener] = []
    for entry in entries:
        if entry.unresolved is not None:
            yield entry.unresolved
            continue
        if entry.address is None or entry.kind == "seqpacket":
            continue
        address = entry.address
        if address.family == "wild6":
            bind = BindAddress(None, "ipv6" if ipv6_only == "ipv6-only" else "dual")
        else:
            bind = BindAddress(address.host, address.family)
        protocol = "udp"
        if entry.kind == "stream":
            protocol = "sctp" if protocol_value == "sctp" else "tcp"
        listeners.append(
            Listener(
                service=f"{service} ({socket.name})",
                protocol=protocol,
                ports=PortRange.single(address.port),
                address=bind,
                location=entry.directive.location,
                run_as=run_as,
                bound_by="systemd-user" if socket.user_unit else "systemd",
                source="systemd",
                evidence=(*evidence, *extra),
            )
        )
    yield from listeners if reuse_port else _mark_repeats(listeners)


def _mark_repeats(listeners: list[Listener]) -> Iterator[Listener]:
    """The unit's listeners, stream ones that another of the unit's binds overlaps marked."""
    by_port: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, listener in enumerate(listeners):
        if listener.protocol != "udp":  # SO_REUSEADDR on both: UDP shares the port
            by_port[(listener.protocol, listener.ports.start)].append(i)
    repeated: set[int] = set()
    for group in by_port.values():
        repeated.update(_overlapping(listeners, group))
    for i, listener in enumerate(listeners):
        yield replace(listener, refuses_repeat=True) if i in repeated else listener


def _overlapping(listeners: list[Listener], group: list[int]) -> set[int]:
    """The members of one port's group whose address another member's overlaps (bounded)."""
    if len(group) > _MAX_COMPARED:
        seen: dict[BindAddress, int] = {}
        found: set[int] = set()
        for i in group:
            first = seen.setdefault(listeners[i].address, i)
            if first != i:
                found.update((first, i))
        return found
    return {i for i in group for j in group if i != j and listeners[i].address.overlaps(listeners[j].address)}


def _listen_entry(kind: str, directive: Directive, socket: MergedUnit) -> _Entry | Fact | None:
    """Classify one Listen*= value: an IP entry, a non-port (None), or a fact saying why not."""
    raw = directive.value
    context = f"{directive.key}="
    where = directive.location
    if raw.startswith(("/", "@", "vsock:")):
        return None  # AF_UNIX path, abstract socket or AF_VSOCK: not an IP port
    if is_templated(raw):
        unresolved = Unresolved(raw, f"{context}: value is a template or variable", where)
        return _Entry(kind, None, directive, unresolved)
    scoped = _SCOPED.fullmatch(raw)
    head = scoped.group(1) if scoped else raw
    expanded = expand_specifiers(head, socket)
    if expanded.path_like or expanded.text.startswith(("/", "@", "vsock:")):
        return None
    if expanded.unresolved:
        reason = f"{context}: unit specifier {', '.join(expanded.unresolved)} is only known at run time"
        return _Entry(kind, None, directive, Unresolved(raw, reason, where))
    parsed = _parse_address(expanded.text)
    if isinstance(parsed, str):
        return InvalidPort(raw, f"{context}: {parsed}; systemd ignores this line", where, context)
    if kind == "seqpacket":
        return ParseError(
            f"{context}{shown(raw)}: sequential-packet sockets are AF_UNIX only; systemd ignores this line",
            where,
        )
    return _Entry(kind, parsed, directive, None)


def socket_facts(units: HostUnits) -> Iterator[Fact]:
    """The listeners (and refused values) of every socket unit of the host that can run."""
    for user_unit, name in units.socket_names():
        unit = units.merged(user_unit, name)
        if unit is None or unit.broken:
            continue
        yield from _one_socket(units, unit)
