"""The ``listen`` repeats nginx refuses at start, as ``ngx_http_add_addresses()`` decides them.

nginx groups listens by module, socket type, family, port and exact address (``listen 80``
and ``listen 127.0.0.1:80`` are two entries: the wildcard alone is bound unless ``bind``),
and merges the servers of one entry onto one socket. It stops with ``[emerg]`` when, for
one entry (the first check that fails, in this order):

- one server lists it twice: ``a duplicate listen 0.0.0.0:80`` (``ngx_http_add_server``);
- two listens set socket options (``backlog=``, ``rcvbuf=``, ``reuseport``, ``bind``, ...,
  every parameter that sets ``lsopt.set``), even identical ones: ``duplicate listen options
  for 0.0.0.0:80``;
- two listens are ``default_server``: ``a duplicate default server for 0.0.0.0:80``.

``ssl``, ``http2``, ``quic`` and ``proxy_protocol`` differing between servers only warn
(``protocol options redefined``) and are merged; a plain ``listen 80`` in many servers is the
normal virtual-host setup. Stream servers follow the same code since nginx 1.25.5; mail
refuses any second listen of an address (``duplicate "0.0.0.0:25" address and port pair``).

Listens are compared within one walk: a main config and what it includes, or the files of
one folder when no main config includes them (``conf.d/*.conf`` of one nginx). A listen
outside a ``server`` block (an unincluded snippet) has no server to compare and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from portpolicy.model import BindAddress, Evidence, Listener, Location

SOCKET_OPTIONS = frozenset({"bind", "deferred", "reuseport", "multipath"})
"""``listen`` parameters that set socket options, which nginx takes once per address:port."""
SOCKET_OPTION_PREFIXES = (
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "setfib=",
    "fastopen=",
    "accept_filter=",
    "ipv6only=",
    "so_keepalive=",
)
DEFAULT_FLAGS = frozenset({"default_server", "default"})


@dataclass(frozen=True)
class Bind:
    """One ``listen`` as nginx files it: the entry it joins, its server and its flags."""

    listener: Listener
    socket: tuple[str, ...]
    """Walk scope, module, protocol, family, port and address: one nginx address entry."""
    server: Location
    options: bool
    default: bool

    @property
    def shown(self) -> str:
        """The entry as nginx prints it (``addr_text``)."""
        return f"{nginx_address(self.listener.address)}:{self.listener.ports.start}"


def bind(listener: Listener, params: Iterable[str], scope: str, block: str, server: Location) -> Bind:
    """The entry a listener joins, from the walk's scope and its ``server`` block."""
    params = list(params)
    address = listener.address
    family = "ipv6" if address.family == "dual" and address.host is None else address.family
    host = (address.host or "").lower()
    module = block.split("-", 1)[0]
    socket = (scope, module, listener.protocol, family, str(listener.ports.start), host)
    options = any(p in SOCKET_OPTIONS or p.startswith(SOCKET_OPTION_PREFIXES) for p in params)
    return Bind(listener, socket, server, options, any(p in DEFAULT_FLAGS for p in params))


def nginx_address(address: BindAddress) -> str:
    """An address as nginx's ``addr_text`` writes it: ``0.0.0.0``, ``[::]``, ``[::1]``."""
    if address.host is None:
        return "0.0.0.0" if address.family == "ipv4" else "[::]"
    return str(address)


@dataclass
class _Entry:
    """What nginx has recorded for one address entry so far."""

    first: Bind
    servers: dict[Location, Bind] = field(default_factory=dict)
    options: Bind | None = None
    default: Bind | None = None


def refusals(binds: Iterable[Bind]) -> dict[int, tuple[Evidence, ...]]:
    """``id(listener)`` -> evidence, for every listener in a repeat nginx refuses (linear)."""
    entries: dict[tuple[str, ...], _Entry] = {}
    marks: dict[int, tuple[Evidence, ...]] = {}
    for b in binds:
        entry = entries.get(b.socket)
        if entry is None:
            entries[b.socket] = _Entry(b, {b.server: b}, b if b.options else None, b if b.default else None)
            continue
        refused = _refused(b, entry)
        if refused is not None:
            first, message = refused
            marks.setdefault(id(first.listener), ())
            why = f"nginx: [emerg] {message}: the earlier listen is here"
            marks[id(b.listener)] = (*marks.get(id(b.listener), ()), Evidence(first.listener.location, why))
        entry.servers.setdefault(b.server, b)
        entry.options = entry.options or (b if b.options else None)
        entry.default = entry.default or (b if b.default else None)
    return marks


def _refused(b: Bind, entry: _Entry) -> tuple[Bind, str] | None:
    """The earlier listen this one collides with, and nginx's message; None when nginx merges them."""
    if b.socket[1] == "mail":
        return entry.first, f'duplicate "{b.shown}" address and port pair'
    same_server = entry.servers.get(b.server)
    if same_server is not None:
        return same_server, f"a duplicate listen {b.shown}"
    if b.options and entry.options is not None:
        return entry.options, f"duplicate listen options for {b.shown}"
    if b.default and entry.default is not None:
        return entry.default, f"a duplicate default server for {b.shown}"
    return None
