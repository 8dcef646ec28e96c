"""What the nftables, iptables and ufw readers share: ports, service names and chain walks.

All three describe netfilter rules: chains of rules with matches and a verdict, built-in
or hooked chains that give a direction, user chains reached by ``jump``/``goto`` (``-j``),
and a policy for packets that fall off a base chain. Each reader parses its syntax into
``ParsedRule``/``Chain`` values; ``walk`` follows the jumps from every base chain and turns
each verdict into ``FirewallRule`` facts, carrying the caller's matches into the callee
(``tcp dport 22 jump ssh`` + ``ip saddr 10.0.0.0/8 accept`` in ``ssh`` accepts port 22
from 10.0.0.0/8 only, not every port).

Modelling choices (documented for the rules):

* one ``FirewallRule`` per protocol and per port range; rules that only match non-port
  protocols (ICMP, ESP, GRE, ...) open no port and give no fact;
* a negated port match (``!= 80``, ``! --dport 80``) becomes the complement ranges;
* a negated source address (``! -s 10.0.0.0/8``) matches almost everyone: sources stay
  empty (any);
* ``stateful`` means the rule only admits packets of known connections: its state match
  names established and/or related and nothing else (``ct state new`` is not stateful);
* a rule without a port match that also matches something the model does not carry
  (destination address, mark, address type, TCP flags, ...) gives no fact: it decides for
  some packets, not for every port;
* a base chain's policy is a fact of its own: ``service="policy"``, protocol ``any``,
  ``ports`` None; it is left out when the chain ends in an unconditional verdict, which
  the policy can then never reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from portpolicy.model import (
    Evidence,
    FirewallRule,
    InvalidPort,
    Location,
    PortRange,
    PortSet,
    Posture,
    Unresolved,
)
from portpolicy.readers.base import ascii_int, is_templated, shown

PORT_PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "33": "dccp"}
ANY_PROTOCOL = {"all", "any", "0"}
RETURN_STATES = frozenset({"established", "related"})
MAX_DEPTH = 16
ALL_PORTS = PortRange(0, 65535)


@cache
def _services() -> dict[str, dict[str, int]]:
    import yaml

    text = resources.files("portpolicy.data").joinpath("services.yml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    table: dict[str, dict[str, int]] = {}
    for name, value in raw.items():
        if isinstance(value, int):
            table[str(name)] = dict.fromkeys(PORT_PROTOCOLS, value)
        else:
            table[str(name)] = {str(k): int(v) for k, v in value.items()}
    return table


def service_port(name: str, protocol: str = "any") -> int | None:
    """The port /etc/services gives ``name`` for ``protocol`` (any protocol when "any")."""
    entry = _services().get(name)
    if entry is None:
        return None
    if protocol in entry:
        return entry[protocol]
    if protocol == "any":
        return next(iter(entry.values()))
    return None


def service_protocols(name: str) -> tuple[str, ...]:
    """The protocols (tcp, udp) /etc/services defines ``name`` for; empty when unknown."""
    entry = _services().get(name, {})
    return tuple(p for p in ("tcp", "udp") if p in entry)


def parse_port(
    text: str,
    location: Location,
    context: str,
    sep: str,
    protocol: str = "any",
    open_ends: bool = False,
) -> PortRange | InvalidPort | Unresolved:
    """``N``, a service name, or ``A<sep>B`` as a range, or a fact saying why it is none.

    ``open_ends`` is iptables' rule that ``:B`` starts at 0 and ``A:`` ends at 65535. A
    range may start at 0 (``0:1023`` is valid iptables); a single port 0 matches nothing
    real and is invalid.
    """
    value = text.strip()
    if not value:
        return InvalidPort(value, f"{context}: empty port", location, context)
    if is_templated(value) or value.startswith("$") or "@" in value:
        return Unresolved(value, f"{context}: value is a template or variable", location)
    if sep in value and not (value[0].isalpha() and service_port(value, protocol) is not None):
        head, tail = value.split(sep, 1)
        if open_ends and not head.strip():
            head = "0"
        if open_ends and not tail.strip():
            tail = "65535"
        first = _one_port(head.strip(), value, location, context, protocol, allow_zero=True)
        if not isinstance(first, int):
            return first
        last = _one_port(tail.strip(), value, location, context, protocol, allow_zero=True)
        if not isinstance(last, int):
            return last
        if first > last:
            return InvalidPort(
                value, f"{context}: range {shown(value)} starts after it ends", location, context
            )
        if last == 0:
            return InvalidPort(value, f"{context}: port 0 is no real port", location, context)
        return PortRange(first, last)
    port = _one_port(value, value, location, context, protocol, allow_zero=False)
    return PortRange.single(port) if isinstance(port, int) else port


def _one_port(
    part: str, whole: str, location: Location, context: str, protocol: str, allow_zero: bool
) -> int | InvalidPort | Unresolved:
    n = ascii_int(part)
    if n is not None:
        if n > 65535:
            return InvalidPort(whole, f"{context}: port {shown(part)} is outside 1-65535", location, context)
        if n == 0 and not allow_zero:
            return InvalidPort(whole, f"{context}: port 0 is no real port", location, context)
        return n
    if part and (part[0].isalpha()) and all(c.isalnum() or c in "-_." for c in part):
        port = service_port(part, protocol)
        if port is None:
            return Unresolved(
                whole, f"{context}: service name {shown(whole)!r} is not in the services table", location
            )
        return port
    return InvalidPort(whole, f"{context}: {shown(whole)!r} is not a port number", location, context)


def complement(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """The ports 1-65535 a negated match (``!= 80``) leaves."""
    return PortSet((PortRange(1, 65535),)).minus(PortSet.of(ranges)).ranges


@dataclass(frozen=True)
class Match:
    """What a rule matches, as far as ports are concerned. None means "no such match"."""

    protocols: tuple[str, ...] | None = None  # () = only non-port protocols: opens no port
    dports: tuple[PortRange, ...] | None = None
    sports: tuple[PortRange, ...] | None = None
    sources: tuple[str, ...] = ()
    interface: str = ""
    family: str = "dual"
    states: frozenset[str] | None = None
    narrowed: bool = False  # some match the model does not carry (destination, mark, addrtype, ...)

    @property
    def stateful(self) -> bool:
        return bool(self.states) and self.states is not None and self.states <= RETURN_STATES

    @property
    def empty(self) -> bool:
        return self == Match(family=self.family)


def _intersect(
    a: tuple[PortRange, ...] | None, b: tuple[PortRange, ...] | None
) -> tuple[PortRange, ...] | None:
    if a is None:
        return b
    if b is None:
        return a
    out = [r for x in a for y in b if (r := x.intersection(y)) is not None]
    return tuple(PortSet.of(out).ranges)


def merge(outer: Match, inner: Match) -> Match | None:
    """The match of ``inner`` reached through a jump guarded by ``outer``; None if nothing can match."""
    protocols = outer.protocols
    if inner.protocols is not None:
        protocols = (
            inner.protocols if protocols is None else tuple(p for p in protocols if p in inner.protocols)
        )
    if protocols is not None and not protocols:
        return None
    dports, sports = _intersect(outer.dports, inner.dports), _intersect(outer.sports, inner.sports)
    if dports == () or sports == ():
        return None
    family = outer.family
    if inner.family != "dual":
        if family not in ("dual", inner.family):
            return None
        family = inner.family
    states = outer.states
    if inner.states is not None:
        states = inner.states if states is None else states & inner.states
    return Match(
        protocols=protocols,
        dports=dports,
        sports=sports,
        sources=inner.sources or outer.sources,
        interface=inner.interface or outer.interface,
        family=family,
        states=states,
        narrowed=outer.narrowed or inner.narrowed,
    )


@dataclass
class ParsedRule:
    match: Match
    verdict: str  # accept, drop, reject, jump, goto, return, or "" (no verdict)
    location: Location
    target: str = ""
    service: str = ""


@dataclass
class Chain:
    name: str
    direction: str | None = None  # set for base chains (built-in or hooked)
    policy: str | None = None
    policy_location: Location | None = None
    family: str = "dual"
    rules: list[ParsedRule] = field(default_factory=list)


def walk(
    firewall: str,
    chains: dict[str, Chain],
    guess: Callable[[str], str | None] = lambda name: None,
    always_stateful: bool = False,
) -> list[FirewallRule | Posture]:
    """Every verdict reachable from the base chains (and from unreached chains ``guess`` places),
    then what the ruleset says of the host as a whole (``postures``)."""
    out: list[FirewallRule] = []
    reached: set[str] = set()
    seen: set[tuple[object, ...]] = set()

    def visit(chain: Chain, context: Match, direction: str, path: tuple[tuple[str, Location], ...]) -> None:
        reached.add(chain.name)
        for rule in chain.rules:
            merged = merge(context, rule.match)
            if merged is None or merged.protocols == ():
                continue
            if rule.verdict in ("accept", "drop", "reject"):
                if merged.narrowed and merged.dports is None and merged.sports is None:
                    # "-d 224.0.0.1 -j ACCEPT", "fib daddr type broadcast drop": not every port of
                    # the host, and not a port rule either; claiming "all ports" would be wrong.
                    continue
                location, evidence = (
                    rule.location,
                    tuple(Evidence(at, f"reached from chain {name}") for name, at in path),
                )
                if rule.match.empty and path:
                    location = path[-1][1]
                    evidence = (*evidence[:-1], Evidence(rule.location, f"verdict in chain {chain.name}"))
                for fact in emit(
                    firewall, direction, rule.verdict, merged, location, chain.name, rule.service
                ):
                    key = (
                        fact.location,
                        fact.direction,
                        fact.protocol,
                        fact.ports,
                        fact.source_ports,
                        fact.sources,
                        fact.action,
                        fact.family,
                        fact.interface,
                    )
                    if key not in seen:
                        seen.add(key)
                        out.append(replace(fact, evidence=evidence))
            elif rule.verdict in ("jump", "goto"):
                target = chains.get(rule.target)
                if target is None or len(path) >= MAX_DEPTH or any(n == target.name for n, _ in path):
                    continue
                if target.name == chain.name:
                    continue
                visit(target, merged, direction, (*path, (chain.name, rule.location)))

    for chain in chains.values():
        if chain.direction:
            visit(chain, Match(family=chain.family), chain.direction, ())
            policy = policy_fact(firewall, chain)
            if policy is not None:
                out.append(policy)
    for chain in chains.values():
        if chain.name not in reached and not chain.direction:
            direction = guess(chain.name)
            if direction:
                visit(chain, Match(family=chain.family), direction, ())
    stateful_dirs = {
        f.direction
        for f in out
        if f.action == "accept" and f.stateful and f.ports is None and f.source_ports is None
    }
    return [
        replace(f, ruleset_stateful=always_stateful or f.direction in stateful_dirs or f.stateful)
        for f in out
    ] + postures(firewall, chains)


RUNTIME_CHAIN = "DOCKER-USER"
"""The chain Docker sends forwarded traffic through before its own rules: the place to filter
published ports (docs.docker.com, "Packet filtering and firewalls")."""


def postures(firewall: str, chains: dict[str, Chain]) -> list[FirewallRule | Posture]:
    """A base input chain that ends in an unconditional verdict (its policy is never reached),
    and a ``DOCKER-USER`` chain that drops or rejects (published ports meet that filter)."""
    out: list[FirewallRule | Posture] = []
    for chain in chains.values():
        if chain.direction == "in" and firewall != "ufw":
            end = next((r for r in chain.rules if r.match.empty and r.verdict in _TERMINAL), None)
            if end is not None:
                why = f"{firewall} chain {chain.name} ends in an unconditional {end.verdict}"
                out.append(Posture("inbound", end.verdict, why, end.location))
    docker_user = chains.get(RUNTIME_CHAIN)
    found = _denying(docker_user, chains, set()) if docker_user is not None else None
    if found is not None:
        why = f"{firewall} chain {RUNTIME_CHAIN} {found.verdict}s forwarded traffic before Docker's own rules"
        out.append(Posture("runtime", "filtered", why, found.location))
    return out


_TERMINAL = ("accept", "drop", "reject")


def _denying(chain: Chain, chains: dict[str, Chain], seen: set[str]) -> ParsedRule | None:
    """The first rule of ``chain`` that drops or rejects whatever the source (a drop of listed
    sources is a blocklist, which leaves everyone else in), itself or through a jump; None when
    an unconditional accept or return comes first. Each chain is looked into once (``seen``),
    at most ``MAX_DEPTH`` jumps deep."""
    seen.add(chain.name)
    for rule in chain.rules:
        if rule.verdict in ("drop", "reject") and not rule.match.sources:
            return rule
        if rule.match.empty and rule.verdict in ("accept", "return"):
            return None
        target = chains.get(rule.target) if rule.verdict in ("jump", "goto") else None
        if target is not None and target.name not in seen and len(seen) < MAX_DEPTH:
            inner = _denying(target, chains, seen)
            if inner is not None:
                return replace(inner, location=rule.location)
    return None


def policy_fact(firewall: str, chain: Chain) -> FirewallRule | None:
    """The chain policy as a rule for every port, unless an unconditional verdict ends the chain."""
    if (
        chain.policy not in ("accept", "drop", "reject")
        or chain.policy_location is None
        or not chain.direction
    ):
        return None
    if any(r.match.empty and r.verdict in ("accept", "drop", "reject", "goto") for r in chain.rules):
        return None
    return FirewallRule(
        firewall=firewall,
        direction=chain.direction,
        action=chain.policy,
        protocol="any",
        ports=None,
        location=chain.policy_location,
        family=chain.family,
        chain=chain.name,
        service="policy",
    )


def emit(
    firewall: str,
    direction: str,
    action: str,
    match: Match,
    location: Location,
    chain: str,
    service: str = "",
) -> list[FirewallRule]:
    """One fact per protocol, destination range and source range."""
    facts = []
    for protocol in match.protocols or ("any",):
        for dport in match.dports if match.dports is not None else (None,):
            for sport in match.sports if match.sports is not None else (None,):
                facts.append(
                    FirewallRule(
                        firewall=firewall,
                        direction=direction,
                        action=action,
                        protocol=protocol,
                        ports=dport,
                        source_ports=sport,
                        location=location,
                        sources=match.sources,
                        family=match.family,
                        stateful=match.stateful,
                        chain=chain,
                        interface=match.interface,
                        service=service,
                    )
                )
    return facts


def protocol_name(text: str) -> str | None:
    """tcp/udp/sctp/dccp (also by number), "any" for all, None for a non-port protocol."""
    value = text.lower()
    if value in PORT_PROTOCOLS:
        return value
    if value in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[value]
    if value in ANY_PROTOCOL:
        return "any"
    return None
