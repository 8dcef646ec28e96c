"""What a map shows of one namespace, from a scan's report: bands, marks and the findings on them.

A finding belongs to a listener, firewall opening or pool when it points at the fact's line
(or at the line that defines its value); the mark takes the worst severity and links to the
finding's entry in the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from portpolicy.mapview.svg import COLORS, Band, Mark
from portpolicy.model import (
    Finding,
    FirewallRule,
    Host,
    Listener,
    Location,
    Namespace,
    PortPool,
    PortRange,
    PortSet,
)

RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class NamespaceMap:
    """One namespace's map and the rows of the tables beneath it."""

    host: Host
    namespace: Namespace
    bands: list[Band] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    openings: list[FirewallRule] = field(default_factory=list)
    pools: list[PortPool] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.host.name} · {self.namespace.id}"

    @property
    def empty(self) -> bool:
        return not (self.listeners or self.openings or self.pools)


def maps(report: Any, anchors: dict[Finding, str]) -> list[NamespaceMap]:
    """A map per namespace of every host, in the report's order."""
    out: list[NamespaceMap] = []
    by_place = _findings_by_place(report.findings)
    for host in report.hosts:
        for ns in host.namespaces:
            m = NamespaceMap(host, ns)
            m.listeners = [f for f in report.facts if isinstance(f, Listener) and _in(f, host, ns)]
            m.openings = [f for f in report.facts if isinstance(f, FirewallRule) and _opening(f, host, ns)]
            m.pools = [f for f in report.facts if isinstance(f, PortPool) and _in(f, host, ns)]
            m.bands = _bands(ns, m.pools)
            m.marks = [_listener_mark(ln, by_place, anchors) for ln in m.listeners]
            m.marks += [_opening_mark(fw, by_place, anchors) for fw in m.openings]
            out.append(m)
    return out


def _in(fact: Listener | PortPool, host: Host, ns: Namespace) -> bool:
    return fact.host == host.name and fact.namespace is not None and fact.namespace.id == ns.id


def _opening(rule: FirewallRule, host: Host, ns: Namespace) -> bool:
    same = rule.host == host.name and rule.namespace is not None and rule.namespace.id == ns.id
    return same and rule.direction == "in" and rule.action == "accept" and not rule.stateful


def _bands(ns: Namespace, pools: Sequence[PortPool]) -> list[Band]:
    out: list[Band] = []
    start = ns.unprivileged_port_start.value
    if isinstance(start, int) and start > 1:
        out.append(
            Band("privileged", 1, start - 1, f"ports 1-{start - 1}: root or CAP_NET_BIND_SERVICE only")
        )
    eph = ns.ephemeral_range.value
    if isinstance(eph, PortRange):
        out.append(
            Band("ephemeral", eph.start, eph.end, f"ephemeral range {eph} ({ns.ephemeral_range.source})")
        )
    reserved = ns.reserved_ports.value
    if isinstance(reserved, PortSet):
        out += [Band("reserved", r.start, r.end, f"reserved ports {r}") for r in reserved]
    out += [Band("nodeport", p.ports.start, p.ports.end, f"{p.name} pool {p.ports}") for p in pools]
    return out


def _findings_by_place(findings: Sequence[Finding]) -> dict[tuple[str, int], list[Finding]]:
    out: dict[tuple[str, int], list[Finding]] = {}
    for f in findings:
        for loc in (f.location, *(r.location for r in f.related)):
            out.setdefault((loc.path, loc.line), []).append(f)
    return out


def _on(
    locations: Sequence[Location], by_place: dict[tuple[str, int], list[Finding]], host: str
) -> list[Finding]:
    found: dict[Finding, None] = {}
    for loc in locations:
        for f in by_place.get((loc.path, loc.line), ()):
            if f.host in ("", host):
                found[f] = None
    return sorted(found, key=lambda f: -RANK.get(f.severity, 0))


def _listener_mark(
    ln: Listener, by_place: dict[tuple[str, int], list[Finding]], anchors: dict[Finding, str]
) -> Mark:
    findings = _on([ln.location, *(e.location for e in ln.evidence if e.value)], by_place, ln.host)
    color = verdict(ln)
    user = ln.run_as.user or "unknown user"
    why = reason(ln)
    tooltip = f"{ln.service} {ln.protocol}/{ln.ports} on {ln.address} as {user}: {why} ({ln.location})"
    tooltip += "".join(f"\n{f.rule} {f.severity}: {f.message}" for f in findings)
    return Mark(
        "listener",
        ln.ports.start,
        ln.ports.end,
        f"{ln.service} {ln.protocol}/{ln.ports}",
        tooltip,
        COLORS[color],
        findings[0].severity if findings else "",
        f"#{anchors[findings[0]]}" if findings else "",
    )


def reason(ln: Listener) -> str:
    """The privilege verdict in words, or why none is needed."""
    limit = ln.namespace.unprivileged_port_start.value if ln.namespace is not None else None
    if isinstance(limit, int) and ln.ports.start >= limit:
        return f"at or above ip_unprivileged_port_start {limit}: any process may bind it"
    return ln.privilege.reason if ln.privilege is not None else "no verdict"


def verdict(ln: Listener) -> str:
    """Red only where the port needs privilege and the process lacks it; above the limit any process may bind."""
    limit = ln.namespace.unprivileged_port_start.value if ln.namespace is not None else None
    if isinstance(limit, int) and ln.ports.start >= limit:
        return "granted"
    if ln.privilege is None or not ln.privilege.known:
        return "unknown"
    return "granted" if ln.privilege.granted else "refused"


def _opening_mark(
    fw: FirewallRule, by_place: dict[tuple[str, int], list[Finding]], anchors: dict[Finding, str]
) -> Mark:
    findings = _on([fw.location], by_place, fw.host)
    ports = fw.ports or PortRange(1, 65535)
    sources = ", ".join(fw.sources) or "any source"
    tooltip = f"{fw.firewall} {fw.chain} accepts {fw.protocol}/{fw.port_text} from {sources} ({fw.location})"
    tooltip += "".join(f"\n{f.rule} {f.severity}: {f.message}" for f in findings)
    return Mark(
        "firewall",
        ports.start,
        ports.end,
        f"{fw.firewall} {fw.protocol}/{fw.port_text}",
        tooltip,
        COLORS["firewall"],
        findings[0].severity if findings else "",
        f"#{anchors[findings[0]]}" if findings else "",
    )
