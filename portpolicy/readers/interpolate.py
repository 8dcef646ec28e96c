"""``$VAR`` and ``${VAR<modifier>}``: how a variable reference is written, read in one place.

Compose (``readers.dotenv``) and BuildKit (``readers.dockerfile``) write references alike and
give them different meanings: Compose reads ``$$`` as a literal ``$``, nests ``${A:-${B}}``
and knows ``?`` (required); BuildKit's ``${`` ends at the first ``}`` and knows ``-`` and
``+`` only. Each caller describes its dialect with a ``Syntax``, asks ``reference_at`` what
the ``$`` at a position starts, and decides the value itself (defaults, ``.env`` values,
build arguments, unknown parts).
"""

from __future__ import annotations

import re

from portpolicy.records import record

VAR_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
"""A variable's name, in both dialects."""


@record
class Syntax:
    """How one dialect writes references."""

    dollar_escape: bool
    """``$$`` is a literal ``$`` (Compose)."""
    nested: bool
    """``${`` ends at the ``}`` that closes it, counting nested braces (Compose); else at the first ``}``."""
    operators: tuple[str, ...]
    """What may follow the name inside braces, each also after ``:`` (``-`` gives ``:-`` too)."""


COMPOSE = Syntax(dollar_escape=True, nested=True, operators=("-", "?", "+"))
BUILDKIT = Syntax(dollar_escape=False, nested=False, operators=("-", "+"))


@record
class Reference:
    """What the ``$`` at a position starts, and where it ends (``end``: the index after it).

    ``literal`` is text to copy (``$$``, or a ``$`` that starts no variable); otherwise
    ``name`` is the variable (``None``: the body has no name) and ``modifier`` the rest of
    the braces' body (``:-8080``, or ``""``). ``valid`` is false for a body whose name or
    modifier the dialect refuses, and ``closed`` false for a ``${`` that never closes
    (``end`` is then the text's end).
    """

    end: int
    literal: str | None = None
    name: str | None = None
    modifier: str = ""
    body: str = ""
    valid: bool = True
    closed: bool = True


def reference_at(text: str, i: int, syntax: Syntax) -> Reference:
    """The reference the ``$`` at ``text[i]`` starts, as ``syntax`` writes it."""
    nxt = text[i + 1 : i + 2]
    if nxt == "$" and syntax.dollar_escape:
        return Reference(i + 2, literal="$")
    named = VAR_NAME.match(text, i + 1)
    if named:
        return Reference(named.end(), name=named.group(0))
    if nxt != "{":
        return Reference(i + 1, literal="$")
    end = _closing_brace(text, i + 1) if syntax.nested else text.find("}", i + 2)
    if end < 0:
        return Reference(len(text), closed=False, valid=False)
    body = text[i + 2 : end]
    named = VAR_NAME.match(body)
    if not named:
        return Reference(end + 1, body=body, valid=False)
    modifier = body[named.end() :]
    return Reference(
        end + 1, name=named.group(0), modifier=modifier, body=body, valid=_known(modifier, syntax)
    )


def operator_of(modifier: str) -> tuple[bool, str, str]:
    """``(colon, operator, word)`` of a valid modifier: ``:-8080`` is ``(True, "-", "8080")``."""
    colon = modifier.startswith(":")
    return (colon, modifier[1:2], modifier[2:]) if colon else (colon, modifier[:1], modifier[1:])


def _known(modifier: str, syntax: Syntax) -> bool:
    if modifier == "":
        return True
    _, operator, _ = operator_of(modifier)
    return operator in syntax.operators


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start`` (nested ``${...}`` counted)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1
