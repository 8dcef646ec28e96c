"""iptables-save files and firewall command lines in shell scripts.

Two inputs, one parser for a rule's arguments (``-p tcp --dport 22 -j ACCEPT``):

* ``iptables-save`` / ``ip6tables-save`` output as ``iptables-restore`` loads it
  (``rules.v4``, ``rules.v6``, ``sysconfig/iptables``, ``iptables.rules``, ``*.rules`` in an
  ``iptables`` directory): ``*table``, ``:CHAIN POLICY [p:b]``, ``-A CHAIN ...``, ``COMMIT``;
* shell scripts and their templates (``.sh``, ``.bash``, ``.sh.j2``, firewall-named ``.j2``
  and extensionless ``firewall``/``rc.firewall``/``iptables`` scripts) with ``iptables``,
  ``ip6tables`` (``-legacy``/``-nft``, behind ``sudo`` or a ``$IPT`` variable assigned
  the command), and ``ufw`` command lines; ``ufw`` lines are read by the ufw module.
  A script without any of these is declined (``declines`` is True) and shows as skipped.

Only the filter table's ACCEPT/DROP/REJECT decisions become facts; nat-table REDIRECT and
DNAT rules are not filter accepts. Shell variables in ports stay Unresolved: a script's
variables depend on its environment and arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from portpolicy.model import Fact, InvalidPort, ParseError, PortRange, Unresolved
from portpolicy.readers import firewall_cmd
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import LINE_BREAK, Format, Source, first_word, is_ascii_digits, mask_jinja, shown
from portpolicy.readers.lexing import JINJA_EXPRESSIONS, replace_templates, split_shell

NAME = "iptables"

SAVE_FORMAT = Format(
    "an iptables-save file",
    "table, chain or rule line",
    re.compile(r"[ \t]*(?:\*[a-z]+[ \t]*$|:\S+[ \t]+\S|-[AIN][ \t]|COMMIT[ \t]*$)"),
)

DECLINE = "shell script without iptables, ufw or firewall-cmd commands"

_SHELL_SUFFIXES = (".sh", ".bash", ".sh.j2", ".bash.j2")
_SCRIPT_NAMES = {"firewall", "rc.firewall", "iptables", "ip6tables", "firewall.sh", "fw"}
_FIREWALL_WORD = re.compile(r"firewall|iptables|ip6tables|ufw|rules\.v[46]", re.I)
_SAVE_NAMES = {"rules.v4", "rules.v6", "iptables.rules", "ip6tables.rules", "iptables.save", "ip6tables.save"}
_COMMAND = re.compile(r"(?:^|[\s;&|(`/]|\$\{?)(ip6?tables(?:-legacy|-nft)?|ufw|firewall-(?:offline-)?cmd)\b")
_LEADING_COMMAND = re.compile(
    r"^\s*(?:sudo\s+)?(?:\S*/)?(?:ip6?tables(?:-legacy|-nft)?|ufw|firewall-(?:offline-)?cmd)\s"
)
_ASSIGN = re.compile(r"^\s*(?:export\s+|readonly\s+|local\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_NEAR = 256
"""How far past the previous word the next one is looked for (blanks and quotes between)."""
_COMMANDS = {
    "-A": "A",
    "--append": "A",
    "-I": "I",
    "--insert": "I",
    "-R": "R",
    "--replace": "R",
    "-D": "D",
    "--delete": "D",
    "-C": "C",
    "--check": "C",
}
_BUILTIN = {"INPUT": "in", "OUTPUT": "out", "FORWARD": "forward"}
_VERDICTS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return"}
# Options whose argument is not a port and must be skipped (with their value).
_VALUE_OPTIONS = {
    "-d",
    "--destination",
    "--dst",
    "-o",
    "--out-interface",
    "--comment",
    "--reject-with",
    "--log-prefix",
    "--log-level",
    "--limit",
    "--limit-burst",
    "--to-ports",
    "--to-destination",
    "--to-source",
    "--to",
    "--set-mark",
    "--mark",
    "--uid-owner",
    "--gid-owner",
    "--icmp-type",
    "--icmpv6-type",
    "--tcp-flags",
    "--name",
    "--seconds",
    "--hitcount",
    "--mask",
    "--mac-source",
    "--dst-type",
    "--src-type",
    "--connlimit-above",
    "--connlimit-mask",
    "--hashlimit",
    "--hashlimit-name",
    "--hashlimit-mode",
    "--hashlimit-upto",
    "--hashlimit-above",
    "--hashlimit-burst",
    "--dst-range",
    "--physdev-in",
    "--physdev-out",
    "--length",
    "--ttl",
    "--hl",
    "--pkt-type",
    "--set-xmark",
    "--ulog-prefix",
    "--nflog-prefix",
    "--nflog-group",
    "--queue-num",
    "--tos",
    "--dscp",
    "--algo",
    "--string",
    "--ctorigdst",
    "--ctorigsrc",
    "--log-ip-options",
    "-w",
    "--wait",
}
# Options that do not narrow which packets a rule matches (target options, logging, comments).
_NOT_NARROWING = {
    "--comment",
    "--reject-with",
    "--log-prefix",
    "--log-level",
    "--to-ports",
    "--to-destination",
    "--to-source",
    "--to",
    "--set-mark",
    "--set-xmark",
    "--ulog-prefix",
    "--nflog-prefix",
    "--nflog-group",
    "--queue-num",
    "-w",
    "--wait",
    "--log-ip-options",
    "--log-uid",
    "--log-tcp-options",
    "--log-tcp-sequence",
    "-v",
    "-n",
    "-x",
    "--line-numbers",
    "-4",
    "-6",
    "--rsource",
    "--rdest",
    "--set",
    "--name",
    "--mask",
    "--limit",
    "--limit-burst",
    "--seconds",
    "--hitcount",
}
_FLAG_OPTIONS = {
    "--syn",
    "--rsource",
    "--rdest",
    "--set",
    "--update",
    "--rcheck",
    "--remove",
    "--log-uid",
    "--log-tcp-options",
    "--log-tcp-sequence",
    "-v",
    "-n",
    "-x",
    "--line-numbers",
    "-4",
    "-6",
    "--fragment",
    "-f",
    "--physdev-is-bridged",
    "--physdev-is-in",
    "--physdev-is-out",
}


def format_for(path: str) -> Format | None:
    """An iptables-save file is claimed by its name; a shell script is judged by ``declines``."""
    return SAVE_FORMAT if is_save_path(path) else None


def matches(path: str) -> bool:
    """iptables-save files by name, and shell scripts that may hold firewall commands."""
    parts = path.split("/")
    name = parts[-1]
    stem = name[:-3] if name.endswith(".j2") else name
    parent = parts[-2] if len(parts) > 1 else ""
    if stem in _SAVE_NAMES or (parent == "sysconfig" and stem in ("iptables", "ip6tables")):
        return True
    if parent in ("iptables", "ip6tables") and (stem.startswith("rules") or stem.endswith(".rules")):
        return True
    if name.endswith(_SHELL_SUFFIXES) or stem in _SCRIPT_NAMES:
        return True
    if name.endswith(".j2") and "." not in stem and _FIREWALL_WORD.search(stem):
        return True
    return parent in ("if-pre-up.d", "if-up.d", "if-post-down.d") and "." not in name


def is_save_path(path: str) -> bool:
    parts = path.split("/")
    stem = parts[-1][:-3] if parts[-1].endswith(".j2") else parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    return (
        stem in _SAVE_NAMES
        or (parent == "sysconfig" and stem in ("iptables", "ip6tables"))
        or (parent in ("iptables", "ip6tables") and (stem.startswith("rules") or stem.endswith(".rules")))
    )


def family_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "ipv6" if "6" in name else "ipv4"


_last: tuple[Source, list[Fact] | None] | None = None


def declines(source: Source) -> bool:
    """True for a shell script that runs no iptables or ufw command (not a firewall script)."""
    return _facts_of(source) is None


def read(source: Source) -> list[Fact]:
    return _facts_of(source) or []


def _facts_of(source: Source) -> list[Fact] | None:
    """The file's facts, None for a script without firewall commands; the last answer is kept,
    so ``declines`` and ``read`` parse a file once."""
    global _last
    last = _last  # one read: another thread may replace it between a check and a use
    if last is not None and last[0] is source:
        return last[1]
    text = mask_jinja(source.text) if source.path.endswith(".j2") or "{%" in source.text else source.text
    facts: list[Fact] | None
    if is_save_path(source.path) or text.lstrip().startswith(("*filter", "*nat", "*mangle", "*raw")):
        facts = list(read_save(source, text, "iptables", family_of(source.path)))
    elif not _COMMAND.search(text):
        facts = None
    else:
        facts = _read_script(source, text)
    _last = (source, facts)
    return facts


# --- iptables-save --------------------------------------------------------------------------------


@dataclass
class Ruleset:
    """The filter table of one family, as chains, built up rule by rule."""

    firewall: str
    family: str
    chains: dict[str, nf.Chain] = field(default_factory=dict)
    base: dict[str, str] = field(default_factory=lambda: dict(_BUILTIN))

    def chain(self, name: str) -> nf.Chain:
        if name not in self.chains:
            self.chains[name] = nf.Chain(name, direction=self.base.get(name), family=self.family)
        return self.chains[name]


def read_save(
    source: Source,
    text: str,
    firewall: str,
    family: str,
    base: dict[str, str] | None = None,
    always_stateful: bool = False,
) -> Iterator[Fact]:
    """Read iptables-restore input; ``base`` maps chain names to directions (ufw's chains)."""
    ruleset = Ruleset(firewall, family, base=base or dict(_BUILTIN))
    table = ""
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        at = source.at(number, len(raw) - len(raw.lstrip()) + 1)
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if line == "COMMIT":
            table = ""
            continue
        if not table:
            if "{{" in line:
                continue
            yield ParseError(f"rule outside a table (no '*filter' line before it): {first_word(line)!r}", at)
            continue
        if table != "filter":
            continue
        if line.startswith(":"):
            fields = line[1:].split()
            if len(fields) < 2:
                yield ParseError(f"malformed chain line {first_word(line)!r}", at)
                continue
            chain = ruleset.chain(fields[0])
            policy = fields[1].upper()
            if policy in ("ACCEPT", "DROP"):
                chain.policy, chain.policy_location = (
                    policy.lower(),
                    source.at(number, raw.find(fields[1]) + 1),
                )
            continue
        if line.startswith("["):  # counters given with -c: "[12:345] -A INPUT ..."
            line = line.split("]", 1)[-1].strip()
        try:
            words = split_shell(_join_templates(line))
        except ValueError as exc:
            yield ParseError(f"cannot split rule line: {exc}", at)
            continue
        yield from apply(ruleset, words, source, number, raw, table="filter")
    yield from nf.walk(firewall, ruleset.chains, always_stateful=always_stateful)


# --- one rule's arguments -------------------------------------------------------------------------


@dataclass
class _Args:
    command: str = ""
    chain: str = ""
    table: str = "filter"
    target: str = ""
    goto: bool = False
    protocol: str | None = None
    protocol_negated: bool = False
    dports: list[tuple[str, bool, int]] = field(default_factory=list)
    sports: list[tuple[str, bool, int]] = field(default_factory=list)
    ports: list[tuple[str, bool, int]] = field(default_factory=list)
    multi: dict[str, tuple[str, bool, int]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    source_negated: bool = False
    interface: str = ""
    states: frozenset[str] | None = None
    policy: str = ""
    policy_column: int = 1
    matches: list[str] = field(default_factory=list)
    comment: str = ""
    narrowed: bool = False


def _find_word(raw: str, word: str, after: int, skipped: int | None) -> int:
    """Where ``word`` starts in ``raw`` at or after ``after``, or -1; looked for only near it.

    Words are found in order, the next one past the ``skipped`` characters of the word
    before it and a few blanks or quotes, so a word spelt differently in the raw line (a
    rejoined template, an escape) never makes the search scan the rest of a long line.
    ``skipped`` None: the first word, anywhere.
    """
    if not word:
        return -1
    end = len(raw) if skipped is None else after + 2 * (skipped + len(word)) + _NEAR
    return raw.find(word, after, end)


def apply(
    ruleset: Ruleset, words: list[str], source: Source, number: int, raw: str, table: str = "filter"
) -> Iterator[Fact]:
    """Apply one iptables invocation (without the command name) to ``ruleset``."""
    args = _Args(table=table)
    i, negate = 0, False
    cursor = 0  # where the last word found in ``raw`` ends
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        start = _find_word(raw, nxt, cursor, None if i == 0 else len(w))
        col = start + 1 if start >= 0 else (cursor + 1 if nxt else 1)
        if start >= 0:
            cursor = start + len(nxt)
        if w == "!":
            negate = True
            i += 1
            continue
        if w in ("-t", "--table"):
            args.table = nxt
        elif w in _COMMANDS:
            args.command, args.chain = _COMMANDS[w], nxt
            if args.command in ("I", "R", "D") and i + 2 < len(words) and is_ascii_digits(words[i + 2]):
                i += 1
        elif w in ("-P", "--policy"):
            args.command, args.chain = "P", nxt
            args.policy = words[i + 2] if i + 2 < len(words) else ""
            found = _find_word(raw, args.policy, cursor, 0)
            args.policy_column = found + 1 if found >= 0 else cursor + 1
            i += 1
        elif w in ("-N", "--new-chain"):
            args.command, args.chain = "N", nxt
        elif w in ("-p", "--protocol", "--proto"):
            args.protocol, args.protocol_negated = nxt.lower(), negate
        elif w in ("-s", "--source", "--src"):
            args.sources, args.source_negated = [s for s in nxt.split(",") if s], negate
        elif w in ("-i", "--in-interface"):
            args.interface = ("!" if negate else "") + nxt
        elif w in ("-m", "--match"):
            args.matches.append(nxt)
        elif w in ("--dport", "--destination-port"):
            args.dports.append((nxt, negate, col))
        elif w in ("--sport", "--source-port"):
            args.sports.append((nxt, negate, col))
        elif w in ("--dports", "--destination-ports"):
            args.multi["dports"] = (nxt, negate, col)
        elif w in ("--sports", "--source-ports"):
            args.multi["sports"] = (nxt, negate, col)
        elif w == "--ports":
            args.multi["ports"] = (nxt, negate, col)
        elif w in ("--state", "--ctstate"):
            states = frozenset(s.strip().lower() for s in nxt.split(",") if s.strip())
            args.states = (
                frozenset({"new", "invalid", "untracked", "established", "related"}) - states
                if negate
                else states
            )
        elif w == "--match-set" and nxt:
            flags = words[i + 2] if i + 2 < len(words) else ""
            if flags.startswith("src") and not negate:
                args.sources = [f"ipset:{nxt}"]
            i += 1
        elif w == "--src-range" and not negate:
            args.sources = [nxt]
        elif w in ("-j", "--jump"):
            args.target = nxt
        elif w in ("-g", "--goto"):
            args.target, args.goto = nxt, True
        elif w in _FLAG_OPTIONS:
            args.narrowed = args.narrowed or w not in _NOT_NARROWING
            negate = False
            i += 1
            continue
        elif w in _VALUE_OPTIONS:
            args.narrowed = args.narrowed or w not in _NOT_NARROWING
            if w == "--comment":
                args.comment = nxt
        elif w.startswith("-"):
            args.narrowed = True
            # Unknown option: assume it takes the next word when that is no option.
            if not nxt or nxt.startswith("-") or nxt == "!":
                negate = False
                i += 1
                continue
        else:
            negate = False
            i += 1
            continue
        negate = False
        i += 2
    yield from _rule(ruleset, args, source, number, raw)


def _rule(ruleset: Ruleset, args: _Args, source: Source, number: int, raw: str) -> Iterator[Fact]:
    if args.table != "filter" or not args.chain:
        return
    if args.command == "P":
        policy = args.policy.upper()
        if args.chain in ruleset.base and policy in ("ACCEPT", "DROP"):
            chain = ruleset.chain(args.chain)
            chain.policy = policy.lower()
            chain.policy_location = source.at(number, args.policy_column)
        elif policy not in ("ACCEPT", "DROP") and "{{" not in policy and not policy.startswith("$"):
            yield ParseError(
                f"chain policy must be ACCEPT or DROP, not {shown(args.policy)!r}", source.at(number)
            )
        return
    if args.command == "N":
        ruleset.chain(args.chain)
        return
    if args.command not in ("A", "I", "R"):
        return
    at = source.at(number, len(raw) - len(raw.lstrip()) + 1)
    target = args.target
    verdict = _VERDICTS.get(target.upper(), "") if target else ""
    if target and not verdict:
        if target.upper() in ("LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "AUDIT"):
            return
        verdict = "goto" if args.goto else "jump"
    if not verdict:
        return
    facts: list[Fact] = []
    match = _match(args, ruleset.family, source, number, facts)
    yield from facts
    if match is None:
        return
    rule = nf.ParsedRule(match, verdict, at, target=target if verdict in ("jump", "goto") else "")
    if "ports" in args.multi and match.dports is not None:
        # --ports matches a source OR a destination port: two rules.
        ruleset.chain(args.chain).rules.append(rule)
        rule = nf.ParsedRule(
            nf.Match(**{**match.__dict__, "dports": None, "sports": match.dports}),
            verdict,
            at,
            target=rule.target,
        )
    ruleset.chain(args.chain).rules.append(rule)


def _match(args: _Args, family: str, source: Source, number: int, facts: list[Fact]) -> nf.Match | None:
    protocols: tuple[str, ...] | None = None
    proto = args.protocol
    if proto is None:
        proto = next((m for m in args.matches if m in nf.PORT_PROTOCOLS), None)
    if proto is not None:
        name = nf.protocol_name(proto)
        if args.protocol_negated:
            protocols = None if name is None else tuple(p for p in nf.PORT_PROTOCOLS if p != name)
        elif name is None:
            if "{{" in proto or proto.startswith("$"):
                facts.append(Unresolved(proto, "protocol is a template or variable", source.at(number)))
                return None
            protocols = ()
        elif name != "any":
            protocols = (name,)
    one = protocols[0] if protocols and len(protocols) == 1 else "any"
    dports = _ports(
        args.dports,
        args.multi.get("dports") or args.multi.get("ports"),
        one,
        source,
        number,
        facts,
        "destination port",
    )
    sports = _ports(args.sports, args.multi.get("sports"), one, source, number, facts, "source port")
    if dports is False or sports is False:
        return None
    sources: tuple[str, ...] = () if args.source_negated else tuple(args.sources)
    return nf.Match(
        protocols=protocols,
        dports=dports if isinstance(dports, tuple) else None,
        sports=sports if isinstance(sports, tuple) else None,
        sources=sources,
        interface=args.interface,
        family=family,
        states=args.states,
        narrowed=args.narrowed,
    )


def _ports(
    single: list[tuple[str, bool, int]],
    multi: tuple[str, bool, int] | None,
    protocol: str,
    source: Source,
    number: int,
    facts: list[Fact],
    what: str,
) -> tuple[PortRange, ...] | bool | None:
    """The ranges a port match admits; None without one, False when a value is unusable."""
    result: tuple[PortRange, ...] | None = None
    items = list(single)
    if multi is not None:
        items.append(multi)
    for text, negated, col in items:
        ranges: list[PortRange] = []
        for part in text.split(",") if multi is not None and (text, negated, col) == multi else [text]:
            got = nf.parse_port(part, source.at(number, col), what, ":", protocol, open_ends=True)
            if isinstance(got, (InvalidPort, Unresolved)):
                facts.append(got)
                return False
            ranges.append(got)
        these = nf.complement(ranges) if negated else tuple(ranges)
        result = these if result is None else nf._intersect(result, these)
    return result


# --- shell scripts --------------------------------------------------------------------------------


def _join_templates(line: str) -> str:
    """``{{ port }}`` as ``{{port}}``: one shell word, as the rendered value is."""
    return replace_templates(line, lambda span: span.replace(" ", ""), JINJA_EXPRESSIONS)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, joined text) with backslash-newline continuations joined."""
    lines = LINE_BREAK.split(text)
    i = 0
    while i < len(lines):
        start, parts = i + 1, [lines[i]]
        while parts[-1].endswith("\\") and i + 1 < len(lines):  # parts joined once: linear
            i += 1
            parts[-1] = parts[-1][:-1]
            parts.append(lines[i].lstrip())
        yield start, " ".join(parts)
        i += 1


def _read_script(source: Source, text: str) -> list[Fact] | None:
    """The facts of a script's firewall commands; None when it runs none (not a firewall script)."""
    from portpolicy.readers import ufw  # ufw reads its rule files with this module: import late

    rulesets = {
        "ipv4": Ruleset("iptables", "ipv4"),
        "ipv6": Ruleset("iptables", "ipv6"),
    }
    commands: dict[str, str] = {}  # IPT -> iptables
    ufw_state = ufw.ScriptState()
    heredoc: str | None = None
    found = False
    facts: list[Fact] = []
    for number, line in _logical_lines(text):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.search(r"<<-?\s*['\"]?([A-Za-z_]+)['\"]?", line)
        if m:
            heredoc = m.group(1)
        assign = _ASSIGN.match(line)
        if assign and not _COMMAND.search(line[assign.end() :]):
            value = assign.group(2).strip("'\"")
            base = value.split()[0].rsplit("/", 1)[-1] if value.split() else ""
            if re.fullmatch(r"ip6?tables(-legacy|-nft)?|ufw", base):
                commands[assign.group(1)] = base
            continue
        if not _COMMAND.search(line) and not any(name in commands for name in _VARIABLE.findall(line)):
            continue
        try:
            words = split_shell(_join_templates(line), punctuation=";&|()", comments=True)
        except ValueError as exc:
            leading = _VARIABLE.match(line.lstrip())
            if _LEADING_COMMAND.match(line) or (leading is not None and leading.group(1) in commands):
                found = True
                facts.append(ParseError(f"cannot split the command line: {exc}", source.at(number)))
            continue
        for command in _split_commands(words):
            tool, rest = _tool(command, commands)
            if tool is None:
                continue
            found = True
            if tool == "ufw":
                facts.extend(ufw.command(source, number, line, rest, ufw_state))
                continue
            if tool == "firewall-cmd":
                facts.extend(firewall_cmd.command(source, number, line, rest))
                continue
            ruleset = rulesets["ipv6" if tool.startswith("ip6") else "ipv4"]
            facts.extend(apply(ruleset, rest, source, number, line))
    if not found:
        return None
    for ruleset in rulesets.values():
        facts.extend(nf.walk("iptables", ruleset.chains))
    facts.extend(ufw_state.policies())
    return facts


def _split_commands(words: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for w in words:
        if w and all(c in ";&|()" for c in w):
            if current:
                yield current
            current = []
        else:
            current.append(w)
    if current:
        yield current


def _tool(words: list[str], commands: dict[str, str]) -> tuple[str | None, list[str]]:
    """The firewall tool a simple command runs, and its arguments."""
    i = 0
    while i < len(words):
        w = words[i]
        if "=" in w and not w.startswith("-") and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            i += 1
            continue
        if w in ("sudo", "command", "exec", "then", "do", "else", "time", "nice", "if", "!", "{"):
            i += 1
            while w == "sudo" and i < len(words) and words[i].startswith("-"):
                i += 1
            continue
        name = w.rsplit("/", 1)[-1]
        var = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", w)
        if var and var.group(1) in commands:
            name = commands[var.group(1)]
        if re.fullmatch(r"ip6?tables(-legacy|-nft)?", name):
            return ("ip6tables" if name.startswith("ip6") else "iptables"), words[i + 1 :]
        if name == "ufw":
            return "ufw", words[i + 1 :]
        if name in firewall_cmd.TOOLS:
            return "firewall-cmd", words[i + 1 :]
        return None, []
    return None, []
