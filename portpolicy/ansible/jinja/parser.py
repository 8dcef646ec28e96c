"""Expressions into trees of tuples (``Node``), with Jinja's operator precedence.

Nesting is bounded (``MAX_NESTING``) and so is the expression's length; parsed trees of
short expressions are cached, because role defaults repeat the same expressions.
"""

from __future__ import annotations

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

    def unary(self) -> Node:
        if self.at("op", "-") or self.at("op", "+"):
            sign = self.next()[1]
            self.descend()
            operand = self.unary()
            self.ascend()
            return self.filters(("neg", operand) if sign == "-" else operand)
        return self.filters(self.postfix(self.primary()))

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
                return ("list", [])
            node = self.expression()
            if self.at("op", ","):
                items = [node]
                while self.accept("op", ",") and not self.at("op", ")"):
                    items.append(self.expression())
                node = ("list", items)
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
