"""Scalars as Compose reads them: interpolated with the project's ``.env``, templates put back.

A value keeps the text as written (``raw``, Jinja placeholders restored, for messages) and
the text as Compose would see it (``text``, ``UNKNOWN`` where a part is not known).
"""

from __future__ import annotations

import re

from portpolicy.model import Location, Unresolved
from portpolicy.readers.base import MAX_DIGITS, Source
from portpolicy.readers.dotenv import UNKNOWN, Env, interpolate
from portpolicy.readers.lexing import replace_templates
from portpolicy.records import record
from portpolicy.yamlnodes import Node, ScalarNode, location, scalar

_PLACEHOLDER = re.compile(r"\$J([0-9]+)_*")

_PLACEHOLDER_DIGITS = 9
"""More digits than the number of any placeholder (one per template in an 8 MiB file)."""

_HEX_OR_OCTAL = re.compile(r"0[xX][0-9a-fA-F]+|0o[0-7]+")


@record(frozen=False)
class Value:
    """A scalar after interpolation: ``text`` holds ``UNKNOWN`` where a part is not known."""

    raw: str
    text: str
    problem: str | None
    location: Location

    @property
    def known(self) -> bool:
        return UNKNOWN not in self.text and self.problem is None


class Values:
    """Reads the scalars of one compose file: where they are, what they say, what is not known."""

    def __init__(self, source: Source, placeholders: dict[str, str], env: Env | None = None) -> None:
        self.source = source
        self.placeholders = placeholders
        self.env = env
        self._by_number: dict[str, str] | None = None
        self.origin: dict[int, str] = {}
        """The file of each node of a project merged from several files (``merge.Project.origin``)."""

    def loc(self, node: Node) -> Location:
        """Where a node starts: in its own file when the project was merged from several."""
        return location(self.origin.get(id(node), self.source.path), node)

    def restore(self, text: str) -> str:
        """The text as written in the template (masked Jinja put back)."""
        if not self.placeholders or "$J" not in text:
            return text
        if self._by_number is None:
            self._by_number = {ph[2:].rstrip("_"): ph for ph in self.placeholders}
        return _PLACEHOLDER.sub(self._put_back, text)

    def _put_back(self, m: re.Match[str]) -> str:
        """The template behind ``$J<n>___``: the longest placeholder the match starts with.

        Looked up by number, not by a regex alternation of every placeholder, which costs
        time proportional to their number at each ``$J``.
        """
        found, digits = m.group(0), m.group(1)
        assert self._by_number is not None
        for end in range(min(len(digits), _PLACEHOLDER_DIGITS), 0, -1):
            ph = self._by_number.get(digits[:end])
            if ph is not None and found.startswith(ph):
                return self.placeholders[ph] + found[len(ph) :]
        return found

    def value(self, node: Node | None) -> Value | None:
        """Interpolate a scalar as Compose does; None for anything but a scalar."""
        text = scalar(node)
        if text is None or node is None:
            return None
        if isinstance(node, ScalarNode) and not node.style and _HEX_OR_OCTAL.fullmatch(text):
            # YAML 1.2 (Compose's parser) reads 0x50 / 0o120 as integers.
            return Value(text, _yaml_integer(text), None, self.loc(node))
        return self.text_value(text, self.loc(node))

    def text_value(self, text: str, loc: Location) -> Value:
        """Interpolate text as found in the (masked) file, keeping the text as written."""
        raw = self.restore(text)
        resolved, problem = _interpolate(text, self.env)
        if UNKNOWN in resolved and problem is None:
            problem = "holds a variable without a default"
        if raw != text and ("{{" in raw or "{%" in raw):
            problem = "is a Jinja template"
        elif "{{" in resolved or "{%" in resolved:
            resolved = replace_templates(resolved, lambda _: UNKNOWN)
            problem = "is a Jinja template"
        return Value(raw, resolved, problem, loc)

    def unresolved(self, val: Value, what: str) -> Unresolved:
        """The fact for a value only known at deploy time: no verdict is drawn from it."""
        return Unresolved(val.raw, f"{what} {val.problem or 'is not known statically'}", val.location)


def _interpolate(text: str, env: Env | None = None) -> tuple[str, str | None]:
    """Compose's interpolation (``dotenv.interpolate``): the text, ``UNKNOWN`` where not known, and the first problem."""
    return interpolate(text, env)


def _yaml_integer(text: str) -> str:
    """A YAML 1.2 hex or octal integer in decimal; too long to be any port, it stays as written."""
    return str(int(text, 0)) if len(text) <= MAX_DIGITS else text
