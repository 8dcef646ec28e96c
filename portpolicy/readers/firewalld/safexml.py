"""XML parsed safely: expat directly, DOCTYPE and entity declarations refused before parsing,
depth and element count bounded, Jinja markup made XML-safe without moving a character.
"""

from __future__ import annotations

import re
import xml.parsers.expat

from portpolicy.model import (
    Location,
    ParseError,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    Source,
    is_templated,
)
from portpolicy.readers.firewalld.documents import _REFUSED, _Node
from portpolicy.readers.lexing import JINJA_TAGS, replace_templates

MAX_DEPTH = 32


MAX_ELEMENTS = 20_000


_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)\b")


_STATEMENTS = (("{%", "%}"),)


_QUOTED_VALUE = re.compile(r'"([^"<]*)"')


_JINJA_SAFE = str.maketrans({'"': "'", "<": " ", "&": " "})


def _position(text: str, index: int) -> tuple[int, int]:
    """Line and column of ``index``, lines ended as every reader ends them (CRLF, CR, LF)."""
    breaks = list(LINE_BREAK.finditer(text, 0, index))
    return len(breaks) + 1, index - (breaks[-1].end() if breaks else 0) + 1


def _neutralise_jinja(text: str) -> str:
    """Make template markup XML-safe without moving any character (line numbers stay).

    Quotes and ``<``/``&`` inside expressions are replaced; an attribute value holding a
    ``{% %}`` statement becomes a bare ``{{ }}`` (unknown, never a guessed port); other
    statements produce no output, so they become blanks. ``text`` is already masked
    (``Source.masked``); text without Jinja tags is returned as it is.
    """
    if "{{" not in text and "{%" not in text:
        return text
    text = replace_templates(text, lambda span: span.translate(_JINJA_SAFE), JINJA_TAGS, across_lines=True)
    text = _QUOTED_VALUE.sub(_unknown_if_statement, text)
    return replace_templates(text, _blank, _STATEMENTS, across_lines=True)


def _unknown_if_statement(m: re.Match[str]) -> str:
    """An attribute value holding a ``{% %}`` statement, as a bare ``{{ }}`` of its length.

    Every quoted value is looked at once; a regex for quoted values containing ``{%``
    retries every ``{%`` of an unclosed value.
    """
    value = m.group(1)
    return '"{{' + " " * (len(value) - 4) + '}}"' if "{%" in value else m.group(0)


def _blank(span: str) -> str:
    return "".join("\n" if c == "\n" else " " for c in span)


class _Refused(Exception):
    pass


def _parse(source: Source, text: str) -> _Node | ParseError:
    """expat with every declaration refused; bounded depth and element count."""
    parser = xml.parsers.expat.ParserCreate(encoding="utf-8")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[tuple[str, dict[str, str], Location, list[_Node], list[bool]]] = []
    result: list[_Node] = []
    count = [0]

    def refuse(*_: object) -> None:
        raise _Refused("DOCTYPE/ENTITY declarations are refused")

    def refuse_external(*_: object) -> int:
        raise _Refused("external entities are refused")

    def start(name: str, attrs: dict[str, str]) -> None:
        count[0] += 1
        if len(stack) >= MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH} levels")
        if count[0] > MAX_ELEMENTS:
            raise _Refused(f"more than {MAX_ELEMENTS} elements")
        where = source.at(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        stack.append((name, attrs, where, [], [False]))

    def end(name: str) -> None:
        tag, attrs, where, children, templated = stack.pop()
        node = _Node(tag, tuple(attrs.items()), where, tuple(children), templated[0])
        (stack[-1][3] if stack else result).append(node)

    def data(chunk: str) -> None:
        if stack and is_templated(chunk):
            stack[-1][4][0] = True

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        return ParseError(f"malformed XML: {message}; {_REFUSED}", source.at(exc.lineno, exc.offset + 1))
    except _Refused as exc:
        return ParseError(
            f"{exc}; {_REFUSED}", source.at(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        )
    if not result:
        return ParseError("no root element", source.at(1))
    return result[0]
