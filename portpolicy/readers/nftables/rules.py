"""One rule's matches and verdict, as a ``netfilter.ParsedRule`` of its chain.

Understood: ports (``tcp dport``, ``th``, ranges, ``!=``, anonymous and named sets),
``meta l4proto``/``ip protocol``, ``ip/ip6 saddr``, ``iifname``/``iif``, ``ct state``, verdict
maps on ports, states, sources and interfaces, and the verdicts ``accept``/``drop``/``reject``/
``jump``/``goto``/``return``. A match the model does not carry narrows the rule; NAT rules
decide no filter verdict and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from portpolicy.model import InvalidPort, Location, ParseError, PortRange, Unresolved
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import shown
from portpolicy.readers.nftables.blocks import Block, Item, item_at, item_text, set_elements
from portpolicy.readers.nftables.lexer import Tok
from portpolicy.readers.nftables.ruleset import FAMILIES, OTHER_FAMILIES, NftTable, Ruleset, resolve_define

_VERDICT_WORDS = {"accept", "drop", "reject", "return", "continue", "queue"}
_NAT_WORDS = {"masquerade", "snat", "dnat", "redirect", "notrack", "tproxy", "synproxy", "dup", "fwd"}
_NON_PORT_PROTOCOLS = {"icmp", "icmpv6", "ipv6-icmp", "igmp", "esp", "ah", "gre", "vrrp", "ospf", "comp"}
_STATES = {"new", "established", "related", "invalid", "untracked"}
_VMAP_ELEMENT = re.compile(r"^(.*?)\s*:\s*(accept|drop|reject|return|continue|(?:jump|goto)\s+\S+)$")


# Matches that limit a rule to some packets in a way the model does not carry.
_NARROWING = {
    "fib",
    "pkttype",
    "mark",
    "rt",
    "ether",
    "oif",
    "oifname",
    "frag-off",
    "socket",
    "skuid",
    "skgid",
    "cgroup",
    "hbh",
    "frag",
    "dst",
    "mh",
    "srh",
    "ipsec",
    "osf",
    "exthdr",
    "daddr",
    "numgen",
    "jhash",
    "cpu",
    "iiftype",
    "ct" + "mark",
    "status",
    "tcp" + "option",
}


@dataclass
class _Matches:
    """What one rule matches so far, and its verdict; ``failed`` drops the rule, ``nat`` leaves it out."""

    protocols: tuple[str, ...] | None = None
    dports: tuple[PortRange, ...] | None = None
    sports: tuple[PortRange, ...] | None = None
    sources: tuple[str, ...] = ()
    interface: str = ""
    family: str = "dual"
    states: frozenset[str] | None = None
    verdict: str = ""
    target: str = ""
    vmap: list[tuple[str, list[Item], str]] = field(default_factory=list)  # (key kind, key items, verdict)
    nat: bool = False
    failed: bool = False
    narrowed: bool = False


def read_rule(rs: Ruleset, table: NftTable, chain_name: str, items: list[Item]) -> None:
    if table.family in OTHER_FAMILIES or not items:
        return
    at = item_at(items[0])
    items = resolve_define(rs, items)
    r = _Matches(family=FAMILIES.get(table.family, "dual"))
    i = 0
    n = len(items)
    while i < n:
        w = item_text(items[i])
        nxt = item_text(items[i + 1]) if i + 1 < n else ""
        if w in nf.PORT_PROTOCOLS or w == "th":
            if nxt in ("dport", "sport"):
                i = _port_match(rs, table, r, items, i + 2, w, nxt)
                continue
            if w != "th":
                _narrow(r, (w,))
            i += 1
            continue
        if w == "meta" and nxt in ("l4proto", "nfproto", "iifname", "iif", "protocol"):
            i += 1
            continue
        if w in ("l4proto",) or (w == "ip" and nxt == "protocol") or (w == "ip6" and nxt == "nexthdr"):
            j = i + 1 if w == "l4proto" else i + 2
            neg, values, j = _values(rs, table, items, j)
            names = [v for v in values]
            protos = {nf.protocol_name(v) for v in names}
            if neg:
                keep = tuple(p for p in nf.PORT_PROTOCOLS if p not in protos)
            else:
                keep = tuple(p for p in nf.PORT_PROTOCOLS if p in protos)
                if "any" in protos:
                    keep = nf.PORT_PROTOCOLS
            _narrow(r, keep)
            i = j
            continue
        if w == "nfproto":
            _neg, values, i = _values(rs, table, items, i + 1)
            if values and values[0] in ("ipv4", "ipv6"):
                r.family = values[0]
            continue
        if w in ("ip", "ip6") and nxt in ("saddr", "daddr"):
            r.family = "ipv4" if w == "ip" else "ipv6"
            r.narrowed = r.narrowed or nxt == "daddr"
            if nxt == "saddr" and i + 2 < n and item_text(items[i + 2]) == "vmap":
                i = _vmap(rs, table, r, items, i + 3, "saddr")
                continue
            neg, values, i = _values(rs, table, items, i + 2)
            if nxt == "saddr":
                r.sources = () if neg else tuple(values)
            continue
        if w in ("iifname", "iif"):
            if nxt == "vmap":
                i = _vmap(rs, table, r, items, i + 2, "iif")
                continue
            neg, values, i = _values(rs, table, items, i + 1)
            r.interface = ("!" if neg else "") + ",".join(values)
            continue
        if w == "ct" and nxt == "state":
            if i + 2 < n and item_text(items[i + 2]) == "vmap":
                i = _vmap(rs, table, r, items, i + 3, "state")
                continue
            neg, values, i = _values(rs, table, items, i + 2)
            states = frozenset(v for v in values if v in _STATES)
            r.states = (frozenset(_STATES) - states) if neg else states
            continue
        if w in _NON_PORT_PROTOCOLS:
            _narrow(r, ())
            i += 1
            continue
        if w in _VERDICT_WORDS:
            r.verdict = w
            break
        if w in ("jump", "goto"):
            r.verdict, r.target = w, nxt
            break
        if w in _NAT_WORDS:
            r.nat = True
            break
        if (
            w in _NARROWING
            or (w in nf.PORT_PROTOCOLS and nxt == "flags")
            or (w == "limit" and "over" in [item_text(x) for x in items[i : i + 4]])
        ):
            r.narrowed = True
        i += 1
    if r.failed or r.nat:
        return
    chain = table.chain(chain_name)
    base = nf.Match(r.protocols, r.dports, r.sports, r.sources, r.interface, r.family, r.states, r.narrowed)
    if r.vmap:
        for kind, key, verdict in r.vmap:
            m = _vmap_match(rs, table, base, kind, key, r)
            if m is None:
                continue
            word, _, target = verdict.partition(" ")
            if word in ("accept", "drop", "reject", "jump", "goto"):
                chain.rules.append(nf.ParsedRule(m, word, at, target=target.strip()))
        return
    if r.verdict in ("accept", "drop", "reject", "jump", "goto", "return"):
        chain.rules.append(nf.ParsedRule(base, r.verdict, at, target=r.target))


def _narrow(r: _Matches, protocols: tuple[str, ...]) -> None:
    if r.protocols is None:
        r.protocols = protocols
    else:
        r.protocols = tuple(p for p in r.protocols if p in protocols)


def _values(rs: Ruleset, table: NftTable, items: list[Item], j: int) -> tuple[bool, list[str], int]:
    """(negated, element texts, next index) for a match value: word(s), ``{ set }`` or ``@set``."""
    neg = False
    op = item_text(items[j]) if j < len(items) else ""
    if op in ("!=", "ne"):
        neg, j = True, j + 1
    elif op in ("==", "eq"):
        j += 1
    elif op.startswith("!=") and len(op) > 2:
        neg = True
        items = [*items[:j], Tok(op[2:], "word", item_at(items[j])), *items[j + 1 :]]
    values: list[str] = []
    while j < len(items):
        item = items[j]
        if isinstance(item, Block):
            values.extend(_element_text(e) for e in set_elements(item))
        elif item.text.startswith("@"):
            values.extend(_element_text(e) for e in table.sets.get(item.text[1:], [[item]]))
        else:
            values.append(item.text)
        j += 1
        following = items[j] if j < len(items) else None
        if isinstance(following, Tok) and following.kind == ",":  # a,b lists
            j += 1
            continue
        break
    return neg, values, j


def _element_text(element: list[Item]) -> str:
    return "".join(item_text(i) if isinstance(i, Tok) else "{...}" for i in element)


def _port_match(
    rs: Ruleset, table: NftTable, r: _Matches, items: list[Item], j: int, proto: str, which: str
) -> int:
    if proto != "th":
        _narrow(r, (proto,))
    if j < len(items) and item_text(items[j]) == "vmap":
        return _vmap(rs, table, r, items, j + 1, which)
    start = j
    neg, values, j = _values(rs, table, items, j)
    ranges = _ports(rs, r, values, item_at(items[min(start, len(items) - 1)]), proto, which)
    if ranges is None:
        r.failed = True
        return j
    result = nf.complement(ranges) if neg else tuple(ranges)
    if which == "dport":
        r.dports = nf._intersect(r.dports, result)
    else:
        r.sports = nf._intersect(r.sports, result)
    return j


def _ports(
    rs: Ruleset, r: _Matches, values: list[str], at: Location, proto: str, which: str
) -> list[PortRange] | None:
    what = "destination port" if which == "dport" else "source port"
    protocol = proto if proto in nf.PORT_PROTOCOLS else "any"
    if not values:
        rs.facts.append(ParseError(f"{what} match without a value", at))
        return None
    out: list[PortRange] = []
    for value in values:
        if "." in value:
            rs.facts.append(Unresolved(value, f"{what}: concatenated or unusual value not modelled", at))
            return None
        if value == "{...}":
            rs.facts.append(Unresolved(value, f"{what}: nested set not modelled", at))
            return None
        got = nf.parse_port(value, at, what, "-", protocol)
        if isinstance(got, (InvalidPort, Unresolved)):
            if isinstance(got, InvalidPort) or not value.startswith("@"):
                rs.facts.append(got)
            else:
                rs.facts.append(
                    Unresolved(
                        value, f"{what}: named set {shown(value)} is not defined in the scanned files", at
                    )
                )
            return None
        out.append(got)
    return out


def _vmap(rs: Ruleset, table: NftTable, r: _Matches, items: list[Item], j: int, kind: str) -> int:
    if j >= len(items):
        return j
    item = items[j]
    elements: list[list[Item]]
    if isinstance(item, Block):
        elements = set_elements(item)
    elif item.text.startswith("@"):
        elements = table.sets.get(item.text[1:], [])
        if item.text[1:] not in table.sets:
            rs.facts.append(
                Unresolved(item.text, "nftables verdict map not defined in the scanned files", item.at)
            )
            r.failed = True
    else:
        return j + 1
    for element in elements:
        text = " ".join(item_text(i) for i in element if isinstance(i, Tok))
        m = _VMAP_ELEMENT.match(text)
        if m is None:
            continue
        key: list[Item] = [
            Tok(t, "word", item_at(element[0])) for t in m.group(1).replace(" ", "").split(",") if t
        ]
        r.vmap.append((kind, key, m.group(2)))
    return j + 1


def _vmap_match(
    rs: Ruleset, table: NftTable, base: nf.Match, kind: str, key: list[Item], r: _Matches
) -> nf.Match | None:
    values = [item_text(k) for k in key]
    at = item_at(key[0]) if key else Location("", 1, 1)
    if kind in ("dport", "sport"):
        ranges = _ports(rs, r, values, at, (base.protocols or ("any",))[0], kind)
        if ranges is None:
            return None
        if kind == "dport":
            return nf.Match(**{**base.__dict__, "dports": nf._intersect(base.dports, tuple(ranges))})
        return nf.Match(**{**base.__dict__, "sports": nf._intersect(base.sports, tuple(ranges))})
    if kind == "state":
        return nf.Match(**{**base.__dict__, "states": frozenset(v for v in values if v in _STATES)})
    if kind == "iif":
        return nf.Match(**{**base.__dict__, "interface": ",".join(values)})
    if kind == "saddr":
        return nf.Match(**{**base.__dict__, "sources": tuple(values)})
    return base
