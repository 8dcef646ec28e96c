"""Shell scripts that run firewall commands: each command goes to the reader of its tool.

Scripts and their templates (``firewall.sh``, ``rc.firewall``, ``if-up.d/firewall``, a
``provision/net-up`` with ``#!/bin/sh``) are claimed by ``signatures.shell`` when they run
``iptables``/``ip6tables`` (``-legacy``/``-nft``, behind ``sudo`` or a ``$IPT`` variable
assigned the command), ``ufw``, ``firewall-cmd``/``firewall-offline-cmd`` or ``nft``. This
module owns what is shell about them: lines split into words, backslash continuations
joined, heredoc bodies passed over, ``;``/``&&``/``|`` separating commands, ``VAR=tool``
assignments followed. Each command's arguments are then read by its tool's module:
``iptables.apply`` (one ruleset per family, walked at the end), ``ufw.command``,
``firewall_cmd.command``, and nftables' own interpreter for ``nft add rule ...`` lines
(``nft -f FILE`` loads a file this script does not show: it is passed over).

A heredoc that ``cat``/``tee`` writes to an absolute path (``cat > /etc/nginx/conf.d/app.conf
<<'EOF'``) is a file of its own: ``heredocs`` makes it a ``Deployed`` record, which
``deployed.read_all`` reads as its destination's format, on this script's lines and host.

Shell variables in ports stay Unresolved: a script's variables depend on its environment
and arguments.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from portpolicy.model import Fact, Location, ParseError
from portpolicy.readers import containerrun, firewall_cmd, heredocs, iptables, nftables, ufw
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import LINE_BREAK, Source
from portpolicy.readers.lexing import split_shell
from portpolicy.virtual import Deployed

NAME = "shell"

_TOOLS = r"ip6?tables(?:-legacy|-nft)?|ufw|firewall-(?:offline-)?cmd|nft"
_COMMAND = re.compile(rf"(?:^|[\s;&|(`/]|\$\{{?)({_TOOLS})\b")
_LEADING_COMMAND = re.compile(rf"^\s*(?:sudo\s+)?(?:\S*/)?(?:{_TOOLS})\s")
_ASSIGN = re.compile(r"^\s*(?:export\s+|readonly\s+|local\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_FOUND_BY = re.compile(r"[\"']?(?:\$\(|`)(?:command\s+-v|which)\s+")
"""``$(command -v iptables)``/`` `which ufw` ``: the tool's path as the shell finds it."""
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_IPTABLES = re.compile(r"ip6?tables(?:-legacy|-nft)?")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PREFIXES = frozenset({"sudo", "command", "exec", "then", "do", "else", "time", "nice", "if", "!", "{"})
_NFT_OPTIONS_WITH_VALUE = frozenset({"-I", "--includepath", "-D", "--define", "-o", "--optimize"})
_NFT_STATEMENTS = frozenset(
    {"add", "create", "insert", "replace", "table", "define", "flush", "delete", "destroy"}
)


@dataclass
class _Script:
    """What a script's commands build up: a ruleset per iptables family, ufw's state, nft statements."""

    source: Source
    rulesets: dict[str, iptables.Ruleset] = field(
        default_factory=lambda: {
            "ipv4": iptables.Ruleset("iptables", "ipv4"),
            "ipv6": iptables.Ruleset("iptables", "ipv6"),
        }
    )
    ufw_state: ufw.ScriptState = field(default_factory=ufw.ScriptState)
    nft_lines: dict[int, list[str]] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)

    def run(self, tool: str, number: int, line: str, words: list[str]) -> None:
        """Hand one command's arguments (``words``, after the tool's name) to its reader."""
        if tool == "ufw":
            self.facts.extend(ufw.command(self.source, number, line, words, self.ufw_state))
        elif tool == "firewall-cmd":
            self.facts.extend(firewall_cmd.command(self.source, number, line, words))
        elif tool == "nft":
            statement = _nft_statement(words)
            if statement is not None:
                self.nft_lines.setdefault(number, []).append(statement)
        else:
            ruleset = self.rulesets["ipv6" if tool.startswith("ip6") else "ipv4"]
            self.facts.extend(iptables.apply(ruleset, words, self.source, number, line))

    def finish(self) -> list[Fact]:
        """Rules once every command ran: chains walked, last ufw defaults, nft statements interpreted."""
        for ruleset in self.rulesets.values():
            self.facts.extend(nf.walk("iptables", ruleset.chains))
        self.facts.extend(self.ufw_state.policies())
        if self.nft_lines:
            tokens, errors = nftables.tokenize(self.source, _nft_text(self.nft_lines))
            self.facts.extend(errors)
            self.facts.extend(nftables.interpret(tokens))
        return self.facts


def read(source: Source) -> list[Fact | Deployed]:
    """The script's firewall commands, and the files its heredocs write (``heredocs``)."""
    lines = LINE_BREAK.split(source.masked)
    script = _Script(source)
    commands: dict[str, str] = {}  # IPT -> iptables
    writes = heredocs.Writes(source.path, NAME)
    runs: containerrun.Reads | None = None
    i = 0
    while i < len(lines):
        start = i
        number, line, i = _logical_line(lines, i)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if containerrun.MENTION.search(line):
            runs = runs or containerrun.Reads(source.path)
            runs.line(line, _positions(source.path, lines, start, i), source.template)
        head = heredocs.opened(line) if "<<" in line else None
        if not _assigns_a_tool(line, commands) and (
            _COMMAND.search(line) or any(name in commands for name in _VARIABLE.findall(line))
        ):
            _run_line(script, number, line, commands)
        if head is not None:
            text, after, closed = heredocs.body(lines, i, head.delimiter, head.strip_tabs)
            writes.add(head, text, closed, i + 1, source.at(number, head.column))
            i = after
    return [*script.finish(), *writes.found, *(runs.found if runs is not None else [])]


def _assigns_a_tool(line: str, commands: dict[str, str]) -> bool:
    """True for ``VAR=value`` with no command after it; ``IPT=/sbin/iptables`` is noted in ``commands``."""
    assign = _ASSIGN.match(line)
    if not assign:
        return False
    found_by = _FOUND_BY.match(line, assign.start(2))
    if found_by is None and _COMMAND.search(line[assign.end() :]):
        return False  # FOO=1 iptables ...: a command with an environment
    value = line[found_by.end() if found_by else assign.start(2) :].strip().strip("'\"")
    base = value.split()[0].rstrip(")`'\"").rsplit("/", 1)[-1] if value.split() else ""
    if _IPTABLES.fullmatch(base) or base == "ufw":
        commands[assign.group(1)] = base
    return True


def _run_line(script: _Script, number: int, line: str, commands: dict[str, str]) -> None:
    """Split one logical line into commands and run those of a firewall tool."""
    try:
        words = split_shell(iptables.join_templates(line), punctuation=";&|()", comments=True)
    except ValueError as exc:
        leading = _VARIABLE.match(line.lstrip())
        if _LEADING_COMMAND.match(line) or (leading is not None and leading.group(1) in commands):
            script.facts.append(ParseError(f"cannot split the command line: {exc}", script.source.at(number)))
        return
    for command in _split_commands(words):
        tool, rest = _tool(command, commands)
        if tool is not None:
            script.run(tool, number, line, rest)


def _positions(path: str, lines: list[str], start: int, end: int) -> containerrun.Position:
    """Where an offset of the logical line joined from ``lines[start:end]`` is written (``_logical_line``)."""
    starts: list[int] = []
    shifts: list[int] = []
    offset = 0
    for k in range(start, end):
        text = lines[k] if k == start else lines[k].lstrip()
        starts.append(offset)
        shifts.append(len(lines[k]) - len(text))
        offset += len(text)  # the joining blank stands where the backslash was

    def position(at: int) -> Location:
        k = max(0, bisect_right(starts, at) - 1)
        return Location(path, start + k + 1, at - starts[k] + shifts[k] + 1)

    return position


def _logical_line(lines: list[str], i: int) -> tuple[int, str, int]:
    """(first line number, joined text, next index) with backslash-newline continuations joined."""
    start, parts = i + 1, [lines[i]]
    while parts[-1].endswith("\\") and i + 1 < len(lines):  # parts joined once: linear
        i += 1
        parts[-1] = parts[-1][:-1]
        parts.append(lines[i].lstrip())
    return start, " ".join(parts), i + 1


_REDIRECT = re.compile(r"\d*(?:>>?|<<?|>\||<>)(.*)")
"""A redirection word (``2>/dev/null``, ``>>``, ``<``); group 1 is its target when attached."""


def _split_commands(words: list[str]) -> Iterator[list[str]]:
    """Simple commands, without their redirections (``2>/dev/null`` is the shell's, not an argument).

    The splitter cuts ``2>&1`` and ``&>`` at ``&``: a redirection operator then takes the
    ``&`` and the word after it, and a lone ``&`` before ``>`` is part of ``&>``.
    """
    current: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        placeholder = w.startswith("<") and w.endswith(">") and len(w) > 2  # ``<port>`` left for a human
        redirect = _REDIRECT.fullmatch(w) if (w[:1].isdigit() or w[:1] in "<>") and not placeholder else None
        if redirect is not None:
            if not redirect.group(1):  # the target is the next word (or ``&`` and a descriptor)
                i += 2 if i + 1 < len(words) and words[i + 1] == "&" else 1
            i += 1
            continue
        if w == "&" and i + 1 < len(words) and words[i + 1][:1] == ">":
            i += 1  # ``&>file``: redirect both outputs
            continue
        if w and all(c in ";&|()" for c in w):
            if current:
                yield current
            current = []
        else:
            current.append(w)
        i += 1
    if current:
        yield current


def _tool(words: list[str], commands: dict[str, str]) -> tuple[str | None, list[str]]:
    """The firewall tool a simple command runs, and its arguments."""
    i = 0
    while i < len(words):
        w = words[i]
        if "=" in w and not w.startswith("-") and _ENV_ASSIGNMENT.match(w):
            i += 1
            continue
        if w in _PREFIXES:
            i += 1
            while w == "sudo" and i < len(words) and words[i].startswith("-"):
                i += 1
            continue
        name = w.rsplit("/", 1)[-1]
        var = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", w)
        if var and var.group(1) in commands:
            name = commands[var.group(1)]
        if _IPTABLES.fullmatch(name):
            return ("ip6tables" if name.startswith("ip6") else "iptables"), words[i + 1 :]
        if name == "ufw":
            return "ufw", words[i + 1 :]
        if name in firewall_cmd.TOOLS:
            return "firewall-cmd", words[i + 1 :]
        if name == "nft":
            return "nft", words[i + 1 :]
        return None, []
    return None, []


def _nft_statement(words: list[str]) -> str | None:
    """The ruleset statement an ``nft`` command runs (its words joined, as nft joins them).

    Options go; ``nft -f FILE`` (a file this script does not show) and queries are no statement.
    """
    i = 0
    while i < len(words) and words[i].startswith("-"):
        if words[i] in ("-f", "--file"):
            return None
        i += 2 if words[i] in _NFT_OPTIONS_WITH_VALUE else 1
    rest = words[i:]
    if not rest or rest[0] not in _NFT_STATEMENTS:
        return None
    return " ".join(rest)


def _nft_text(lines: dict[int, list[str]]) -> str:
    """The script's nft statements as one ruleset text, each on the line it was written on."""
    last = max(lines)
    return "\n".join("; ".join(lines.get(number, [])) for number in range(1, last + 1)) + "\n"
