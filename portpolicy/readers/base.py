"""What every reader shares: the source handed to it and small tolerant helpers.

A reader is a module with ``NAME``, ``matches(path) -> bool`` (by path alone) and
``read(source) -> Iterable[Fact]``; a YAML content reader also has ``sniff(text)`` (a
cheap text test, so unrelated YAML is never composed), ``claims(docs)`` and
``read_yaml(source, docs)``. A path reader that claims files by a loose name (shell
scripts) may have ``declines(source) -> bool``: True when the content is not its format,
so the file shows as skipped rather than read. A reader may also have ``assemble(facts) -> list[Fact]``,
called once per host with that reader's facts, to join facts across files (systemd
drop-ins and socket/service pairs). Readers never decide policy and never raise on bad
input: they yield ``ParseError`` / ``InvalidPort`` / ``Unresolved`` facts instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portpolicy.model import InvalidPort, Location, PortRange, Unresolved
from portpolicy.readers.lexing import JINJA_COMMENTS, replace_templates

PROTOCOLS = {"tcp", "udp", "sctp", "dccp"}

MAX_DIGITS = 20
"""More significant digits than any port, id or kernel setting can have (2**64 has 20)."""
TOO_LARGE: int = 10**MAX_DIGITS
"""What ``ascii_int`` gives for a longer number: above every range a caller checks."""
SHOWN_CHARS = 40
"""How much of an offending value a message quotes: a hostile value can be megabytes."""


@dataclass(frozen=True)
class Source:
    """One file to read: ``path`` as shown to the user (relative, forward slashes) and its text."""

    path: str
    text: str

    def at(self, line: int, column: int = 1) -> Location:
        return Location(self.path, line, column)


LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""How config files end a line: CRLF, CR or LF (split on it, line numbers stay right)."""
TEMPLATE_MARK = re.compile(r"\{\{|\{%|\$\{|\$[A-Za-z_]|%[a-zA-Z]")
JINJA_STATEMENT_LINE = re.compile(r"^\s*\{%.*%\}\s*$")


PLACEHOLDER = re.compile(r"<[A-Za-z][\w .:-]*>|__[A-Z][A-Z0-9_]*__|@[A-Z][A-Z0-9_]*@")


def is_templated(value: str) -> bool:
    """True when a value still holds a template or variable placeholder (never guessed).

    Besides Jinja and shell variables, the placeholders people leave for a human or a
    ``sed`` to fill: ``<ssh-port>``, ``__PORT__``, ``@PORT@`` (autoconf).
    """
    return "{{" in value or "{%" in value or "${" in value or PLACEHOLDER.search(value) is not None


def mask_jinja(text: str) -> str:
    """Blank Jinja statement lines and comments, keeping every line number in place.

    Used for raw ``.j2`` files: ``{% if %}`` lines would break the format's parser, and a
    tolerant read of the remaining lines is what a reviewer sees anyway.
    """
    text = replace_templates(
        text, lambda comment: "\n" * comment.count("\n"), JINJA_COMMENTS, across_lines=True
    )
    return "\n".join("" if JINJA_STATEMENT_LINE.match(line) else line for line in text.split("\n"))


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of ``0``-``9`` only.

    ``str.isdigit`` also says yes to ``²`` (which ``int`` refuses) and ``٨٠`` (which ``int``
    reads as 80); no config format means those.
    """
    return text.isascii() and text.isdigit()


def ascii_int(text: str) -> int | None:
    """``text`` as a number when it is ASCII digits only, else None.

    A number with more than ``MAX_DIGITS`` significant digits is ``TOO_LARGE`` without being
    converted: ``int`` refuses more than 4,300 digits, and no range check needs the value.
    """
    if not is_ascii_digits(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > MAX_DIGITS:
        return TOO_LARGE
    return int(significant or "0")


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, for quoting an offending value in a message."""
    return text if len(text) <= limit else text[:limit] + "..."


def parse_port_range(
    text: str, location: Location, context: str, sep: str = "-", allow_zero: bool = False
) -> PortRange | InvalidPort | Unresolved | None:
    """Parse ``N`` or ``A<sep>B`` into a range, or a fact saying why it is not one.

    Returns None for port 0 when ``allow_zero`` (0 means disabled or automatic, never a
    privileged port). Values outside 1..65535 and inverted ranges become ``InvalidPort``;
    placeholders become ``Unresolved``.
    """
    value = text.strip()
    if is_templated(value):
        return Unresolved(value, f"{context}: value is a template or variable", location)
    parts = value.split(sep, 1) if sep in value[1:] else [value]
    numbers: list[int] = []
    for part in parts:
        number = ascii_int(part.strip())
        if number is None:
            return InvalidPort(value, f"{context}: {shown(value)!r} is not a port number", location, context)
        if not 0 <= number <= 65535:
            return InvalidPort(
                value, f"{context}: port {shown(part.strip())} is outside 1-65535", location, context
            )
        numbers.append(number)
    start, end = numbers[0], numbers[-1]
    if len(numbers) == 1 and start == 0 and allow_zero:
        return None
    if 0 in numbers:
        return InvalidPort(value, f"{context}: port 0 is outside 1-65535", location, context)
    if start > end:
        return InvalidPort(value, f"{context}: range {shown(value)} starts after it ends", location, context)
    return PortRange(start, end)
