"""Address helpers the daemon readers share: ``host:port`` splitting and bind addresses.

Each daemon writes addresses its own way (nginx ``[::1]:80``, HAProxy ``:::80``, sshd
``[::]:22``), but once split they mean the same thing to the kernel: a wildcard of one
family, a numeric address, or a host name the daemon resolves when it starts.
"""

from __future__ import annotations

import ipaddress

from portpolicy.model import BindAddress


def bind_address(host: str | None, wildcard_family: str = "dual") -> BindAddress:
    """The address a daemon binds for ``host`` as written; a name stays a name (resolved at start)."""
    if host is None:
        return BindAddress(None, wildcard_family)
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text in ("", "*"):
        return BindAddress(None, wildcard_family)
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return BindAddress(text, "dual")
    family = "ipv4" if ip.version == 4 else "ipv6"
    if ip.is_unspecified:
        return BindAddress(None, family)
    return BindAddress(str(ip), family)


def split_bracketed(text: str) -> tuple[str | None, str | None] | None:
    """``[v6]:port`` / ``[v6]`` -> (host, port or None); None when ``text`` is not bracketed."""
    if not text.startswith("["):
        return None
    close = text.find("]")
    if close < 0:
        return None
    host, rest = text[1:close], text[close + 1 :]
    if not rest:
        return host, None
    if rest.startswith(":"):
        return host, rest[1:]
    return None


def split_host_port(text: str) -> tuple[str | None, str | None]:
    """``host:port``, ``[v6]:port``, ``:port``, ``port`` or ``host`` -> (host, port).

    A bare IPv6 address without brackets is a host; a bare number is a port.
    """
    bracketed = split_bracketed(text)
    if bracketed is not None:
        return bracketed
    if text.isdigit():  # any digits, even "²0" or "٨٠": a port was meant, and is refused as one
        return None, text
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None
