"""ufw: its rule files and ``ufw allow|deny|reject|limit ...`` command lines.

* ``user.rules`` / ``user6.rules`` (and ``before``/``after`` rules in a ``ufw`` directory) are
  iptables-restore input with ufw's chains (``ufw-user-input`` ...); they are read with the
  iptables parser, each ufw chain giving its direction.
* ``default/ufw`` holds the default policies (``DEFAULT_INPUT_POLICY="DROP"``); ``ufw.conf``
  (``ENABLED``, ``LOGLEVEL``) opens nothing. Which of the two a file is, its content says.
* Command lines (found in shell scripts by ``readers.shell``) follow ufw(8): the simple
  syntax ``ufw allow 22``, ``8080/tcp``, ``60000:61000/udp``, ``ssh``, and the full syntax
  ``ufw allow [in|out] [on IF] [proto P] [from A [port P]] [to A [port P]] [comment C]``;
  ``route`` rules are forwarding, ``limit`` is an accept with a rate limit, ``delete`` removes
  a rule and is no rule, ``default allow incoming`` is the incoming policy.

A single port without a protocol opens tcp and udp (ufw adds both); a list or range needs
one (ufw refuses ``ufw allow 80,443``). Every ufw ruleset accepts established and related
traffic in ``before.rules``, so ``ruleset_stateful`` is always True. Application profiles
(``ufw allow OpenSSH``) are not resolved: they stay Unresolved.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace

from portpolicy.model import (
    Evidence,
    Fact,
    FirewallRule,
    InvalidPort,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers import iptables
from portpolicy.readers import netfilter as nf
from portpolicy.readers.base import LINE_BREAK, Source, is_ascii_digits, shown

NAME = "ufw"

_CHAIN = re.compile(r"^ufw6?-(?:before|user|after)-(input|output|forward)$")
_DIRECTIONS = {"input": "in", "output": "out", "forward": "forward"}
_ACTIONS = {"allow": "accept", "deny": "drop", "reject": "reject", "limit": "accept"}
_POLICY = re.compile(r"^\s*DEFAULT_(INPUT|OUTPUT|FORWARD)_POLICY\s*=\s*\"?([A-Za-z-]+)\"?")
_LIMIT_NOTE = "ufw limit: accepted, but a source opening 6 connections in 30 seconds is refused"


_RULE_LINE = re.compile(r"^[ \t]*(?:\*filter|:ufw6?-|-A[ \t])", re.M)
_CHAIN_LINE = re.compile(r"^[ \t]*:ufw(6?)-", re.M)


def read(source: Source) -> Iterator[Fact]:
    """A rules file (iptables-restore input) or settings, told apart by their lines."""
    text = source.masked
    lines = text.replace("\r", "\n")  # for ``^`` searches: a line may end at CR alone
    if not _RULE_LINE.search(lines):
        yield from _defaults(source, text)
        return
    base: dict[str, str] = {}
    for chain in re.findall(r"^:(\S+)", lines, re.M):
        m = _CHAIN.match(chain)
        if m:
            base[chain] = _DIRECTIONS[m.group(1)]
    yield from iptables.read_save(
        source, text, "ufw", _rules_family(source, lines), base=base, always_stateful=True
    )


def _rules_family(source: Source, text: str) -> str:
    """ipv6 for ``ufw6-`` chains (``user6.rules``), ipv4 for ``ufw-`` ones; else the name says."""
    chain = _CHAIN_LINE.search(text)
    if chain is not None:
        return "ipv6" if chain.group(1) else "ipv4"
    return "ipv6" if "6" in source.name_path.rsplit("/", 1)[-1] else "ipv4"


def _defaults(source: Source, text: str) -> Iterator[Fact]:
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        m = _POLICY.match(line)
        if not m:
            continue
        action = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject"}.get(m.group(2).upper())
        if action is None:
            yield ParseError(
                f"ufw policy must be ACCEPT, DROP or REJECT, not {shown(m.group(2))!r}", source.at(number)
            )
            continue
        direction = _DIRECTIONS[m.group(1).lower()]
        yield _policy(direction, action, source.at(number, m.start(2) + 1))


def _policy(direction: str, action: str, at: Location) -> FirewallRule:
    chain = {"in": "default incoming", "out": "default outgoing", "forward": "default routed"}[direction]
    return FirewallRule(
        firewall="ufw",
        direction=direction,
        action=action,
        protocol="any",
        ports=None,
        location=at,
        chain=chain,
        service="policy",
        ruleset_stateful=True,
    )


# --- command lines ---------------------------------------------------------------------------------


@dataclass
class ScriptState:
    """What a script's ufw lines leave behind beyond rules: the last default policy per direction."""

    defaults: dict[str, FirewallRule] = field(default_factory=dict)

    def policies(self) -> Iterator[FirewallRule]:
        yield from self.defaults.values()


def command(source: Source, number: int, line: str, words: list[str], state: ScriptState) -> Iterator[Fact]:
    """One ``ufw`` invocation (arguments after the command name)."""
    words = [w for w in words if w not in ("--dry-run", "--force", "-f")]
    at = source.at(number, _column(line, "ufw"))
    if not words:
        return
    if words[0] == "default":
        yield from _default(words[1:], at, state, source, number, line)
        return
    if words[0] == "delete":
        return
    if words[0] == "insert" and len(words) > 1:
        words = words[2:]
    elif words[0] == "prepend":
        words = words[1:]
    direction = "in"
    if words and words[0] == "route":
        direction, words = "forward", words[1:]
    if not words or words[0] not in _ACTIONS:
        return
    action_word, words = words[0], words[1:]
    action = _ACTIONS[action_word]
    interface = ""
    i = 0  # an index, not words[1:] per word: a line of a million "in"s stays linear
    while i < len(words) and words[i] in ("in", "out"):
        side, i = words[i], i + 1
        if direction != "forward":
            direction = "in" if side == "in" else "out"
        if i + 1 < len(words) and words[i] == "on":
            if side == "in" or direction == "out":
                interface = words[i + 1]
            i += 2
    while i < len(words) and words[i] in ("log", "log-all"):
        i += 1
    words = words[i:]
    if "comment" in words:
        words = words[: words.index("comment")]
    if not words:
        if interface:
            yield from _facts(action, direction, None, None, (), interface, (), at, action_word, line)
        return
    if words[0] in ("proto", "from", "to"):
        yield from _full(words, action, direction, interface, at, action_word, source, number, line)
    else:
        yield from _simple(words, action, direction, interface, at, action_word, source, number, line)


def _default(
    words: list[str], at: Location, state: ScriptState, source: Source, number: int, line: str
) -> Iterator[Fact]:
    if not words:
        return
    action = {"allow": "accept", "deny": "drop", "reject": "reject"}.get(words[0])
    if action is None:
        if "{{" not in words[0] and not words[0].startswith("$"):
            yield ParseError(f"ufw default takes allow, deny or reject, not {shown(words[0])!r}", at)
        return
    which = words[1] if len(words) > 1 else "incoming"
    direction = {"incoming": "in", "outgoing": "out", "routed": "forward"}.get(which)
    if direction is None:
        return
    state.defaults[direction] = _policy(direction, action, source.at(number, _column(line, words[0])))


_COLUMN_SEARCH = 4096
"""Columns are looked for in a line's first characters only: a real command line is
shorter, and a hostile line of thousands of commands then costs no more than this each."""


def _column(line: str, word: str) -> int:
    return max(line.find(word, 0, _COLUMN_SEARCH), 0) + 1


def _simple(
    words: list[str],
    action: str,
    direction: str,
    interface: str,
    at: Location,
    verb: str,
    source: Source,
    number: int,
    line: str,
) -> Iterator[Fact]:
    spec = " ".join(words)
    port_at = source.at(number, _column(line, words[0]))
    ports_text, _, proto = spec.partition("/")
    protocols, bad = _protocols(proto or "any", port_at)
    if bad is not None:
        yield bad
        return
    ranges = yield from _port_list(ports_text, protocols, port_at, simple=True)
    if ranges is None:
        return
    names = ports_text if not is_ascii_digits(ports_text[:1]) else ""
    if names and not proto:
        protocols = nf.service_protocols(names) or protocols
    yield from _facts(action, direction, protocols, ranges, (), interface, (), at, verb, line)


def _full(
    words: list[str],
    action: str,
    direction: str,
    interface: str,
    at: Location,
    verb: str,
    source: Source,
    number: int,
    line: str,
) -> Iterator[Fact]:
    proto = "any"
    src = "any"
    dport_text = sport_text = ""
    app = ""
    i, side = 0, ""
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w == "proto":
            proto = nxt
        elif w == "from":
            side, src = "from", nxt
        elif w == "to":
            side = "to"
        elif w == "port":
            if side == "from":
                sport_text = nxt
            else:
                dport_text = nxt
        elif w == "app":
            app = nxt
        else:
            i += 1
            continue
        i += 2
    if app:
        yield Unresolved(app, "ufw application profile: its ports are defined outside the scanned tree", at)
        return
    protocols, bad = _protocols(proto, at)
    if bad is not None:
        yield bad
        return
    dports = sports = None
    if dport_text:
        dports = yield from _port_list(
            dport_text, protocols, source.at(number, _column(line, dport_text)), False
        )
        if dports is None:
            return
    if sport_text:
        sports = yield from _port_list(
            sport_text, protocols, source.at(number, _column(line, sport_text)), False
        )
        if sports is None:
            return
    if protocols == ():
        return
    if (dports or sports) and protocols is None:
        protocols = ("tcp", "udp")
    sources: tuple[str, ...] = () if src in ("any", "") else (src,)
    family = _family(src)
    yield from _facts(
        action,
        direction,
        protocols,
        dports,
        sports or (),
        interface,
        sources,
        at,
        verb,
        line,
        family=family,
        sport_given=sports is not None,
    )


def _family(address: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_network(address, strict=False).version == 6 else "ipv4"
    except ValueError:
        return "dual"


def _protocols(text: str, at: Location) -> tuple[tuple[str, ...] | None, Fact | None]:
    value = text.lower()
    if value == "any":
        return None, None
    if value in ("tcp", "udp"):
        return (value,), None
    if value in ("ipv6", "esp", "ah", "gre", "igmp", "vrrp"):
        return (), None
    if "{{" in value or value.startswith("$"):
        return (), Unresolved(text, "ufw protocol is a template or variable", at)
    return (), ParseError(f"ufw does not know protocol {shown(text)!r}", at)


def _port_list(
    text: str, protocols: tuple[str, ...] | None, at: Location, simple: bool
) -> Generator[Fact, None, tuple[PortRange, ...] | None]:
    """Yields the facts that stop the rule; returns its ranges."""
    parts = text.split(",")
    templated = "{{" in text or text.startswith("$")
    if (len(parts) > 1 or ":" in text) and protocols is None and not templated:
        yield ParseError(
            f"ufw refuses {shown(text)!r} without a protocol: multiple ports need /tcp or /udp", at
        )
        return None
    ranges: list[PortRange] = []
    protocol = protocols[0] if protocols else "any"
    for part in parts:
        if simple and part and part[0].isalpha() and nf.service_port(part, protocol) is None:
            yield Unresolved(part, "ufw application profile or service name not in the services table", at)
            return None
        got = nf.parse_port(part, at, "ufw port", ":", protocol)
        if isinstance(got, (InvalidPort, Unresolved)):
            yield got
            return None
        ranges.append(got)
    return tuple(ranges)


def _facts(
    action: str,
    direction: str,
    protocols: tuple[str, ...] | None,
    dports: tuple[PortRange, ...] | None,
    sports: tuple[PortRange, ...],
    interface: str,
    sources: tuple[str, ...],
    at: Location,
    verb: str,
    line: str,
    family: str = "dual",
    sport_given: bool = False,
) -> Iterator[Fact]:
    if protocols == ():
        return
    if dports is not None and protocols is None:
        protocols = ("tcp", "udp")
    match = nf.Match(
        protocols=protocols,
        dports=dports,
        sports=sports if sport_given else None,
        sources=sources,
        interface=interface,
        family=family,
    )
    chain = {"in": "ufw-user-input", "out": "ufw-user-output", "forward": "ufw-user-forward"}[direction]
    evidence = (Evidence(at, _LIMIT_NOTE),) if verb == "limit" else ()
    for fact in nf.emit("ufw", direction, action, match, at, chain):
        yield replace(fact, ruleset_stateful=True, evidence=evidence)
