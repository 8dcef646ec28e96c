"""Every firewalld file of a host joined as firewalld does at start-up: which zones and policies
are in force, services resolved through the host's own files then the catalogue, and the
``FirewallRule`` facts they give.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from portpolicy.model import (
    Evidence,
    Fact,
    FirewallRule,
    Location,
    PortRange,
    Posture,
    Unresolved,
)
from portpolicy.readers.base import (
    PROTOCOLS,
)
from portpolicy.readers.firewalld.documents import NAME, FirewalldDoc, Forward, RichRule
from portpolicy.readers.firewalld.interpret import _POLICY_TARGETS, _ZONE_TARGETS
from portpolicy.readers.firewalld_catalogue import PortEntry, ServiceDef, catalogue

_DONE = {"accept": "accepted", "drop": "dropped", "reject": "rejected"}
DENY = ("drop", "reject")


def assemble(facts: Sequence[Fact | FirewalldDoc]) -> list[Fact]:
    """Pick the files firewalld loads, resolve services and yield the rules in force."""
    out: list[Fact] = []
    docs: list[FirewalldDoc] = []
    for fact in facts:
        if isinstance(fact, FirewalldDoc):
            docs.append(fact)
        else:
            out.append(fact)
    out.extend(_Host(docs).rules())
    return out


@dataclass(frozen=True)
class _Match:
    """What one rule element matches once services are resolved."""

    protocol: str
    ports: PortRange | None
    source_ports: PortRange | None
    family: str
    evidence: tuple[Evidence, ...]


class _Host:
    def __init__(self, docs: list[FirewalldDoc]) -> None:
        chosen: dict[tuple[str, str], list[FirewalldDoc]] = {}
        for doc in sorted(docs, key=lambda d: (d.rank, d.path)):
            same = chosen.setdefault((doc.role, doc.name), [])
            if not same or same[0].rank == doc.rank:
                same.append(doc)  # a lower rank (/etc) replaces a shipped file of the same name
        self.docs = [d for group in chosen.values() for d in group]
        confs = [d for d in self.docs if d.role == "conf"]
        self.default_zone = next((c.default_zone for c in confs if c.default_zone is not None), "public")
        self.default_zone = self.default_zone or "public"
        self.services = {d.name: d for d in self.docs if d.role == "service"}

    def rules(self) -> Iterator[Fact]:
        for doc in self.docs:
            if doc.role == "zone":
                yield from self._zone(doc)
            elif doc.role == "policy" and not doc.disabled:
                yield from self._policy(doc)
        yield from self._postures()

    # ---- what the host's firewall does with traffic no rule takes (``Posture``, for PP016)

    def _postures(self) -> Iterator[Posture]:
        """The default zone's target (stock ``public``: ``default``, which rejects) and a policy
        that drops or rejects what enters Docker's ``docker`` zone (published ports meet it)."""
        zone = next((d for d in self.docs if d.role == "zone" and d.name == self.default_zone), None)
        conf = next((d for d in self.docs if d.role == "conf"), None)
        if zone is not None:
            action = _ZONE_TARGETS.get(zone.target, "reject" if zone.target in ("", "default") else "")
            if action:
                why = f"firewalld default zone {zone.name}, target={zone.target or 'default'} ({action})"
                yield Posture("inbound", action, why, zone.location)
        elif conf is not None:
            why = f"firewalld default zone {self.default_zone}, as shipped: target=default (reject)"
            yield Posture("inbound", "reject", why, conf.location)
        for policy in self.docs:
            action = _POLICY_TARGETS.get(policy.target, "")
            if (
                policy.role == "policy"
                and not policy.disabled
                and "docker" in policy.egress
                and action in DENY
            ):
                why = f"firewalld policy {policy.name} {_DONE[action]} traffic into the docker zone"
                yield Posture("runtime", "filtered", why, policy.location)

    # ---- zones and policies

    def _zone(self, zone: FirewalldDoc) -> Iterator[Fact]:
        bound = bool(zone.sources or zone.interfaces)
        if zone.rank == 2 and not bound and zone.name != self.default_zone:
            return  # a shipped zone nothing uses
        restricted = bool(zone.sources) and not zone.interfaces and zone.name != self.default_zone
        sources = tuple(s for s, _ in zone.sources) if restricted else ()
        scope: tuple[Evidence, ...] = ()
        if restricted:
            scope = tuple(
                Evidence(loc, f"zone {zone.name} applies only to source {s}") for s, loc in zone.sources
            )
        base = dict(
            firewall=NAME,
            direction="in",
            ruleset_stateful=True,
            chain=zone.name,
            interface=",".join(zone.interfaces),
            sources=sources,
        )
        yield from self._body(zone, base, scope)
        action = _ZONE_TARGETS.get(zone.target)
        # A rich rule with no element and no address (allowed only with a priority) catches
        # every packet before the target does: libvirt's "ACCEPT zone" only forwards.
        if action and any(r.element == "none" and not r.source and not r.destination for r in zone.rules):
            return
        if action:
            yield FirewallRule(
                action=action,
                protocol="any",
                ports=None,
                location=zone.location,
                evidence=(
                    *scope,
                    Evidence(
                        zone.location,
                        f"zone {zone.name} target={zone.target}: every packet no rule matches is {_DONE[action]}",
                    ),
                ),
                **base,  # type: ignore[arg-type]
            )

    def _policy(self, policy: FirewalldDoc) -> Iterator[Fact]:
        if "HOST" in policy.egress:
            direction = "in"
        elif "HOST" in policy.ingress:
            direction = "out"
        else:
            direction = "forward"
        flow = f"policy {policy.name}: {','.join(policy.ingress) or '?'} -> {','.join(policy.egress) or '?'}"
        scope = (Evidence(policy.location, flow),)
        base = dict(firewall=NAME, direction=direction, ruleset_stateful=True, chain=policy.name)
        yield from self._body(policy, base, scope)
        action = _POLICY_TARGETS.get(policy.target)
        if action:
            yield FirewallRule(
                action=action,
                protocol="any",
                ports=None,
                location=policy.location,
                evidence=(*scope, Evidence(policy.location, f"policy target={policy.target}")),
                **base,  # type: ignore[arg-type]
            )

    def _body(self, doc: FirewalldDoc, base: dict[str, Any], scope: tuple[Evidence, ...]) -> Iterator[Fact]:
        """Ports, protocols, source ports, services, forward ports and rich rules of a zone or policy."""
        entries = [(e, False) for e in (*doc.ports, *doc.protocols)] + [(e, True) for e in doc.source_ports]
        for entry, by_source in entries:
            match = _entry_match(entry, by_source)
            if match is not None:
                yield _rule(base, "accept", match, entry.location, scope)
        for name, where in doc.services:
            for item in self._resolve(name, where):
                if isinstance(item, _Match):
                    yield _rule(base, "accept", item, where, scope, service=name)
                else:
                    yield item
        for fwd in doc.forwards:
            yield self._forward(base, fwd, scope)
        for rule in doc.rules:
            yield from self._rich(doc, base, rule, scope)

    def _forward(self, base: dict[str, Any], fwd: Forward, scope: tuple[Evidence, ...]) -> FirewallRule:
        if fwd.to_addr:
            note = f"forward-port: forwarded to {fwd.to_addr}" + (
                f" port {fwd.to_port}" if fwd.to_port else ""
            )
            base = {**base, "direction": "forward"}
        else:
            note = f"forward-port: redirected to local port {fwd.to_port or fwd.ports}"
        match = _Match(fwd.protocol, fwd.ports, None, "dual", (Evidence(fwd.location, note),))
        return _rule(base, "accept", match, fwd.location, scope)

    def _rich(
        self, doc: FirewalldDoc, base: dict[str, Any], rule: RichRule, scope: tuple[Evidence, ...]
    ) -> Iterator[Fact]:
        notes: list[Evidence] = []
        base = dict(base)
        if rule.source and not rule.source_inverted:
            base["sources"] = (rule.source,)
        elif rule.source:
            notes.append(
                Evidence(rule.location, f"rich rule source is inverted: every source except {rule.source}")
            )
        if rule.destination:
            notes.append(Evidence(rule.location, f"rich rule destination {rule.destination}"))
        if rule.limited:
            notes.append(Evidence(rule.location, "rich rule action is rate-limited"))
        extra = (*scope, *notes)
        family = rule.family if rule.family in ("ipv4", "ipv6") else "dual"
        if rule.element == "forward-port" and rule.forward is not None:
            yield self._forward(base, rule.forward, extra)
            return
        if rule.action not in ("accept", "reject", "drop") or rule.element == "other":
            return  # log/audit only, mark, icmp, masquerade: no port is opened or closed
        matches: list[_Match | Fact] = []
        if rule.element == "none":
            matches = [_Match("any", None, None, family, ())]
        elif rule.element == "service":
            matches = list(self._resolve(rule.service, rule.location))
        elif rule.entry is not None:
            m = _entry_match(rule.entry, rule.element == "source-port")
            matches = [m] if m is not None else []
        for item in matches:
            if not isinstance(item, _Match):
                yield item
                continue
            if family != "dual" and item.family != "dual" and family != item.family:
                continue  # an ipv4 rule naming an ipv6-only service matches nothing
            fam = family if item.family == "dual" else item.family
            m = _Match(item.protocol, item.ports, item.source_ports, fam, item.evidence)
            service = rule.service if rule.element == "service" else ""
            yield _rule(base, rule.action, m, rule.location, extra, service=service)

    # ---- services

    def _resolve(self, name: str, where: Location) -> Iterator[_Match | Fact]:
        """Every port a service opens (includes followed), tree files before the catalogue."""
        seen: set[str] = set()
        todo: list[tuple[str, str]] = [(name, "")]
        while todo:
            current, via = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            found = self._service(current)
            if found is None:
                reason = (
                    f"firewalld service {current!r}"
                    + (f" (included by {via})" if via else "")
                    + f" is defined neither in this host's service files nor in firewalld {catalogue()[0]}'s "
                    "catalogue: its ports are unknown"
                )
                yield Unresolved(current, reason, where)
                continue
            release = catalogue()[0]
            label = f"service {current}" + (f" (included by {via})" if via else "")
            family = "dual"
            dest = dict(found.destination)
            if dest and len(dest) == 1:
                family = next(iter(dest))
            dest_note = f", destination {', '.join(dest.values())}" if dest else ""
            entries = [(e, False) for e in (*found.ports, *found.protocols)]
            for entry, by_source in entries + [(e, True) for e in found.source_ports]:
                if found.origin:
                    ev = Evidence(entry.location, f"{label} ({found.origin}): {entry.text}{dest_note}")
                else:
                    ev = Evidence(where, f"firewalld {release} {label}: {entry.text}{dest_note}")
                m = _entry_match(entry, by_source)
                if m is not None:
                    yield _Match(m.protocol, m.ports, m.source_ports, family, (ev,))
            todo.extend((inc, current) for inc in found.includes)

    def _service(self, name: str) -> ServiceDef | None:
        doc = self.services.get(name)
        if doc is not None:
            return ServiceDef(
                name,
                doc.ports,
                doc.source_ports,
                doc.protocols,
                tuple(n for n, _ in doc.includes),
                doc.destination,
                doc.path,
            )
        return catalogue()[1].get(name)


def _entry_match(entry: PortEntry, source_port: bool) -> _Match | None:
    """A port entry as a match; protocols without ports (gre, esp, icmp) open no port and are left out."""
    if entry.ports is None:
        if entry.protocol not in PROTOCOLS:
            return None
        return _Match(entry.protocol, None, None, "dual", ())
    if source_port:
        return _Match(entry.protocol, None, entry.ports, "dual", ())
    return _Match(entry.protocol, entry.ports, None, "dual", ())


def _rule(
    base: dict[str, Any],
    action: str,
    match: _Match,
    where: Location,
    scope: tuple[Evidence, ...],
    service: str = "",
) -> FirewallRule:
    return FirewallRule(
        action=action,
        protocol=match.protocol,
        ports=match.ports,
        source_ports=match.source_ports,
        family=match.family,
        location=where,
        service=service,
        evidence=(*match.evidence, *scope),
        **base,
    )
