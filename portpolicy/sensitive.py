"""Which listeners are a sensitive service (``data/sensitive.yml``): a data store or admin
endpoint that must not be reachable from everywhere.

A listener is known as one by what runs behind it, not by the host port it is published on:
its image first (``image: redis`` publishing ``8080:6379`` is Redis, ``image: nginx`` on
host port 6379 is not), else its container port (the port a published port forwards to, or
the socket's own port). Ports many programs share are not in the table; those services are
known by image only. The hosts stage calls ``mark`` once per listener, so PP015 only compares
``Listener.sensitive``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from portpolicy import imagerefs
from portpolicy.model import Listener, PortRange, Sensitive
from portpolicy.readers.base import shown
from portpolicy.records import record

PUBLISHERS = frozenset({"runtime", "rootless-runtime"})
"""``bound_by`` values of a published port: the service is behind ``forwards_to``."""
MAX_SHOWN_IMAGE = 80


@record
class Entry:
    """One row of the table."""

    service: str
    ports: frozenset[tuple[int, str]]
    images: tuple[str, ...]
    why: str
    fix: str
    source: str
    port_alone: bool = True
    """The port identifies the service even in a container whose image is known and not listed."""


@cache
def _document() -> dict[str, Any]:
    text = resources.files("portpolicy.data").joinpath("sensitive.yml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return document


@cache
def table() -> tuple[Entry, ...]:
    """The table, read once (lazily: only a scan that marks listeners needs it)."""
    return tuple(_entry(row) for row in _document()["sensitive"])


@cache
def front_ends() -> frozenset[str]:
    """Readers of proxies and web servers, whose listeners are never a data store by port alone."""
    return frozenset(str(name) for name in _document().get("front_ends") or ())


def _entry(row: dict[str, Any]) -> Entry:
    ports: set[tuple[int, str]] = set()
    for spec in row.get("ports") or ():
        number, _, protocol = str(spec).partition("/")
        ports.add((int(number), protocol or "tcp"))
    return Entry(
        service=str(row["service"]),
        ports=frozenset(ports),
        images=tuple(str(p) for p in row.get("images") or ()),
        why=str(row["why"]),
        fix=str(row["fix"]),
        source=str(row["source"]),
        port_alone=bool(row.get("port_alone", True)),
    )


@lru_cache(maxsize=1024)
def by_image(image: str) -> Entry | None:
    """The entry whose image patterns name ``image`` (None for no reference or no match).

    Cached: a stack's listeners share a few images, and matching one against every pattern
    of the table was most of a scan of thousands of published ports.
    """
    ref = imagerefs.parse(image) if image else None
    if ref is None:
        return None
    return next((e for e in table() if any(imagerefs.matches(ref, p) for p in e.images)), None)


def by_port(ports: PortRange, protocol: str) -> Entry | None:
    """The entry whose default port this single port is (a range is no service's port)."""
    if ports.size != 1:
        return None
    return next((e for e in table() if (ports.start, protocol) in e.ports), None)


def service_port(listener: Listener) -> PortRange:
    """The port the service itself listens on: the container port a published port forwards to."""
    if listener.bound_by in PUBLISHERS and listener.forwards_to is not None:
        return listener.forwards_to
    return listener.ports


def classify(listener: Listener) -> Sensitive | None:
    """The sensitive service behind ``listener``, and what told: its image, else its port."""
    if listener.source in front_ends() and by_image(listener.image) is None:
        return None
    port = service_port(listener)
    side = "container port" if listener.bound_by in PUBLISHERS and listener.forwards_to else "port"
    return classify_port(listener.image, port, listener.protocol, side)


def classify_port(image: str, port: PortRange, protocol: str, side: str = "port") -> Sensitive | None:
    """The sensitive service a process of ``image`` serves on ``port``: its image, else its port.

    An image names the service only on the service's own ports (or any port, for a service
    known by image alone): another port of the container is something else (a sidecar's,
    an exporter's, a health check's). ``side`` names the port in the basis ("container port").
    """
    entry = by_image(image)
    if entry is not None:
        if (entry.ports and (port.start, protocol) not in entry.ports) or port.size != 1:
            return None
        return _sensitive(entry, f"its image {shown(image)[:MAX_SHOWN_IMAGE]} runs {entry.service}")
    entry = by_port(port, protocol)
    if entry is None or (not entry.port_alone and imagerefs.parse(image) is not None):
        return None
    return _sensitive(entry, f"{side} {protocol}/{port} is {entry.service}'s port")


@cache
def internal_load_balancers() -> dict[str, frozenset[str]]:
    """Service annotations that make a cloud's load balancer internal: name -> values (lower case)."""
    rows = _document().get("internal_load_balancers") or ()
    return {str(r["annotation"]): frozenset(str(v).lower() for v in r["values"]) for r in rows}


def _sensitive(entry: Entry, basis: str) -> Sensitive:
    return Sensitive(entry.service, entry.why, basis, entry.fix, entry.source)


def mark(listener: Listener) -> Listener:
    """``listener`` with ``sensitive`` filled in (unchanged when it is no sensitive service)."""
    found = classify(listener)
    return listener if found is None else replace(listener, sensitive=found)
