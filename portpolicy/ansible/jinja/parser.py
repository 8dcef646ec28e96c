"""Expressions into trees of tuples (``Node``), with Jinja's operator precedence.

Nesting is bounded (``MAX_NESTING``) and so is the expression's length; parsed trees of
short expressions are cached, because role defaults repeat the same expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible.jinja.budget import MAX_LENGTH, MAX_NESTING
from portpolicy.ansible.jinja.lexer import tokenize
from portpolicy.ansible.jinja.values import TemplateSyntaxError

Node = tuple[Any, ...]
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else"}
_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class ExpressionParser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, src: str) -> None:
        self.tokens = tokenize(src)
        self.pos = 0
        self.depth = 0

    def descend(self) -> None:
        """One level deeper into a nested expression; ``ascend`` when it is parsed."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise TemplateSyntaxError(
                f"expression nested deeper than {MAX_NESTING} levels (exceeds evaluation budget)"
            )

    def ascend(self) -> None:
        self.depth -= 1

    def peek(self, offset: int = 0) -> tuple[str, Any]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> tuple[str, Any]:
        tok = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok[0] == kind and (value is None or tok[1] == value)

    def accept(self, kind: str, value: Any = None) -> bool:
        if self.at(kind, value):
            self.next()
            return True
        return False

    def expect(self, kind: str, value: Any = None) -> tuple[str, Any]:
        if not self.at(kind, value):
            raise TemplateSyntaxError(f"expected {value or kind}, found {self.peek()[1]!r}")
        return self.next()

    def name(self) -> str:
        _, value = self.expect("name")
        return str(value)

    def done(self) -> None:
        if not self.at("end"):
            raise TemplateSyntaxError(f"unexpected {self.peek()[1]!r} after the expression")

    # Precedence, lowest first, as in Jinja's parser.
    def expression(self) -> Node:
        self.descend()
        node = self.or_()
        if self.accept("name", "if"):
            test = self.or_()
            other = self.expression() if self.accept("name", "else") else None
            node = ("cond", test, node, other)
        self.ascend()
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.accept("name", "or"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.accept("name", "and"):
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("name", "not") and self.peek(1) != ("name", "in"):
            self.next()
            self.descend()
            node = ("not", self.not_())
            self.ascend()
            return node
        return self.compare()

    def compare(self) -> Node:
        node = self.math1()
        ops: list[tuple[str, Node]] = []
        while True:
            kind, value = self.peek()
            if kind == "op" and value in _COMPARE:
                self.next()
                ops.append((value, self.math1()))
            elif (kind, value) == ("name", "in"):
                self.next()
                ops.append(("in", self.math1()))
            elif (kind, value) == ("name", "not") and self.peek(1) == ("name", "in"):
                self.next()
                self.next()
                ops.append(("notin", self.math1()))
            else:
                break
        return ("compare", node, ops) if ops else node

    def math1(self) -> Node:
        node = self.concat()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.next()[1]
            node = ("bin", op, node, self.concat())
        return node

    def concat(self) -> Node:
        node = self.math2()
        while self.accept("op", "~"):
            node = ("bin", "~", node, self.math2())
        return node

    def math2(self) -> Node:
        node = self.pow_()
        while any(self.at("op", o) for o in ("*", "/", "//", "%")):
            op = self.next()[1]
            node = ("bin", op, node, self.pow_())
        return node

    def pow_(self) -> Node:
        node = self.unary()
        while self.accept("op", "**"):
            node = ("bin", "**", node, self.unary())
        return node

    def unary(self, with_filters: bool = True) -> Node:
        """As Jinja: ``-3 | abs`` is ``(-3) | abs``; the operand of ``-`` takes no filters."""
        if self.at("op", "-") or self.at("op", "+"):
            sign = self.next()[1]
            self.descend()
            operand = self.unary(with_filters=False)
            self.ascend()
            node = ("neg", operand) if sign == "-" else operand
        else:
            node = self.postfix(self.primary())
        return self.filters(node) if with_filters else node

    def primary(self) -> Node:
        kind, value = self.next()
        if kind == "const":
            # Adjacent string literals concatenate, as in Jinja.
            while isinstance(value, str) and self.peek()[0] == "const" and isinstance(self.peek()[1], str):
                value += self.next()[1]
            return ("const", value)
        if kind == "name":
            if value in _CONSTANTS:
                return ("const", _CONSTANTS[value])
            if value in _KEYWORDS:
                raise TemplateSyntaxError(f"unexpected keyword {value!r}")
            return ("name", value)
        if (kind, value) == ("op", "("):
            if self.accept("op", ")"):
                return ("tuple", [])
            node = self.tuple_(self.expression)
            self.expect("op", ")")
            return node
        if (kind, value) == ("op", "["):
            items = []
            while not self.at("op", "]"):
                items.append(self.expression())
                if not self.accept("op", ","):
                    break
            self.expect("op", "]")
            return ("list", items)
        if (kind, value) == ("op", "{"):
            pairs = []
            while not self.at("op", "}"):
                key = self.expression()
                self.expect("op", ":")
                pairs.append((key, self.expression()))
                if not self.accept("op", ","):
                    break
            self.expect("op", "}")
            return ("dict", pairs)
        raise TemplateSyntaxError(f"unexpected {value!r}")

    def tuple_(self, item: Callable[[], Node]) -> Node:
        """One ``item``, or several separated by commas: a tuple (``1, 2`` and ``(1,)``)."""
        node = item()
        if not self.at("op", ","):
            return node
        items = [node]
        while self.accept("op", ",") and not self.at("op", ")") and not self.at("end"):
            if self.at("name", "if") or self.at("name", "recursive"):
                break
            items.append(item())
        return ("tuple", items)

    def targets(self) -> list[str]:
        """Assignment targets of ``for`` and ``set``: names, comma-separated, maybe in parentheses."""
        parens = self.accept("op", "(")
        names = [self.name()]
        while self.accept("op", ","):
            if parens and self.at("op", ")"):
                break
            names.append(self.name())
        if parens:
            self.expect("op", ")")
        for name in names:
            if name in _KEYWORDS or name in _CONSTANTS:
                raise TemplateSyntaxError(f"cannot assign to {name!r}")
        return names

    def parameters(self) -> tuple[list[str], dict[str, Node]]:
        """A macro's ``(a, b=1)``: parameter names and the defaults' expressions."""
        names: list[str] = []
        defaults: dict[str, Node] = {}
        self.expect("op", "(")
        while not self.at("op", ")"):
            name = self.name()
            if name in names:
                raise TemplateSyntaxError(f"parameter {name!r} given twice")
            names.append(name)
            if self.accept("op", "="):
                defaults[name] = self.expression()
            elif defaults:
                raise TemplateSyntaxError("a parameter without a default after one with a default")
            if not self.accept("op", ","):
                break
        self.expect("op", ")")
        return names, defaults

    def postfix(self, node: Node) -> Node:
        while True:
            if self.accept("op", "."):
                kind, value = self.next()
                if kind == "name" or (kind == "const" and isinstance(value, int)):
                    node = ("attr", node, value)
                else:
                    raise TemplateSyntaxError("expected an attribute name after '.'")
            elif self.accept("op", "["):
                node = self.subscript(node)
            elif self.at("op", "("):
                self.next()
                args, kwargs = self.arguments()
                node = ("call", node, args, kwargs)
            else:
                return node

    def subscript(self, node: Node) -> Node:
        parts: list[Node | None] = [None]
        while not self.at("op", "]"):
            if self.accept("op", ":"):
                parts.append(None)
            else:
                parts[-1] = self.expression()
        self.expect("op", "]")
        if len(parts) == 1:
            if parts[0] is None:
                raise TemplateSyntaxError("empty subscript")
            return ("item", node, parts[0])
        return ("slice", node, *([*parts, None, None])[:3])

    def arguments(self) -> tuple[list[Node], dict[str, Node]]:
        """After ``(``: positional and keyword arguments up to ``)``."""
        args: list[Node] = []
        kwargs: dict[str, Node] = {}
        while not self.at("op", ")"):
            if self.peek()[0] == "name" and self.peek(1) == ("op", "="):
                key = self.name()
                self.next()
                kwargs[key] = self.expression()
            else:
                args.append(self.expression())
            if not self.accept("op", ","):
                break
        self.expect("op", ")")
        return args, kwargs

    def filters(self, node: Node) -> Node:
        while True:
            if self.accept("op", "|"):
                name = self.dotted()
                args, kwargs = self.arguments() if self.accept("op", "(") else ([], {})
                node = ("filter", node, name, args, kwargs)
            elif self.accept("name", "is"):
                negate = self.accept("name", "not")
                name = self.dotted()
                args, kwargs = [], {}
                if self.accept("op", "("):
                    args, kwargs = self.arguments()
                elif self.peek()[0] == "const" or (
                    self.peek()[0] == "name" and self.peek()[1] not in _KEYWORDS
                ):
                    args = [self.postfix(self.primary())]
                node = ("test", node, name, args, negate, kwargs)
            else:
                return node

    def dotted(self) -> str:
        parts = [self.name()]
        while self.at("op", ".") and self.peek(1)[0] == "name":
            self.next()
            parts.append(self.name())
        return ".".join(parts)


_PARSED: dict[str, Node] = {}


MAX_CACHED = 512
"""Longest expression kept in the parse cache (real ones are a few dozen characters), so
that hostile content cannot fill the memory through it."""


def parse_tuple(src: str) -> Node:
    """A ``{% set x = 1, 2 %}`` value: an expression, or a tuple of them."""
    parser = _parser(src)
    node = parser.tuple_(parser.expression)
    parser.done()
    return node


@dataclass(frozen=True)
class ForTag:
    """``for a, b in items if cond recursive``, read as Jinja reads it."""

    targets: list[str]
    iterable: Node
    condition: Node | None
    recursive: bool


def parse_for(src: str) -> ForTag:
    """The loop's targets, its list (no inline ``if``: that starts the filter), its filter."""
    parser = _parser(src)
    targets = parser.targets()
    parser.expect("name", "in")
    iterable = parser.tuple_(parser.or_)
    condition = parser.expression() if parser.accept("name", "if") else None
    recursive = parser.accept("name", "recursive")
    parser.done()
    return ForTag(targets, iterable, condition, recursive)


def parse_set_targets(src: str) -> list[str]:
    parser = _parser(src)
    targets = parser.targets()
    parser.done()
    return targets


@dataclass(frozen=True)
class MacroTag:
    name: str
    params: list[str]
    defaults: dict[str, Node]


def parse_macro(src: str) -> MacroTag:
    """``macro name(a, b=1)``."""
    parser = _parser(src)
    name = parser.name()
    params, defaults = parser.parameters()
    parser.done()
    return MacroTag(name, params, defaults)


def parse_call(src: str) -> tuple[MacroTag, Node]:
    """``call(x) m(1)``: the caller's parameters and the call expression."""
    parser = _parser(src)
    params, defaults = parser.parameters() if parser.at("op", "(") else ([], {})
    node = parser.expression()
    parser.done()
    if node[0] != "call":
        raise TemplateSyntaxError("call block needs a macro call")
    return MacroTag("caller", params, defaults), node


@dataclass(frozen=True)
class ImportTag:
    """``import 'x' as m`` or ``from 'x' import a, b as c``, ``with``/``without context``."""

    template: Node
    alias: str | None
    names: list[tuple[str, str]]
    with_context: bool


def parse_import(src: str, word: str) -> ImportTag:
    parser = _parser(src)
    template = parser.expression()
    alias: str | None = None
    names: list[tuple[str, str]] = []
    if word == "import":
        parser.expect("name", "as")
        alias = parser.name()
    else:
        parser.expect("name", "import")
        while parser.at("name") and parser.peek()[1] not in ("with", "without"):
            name = parser.name()
            names.append((name, parser.name() if parser.accept("name", "as") else name))
            if not parser.accept("op", ","):
                break
    with_context = False
    if parser.at("name", "with") or parser.at("name", "without"):
        with_context = parser.next()[1] == "with"
        parser.expect("name", "context")
    parser.done()
    return ImportTag(template, alias, names, with_context)


def parse_with(src: str) -> list[tuple[str, Node]]:
    """``with a = 1, b = 2``: each name and its expression."""
    parser = _parser(src)
    pairs: list[tuple[str, Node]] = []
    while not parser.at("end"):
        name = parser.name()
        parser.expect("op", "=")
        pairs.append((name, parser.expression()))
        if not parser.accept("op", ","):
            break
    parser.done()
    return pairs


def parse_filter_chain(src: str) -> Node:
    """``upper | trim`` of ``{% filter %}`` and ``{% set x | upper %}``: a filter node whose
    innermost operand is ``("const", None)``, for the caller to replace with the text."""
    parser = _parser(src)
    node = parser.filters(_pipe(parser))
    parser.done()
    return node


def _pipe(parser: ExpressionParser) -> Node:
    name = parser.dotted()
    args, kwargs = parser.arguments() if parser.accept("op", "(") else ([], {})
    return ("filter", ("const", None), name, args, kwargs)


def with_operand(chain: Node, value: Any) -> Node:
    """``chain`` (from ``parse_filter_chain``) applied to ``value``."""
    if chain[0] == "filter" and chain[1] == ("const", None):
        return ("filter", ("const", value), *chain[2:])
    return (chain[0], with_operand(chain[1], value), *chain[2:])


def parse_expression(src: str) -> Node:
    """A tag's one expression (``extends``, ``include``), never cached."""
    parser = _parser(src)
    node = parser.expression()
    parser.done()
    return node


def _parser(src: str) -> ExpressionParser:
    if len(src) > MAX_LENGTH:
        raise TemplateSyntaxError(f"tag longer than {MAX_LENGTH} characters (exceeds evaluation budget)")
    return ExpressionParser(src)


def parse(src: str) -> Node:
    """The AST of one expression (cached: role defaults repeat the same expressions)."""
    node = _PARSED.get(src)
    if node is None:
        if len(src) > MAX_LENGTH:
            raise TemplateSyntaxError(
                f"expression longer than {MAX_LENGTH} characters (exceeds evaluation budget)"
            )
        parser = ExpressionParser(src)
        node = parser.expression()
        parser.done()
        if len(_PARSED) < 50_000 and len(src) <= MAX_CACHED:
            _PARSED[src] = node
    return node
