"""BuildKit's Dockerfile syntax: logical instructions, parser directives, heredocs.

As ``moby/buildkit`` ``frontend/dockerfile/parser`` reads a file: parser directives at the top
(``# escape=`` changes the line-continuation and escape character), comment and blank lines
skipped even inside a continuation, heredocs (``RUN <<EOF`` … ``EOF``) whose bodies are never
instructions (each logical line keeps its heredocs' bodies, for the files they write). Each
logical instruction keeps where every piece of it came from, so a value deep in a continued
line is reported at its own line and column.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from portpolicy.model import Fact, Location, ParseError
from portpolicy.readers.base import LINE_BREAK, Source, shown
from portpolicy.readers.lexing import JINJA_EXPRESSIONS, replace_templates

INSTRUCTIONS = frozenset(
    {
        "from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy", "entrypoint",
        "volume", "user", "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell",
    }
)  # fmt: skip
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=(.*)")
"""The value is stripped in code: ``(.*?)\\s*$`` is quadratic in a run of blanks."""
_HEREDOC = re.compile(r"(?:^|(?<=\s))[0-9]*<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2(?=\s|$)")
TEMPLATED = "\x01"
"""What an inline ``{{ … }}`` becomes: one unknown value of the same length."""
MAX_LINES = 200_000


@dataclass(frozen=True)
class Heredoc:
    """A heredoc's body: ``name`` its delimiter, ``first`` the line its body starts on."""

    name: str
    strip_tabs: bool
    lines: list[str]
    first: int
    at: Location
    """Where it opens (``<<``)."""


@dataclass
class LogicalLine:
    """One logical instruction: its text and where each piece of it came from."""

    text: str
    starts: list[int]
    places: list[tuple[int, int]]
    original: str
    """The same text with template expressions as written (for values shown to users)."""
    heredocs: list[Heredoc] = field(default_factory=list)
    """Its closed heredocs, in order (``RUN <<EOF``, ``COPY <<EOF /dest``)."""

    def at(self, offset: int, path: str) -> Location:
        i = max(0, bisect_right(self.starts, offset) - 1)
        line, col = self.places[i]
        return Location(path, line, col + offset - self.starts[i])


class Instructions:
    """The logical instructions of one file; the ``escape`` directive and syntax errors found on the way."""

    def __init__(self, source: Source, facts: list[Fact]) -> None:
        self.source = source
        self.path = source.path
        self.escape = "\\"
        self.facts = facts
        self.cut = False

    def lines(self) -> Iterator[LogicalLine]:
        """Logical instructions: directives read, continuations joined, heredoc bodies skipped."""
        text = self.source.masked
        # the line breaks of every reader, suppression and code frame: \f, \v or U+2028 end no line
        orig = LINE_BREAK.split(text, MAX_LINES)
        self.cut = len(orig) > MAX_LINES  # lines past the bound are not read (docs/robustness.md)
        orig = orig[:MAX_LINES]
        # Inline ``{{ … }}`` (Jinja, Go templates) is no Dockerfile syntax: one unknown value,
        # same length, so columns and the text shown for it stay those of the file.
        raw = [replace_templates(ln, lambda span: TEMPLATED * len(span), JINJA_EXPRESSIONS) for ln in orig]
        i = 0
        while i < len(raw):  # parser directives: only before anything else
            m = _DIRECTIVE.match(raw[i])
            if not m:
                break
            key, value = m.group(1).lower(), m.group(2).strip()
            if key == "escape":
                if value not in ("\\", "`"):
                    self.facts.append(
                        ParseError(
                            f"invalid escape directive {shown(value)!r} (must be \\ or `)",
                            self.source.at(i + 1),
                        )
                    )
                else:
                    self.escape = value
            i += 1
        while i < len(raw):
            line = raw[i]
            stripped = line.lstrip()
            if not stripped or stripped.startswith("#"):
                i += 1
                continue
            starts: list[int] = []
            places: list[tuple[int, int]] = []
            parts: list[str] = []
            originals: list[str] = []
            length = 0
            lead = len(line) - len(stripped)
            piece, cont = self._continued(stripped)
            starts.append(0)
            places.append((i + 1, lead + 1))
            parts.append(piece)
            originals.append(orig[i][lead : lead + len(piece)])
            length += len(piece)
            i += 1
            while cont and i < len(raw):
                nxt = raw[i]
                s = nxt.lstrip()
                if not s or s.startswith("#"):
                    i += 1
                    continue
                piece, cont = self._continued(nxt)
                starts.append(length)
                places.append((i + 1, 1))
                parts.append(piece)
                originals.append(orig[i][: len(piece)])
                length += len(piece)
                i += 1
            logical = LogicalLine("".join(parts), starts, places, "".join(originals))
            i = self._skip_heredocs(logical, raw, orig, i)
            yield logical

    def _continued(self, line: str) -> tuple[str, bool]:
        body = line.rstrip(" \t\r")
        if body.endswith(self.escape):
            return body[: -len(self.escape)], True
        return line.rstrip("\r"), False

    def _skip_heredocs(self, logical: LogicalLine, raw: list[str], orig: list[str], i: int) -> int:
        """Skip the bodies of ``RUN``/``COPY``/``ADD`` heredocs, kept on ``logical``; returns the next line index."""
        word = logical.text.split(None, 1)
        if not word or word[0].lower() not in ("run", "copy", "add") or "<<" not in logical.text:
            return i
        for m in _HEREDOC.finditer(logical.text):
            strip_tabs, end = m.group(1) == "-", m.group(3)
            first, lines = i + 1, list[str]()
            while i < len(raw):
                body = raw[i].rstrip("\r")
                i += 1
                if (body.lstrip("\t") if strip_tabs else body) == end:
                    at = logical.at(m.start(), self.path)
                    logical.heredocs.append(Heredoc(end, strip_tabs, lines, first, at))
                    break
                lines.append(orig[i - 1].rstrip("\r"))  # as written: a template value is the reader's
            else:  # a body running past the lines read may well be closed: only the bound stopped it
                if not self.cut:
                    self.facts.append(
                        ParseError(f"heredoc <<{end} is never closed", logical.at(m.start(), self.path))
                    )
        return i
