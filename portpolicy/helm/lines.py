"""Rendered lines back to the lines a chart's author edits: the template, or a values literal.

Helm does not say which template line made which rendered line, so this only claims what
the texts show, walking the rendered lines in order (as a diff would):

- a rendered line that is a literal line of the template (no ``{{``) maps to that line;
- a rendered line whose text starts and ends as a templated line with a YAML key does
  (``containerPort: {{ .Values.port }}``) maps to that line;
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


class LineMap:
    """Rendered line number -> ``Mapped``, for one template and its rendered text."""

    def __init__(self, template: str | None, rendered: str) -> None:
        self.mapped: dict[int, Mapped] = {}
        if template is None:
            return
        lines = LINE_BREAK.split(template)
        literal: dict[str, list[int]] = defaultdict(list)
        shaped: list[tuple[int, str, str, tuple[str, ...]]] = []
        for number, text in enumerate(lines, start=1):
            if "{{" not in text:
                if text.strip():
                    literal[text.strip()].append(number)
                continue
            prefix = text[: text.index("{{")].strip()
            suffix = text[text.rindex("}}") + 2 :].strip() if "}}" in text else ""
            shaped.append((number, prefix, suffix, _values_key(text)))
        after = 0
        for number, text in enumerate(LINE_BREAK.split(rendered), start=1):
            stripped = text.strip()
            if not stripped:
                continue
            found = _first_after(literal.get(stripped, []), after)
            key: tuple[str, ...] = ()
            value = ""
            if found is None:
                fits = {
                    n: (p, k)
                    for n, p, s, k in shaped
                    if ":" in p and stripped.startswith(p) and stripped.endswith(s)
                }
                found = _first_after(sorted(fits), after)
                if found is not None:
                    prefix, key = fits[found]
                    value = rendered_value(stripped, prefix) if key else ""
            if found is None:
                continue
            after = found
            indent = len(lines[found - 1]) - len(lines[found - 1].lstrip())
            self.mapped[number] = Mapped(found, indent + 1, key, value)

    def location(self, path: str, line: int) -> Location:
        """Where rendered ``line`` lies in the template ``path`` (line 1 when unknown)."""
        mapped = self.mapped.get(line)
        return Location(path, mapped.line, mapped.column) if mapped else Location(path, 1, 1)

    def printed(self, line: int) -> tuple[tuple[str, ...], str]:
        """The values key rendered ``line`` prints and the value it printed (``()`` when none)."""
        mapped = self.mapped.get(line)
        return (mapped.key, mapped.value) if mapped else ((), "")


def _first_after(numbers: Sequence[int], after: int) -> int | None:
    """The first of ``numbers`` (sorted) past ``after``; else the only one; else none."""
    i = bisect_left(numbers, after + 1)
    if i < len(numbers):
        return numbers[i]
    return numbers[0] if len(numbers) == 1 else None


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
