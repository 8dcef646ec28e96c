"""A small sandboxed Jinja subset: expressions, filters, tests and ``.j2`` templates.

Ansible content hides ports behind ``{{ expressions }}``. Importing Jinja2 (or Ansible) is
not an option in the CLI path, and executing scanned content never is, so this module
evaluates the part of the language that port values use and refuses everything else:
anything it cannot evaluate raises ``Unknown`` (with a reason) and the caller leaves the
value unresolved. It never guesses.

Sandbox: no Python attribute access (only dict items and an allow-list of pure string,
list and dict methods; any name starting with ``_`` is refused), no ``%`` string
formatting beyond ``%s``/``%d``, bounded string/list sizes, bounded exponents and a step
budget per evaluation, so no template can make the scan slow or large.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")

MAX_LENGTH = 65_536  # longest string or list an expression may build
MAX_STEPS = 20_000  # AST nodes evaluated per expression or template
MAX_EXPONENT = 128
MAX_ITERATIONS = 2_000  # items one loop may visit
MAX_OUTPUT = 2 * 1024 * 1024  # characters a rendered template may have


class Unknown(Exception):
    """A value that cannot be known statically; ``reason`` says why (shown to users)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Undefined(Unknown):
    """A variable (or item, or attribute) that is not defined: ``default`` may replace it."""


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
            text = text.replace("_", "")
            out.append(("const", float(text) if "." in text else int(text)))
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


# --------------------------------------------------------------------------- parser

Node = tuple[Any, ...]
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else"}
_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, src: str) -> None:
        self.tokens = _tokenize(src)
        self.pos = 0

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
        node = self.or_()
        if self.accept("name", "if"):
            test = self.or_()
            other = self.expression() if self.accept("name", "else") else None
            return ("cond", test, node, other)
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
            return ("not", self.not_())
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
        if self.accept("op", "-"):
            return self.filters(("neg", self.unary()))
        if self.accept("op", "+"):
            return self.filters(self.unary())
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
                node = ("test", node, name, args, negate)
            else:
                return node

    def dotted(self) -> str:
        parts = [self.name()]
        while self.at("op", ".") and self.peek(1)[0] == "name":
            self.next()
            parts.append(self.name())
        return ".".join(parts)


_PARSED: dict[str, Node] = {}


def parse(src: str) -> Node:
    """The AST of one expression (cached: role defaults repeat the same expressions)."""
    node = _PARSED.get(src)
    if node is None:
        parser = _Parser(src)
        node = parser.expression()
        parser.done()
        if len(_PARSED) < 50_000:
            _PARSED[src] = node
    return node


# --------------------------------------------------------------------------- evaluation


class _Budget:
    def __init__(self) -> None:
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Unknown(f"evaluation stopped after {MAX_STEPS} steps")


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


class Evaluator:
    """Evaluates parsed expressions against a resolver, within one step budget."""

    def __init__(self, resolve: Resolver, budget: _Budget | None = None) -> None:
        self.resolve = resolve
        self.budget = budget or _Budget()

    def eval(self, node: Node) -> Any:
        self.budget.tick()
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "name":
            return self.name(node[1])
        if kind == "attr":
            return _attribute(self.eval(node[1]), node[2])
        if kind == "item":
            return _item(self.eval(node[1]), self.eval(node[2]))
        if kind == "slice":
            return self.slice(node)
        if kind == "list":
            return [self.eval(n) for n in node[1]]
        if kind == "dict":
            return {_hashable(self.eval(k)): self.eval(v) for k, v in node[1]}
        if kind == "neg":
            value = self.eval(node[1])
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Unknown(f"cannot negate {_kind(value)}")
            return -value
        if kind == "not":
            return not _truth(self.eval(node[1]))
        if kind == "and":
            left = self.eval(node[1])
            return self.eval(node[2]) if _truth(left) else left
        if kind == "or":
            left = self.eval(node[1])
            return left if _truth(left) else self.eval(node[2])
        if kind == "cond":
            if _truth(self.eval(node[1])):
                return self.eval(node[2])
            if node[3] is None:
                raise Undefined("inline if without else, and the condition is false")
            return self.eval(node[3])
        if kind == "compare":
            return self.compare(node)
        if kind == "bin":
            return _binary(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "filter":
            return self.filter(node)
        if kind == "test":
            return self.test(node)
        if kind == "call":
            return self.call(node)
        raise Unknown(f"unsupported expression {kind}")  # pragma: no cover - parser makes no others

    def name(self, name: str) -> Any:
        if name == "omit":
            return OMIT
        value = self.resolve(name)
        if isinstance(value, UnknownValue):
            raise Unknown(value.reason)
        return value

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
        for op, right_node in node[2]:
            right = self.eval(right_node)
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
            return _call_method(func, args, kwargs)
        raise Unknown("calling this is not supported statically")

    def filter(self, node: Node) -> Any:
        _, arg, name, arg_nodes, kwarg_nodes = node
        name = _short(name)
        if name in ("default", "d"):
            try:
                value = self.eval(arg)
            except Undefined:
                value = _UNDEF
            boolean = (
                bool(self.eval(arg_nodes[1]))
                if len(arg_nodes) > 1
                else bool(kwarg_nodes and self.eval(kwarg_nodes.get("boolean", ("const", False))))
            )
            if value is _UNDEF or (boolean and not _truth(value)):
                return self.eval(arg_nodes[0]) if arg_nodes else ""
            return value
        if name == "mandatory":
            return self.eval(arg)
        value = self.eval(arg)
        args = [self.eval(a) for a in arg_nodes]
        kwargs = {k: self.eval(v) for k, v in kwarg_nodes.items()}
        func = FILTERS.get(name)
        if func is None:
            raise Unknown(f"filter {name!r} is not evaluated statically")
        try:
            return _bounded(func(self, value, *args, **kwargs))
        except Unknown:
            raise
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            ZeroDivisionError,
            OverflowError,
        ) as exc:
            raise Unknown(f"filter {name!r} failed: {exc}") from None

    def test(self, node: Node) -> bool:
        _, arg, name, arg_nodes, negate = node
        name = _short(name)
        if name in ("defined", "undefined"):
            try:
                self.eval(arg)
                defined = True
            except Undefined:
                defined = False
            except Unknown:
                if arg[0] != "name":
                    raise
                defined = True  # defined, with a value that is not known
            return bool((defined == (name == "defined")) != negate)
        value = self.eval(arg)
        args = [self.eval(a) for a in arg_nodes]
        func = TESTS.get(name)
        if func is None:
            raise Unknown(f"test {name!r} is not evaluated statically")
        try:
            return bool(func(value, *args)) != bool(negate)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise Unknown(f"test {name!r} failed: {exc}") from None


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


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise Unknown("a list or mapping cannot be a mapping key")
    return value


def _bounded(value: _T) -> _T:
    if isinstance(value, (str, list, dict)) and len(value) > MAX_LENGTH:
        raise Unknown(f"value longer than {MAX_LENGTH}")
    return value


def _attribute(value: Any, name: Any) -> Any:
    if isinstance(name, str) and name.startswith("_"):
        raise Unknown(f"sandbox: attribute {name!r} is not accessible")
    if isinstance(value, dict):
        if name in value:
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
        if key in value:
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
    if name in ("join",) and not (
        args and isinstance(args[0], list) and all(isinstance(a, str) for a in args[0])
    ):
        raise Unknown("join() needs a list of strings")
    if any(not isinstance(a, (str, int)) or isinstance(a, bool) for a in args) and name != "join":
        raise Unknown(f"unsupported arguments to {name}()")
    try:
        result: Any = getattr(target, name)(*args)
    except (TypeError, ValueError) as exc:
        raise Unknown(f"{name}() failed: {exc}") from None
    if isinstance(result, (tuple, type({}.keys()), type({}.values()), type({}.items()))):
        raw: list[Any] = list(result)
        result = [list(x) if isinstance(x, tuple) else x for x in raw]
    return _bounded(result)


def _range(*args: Any) -> list[int]:
    if not args or len(args) > 3 or not all(_is_int(a) for a in args):
        raise Unknown("range() needs 1 to 3 integers")
    r = range(*args)
    if len(r) > MAX_ITERATIONS:
        raise Unknown(f"range() of more than {MAX_ITERATIONS} items")
    return list(r)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binary(op: str, a: Any, b: Any) -> Any:
    if op == "~":
        return _bounded(to_string(a) + to_string(b))
    if op == "+":
        if (_number(a) and _number(b)) or (type(a) is type(b) and isinstance(a, (str, list))):
            return _bounded(a + b)
        raise Unknown(f"cannot add {_kind(a)} and {_kind(b)}")
    if op == "*":
        if _number(a) and _number(b):
            return a * b
        seq, count = (a, b) if isinstance(a, (str, list)) else (b, a)
        if isinstance(seq, (str, list)) and _is_int(count):
            if len(seq) * max(count, 0) > MAX_LENGTH:
                raise Unknown(f"repetition longer than {MAX_LENGTH}")
            return seq * count
        raise Unknown(f"cannot multiply {_kind(a)} and {_kind(b)}")
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
            if abs(b) > MAX_EXPONENT or (abs(a) > 2**32 and b > 1):
                raise Unknown("exponent too large to evaluate")
            return a**b
    except (ZeroDivisionError, OverflowError) as exc:
        raise Unknown(f"{op}: {exc}") from None
    raise Unknown(f"unsupported operator {op}")  # pragma: no cover


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
    if isinstance(container, (list, dict)):
        return item in container
    raise Unknown(f"'in' needs a string, list or mapping, not {_kind(container)}")


def to_string(value: Any) -> str:
    """Jinja's rendering of a value into template output."""
    if isinstance(value, str):
        return value
    if value is OMIT:
        raise Unknown("omit used inside a string")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return _bounded(str(value))


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


def _f_join(_: Evaluator, value: Any, sep: str = "", attribute: Any = None) -> str:
    if not isinstance(value, list):
        raise Unknown("join needs a list")
    if attribute is not None:
        value = [_attribute(v, attribute) for v in value]
    return _bounded(to_string(sep).join(to_string(v) for v in value))


def _f_ternary(_: Evaluator, value: Any, yes: Any = True, no: Any = False, none: Any = _UNDEF) -> Any:
    if value is None and none is not _UNDEF:
        return none
    return yes if _truth(value) else no


def _f_split(_: Evaluator, value: Any, sep: Any = None, maxsplit: int = -1) -> list[str]:
    if not isinstance(value, str):
        raise Unknown("split needs a string")
    return _bounded(value.split(sep, maxsplit))


def _f_replace(_: Evaluator, value: Any, old: str, new: str, count: int = -1) -> str:
    result = to_string(value).replace(old, new, count)
    return _bounded(result)


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


def _f_flatten(_: Evaluator, value: Any, levels: Any = None) -> list[Any]:
    out: list[Any] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list) and (levels is None or depth < levels):
                walk(item, depth + 1)
            elif item is not None:
                out.append(item)
            if len(out) > MAX_LENGTH:
                raise Unknown("flatten result too long")

    if not isinstance(value, list):
        raise Unknown("flatten needs a list")
    walk(value, 0)
    return out


def _f_unique(_: Evaluator, value: Any) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if item not in out:
            out.append(item)
    return out


def _f_map(ev: Evaluator, value: Any, *args: Any, **kwargs: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Unknown("map needs a list")
    if "attribute" in kwargs:
        attr = kwargs["attribute"]
        out = []
        for v in value:
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
    return [func(ev, v, *args[1:]) for v in value]


def _select(ev: Evaluator, value: Any, keep: bool, attr: Any, test: Any = "truthy", *args: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Unknown("select needs a list")
    func = TESTS.get(_short(str(test)))
    if func is None:
        raise Unknown(f"select with test {test!r} is not evaluated statically")
    out = []
    for v in value:
        subject = v
        if attr is not None:
            try:
                subject = _attribute(v, attr)
            except Undefined:
                subject = _UNDEF
        ok = subject is not _UNDEF and bool(func(subject, *args))
        if test in ("undefined",):
            ok = subject is _UNDEF
        elif test in ("defined",):
            ok = subject is not _UNDEF
        if ok == keep:
            out.append(v)
    return out


def _f_dict2items(_: Evaluator, value: Any, key_name: str = "key", value_name: str = "value") -> list[Any]:
    if not isinstance(value, dict):
        raise Unknown("dict2items needs a mapping")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _f_items2dict(
    _: Evaluator, value: Any, key_name: str = "key", value_name: str = "value"
) -> dict[Any, Any]:
    if not isinstance(value, list):
        raise Unknown("items2dict needs a list")
    return {_hashable(item[key_name]): item[value_name] for item in value}


def _f_combine(_: Evaluator, value: Any, *others: Any, recursive: bool = False, **__: Any) -> dict[Any, Any]:
    result = dict(value) if isinstance(value, dict) else None
    if result is None:
        raise Unknown("combine needs mappings")
    for other in others:
        for item in other if isinstance(other, list) else [other]:
            if not isinstance(item, dict):
                raise Unknown("combine needs mappings")
            for k, v in item.items():
                if recursive and isinstance(result.get(k), dict) and isinstance(v, dict):
                    result[k] = _f_combine(_, result[k], v, recursive=True)
                else:
                    result[k] = v
    return result


_FORMAT_SPEC = re.compile(r"%(?:%|[sdi])")


def _f_format(_: Evaluator, value: Any, *args: Any) -> str:
    if not isinstance(value, str) or re.sub(r"%(?:%|[sdi])", "", value).count("%"):
        raise Unknown("format with specifiers other than %s/%d")
    return _bounded(value % tuple(args))


def _f_basename(_: Evaluator, value: Any) -> str:
    return to_string(value).rsplit("/", 1)[-1]


def _f_dirname(_: Evaluator, value: Any) -> str:
    text = to_string(value)
    return text.rsplit("/", 1)[0] if "/" in text else ""


def _list_op(op: str) -> Callable[..., list[Any]]:
    def run(_: Evaluator, a: Any, b: Any) -> list[Any]:
        if not isinstance(a, list) or not isinstance(b, list):
            raise Unknown(f"{op} needs lists")
        if op == "union":
            return _f_unique(_, a + b)
        if op == "difference":
            return [x for x in _f_unique(_, a) if x not in b]
        return [x for x in _f_unique(_, a) if x in b]

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


_QUANTIFIED_GROUP = re.compile(r"\)[*+?{]|\\[1-9]|\(\?[<=!]")


def _safe_regex(pattern: Any, subject: Any) -> re.Pattern[str]:
    """Compile a pattern from scanned content only when it cannot backtrack badly.

    Patterns with quantified groups, backreferences or lookarounds are refused (that is
    where catastrophic backtracking lives), and both pattern and subject are short.
    """
    if not isinstance(pattern, str) or not isinstance(subject, str):
        raise Unknown("regex filters need strings")
    if len(pattern) > 200 or len(subject) > 4096 or _QUANTIFIED_GROUP.search(pattern):
        raise Unknown("regular expression not evaluated statically (could be slow)")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise Unknown(f"invalid regular expression: {exc}") from None


def _f_regex_replace(_: Evaluator, value: Any, pattern: Any = "", replacement: Any = "", **flags: Any) -> str:
    text = to_string(value)
    if any(flags.values()):
        raise Unknown("regex_replace flags are not evaluated statically")
    if not isinstance(replacement, str) or "\\" in replacement:
        raise Unknown("regex_replace with group references is not evaluated statically")
    return _bounded(_safe_regex(pattern, text).sub(lambda _m: replacement, text))


def _f_regex_search(_: Evaluator, value: Any, pattern: Any = "", *args: Any, **kwargs: Any) -> Any:
    if args or kwargs:
        raise Unknown("regex_search with groups or flags is not evaluated statically")
    m = _safe_regex(pattern, to_string(value)).search(to_string(value))
    return m.group(0) if m else None


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


FILTERS: dict[str, Callable[..., Any]] = {
    "dictsort": _f_dictsort,
    "regex_replace": _f_regex_replace,
    "regex_search": _f_regex_search,
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
    "min": lambda _, v, **__: min(v),
    "max": lambda _, v, **__: max(v),
    "sum": lambda _, v, start=0, **__: sum(v, start),
    "abs": lambda _, v: abs(v),
    "round": lambda _, v, precision=0, method="common": round(v, precision),
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
    "center": lambda _, v, width=80: to_string(v),
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
    parts = re.split(r"[.\-+]", text)
    if not text or not all(p.isdigit() for p in parts) or len(parts) > 10:
        raise Unknown(f"version {text!r} is not compared statically")
    return tuple(int(p) for p in parts)


def _t_version(value: Any, other: Any, op: Any = "eq", *_: Any) -> bool:
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


def evaluate(src: str, resolve: Resolver, budget: _Budget | None = None) -> Any:
    """Evaluate one expression; raises ``Unknown`` (or ``Undefined``) when it cannot."""
    try:
        node = parse(src)
    except TemplateSyntaxError as exc:
        raise Unknown(f"expression not understood: {exc}") from None
    except RecursionError:
        raise Unknown("expression nested too deeply") from None
    try:
        return Evaluator(resolve, budget).eval(node)
    except RecursionError:
        raise Unknown("expression nested too deeply") from None


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


def _build(toks: list[_Tok]) -> list[Any]:
    pos = 0

    def block(stop: set[str]) -> tuple[list[Any], _Tok | None]:
        nonlocal pos
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
                    inner, end = block({"elif", "else", "endif"})
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
                        inner, end = block({"endif"})
                        if end is None:
                            raise TemplateSyntaxError(f"line {tok.line}: if without endif")
                        orelse = inner
                        break
                    else:
                        break
                body.append(_If(branches, orelse, tok.line, end.line))
            elif word == "for":
                m = re.fullmatch(r"(.+?)\s+in\s+(.+?)(?:\s+if\s+(.+?))?(?:\s+recursive)?", rest, re.S)
                if m is None:
                    raise TemplateSyntaxError(f"line {tok.line}: cannot read for loop")
                targets = [t.strip().strip("()") for t in m.group(1).split(",")]
                inner, end = block({"else", "endfor"})
                if end is None:
                    raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
                orelse = None
                if end.text.split(" ", 1)[0] == "else":
                    orelse, end = block({"endfor"})
                    if end is None:
                        raise TemplateSyntaxError(f"line {tok.line}: for without endfor")
                body.append(_For(targets, m.group(2), m.group(3), inner, orelse, tok.line, end.line))
            elif word == "set":
                if "=" in rest and re.fullmatch(r"[\w\s,().]+", rest.split("=", 1)[0]):
                    left, _, expr = rest.partition("=")
                    body.append(_Set([t.strip() for t in left.split(",")], expr.strip(), None, tok.line))
                else:
                    inner, end = block({"endset"})
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


def render(source: str, resolve: Resolver, trim_blocks: bool = True) -> Rendered:
    """Render a template with what is known; raises ``TemplateSyntaxError`` if it cannot be read.

    Unknown ``{{ }}`` stay in the output as written (readers treat them as templated
    values), unknown conditions and loops are left out and listed in ``skipped``.
    """
    tree = _build(_lex(source, trim_blocks))
    scope = _Scope(resolve)
    budget = _Budget()
    budget_steps = MAX_STEPS * 50
    out = _Out()
    result = Rendered("", [])

    def value(expr: str) -> Any:
        budget.steps = max(0, budget.steps - MAX_STEPS) if budget.steps > budget_steps else budget.steps
        return evaluate(expr, scope, budget)

    def run(nodes: list[Any]) -> None:
        for node in nodes:
            if isinstance(node, _Tok):
                if node.kind == "text":
                    out.write(node.text, node.line)
                else:
                    result.uses.setdefault(len(out.lines), []).append(node.text)
                    try:
                        out.write(to_string(value(node.text)), node.line, verbatim=False)
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
        items = list(items)[:MAX_ITERATIONS]
        if node.condition:
            kept = []
            for item in items:
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

    run(tree)
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
        rendered = render(text, resolve, trim_blocks=False)
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
        node = parse(src)
    except (TemplateSyntaxError, RecursionError):
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
