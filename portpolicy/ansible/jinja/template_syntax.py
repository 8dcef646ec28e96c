"""Templates into trees: text, ``{{ }}`` output and ``{% if/for/set %}`` blocks.

``lex_template`` splits a template into tokens with Jinja's whitespace control (``-``,
``trim_blocks``) and keeps each token's line; ``build_tree`` nests the blocks. Tags are
read with the expression parser (``{% for h in ([a] if a is string else a) %}``). Block
nesting is bounded (``MAX_NESTING``); a tag outside the subset (``include``, ``do``) is
refused with ``TemplateSyntaxError``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from portpolicy.ansible.jinja.budget import MAX_NESTING
from portpolicy.ansible.jinja.parser import (
    ForTag,
    ImportTag,
    MacroTag,
    Node,
    parse_call,
    parse_expression,
    parse_filter_chain,
    parse_for,
    parse_import,
    parse_macro,
    parse_set_targets,
    parse_with,
)
from portpolicy.ansible.jinja.values import TemplateSyntaxError

_R = TypeVar("_R")
_TAG = re.compile(r"\{\{|\{%|\{#")
_END = {"{{": "}}", "{%": "%}", "{#": "#}"}


@dataclass
class TemplateToken:
    kind: str  # text, var, block
    text: str
    line: int


def lex_template(source: str, trim_blocks: bool = True) -> list[TemplateToken]:
    """Split a template into text, ``{{ }}`` and ``{% %}`` tokens, with whitespace control."""
    toks: list[TemplateToken] = []
    pos, line = 0, 1
    strip_next = False
    trim_newline = False
    while pos <= len(source):
        m = _TAG.search(source, pos)
        end = m.start() if m else len(source)
        text = source[pos:end]
        if strip_next:
            stripped = text.lstrip()
            line += text[: len(text) - len(stripped)].count("\n")
            text = stripped
        elif trim_newline and text.startswith("\n"):
            text, line = text[1:], line + 1
        elif trim_newline and text.startswith("\r\n"):
            text, line = text[2:], line + 1
        strip_next = trim_newline = False
        if m and source.startswith("-", m.end()):
            kept = text.rstrip()
            tail = text[len(kept) :]
            toks.append(TemplateToken("text", kept, line))
            line += kept.count("\n") + tail.count("\n")
        else:
            toks.append(TemplateToken("text", text, line))
            line += text.count("\n")
        if m is None:
            break
        opener = m.group(0)
        closer = _END[opener]
        close = source.find(closer, m.end())
        if close < 0:
            raise TemplateSyntaxError(f"line {line}: unclosed {opener}")
        inner = source[m.end() : close]
        if inner.startswith("-"):
            inner = inner[1:]
        if inner.endswith("-"):
            inner = inner[:-1]
            strip_next = True
        if inner.startswith("+"):
            inner = inner[1:]
        if inner.endswith("+"):
            inner = inner[:-1]
        tag_line = line
        line += source[m.start() : close].count("\n")
        pos = close + len(closer)
        if opener == "{#":
            trim_newline = trim_blocks and not strip_next
            continue
        if opener == "{%":
            trim_newline = trim_blocks and not strip_next
            word = inner.strip().split(None, 1)[0] if inner.strip() else ""
            if word == "raw":
                raw_end = re.compile(r"\{%-?\s*endraw\s*-?%\}").search(source, pos)
                if raw_end is None:
                    raise TemplateSyntaxError(f"line {tag_line}: unclosed raw block")
                raw = source[pos : raw_end.start()]
                if trim_newline and raw.startswith("\n"):
                    raw, line = raw[1:], line + 1
                toks.append(TemplateToken("text", raw, line))
                line += raw.count("\n") + source[raw_end.start() : raw_end.end()].count("\n")
                pos = raw_end.end()
                continue
            toks.append(TemplateToken("block", inner.strip(), tag_line))
        else:
            toks.append(TemplateToken("var", inner.strip(), tag_line))
    return toks


@dataclass
class IfBlock:
    branches: list[tuple[str, list[Any]]]
    orelse: list[Any] | None
    line: int
    end: int


@dataclass
class ForBlock:
    tag: ForTag
    iterable: str
    """The loop's list as written (for messages)."""
    body: list[Any]
    orelse: list[Any] | None
    line: int
    end: int


@dataclass
class SetBlock:
    targets: list[str]
    expr: str | None
    body: list[Any] | None
    line: int
    filters: Node | None = None
    """``{% set x | upper %}``: the filters applied to the block's text."""


@dataclass
class MacroBlock:
    """``{% macro %}`` (and the body of a ``{% call %}``, whose ``tag.name`` is ``caller``)."""

    tag: MacroTag
    body: list[Any]
    line: int
    uses_caller: bool


@dataclass
class CallBlock:
    caller: MacroBlock
    call: Node
    line: int
    end: int


@dataclass
class NamedBlock:
    """``{% block name [scoped] [required] %}``."""

    name: str
    scoped: bool
    required: bool
    body: list[Any]
    line: int
    end: int


@dataclass
class WithBlock:
    pairs: list[tuple[str, Node]]
    body: list[Any]
    end: int
    line: int


@dataclass
class FilterBlock:
    filters: Node
    body: list[Any]
    end: int
    line: int


@dataclass
class ExtendsTag:
    template: Node
    line: int


@dataclass
class ImportBlock:
    tag: ImportTag
    line: int


_SET_TARGET = re.compile(r"\s*[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)?\s*")
_BLOCK_TAG = re.compile(r"([A-Za-z_]\w*)((?:\s+(?:scoped|required))*)\s*")
_ENDS = {
    "macro": "endmacro",
    "call": "endcall",
    "block": "endblock",
    "with": "endwith",
    "filter": "endfilter",
    "set": "endset",
}


def build_tree(toks: list[TemplateToken]) -> list[Any]:
    pos = 0

    def block(stop: set[str], depth: int = 0) -> tuple[list[Any], TemplateToken | None]:
        nonlocal pos
        if depth > MAX_NESTING:
            line = toks[pos - 1].line if pos else 1
            raise TemplateSyntaxError(
                f"line {line}: blocks nested deeper than {MAX_NESTING} (exceeds evaluation budget)"
            )
        body: list[Any] = []
        while pos < len(toks):
            tok = toks[pos]
            pos += 1
            if tok.kind != "block":
                body.append(tok)
                continue
            word, rest = _split_word(tok.text)
            if word in stop:
                return body, tok
            if word == "if":
                body.append(if_block(tok, rest, depth))
            elif word == "for":
                body.append(for_block(tok, rest, depth))
            elif word == "set":
                body.append(set_block(tok, rest, depth))
            elif word in _STATEMENTS:
                body.append(_STATEMENTS[word](tok, rest, functools.partial(closed, tok=tok, depth=depth)))
            else:
                raise TemplateSyntaxError(f"line {tok.line}: tag {word!r} is not supported")
        return body, None

    def closed(word: str, tok: TemplateToken, depth: int) -> tuple[list[Any], int]:
        inner, end = block({_ENDS[word]}, depth + 1)
        if end is None:
            raise TemplateSyntaxError(f"line {tok.line}: {word} without {_ENDS[word]}")
        return inner, end.line

    def if_block(tok: TemplateToken, rest: str, depth: int) -> IfBlock:
        branches: list[tuple[str, list[Any]]] = [(rest, [])]
        orelse = None
        while True:
            inner, end = block({"elif", "else", "endif"}, depth + 1)
            if end is None:
                raise TemplateSyntaxError(f"line {tok.line}: if without endif")
            branches[-1] = (branches[-1][0], inner)
            ew, er = _split_word(end.text)
            if ew == "elif":
                branches.append((er, []))
            elif ew == "else":
                orelse, end = block({"endif"}, depth + 1)
                if end is None:
                    raise TemplateSyntaxError(f"line {tok.line}: if without endif")
                break
            else:
                break
        return IfBlock(branches, orelse, tok.line, end.line)

    def for_block(tok: TemplateToken, rest: str, depth: int) -> ForBlock:
        try:
            tag = parse_for(rest)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxError(f"line {tok.line}: cannot read for loop ({exc})") from None
        inner, end = block({"else", "endfor"}, depth + 1)
        if end is None:
            raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
        orelse = None
        if _split_word(end.text)[0] == "else":
            orelse, end = block({"endfor"}, depth + 1)
            if end is None:
                raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
        return ForBlock(tag, rest, inner, orelse, tok.line, end.line)

    def set_block(tok: TemplateToken, rest: str, depth: int) -> SetBlock:
        left, eq, expr = rest.partition("=")
        if eq and _SET_TARGET.fullmatch(left):
            return SetBlock([left.replace(" ", "")], expr.strip(), None, tok.line)
        if eq and re.fullmatch(r"[\w\s,()]+", left):
            return SetBlock(_targets(left, tok), expr.strip(), None, tok.line)
        name, pipe, chain = rest.partition("|")
        if not _SET_TARGET.fullmatch(name):
            raise TemplateSyntaxError(f"line {tok.line}: cannot read set")
        filters = _chain(chain, tok) if pipe else None
        return SetBlock([name.replace(" ", "")], None, closed("set", tok, depth)[0], tok.line, filters)

    tree, stray = block(set())
    if stray is not None:
        raise TemplateSyntaxError(f"line {stray.line}: unexpected {_split_word(stray.text)[0]}")
    return tree


def _split_word(text: str) -> tuple[str, str]:
    """A tag's first word and the rest (``if(x)`` and ``for(a, b) in c`` have no space)."""
    m = re.match(r"[A-Za-z_]\w*", text)
    word = m.group(0) if m else text.split(" ", 1)[0]
    return word, text[len(word) :].strip()


def _targets(text: str, tok: TemplateToken) -> list[str]:
    try:
        return parse_set_targets(text)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxError(f"line {tok.line}: {exc}") from None


def _chain(text: str, tok: TemplateToken) -> Node:
    try:
        return parse_filter_chain(text)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxError(f"line {tok.line}: cannot read the filters ({exc})") from None


Closer = Callable[[str], tuple[list[Any], int]]


def _macro(tok: TemplateToken, rest: str, closed: Closer) -> MacroBlock:
    tag = _read(tok, parse_macro, rest)
    body, _ = closed("macro")
    return MacroBlock(tag, body, tok.line, _mentions_caller(body))


def _call(tok: TemplateToken, rest: str, closed: Closer) -> CallBlock:
    tag, call = _read(tok, parse_call, rest)
    body, end = closed("call")
    return CallBlock(MacroBlock(tag, body, tok.line, _mentions_caller(body)), call, tok.line, end)


def _named_block(tok: TemplateToken, rest: str, closed: Closer) -> NamedBlock:
    m = _BLOCK_TAG.fullmatch(rest)
    if m is None:
        raise TemplateSyntaxError(f"line {tok.line}: cannot read block")
    body, end = closed("block")
    return NamedBlock(m.group(1), "scoped" in m.group(2), "required" in m.group(2), body, tok.line, end)


def _with(tok: TemplateToken, rest: str, closed: Closer) -> WithBlock:
    pairs = _read(tok, parse_with, rest)
    return WithBlock(pairs, *closed("with"), tok.line)


def _filter(tok: TemplateToken, rest: str, closed: Closer) -> FilterBlock:
    chain = _chain(rest, tok)
    return FilterBlock(chain, *closed("filter"), tok.line)


def _extends(tok: TemplateToken, rest: str, _: Closer) -> ExtendsTag:
    return ExtendsTag(_read(tok, parse_expression, rest), tok.line)


def _import(tok: TemplateToken, rest: str, _: Closer) -> ImportBlock:
    tag = _read(tok, lambda text: parse_import(text, "import"), rest)
    return ImportBlock(tag, tok.line)


def _from(tok: TemplateToken, rest: str, _: Closer) -> ImportBlock:
    tag = _read(tok, lambda text: parse_import(text, "from"), rest)
    if any(name.startswith("_") for name, _ in tag.names):
        raise TemplateSyntaxError(f"line {tok.line}: names starting with an underscore cannot be imported")
    return ImportBlock(tag, tok.line)


def _read(tok: TemplateToken, parse: Callable[[str], _R], rest: str) -> _R:
    try:
        return parse(rest)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxError(
            f"line {tok.line}: cannot read {tok.text.split(' ', 1)[0]} ({exc})"
        ) from None


def _mentions_caller(body: list[Any]) -> bool:
    """Whether a macro's body may call ``caller()`` (Jinja refuses a caller it does not use)."""
    stack: list[Any] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if re.search(r"\bcaller\b", node):
                return True
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, TemplateToken):
            stack.append(node.text if node.kind != "text" else "")
        elif not isinstance(node, MacroBlock) and hasattr(node, "__dict__"):
            stack.extend(vars(node).values())  # a nested macro's caller is its own
    return False


_STATEMENTS: dict[str, Callable[[TemplateToken, str, Closer], Any]] = {
    "macro": _macro,
    "call": _call,
    "block": _named_block,
    "with": _with,
    "filter": _filter,
    "extends": _extends,
    "import": _import,
    "from": _from,
}
