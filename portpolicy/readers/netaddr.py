"""Address helpers the daemon readers share: ``host:port`` splitting and bind addresses.

Each daemon writes addresses its own way (nginx ``[::1]:80``, HAProxy ``:::80``, sshd
``[::]:22``), but once split they mean the same thing to the kernel: a wildcard of one
family, a numeric address, or a host name the daemon resolves when it starts.

A template in the host part only (``bind {{ ansible_default_ipv4.address }}:9000``, an
Ansible template whose expression the scan could not evaluate and left as written) still
gives a listener: its port is literal, its address unknown (``templated_host``,
``BindAddress.unknown``). The template text is the user's own; no placeholder is made up.
"""

from __future__ import annotations

import ipaddress

from portpolicy.model import BindAddress
from portpolicy.readers.base import is_templated


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


def templated_host(text: str) -> tuple[str, str] | None:
    """``{{ expr }}:port`` with a template in the host part only and a literal port, as
    (host as written, port text); None when the port is templated too (or there is none).

    The template must close before the last colon (``{{ a | default('::') }}:80`` is
    split after it), so a colon inside an expression is never taken for the separator.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host.strip() or not port or not is_templated(host):
        return None
    if is_templated(port) or any(c in port for c in "{}$%<>@"):
        return None
    if host.count("{{") != host.count("}}") or host.count("{%") != host.count("%}"):
        return None
    return host.strip(), port


def unknown_address(host: str) -> BindAddress:
    """The address of a templated host part (``templated_host``): known only on the host."""
    return BindAddress(host, "dual", unknown=True)
