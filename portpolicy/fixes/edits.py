"""The edit kinds a rule's ``fix:`` block may name, each a pure function of one line of text.

An edit gets the line the finding points at (without its line break) and the values of the
fix's fields, and returns the new line, ``DELETE`` to drop the line, or a ``Refused`` saying
why it cannot edit safely (the text is not what the fact says: a variable, a template, a
file changed since the scan). Only the characters the fix is about change: the rest of the
line, its comment and its spacing stay as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from portpolicy.kernel import parse_reserved
from portpolicy.model import PortRange, PortSet


@dataclass(frozen=True)
class Refused:
    """Why an edit was not made; the finding stays, and ``--fix`` says why."""

    reason: str


DELETE = "\x00delete"
"""Returned by an edit to drop the whole line (a suppression comment alone on its line)."""

LineEdit = Callable[[str, int, Mapping[str, Any]], "str | Refused"]
"""(line, 1-based column of the finding, field values) -> the new line, ``DELETE`` or ``Refused``."""

_PAIR = re.compile(r"(?<![\w.])(\d{1,5})([ \t]+|[ \t]*-[ \t]*)(\d{1,5})(?![\w.])")
_PORT_LIST = re.compile(r"(?<![\w.])\d{1,5}(?:-\d{1,5})?(?:[ \t]*,[ \t]*\d{1,5}(?:-\d{1,5})?)*(?![\w.])")


def replace_range(line: str, column: int, values: Mapping[str, Any]) -> str | Refused:
    """The one ``start end`` pair on the line that is the fact's range becomes the new range."""
    old = (values["start"], values["end"])
    new = (values["new_start"], values["new_end"])
    if not all(isinstance(v, int) for v in (*old, *new)):
        return Refused("the range's numbers are not known")
    hits = [m for m in _PAIR.finditer(line) if (int(m.group(1)), int(m.group(3))) == old]
    if len(hits) != 1:
        return Refused(f"the line does not hold the range {old[0]} {old[1]} exactly once")
    m = hits[0]
    return f"{line[: m.start()]}{new[0]}{m.group(2)}{new[1]}{line[m.end() :]}"


def reserve_ports(line: str, column: int, values: Mapping[str, Any]) -> str | Refused:
    """The line's reserved-ports list, merged with the listener's ports (never replaced: PP007)."""
    current, ports = values["current"], values["ports"]
    if not isinstance(ports, PortRange | PortSet):
        return Refused("the listener's ports are not known")
    hits = [m for m in _PORT_LIST.finditer(line) if _as_set(m.group(0)) == current]
    if len(hits) != 1:
        return Refused(f"the line does not hold the reserved-ports list {current or '(empty)'} exactly once")
    m = hits[0]
    merged = (current if isinstance(current, PortSet) else PortSet()).union(ports)
    return f"{line[: m.start()]}{merged}{line[m.end() :]}"


def _as_set(text: str) -> PortSet | None:
    parsed = parse_reserved(text)
    return parsed if isinstance(parsed, PortSet) else None


def quote_scalar(line: str, column: int, values: Mapping[str, Any]) -> str | Refused:
    """The plain scalar ``value`` nearest the finding's column, in double quotes."""
    value = values["value"]
    if not isinstance(value, str) or not value or '"' in value or "\\" in value:
        return Refused("the value cannot be quoted as written")
    plain = re.compile(r"(?<![\w\"':.-])" + re.escape(value) + r"(?![\w\"':.-])")
    hits = list(plain.finditer(line))
    if not hits:
        return Refused(f"the line does not hold the plain value {value}")
    m = min(hits, key=lambda h: abs(h.start() - (column - 1)))
    return f'{line[: m.start()]}"{value}"{line[m.end() :]}'


_IGNORE = re.compile(r"(?P<lead>#|;|//|<!--)[ \t]*portpolicy:[ \t]*ignore\[(?P<ids>[^\]\n]{0,512})\]")
_NOQA = re.compile(
    r"(?P<lead>#|;|//|<!--)[ \t]*noqa(?::[ \t]*|[ \t]+)"
    r"(?P<ids>[A-Za-z][\w\[\]-]*(?:[ \t]*,[ \t]*[A-Za-z][\w\[\]-]*)*)"
)


def remove_suppression(line: str, column: int, values: Mapping[str, Any]) -> str | Refused:
    """Drop one rule id from the comment at ``column``; the comment (or its line) once it names none."""
    rule = values["rule"]
    if not isinstance(rule, str):
        return Refused("the suppression's rule is not known")
    for pattern in (_IGNORE, _NOQA):
        m = pattern.match(line, column - 1)
        if m is None:
            continue
        ids = [i.strip() for i in m.group("ids").split(",")]
        if rule not in ids and rule != "":
            return Refused(f"the comment does not name {rule}")
        left = [i for i in ids if i and i != rule]
        if left:
            return f"{line[: m.start('ids')]}{','.join(left)}{line[m.end('ids') :]}"
        return _without_comment(line, m.start(), m.group("lead"))
    return Refused("no suppression comment at the finding's column")


def _without_comment(line: str, start: int, lead: str) -> str:
    """The line without the comment from ``start`` on (an XML comment up to its ``-->``)."""
    end = len(line)
    if lead == "<!--":
        close = line.find("-->", start)
        end = len(line) if close < 0 else close + 3
    rest = (line[:start].rstrip() + line[end:]).rstrip()
    return DELETE if not rest.strip() else rest


EDITS: dict[str, LineEdit] = {
    "replace-range": replace_range,
    "reserve-ports": reserve_ports,
    "quote-scalar": quote_scalar,
    "remove-suppression": remove_suppression,
}
"""Each ``edit`` of the rule schema's ``fix`` block, by name."""
