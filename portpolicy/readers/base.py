"""What every reader shares: the source handed to it and small tolerant helpers.

A reader is a module with ``NAME`` and ``read(source) -> Iterable[Fact]``; which files it
gets is decided by its signature (``portpolicy.signatures``) and ``portpolicy.recognise``,
never by the reader. A YAML reader also has ``claims(docs)`` and ``read_yaml(source, docs)``
(its signature's cheap text sniff comes first, so unrelated YAML is never composed).
A reader may also have ``assemble(facts) -> list[Fact]``,
called once per host with that reader's facts, to join facts across files (systemd
drop-ins and socket/service pairs). Readers never decide policy and never raise on bad
input: they yield ``ParseError`` / ``InvalidPort`` / ``Unresolved`` facts instead.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from functools import cached_property
from types import ModuleType
from typing import Any

from portpolicy.lazyre import lazy
from portpolicy.model import InvalidPort, Location, ParseError, PortRange, Unresolved
from portpolicy.paths import TEMPLATE_SUFFIXES as TEMPLATE_SUFFIXES  # re-exported: readers ask base
from portpolicy.paths import is_template
from portpolicy.paths import strip_template as strip_template
from portpolicy.readers.lexing import JINJA_COMMENTS, replace_templates
from portpolicy.records import record

PROTOCOLS = {"tcp", "udp", "sctp", "dccp"}

MAX_DIGITS = 20
"""More significant digits than any port, id or kernel setting can have (2**64 has 20)."""
TOO_LARGE: int = 10**MAX_DIGITS
"""What ``ascii_int`` gives for a longer number: above every range a caller checks."""
SHOWN_CHARS = 40
"""How much of an offending value a message quotes: a hostile value can be megabytes."""


LINE_BREAK = lazy(r"\r\n|\r|\n")
"""How config files end a line: CRLF, CR or LF (split on it, line numbers stay right)."""
TEMPLATE_MARK = lazy(r"\{\{|\{%|\$\{|\$[A-Za-z_]|%[a-zA-Z]")
JINJA_STATEMENT_LINE = lazy(r"^\s*\{%.*%\}\s*$")

_JINJA_COMMENT = lazy(r"(?<!\$)\{#")
"""A Jinja comment's opener; ``${#name}`` is a shell variable's length, not a template."""


@record
class Source:
    """One file to read: ``path`` as shown to the user (relative, forward slashes) and its text.

    Whether it is a template, and its text with the Jinja masked, are decided here once for
    every reader: a reader reads ``masked`` (the same as ``text`` when there is no Jinja) and
    never looks at a template suffix itself.
    """

    path: str
    text: str
    rel: str = ""
    """The path relative to the scanned root: what any decision by path may look at."""

    @property
    def name_path(self) -> str:
        """``rel`` when known, else ``path``: the path a reader decides by (never a folder above the root)."""
        return self.rel or self.path

    @property
    def rendered_path(self) -> str:
        """``name_path`` without its template suffix: the name the rendered file is deployed under."""
        return strip_template(self.name_path)

    @property
    def template(self) -> bool:
        """A template by its name (``TEMPLATE_SUFFIXES``): its text is only final once rendered."""
        return is_template(self.name_path)

    @cached_property
    def jinja(self) -> bool:
        """Raw Jinja: a template by name, or text holding a Jinja statement or comment.

        Ansible's ``template`` module renders files of any name, so ``{%`` says it too; a
        ``{#`` does unless it is shell's ``${#name}``.
        """
        return self.template or "{%" in self.text or _JINJA_COMMENT.search(self.text) is not None

    @cached_property
    def masked(self) -> str:
        """The text with Jinja statement lines and comments blanked (``mask_jinja``), or the
        text itself when it holds no Jinja; line numbers and columns are those of ``text``."""
        return mask_jinja(self.text) if self.jinja else self.text

    @cached_property
    def statement_lines(self) -> frozenset[int]:
        """Lines (from 1) that ``masked`` blanked as whole Jinja statements (``{% if x %}``):
        gone once rendered, so they end no continuation."""
        if not self.jinja or "{%" not in self.text:
            return frozenset()
        lines = LINE_BREAK.split(self.text)
        return frozenset(n for n, line in enumerate(lines, start=1) if JINJA_STATEMENT_LINE.match(line))

    def at(self, line: int, column: int = 1) -> Location:
        return Location(self.path, line, column)


PLACEHOLDER = lazy(r"<[A-Za-z][\w .:-]*>|__[A-Z][A-Z0-9_]*__|@[A-Z][A-Z0-9_]*@")


def is_templated(value: str) -> bool:
    """True when a value still holds a template or variable placeholder (never guessed).

    Besides Jinja and shell variables, the placeholders people leave for a human or a
    ``sed`` to fill: ``<ssh-port>``, ``__PORT__``, ``@PORT@`` (autoconf), and ERB/EPP
    tags of Chef and Puppet templates (``<%= port %>``).
    """
    return (
        "{{" in value
        or "{%" in value
        or "${" in value
        or "<%" in value
        or PLACEHOLDER.search(value) is not None
    )


def mask_jinja(text: str) -> str:
    """Blank Jinja statement lines and comments, keeping every line number in place.

    Used for raw ``.j2`` files: ``{% if %}`` lines would break the format's parser, and a
    tolerant read of the remaining lines is what a reviewer sees anyway.
    """
    text = replace_templates(
        text, lambda comment: "\n" * comment.count("\n"), JINJA_COMMENTS, across_lines=True
    )
    return "\n".join("" if JINJA_STATEMENT_LINE.match(line) else line for line in text.split("\n"))


_EXPRESSION_LINE = lazy(r"^[ \t]*\{\{.*\}\}[ \t]*$", re.M)
"""A line holding only a ``{{ }}`` expression: it expands to YAML of its own (``{{ x | to_yaml }}``)."""


def mask_inline_jinja(text: str, prefix: str, end: str = "") -> tuple[str, dict[str, str]]:
    """A YAML template's text with its inline Jinja replaced by words, and what each word stands for.

    Unquoted Jinja (``- {{ port }}:80``) is no valid YAML (or worse, a flow mapping). An
    expression alone on its line expands to YAML of its own and is blanked like a statement;
    every other one-line ``{{ }}`` / ``{% %}`` becomes ``<prefix><n><end>`` padded with ``_``
    to its length, so the YAML stays valid, the columns stay in place, and the reader maps
    the word back to the template text when it reports it. The reader chooses the word: one
    that reads as an unknown value in its format (Compose: a ``$J0__`` variable).
    """
    placeholders: dict[str, str] = {}
    text = _EXPRESSION_LINE.sub("", text)

    def word(template: str) -> str:
        placeholder = f"{prefix}{len(placeholders)}{end}"
        placeholder += "_" * max(0, len(template) - len(placeholder))
        placeholders[placeholder] = template
        return placeholder

    return replace_templates(text, word), placeholders


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


# --------------------------------------------------------------------------- what messages may quote

_WORD_END = lazy(r"[\s=\"'`]")
"""Where a line's leading keyword ends: a value, a quote or an ``=`` that follows is not quoted."""


def first_word(line: str) -> str:
    """The keyword a bad line starts with, cut short: all a message may quote of that line.

    A line of a file that is not what its name says may hold a secret (``TOKEN=abc``), so
    the word stops at a blank, ``=`` or quote; a line that starts with one gives that one
    character.
    """
    text = line.lstrip()
    end = _WORD_END.search(text, 0, SHOWN_CHARS + 1)
    word = text[: end.start()] if end is not None else text[: SHOWN_CHARS + 1]
    return shown(word or text[:1])


@record
class Format:
    """What a reader's files look like, so a file claimed by name that is not one is told apart.

    ``line`` matches (at its start) a line only that format has; blank lines, lines that
    start with one of ``comments`` and Jinja lines say nothing either way. A file whose
    first error comes before the first such line is reported once, quoting nothing
    (``unlike``): its lines may be anything, a secret included. With ``whole_file``, so is a
    file with content and no such line at all, errors or not (false for readers that read
    only what they recognise in loosely named files and pass over the rest).
    """

    name: str
    marks: str
    line: re.Pattern[str]
    comments: tuple[str, ...] = ("#",)
    whole_file: bool = True


NEUTRAL = ("{%", "{#", "{{")
"""Jinja lines: in a template, neither the format nor garbage."""


def unlike(form: Format, text: str, first_error: int | None, template: bool = False) -> str | None:
    """Why ``text`` is not ``form`` (a message that quotes nothing), or None when it looks like it.

    ``first_error`` is the line of the reader's first error. A template (``template``) is
    never judged: its raw text may open with Jinja that spans lines (``{% set x = [ ...``),
    its errors are unresolved values anyway, and they quote only the offending token.
    """
    if template:
        return None
    content = False
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        if first_error is not None and number > first_error:
            break
        if form.line.match(raw):
            return None
        stripped = raw.lstrip()
        content = content or bool(stripped and not stripped.startswith((*form.comments, *NEUTRAL)))
    if first_error is not None:
        return f"does not look like {form.name} (no {form.marks} before the first error, line {first_error})"
    if content and form.whole_file:
        return f"does not look like {form.name} (no {form.marks} found)"
    return None


def format_of(reader: ModuleType, path: str) -> Format | None:
    """The format a path reader expects of ``path``: its ``FORMAT``, or ``format_for(path)``."""
    form = getattr(reader, "FORMAT", None)
    if form is None and hasattr(reader, "format_for"):
        form = reader.format_for(path)
    return form if isinstance(form, Format) else None


def unlike_file(reader: ModuleType, source: Source, facts: list[Any]) -> str | None:
    """Why a file claimed by its name is not of ``reader``'s format, quoting nothing; None when it is.

    Such a file (no line of the format, or an error before the first one) gets this one
    reason instead of per-line errors, which would quote what may be a secret.
    """
    form = format_of(reader, source.path)
    if form is None:
        return None
    lines = [
        f.location.line
        for f in facts
        if isinstance(f, (ParseError, InvalidPort)) and f.location.path == source.path
    ]
    return unlike(form, source.text, min(lines, default=None), source.template)


def raw_template_errors(path: str, facts: list[Any]) -> list[Any]:
    """The facts of a template read raw, its syntax errors made unresolved values.

    Jinja blocks, macros and inheritance, or a generator's placeholders, can make the raw
    text unparsable while every rendered file is fine: such an error is no verdict on the
    file it renders to, so it is counted (shown with ``-v``), not PP000.
    """
    out: list[Any] = []
    for fact in facts:
        if isinstance(fact, ParseError) and not fact.message.startswith(("internal error", "cannot read")):
            fact = Unresolved(
                posixpath.basename(path),
                f"template read without rendering, and its raw text does not parse ({fact.message})",
                fact.location,
            )
        out.append(fact)
    return out


def cut_values(facts: list[Any]) -> list[Any]:
    """Facts whose invalid or unresolved port values are cut short (``-v`` and ``facts`` show them)."""
    return [_cut(f) for f in facts]


def _cut(fact: Any) -> Any:
    """An invalid or unresolved port whose value is shown cut short (a hostile one can be megabytes)."""
    if isinstance(fact, (InvalidPort, Unresolved)) and len(fact.value) > SHOWN_CHARS:
        return replace(fact, value=shown(fact.value))
    return fact
