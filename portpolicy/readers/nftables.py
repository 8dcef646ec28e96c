"""nftables rulesets: ``*.nft``, ``nftables.conf``, ``nftables.d/*`` and their ``.j2`` templates.

``read`` tokenizes one file the way nft's scanner does (``#`` comments, quoted strings,
braces, ``;`` and newlines as statement ends, backslash continuations) and yields an
``NftFile``; ``assemble`` then splices ``include`` directives in place, as nft's scanner
does, and interprets each ruleset that no other file includes. Include paths are tried
relative to the including file's directory and, for absolute paths (``/etc/nftables.d/*.nft``),
below the root-filesystem tree the including file sits in (``etc/nftables.conf`` includes
``etc/nftables.d/...``); globs expand in sorted order, a ``.j2`` template stands for the
file it renders, depth is bounded. An include that matches no scanned file is Unresolved.

Understood: block syntax (``table inet filter { chain input { type filter hook input
priority 0; policy drop; ... } }``) and the flat command form (``add rule inet filter input
...``, also with a leading ``nft``), ``define``/``$var``, named sets and maps with
``elements``/``add element``, anonymous sets, ranges, ``!=``, ``th``, ``meta l4proto``,
``ip/ip6 saddr``, ``iifname``/``iif``, ``ct state`` (and ``vmap``s on ports, states and
interfaces), verdicts ``accept``/``drop``/``reject``/``jump``/``goto``/``return``.

Directions come from the base chain's ``hook``: input, output, forward (``type filter``
only; nat, route and prerouting/postrouting chains decide no filter verdict). A regular
chain takes the direction (and matches) of the base chains that jump to it; a chain that
nothing reaches counts only when it is named like one (``input``, ``in_wan``, ``output``,
``forward``): nftables.d fragments add rules to a base chain declared in another file.
``arp``, ``bridge`` and ``netdev`` tables are not host port filters and are skipped.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from portpolicy.model import Fact, InvalidPort, Location, ParseError, PortRange, Unresolved
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import Format, Source, first_word, shown, strip_template
from portpolicy.readers.lexing import glob_matches

NAME = "nftables"

FORMAT = Format(
    "an nftables ruleset",
    "nft statement",
    re.compile(
        r"[ \t]*(?:[{}]|(?:table|chain|set|map|flowtable|flush|define|redefine|undefine|include|add|insert"
        r"|create|delete|destroy|replace|list|reset|rename|type|policy|elements|flags|counter|ip6?|inet"
        r"|tcp|udp|sctp|th|meta|ct|iif|oif|iifname|oifname|icmp|icmpv6|accept|drop|reject|jump|goto"
        r"|return|log|limit)(?:[ \t;{]|$))"
    ),
)

MAX_INCLUDE_DEPTH = 16
MAX_TOKENS = 2_000_000
_FAMILIES = {"ip": "ipv4", "ip6": "ipv6", "inet": "dual"}
_OTHER_FAMILIES = {"arp", "bridge", "netdev"}
_HOOKS = {"input": "in", "output": "out", "forward": "forward"}
_GUESS = (
    (re.compile(r"^(input|inbound|incoming|in)([_-].*)?$", re.I), "in"),
    (re.compile(r"^(output|outbound|outgoing|out)([_-].*)?$", re.I), "out"),
    (re.compile(r"^(forward|fwd)([_-].*)?$", re.I), "forward"),
)
_VERDICT_WORDS = {"accept", "drop", "reject", "return", "continue", "queue"}
_NAT_WORDS = {"masquerade", "snat", "dnat", "redirect", "notrack", "tproxy", "synproxy", "dup", "fwd"}
_NON_PORT_PROTOCOLS = {"icmp", "icmpv6", "ipv6-icmp", "igmp", "esp", "ah", "gre", "vrrp", "ospf", "comp"}
_STATES = {"new", "established", "related", "invalid", "untracked"}
_VMAP_ELEMENT = re.compile(r"^(.*?)\s*:\s*(accept|drop|reject|return|continue|(?:jump|goto)\s+\S+)$")
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
_SEP = re.compile(r"[\s{};,\"#]")


# --- tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tok:
    text: str
    kind: str  # word, string, tmpl, "{", "}", ";", ",", nl
    at: Location


@dataclass
class NftFile:
    """One tokenized file, waiting for ``assemble`` to splice includes and interpret it."""

    path: str
    tokens: list[Tok]
    location: Location = field(default_factory=lambda: Location("", 1, 1))
    root: str | None = None
    """The folder (as ``path`` is shown) that plays ``/`` for absolute includes, when the
    path below the scanned root has an ``etc/`` (``rootfs_of``); None when it has none."""


def read(source: Source) -> Iterator[Fact | NftFile]:
    text = source.masked
    tokens, errors = tokenize(source, text)
    yield from errors
    yield NftFile(source.path, tokens, source.at(1), root=_shown_root(source))


def rootfs_of(rel: str) -> str | None:
    """The folder of ``rel`` (a path below the scanned root) that plays ``/``: the one holding
    its ``etc/`` or ``usr/``; ``.`` when the path starts there; None when it has neither."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if part == "etc" or (part == "usr" and i + 1 < len(parts)):
            return "/".join(parts[:i]) or "."
    return None


def _shown_root(source: Source) -> str | None:
    """``rootfs_of`` the path below the scanned root, as a prefix of the path shown (``source.path``).

    Only folders below the scanned root count: a tree checked out under ``etc/`` reads the
    same as anywhere else.
    """
    root = rootfs_of(source.name_path)
    if root is None:
        return None
    rel = source.name_path
    above = source.path[: len(source.path) - len(rel)] if source.path.endswith(rel) else ""
    return posixpath.normpath(posixpath.join(above or ".", root))


def tokenize(source: Source, text: str) -> tuple[list[Tok], list[ParseError]]:
    tokens: list[Tok] = []
    errors: list[ParseError] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        at = source.at(line, col)
        if c == "\n":
            tokens.append(Tok("\n", "nl", at))
            i, line, col = i + 1, line + 1, 1
            continue
        if c.isspace():  # a blank, whichever: _SEP ends a word at each of them (\f, \v, U+00A0)
            i, col = i + 1, col + 1
            continue
        if c == "\\" and text[i + 1 : i + 2] == "\n":
            i, line, col = i + 2, line + 1, 1
            continue
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            col += end - i
            i = end
            continue
        if c == '"':
            end = text.find('"', i + 1)
            nl = text.find("\n", i + 1)
            if end < 0 or (0 <= nl < end):
                errors.append(ParseError("unterminated string", at))
                end = n if nl < 0 else nl - 1
            tokens.append(Tok(text[i + 1 : end], "string", at))
            col += end + 1 - i
            i = end + 1
            continue
        if text.startswith(("{{", "{%"), i):
            close = "}}" if text[i + 1] == "{" else "%}"
            end = text.find(close, i + 2)
            end = n if end < 0 else end + 2
            chunk = text[i:end]
            tokens.append(Tok(chunk, "tmpl", at))
            line += chunk.count("\n")
            col = (len(chunk) - chunk.rfind("\n")) if "\n" in chunk else col + len(chunk)
            i = end
            continue
        if c in "{};,":
            tokens.append(Tok(c, c, at))
            i, col = i + 1, col + 1
            continue
        m = _SEP.search(text, i)
        end = n if m is None else m.start()
        word = text[i:end]
        tokens.append(Tok(word, "word", at))
        col += end - i
        i = end
    return tokens, errors


# --- nesting -----------------------------------------------------------------------------------------


@dataclass
class Group:
    """A brace block: its statements (split at ``;`` and newlines), each a list of items."""

    at: Location
    lines: list[list[Item]]


Item = Tok | Group


def nest(tokens: Sequence[Tok], errors: list[Fact]) -> list[list[Item]]:
    stack: list[tuple[Location | None, list[list[Item]], list[Item]]] = [(None, [], [])]
    for tok in tokens:
        at, lines, current = stack[-1]
        if tok.kind == "{":
            stack.append((tok.at, [], []))
        elif tok.kind == "}":
            if len(stack) == 1:
                errors.append(ParseError("'}' without a matching '{'", tok.at))
                continue
            if current:
                lines.append(current)
            stack.pop()
            stack[-1][2].append(Group(at or tok.at, lines))
        elif tok.kind in (";", "nl"):
            if current:
                lines.append(current)
                stack[-1] = (at, lines, [])
        else:
            current.append(tok)
    while len(stack) > 1:
        at, lines, current = stack.pop()
        if current:
            lines.append(current)
        errors.append(ParseError("'{' is never closed", at or Location("", 1, 1)))
        stack[-1][2].append(Group(at or Location("", 1, 1), lines))
    at, lines, current = stack[0]
    if current:
        lines.append(current)
    return lines


def _word(item: Item | None) -> str:
    return item.text if isinstance(item, Tok) else ""


def _at(item: Item) -> Location:
    return item.at


def _elements(group: Group) -> list[list[Item]]:
    """A set's elements: the group's items split at commas, across lines."""
    out: list[list[Item]] = []
    current: list[Item] = []
    for line in group.lines:
        for item in line:
            if isinstance(item, Tok) and item.kind == ",":
                if current:
                    out.append(current)
                current = []
            else:
                current.append(item)
    if current:
        out.append(current)
    return out


# --- assembly --------------------------------------------------------------------------------------


def assemble(facts: Sequence[Fact | NftFile]) -> list[Fact]:
    files = {f.path: f for f in facts if isinstance(f, NftFile)}
    out: list[Fact] = [f for f in facts if not isinstance(f, NftFile)]
    included: set[str] = set()
    spliced: dict[str, list[Tok]] = {}
    notes: dict[str, list[Fact]] = {}
    for path in sorted(files):
        notes[path] = []
        spliced[path] = _splice(files[path], files, included, notes[path], (path,))
    for path in sorted(files):
        if path in included:
            continue
        out.extend(notes[path])
        out.extend(interpret(spliced[path]))
    return out


def _splice(
    file: NftFile, files: dict[str, NftFile], included: set[str], notes: list[Fact], chain: tuple[str, ...]
) -> list[Tok]:
    out: list[Tok] = []
    toks = file.tokens
    i = 0
    while i < len(toks):
        tok = toks[i]
        if (
            tok.kind == "word"
            and tok.text == "include"
            and i + 1 < len(toks)
            and toks[i + 1].kind in ("string", "tmpl")
        ):
            target = toks[i + 1]
            i += 2
            if target.kind == "tmpl":
                notes.append(Unresolved(target.text, "nftables include path is a template", target.at))
                continue
            found = _resolve(file, target.text, files)
            if not found and not any(ch in target.text for ch in "*?["):
                notes.append(
                    Unresolved(
                        target.text,
                        "nftables include not found in the scanned files; its rules are not read",
                        target.at,
                    )
                )
            for path in found:
                if path in chain or len(chain) >= MAX_INCLUDE_DEPTH:
                    notes.append(ParseError(f"include loop or nesting too deep at {shown(path)}", target.at))
                    continue
                included.add(path)
                out.extend(_splice(files[path], files, included, notes, (*chain, path)))
                out.append(Tok("\n", "nl", target.at))
                if len(out) > MAX_TOKENS:
                    notes.append(ParseError("ruleset too large after includes", target.at))
                    return out
            continue
        out.append(tok)
        i += 1
    return out


def _resolve(file: NftFile, pattern: str, files: dict[str, NftFile]) -> list[str]:
    includer, root = file.path, file.root
    bases = []
    if pattern.startswith("/"):
        if root is not None:
            bases.append(posixpath.normpath(posixpath.join(root, pattern.lstrip("/"))))
    else:
        bases.append(posixpath.normpath(posixpath.join(posixpath.dirname(includer), pattern)))
        if root is not None:  # nft's default include directory is /etc
            bases.append(posixpath.normpath(posixpath.join(root, "etc", pattern)))
    found: list[str] = []
    for want in bases:
        for path in sorted(files):
            shown = strip_template(path)
            if path != includer and path not in found and _glob(shown, want):
                found.append(path)
        if found:
            break
    return found


def _glob(path: str, pattern: str) -> bool:
    a, b = path.split("/"), pattern.split("/")
    return len(a) == len(b) and all(glob_matches(x, y) for x, y in zip(a, b, strict=True))


# --- interpretation --------------------------------------------------------------------------------


@dataclass
class Table:
    family: str
    name: str
    chains: dict[str, nf.Chain] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    sets: dict[str, list[list[Item]]] = field(default_factory=dict)

    def chain(self, name: str) -> nf.Chain:
        if name not in self.chains:
            self.chains[name] = nf.Chain(name, family=_FAMILIES.get(self.family, "dual"))
        return self.chains[name]


@dataclass
class Ruleset:
    defines: dict[str, list[Item]] = field(default_factory=dict)
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    fragment_noted: bool = False

    def table(self, family: str, name: str) -> Table:
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = Table(family, name)
        return self.tables[key]


def interpret(tokens: Sequence[Tok]) -> list[Fact]:
    rs = Ruleset()
    errors: list[Fact] = []
    lines = nest(tokens, errors)
    rs.facts.extend(errors)
    for line in lines:
        _top(rs, line)
    for table in rs.tables.values():
        if table.family in _OTHER_FAMILIES:
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
    if words and _word(words[0]) in (*_FAMILIES, *_OTHER_FAMILIES):
        return _word(words[0]), words[1:]
    return "ip", words


def _top(rs: Ruleset, line: list[Item]) -> None:
    if not line:
        return
    first = line[0]
    if isinstance(first, Group):
        rs.facts.append(ParseError("a '{' block where a statement is expected", first.at))
        return
    if first.kind == "tmpl" or all(isinstance(i, Tok) and i.kind == "tmpl" for i in line):
        return
    word = first.text
    if word == "nft":
        _top(rs, line[1:])
        return
    if word in ("define", "redefine"):
        if len(line) >= 3 and _word(line[2]) == "=":
            rs.defines[_word(line[1])] = line[3:]
        elif len(line) >= 2 and _word(line[1]).endswith("=") is False and "=" in _word(line[1]):
            name, _, value = _word(line[1]).partition("=")
            rs.defines[name] = [Tok(value, "word", first.at), *line[2:]]
        else:
            rs.facts.append(ParseError("define needs 'define NAME = value'", first.at))
        return
    if word == "undefine":
        rs.defines.pop(_word(line[1]) if len(line) > 1 else "", None)
        return
    if word == "table":
        family, rest = _family_and_name(line[1:])
        if not rest or not isinstance(rest[0], Tok):
            rs.facts.append(ParseError("table without a name", first.at))
            return
        table = rs.table(family, rest[0].text)
        body = next((i for i in rest[1:] if isinstance(i, Group)), None)
        if body is not None:
            for stmt in body.lines:
                _table_stmt(rs, table, stmt)
        return
    if word in ("add", "create", "insert", "replace") and len(line) > 1:
        what = _word(line[1])
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
            _rule(rs, table, rest[1].text, rest[2:])
        elif what == "chain":
            _table_stmt(rs, table, [Tok("chain", "word", first.at), *rest[1:]])
        elif what in ("set", "map"):
            _table_stmt(rs, table, [Tok(what, "word", first.at), *rest[1:]])
        elif what == "element":
            body = next((i for i in rest[2:] if isinstance(i, Group)), None)
            if body is not None:
                table.sets.setdefault(rest[1].text, []).extend(_elements(body))
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


def _table_stmt(rs: Ruleset, table: Table, stmt: list[Item]) -> None:
    if not stmt:
        return
    word = _word(stmt[0])
    if word == "chain" and len(stmt) > 1:
        name = _word(stmt[1])
        chain = table.chain(name)
        body = next((i for i in stmt[2:] if isinstance(i, Group)), None)
        if body is not None:
            for line in body.lines:
                _chain_stmt(rs, table, chain, line)
    elif word in ("set", "map") and len(stmt) > 1:
        name = _word(stmt[1])
        table.sets.setdefault(name, [])
        body = next((i for i in stmt[2:] if isinstance(i, Group)), None)
        for line in body.lines if body else []:
            if _word(line[0]) == "elements":
                group = next((i for i in line if isinstance(i, Group)), None)
                if group is not None:
                    table.sets[name].extend(_elements(group))


def _chain_stmt(rs: Ruleset, table: Table, chain: nf.Chain, line: list[Item]) -> None:
    word = _word(line[0])
    if word == "type":
        words = [_word(i) for i in line]
        kind = words[1] if len(words) > 1 else ""
        hook = (
            words[words.index("hook") + 1] if "hook" in words and words.index("hook") + 1 < len(words) else ""
        )
        if kind != "filter" or hook not in _HOOKS:
            table.skipped.add(chain.name)
            return
        chain.direction = _HOOKS[hook]
        if chain.policy is None:
            chain.policy, chain.policy_location = "accept", _at(line[0])
        return
    if word == "policy":
        value = _resolve_define(rs, line[1:2])
        policy = _word(value[0]) if value else ""
        if policy in ("accept", "drop"):
            chain.policy, chain.policy_location = policy, _at(line[1])
        elif policy.startswith(("{{", "$")):
            chain.policy = "unknown"
            rs.facts.append(Unresolved(policy, "chain policy is a template or variable", _at(line[1])))
        else:
            rs.facts.append(
                ParseError(f"chain policy must be accept or drop, not {shown(policy)!r}", _at(line[0]))
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
            Unresolved(line[0].text, "nftables rules come from a template variable", _at(line[0]))
        )
        return
    _rule(rs, table, chain.name, line)


def _resolve_define(rs: Ruleset, items: list[Item], depth: int = 0) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if isinstance(item, Tok) and item.text.startswith("$") and depth < 10:
            value = rs.defines.get(item.text[1:])
            if value is not None:
                out.extend(_resolve_define(rs, value, depth + 1))
                continue
        out.append(item)
    return out


@dataclass
class _Rule:
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


def _rule(rs: Ruleset, table: Table, chain_name: str, items: list[Item]) -> None:
    if table.family in _OTHER_FAMILIES or not items:
        return
    at = _at(items[0])
    items = _resolve_define(rs, items)
    r = _Rule(family=_FAMILIES.get(table.family, "dual"))
    i = 0
    n = len(items)
    while i < n:
        w = _word(items[i])
        nxt = _word(items[i + 1]) if i + 1 < n else ""
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
            if nxt == "saddr" and i + 2 < n and _word(items[i + 2]) == "vmap":
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
            if i + 2 < n and _word(items[i + 2]) == "vmap":
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
            or (w == "limit" and "over" in [_word(x) for x in items[i : i + 4]])
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


def _narrow(r: _Rule, protocols: tuple[str, ...]) -> None:
    if r.protocols is None:
        r.protocols = protocols
    else:
        r.protocols = tuple(p for p in r.protocols if p in protocols)


def _values(rs: Ruleset, table: Table, items: list[Item], j: int) -> tuple[bool, list[str], int]:
    """(negated, element texts, next index) for a match value: word(s), ``{ set }`` or ``@set``."""
    neg = False
    op = _word(items[j]) if j < len(items) else ""
    if op in ("!=", "ne"):
        neg, j = True, j + 1
    elif op in ("==", "eq"):
        j += 1
    elif op.startswith("!=") and len(op) > 2:
        neg = True
        items = [*items[:j], Tok(op[2:], "word", _at(items[j])), *items[j + 1 :]]
    values: list[str] = []
    while j < len(items):
        item = items[j]
        if isinstance(item, Group):
            values.extend(_element_text(e) for e in _elements(item))
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
    return "".join(_word(i) if isinstance(i, Tok) else "{...}" for i in element)


def _port_match(
    rs: Ruleset, table: Table, r: _Rule, items: list[Item], j: int, proto: str, which: str
) -> int:
    if proto != "th":
        _narrow(r, (proto,))
    if j < len(items) and _word(items[j]) == "vmap":
        return _vmap(rs, table, r, items, j + 1, which)
    start = j
    neg, values, j = _values(rs, table, items, j)
    ranges = _ports(rs, r, values, _at(items[min(start, len(items) - 1)]), proto, which)
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
    rs: Ruleset, r: _Rule, values: list[str], at: Location, proto: str, which: str
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


def _vmap(rs: Ruleset, table: Table, r: _Rule, items: list[Item], j: int, kind: str) -> int:
    if j >= len(items):
        return j
    item = items[j]
    elements: list[list[Item]]
    if isinstance(item, Group):
        elements = _elements(item)
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
        text = " ".join(_word(i) for i in element if isinstance(i, Tok))
        m = _VMAP_ELEMENT.match(text)
        if m is None:
            continue
        key: list[Item] = [
            Tok(t, "word", _at(element[0])) for t in m.group(1).replace(" ", "").split(",") if t
        ]
        r.vmap.append((kind, key, m.group(2)))
    return j + 1


def _vmap_match(
    rs: Ruleset, table: Table, base: nf.Match, kind: str, key: list[Item], r: _Rule
) -> nf.Match | None:
    values = [_word(k) for k in key]
    at = _at(key[0]) if key else Location("", 1, 1)
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
