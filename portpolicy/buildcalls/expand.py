"""Variables in build calls, filled only from literal values the same file gives them.

``$(VAR)``, ``${VAR}``, ``$VAR`` and ``${VAR:-default}`` are replaced from the file's own
assignments (a Makefile's variables, a script's ``VAR=value``, a workflow's ``env:``); a
value may name other variables (Make's recursive ``=``). Expansion is bounded in depth and
length: a variable that refers to itself gives up with a note, never a hang.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_DEPTH = 16
"""Nesting of variables inside variables; deeper (or a cycle) leaves the word unresolved."""
MAX_LENGTH = 4096
"""Characters of one expanded word."""
MAX_STEPS = 2000
"""Variable references replaced while expanding one word."""

_REFERENCE = re.compile(
    r"\$(?:\(([A-Za-z_][A-Za-z0-9_]*)\)|\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}$]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


class TooDeep(Exception):
    """A variable nests deeper than ``MAX_DEPTH``, refers to itself, or grows past the bounds."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand(word: str, env: Mapping[str, str]) -> str | None:
    """``word`` with its variables filled; None when one is unknown. Raises TooDeep."""
    steps = [0]
    text = _expand(word, env, 0, steps)
    if text is None or "$" in text or "`" in text:
        return None
    return text


def _expand(word: str, env: Mapping[str, str], depth: int, steps: list[int]) -> str | None:
    out: list[str] = []
    size = 0
    last = 0
    for m in _REFERENCE.finditer(word):
        name = m.group(1) or m.group(2) or m.group(4)
        steps[0] += 1
        if depth >= MAX_DEPTH or steps[0] > MAX_STEPS:
            raise TooDeep(name)
        if name in env:
            value = _expand(env[name], env, depth + 1, steps)
        elif m.group(3) is not None:
            value = m.group(3)
        else:
            return None
        if value is None:
            return None
        piece = word[last : m.start()] + value
        size += len(piece)
        if size > MAX_LENGTH:
            raise TooDeep(name)
        out.append(piece)
        last = m.end()
    out.append(word[last:])
    return "".join(out)
