"""Rendering templates with what is known, and templating Ansible's string values.

``render`` keeps what it cannot know visible: unknown ``{{ }}`` stay in the output as
written, branches and loops whose condition cannot be evaluated are left out and listed,
and each output line remembers its template line. ``template_string`` is stricter: a
half-known string is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from portpolicy.ansible.jinja.budget import (
    MAX_ITERATIONS,
    MAX_OUTPUT,
    MAX_STEPS,
    MAX_TEMPLATE_STEPS,
    Budget,
)
from portpolicy.ansible.jinja.evaluator import evaluate, guarded
from portpolicy.ansible.jinja.operations import to_string
from portpolicy.ansible.jinja.parser import parse
from portpolicy.ansible.jinja.template_syntax import (
    ForBlock,
    IfBlock,
    SetBlock,
    TemplateToken,
    build_tree,
    lex_template,
)
from portpolicy.ansible.jinja.values import (
    BudgetExceeded,
    Resolver,
    TemplateSyntaxError,
    Unknown,
    UnknownValue,
    truth,
)


@dataclass
class Rendered:
    """A rendered template, where each output line came from, and what was left out.

    ``lines[i]`` is the template line of output line ``i + 1``. ``skipped`` lists
    (template line, reason) of branches and loops that were not rendered because their
    condition or list could not be resolved: lines that only exist there never reach a
    reader. ``unresolved`` lists (template line, expression, reason) of ``{{ }}`` left
    as written.
    """

    text: str
    lines: list[int]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    unresolved: list[tuple[int, str, str]] = field(default_factory=list)
    skipped_ranges: list[tuple[int, int]] = field(default_factory=list)
    uses: dict[int, list[str]] = field(default_factory=dict)
    """Output line -> the ``{{ }}`` expressions written on it (to find where values came from)."""

    def template_line(self, line: int) -> int:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return self.lines[-1] if self.lines else 1


class _Output:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.lines: list[int | None] = [None]

    def write(self, text: str, line: int, verbatim: bool = True) -> None:
        if not text:
            return
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise Unknown(f"rendered output larger than {MAX_OUTPUT} characters")
        self.parts.append(text)
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                if self.lines[-1] is None:
                    self.lines[-1] = line
                self.lines.append(None)
                if verbatim:
                    line += 1
            if piece.strip() and self.lines[-1] is None:
                self.lines[-1] = line


class _Frames:
    def __init__(self, outer: Resolver) -> None:
        self.outer = outer
        self.frames: list[dict[str, Any]] = [{}]

    def __call__(self, name: str) -> Any:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        return self.outer(name)


class _Exhausted(Exception):
    """The render's budget ran out inside an expression: the whole render stops, not just it."""


def render(
    source: str, resolve: Resolver, trim_blocks: bool = True, budget: Budget | None = None
) -> Rendered:
    """Render a template with what is known; raises ``TemplateSyntaxError`` if it cannot be read.

    Unknown ``{{ }}`` stay in the output as written (readers treat them as templated
    values), unknown conditions and loops are left out and listed in ``skipped``. The
    render has one budget (``MAX_TEMPLATE_STEPS``): when it runs out, ``BudgetExceeded``.
    """
    tree = guarded(lambda: build_tree(lex_template(source, trim_blocks)), "reading the template")
    spent = budget or Budget(MAX_TEMPLATE_STEPS)
    return guarded(lambda: _render(tree, resolve, spent), "rendering the template")


def _render(tree: list[Any], resolve: Resolver, budget: Budget) -> Rendered:
    scope = _Frames(resolve)
    out = _Output()
    result = Rendered("", [])

    def value(expr: str) -> Any:
        try:
            return evaluate(expr, scope, budget)
        except Unknown:
            if budget.exhausted:
                raise _Exhausted from None
            raise

    def output(expr: str) -> str:
        found = value(expr)
        budget.visit(found)
        return to_string(found)

    def run(nodes: list[Any]) -> None:
        for node in nodes:
            budget.spend()
            if isinstance(node, TemplateToken):
                if node.kind == "text":
                    out.write(node.text, node.line)
                else:
                    result.uses.setdefault(len(out.lines), []).append(node.text)
                    try:
                        out.write(output(node.text), node.line, verbatim=False)
                    except Unknown as exc:
                        out.write("{{ " + node.text + " }}", node.line, verbatim=False)
                        result.unresolved.append((node.line, node.text, exc.reason))
            elif isinstance(node, IfBlock):
                run_if(node)
            elif isinstance(node, ForBlock):
                loop_for(node)
            elif isinstance(node, SetBlock):
                if node.expr is not None:
                    try:
                        val: Any = value(node.expr)
                    except Unknown as exc:
                        val = UnknownValue(exc.reason)
                    _assign(scope.frames[-1], node.targets, val, scope)
                else:
                    inner = _Output()
                    saved = out.parts, out.lines, out.size
                    out.parts, out.lines, out.size = inner.parts, inner.lines, saved[2]
                    before = len(result.unresolved) + len(result.skipped)
                    run(node.body or [])
                    text = "".join(out.parts)
                    out.parts, out.lines = saved[0], saved[1]
                    unknown = len(result.unresolved) + len(result.skipped) > before
                    _assign(
                        scope.frames[-1],
                        node.targets,
                        UnknownValue("set block not resolved") if unknown else text,
                    )

    def run_if(node: IfBlock) -> None:
        for cond, body in node.branches:
            try:
                hit = truth(value(cond))
            except Unknown as exc:
                # An undefined name may be defined where we cannot see (extra vars, facts).
                result.skipped.append((node.line, f"condition {cond!r} not resolved: {exc.reason}"))
                result.skipped_ranges.append((node.line, node.end))
                return
            if hit:
                run(body)
                return
        if node.orelse is not None:
            run(node.orelse)

    def loop_for(node: ForBlock) -> None:
        try:
            items = value(node.iterable)
        except Unknown as exc:
            result.skipped.append((node.line, f"loop over {node.iterable!r} not resolved: {exc.reason}"))
            result.skipped_ranges.append((node.line, node.end))
            return
        if isinstance(items, dict):
            items = list(items)
        if not isinstance(items, (list, str)):
            result.skipped.append((node.line, f"loop over {node.iterable!r}: not a list"))
            result.skipped_ranges.append((node.line, node.end))
            return
        if len(items) > MAX_ITERATIONS:
            why = f"exceeds evaluation budget: more than {MAX_ITERATIONS} items"
            result.skipped.append((node.line, f"loop over {node.iterable!r} not rendered: {why}"))
            result.skipped_ranges.append((node.line, node.end))
            return
        items = list(items)
        if node.condition:
            kept = []
            for item in items:
                budget.spend()
                scope.frames.append({})
                _assign(scope.frames[-1], node.targets, item)
                try:
                    if truth(value(node.condition)):
                        kept.append(item)
                except Unknown as exc:
                    scope.frames.pop()
                    result.skipped.append((node.line, f"loop filter not resolved: {exc.reason}"))
                    result.skipped_ranges.append((node.line, node.end))
                    return
                scope.frames.pop()
            items = kept
        if not items:
            if node.orelse:
                run(node.orelse)
            return
        for i, item in enumerate(items):
            budget.spend()
            frame: dict[str, Any] = {
                "loop": {
                    "index": i + 1,
                    "index0": i,
                    "first": i == 0,
                    "last": i == len(items) - 1,
                    "length": len(items),
                    "revindex": len(items) - i,
                    "revindex0": len(items) - i - 1,
                }
            }
            _assign(frame, node.targets, item)
            scope.frames.append(frame)
            try:
                run(node.body)
            finally:
                scope.frames.pop()

    try:
        run(tree)
    except _Exhausted:
        raise BudgetExceeded(f"more than {budget.limit} evaluation steps") from None
    lines = out.lines
    last = 1
    filled: list[int] = []
    for ln in lines:
        last = ln if ln is not None else last
        filled.append(last)
    result.text = "".join(out.parts)
    result.lines = filled
    return result


def _assign(frame: dict[str, Any], targets: list[str], value: Any, scope: _Frames | None = None) -> None:
    if len(targets) == 1 and "." in targets[0]:
        # ``{% set ns.attr = x %}``: a namespace() object, which is a dict here
        name, _, attr = targets[0].partition(".")
        target = frame.get(name)
        if target is None and scope is not None:
            try:
                target = scope(name)
            except Unknown:
                target = None
        if isinstance(target, dict) and not attr.startswith("_"):
            target[attr] = value
        return
    if len(targets) == 1:
        frame[targets[0]] = value
        return
    if isinstance(value, UnknownValue):
        for t in targets:
            frame[t] = value
        return
    if isinstance(value, (list, tuple)) and len(value) == len(targets):
        for t, v in zip(targets, value, strict=True):
            frame[t] = v
        return
    for t in targets:
        frame[t] = UnknownValue("cannot unpack the loop item")


_EXPR_ONLY = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.S)


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def template_string(text: str, resolve: Resolver) -> Any:
    """Template an Ansible string value: one ``{{ expr }}`` keeps its type, else a string.

    Raises ``Unknown`` when any part cannot be resolved (a half-known string is unknown).
    """
    if not has_template(text):
        return text
    m = _EXPR_ONLY.match(text)
    if m is not None and "{{" not in m.group(1) and "}}" not in m.group(1):
        return evaluate(m.group(1).strip(), resolve)
    try:
        rendered = render(text, resolve, trim_blocks=False, budget=Budget(MAX_STEPS))
    except TemplateSyntaxError as exc:
        raise Unknown(f"template not understood: {exc}") from None
    if rendered.unresolved:
        raise Unknown(rendered.unresolved[0][2])
    if rendered.skipped:
        raise Unknown(rendered.skipped[0][1])
    return rendered.text


def iter_names(src: str) -> Iterator[str]:
    """Variable names an expression reads (for explaining an unresolved value)."""
    try:
        node = guarded(lambda: parse(src), "parsing the expression")
    except (TemplateSyntaxError, Unknown):
        return
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple) and n and n[0] == "name":
            yield n[1]
        elif isinstance(n, (tuple, list)):
            stack.extend(x for x in n if isinstance(x, (tuple, list, dict)))
        elif isinstance(n, dict):
            stack.extend(n.values())
