"""What one firewalld file says (``FirewalldDoc``), kept until ``assemble`` sees the whole host, and
where a file sits (``/etc/firewalld`` replaces the shipped files of the same name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from portpolicy.model import (
    Location,
    PortRange,
)
from portpolicy.readers.base import (
    strip_template,
)
from portpolicy.readers.firewalld_catalogue import PortEntry

NAME = "firewalld"


ROLES = ("zone", "service", "policy")


# Shipped defaults: /usr/lib/firewalld, and firewalld's own source tree (config/zones/...).
_STOCK = re.compile(r"(?:^|/)(?:usr/)?lib/firewalld/|(?:^|/)config/(?:zones|services|policies)/")


_ETC = re.compile(r"(?:^|/)etc/firewalld/")


_REFUSED = "firewalld refuses to load this file (and falls back to its stock configuration)"


@dataclass(frozen=True)
class _Node:
    tag: str
    attrs: tuple[tuple[str, str], ...]
    location: Location
    children: tuple[_Node, ...] = ()
    templated_text: bool = False

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.attrs)


@dataclass(frozen=True)
class Forward:
    """A ``<forward-port>``: DNAT to ``to_addr`` or a local redirect to ``to_port``."""

    protocol: str
    ports: PortRange
    location: Location
    to_port: str = ""
    to_addr: str = ""


@dataclass(frozen=True)
class RichRule:
    """A ``<rule>``; ``element`` is port, source-port, protocol, service, forward-port, none or other."""

    location: Location
    family: str
    source: str
    source_inverted: bool
    destination: str
    element: str
    entry: PortEntry | None
    service: str
    forward: Forward | None
    action: str
    limited: bool


@dataclass(frozen=True)
class FirewalldDoc:
    """One parsed firewalld file, kept until ``assemble`` sees the whole host.

    ``role`` is zone, service, policy or conf; ``rank`` 0 for ``/etc/firewalld``, 2 for the
    shipped defaults, 1 for anything else (an Ansible role's files, a repository).
    """

    role: str
    name: str
    path: str
    location: Location
    rank: int
    target: str = ""
    sources: tuple[tuple[str, Location], ...] = ()
    interfaces: tuple[str, ...] = ()
    ports: tuple[PortEntry, ...] = ()
    source_ports: tuple[PortEntry, ...] = ()
    protocols: tuple[PortEntry, ...] = ()
    services: tuple[tuple[str, Location], ...] = ()
    includes: tuple[tuple[str, Location], ...] = ()
    forwards: tuple[Forward, ...] = ()
    rules: tuple[RichRule, ...] = ()
    destination: tuple[tuple[str, str], ...] = ()
    ingress: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()
    disabled: bool = False
    default_zone: str | None = None
    host: str = ""
    kind: str = field(default="firewalld_doc", init=False)


def _rank(path: str) -> int:
    padded = "/" + path
    if _ETC.search(padded):
        return 0
    return 2 if _STOCK.search(padded) else 1


def _doc_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.xml$", "", strip_template(base), flags=re.I)
