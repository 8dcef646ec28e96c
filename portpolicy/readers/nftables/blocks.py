"""Tokens nested into brace blocks and split into statements, as nft's grammar groups them.

A ``{ ... }`` becomes a ``Block`` whose statements end at ``;`` or a newline; an unmatched
brace is a ParseError and the rest is still read. Sets' elements are a block's items split at
commas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portpolicy.model import Fact, Location, ParseError
from portpolicy.readers.nftables.lexer import Tok


@dataclass
class Block:
    """A brace block: its statements (split at ``;`` and newlines), each a list of items."""

    at: Location
    lines: list[list[Item]]


Item = Tok | Block


def nest(tokens: Sequence[Tok], errors: list[Fact]) -> list[list[Item]]:
    stack: list[tuple[Location | None, list[list[Item]], list[Item]]] = [(None, [], [])]
    for tok in tokens:
        at, lines, current = stack[-1]
        if tok.kind == "{":
            stack.append((tok.at, [], []))
        elif tok.kind == "}":
            if len(stack) == 1:
                errors.append(ParseError("'}' without a matching '{'", tok.at))
                continue
            if current:
                lines.append(current)
            stack.pop()
            stack[-1][2].append(Block(at or tok.at, lines))
        elif tok.kind in (";", "nl"):
            if current:
                lines.append(current)
                stack[-1] = (at, lines, [])
        else:
            current.append(tok)
    while len(stack) > 1:
        at, lines, current = stack.pop()
        if current:
            lines.append(current)
        errors.append(ParseError("'{' is never closed", at or Location("", 1, 1)))
        stack[-1][2].append(Block(at or Location("", 1, 1), lines))
    at, lines, current = stack[0]
    if current:
        lines.append(current)
    return lines


def item_text(item: Item | None) -> str:
    """A token's text; a block (or nothing) has none."""
    return item.text if isinstance(item, Tok) else ""


def item_at(item: Item) -> Location:
    return item.at


def set_elements(block: Block) -> list[list[Item]]:
    """A set's elements: the block's items split at commas, across lines."""
    out: list[list[Item]] = []
    current: list[Item] = []
    for line in block.lines:
        for item in line:
            if isinstance(item, Tok) and item.kind == ",":
                if current:
                    out.append(current)
                current = []
            else:
                current.append(item)
    if current:
        out.append(current)
    return out
