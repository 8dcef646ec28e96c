"""A small sandboxed Jinja subset: expressions, filters, tests and ``.j2`` templates.

Ansible content hides ports behind ``{{ expressions }}``. Importing Jinja2 (or Ansible) is
not an option in the CLI path, and executing scanned content never is, so this module
evaluates the part of the language that port values use and refuses everything else:
anything it cannot evaluate raises ``Unknown`` (with a reason) and the caller leaves the
value unresolved. It never guesses.

Sandbox: no Python attribute access (only dict items and an allow-list of pure string,
list and dict methods; any name starting with ``_`` is refused), no ``%`` string
formatting beyond ``%s``/``%d``, and regular expressions from scanned content run in
RE2's linear-time engine (``regex.py``).

Budget: scanned content is hostile (a pull request in CI), so every evaluation runs under
a ``Budget``, one per expression (``evaluate``) or per template render (``render``), passed
through the evaluator (scans run concurrently in threads: never a global). Exceeding any
limit raises ``BudgetExceeded``, an ``Unknown`` whose reason starts with "exceeds
evaluation budget", so the value is unresolved and the scan goes on:

* ``MAX_STEPS`` / ``MAX_TEMPLATE_STEPS``: steps per expression / per render. A step is a
  node evaluated, a loop iteration, four items a filter visits or 64 characters produced.
* ``MAX_LENGTH``: characters in a string, items in a list or mapping (checked after every
  operation that produces one, and before those whose result size is known in advance:
  ``replace``, ``join``, ``*``, ``format``, ``center``).
* ``MAX_VALUE_SIZE`` and ``MAX_VALUE_DEPTH``: items and characters in a produced value,
  nested ones included, and its nesting depth.
* ``MAX_INT_BITS``: integers, by bit length (never by converting them to text); ``*`` and
  ``**`` are refused before computing when the result would be larger.
* ``MAX_NESTING``: nesting of an expression or of template blocks.
* ``MAX_ITERATIONS``: items of one template loop; ``MAX_OUTPUT``: a rendered template.

Any other exception that escapes the evaluator on odd input becomes ``Unknown`` at the
public entry points (``evaluate``, ``render``, ``template_string``), with a reason that
names the exception type, so a bug shows up in the report instead of a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from portpolicy.ansible import regex

_T = TypeVar("_T")

MAX_STEPS = 50_000
MAX_TEMPLATE_STEPS = 500_000
MAX_LENGTH = 65_536
MAX_VALUE_SIZE = 1_048_576
MAX_VALUE_DEPTH = 64
MAX_INT_BITS = 1_024
MAX_LITERAL_DIGITS = 400
"""Digits of an integer literal (a 1,024-bit integer has 309)."""
MAX_NESTING = 100
MAX_ITERATIONS = 10_000
MAX_OUTPUT = 2 * 1024 * 1024
MAX_ROUND_DIGITS = 100
"""``round(x, n)`` with a huge ``n`` computes ``10 ** n``."""


class Unknown(Exception):
    """A value that cannot be known statically; ``reason`` says why (shown to users)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Undefined(Unknown):
    """A variable (or item, or attribute) that is not defined: ``default`` may replace it."""


class BudgetExceeded(Unknown):
    """Evaluating would take more steps, memory or nesting than the budget allows."""

    def __init__(self, what: str) -> None:
        super().__init__(f"exceeds evaluation budget: {what}")


class TemplateSyntaxError(Exception):
    """A template or expression this evaluator cannot parse (or a tag it does not support)."""


class _Omit:
    def __repr__(self) -> str:
        return "omit"


OMIT = _Omit()
"""Ansible's ``omit``: the argument is left out, as if it were never written."""


@dataclass(frozen=True)
class UnknownValue:
    """A variable whose value is known to be unknown (a lookup, a vault, a ``set`` of one)."""

    reason: str


Resolver = Callable[[str], Any]
"""Looks a variable up; raises ``Undefined`` or ``Unknown``, may return ``UnknownValue``."""


# --------------------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<num>\d[\d_]*\.\d+(?:[eE][+-]?\d+)?|\d[\d_]*)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>\*\*|//|==|!=|<=|>=|[-+*/%~<>()\[\]{},.|:=?!])""",
    re.X | re.S,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _tokenize(src: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise TemplateSyntaxError(f"unexpected character {src[pos]!r} in expression")
        pos = m.end()
        kind = m.lastgroup or ""
        text = m.group(0)
        if kind == "ws":
            continue
        if kind == "num":
            out.append(("const", _number_literal(text)))
        elif kind == "str":
            body = text[1:-1]
            out.append(
                ("const", re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), "\\" + e.group(1)), body))
            )
        elif kind == "name":
            out.append(("name", text))
        else:
            out.append(("op", text))
    out.append(("end", None))
    return out


def _number_literal(text: str) -> int | float:
    """A number as written; a huge integer literal is refused before ``int()`` reads it."""
    text = text.replace("_", "")
    if "." in text:
        return float(text)
    if len(text) > MAX_LITERAL_DIGITS:
        raise TemplateSyntaxError(
            f"integer literal of {len(text)} digits (exceeds evaluation budget: at most {MAX_LITERAL_DIGITS})"
        )
    return int(text)


# --------------------------------------------------------------------------- parser

Node = tuple[Any, ...]
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else"}
_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, src: str) -> None:
        self.tokens = _tokenize(src)
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
        parser = _Parser(src)
        node = parser.expression()
        parser.done()
        if len(_PARSED) < 50_000 and len(src) <= MAX_CACHED:
            _PARSED[src] = node
    return node


# --------------------------------------------------------------------------- budget


class Budget:
    """What one expression or template render may still spend (see the module docstring).

    ``spend`` per node evaluated, loop iteration and item visited; ``check`` after every
    operation that produces a value. Created per evaluation and passed down, never shared
    between scans.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int = MAX_STEPS) -> None:
        self.limit = limit
        self.left = limit

    @property
    def exhausted(self) -> bool:
        return self.left < 0

    def spend(self, units: int = 1) -> None:
        self.left -= units
        if self.left < 0:
            raise BudgetExceeded(f"more than {self.limit} evaluation steps")

    def check(self, value: _T) -> _T:
        """A value just produced: within the size limits, and paid for by its size."""
        if isinstance(value, int):
            check_int(value)
        elif isinstance(value, str):
            check_length(value)
        self.visit(value)
        return value

    def visit(self, value: Any) -> None:
        """Pay for reading ``value`` whole (a filter's input, an operand, template output).

        Values read from variables can be large (a YAML list); reading one in every
        iteration of a loop must add up, not be free.
        """
        if type(value) in _SCALARS:
            return
        if isinstance(value, str):
            if len(value) >= 64:
                self.spend(len(value) >> 6)
        elif isinstance(value, (list, dict)):
            items, chars = measure(value)
            self.spend((items >> 2) + (chars >> 6))


_SCALARS = frozenset({int, float, bool, type(None)})


def check_int(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer larger than {MAX_INT_BITS} bits")
    return value


def check_length(value: _T) -> _T:
    if isinstance(value, (str, list, dict)) and len(value) > MAX_LENGTH:
        what = "string" if isinstance(value, str) else _kind(value)
        raise BudgetExceeded(f"a {what} longer than {MAX_LENGTH}")
    return value


def measure(value: Any) -> tuple[int, int]:
    """(items, characters) in ``value``, nested ones included; ``BudgetExceeded`` past the limits.

    Iterative and cut off at the limit, so a structure that shares one list many times (or
    contains itself, through a namespace) costs no more than the limit to measure.
    """
    items = chars = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            chars += len(node)
        elif isinstance(node, (list, dict)):
            if depth >= MAX_VALUE_DEPTH:
                raise BudgetExceeded(f"a value nested deeper than {MAX_VALUE_DEPTH} levels")
            check_length(node)
            items += len(node)
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (str, list, dict)))
        if items + chars > MAX_VALUE_SIZE:
            raise BudgetExceeded(f"a value of more than {MAX_VALUE_SIZE} items and characters")
    return items, chars


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Method:
    """A bound, allow-listed method of a plain value (``x.split(':')``)."""

    target: Any
    name: str


_STR_METHODS = frozenset(
    {
        "split",
        "rsplit",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "replace",
        "startswith",
        "endswith",
        "isdigit",
        "join",
        "splitlines",
        "title",
        "capitalize",
        "count",
        "find",
        "partition",
        "rpartition",
    }
)
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})
_LIST_METHODS = frozenset({"index", "count"})
_UNSUPPORTED_FUNCTIONS = {
    "lookup": "a lookup() is only known when the playbook runs",
    "query": "a query() is only known when the playbook runs",
    "q": "a query() is only known when the playbook runs",
    "now": "now() is only known when the playbook runs",
}
_PRODUCING = frozenset({"list", "dict", "neg", "bin", "filter", "call", "slice"})
"""Node kinds that build a new value (checked against the budget); the others pass one on."""
_FILTER_FAILURES = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
)


class Evaluator:
    """Evaluates parsed expressions against a resolver, within one budget."""

    def __init__(self, resolve: Resolver, budget: Budget | None = None) -> None:
        self.resolve = resolve
        self.budget = budget or Budget()
        self.depth = 0

    def eval(self, node: Node) -> Any:
        """One node: a step of the budget, one level of nesting (``depth`` is restored by
        whoever catches an exception inside the evaluation: ``default``, ``defined``)."""
        budget = self.budget
        budget.left -= 1
        if budget.left < 0:
            budget.spend(0)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise BudgetExceeded(f"expression nested deeper than {MAX_NESTING} levels")
        kind = node[0]
        value = self._KINDS[kind](self, node)
        if kind in _PRODUCING:
            budget.check(value)
        self.depth -= 1
        return value

    def const(self, node: Node) -> Any:
        return node[1]

    def name(self, node: Node) -> Any:
        name = node[1]
        if name == "omit":
            return OMIT
        value = self.resolve(name)
        if isinstance(value, UnknownValue):
            raise Unknown(value.reason)
        return value

    def attr(self, node: Node) -> Any:
        return _known(_attribute(self.eval(node[1]), node[2]))

    def item(self, node: Node) -> Any:
        return _known(_item(self.eval(node[1]), self.eval(node[2])))

    def list_(self, node: Node) -> list[Any]:
        return [self.eval(n) for n in node[1]]

    def dict_(self, node: Node) -> dict[Any, Any]:
        return {_hashable(self.eval(k)): self.eval(v) for k, v in node[1]}

    def neg(self, node: Node) -> Any:
        value = self.eval(node[1])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unknown(f"cannot negate {_kind(value)}")
        return -value

    def not_(self, node: Node) -> bool:
        return not _truth(self.eval(node[1]))

    def and_(self, node: Node) -> Any:
        left = self.eval(node[1])
        return self.eval(node[2]) if _truth(left) else left

    def or_(self, node: Node) -> Any:
        left = self.eval(node[1])
        return left if _truth(left) else self.eval(node[2])

    def cond(self, node: Node) -> Any:
        if _truth(self.eval(node[1])):
            return self.eval(node[2])
        if node[3] is None:
            raise Undefined("inline if without else, and the condition is false")
        return self.eval(node[3])

    def binary(self, node: Node) -> Any:
        left, right = self.eval(node[2]), self.eval(node[3])
        self.budget.visit(left)
        self.budget.visit(right)
        return _binary(node[1], left, right)

    def slice(self, node: Node) -> Any:
        value = self.eval(node[1])
        bounds = [None if n is None else self.eval(n) for n in node[2:5]]
        if not isinstance(value, (str, list)) or not all(b is None or _is_int(b) for b in bounds):
            raise Unknown("unsupported slice")
        if bounds[2] == 0:
            raise Unknown("slice step 0")
        return value[slice(*bounds)]

    def compare(self, node: Node) -> bool:
        left = self.eval(node[1])
        self.budget.visit(left)
        for op, right_node in node[2]:
            right = self.eval(right_node)
            self.budget.visit(right)
            if not _compare(op, left, right):
                return False
            left = right
        return True

    def call(self, node: Node) -> Any:
        target = node[1]
        if target[0] == "name" and target[1] in _UNSUPPORTED_FUNCTIONS:
            raise Unknown(_UNSUPPORTED_FUNCTIONS[target[1]])
        args = [self.eval(a) for a in node[2]]
        kwargs = {k: self.eval(v) for k, v in node[3].items()}
        if target[0] == "name" and target[1] == "range":
            return _range(*args)
        if target[0] == "name" and target[1] in ("dict", "namespace"):
            return dict(kwargs)
        func = self.eval(target)
        if isinstance(func, _Method):
            self.budget.visit(func.target)
            return _call_method(func, args, kwargs)
        raise Unknown("calling this is not supported statically")

    def filter(self, node: Node) -> Any:
        _, arg, name, arg_nodes, kwarg_nodes = node
        name = _short(name)
        if name in ("default", "d"):
            return self.default(arg, arg_nodes, kwarg_nodes)
        if name == "mandatory":
            return self.eval(arg)
        value = self.eval(arg)
        args = [self.eval(a) for a in arg_nodes]
        kwargs = {k: self.eval(v) for k, v in kwarg_nodes.items()}
        func = FILTERS.get(name)
        if func is None:
            raise Unknown(f"filter {name!r} is not evaluated statically")
        self.visit_all(value, args, kwargs)
        try:
            return func(self, value, *args, **kwargs)
        except _FILTER_FAILURES as exc:
            raise Unknown(f"filter {name!r} failed ({type(exc).__name__})") from None
        except regex.RegexRefused as exc:
            raise Unknown(f"filter {name!r}: {exc.reason}") from None

    def visit_all(self, value: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Pay for the input and arguments of a filter or test (scalars are free)."""
        visit = self.budget.visit
        if type(value) not in _SCALARS:
            visit(value)
        for given in args:
            if type(given) not in _SCALARS:
                visit(given)
        for given in kwargs.values():
            visit(given)

    def default(self, arg: Node, arg_nodes: list[Node], kwarg_nodes: dict[str, Node]) -> Any:
        depth = self.depth
        try:
            value = self.eval(arg)
        except Undefined:
            self.depth = depth
            value = _UNDEF
        boolean = (
            bool(self.eval(arg_nodes[1]))
            if len(arg_nodes) > 1
            else bool(kwarg_nodes and self.eval(kwarg_nodes.get("boolean", ("const", False))))
        )
        if value is _UNDEF or (boolean and not _truth(value)):
            return self.eval(arg_nodes[0]) if arg_nodes else ""
        return value

    def test(self, node: Node) -> bool:
        _, arg, name, arg_nodes, negate, kwarg_nodes = node
        name = _short(name)
        if name in ("defined", "undefined"):
            depth = self.depth
            try:
                self.eval(arg)
                defined = True
            except Undefined:
                defined = False
            except Unknown:
                if arg[0] != "name":
                    raise
                defined = True  # defined, with a value that is not known
            self.depth = depth
            return bool((defined == (name == "defined")) != negate)
        value = self.eval(arg)
        args = [self.eval(a) for a in arg_nodes]
        kwargs = {k: self.eval(v) for k, v in kwarg_nodes.items()}
        func = TESTS.get(name)
        if func is None:
            raise Unknown(f"test {name!r} is not evaluated statically")
        self.visit_all(value, args, kwargs)
        try:
            return bool(func(value, *args, **kwargs)) != bool(negate)
        except _FILTER_FAILURES as exc:
            raise Unknown(f"test {name!r} failed ({type(exc).__name__})") from None
        except regex.RegexRefused as exc:
            raise Unknown(f"test {name!r}: {exc.reason}") from None

    _KINDS: ClassVar[dict[str, Callable[[Evaluator, Node], Any]]] = {
        "const": const,
        "name": name,
        "attr": attr,
        "item": item,
        "slice": slice,
        "list": list_,
        "dict": dict_,
        "neg": neg,
        "not": not_,
        "and": and_,
        "or": or_,
        "cond": cond,
        "compare": compare,
        "bin": binary,
        "filter": filter,
        "test": test,
        "call": call,
    }


_UNDEF = object()


def _short(name: str) -> str:
    """``ansible.builtin.int`` and ``int`` name the same filter."""
    return name.rsplit(".", 1)[-1]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return type(value).__name__


def _truth(value: Any) -> bool:
    if value is OMIT:
        return True
    return bool(value)


def _known(value: Any) -> Any:
    """A value read out of a container: ``{% set ns.x = ... %}`` may have stored an unknown one."""
    if isinstance(value, UnknownValue):
        raise Unknown(value.reason)
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise Unknown("a list or mapping cannot be a mapping key")
    try:
        hash(value)
    except TypeError:
        raise Unknown(f"a {_kind(value)} cannot be a mapping key") from None
    return value


def _attribute(value: Any, name: Any) -> Any:
    if isinstance(name, str) and name.startswith("_"):
        raise Unknown(f"sandbox: attribute {name!r} is not accessible")
    if isinstance(value, dict):
        if _hashable(name) in value:
            return value[name]
        if isinstance(name, str) and name in _DICT_METHODS:
            return _Method(value, name)
        raise Undefined(f"no attribute {name!r}")
    if isinstance(value, list) and _is_int(name):
        return _item(value, name)
    if isinstance(value, str) and name in _STR_METHODS:
        return _Method(value, name)
    if isinstance(value, list) and name in _LIST_METHODS:
        return _Method(value, name)
    raise Undefined(f"{_kind(value)} has no attribute {name!r}")


def _item(value: Any, key: Any) -> Any:
    if isinstance(key, str) and key.startswith("_"):
        raise Unknown(f"sandbox: item {key!r} is not accessible")
    if isinstance(value, dict):
        if _hashable(key) in value:
            return value[key]
        raise Undefined(f"no key {key!r}")
    if isinstance(value, (list, str)) and _is_int(key):
        if -len(value) <= key < len(value):
            return value[key]
        raise Undefined(f"index {key} out of range")
    if isinstance(value, (list, str)) and isinstance(key, str):
        return _attribute(value, key)
    raise Undefined(f"{_kind(value)} has no item {key!r}")


def _call_method(method: _Method, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if kwargs:
        raise Unknown("keyword arguments to methods are not supported")
    target, name = method.target, method.name
    if name == "join":
        if len(args) != 1 or not isinstance(args[0], list) or not all(isinstance(a, str) for a in args[0]):
            raise Unknown("join() needs a list of strings")
        return _join(target, args[0])
    if any(not isinstance(a, (str, int)) or isinstance(a, bool) for a in args):
        raise Unknown(f"unsupported arguments to {name}()")
    if name == "replace" and isinstance(target, str):
        return _replace(target, *args)
    try:
        result: Any = getattr(target, name)(*args)
    except (TypeError, ValueError, OverflowError) as exc:
        raise Unknown(f"{name}() failed ({type(exc).__name__})") from None
    if isinstance(result, (tuple, type({}.keys()), type({}.values()), type({}.items()))):
        raw: list[Any] = list(result)
        result = [list(x) if isinstance(x, tuple) else x for x in raw]
    return result


def _replace(text: str, old: Any, new: Any, count: Any = -1) -> str:
    """``str.replace`` whose result size is known, and refused, before it is built."""
    if not isinstance(old, str) or not isinstance(new, str) or not _is_int(count):
        raise Unknown("replace() needs two strings and a count")
    found = text.count(old) if old else len(text) + 1
    if 0 <= count < found:
        found = count
    if len(text) + found * (len(new) - len(old)) > MAX_LENGTH:
        raise BudgetExceeded(f"replace() would build a string longer than {MAX_LENGTH}")
    return text.replace(old, new, found)


def _join(sep: str, parts: Iterable[str]) -> str:
    """``sep.join(parts)``, refused as soon as the parts add up to too long a string."""
    pieces: list[str] = []
    size = 0
    for part in parts:
        size += len(part) + (len(sep) if pieces else 0)
        if size > MAX_LENGTH:
            raise BudgetExceeded(f"join would build a string longer than {MAX_LENGTH}")
        pieces.append(part)
    return sep.join(pieces)


def _range(*args: Any) -> list[int]:
    if not args or len(args) > 3 or not all(_is_int(a) for a in args):
        raise Unknown("range() needs 1 to 3 integers")
    if len(args) == 3 and args[2] == 0:
        raise Unknown("range() step 0")
    r = range(*args)
    try:
        size = len(r)
    except OverflowError:
        size = MAX_LENGTH + 1
    if size > MAX_LENGTH:
        raise BudgetExceeded(f"range() of more than {MAX_LENGTH} items")
    return list(r)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binary(op: str, a: Any, b: Any) -> Any:
    if op == "~":
        left, right = to_string(a), to_string(b)
        if len(left) + len(right) > MAX_LENGTH:
            raise BudgetExceeded(f"a string longer than {MAX_LENGTH}")
        return left + right
    if op == "+":
        if (_number(a) and _number(b)) or (type(a) is type(b) and isinstance(a, (str, list))):
            return a + b
        raise Unknown(f"cannot add {_kind(a)} and {_kind(b)}")
    if op == "*":
        return _multiply(a, b)
    if not (_number(a) and _number(b)):
        if op == "%" and isinstance(a, str):
            raise Unknown("%-formatting is not evaluated statically")
        raise Unknown(f"cannot apply {op} to {_kind(a)} and {_kind(b)}")
    try:
        if op == "-":
            return a - b
        if op == "/":
            return a / b
        if op == "//":
            return a // b
        if op == "%":
            return a % b
        if op == "**":
            return _power(a, b)
    except (ZeroDivisionError, OverflowError) as exc:
        raise Unknown(f"{op}: {type(exc).__name__}") from None
    raise Unknown(f"unsupported operator {op}")  # pragma: no cover


def _multiply(a: Any, b: Any) -> Any:
    if _number(a) and _number(b):
        if _is_int(a) and _is_int(b) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            raise BudgetExceeded(f"a product larger than {MAX_INT_BITS} bits")
        return a * b
    seq, count = (a, b) if isinstance(a, (str, list)) else (b, a)
    if isinstance(seq, (str, list)) and _is_int(count):
        if len(seq) * max(count, 0) > MAX_LENGTH:
            raise BudgetExceeded(f"repetition longer than {MAX_LENGTH}")
        return seq * count
    raise Unknown(f"cannot multiply {_kind(a)} and {_kind(b)}")


def _power(a: Any, b: Any) -> Any:
    """``a ** b``, refused before computing when the integer result would be too large."""
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1 and (a.bit_length() - 1) * b > MAX_INT_BITS:
        raise BudgetExceeded(f"exponent too large: the result would exceed {MAX_INT_BITS} bits")
    if isinstance(b, float) and isinstance(a, int) and a.bit_length() > 64:
        raise BudgetExceeded("exponent of a huge integer")
    return a**b


def _compare(op: str, a: Any, b: Any) -> bool:
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "in":
            return _contains(b, a)
        if op == "notin":
            return not _contains(b, a)
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        raise Unknown(f"cannot compare {_kind(a)} and {_kind(b)} with {op}") from None
    raise Unknown(f"unsupported comparison {op}")  # pragma: no cover


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise Unknown("'in' a string needs a string")
        return item in container
    if isinstance(container, dict):
        return _hashable(item) in container
    if isinstance(container, list):
        return item in container
    raise Unknown(f"'in' needs a string, list or mapping, not {_kind(container)}")


def to_string(value: Any) -> str:
    """Jinja's rendering of a value into template output (a bounded one)."""
    if isinstance(value, str):
        return value
    if value is OMIT:
        raise Unknown("omit used inside a string")
    if isinstance(value, _Method):
        raise Unknown("a method that is not called")
    if isinstance(value, UnknownValue):
        raise Unknown(value.reason)
    if isinstance(value, int):
        check_int(value)
    elif isinstance(value, (list, dict)):
        measure(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return check_length(str(value))


# --------------------------------------------------------------------------- filters and tests


def _f_int(_: Evaluator, value: Any, default: Any = 0, base: int = 10) -> Any:
    if _is_int(value):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 100:
            return default
        try:
            return int(text, base) if base != 10 else int(text)
        except ValueError:
            try:
                return int(float(text))
            except (ValueError, OverflowError):
                return default
    return default


def _f_float(_: Evaluator, value: Any, default: Any = 0.0) -> Any:
    try:
        return float(value) if not isinstance(value, (list, dict)) else default
    except (TypeError, ValueError):
        return default


def _f_bool(_: Evaluator, value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    return value is True or (_number(value) and value == 1)


def _f_join(ev: Evaluator, value: Any, sep: Any = "", attribute: Any = None) -> str:
    if not isinstance(value, list):
        raise Unknown("join needs a list")
    if attribute is not None:
        value = [_attribute(v, attribute) for v in value]
    return _join(to_string(sep), (to_string(v) for v in value))


def _f_ternary(_: Evaluator, value: Any, yes: Any = True, no: Any = False, none: Any = _UNDEF) -> Any:
    if value is None and none is not _UNDEF:
        return none
    return yes if _truth(value) else no


def _f_split(_: Evaluator, value: Any, sep: Any = None, maxsplit: int = -1) -> list[str]:
    if not isinstance(value, str):
        raise Unknown("split needs a string")
    return value.split(sep, maxsplit)


def _f_replace(_: Evaluator, value: Any, old: Any, new: Any, count: Any = -1) -> str:
    return _replace(to_string(value), old, new, count)


def _f_length(_: Evaluator, value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise Unknown(f"length of {_kind(value)}")


def _f_list(_: Evaluator, value: Any) -> list[Any]:
    if isinstance(value, (list, str)):
        return list(value)
    if isinstance(value, dict):
        return list(value)
    raise Unknown(f"list of {_kind(value)}")


def _f_first(_: Evaluator, value: Any) -> Any:
    if isinstance(value, (list, str)) and value:
        return value[0]
    raise Undefined("first of an empty sequence")


def _f_last(_: Evaluator, value: Any) -> Any:
    if isinstance(value, (list, str)) and value:
        return value[-1]
    raise Undefined("last of an empty sequence")


def _f_flatten(ev: Evaluator, value: Any, levels: Any = None) -> list[Any]:
    if not isinstance(value, list):
        raise Unknown("flatten needs a list")
    if levels is not None and not _is_int(levels):
        raise Unknown("flatten levels must be an integer")
    out: list[Any] = []
    stack: list[tuple[Iterator[Any], int]] = [(iter(value), 0)]
    while stack:
        items, depth = stack[-1]
        item = next(items, _UNDEF)
        if item is _UNDEF:
            stack.pop()
            continue
        ev.budget.spend()
        if isinstance(item, list) and (levels is None or depth < levels):
            if len(stack) > MAX_VALUE_DEPTH:
                raise BudgetExceeded(f"flatten of a list nested deeper than {MAX_VALUE_DEPTH} levels")
            stack.append((iter(item), depth + 1))
        elif item is not None:
            out.append(item)
            check_length(out)
    return out


def _frozen(value: Any) -> Any:
    """A hashable stand-in that is equal exactly when the values are (for ``unique``)."""
    if isinstance(value, list):
        return ("list", tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((_frozen(k), _frozen(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return value


def _f_unique(ev: Evaluator, value: Any) -> list[Any]:
    """Items in order, each once: linear (by hashing), not a scan of the output per item."""
    if not isinstance(value, list):
        raise Unknown("unique needs a list")
    seen: set[Any] = set()
    out: list[Any] = []
    for item in value:
        ev.budget.spend()
        key = _frozen(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _f_map(ev: Evaluator, value: Any, *args: Any, **kwargs: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Unknown("map needs a list")
    if "attribute" in kwargs:
        attr = kwargs["attribute"]
        out = []
        for v in value:
            ev.budget.spend()
            try:
                out.append(_attribute(v, attr) if not _is_int(attr) else _item(v, attr))
            except Undefined:
                if "default" not in kwargs:
                    raise
                out.append(kwargs["default"])
        return out
    if not args:
        raise Unknown("map needs a filter name or attribute=")
    func = FILTERS.get(_short(str(args[0])))
    if func is None:
        raise Unknown(f"map with filter {args[0]!r} is not evaluated statically")
    mapped: list[Any] = []
    size = 0
    for v in value:
        ev.budget.spend()
        result = ev.budget.check(func(ev, v, *args[1:]))
        size += _size(result)
        if size > MAX_VALUE_SIZE:
            raise BudgetExceeded(f"map would build more than {MAX_VALUE_SIZE} items and characters")
        mapped.append(result)
    return mapped


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value) + 1
    if isinstance(value, (list, dict)):
        return sum(measure(value)) + 1
    return 1


def _select(ev: Evaluator, value: Any, keep: bool, attr: Any, test: Any = "truthy", *args: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Unknown("select needs a list")
    func = TESTS.get(_short(str(test)))
    if func is None:
        raise Unknown(f"select with test {test!r} is not evaluated statically")
    out = []
    for v in value:
        ev.budget.spend()
        subject = v
        if attr is not None:
            try:
                subject = _attribute(v, attr)
            except Undefined:
                subject = _UNDEF
        if test == "undefined":
            ok = subject is _UNDEF
        elif test == "defined":
            ok = subject is not _UNDEF
        else:
            ok = subject is not _UNDEF and bool(func(subject, *args))
        if ok == keep:
            out.append(v)
    return out


def _f_dict2items(ev: Evaluator, value: Any, key_name: str = "key", value_name: str = "value") -> list[Any]:
    if not isinstance(value, dict):
        raise Unknown("dict2items needs a mapping")
    ev.budget.spend(len(value))
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _f_items2dict(
    _: Evaluator, value: Any, key_name: str = "key", value_name: str = "value"
) -> dict[Any, Any]:
    if not isinstance(value, list):
        raise Unknown("items2dict needs a list")
    return {_hashable(item[key_name]): item[value_name] for item in value}


def _f_combine(ev: Evaluator, value: Any, *others: Any, recursive: bool = False, **__: Any) -> dict[Any, Any]:
    result = dict(value) if isinstance(value, dict) else None
    if result is None:
        raise Unknown("combine needs mappings")
    for other in others:
        for item in other if isinstance(other, list) else [other]:
            if not isinstance(item, dict):
                raise Unknown("combine needs mappings")
            ev.budget.visit(item)
            for k, v in item.items():
                if recursive and isinstance(result.get(k), dict) and isinstance(v, dict):
                    result[k] = _f_combine(ev, result[k], v, recursive=True)
                else:
                    result[k] = v
    return result


_FORMAT_SPEC = re.compile(r"%(?:%|[sdi])")


def _f_format(_: Evaluator, value: Any, *args: Any) -> str:
    """``'%s:%d' | format(a, b)``: only ``%s``, ``%d``/``%i`` and ``%%`` (no widths)."""
    if not isinstance(value, str) or _FORMAT_SPEC.sub("", value).count("%"):
        raise Unknown("format with specifiers other than %s/%d")
    values = tuple(check_int(a) if _is_int(a) else a for a in args)
    texts = [to_string(a) for a in values if not isinstance(a, (int, float))]
    if len(value) + sum(len(t) for t in texts) + 400 * len(values) > MAX_LENGTH:
        raise BudgetExceeded(f"format would build a string longer than {MAX_LENGTH}")
    return value % values


def _f_center(_: Evaluator, value: Any, width: Any = 80) -> str:
    if not _is_int(width):
        raise Unknown("center needs an integer width")
    if width > MAX_LENGTH:
        raise BudgetExceeded(f"center width above {MAX_LENGTH}")
    return to_string(value).center(width)


def _f_sum(ev: Evaluator, value: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Numbers add up; ``start=[]`` concatenates lists in linear time (not ``sum``'s quadratic)."""
    if not isinstance(value, list):
        raise Unknown("sum needs a list")
    items = [_attribute(v, attribute) for v in value] if attribute is not None else value
    if isinstance(start, list):
        total = list(start)
        for item in items:
            ev.budget.spend()
            if not isinstance(item, list):
                raise Unknown(f"sum of lists with a {_kind(item)} in it")
            total.extend(item)
            check_length(total)
        return total
    result = start
    for item in items:
        ev.budget.spend()
        if not _number(result) or not _number(item):
            raise Unknown(f"sum of {_kind(item)}")
        result = result + item
        if _is_int(result):
            check_int(result)
    return result


def _f_round(_: Evaluator, value: Any, precision: Any = 0, method: Any = "common") -> Any:
    if not _number(value) or not _is_int(precision) or abs(precision) > MAX_ROUND_DIGITS:
        raise Unknown("round needs a number and a small integer precision")
    if method == "common":
        return round(value, precision)
    if method in ("ceil", "floor"):
        scale = 10.0**precision
        func = math.ceil if method == "ceil" else math.floor
        return func(value * scale) / scale
    raise Unknown(f"round method {method!r}")


def _f_basename(_: Evaluator, value: Any) -> str:
    return to_string(value).rsplit("/", 1)[-1]


def _f_dirname(_: Evaluator, value: Any) -> str:
    text = to_string(value)
    return text.rsplit("/", 1)[0] if "/" in text else ""


def _list_op(op: str) -> Callable[..., list[Any]]:
    def run(ev: Evaluator, a: Any, b: Any) -> list[Any]:
        if not isinstance(a, list) or not isinstance(b, list):
            raise Unknown(f"{op} needs lists")
        if op == "union":
            return _f_unique(ev, a + b)
        others = {_frozen(x) for x in b}
        wanted = op == "intersect"
        return [x for x in _f_unique(ev, a) if (_frozen(x) in others) == wanted]

    return run


def _f_sort(
    _: Evaluator, value: Any, reverse: bool = False, case_sensitive: bool = False, attribute: Any = None
) -> Any:
    if not isinstance(value, list):
        raise Unknown("sort needs a list")
    key = (lambda v: _attribute(v, attribute)) if attribute is not None else None
    try:
        return sorted(value, key=key, reverse=reverse)
    except TypeError:
        raise Unknown("sort of mixed types") from None


def _subject(ev: Evaluator, value: Any) -> str:
    text = to_string(value)
    ev.budget.spend(len(text) >> 6)
    return text


def _f_regex_replace(
    ev: Evaluator,
    value: Any = "",
    pattern: Any = "",
    replacement: Any = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: Any = 0,
    mandatory_count: Any = 0,
) -> str:
    """Ansible's ``regex_replace``: Python's ``re.sub`` semantics, run by RE2."""
    text = _subject(ev, value)
    if not isinstance(replacement, str) or not _is_int(count) or not _is_int(mandatory_count):
        raise Unknown("regex_replace needs a string replacement and integer counts")
    compiled = regex.compile_untrusted(pattern, bool(ignorecase), bool(multiline))
    template = regex.parse_template(replacement)
    pieces: list[str] = []
    end = found = size = 0
    for match in compiled.finditer(text):
        if 0 < count <= found:
            break
        ev.budget.spend()
        found += 1
        piece = regex.expand(match, template)
        size += match.start() - end + len(piece)
        if size > MAX_LENGTH:
            raise BudgetExceeded(f"regex_replace would build a string longer than {MAX_LENGTH}")
        pieces += (text[end : match.start()], piece)
        end = match.end()
    if found < mandatory_count:
        raise Unknown(f"regex_replace made {found} replacements, fewer than mandatory_count")
    return "".join(pieces) + text[end:]


def _f_regex_search(ev: Evaluator, value: Any, pattern: Any = "", *args: Any, **flags: Any) -> Any:
    """Ansible's ``regex_search``: the match, or a list of the groups named by ``'\\\\1'``/``'\\\\g<x>'``."""
    refs = [_group_ref(a) for a in args]
    match = _compile(pattern, flags).search(_subject(ev, value))
    if match is None:
        return None
    if not refs:
        return regex.group(match, 0)
    return [regex.group(match, ref) for ref in refs]


def _group_ref(arg: Any) -> int | str:
    m = re.fullmatch(r"\\g<(\w{1,32})>|\\(\d{1,2})", arg) if isinstance(arg, str) else None
    if m is None:
        raise Unknown("regex_search arguments must be group references such as '\\1'")
    return m.group(1) if m.group(1) is not None else int(m.group(2))


def _compile(pattern: Any, flags: dict[str, Any]) -> Any:
    unknown = set(flags) - {"ignorecase", "multiline"}
    if unknown:
        raise Unknown(f"regular expression option {sorted(unknown)[0]!r} is not evaluated statically")
    return regex.compile_untrusted(pattern, bool(flags.get("ignorecase")), bool(flags.get("multiline")))


def _f_regex_findall(ev: Evaluator, value: Any, pattern: Any = "", **flags: Any) -> list[Any]:
    """Ansible's ``regex_findall``: Python's ``re.findall`` (whole match, one group, or a list of groups)."""
    compiled = _compile(pattern, flags)
    out: list[Any] = []
    size = 0
    for match in compiled.finditer(_subject(ev, value)):
        ev.budget.spend()
        groups = [regex.group(match, i) or "" for i in range(1, compiled.groups + 1)]
        found: Any = groups if len(groups) > 1 else groups[0] if groups else regex.group(match, 0)
        size += _size(found)
        if size > MAX_VALUE_SIZE or len(out) >= MAX_LENGTH:
            raise BudgetExceeded(f"regex_findall found more than {MAX_VALUE_SIZE} items and characters")
        out.append(found)
    return out


def _f_regex_escape(_: Evaluator, value: Any, re_type: Any = "python") -> str:
    if re_type != "python":
        raise Unknown(f"regex_escape for {re_type!r} is not evaluated statically")
    return re.escape(to_string(value))


def _regex_test(kind: str) -> Callable[..., bool]:
    """Ansible's ``match``/``search``/``regex`` tests, run by RE2."""

    def run(
        value: Any, pattern: Any = "", ignorecase: bool = False, multiline: bool = False, **more: Any
    ) -> bool:
        match_type = more.pop("match_type", "search") if kind == "regex" else kind
        if more or match_type not in ("match", "search", "fullmatch"):
            raise Unknown(f"test {kind!r} with these options is not evaluated statically")
        if not isinstance(value, str):
            raise Unknown(f"test {kind!r} needs a string")
        compiled = regex.compile_untrusted(pattern, bool(ignorecase), bool(multiline))
        return getattr(compiled, match_type)(value) is not None

    return run


def _f_dictsort(
    _: Evaluator, value: Any, case_sensitive: bool = False, by: str = "key", reverse: bool = False
) -> Any:
    if not isinstance(value, dict):
        raise Unknown("dictsort needs a mapping")
    index = 0 if by == "key" else 1
    try:
        return sorted(([k, v] for k, v in value.items()), key=lambda kv: kv[index], reverse=reverse)
    except TypeError:
        raise Unknown("dictsort of mixed types") from None


def _f_min_max(pick: Callable[..., Any]) -> Callable[..., Any]:
    def run(_: Evaluator, value: Any, **__: Any) -> Any:
        if not isinstance(value, (list, str, dict)):
            raise Unknown(f"{pick.__name__} needs a list")
        return pick(value)

    return run


FILTERS: dict[str, Callable[..., Any]] = {
    "dictsort": _f_dictsort,
    "regex_replace": _f_regex_replace,
    "regex_search": _f_regex_search,
    "regex_findall": _f_regex_findall,
    "regex_escape": _f_regex_escape,
    "int": _f_int,
    "float": _f_float,
    "string": lambda _, v: to_string(v),
    "bool": _f_bool,
    "join": _f_join,
    "ternary": _f_ternary,
    "split": _f_split,
    "lower": lambda _, v: to_string(v).lower(),
    "upper": lambda _, v: to_string(v).upper(),
    "trim": lambda _, v, chars=None: to_string(v).strip(chars),
    "replace": _f_replace,
    "length": _f_length,
    "count": _f_length,
    "list": _f_list,
    "first": _f_first,
    "last": _f_last,
    "min": _f_min_max(min),
    "max": _f_min_max(max),
    "sum": _f_sum,
    "abs": lambda _, v: abs(v),
    "round": _f_round,
    "reverse": lambda _, v: v[::-1],
    "unique": _f_unique,
    "sort": _f_sort,
    "flatten": _f_flatten,
    "map": _f_map,
    "select": lambda ev, v, *a: _select(ev, v, True, None, *a),
    "reject": lambda ev, v, *a: _select(ev, v, False, None, *a),
    "selectattr": lambda ev, v, attr, *a: _select(ev, v, True, attr, *a),
    "rejectattr": lambda ev, v, attr, *a: _select(ev, v, False, attr, *a),
    "dict2items": _f_dict2items,
    "items2dict": _f_items2dict,
    "combine": _f_combine,
    "format": _f_format,
    "basename": _f_basename,
    "dirname": _f_dirname,
    "union": _list_op("union"),
    "difference": _list_op("difference"),
    "intersect": _list_op("intersect"),
    "center": _f_center,
    "comment": lambda _, v, *a, **k: "#\n# " + to_string(v) + "\n#",
    "quote": lambda _, v: (
        to_string(v)
        if re.fullmatch(r"[\w@%+=:,./-]*", to_string(v))
        else "'" + to_string(v).replace("'", "'\"'\"'") + "'"
    ),
}


_VERSION_OPS = {
    "<": "lt", "lt": "lt", "<=": "le", "le": "le", ">": "gt", "gt": "gt", ">=": "ge", "ge": "ge",
    "==": "eq", "=": "eq", "eq": "eq", "!=": "ne", "<>": "ne", "ne": "ne",
}  # fmt: skip


def _version_key(value: Any) -> tuple[int, ...]:
    text = to_string(value).strip().lstrip("v")
    parts = re.split(r"[.\-+]", text) if len(text) <= 100 else []
    if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts) or len(parts) > 10:
        raise Unknown("version is not compared statically (not dotted numbers)")
    return tuple(int(p) for p in parts)


def _t_version(value: Any, other: Any, op: Any = "eq", *_: Any, **__: Any) -> bool:
    name = _VERSION_OPS.get(str(op))
    if name is None:
        raise Unknown(f"version comparison {op!r}")
    a, b = _version_key(value), _version_key(other)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b, "ne": a != b}[name]


TESTS: dict[str, Callable[..., Any]] = {
    "version": _t_version,
    "version_compare": _t_version,
    "match": _regex_test("match"),
    "search": _regex_test("search"),
    "regex": _regex_test("regex"),
    "none": lambda v: v is None,
    "true": lambda v: v is True,
    "false": lambda v: v is False,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "number": _number,
    "integer": _is_int,
    "float": lambda v: isinstance(v, float),
    "mapping": lambda v: isinstance(v, dict),
    "sequence": lambda v: isinstance(v, (list, str, dict)),
    "iterable": lambda v: isinstance(v, (list, str, dict)),
    "in": lambda v, seq: _contains(seq, v),
    "eq": lambda v, o: v == o,
    "equalto": lambda v, o: v == o,
    "ne": lambda v, o: v != o,
    "lt": lambda v, o: v < o,
    "le": lambda v, o: v <= o,
    "gt": lambda v, o: v > o,
    "ge": lambda v, o: v >= o,
    "divisibleby": lambda v, n: v % n == 0,
    "even": lambda v: v % 2 == 0,
    "odd": lambda v: v % 2 == 1,
    "truthy": _truth,
    "falsy": lambda v: not _truth(v),
}


def guarded(run: Callable[[], _T], what: str = "evaluation") -> _T:
    """Run an evaluation so that nothing but ``Unknown`` (or ``TemplateSyntaxError``) leaves it."""
    try:
        return run()
    except (Unknown, TemplateSyntaxError):
        raise
    except Exception as exc:
        raise _stray(exc, what) from None


def _stray(exc: Exception, what: str) -> Unknown:
    """The ``Unknown`` for an exception that escaped the evaluator on odd input.

    Scanned content is hostile: such an input must leave a value unresolved, not stop the
    scan. The reason names the exception type (so a bug is visible in the report), never
    its message (which could quote a value).
    """
    if isinstance(exc, RecursionError):
        return BudgetExceeded(f"{what} nested too deeply")
    if isinstance(exc, MemoryError):
        return BudgetExceeded(f"{what} ran out of memory")
    return Unknown(f"{what} failed with {type(exc).__name__} (a portpolicy bug: please report it)")


def evaluate(src: str, resolve: Resolver, budget: Budget | None = None) -> Any:
    """Evaluate one expression; raises ``Unknown`` (or ``Undefined``) when it cannot (guarded)."""
    try:
        node = parse(src)
    except TemplateSyntaxError as exc:
        raise Unknown(f"expression not understood: {exc}") from None
    except Exception as exc:
        raise _stray(exc, "parsing the expression") from None
    try:
        value = Evaluator(resolve, budget).eval(node)
    except Unknown:
        raise
    except Exception as exc:
        raise _stray(exc, "evaluation") from None
    if isinstance(value, _Method):
        raise Unknown("a method that is not called")
    return value


# --------------------------------------------------------------------------- templates

_TAG = re.compile(r"\{\{|\{%|\{#")
_END = {"{{": "}}", "{%": "%}", "{#": "#}"}


@dataclass
class _Tok:
    kind: str  # text, var, block
    text: str
    line: int


def _lex(source: str, trim_blocks: bool = True) -> list[_Tok]:
    """Split a template into text, ``{{ }}`` and ``{% %}`` tokens, with whitespace control."""
    toks: list[_Tok] = []
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
            toks.append(_Tok("text", kept, line))
            line += kept.count("\n") + tail.count("\n")
        else:
            toks.append(_Tok("text", text, line))
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
                toks.append(_Tok("text", raw, line))
                line += raw.count("\n") + source[raw_end.start() : raw_end.end()].count("\n")
                pos = raw_end.end()
                continue
            toks.append(_Tok("block", inner.strip(), tag_line))
        else:
            toks.append(_Tok("var", inner.strip(), tag_line))
    return toks


@dataclass
class _If:
    branches: list[tuple[str, list[Any]]]
    orelse: list[Any] | None
    line: int
    end: int


@dataclass
class _For:
    targets: list[str]
    iterable: str
    condition: str | None
    body: list[Any]
    orelse: list[Any] | None
    line: int
    end: int


@dataclass
class _Set:
    targets: list[str]
    expr: str | None
    body: list[Any] | None
    line: int


_STATEMENTS = {"if", "for", "set"}
_SUPPORTED_ENDS = {"endif", "endfor", "endset", "elif", "else"}


_FOR_TAG = re.compile(r"(.+?)(?<=\S)\s+in\s+(.+?)(?:(?<=\S)\s+if\s+(.+?))?(?:(?<=\S)\s+recursive)?", re.S)
"""``for x in items if cond``. Each ``\\s+`` may only start after a non-space: without
that, every position inside a long run of whitespace rescans the run (quadratic time)."""


def _build(toks: list[_Tok]) -> list[Any]:
    pos = 0

    def block(stop: set[str], depth: int = 0) -> tuple[list[Any], _Tok | None]:
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
                body.append(_If(branches, orelse, tok.line, end.line))
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
                body.append(_For(targets, m.group(2), m.group(3), inner, orelse, tok.line, end.line))
            elif word == "set":
                if "=" in rest and re.fullmatch(r"[\w\s,().]+", rest.split("=", 1)[0]):
                    left, _, expr = rest.partition("=")
                    body.append(_Set([t.strip() for t in left.split(",")], expr.strip(), None, tok.line))
                else:
                    inner, end = block({"endset"}, depth + 1)
                    if end is None:
                        raise TemplateSyntaxError(f"line {tok.line}: set without endset")
                    body.append(_Set([rest.strip()], None, inner, tok.line))
            else:
                raise TemplateSyntaxError(f"line {tok.line}: tag {word!r} is not supported")
        return body, None

    tree, stray = block(set())
    if stray is not None:
        raise TemplateSyntaxError(f"line {stray.line}: unexpected {stray.text.split(' ', 1)[0]}")
    return tree


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


class _Out:
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


class _Scope:
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
    tree = guarded(lambda: _build(_lex(source, trim_blocks)), "reading the template")
    spent = budget or Budget(MAX_TEMPLATE_STEPS)
    return guarded(lambda: _render(tree, resolve, spent), "rendering the template")


def _render(tree: list[Any], resolve: Resolver, budget: Budget) -> Rendered:
    scope = _Scope(resolve)
    out = _Out()
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
            if isinstance(node, _Tok):
                if node.kind == "text":
                    out.write(node.text, node.line)
                else:
                    result.uses.setdefault(len(out.lines), []).append(node.text)
                    try:
                        out.write(output(node.text), node.line, verbatim=False)
                    except Unknown as exc:
                        out.write("{{ " + node.text + " }}", node.line, verbatim=False)
                        result.unresolved.append((node.line, node.text, exc.reason))
            elif isinstance(node, _If):
                run_if(node)
            elif isinstance(node, _For):
                loop_for(node)
            elif isinstance(node, _Set):
                if node.expr is not None:
                    try:
                        val: Any = value(node.expr)
                    except Unknown as exc:
                        val = UnknownValue(exc.reason)
                    _assign(scope.frames[-1], node.targets, val, scope)
                else:
                    inner = _Out()
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

    def run_if(node: _If) -> None:
        for cond, body in node.branches:
            try:
                hit = _truth(value(cond))
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

    def loop_for(node: _For) -> None:
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
                    if _truth(value(node.condition)):
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


def _assign(frame: dict[str, Any], targets: list[str], value: Any, scope: _Scope | None = None) -> None:
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


# --------------------------------------------------------------------------- strings

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
