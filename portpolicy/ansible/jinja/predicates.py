"""Jinja's and Ansible's tests (``x is version('2', '>=')``): ``TESTS``, name -> function.

``defined`` and ``undefined`` need the unevaluated operand, so the evaluator handles them
itself; every other test is a function of the value and the test's arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from portpolicy.ansible.jinja.operations import contains, to_string
from portpolicy.ansible.jinja.regex_filters import regex_test
from portpolicy.ansible.jinja.values import Unknown, is_int, is_number, truth

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


def _t_sameas(value: Any, other: Any) -> bool:
    """``is sameas``: identity, known only for ``none``, ``true`` and ``false`` (whether two
    other values are one object depends on how ansible-core built them)."""
    if other is None or other is True or other is False:
        return value is other
    raise Unknown("sameas is only evaluated against none, true and false")


TESTS: dict[str, Callable[..., Any]] = {
    "version": _t_version,
    "version_compare": _t_version,
    "match": regex_test("match"),
    "search": regex_test("search"),
    "regex": regex_test("regex"),
    "none": lambda v: v is None,
    "true": lambda v: v is True,
    "false": lambda v: v is False,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "number": is_number,
    "integer": is_int,
    "float": lambda v: isinstance(v, float),
    "mapping": lambda v: isinstance(v, dict),
    "sequence": lambda v: isinstance(v, (list, tuple, str, dict)),
    "iterable": lambda v: isinstance(v, (list, tuple, str, dict)),
    "sameas": _t_sameas,
    "in": lambda v, seq: contains(seq, v),
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
    "truthy": truth,
    "falsy": lambda v: not truth(v),
}
