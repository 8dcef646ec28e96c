"""nft's scanner: one file's text as tokens (words, quoted strings, braces, statement ends).

``#`` comments run to the line's end, a backslash before a newline continues the line, and a
Jinja ``{{ }}``/``{% %}`` span is one ``tmpl`` token, so a template reads like the file it
renders. Every token keeps its location for the facts made from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portpolicy.model import Location, ParseError
from portpolicy.readers.base import Source

_SEP = re.compile(r"[\s{};,\"#]")


@dataclass(frozen=True)
class Tok:
    text: str
    kind: str  # word, string, tmpl, "{", "}", ";", ",", nl
    at: Location


def tokenize(source: Source, text: str) -> tuple[list[Tok], list[ParseError]]:
    tokens: list[Tok] = []
    errors: list[ParseError] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        at = source.at(line, col)
        if c == "\n":
            tokens.append(Tok("\n", "nl", at))
            i, line, col = i + 1, line + 1, 1
            continue
        if c.isspace():  # a blank, whichever: _SEP ends a word at each of them (\f, \v, U+00A0)
            i, col = i + 1, col + 1
            continue
        if c == "\\" and text[i + 1 : i + 2] == "\n":
            i, line, col = i + 2, line + 1, 1
            continue
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            col += end - i
            i = end
            continue
        if c == '"':
            end = text.find('"', i + 1)
            nl = text.find("\n", i + 1)
            if end < 0 or (0 <= nl < end):
                errors.append(ParseError("unterminated string", at))
                end = n if nl < 0 else nl - 1
            tokens.append(Tok(text[i + 1 : end], "string", at))
            col += end + 1 - i
            i = end + 1
            continue
        if text.startswith(("{{", "{%"), i):
            close = "}}" if text[i + 1] == "{" else "%}"
            end = text.find(close, i + 2)
            end = n if end < 0 else end + 2
            chunk = text[i:end]
            tokens.append(Tok(chunk, "tmpl", at))
            line += chunk.count("\n")
            col = (len(chunk) - chunk.rfind("\n")) if "\n" in chunk else col + len(chunk)
            i = end
            continue
        if c in "{};,":
            tokens.append(Tok(c, c, at))
            i, col = i + 1, col + 1
            continue
        m = _SEP.search(text, i)
        end = n if m is None else m.start()
        word = text[i:end]
        tokens.append(Tok(word, "word", at))
        col += end - i
        i = end
    return tokens, errors
