"""Evaluates parsed expressions against a resolver, within one budget.

Each node kind has one method (``Evaluator._KINDS``); filters and tests are looked up in
their tables (``filters.FILTERS``, ``predicates.TESTS``). Any other exception that escapes
the evaluator on odd input becomes ``Unknown`` at the guarded entry points (``evaluate``,
``guarded``), with a reason that names the exception type, so a bug shows up in the report
instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from portpolicy import regex
from portpolicy.ansible.jinja.budget import MAX_NESTING, SCALARS, Budget
from portpolicy.ansible.jinja.filters import FILTERS, short_name
from portpolicy.ansible.jinja.operations import (
    PY2_DICT_METHODS,
    PY2_NOTE,
    Method,
    apply_operator,
    call_method,
    compare_values,
    get_attribute,
    get_item,
    range_list,
)
from portpolicy.ansible.jinja.parser import Node, parse
from portpolicy.ansible.jinja.predicates import TESTS
from portpolicy.ansible.jinja.values import (
    MISSING,
    OMIT,
    BudgetExceeded,
    Macro,
    Namespace,
    Resolver,
    TemplateSyntaxError,
    Undefined,
    Unknown,
    UnknownValue,
    finalize,
    hashable,
    is_int,
    known,
    note,
    truth,
    type_name,
)

_T = TypeVar("_T")

_UNSUPPORTED_FUNCTIONS = {
    "lookup": "a lookup() is only known when the playbook runs",
    "query": "a query() is only known when the playbook runs",
    "q": "a query() is only known when the playbook runs",
    "now": "now() is only known when the playbook runs",
}
_GLOBALS = frozenset(
    {
        "range",
        "dict",
        "namespace",
        "lipsum",
        "cycler",
        "joiner",
        "lookup",
        "query",
        "q",
        "now",
        "undef",
        "omit",
    }
)
"""Names Jinja and ansible-core define for every template: never undefined."""
_OWN_VARS = (("name", "vars"), ("item", ("name", "hostvars"), ("name", "inventory_hostname")))
"""The play host's own variables (``vars``, ``hostvars[inventory_hostname]``): an item or
attribute of them is the variable of that name, known per host like the plain name."""
_PRODUCING = frozenset({"list", "tuple", "dict", "neg", "bin", "filter", "call", "slice"})
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
        try:
            value = self.resolve(name)
        except Undefined:
            if name in _GLOBALS:
                raise Unknown(f"{name} is a function of Jinja or Ansible, not a value") from None
            raise
        if isinstance(value, UnknownValue):
            raise Unknown(value.reason)
        return value

    def attr(self, node: Node) -> Any:
        if node[1] in _OWN_VARS:  # ``vars.x``, ``hostvars[inventory_hostname].x``: the variable x
            return self.name(("name", node[2]))
        return known(get_attribute(self.eval(node[1]), node[2]))

    def item(self, node: Node) -> Any:
        if node[1] in _OWN_VARS:
            key = self.eval(node[2])
            if not isinstance(key, str):
                raise Undefined(f"no variable {key!r}")
            return self.name(("name", key))
        if node in _OWN_VARS:
            raise Unknown("the host's whole set of variables is not evaluated statically (one of them is)")
        return known(get_item(self.eval(node[1]), self.eval(node[2])))

    def list_(self, node: Node) -> list[Any]:
        return [self.eval(n) for n in node[1]]

    def tuple_(self, node: Node) -> tuple[Any, ...]:
        return tuple(self.eval(n) for n in node[1])

    def dict_(self, node: Node) -> dict[Any, Any]:
        return {hashable(self.eval(k)): self.eval(v) for k, v in node[1]}

    def neg(self, node: Node) -> Any:
        value = self.eval(node[1])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unknown(f"cannot negate {type_name(value)}")
        return -value

    def not_(self, node: Node) -> bool:
        return not truth(self.eval(node[1]))

    def and_(self, node: Node) -> Any:
        left = self.eval(node[1])
        return self.eval(node[2]) if truth(left) else left

    def or_(self, node: Node) -> Any:
        left = self.eval(node[1])
        return left if truth(left) else self.eval(node[2])

    def cond(self, node: Node) -> Any:
        if truth(self.eval(node[1])):
            return self.eval(node[2])
        if node[3] is None:
            raise Undefined("inline if without else, and the condition is false")
        return self.eval(node[3])

    def binary(self, node: Node) -> Any:
        left, right = self.eval(node[2]), self.eval(node[3])
        self.budget.visit(left)
        self.budget.visit(right)
        return apply_operator(node[1], left, right)

    def slice(self, node: Node) -> Any:
        value = self.eval(node[1])
        bounds = [None if n is None else self.eval(n) for n in node[2:5]]
        if not isinstance(value, (str, list, tuple)) or not all(b is None or is_int(b) for b in bounds):
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
            if not compare_values(op, left, right):
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
            return range_list(*args)
        if target[0] == "name" and target[1] in ("dict", "namespace"):
            return _mapping(target[1], args, kwargs)
        func = self.eval(target)
        if isinstance(func, Method):
            self.budget.visit(func.target)
            if func.name in PY2_DICT_METHODS and isinstance(func.target, dict):
                note(self.resolve, PY2_NOTE.format(name=func.name))
            return call_method(func, args, kwargs)
        if isinstance(func, Macro):
            return func.invoke(args, kwargs, self.budget)
        raise Unknown("calling this is not supported statically")

    def filter(self, node: Node) -> Any:
        _, arg, name, arg_nodes, kwarg_nodes = node
        name = short_name(name)
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
        if type(value) not in SCALARS:
            visit(value)
        for given in args:
            if type(given) not in SCALARS:
                visit(given)
        for given in kwargs.values():
            visit(given)

    def default(self, arg: Node, arg_nodes: list[Node], kwarg_nodes: dict[str, Node]) -> Any:
        depth = self.depth
        try:
            value = self.eval(arg)
        except Undefined:
            self.depth = depth
            value = MISSING
        boolean = (
            bool(self.eval(arg_nodes[1]))
            if len(arg_nodes) > 1
            else bool(kwarg_nodes and self.eval(kwarg_nodes.get("boolean", ("const", False))))
        )
        if value is MISSING or (boolean and not truth(value)):
            return self.eval(arg_nodes[0]) if arg_nodes else ""
        return value

    def test(self, node: Node) -> bool:
        _, arg, name, arg_nodes, negate, kwarg_nodes = node
        name = short_name(name)
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
        "tuple": tuple_,
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


def _mapping(kind: str, args: list[Any], kwargs: dict[str, Any]) -> dict[Any, Any]:
    """``dict(a=1)``, ``dict(other, a=1)``, ``namespace(a=1)``: a copy, never a shared one."""
    if len(args) > 1 or (args and not isinstance(args[0], dict)):
        raise Unknown(f"{kind}() with these arguments is not evaluated statically")
    made = {**(args[0] if args else {}), **kwargs}
    return Namespace(made) if kind == "namespace" else made


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


def evaluate(src: str, resolve: Resolver, budget: Budget | None = None, final: bool = True) -> Any:
    """Evaluate one expression; raises ``Unknown`` (or ``Undefined``) when it cannot (guarded).

    ``final``: the value as ansible-core returns it (tuples become lists: ``finalize``);
    a template keeps the tuple between its statements (``'x' ~ (1, 2)`` is ``x(1, 2)``).
    """
    try:
        node = parse(src)
    except TemplateSyntaxError as exc:
        raise Unknown(f"expression not understood: {exc}") from None
    except Exception as exc:
        raise _stray(exc, "parsing the expression") from None
    return evaluate_node(node, resolve, budget, final)


def evaluate_node(node: Node, resolve: Resolver, budget: Budget | None = None, final: bool = False) -> Any:
    """Evaluate a parsed expression (a template tag's); guarded like ``evaluate``."""
    try:
        value = Evaluator(resolve, budget).eval(node)
        if isinstance(value, Method):
            raise Unknown("a method that is not called")
        return finalize(value) if final else value
    except Unknown:
        raise
    except Exception as exc:
        raise _stray(exc, "evaluation") from None
