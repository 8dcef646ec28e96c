"""What a ruleset's statements have declared so far: tables, their chains and sets, defines.

The interpreter fills a ``Ruleset`` statement by statement; ``netfilter.walk`` then decides
each chain's verdicts. ``$name`` references are replaced by their ``define`` (bounded depth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portpolicy.model import Fact
from portpolicy.readers import netfilter as nf
from portpolicy.readers.nftables.blocks import Item
from portpolicy.readers.nftables.lexer import Tok

FAMILIES = {"ip": "ipv4", "ip6": "ipv6", "inet": "dual"}
OTHER_FAMILIES = {"arp", "bridge", "netdev"}
"""Tables of these families filter no host ports: they are skipped."""


@dataclass
class NftTable:
    family: str
    name: str
    chains: dict[str, nf.Chain] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    sets: dict[str, list[list[Item]]] = field(default_factory=dict)

    def chain(self, name: str) -> nf.Chain:
        if name not in self.chains:
            self.chains[name] = nf.Chain(name, family=FAMILIES.get(self.family, "dual"))
        return self.chains[name]


@dataclass
class Ruleset:
    defines: dict[str, list[Item]] = field(default_factory=dict)
    tables: dict[tuple[str, str], NftTable] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    fragment_noted: bool = False

    def table(self, family: str, name: str) -> NftTable:
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = NftTable(family, name)
        return self.tables[key]


def resolve_define(rs: Ruleset, items: list[Item], depth: int = 0) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if isinstance(item, Tok) and item.text.startswith("$") and depth < 10:
            value = rs.defines.get(item.text[1:])
            if value is not None:
                out.extend(resolve_define(rs, value, depth + 1))
                continue
        out.append(item)
    return out
