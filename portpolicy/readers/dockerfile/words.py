"""Words of an instruction and their expansion, as BuildKit's shell lexer does it.

Quotes keep blanks together and are removed; ``$VAR``/``${VAR}`` and their modifiers expand
from ``ARG`` defaults and ``ENV`` values. A variable declared without a value or not declared
at all is not known statically (a ``--build-arg`` may set it): it becomes ``UNKNOWN``, and the
caller reports an ``Unresolved``.
"""

from __future__ import annotations

from portpolicy.readers.dockerfile.syntax import TEMPLATED
from portpolicy.readers.interpolate import BUILDKIT, operator_of, reference_at

UNKNOWN = "\x00"
"""Stands for a part of a value that is not known statically."""


def if_known(text: str) -> str | None:
    return None if UNKNOWN in text else text


def split_words(text: str, base: int) -> list[tuple[str, int]]:
    """Whitespace-separated words (quotes keep spaces together), with their offsets."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        quote = ""
        while i < n and (quote or text[i] not in " \t"):
            c = text[i]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            i += 1
        out.append((text[start:i], base + start))
    return out


def expand_word(text: str, env: dict[str, str | None], escape: str = "\\") -> tuple[str, str | None]:
    """BuildKit's word expansion: quotes removed, ``$VAR``/``${VAR}`` and their modifiers.

    Unknown parts become ``UNKNOWN``; returns the text and a problem (a bad substitution).
    """
    out: list[str] = []
    problem: str | None = None
    i, n = 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if c == TEMPLATED:
            while i < n and text[i] == TEMPLATED:
                i += 1
            out.append(UNKNOWN)
            problem = problem or "is a template expression"
            continue
        if c == escape and quote != "'" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if c in "\"'" and (not quote or quote == c):
            quote = "" if quote else c
            i += 1
            continue
        if c != "$" or quote == "'":
            out.append(c)
            i += 1
            continue
        ref = reference_at(text, i, BUILDKIT)
        i = ref.end
        if ref.literal is not None:
            out.append(ref.literal)
            continue
        if not ref.closed:
            return "".join(out) + UNKNOWN, "has a '${' without '}'"
        if ref.name is None:
            out.append(UNKNOWN)
            problem = problem or f"has a bad substitution '${{{ref.body}}}'"
            continue
        name, mod = ref.name, ref.modifier
        declared = name in env
        value = env.get(name)
        if mod == "":
            out.append(UNKNOWN if value is None else value)
        elif ref.valid:
            colon, op, word = operator_of(mod)
            if declared and value is None:
                out.append(UNKNOWN)  # a build argument may or may not set it
                continue
            is_set = declared and (value != "" if colon else True)
            alt, sub = expand_word(word, env, escape)
            problem = problem or sub
            if op == "-":
                out.append(value if is_set and value is not None else alt)
            else:
                out.append(alt if is_set else "")
        else:
            out.append(UNKNOWN)
    return "".join(out), problem
