"""firewalld's built-in service catalogue: the ports each shipped service opens.

One home for the catalogue (``portpolicy/data/firewalld_services.yml``, generated from a
firewalld release) and the entries it is made of, so the firewalld reader (zones naming a
service), ``firewall-cmd --add-service`` lines in scripts and Ansible's
``ansible.posix.firewalld service:`` all resolve a service name the same way, without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from portpolicy.model import Location, PortRange


@dataclass(frozen=True)
class PortEntry:
    """One ``<port>``/``<source-port>``/``<protocol>`` (ports None: the whole protocol)."""

    protocol: str
    ports: PortRange | None
    location: Location

    @property
    def text(self) -> str:
        return f"{self.ports}/{self.protocol}" if self.ports else f"protocol {self.protocol}"


@dataclass(frozen=True)
class ServiceDef:
    """A service as firewalld resolves it: from a file in the tree or from the catalogue."""

    name: str
    ports: tuple[PortEntry, ...]
    source_ports: tuple[PortEntry, ...]
    protocols: tuple[PortEntry, ...]
    includes: tuple[str, ...]
    destination: tuple[tuple[str, str], ...]
    origin: str  # the file path, or "" for the catalogue


@cache
def catalogue() -> tuple[str, dict[str, ServiceDef]]:
    """(release, services) of firewalld's built-in service catalogue, loaded once."""
    import yaml  # deferred: only needed when a zone names a service

    text = resources.files("portpolicy.data").joinpath("firewalld_services.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    nowhere = Location("<firewalld catalogue>")

    def entries(items: list[str]) -> tuple[PortEntry, ...]:
        out = []
        for item in items:
            ports, _, proto = item.rpartition("/")
            start, _, end = ports.partition("-")
            out.append(PortEntry(proto, PortRange(int(start), int(end or start)), nowhere))
        return tuple(out)

    services = {
        name: ServiceDef(
            name,
            entries(d.get("ports", [])),
            entries(d.get("source_ports", [])),
            tuple(PortEntry(p, None, nowhere) for p in d.get("protocols", [])),
            tuple(d.get("includes", [])),
            tuple(sorted(d.get("destination", {}).items())),
            "",
        )
        for name, d in data["services"].items()
    }
    return str(data["release"]), services


def service_ports(name: str) -> list[tuple[str, PortRange]] | None:
    """(protocol, range) pairs the catalogue's service ``name`` opens, includes followed; None if unknown.

    For other readers (firewall-cmd ``--add-service``, ``ansible.posix.firewalld service:``).
    """
    _, services = catalogue()
    if name not in services:
        return None
    out: list[tuple[str, PortRange]] = []
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop(0)
        if current in seen or current not in services:
            continue
        seen.add(current)
        svc = services[current]
        out.extend((e.protocol, e.ports) for e in svc.ports if e.ports is not None)
        todo.extend(svc.includes)
    return out
