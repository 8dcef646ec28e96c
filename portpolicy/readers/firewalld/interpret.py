"""One zone, service or policy file interpreted as firewalld does (``src/firewall/core/io/zone.py``,
``policy.py``, ``functions.py``): ports, protocols, services, sources, forwards, rich rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portpolicy.model import (
    Fact,
    InvalidPort,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import (
    PROTOCOLS,
    Source,
    ascii_int,
    is_templated,
    shown,
)
from portpolicy.readers.firewalld.documents import (
    _REFUSED,
    FirewalldDoc,
    Forward,
    RichRule,
    _doc_name,
    _Node,
    _rank,
)
from portpolicy.readers.firewalld_catalogue import PortEntry

_SERVICE_NAME = re.compile(r"[A-Za-z][\w.+]*(?:-[A-Za-z][\w.+]*)*", re.ASCII)


_PORT_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


_ZONE_TARGETS = {"ACCEPT": "accept", "%%REJECT%%": "reject", "REJECT": "reject", "DROP": "drop"}


_POLICY_TARGETS = {"ACCEPT": "accept", "REJECT": "reject", "DROP": "drop"}


def parse_port(
    value: str, where: Location, context: str
) -> tuple[PortRange | None, list[InvalidPort | Unresolved]]:
    """A firewalld ``portid[-portid]`` as ``getPortRange()`` reads it, with facts for what is wrong.

    An inverted range is reported and still returned swapped, as firewalld applies it.
    """
    raw = " ".join(value.split())
    value = value.strip()
    if is_templated(value):
        return None, [Unresolved(raw, f"{context}: value is a template or variable", where)]
    m = _PORT_RANGE.fullmatch(value)
    if m is None:
        if _SERVICE_NAME.fullmatch(value):
            reason = f"{context}: {shown(value)!r} is a service name that firewalld looks up in the host's /etc/services"
            return None, [Unresolved(raw, reason, where)]
        what = "an empty port" if not value else f"{shown(value)!r} is not a port or port range"
        return None, [InvalidPort(raw, f"{context}: {what}; {_REFUSED}", where, context)]
    groups = [g for g in m.groups() if g is not None]
    numbers = [n for g in groups if (n := ascii_int(g)) is not None]
    for n, g in zip(numbers, groups, strict=True):
        if n > 65535:
            return None, [
                InvalidPort(raw, f"{context}: port {shown(g)} is outside 1-65535; {_REFUSED}", where, context)
            ]
        if n == 0:
            reason = f"{context}: port 0 is no port a packet is sent to; the rule matches nothing useful"
            return None, [InvalidPort(raw, reason, where, context)]
    start, end = numbers[0], numbers[-1]
    if start > end:
        reason = f"{context}: range {shown(value)} starts after it ends (firewalld silently swaps it to {end}-{start})"
        return PortRange(end, start), [InvalidPort(raw, reason, where, context)]
    return PortRange(start, end), []


class _Interpreter:
    """Turns the element tree of one file into a ``FirewalldDoc`` plus problem facts."""

    def __init__(self, source: Source, tree: _Node) -> None:
        self.source = source
        self.tree = tree
        self.facts: list[Fact] = []
        self.values: dict[str, list[Any]] = {
            k: []
            for k in (
                *("sources", "interfaces", "ports", "source_ports", "protocols", "services"),
                *("includes", "forwards", "rules", "destination", "ingress", "egress"),
            )
        }
        self.disabled = False

    def run(self) -> Iterator[Fact | FirewalldDoc]:
        root = self.tree
        for child in root.children:
            self._top(root.tag, child)
        if root.templated_text:
            self.facts.append(
                Unresolved(root.tag, f"template text inside <{root.tag}> may add entries", root.location)
            )
        target = root.get("target")
        if is_templated(target):
            self.facts.append(Unresolved(target, f"<{root.tag} target=>: value is a template", root.location))
            target = ""
        allowed = _ZONE_TARGETS if root.tag == "zone" else _POLICY_TARGETS
        if target and target not in allowed and target not in {"default", "CONTINUE", "{chain}_{zone}"}:
            self.facts.append(
                ParseError(f"unknown {root.tag} target {shown(target)!r}; {_REFUSED}", root.location)
            )
            target = ""
        v = self.values
        yield from self.facts
        yield FirewalldDoc(
            role=root.tag,
            name=_doc_name(self.source.name_path),
            path=self.source.path,
            location=root.location,
            rank=_rank(self.source.name_path),
            target=target,
            sources=tuple(v["sources"]),
            interfaces=tuple(v["interfaces"]),
            ports=tuple(v["ports"]),
            source_ports=tuple(v["source_ports"]),
            protocols=tuple(v["protocols"]),
            services=tuple(v["services"]),
            includes=tuple(v["includes"]),
            forwards=tuple(v["forwards"]),
            rules=tuple(v["rules"]),
            destination=tuple(v["destination"]),
            ingress=tuple(v["ingress"]),
            egress=tuple(v["egress"]),
            disabled=self.disabled,
        )

    def _protocol(self, node: _Node, context: str) -> str | None:
        proto = node.get("protocol").strip()
        if is_templated(proto):
            self.facts.append(Unresolved(proto, f"{context}: protocol is a template", node.location))
            return None
        if proto not in PROTOCOLS:
            self.facts.append(
                ParseError(
                    f"{context}: protocol {shown(proto)!r} is not tcp, udp, sctp or dccp; {_REFUSED}",
                    node.location,
                )
            )
            return None
        return proto

    def _entry(self, node: _Node, context: str) -> PortEntry | None:
        if node.tag == "protocol":
            value = node.get("value").strip()
            if is_templated(value):
                self.facts.append(Unresolved(value, f"{context}: protocol is a template", node.location))
                return None
            return PortEntry(value.lower(), None, node.location)
        if node.tag == "port" and self.tree.tag == "service" and not node.get("port").strip():
            # The old way to write a protocol in a service (firewalld.service(5)).
            return PortEntry(node.get("protocol").strip().lower(), None, node.location)
        proto = self._protocol(node, context)
        ports, problems = parse_port(node.get("port"), node.location, context)
        self.facts.extend(problems)
        if proto is None or ports is None:
            return None
        return PortEntry(proto, ports, node.location)

    def _forward(self, node: _Node, context: str) -> Forward | None:
        proto = self._protocol(node, context)
        ports, problems = parse_port(node.get("port"), node.location, context)
        self.facts.extend(problems)
        to_port = node.get("to-port").strip()
        if to_port:
            _, more = parse_port(to_port, node.location, f"{context} to-port")
            self.facts.extend(more)
        if proto is None or ports is None:
            return None
        return Forward(proto, ports, node.location, to_port, node.get("to-addr").strip())

    def _top(self, role: str, node: _Node) -> None:
        v = self.values
        tag = node.tag
        context = f"<{tag}>"
        if tag in ("port", "protocol"):
            entry = self._entry(node, context)
            if entry is not None:
                v["protocols" if entry.ports is None else "ports"].append(entry)
        elif tag == "source-port":
            entry = self._entry(node, context)
            if entry is not None:
                v["source_ports"].append(entry)
        elif tag == "service" and role != "service":
            name = node.get("name").strip()
            if is_templated(name):
                self.facts.append(Unresolved(name, "<service name=>: value is a template", node.location))
            elif name:
                v["services"].append((name, node.location))
        elif tag == "include" and role == "service":
            v["includes"].append((node.get("service").strip(), node.location))
        elif tag == "destination" and role == "service":
            v["destination"].extend((k, val) for k, val in node.attrs if k in ("ipv4", "ipv6"))
        elif tag == "forward-port":
            fwd = self._forward(node, context)
            if fwd is not None:
                v["forwards"].append(fwd)
        elif tag == "interface" and role == "zone":
            v["interfaces"].append(node.get("name").strip())
        elif tag == "source" and role == "zone":
            address = node.get("address").strip() or (
                f"ipset:{node.get('ipset').strip()}" if node.has("ipset") else ""
            )
            if node.has("mac"):
                address = f"mac:{node.get('mac').strip()}"
            if is_templated(address):
                self.facts.append(Unresolved(address, "<source>: address is a template", node.location))
            elif address:
                v["sources"].append((address, node.location))
        elif tag in ("ingress-zone", "egress-zone") and role == "policy":
            v["ingress" if tag == "ingress-zone" else "egress"].append(node.get("name").strip())
        elif tag == "disable" and role == "policy":
            self.disabled = True
        elif tag == "rule" and role != "service":
            rule = self._rich(node)
            if rule is not None:
                v["rules"].append(rule)

    def _rich(self, node: _Node) -> RichRule | None:
        family = node.get("family").strip() or "dual"
        source, inverted, destination = "", False, ""
        element, entry, service, forward, action, limited = "none", None, "", None, "", False
        for child in node.children:
            tag = child.tag
            if tag == "source":
                inverted = child.get("invert").strip().lower() in ("yes", "true")
                if child.has("address"):
                    source = child.get("address").strip()
                elif child.has("mac"):
                    source = f"mac:{child.get('mac').strip()}"
                elif child.has("ipset"):
                    source = f"ipset:{child.get('ipset').strip()}"
                if is_templated(source):
                    self.facts.append(Unresolved(source, "rich rule source is a template", child.location))
                    return None
            elif tag == "destination":
                destination = child.get("address").strip() or child.get("ipset").strip()
                if child.get("invert").strip().lower() in ("yes", "true"):
                    destination = f"not {destination}"
            elif tag in ("port", "source-port", "protocol"):
                element = tag
                entry = self._entry(child, f"rich rule <{tag}>")
                if entry is None:
                    return None
                if tag == "protocol":
                    element = "protocol"
            elif tag == "service":
                element, service = "service", child.get("name").strip()
                if is_templated(service):
                    self.facts.append(
                        Unresolved(service, "rich rule <service>: name is a template", child.location)
                    )
                    return None
            elif tag == "forward-port":
                element = "forward-port"
                forward = self._forward(child, "rich rule <forward-port>")
                if forward is None:
                    return None
            elif tag in ("accept", "reject", "drop", "mark"):
                action = tag
                limited = any(c.tag == "limit" for c in child.children)
            elif tag in ("icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp"):
                element = "other"
        return RichRule(
            node.location,
            family,
            source,
            inverted,
            destination,
            element,
            entry,
            service,
            forward,
            action,
            limited,
        )
