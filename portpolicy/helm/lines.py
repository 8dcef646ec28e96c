"""Rendered lines back to the lines a chart's author edits: the template, or a values literal.

Helm does not say which template line made which rendered line, so this only claims what
the texts show, walking the rendered lines in order (as a diff would):

- a rendered line that is a literal line of the template (no ``{{``) maps to that line;
- a rendered line whose text starts and ends as a templated line with a YAML key does
  (``containerPort: {{ .Values.port }}``) maps to that line;
- a rendered line that neither fits but is, literally or in that key shape, the line of
  exactly one place in the chart's partials (``templates/_helpers.tpl``, a library chart's
  ``_*.tpl``: what ``include`` and ``template`` print) maps to that partial's line;
- anything else maps to line 1 of the template, never to a guessed line.

A templated line whose one action is ``.Values.a.b`` (optionally ``| quote`` and the like),
whose rendered value equals the scalar written at ``a.b`` in the values file that sets it
last, gets that values line as the place the value is written (``Evidence(value=True)``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from portpolicy.model import Location
from portpolicy.readers.base import LINE_BREAK
from portpolicy.yamlnodes import Node, ScalarNode, YamlError, compose_documents, get

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_OPENS = frozenset({"if", "range", "with", "define", "block"})
"""Go template actions that open a block closed by ``end``."""
_VALUES_PATH = re.compile(
    r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\s*\|\s*(?:quote|squote|int|int64|toString|toYaml|trim))*"
)


@dataclass(frozen=True)
class Mapped:
    """Where one rendered line came from: a template line and column, and the values key it prints."""

    line: int
    column: int
    key: tuple[str, ...] = ()
    value: str = ""
    """What the line printed for ``key`` (its text after the template line's literal prefix)."""
    path: str = ""
    """The partial the line comes from; empty for the template itself."""


class _Lines:
    """One template text's lines, indexed: literal lines by their text, templated lines by shape."""

    def __init__(self, text: str) -> None:
        self.lines = LINE_BREAK.split(text)
        self.literal: dict[str, list[int]] = defaultdict(list)
        self.shaped: list[tuple[int, str, str, tuple[str, ...]]] = []
        self.loops: list[tuple[int, int]] = []
        opened: list[tuple[str, int]] = []
        for number, line in enumerate(self.lines, start=1):
            for action in _ACTION.findall(line):
                word = action.split(maxsplit=1)[0] if action.strip() else ""
                if word in _OPENS:
                    opened.append((word, number))
                elif word == "end" and opened:
                    kind, start = opened.pop()
                    if kind == "range":
                        self.loops.append((start, number))
            if "{{" not in line:
                if line.strip():
                    self.literal[line.strip()].append(number)
                continue
            prefix = line[: line.index("{{")].strip()
            suffix = line[line.rindex("}}") + 2 :].strip() if "}}" in line else ""
            self.shaped.append((number, prefix, suffix, _values_key(line)))

    def loop_of(self, number: int) -> tuple[int, int] | None:
        """The innermost ``range`` block (its first and last line) holding line ``number``."""
        inside = [(start, end) for start, end in self.loops if start < number < end]
        return max(inside) if inside else None

    def fits(self, stripped: str) -> dict[int, tuple[str, tuple[str, ...]]]:
        """Templated lines with a YAML key that ``stripped`` could be the rendering of."""
        return {
            n: (p, k)
            for n, p, s, k in self.shaped
            if ":" in p and stripped.startswith(p) and stripped.endswith(s)
        }

    def mapped(self, number: int, key: tuple[str, ...], value: str, path: str = "") -> Mapped:
        indent = len(self.lines[number - 1]) - len(self.lines[number - 1].lstrip())
        return Mapped(number, indent + 1, key, value, path)


class Partials:
    """A chart's partial templates (what ``include`` prints): a line found in exactly one place."""

    def __init__(self, files: Sequence[tuple[str, str]] = ()) -> None:
        self.files = [(path, _Lines(text)) for path, text in files]

    def find(self, stripped: str, last: Mapped | None = None) -> Mapped | None:
        """Where ``stripped`` comes from: past ``last`` in the partial ``last`` came from (an
        ``include`` prints a block of one partial in order), else the one partial line it is
        (literally, else by key shape); None when that is not exactly one place."""
        if last is not None:
            for path, lines in self.files:
                if path == last.path and (near := _near(path, lines, stripped, last.line)) is not None:
                    return near
        places = [(path, lines, n) for path, lines in self.files for n in lines.literal.get(stripped, ())]
        if len(places) == 1:
            path, lines, number = places[0]
            return lines.mapped(number, (), "", path)
        if places:
            return None
        shaped = [
            (path, lines, n, fit) for path, lines in self.files for n, fit in lines.fits(stripped).items()
        ]
        if len(shaped) != 1:
            return None
        path, lines, number, (prefix, key) = shaped[0]
        return lines.mapped(number, key, rendered_value(stripped, prefix) if key else "", path)


def _near(path: str, lines: _Lines, stripped: str, line: int) -> Mapped | None:
    """``stripped`` in one partial near ``line``: the first place past it, unless that lies past
    the end of the ``range`` holding ``line`` and the loop's body has it (the loop starting its
    body again); else the last place before it."""
    fits = lines.fits(stripped)
    places = sorted({*lines.literal.get(stripped, ()), *fits})
    ahead = _first_after(places, line, only=False)
    loop = lines.loop_of(line)
    if loop is not None and (ahead is None or ahead > loop[1]):
        again = [n for n in places if loop[0] < n <= line]
        ahead = again[0] if again else ahead
    if ahead is None:
        ahead = max((n for n in places if n <= line), default=None)
    if ahead is None:
        return None
    prefix, key = fits.get(ahead, ("", ()))
    return lines.mapped(ahead, key, rendered_value(stripped, prefix) if key else "", path)


class LineMap:
    """Rendered line number -> ``Mapped``, for one template and its rendered text."""

    def __init__(self, template: str | None, rendered: str, partials: Partials | None = None) -> None:
        self.mapped: dict[int, Mapped] = {}
        if template is None:
            return
        own = _Lines(template)
        after = 0
        last: Mapped | None = None
        for number, text in enumerate(LINE_BREAK.split(rendered), start=1):
            stripped = text.strip()
            if not stripped:
                continue
            found = _first_after(own.literal.get(stripped, []), after)
            key: tuple[str, ...] = ()
            value = ""
            if found is None:
                fits = own.fits(stripped)
                found = _first_after(sorted(fits), after)
                if found is not None:
                    prefix, key = fits[found]
                    value = rendered_value(stripped, prefix) if key else ""
            if found is not None:
                after, last = found, None
                self.mapped[number] = own.mapped(found, key, value)
            elif partials is not None and (elsewhere := partials.find(stripped, last)) is not None:
                self.mapped[number] = last = elsewhere

    def location(self, path: str, line: int) -> Location:
        """Where rendered ``line`` lies in the template ``path`` (line 1 when unknown)."""
        mapped = self.mapped.get(line)
        return Location(mapped.path or path, mapped.line, mapped.column) if mapped else Location(path, 1, 1)

    def printed(self, line: int) -> tuple[tuple[str, ...], str]:
        """The values key rendered ``line`` prints and the value it printed (``()`` when none)."""
        mapped = self.mapped.get(line)
        return (mapped.key, mapped.value) if mapped else ((), "")


def _first_after(numbers: Sequence[int], after: int, only: bool = True) -> int | None:
    """The first of ``numbers`` (sorted) past ``after``; else (with ``only``) the only one; else none."""
    i = bisect_left(numbers, after + 1)
    if i < len(numbers):
        return numbers[i]
    return numbers[0] if only and len(numbers) == 1 else None


def _values_key(line: str) -> tuple[str, ...]:
    """``("service", "port")`` when the line's one action prints ``.Values.service.port``."""
    actions = _ACTION.findall(line)
    if len(actions) != 1:
        return ()
    match = _VALUES_PATH.fullmatch(actions[0].strip())
    return tuple(match.group(1).lstrip(".").split(".")) if match else ()


def rendered_value(rendered_line: str, prefix: str) -> str:
    """The text a templated line printed: what follows its literal prefix, unquoted."""
    value = rendered_line.strip()[len(prefix) :].strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


class ValuesFiles:
    """The values files of a release, last one first: where a key is written as a literal."""

    def __init__(self, files: Sequence[tuple[str, str]]) -> None:
        self.docs: list[tuple[str, Node | None]] = []
        for path, text in reversed(files):
            try:
                docs = compose_documents(text)
            except YamlError:
                docs = []
            self.docs.append((path, docs[0] if docs else None))

    def literal(self, key: tuple[str, ...], value: str) -> Location | None:
        """Where ``key`` is set last, if it is set there to the scalar ``value``."""
        for path, doc in self.docs:
            node: Node | None = doc
            for part in key:
                node = get(node, part)
            if node is None:
                continue
            if isinstance(node, ScalarNode) and node.value == value:
                return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)
            return None
        return None
