"""Templates into trees: text, ``{{ }}`` output and ``{% if/for/set %}`` blocks.

``lex_template`` splits a template into tokens with Jinja's whitespace control (``-``,
``trim_blocks``) and keeps each token's line; ``build_tree`` nests the blocks. Block
nesting is bounded (``MAX_NESTING``); any other tag is refused with
``TemplateSyntaxError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible.jinja.budget import MAX_NESTING
from portpolicy.ansible.jinja.values import TemplateSyntaxError

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
    targets: list[str]
    iterable: str
    condition: str | None
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


_FOR_TAG = re.compile(r"(.+?)(?<=\S)\s+in\s+(.+?)(?:(?<=\S)\s+if\s+(.+?))?(?:(?<=\S)\s+recursive)?", re.S)
"""``for x in items if cond``. Each ``\\s+`` may only start after a non-space: without
that, every position inside a long run of whitespace rescans the run (quadratic time)."""


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
            word, _, rest = tok.text.partition(" ")
            rest = rest.strip()
            if word in stop:
                return body, tok
            if word == "if":
                branches: list[tuple[str, list[Any]]] = [(rest, [])]
                orelse = None
                while True:
                    inner, end = block({"elif", "else", "endif"}, depth + 1)
                    if end is None:
                        raise TemplateSyntaxError(f"line {tok.line}: if without endif")
                    if orelse is None and branches:
                        branches[-1] = (branches[-1][0], inner)
                    else:
                        orelse = inner
                    ew, _, er = end.text.partition(" ")
                    if ew == "elif":
                        branches.append((er.strip(), []))
                    elif ew == "else":
                        orelse = []
                        inner, end = block({"endif"}, depth + 1)
                        if end is None:
                            raise TemplateSyntaxError(f"line {tok.line}: if without endif")
                        orelse = inner
                        break
                    else:
                        break
                body.append(IfBlock(branches, orelse, tok.line, end.line))
            elif word == "for":
                m = _FOR_TAG.fullmatch(rest)
                if m is None:
                    raise TemplateSyntaxError(f"line {tok.line}: cannot read for loop")
                targets = [t.strip().strip("()") for t in m.group(1).split(",")]
                inner, end = block({"else", "endfor"}, depth + 1)
                if end is None:
                    raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
                orelse = None
                if end.text.split(" ", 1)[0] == "else":
                    orelse, end = block({"endfor"}, depth + 1)
                    if end is None:
                        raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
                body.append(ForBlock(targets, m.group(2), m.group(3), inner, orelse, tok.line, end.line))
            elif word == "set":
                if "=" in rest and re.fullmatch(r"[\w\s,().]+", rest.split("=", 1)[0]):
                    left, _, expr = rest.partition("=")
                    body.append(SetBlock([t.strip() for t in left.split(",")], expr.strip(), None, tok.line))
                else:
                    inner, end = block({"endset"}, depth + 1)
                    if end is None:
                        raise TemplateSyntaxError(f"line {tok.line}: set without endset")
                    body.append(SetBlock([rest.strip()], None, inner, tok.line))
            else:
                raise TemplateSyntaxError(f"line {tok.line}: tag {word!r} is not supported")
        return body, None

    tree, stray = block(set())
    if stray is not None:
        raise TemplateSyntaxError(f"line {stray.line}: unexpected {stray.text.split(' ', 1)[0]}")
    return tree
