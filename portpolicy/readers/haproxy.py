"""HAProxy configuration: ``bind`` lines of frontend, listen and peers sections, and the local ``peer``.

HAProxy starts as root, binds its listeners, then drops to the global ``user``/``uid``
("binding to ports lower than 1024 generally require particular privileges to start the
program, which are independent of the 'uid' parameter"). So each listener is
``bound_by="root-master"`` with ``service="haproxy"``, the ``user`` line is evidence
only, and the compose/Dockerfile correlation step may override ``bound_by``/``run_as``
(the official image runs as user ``haproxy``).

Address forms follow the manual (section 4.2 ``bind``): comma lists (``:80,:443``), ranges
(``2000-2100``), ``*``/empty for all IPv4 addresses, ``::`` for IPv6 (dual-stack unless
``v6only``), the port always after the last colon, prefixes ``ipv4@ ipv6@ udp@ quic4@
quic6@ ...``, and ``unix@``/``abns@``/``fd@``/``sockpair@``/``/path`` which are no port.

HAProxy sets SO_REUSEPORT on its listeners (unless ``noreuseport``), so the same address
bound in two sections starts, and the kernel hands each connection to either at random:
such binds carry ``refuses_repeat`` (PP004 says both outcomes). A repeat inside one section
is the same frontend twice and is left alone.

A ``peers`` section's ``peer <name> <addr>:<port>`` line is a socket too, for the local peer
only: HAProxy binds the line whose name is its local peer name (``localpeer``, else ``-L``,
else the host name; ``src/peers.c``, manual section 3.5 ``peers``). Since 2.0 a ``bind`` line
in ``peers`` says it instead, and the local ``peer`` line has no address.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    Format,
    Source,
    is_templated,
    parse_port_range,
    shown,
)
from portpolicy.readers.lexing import ForwardFinder
from portpolicy.readers.netaddr import bind_address, templated_host, unknown_address

NAME = "haproxy"

FORMAT = Format(
    "an HAProxy config",
    "HAProxy section",
    re.compile(
        r"[ \t]*(?:global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|mailers|cache"
        r"|ring|http-errors|crt-store|traces|log-forward|fcgi-app)(?:[ \t]|$)"
    ),
    whole_file=False,
)
SERVICE = "haproxy"

_SECTIONS = frozenset(
    {
        "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
        "program", "mailers", "cache", "ring", "http-errors", "log-forward", "fcgi-app", "crt-store",
        "traces", "acme",
    }
)  # fmt: skip
_BIND_SECTIONS = frozenset({"frontend", "listen", "peers", "log-forward"})
_NO_PORT = ("unix@", "abns@", "abnsz@", "fd@", "sockpair@", "/", "uxst@", "uxdg@", "mptcp@")
_UDP = ("udp@", "udp4@", "udp6@", "quic4@", "quic6@", "quic@")
_PREFIX = re.compile(r"^([a-z0-9]+)@")
_SNIFF = re.compile(r"^[ \t]*(?:frontend|listen|backend|global|defaults)\b", re.M)


def read(source: Source) -> Iterator[Fact]:
    """One file's ``bind`` lines; a file with no HAProxy section yields nothing (by content, whatever its name)."""
    if not _SNIFF.search(source.text):
        return
    text = source.masked
    section, opened = "", 0
    user: Evidence | None = None
    binds: list[tuple[list[tuple[str, int]], int, str, int]] = []
    peers: list[tuple[str, tuple[str, int], int, int]] = []
    local: str | None = None
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        words = _words(raw)
        if not words:
            continue
        if words[-1][0] == _UNMATCHED:
            yield ParseError(
                "unmatched quote: HAProxy refuses to load this configuration", source.at(number, words[-1][1])
            )
            return
        keyword = words[0][0]
        if keyword in _SECTIONS:
            section, opened = keyword, number
            continue
        if section == "global" and keyword in ("user", "uid") and len(words) > 1:
            user = Evidence(
                source.at(number, words[0][1]),
                f"{keyword} {shown(words[1][0])}: HAProxy drops to it after binding its listeners as root",
            )
        elif section in _BIND_SECTIONS and keyword == "bind" and len(words) > 1:
            binds.append((words[1:], number, section, opened))
        elif section in _BIND_SECTIONS and keyword == "bind":
            yield ParseError(
                "'bind' without an address: HAProxy refuses to load this configuration",
                source.at(number, words[0][1]),
            )
            return
        elif section == "global" and keyword == "stats" and len(words) > 2 and words[1][0] == "socket":
            binds.append((words[2:], number, "stats", number))
        elif section == "global" and keyword == "localpeer" and len(words) > 1:
            local = words[1][0]
        elif section == "peers" and keyword == "peer" and len(words) > 2:
            peers.append((words[1][0], words[2], number, opened))
    binds.extend(_local_peers(peers, local))
    listeners: list[tuple[int, Listener]] = []
    for args, number, section, opened in binds:
        for fact in _bind(source, args, number, section, user):
            if isinstance(fact, Listener):
                listeners.append((opened, fact))
            else:
                yield fact
    yield from _mark_repeats(listeners)


def _mark_repeats(listeners: list[tuple[int, Listener]]) -> Iterator[Listener]:
    """Each listener, with ``refuses_repeat`` when another section binds its address and port."""
    sections: dict[tuple[str, PortRange, BindAddress], set[int]] = defaultdict(set)
    for opened, listener in listeners:
        sections[(listener.protocol, listener.ports, listener.address)].add(opened)
    for _, listener in listeners:
        repeated = len(sections[(listener.protocol, listener.ports, listener.address)]) > 1
        yield replace(listener, refuses_repeat=True) if repeated else listener


def _words(line: str) -> list[tuple[str, int]]:
    """(word, column) as HAProxy splits a line: blanks, quotes, backslash escapes, ``#`` comments."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(line)
    closer = ForwardFinder(line, "}}")  # each "}}" looked for once, however many "{{" are open
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] == "#":
            break
        start = i
        word: list[str] = []
        quote = ""
        while i < n and (quote or line[i] not in " \t#"):
            ch = line[i]
            if line.startswith("{{", i) and closer.at_or_after(i) < n:
                end = closer.at_or_after(i) + 2  # a Jinja expression is one piece of the word
                word.append(line[i:end])
                i = end
                continue
            if ch == "\\" and i + 1 < n and quote != "'":
                word.append(line[i + 1])
                i += 2
                continue
            if ch in "\"'" and not quote:
                quote = ch
            elif ch == quote:
                quote = ""
            else:
                word.append(ch)
            i += 1
        if quote:
            out.append((_UNMATCHED, start + 1))  # HAProxy: "unmatched quote"
            break
        out.append(("".join(word), start + 1))
    return out


_UNMATCHED = "\0unmatched quote"
"""Stands as the last word of a line whose quote never closes (no real word holds a NUL)."""


def _local_peers(
    peers: list[tuple[str, tuple[str, int], int, int]], local: str | None
) -> Iterator[tuple[list[tuple[str, int]], int, str, int]]:
    """The ``peer`` lines HAProxy binds: the one named as the local peer.

    The local peer's name is ``localpeer`` (global), else ``-L``, else the host name; HAProxy
    listens on that ``peer`` line's address. Without ``localpeer`` the host decides which line
    is its own: when every peer of a section uses one port, that port is bound (on the
    address of whichever line is local, so any address), else nothing is known.
    """
    by_section: dict[int, list[tuple[str, tuple[str, int], int, int]]] = defaultdict(list)
    for peer in peers:
        by_section[peer[3]].append(peer)
    for opened, members in by_section.items():
        if local is not None:
            for name, address, number, _ in members:
                if name == local:
                    yield [address], number, "peers", opened
            continue
        ports = {address[0].rpartition(":")[2] for _, address, _, _ in members}
        if len(ports) == 1:
            _, (text, column), number, _ = members[0]
            yield [(":" + text.rpartition(":")[2], column)], number, "peers", opened


def _bind(
    source: Source, args: list[tuple[str, int]], line: int, section: str, user: Evidence | None
) -> Iterator[Fact]:
    spec, column = args[0]
    params = {w for w, _ in args[1:]}
    where = source.at(line, column)
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        yield from _one(item, params, where, section, user)


def _one(item: str, params: set[str], where: Location, section: str, user: Evidence | None) -> Iterator[Fact]:
    unknown_host: str | None = None
    if is_templated(item) or "$" in item:
        split = templated_host(item)  # ``{{ ip }}:8404``: the port is known, the address is not
        family_prefix, at, after = split[0].partition("@") if split else ("", "", "")
        if split is None or (at and is_templated(family_prefix)):
            yield Unresolved(item, "HAProxy bind: value is a template or environment variable", where)
            return
        unknown_host = after if at else split[0]
    if item.startswith(_NO_PORT):
        return
    lowered = item.lower()
    protocol = "udp" if lowered.startswith(_UDP) else "tcp"
    family = "ipv4"
    prefix = _PREFIX.match(lowered)
    address_text = item
    if prefix:
        name = prefix.group(1)
        if name not in {
            "ipv4",
            "ipv6",
            "udp",
            "udp4",
            "udp6",
            "quic4",
            "quic6",
            "quic",
            "tcp",
            "tcp4",
            "tcp6",
        }:
            return  # a socket family with no IP port (or one we do not know)
        address_text = item[prefix.end() :]
        family = "ipv6" if name.endswith("6") else family
    if ":" not in address_text:
        if section == "stats":
            return
        yield InvalidPort(item, f"HAProxy bind {shown(item)}: missing port", where, "bind")
        return
    host, _, port_text = address_text.rpartition(":")
    if section == "stats" and not port_text:
        return
    parsed = parse_port_range(port_text, where, f"HAProxy bind {shown(item)}")
    if not isinstance(parsed, PortRange):
        if parsed is not None:
            yield parsed
        return
    host = host.strip("[]")
    if unknown_host is not None:
        address = unknown_address(unknown_host)
    elif host in ("", "*", "0.0.0.0"):
        address = BindAddress(None, family)
    elif host == "::":
        address = BindAddress(None, "ipv6" if "v6only" in params else "dual")
    else:
        address = bind_address(host)
    evidence = (user,) if user else ()
    yield Listener(
        service=SERVICE,
        protocol=protocol,
        ports=parsed,
        address=address,
        location=where,
        bound_by="root-master",
        source=NAME,
        evidence=evidence,
    )
