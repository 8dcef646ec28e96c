"""Expression text into tokens: numbers, strings, names and operators.

A huge integer literal is refused before ``int()`` reads it (``MAX_LITERAL_DIGITS``).
"""

from __future__ import annotations

import re
from typing import Any

from portpolicy.ansible.jinja.budget import MAX_LITERAL_DIGITS
from portpolicy.ansible.jinja.values import TemplateSyntaxError

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<num>(?:\d+_)*\d+(?:(?:\.(?:\d+_)*\d+)?[eE][+-]?(?:\d+_)*\d+|\.(?:\d+_)*\d+)
      |0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0[xX](?:_?[\da-fA-F])+|[1-9](?:_?\d)*|0(?:_?0)*)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>\*\*|//|==|!=|<=|>=|[-+*/%~<>()\[\]{},.|:=?!])""",
    re.X | re.S,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def tokenize(src: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise TemplateSyntaxError(f"unexpected character {src[pos]!r} in expression")
        pos = m.end()
        kind = m.lastgroup or ""
        text = m.group(0)
        if kind == "ws":
            continue
        if kind == "num":
            out.append(("const", _number_literal(text)))
        elif kind == "str":
            body = text[1:-1]
            out.append(
                ("const", re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), "\\" + e.group(1)), body))
            )
        elif kind == "name":
            out.append(("name", text))
        else:
            out.append(("op", text))
    out.append(("end", None))
    return out


def _number_literal(text: str) -> int | float:
    """A number as Jinja reads it (``1e3``, ``0x1F``, ``1_000``); a huge integer literal is
    refused before ``int()`` reads it."""
    text = text.replace("_", "")
    if text[:2].lower() in ("0b", "0o", "0x"):
        if len(text) > MAX_LITERAL_DIGITS * 4:
            raise TemplateSyntaxError(f"integer literal of {len(text)} digits (exceeds evaluation budget)")
        return int(text, 0)
    if "." in text or "e" in text or "E" in text:
        return float(text)
    if len(text) > MAX_LITERAL_DIGITS:
        raise TemplateSyntaxError(
            f"integer literal of {len(text)} digits (exceeds evaluation budget: at most {MAX_LITERAL_DIGITS})"
        )
    return int(text)
