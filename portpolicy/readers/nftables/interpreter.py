"""The statements of a ruleset: tables, chains, sets, defines, in block or flat command form.

``interpret`` nests the tokens, reads every top-level statement (``table inet filter { ... }``,
``add rule inet filter input ...``, also with a leading ``nft``) into a ``Ruleset`` and walks
each table's chains. A base chain's ``type filter hook`` gives its direction (nat, route and
prerouting/postrouting chains decide no filter verdict); a chain nothing reaches counts only
when it is named like one (``input``, ``in_wan``): nftables.d fragments add rules to a base
chain declared in another file. Each rule's matches are ``rules``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from portpolicy.model import Fact, ParseError, Unresolved
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import first_word, shown
from portpolicy.readers.nftables.blocks import Block, Item, item_at, item_text, nest, set_elements
from portpolicy.readers.nftables.lexer import Tok
from portpolicy.readers.nftables.rules import read_rule
from portpolicy.readers.nftables.ruleset import FAMILIES, OTHER_FAMILIES, NftTable, Ruleset, resolve_define

_HOOKS = {"input": "in", "output": "out", "forward": "forward"}
_GUESS = (
    (re.compile(r"^(input|inbound|incoming|in)([_-].*)?$", re.I), "in"),
    (re.compile(r"^(output|outbound|outgoing|out)([_-].*)?$", re.I), "out"),
    (re.compile(r"^(forward|fwd)([_-].*)?$", re.I), "forward"),
)


_RULE_STARTS = {
    "tcp",
    "udp",
    "sctp",
    "dccp",
    "th",
    "ip",
    "ip6",
    "meta",
    "ct",
    "iif",
    "iifname",
    "oif",
    "oifname",
    "counter",
    "log",
    "limit",
    "accept",
    "drop",
    "reject",
    "jump",
    "goto",
    "return",
    "icmp",
    "icmpv6",
    "type",
    "policy",
    "ether",
    "fib",
    "mark",
    "udplite",
    "l4proto",
    "socket",
    "rt",
    "pkttype",
}


def interpret(tokens: Sequence[Tok]) -> list[Fact]:
    rs = Ruleset()
    errors: list[Fact] = []
    lines = nest(tokens, errors)
    rs.facts.extend(errors)
    for line in lines:
        _top(rs, line)
    for table in rs.tables.values():
        if table.family in OTHER_FAMILIES:
            continue
        chains = {n: c for n, c in table.chains.items() if n not in table.skipped}
        rs.facts.extend(nf.walk("nftables", chains, _guess))
    return rs.facts


def _guess(name: str) -> str | None:
    for pattern, direction in _GUESS:
        if pattern.match(name):
            return direction
    return None


def _family_and_name(words: list[Item]) -> tuple[str, list[Item]]:
    """Split an optional family off ``[family] table ...`` (nft's default family is ip)."""
    if words and item_text(words[0]) in (*FAMILIES, *OTHER_FAMILIES):
        return item_text(words[0]), words[1:]
    return "ip", words


def _top(rs: Ruleset, line: list[Item]) -> None:
    if not line:
        return
    first = line[0]
    if isinstance(first, Block):
        rs.facts.append(ParseError("a '{' block where a statement is expected", first.at))
        return
    if first.kind == "tmpl" or all(isinstance(i, Tok) and i.kind == "tmpl" for i in line):
        return
    word = first.text
    if word == "nft":
        _top(rs, line[1:])
        return
    if word in ("define", "redefine"):
        if len(line) >= 3 and item_text(line[2]) == "=":
            rs.defines[item_text(line[1])] = line[3:]
        elif len(line) >= 2 and item_text(line[1]).endswith("=") is False and "=" in item_text(line[1]):
            name, _, value = item_text(line[1]).partition("=")
            rs.defines[name] = [Tok(value, "word", first.at), *line[2:]]
        else:
            rs.facts.append(ParseError("define needs 'define NAME = value'", first.at))
        return
    if word == "undefine":
        rs.defines.pop(item_text(line[1]) if len(line) > 1 else "", None)
        return
    if word == "table":
        family, rest = _family_and_name(line[1:])
        if not rest or not isinstance(rest[0], Tok):
            rs.facts.append(ParseError("table without a name", first.at))
            return
        table = rs.table(family, rest[0].text)
        body = next((i for i in rest[1:] if isinstance(i, Block)), None)
        if body is not None:
            for stmt in body.lines:
                _table_stmt(rs, table, stmt)
        return
    if word in ("add", "create", "insert", "replace") and len(line) > 1:
        what = item_text(line[1])
        family, rest = _family_and_name(line[2:])
        if what == "table":
            if rest and isinstance(rest[0], Tok):
                _top(rs, [Tok("table", "word", first.at), Tok(family, "word", first.at), *rest])
            return
        if len(rest) < 2 or not isinstance(rest[0], Tok) or not isinstance(rest[1], Tok):
            rs.facts.append(ParseError(f"'{shown(word)} {shown(what)}' needs a table and a name", first.at))
            return
        table = rs.table(family, rest[0].text)
        if what == "rule":
            read_rule(rs, table, rest[1].text, rest[2:])
        elif what == "chain":
            _table_stmt(rs, table, [Tok("chain", "word", first.at), *rest[1:]])
        elif what in ("set", "map"):
            _table_stmt(rs, table, [Tok(what, "word", first.at), *rest[1:]])
        elif what == "element":
            body = next((i for i in rest[2:] if isinstance(i, Block)), None)
            if body is not None:
                table.sets.setdefault(rest[1].text, []).extend(set_elements(body))
        return
    if word in (
        "flush",
        "delete",
        "destroy",
        "list",
        "reset",
        "rename",
        "monitor",
        "export",
        "import",
        "describe",
    ):
        return
    if word == "include":
        return
    if word in ("chain", "set", "map", "flowtable", "counter", "quota"):
        # A fragment meant to be included inside a table block (by a file not scanned, or
        # through a templated include path): read it inside a table of unknown name.
        _table_stmt(rs, rs.table("inet", "?"), line)
        return
    if word in _RULE_STARTS:
        if not rs.fragment_noted:
            rs.fragment_noted = True
            rs.facts.append(
                Unresolved(
                    word,
                    "rules outside any chain: this fragment is included inside a chain by a file "
                    "not scanned (or through a templated path), so its direction is unknown",
                    first.at,
                )
            )
        return
    rs.facts.append(ParseError(f"nft does not know the statement {first_word(word)!r}", first.at))


def _table_stmt(rs: Ruleset, table: NftTable, stmt: list[Item]) -> None:
    if not stmt:
        return
    word = item_text(stmt[0])
    if word == "chain" and len(stmt) > 1:
        name = item_text(stmt[1])
        chain = table.chain(name)
        body = next((i for i in stmt[2:] if isinstance(i, Block)), None)
        if body is not None:
            for line in body.lines:
                _chain_stmt(rs, table, chain, line)
    elif word in ("set", "map") and len(stmt) > 1:
        name = item_text(stmt[1])
        table.sets.setdefault(name, [])
        body = next((i for i in stmt[2:] if isinstance(i, Block)), None)
        for line in body.lines if body else []:
            if item_text(line[0]) == "elements":
                block = next((i for i in line if isinstance(i, Block)), None)
                if block is not None:
                    table.sets[name].extend(set_elements(block))


def _chain_stmt(rs: Ruleset, table: NftTable, chain: nf.Chain, line: list[Item]) -> None:
    word = item_text(line[0])
    if word == "type":
        words = [item_text(i) for i in line]
        kind = words[1] if len(words) > 1 else ""
        hook = (
            words[words.index("hook") + 1] if "hook" in words and words.index("hook") + 1 < len(words) else ""
        )
        if kind != "filter" or hook not in _HOOKS:
            table.skipped.add(chain.name)
            return
        chain.direction = _HOOKS[hook]
        if chain.policy is None:
            chain.policy, chain.policy_location = "accept", item_at(line[0])
        return
    if word == "policy":
        value = resolve_define(rs, line[1:2])
        policy = item_text(value[0]) if value else ""
        if policy in ("accept", "drop"):
            chain.policy, chain.policy_location = policy, item_at(line[1])
        elif policy.startswith(("{{", "$")):
            chain.policy = "unknown"
            rs.facts.append(Unresolved(policy, "chain policy is a template or variable", item_at(line[1])))
        else:
            rs.facts.append(
                ParseError(f"chain policy must be accept or drop, not {shown(policy)!r}", item_at(line[0]))
            )
        return
    if word in ("comment", "devices", "device", "flags"):
        return
    if (
        isinstance(line[0], Tok)
        and line[0].kind == "tmpl"
        and all(isinstance(i, Tok) and i.kind == "tmpl" for i in line)
    ):
        rs.facts.append(
            Unresolved(line[0].text, "nftables rules come from a template variable", item_at(line[0]))
        )
        return
    read_rule(rs, table, chain.name, line)
