"""Rendering templates with what is known, and templating Ansible's string values.

``render`` keeps what it cannot know visible: unknown ``{{ }}`` stay in the output as
written, branches and loops whose condition cannot be evaluated are left out and listed,
and each output line remembers its template line. ``template_string`` is stricter: a
half-known string is unknown.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from portpolicy.ansible.jinja.budget import (
    MAX_CALL_DEPTH,
    MAX_ITERATIONS,
    MAX_LENGTH,
    MAX_OUTPUT,
    MAX_STEPS,
    MAX_TEMPLATE_STEPS,
    Budget,
)
from portpolicy.ansible.jinja.evaluator import evaluate, evaluate_node, guarded
from portpolicy.ansible.jinja.operations import output_string
from portpolicy.ansible.jinja.parser import MAX_CACHED, ImportTag, Node, parse, parse_tuple, with_operand
from portpolicy.ansible.jinja.template_syntax import (
    CallBlock,
    ExtendsTag,
    FilterBlock,
    ForBlock,
    IfBlock,
    ImportBlock,
    MacroBlock,
    NamedBlock,
    SetBlock,
    TemplateToken,
    WithBlock,
    build_tree,
    lex_template,
)
from portpolicy.ansible.jinja.values import (
    BudgetExceeded,
    LoopContext,
    Macro,
    Namespace,
    Resolver,
    TemplateModule,
    TemplateSyntaxError,
    Undefined,
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
    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.lines: list[int | None] = [None]

    def write(self, text: str, line: int, verbatim: bool = True) -> None:
        if not text:
            return
        self.size += len(text)
        if self.size > self.limit:
            raise BudgetExceeded(f"rendered output larger than {self.limit} characters")
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


@dataclass(frozen=True)
class _Absent:
    """A name bound to nothing: a macro parameter not given, a name an import does not export."""

    reason: str


class _Scope:
    """Names visible at one point of a template: its frames (innermost last), then ``outer``.

    Frames are shared, not copied: a macro sees its defining frames as they are when it is
    called (Jinja's closures), a block sees the template's top level.
    """

    def __init__(self, outer: Resolver, frames: list[dict[str, Any]]) -> None:
        self.outer = outer
        self.frames = frames

    @property
    def notes(self) -> Any:
        """The outer resolver's notes (``values.note``): a template's notes are its caller's."""
        return getattr(self.outer, "notes", None)

    def __call__(self, name: str) -> Any:
        for frame in reversed(self.frames):
            if name in frame:
                value = frame[name]
                if isinstance(value, _Absent):
                    raise Undefined(value.reason)
                return value
        if name in ("self", "super"):
            raise Unknown(f"{name} is not evaluated statically")
        return self.outer(name)

    @property
    def top(self) -> dict[str, Any]:
        return self.frames[-1]

    def inner(self, frame: dict[str, Any] | None = None) -> _Scope:
        return _Scope(self.outer, [*self.frames, {} if frame is None else frame])

    def template_level(self) -> _Scope:
        """What a ``{% block %}`` sees: the template's top level, not the loop around it."""
        return _Scope(self.outer, [self.frames[0], {}])


def _no_context(name: str) -> Any:
    raise Undefined(f"{name!r} is not visible in a template imported without context")


class _Cycle(Unknown):
    """Templates that import or extend each other in a cycle."""


class _Exhausted(Exception):
    """The render's budget ran out inside an expression: the whole render stops, not just it."""


Loader = Callable[[str], str]
"""A template's text by the name an ``import``/``from``/``extends`` gives; ``Unknown`` when
it cannot be read (``folder_loader`` makes one)."""


def render(
    source: str,
    resolve: Resolver,
    trim_blocks: bool = True,
    budget: Budget | None = None,
    load: Loader | None = None,
) -> Rendered:
    """Render a template with what is known; raises ``TemplateSyntaxError`` if it cannot be read.

    Unknown ``{{ }}`` stay in the output as written (readers treat them as templated
    values), unknown conditions and loops are left out and listed in ``skipped``. The
    render has one budget (``MAX_TEMPLATE_STEPS``): when it runs out, ``BudgetExceeded``.
    ``load`` reads the templates that ``import``, ``from`` and ``extends`` name; without
    it they are unknown.
    """
    tree = guarded(lambda: build_tree(lex_template(source, trim_blocks)), "reading the template")
    spent = budget or Budget(MAX_TEMPLATE_STEPS)
    renderer = _Renderer(resolve, spent, load, trim_blocks)
    return guarded(lambda: renderer.render(tree), "rendering the template")


class _Renderer:
    """One render: its budget, output, what it left out, and the templates it loaded."""

    def __init__(self, resolve: Resolver, budget: Budget, load: Loader | None, trim_blocks: bool) -> None:
        self.budget = budget
        self.load = load
        self.trim_blocks = trim_blocks
        self.root = _Scope(resolve, [{}])
        self.result = Rendered("", [])
        self.main = self.out = _Output()
        self.depth = 0
        """Macro calls, imports and extends nested in each other (``MAX_CALL_DEPTH``)."""
        self.loading: list[str] = []
        self.trees: dict[str, list[Any]] = {}
        self.blocks: dict[str, tuple[NamedBlock, int | None]] = {}
        self.anchor: int | None = None
        """While another template's nodes run (``extends``): the tag's line, for all of them."""

    def render(self, tree: list[Any]) -> Rendered:
        try:
            self.template(tree, self.root)
        except _Exhausted:
            raise BudgetExceeded(f"more than {self.budget.limit} evaluation steps") from None
        last = 1
        filled: list[int] = []
        for ln in self.main.lines:
            last = ln if ln is not None else last
            filled.append(last)
        self.result.text = "".join(self.main.parts)
        self.result.lines = filled
        return self.result

    # ------------------------------------------------------------------ helpers

    def value(self, expr: str | Node, scope: _Scope) -> Any:
        """An expression's value as the template holds it (a tuple stays a tuple)."""
        try:
            if isinstance(expr, str):
                return evaluate(expr, scope, self.budget, final=False)
            return evaluate_node(expr, scope, self.budget)
        except Unknown:
            if self.budget.exhausted:
                raise _Exhausted from None
            raise

    def failed(self, _: Unknown) -> None:
        """Called first where an ``Unknown`` is caught: a spent budget stops the whole render."""
        if self.budget.exhausted:
            raise _Exhausted

    def line(self, line: int) -> int:
        return self.anchor if self.anchor is not None else line

    def skip(self, line: int, end: int, reason: str) -> None:
        self.result.skipped.append((self.line(line), reason))
        self.result.skipped_ranges.append((self.line(line), self.line(end)))

    def run(self, nodes: list[Any], scope: _Scope) -> None:
        for node in nodes:
            self.budget.spend()
            self._HANDLERS[type(node)](self, node, scope)

    def capture(self, body: list[Any], scope: _Scope) -> str:
        """``body`` rendered into a string; ``Unknown`` if any part of it is not known."""
        saved = self.out
        marks = (len(self.result.unresolved), len(self.result.skipped))
        self.out = _Output(MAX_LENGTH)
        try:
            self.run(body, scope)
            text = "".join(self.out.parts)
        finally:
            self.out = saved
        missed = [r for _, _, r in self.result.unresolved[marks[0] :]] + [
            r for _, r in self.result.skipped[marks[1] :]
        ]
        if missed:
            del self.result.unresolved[marks[0] :]
            del self.result.skipped[marks[1] :]
            del self.result.skipped_ranges[marks[1] :]
            raise Unknown(missed[0])
        return text

    def nested(self, what: str) -> None:
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            self.depth -= 1
            raise BudgetExceeded(f"{what} nested deeper than {MAX_CALL_DEPTH} levels")

    # ------------------------------------------------------------------ nodes

    def token(self, node: TemplateToken, scope: _Scope) -> None:
        line = self.line(node.line)
        if node.kind == "text":
            self.out.write(node.text, line, verbatim=self.anchor is None)
            return
        if self.out is self.main:
            self.result.uses.setdefault(len(self.out.lines), []).append(node.text)
        try:
            found = self.value(node.text, scope)
            self.budget.visit(found)
            self.out.write(output_string(found), line, verbatim=False)
        except Unknown as exc:
            self.failed(exc)
            self.out.write("{{ " + node.text + " }}", line, verbatim=False)
            self.result.unresolved.append((line, node.text, exc.reason))

    def if_(self, node: IfBlock, scope: _Scope) -> None:
        for cond, body in node.branches:
            try:
                hit = truth(self.value(cond, scope))
            except Unknown as exc:
                # An undefined name may be defined where we cannot see (extra vars, facts).
                self.failed(exc)
                self.skip(node.line, node.end, f"condition {cond!r} not resolved: {exc.reason}")
                return
            if hit:
                self.run(body, scope)
                return
        if node.orelse is not None:
            self.run(node.orelse, scope)

    def for_(self, node: ForBlock, scope: _Scope) -> None:
        tag = node.tag
        try:
            items = self.value(tag.iterable, scope)
        except Unknown as exc:
            self.failed(exc)
            self.skip(node.line, node.end, f"loop over {node.iterable!r} not resolved: {exc.reason}")
            return
        if isinstance(items, dict):
            items = list(items)
        if not isinstance(items, (list, tuple, str)):
            self.skip(node.line, node.end, f"loop over {node.iterable!r}: not a list")
            return
        if len(items) > MAX_ITERATIONS:
            why = f"exceeds evaluation budget: more than {MAX_ITERATIONS} items"
            self.skip(node.line, node.end, f"loop over {node.iterable!r} not rendered: {why}")
            return
        items = list(items)
        if tag.condition is not None:
            kept = []
            for item in items:
                self.budget.spend()
                frame: dict[str, Any] = {}
                _assign(frame, tag.targets, item)
                try:
                    if truth(self.value(tag.condition, scope.inner(frame))):
                        kept.append(item)
                except Unknown as exc:
                    self.failed(exc)
                    self.skip(node.line, node.end, f"loop filter not resolved: {exc.reason}")
                    return
            items = kept
        if not items:
            if node.orelse:
                self.run(node.orelse, scope)
            return
        for i, item in enumerate(items):
            self.budget.spend()
            frame = {"loop": _loop_context(items, i)}
            _assign(frame, tag.targets, item)
            self.run(node.body, scope.inner(frame))

    def set_(self, node: SetBlock, scope: _Scope) -> None:
        val: Any
        try:
            if node.expr is not None:
                val = self.value(_statement(node.expr), scope)
            else:
                val = self.capture(node.body or [], scope)
                if node.filters is not None:
                    val = self.value(with_operand(node.filters, val), scope)
        except Unknown as exc:
            self.failed(exc)
            val = UnknownValue(exc.reason)
        _assign(scope.top, node.targets, val, scope)

    def macro(self, node: MacroBlock, scope: _Scope) -> None:
        scope.top[node.tag.name] = _TemplateMacro(self, node, scope)

    def call_block(self, node: CallBlock, scope: _Scope) -> None:
        try:
            func = self.value(node.call[1], scope)
            if not isinstance(func, _TemplateMacro):
                raise Unknown("a call block calls something that is not a macro")
            args = [self.value(a, scope) for a in node.call[2]]
            kwargs = {k: self.value(v, scope) for k, v in node.call[3].items()}
            text = func.invoke(args, kwargs, self.budget, _TemplateMacro(self, node.caller, scope))
            self.out.write(text, self.line(node.line), verbatim=False)
        except Unknown as exc:
            self.failed(exc)
            self.skip(node.line, node.end, f"call block not resolved: {exc.reason}")

    def named_block(self, node: NamedBlock, scope: _Scope) -> None:
        block, anchor = self.blocks.get(node.name, (node, self.anchor))
        if block.required and block is node:
            raise Unknown(f"block {node.name!r} is required and not overridden")
        saved, self.anchor = self.anchor, anchor
        try:
            self.run(block.body, scope.inner() if block.scoped else scope.template_level())
        finally:
            self.anchor = saved

    def with_(self, node: WithBlock, scope: _Scope) -> None:
        frame: dict[str, Any] = {}
        for name, expr in node.pairs:
            try:
                frame[name] = self.value(expr, scope)
            except Unknown as exc:
                self.failed(exc)
                frame[name] = UnknownValue(exc.reason)
        self.run(node.body, scope.inner(frame))

    def filter_block(self, node: FilterBlock, scope: _Scope) -> None:
        try:
            text = self.capture(node.body, scope)
            found = self.value(with_operand(node.filters, text), scope)
            self.out.write(output_string(found), self.line(node.line), verbatim=False)
        except Unknown as exc:
            self.failed(exc)
            self.skip(node.line, node.end, f"filter block not resolved: {exc.reason}")

    def extends(self, node: ExtendsTag, _: _Scope) -> None:
        raise Unknown("extends inside another statement is not evaluated statically")

    def import_(self, node: ImportBlock, scope: _Scope) -> None:
        tag = node.tag
        try:
            module = self.module(tag, scope)
        except _Cycle:
            raise  # Jinja recurses until it fails: the whole template is unknown
        except Unknown as exc:
            self.failed(exc)
            absent = UnknownValue(f"import not resolved: {exc.reason}")
            for name in [tag.alias] if tag.alias else [alias for _, alias in tag.names]:
                scope.top[name] = absent
            return
        if tag.alias:
            scope.top[tag.alias] = module
            return
        for name, alias in tag.names:
            scope.top[alias] = (
                module[name] if name in module else _Absent(f"the template does not export {name!r}")
            )

    # ------------------------------------------------------------------ other templates

    def template(self, tree: list[Any], scope: _Scope) -> None:
        """A template's top level; with ``extends``, its parent's, with its blocks."""
        at = next((i for i, node in enumerate(tree) if isinstance(node, ExtendsTag)), None)
        if at is None:
            self.run(tree, scope)
            return
        self.run(tree[:at], scope)
        tag = tree[at]
        name = _literal_name(tag.template, "extends")
        for block in _named_blocks(tree[at + 1 :]):
            self.blocks.setdefault(block.name, (block, self.anchor))
        for node in tree[at + 1 :]:
            if isinstance(node, (SetBlock, MacroBlock, ImportBlock)):
                self.run([node], scope)
            elif not isinstance(node, (TemplateToken, NamedBlock)):
                raise Unknown(f"a {type(node).__name__} after extends is not evaluated statically")
        parent = self.loaded(name)
        saved, self.anchor = self.anchor, self.line(tag.line)
        self.nested("templates extending each other")
        self.loading.append(name)
        try:
            self.template(parent, scope)
        finally:
            self.loading.pop()
            self.depth -= 1
            self.anchor = saved

    def module(self, tag: ImportTag, scope: _Scope) -> TemplateModule:
        """What an import binds: the template's top-level macros and sets (output dropped)."""
        name = _literal_name(tag.template, "import")
        tree = self.loaded(name)
        inner = _Scope(scope if tag.with_context else _no_context, [{}])
        self.nested("imports")
        self.loading.append(name)
        saved, self.out = self.out, _Output(MAX_LENGTH)
        marks = (len(self.result.unresolved), len(self.result.skipped))
        try:
            self.run(tree, inner)
        finally:
            self.out = saved
            self.loading.pop()
            self.depth -= 1
            del self.result.unresolved[marks[0] :]
            del self.result.skipped[marks[1] :]
            del self.result.skipped_ranges[marks[1] :]
        return TemplateModule({k: v for k, v in inner.frames[0].items() if not k.startswith("_")})

    def loaded(self, name: str) -> list[Any]:
        """The tree of the template ``name`` (read once per render); cycles are unknown."""
        if name in self.loading:
            raise _Cycle(f"templates import or extend each other in a cycle ({name!r})")
        tree = self.trees.get(name)
        if tree is None:
            if self.load is None:
                raise Unknown(f"template {name!r} is not read here")
            text = _drop_final_newline(self.load(name))
            self.budget.spend(1 + (len(text) >> 6))
            try:
                tree = build_tree(lex_template(text, self.trim_blocks))
            except TemplateSyntaxError as exc:
                raise Unknown(f"template {name!r} not understood: {exc}") from None
            self.trees[name] = tree
        return tree

    _HANDLERS: ClassVar[dict[type, Callable[[_Renderer, Any, _Scope], None]]] = {
        TemplateToken: token,
        IfBlock: if_,
        ForBlock: for_,
        SetBlock: set_,
        MacroBlock: macro,
        CallBlock: call_block,
        NamedBlock: named_block,
        WithBlock: with_,
        FilterBlock: filter_block,
        ExtendsTag: extends,
        ImportBlock: import_,
    }


class _TemplateMacro(Macro):
    """A ``{% macro %}`` bound to where it was defined; called, it renders its body."""

    def __init__(self, renderer: _Renderer, block: MacroBlock, scope: _Scope) -> None:
        self.renderer = renderer
        self.block = block
        self.scope = scope
        self.name = block.tag.name

    def invoke(
        self, args: list[Any], kwargs: dict[str, Any], budget: Any, caller: Macro | None = None
    ) -> str:
        r = self.renderer
        frame = self.bind(args, kwargs, caller)
        scope = self.scope.inner(frame)
        tag = self.block.tag
        r.nested("macro calls")
        try:
            for name in tag.params:
                if name in tag.defaults and isinstance(frame.get(name), UnknownValue):
                    frame[name] = r.value(tag.defaults[name], scope)
            return r.capture(self.block.body, scope)
        except _Exhausted:
            raise BudgetExceeded(f"more than {r.budget.limit} evaluation steps") from None
        finally:
            r.depth -= 1

    def bind(self, args: list[Any], kwargs: dict[str, Any], caller: Macro | None) -> dict[str, Any]:
        """The macro's frame: its arguments; defaults come next, in order, in ``invoke``."""
        tag = self.block.tag
        if len(args) > len(tag.params):
            raise Unknown(f"macro {self.name!r} called with more arguments than it declares")
        frame: dict[str, Any] = dict(zip(tag.params, args, strict=False))
        for key, given in kwargs.items():
            if key not in tag.params or key in frame:
                raise Unknown(f"macro {self.name!r} called with an argument {key!r} it does not take")
            frame[key] = given
        for name in tag.params:
            if name not in frame:
                frame[name] = (
                    UnknownValue(f"default of {name!r} not evaluated yet")
                    if name in tag.defaults
                    else _Absent(f"parameter {name!r} was not provided")
                )
        frame["varargs"] = ()
        frame["kwargs"] = {}
        if self.block.uses_caller:
            frame["caller"] = (
                caller if caller is not None else _Absent("the macro is called without a caller")
            )
        elif caller is not None:
            raise Unknown(f"macro {self.name!r} is given a caller it does not call")
        return frame


def _loop_context(items: list[Any], i: int) -> LoopContext:
    """Jinja's ``loop`` for item ``i`` (not recursive: ``depth`` 1)."""
    count = len(items)
    loop = LoopContext(
        index=i + 1,
        index0=i,
        first=i == 0,
        last=i == count - 1,
        length=count,
        revindex=count - i,
        revindex0=count - i - 1,
        depth=1,
        depth0=0,
        cycle=UnknownValue("loop.cycle() is not evaluated statically"),
        changed=UnknownValue("loop.changed() is not evaluated statically"),
    )
    if i > 0:
        loop["previtem"] = items[i - 1]
    if i < count - 1:
        loop["nextitem"] = items[i + 1]
    return loop


def _drop_final_newline(text: str) -> str:
    """Jinja drops one final newline of a template it loads (``keep_trailing_newline``)."""
    for end in ("\r\n", "\n", "\r"):
        if text.endswith(end):
            return text[: -len(end)]
    return text


def _literal_name(node: Node, what: str) -> str:
    if node[0] == "const" and isinstance(node[1], str):
        return node[1]
    raise Unknown(f"{what} of a template whose name is not a literal string")


def _named_blocks(nodes: list[Any]) -> Iterator[NamedBlock]:
    """The blocks a child template defines: at its top level and inside its blocks."""
    stack = list(nodes)
    while stack:
        node = stack.pop(0)
        if isinstance(node, NamedBlock):
            yield node
            stack.extend(node.body)


_STATEMENTS: dict[str, Node] = {}


def _statement(src: str) -> Node:
    """A ``{% set %}`` value (a tuple when written with commas), parsed once."""
    node = _STATEMENTS.get(src)
    if node is None:
        try:
            node = parse_tuple(src)
        except TemplateSyntaxError as exc:
            raise Unknown(f"expression not understood: {exc}") from None
        if len(_STATEMENTS) < 10_000 and len(src) <= MAX_CACHED:
            _STATEMENTS[src] = node
    return node


def _assign(frame: dict[str, Any], targets: list[str], value: Any, scope: _Scope | None = None) -> None:
    if len(targets) == 1 and "." in targets[0]:
        # ``{% set ns.attr = x %}``: only a namespace() takes it, as in Jinja
        name, _, attr = targets[0].partition(".")
        target = frame.get(name)
        if target is None and scope is not None:
            try:
                target = scope(name)
            except Unknown:
                target = None
        if not isinstance(target, Namespace) or attr.startswith("_"):
            raise Unknown(f"set {targets[0]}: {name!r} is not a known namespace()")
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
        frame[t] = UnknownValue("cannot unpack the value")


def folder_loader(read: Callable[[str], str | None], files: Collection[str], folders: list[str]) -> Loader:
    """A ``Loader`` for a role's templates: ``name`` in the first of ``folders`` that has it.

    ``read`` is the scan's safe file access (regular files under the scanned roots only);
    ``files`` the scanned files. A name that leaves the folder (``../x``) is not read.
    """

    def load(name: str) -> str:
        if name.startswith("/") or ".." in name.split("/"):
            raise Unknown(f"template {name!r} is outside the role's templates folder")
        for folder in folders:
            path = posixpath.normpath(posixpath.join(folder, name))
            if path in files:
                text = read(path)
                if text is None:
                    raise Unknown(f"template {name!r} cannot be read")
                return text
        raise Unknown(f"template {name!r} not found in the role's templates folder")

    return load


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
