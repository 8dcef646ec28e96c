"""What one evaluation may spend: the limits, and the ``Budget`` that counts steps against them.

Scanned content is hostile (a pull request in CI), so every evaluation runs under a
``Budget``, one per expression (``evaluate``) or per template render (``render``), passed
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
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from portpolicy.ansible.jinja.values import BudgetExceeded, type_name

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
MAX_CALL_DEPTH = 20
"""Macro calls, imports and ``extends`` nested in each other (a macro calling itself)."""
MAX_ROUND_DIGITS = 100
"""``round(x, n)`` with a huge ``n`` computes ``10 ** n``."""


class Budget:
    """What one expression or template render may still spend (the limits are above).

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
        if type(value) in SCALARS:
            return
        if isinstance(value, str):
            if len(value) >= 64:
                self.spend(len(value) >> 6)
        elif isinstance(value, (list, tuple, dict)):
            items, chars = measure(value)
            self.spend((items >> 2) + (chars >> 6))


SCALARS = frozenset({int, float, bool, type(None)})
_MEASURED = (str, list, tuple, dict)


def check_int(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer larger than {MAX_INT_BITS} bits")
    return value


def check_length(value: _T) -> _T:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_LENGTH:
        what = "string" if isinstance(value, str) else type_name(value)
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
        elif isinstance(node, (list, tuple, dict)):
            if depth >= MAX_VALUE_DEPTH:
                raise BudgetExceeded(f"a value nested deeper than {MAX_VALUE_DEPTH} levels")
            check_length(node)
            items += len(node)
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, _MEASURED))
        if items + chars > MAX_VALUE_SIZE:
            raise BudgetExceeded(f"a value of more than {MAX_VALUE_SIZE} items and characters")
    return items, chars


def size_of(value: Any) -> int:
    """Items and characters ``value`` adds to a produced list (at least 1)."""
    if isinstance(value, str):
        return len(value) + 1
    if isinstance(value, (list, tuple, dict)):
        return sum(measure(value)) + 1
    return 1


class Evaluation(Protocol):
    """What a filter sees of the evaluation that calls it: the budget it spends from."""

    @property
    def budget(self) -> Budget: ...
