"""``docker-bake.hcl``: ``target`` blocks, read with a small HCL subset (literals only).

A target's ``context`` (default ``.``, relative to the bake file), ``dockerfile`` (default
``Dockerfile``, relative to the context), ``tags``, ``target``, ``args`` and ``inherits``
are taken; ``${NAME}`` in a string is a ``variable "NAME" { default = "..." }``. Anything
else (functions, conditionals, nested blocks) is passed over as an unknown value. Tokens,
targets and ``inherits`` chains are bounded; a cycle of ``inherits`` is a note, not a hang.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portpolicy.buildcalls.calls import MAX_ARGS, MAX_TAGS, Call, Found
from portpolicy.buildcalls.expand import TooDeep, expand

MAX_TOKENS = 200_000
"""Tokens of one bake file; a longer file is read up to there."""
MAX_TARGETS = 512
"""Target blocks of one bake file."""
MAX_NESTING = 32
"""Brackets and blocks inside one another that are read; deeper ones are skipped."""
MAX_INHERITS = 16
"""Length of an ``inherits`` chain; longer (or a cycle) leaves the target with a note."""

_TOKEN = re.compile(
    r"""(?P<skip>[ \t\r]+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
    |(?P<nl>\n)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    |(?P<number>[0-9][0-9._]*)
    |(?P<punct>[{}\[\]=,:])
    |(?P<other>.)""",
    re.S | re.X,
)
Value = str | list[str | None] | dict[str, str | None] | None


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


@dataclass
class _Block:
    kind: str
    labels: list[str]
    line: int
    attrs: dict[str, Value]


def bakefile(text: str, folder: str) -> Found:
    """Every target of a bake file that tags an image."""
    found = Found()
    tokens = _tokens(text, found)
    blocks = _Parser(tokens).blocks()
    variables = {
        b.labels[0]: v
        for b in blocks
        if b.kind == "variable" and b.labels and isinstance(v := b.attrs.get("default"), str)
    }
    targets = {b.labels[0]: b for b in blocks if b.kind == "target" and b.labels}
    for number, (name, block) in enumerate(targets.items()):
        if number >= MAX_TARGETS:
            found.notes.append(
                (block.line, f"more than {MAX_TARGETS} bake targets: the rest are passed over")
            )
            break
        attrs = _inherited(name, targets, found)
        if attrs is not None:
            call = _call(attrs, variables, folder, block.line, found)
            if call is not None:
                found.calls.append(call)
    return found


def hcl_blocks(text: str) -> tuple[list[_Block], list[tuple[int, str]]]:
    """Every top-level block of an HCL file (literal attributes; nested blocks dropped), and notes.

    Also read by ``portpolicy.apps.configs`` (Vault's ``listener "tcp" {}``, Consul's ``ports {}``).
    """
    found = Found()
    return _Parser(_tokens(text, found)).blocks(), found.notes


def _tokens(text: str, found: Found) -> list[_Token]:
    out: list[_Token] = []
    line = 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind != "skip":
            out.append(_Token(kind, m.group(0), line))
        line += m.group(0).count("\n")
        if len(out) >= MAX_TOKENS:
            found.notes.append(
                (line, f"more than {MAX_TOKENS} tokens: the rest of the bake file is passed over")
            )
            break
    return out


class _Parser:
    """Blocks of ``kind "label" { name = value ... }``; unknown values are None."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def blocks(self) -> list[_Block]:
        out: list[_Block] = []
        while (tok := self.peek()) is not None:
            if tok.kind != "ident":
                self.pos += 1
                continue
            block = self.block()
            if block is not None:
                out.append(block)
        return out

    def block(self, depth: int = 0) -> _Block | None:
        head = self.tokens[self.pos]
        self.pos += 1
        labels: list[str] = []
        while (tok := self.peek()) is not None and tok.kind in ("string", "ident"):
            labels.append(_unquoted(tok.text) if tok.kind == "string" else tok.text)
            self.pos += 1
        if tok is None or tok.text != "{" or depth > MAX_NESTING:
            self.skip_expression()
            return None
        self.pos += 1
        attrs: dict[str, Value] = {}
        while (tok := self.peek()) is not None and tok.text != "}":
            if tok.kind == "ident" and self.after(1, "="):
                self.pos += 2
                attrs[tok.text] = self.value(depth + 1)
            elif tok.kind == "ident":
                self.block(depth + 1)  # a nested block: read and dropped
            else:
                self.pos += 1
        self.pos += 1
        return _Block(head.text, labels, head.line, attrs)

    def after(self, n: int, text: str) -> bool:
        i = self.pos + n
        return i < len(self.tokens) and self.tokens[i].text == text

    def value(self, depth: int) -> Value:
        tok = self.peek()
        if tok is None or depth > MAX_NESTING:
            self.skip_expression()
            return None
        if tok.kind in ("string", "number") and self.ends_value(1):
            self.pos += 1
            return _unquoted(tok.text)
        if tok.text == "[":
            self.pos += 1
            items: list[str | None] = []
            while (tok := self.peek()) is not None and tok.text != "]":
                if tok.kind in ("nl",) or tok.text == ",":
                    self.pos += 1
                    continue
                before = self.pos
                item = self.value(depth + 1)
                items.append(item if isinstance(item, str) else None)
                self.pos = max(self.pos, before + 1)
            self.pos += 1
            return items
        if tok.text == "{":
            return self.mapping(depth)
        self.skip_expression()
        return None

    def mapping(self, depth: int) -> dict[str, str | None]:
        self.pos += 1
        out: dict[str, str | None] = {}
        while (tok := self.peek()) is not None and tok.text != "}":
            if tok.kind in ("ident", "string") and (self.after(1, "=") or self.after(1, ":")):
                self.pos += 2
                item = self.value(depth + 1)
                key = _unquoted(tok.text) if tok.kind == "string" else tok.text
                out[key] = item if isinstance(item, str) else None
            else:
                self.pos += 1
        self.pos += 1
        return out

    def ends_value(self, n: int) -> bool:
        i = self.pos + n
        return i >= len(self.tokens) or self.tokens[i].kind == "nl" or self.tokens[i].text in (",", "]", "}")

    def skip_expression(self) -> None:
        """Past one value we do not read: to the end of its line at bracket depth 0."""
        depth = 0
        while (tok := self.peek()) is not None:
            if tok.text in "{[(" and tok.kind != "string":
                depth += 1
            elif tok.text in "}])" and tok.kind != "string":
                if depth == 0:
                    return
                depth -= 1
            elif (tok.kind == "nl" or tok.text == ",") and depth == 0:
                return
            self.pos += 1


def _unquoted(text: str) -> str:
    body = text[1:-1] if len(text) >= 2 and text[0] == '"' else text
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _inherited(name: str, targets: dict[str, _Block], found: Found) -> dict[str, Value] | None:
    """A target's attributes over those it inherits (first ``inherits`` entry first)."""
    chain: list[str] = []

    def walk(current: str) -> dict[str, Value] | None:
        if current in chain or len(chain) >= MAX_INHERITS:
            loop = " -> ".join([*chain, current])
            found.notes.append(
                (targets[name].line, f"bake target {name}: inherits cycle or chain too long ({loop})")
            )
            return None
        block = targets.get(current)
        if block is None:
            return {}
        chain.append(current)
        merged: dict[str, Value] = {}
        parents = block.attrs.get("inherits")
        for parent in parents if isinstance(parents, list) else []:
            if parent is None:
                continue
            got = walk(parent)
            if got is None:
                return None
            merged.update(got)
        chain.pop()
        merged.update({k: v for k, v in block.attrs.items() if k != "inherits"})
        return merged

    return walk(name)


def _call(
    attrs: dict[str, Value], variables: dict[str, str], folder: str, line: int, found: Found
) -> Call | None:
    def text(key: str) -> str | None:
        raw = attrs.get(key)
        return expand(raw, variables) if isinstance(raw, str) else None

    try:
        raw_tags = attrs.get("tags")
        tags = (
            [t for raw in raw_tags if raw and (t := expand(raw, variables))]
            if isinstance(raw_tags, list)
            else []
        )
        context = text("context") if "context" in attrs else "."
        dockerfile = text("dockerfile")
        target = text("target")
        raw_args = attrs.get("args")
        args = (
            [(k, expand(v, variables) or "") for k, v in raw_args.items() if v is not None]
            if isinstance(raw_args, dict)
            else []
        )
    except TooDeep as exc:
        found.notes.append((line, f"variable {exc.name} nests too deep: the bake target is passed over"))
        return None
    if not tags or context is None or ("dockerfile" in attrs and dockerfile is None):
        return None
    return Call(
        tuple(tags[:MAX_TAGS]),
        dockerfile,
        context,
        folder,
        line,
        "docker-bake target",
        True,
        target,
        tuple(args[:MAX_ARGS]),
    )
