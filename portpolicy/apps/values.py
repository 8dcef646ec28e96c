"""A socket's value in its form: a port, an address, a URL list, a list of ports."""

from __future__ import annotations

import re

from portpolicy.apps.table import Socket
from portpolicy.readers.base import ascii_int, shown
from portpolicy.readers.netaddr import split_host_port
from portpolicy.records import record

_SCHEME_PORTS = {"http": 80, "https": 443, "tcp": None, "unix": None}


@record
class Port:
    host: str | None
    port: int
    protocol: str | None = None


def ports_of(value: str, socket: Socket) -> list[Port] | str | None:
    """The sockets ``value`` names in the socket's form; a string says why it names none; None: off."""
    form = socket.form
    if form == "urls":
        return url_ports(value)
    if form == "ports":
        out: list[Port] = []
        for part in re.split(r"[;,:\s]+", value.strip())[:64]:
            if part:
                port = port_number(part)
                if isinstance(port, str):
                    return port
                if port:
                    out.append(Port(socket.address, port))
        return out
    if form == "port":
        port = port_number(value)
        return port if isinstance(port, str) else ([Port(socket.address, port)] if port else None)
    return _address_port(value, socket)


def port_number(text: str) -> int | str:
    text = text.strip()
    port = ascii_int(text)
    if port is None or port > 65535:
        return f"{shown(text)!r} is not a port in 1-65535"
    return port


def _address_port(value: str, socket: Socket) -> list[Port] | str | None:
    text, protocol = value.strip(), None
    for suffix in ("/tcp", "/udp"):
        if text.lower().endswith(suffix):
            text, protocol = text[: -len(suffix)], suffix[1:]
    if socket.form == "host_port" and ascii_int(text) is not None:
        port = port_number(text)
        return port if isinstance(port, str) else ([Port(socket.address, port, protocol)] if port else None)
    host, port_text = split_host_port(text)
    if port_text is None or (host is None and not text.startswith(":") and not text.startswith("[")):
        return "missing port in address"
    port = port_number(port_text)
    if isinstance(port, str):
        return port
    return [Port(host or None, port, protocol)] if port else None


def url_ports(value: str) -> list[Port] | str | None:
    out: list[Port] = []
    for part in re.split(r"[;,\s]+", value.strip())[:64]:
        if not part:
            continue
        scheme, sep, rest = part.partition("://")
        if not sep:
            scheme, rest = "", part
        scheme = scheme.lower()
        if scheme == "unix":
            continue
        hostport = rest.split("/", 1)[0]
        host, port_text = split_host_port(hostport)
        if port_text is None:
            default = _SCHEME_PORTS.get(scheme)
            if default is None:
                return f"{shown(part)!r} names no port"
            port: int | str = default
            host = hostport or None
        else:
            port = port_number(port_text)
        if isinstance(port, str):
            return port
        if host in ("+", "*"):
            host = None
        if port:
            out.append(Port(host, port))
    return out or None


def address_port(value: str) -> list[Port] | str | None:
    """``80``, ``:80``, ``0.0.0.0:80``, ``[::]:80``, ``tcp://host:80`` or a URL as a config file
    writes it; None when the value names an address and no port (its port is written elsewhere)."""
    text = value.strip()
    if "://" in text:
        return url_ports(text) or []
    if ascii_int(text) is not None:
        port = port_number(text)
        return port if isinstance(port, str) else ([Port(None, port)] if port else [])
    host, port_text = split_host_port(text)
    if port_text is None:
        return None
    port = port_number(port_text)
    if isinstance(port, str):
        return port
    return [Port(host or None, port)] if port else []
