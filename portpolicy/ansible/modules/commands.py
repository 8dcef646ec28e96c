"""``command:`` and ``shell:`` tasks: the containers their ``docker|podman|nerdctl run`` lines start.

The command is read as the shell reader reads a script line (``readers.containerrun``): a
container with its published ports, network mode, user and capabilities, in the host's
scope of the play. The text is the task's free form (``command: docker run ...``), ``cmd:``
or ``argv:``, resolved in the task's scope; a template that does not resolve is read with its
expressions unknown (``Unresolved``), never guessed. Words point at the task argument's line
(a ``shell: |`` block at the line inside it). Anything else a command does is not known.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

from portpolicy.ansible.context import Ctx, ModuleCall
from portpolicy.ansible.jinja import Unknown, to_string
from portpolicy.model import Location
from portpolicy.readers import containerrun
from portpolicy.yamlnodes import ScalarNode

READER = "shell"
"""The name its facts are filed under: a command line, as a script's."""
_MODULE_OPTIONS = re.compile(
    r"(?:chdir|creates|removes|executable|stdin|stdin_add_newline|strip_empty_ends|warn|expand_argument_vars)=\S*"
)


def command(ctx: Ctx, call: ModuleCall) -> None:
    """The containers one ``command``/``shell`` call starts."""
    a = call.args
    reads = containerrun.Reads(ctx.path)
    argv = a.get("argv")
    if argv is not None:
        value: Any = a.known("argv")
        if isinstance(value, list):
            words = [
                containerrun.Word(to_string(v), argv.location) for v in value[: containerrun.MAX_WORDS + 1]
            ]
            reads.words(words)
    else:
        arg = a.get("cmd", "_raw_params")
        if arg is None or not isinstance(arg.raw, str):
            return
        if containerrun.MENTION.search(arg.raw) is None:
            return
        template = False
        try:
            text = to_string(a.value(arg.name))
        except Unknown:
            text, template = arg.raw, True
        exact = text == arg.raw
        same_lines = text.count("\n") == arg.raw.count("\n")
        for offsets, line in _lines(_MODULE_OPTIONS.sub(_blank, text) if arg.name == "_raw_params" else text):
            reads.line(line, _position(arg.node, arg.location, offsets, exact, same_lines), template)
    ctx.out.facts.extend((READER, fact) for fact in reads.found)


def _blank(m: re.Match[str]) -> str:
    """A module option of the free form (``chdir=/srv``) is no word of the command; columns stay."""
    return " " * len(m.group(0))


def _lines(text: str) -> list[tuple[list[int], str]]:
    """Logical lines (a backslash continuation joined, each physical line at its own offset), each
    with the offsets at which its physical lines start, as indices into ``text``'s lines."""
    out: list[tuple[list[int], str]] = []
    parts: list[str] = []
    starts: list[int] = []
    for k, line in enumerate(text.split("\n")):
        starts.append(k)
        if line.endswith("\\"):
            parts.append(line[:-1] + " ")
            continue
        parts.append(line)
        out.append((_offsets(parts, starts), "".join(parts)))
        parts, starts = [], []
    if parts:
        out.append((_offsets(parts, starts), "".join(parts)))
    return out


def _offsets(parts: list[str], lines: list[int]) -> list[int]:
    """[first line index, then per physical line: its start offset in the joined text]."""
    offsets = [lines[0]]
    at = 0
    for part in parts:
        offsets.append(at)
        at += len(part)
    return offsets


def _position(
    node: Any, where: Location, offsets: list[int], exact: bool, same_lines: bool
) -> containerrun.Position:
    """Where an offset of a logical line of the argument's text is written in the task file (the
    physical line in a literal block; the column too on one plain line no template changed)."""
    first, starts = offsets[0], offsets[1:]
    if not isinstance(node, ScalarNode):
        return lambda _: where
    if node.style == "|" and same_lines:  # a literal block: its text starts after the indicator
        top = node.start_mark.line + 2 + first
        return lambda at: Location(where.path, top + max(0, bisect_right(starts, at) - 1), 1)
    if first or len(starts) > 1 or not exact or node.style not in (None, "", "'", '"'):
        return lambda _: where
    shift = 1 if node.style in ("'", '"') else 0
    return lambda at: Location(where.path, where.line, where.column + shift + at)
