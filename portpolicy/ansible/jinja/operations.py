"""What an expression may do to a value: operators, attribute and item access, method calls.

Sandbox: no Python attribute access (only dict items and an allow-list of pure string,
list and dict methods; any name starting with ``_`` is refused). ``%``-formatting and
``str.format`` are in ``formatting.py``, which reads every specifier before it formats.
Operations whose result size is known in advance (``replace``, ``join``, ``*``, ``**``,
``range``) are refused before they build a result over the budget's limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible.jinja.budget import MAX_INT_BITS, MAX_LENGTH, check_int, check_length, measure
from portpolicy.ansible.jinja.formatting import percent_format, str_format
from portpolicy.ansible.jinja.values import (
    OMIT,
    SEQUENCES,
    BudgetExceeded,
    Macro,
    Undefined,
    Unknown,
    UnknownValue,
    finalize,
    hashable,
    is_int,
    is_number,
    type_name,
)


@dataclass(frozen=True)
class Method:
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
        "format",
    }
)
PY2_DICT_METHODS = {
    "iteritems": "items",
    "iterkeys": "keys",
    "itervalues": "values",
    "has_key": "__contains__",
}
"""Python 2's dict methods, which Ansible's Jinja rendered on Python 2 (roles still carry them):
evaluated as Python 2 did, each as its Python 3 counterpart (an iterator there, a list here, as
ansible-core turns views into lists). ansible-core on Python 3 fails on them (``'dict object'
has no attribute 'iteritems'``): the evaluator notes each use (``PY2_NOTE``)."""
PY2_NOTE = (
    "uses {name}(), a Python 2 dict method: evaluated as Python 2's Ansible did;"
    " it fails on current ansible-core (Python 3)"
)
_DICT_METHODS = frozenset({"get", "keys", "values", "items", *PY2_DICT_METHODS})
_LIST_METHODS = frozenset({"index", "count"})


def get_attribute(value: Any, name: Any) -> Any:
    if isinstance(name, str) and name.startswith("_"):
        raise Unknown(f"sandbox: attribute {name!r} is not accessible")
    if isinstance(value, dict):
        if hashable(name) in value:
            return value[name]
        if isinstance(name, str) and name in _DICT_METHODS:
            return Method(value, name)
        raise Undefined(f"no attribute {name!r}")
    if isinstance(value, SEQUENCES) and is_int(name):
        return get_item(value, name)
    if isinstance(value, str) and name in _STR_METHODS:
        return Method(value, name)
    if isinstance(value, SEQUENCES) and name in _LIST_METHODS:
        return Method(value, name)
    if isinstance(value, Macro) or (isinstance(name, str) and hasattr(type(value), name)):
        # Jinja would find a Python attribute or method here: not undefined, just not known.
        raise Unknown(f"attribute {name!r} of a {type_name(value)} is not evaluated statically")
    raise Undefined(f"{type_name(value)} has no attribute {name!r}")


def get_item(value: Any, key: Any) -> Any:
    if isinstance(key, str) and key.startswith("_"):
        raise Unknown(f"sandbox: item {key!r} is not accessible")
    if isinstance(value, dict):
        if hashable(key) in value:
            return value[key]
        raise Undefined(f"no key {key!r}")
    if isinstance(value, (list, tuple, str)) and is_int(key):
        if -len(value) <= key < len(value):
            return value[key]
        raise Undefined(f"index {key} out of range")
    if isinstance(value, (list, tuple, str)) and isinstance(key, str):
        return get_attribute(value, key)
    raise Undefined(f"{type_name(value)} has no item {key!r}")


def call_method(method: Method, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if method.name == "format":
        return str_format(method.target, args, kwargs)
    if kwargs:
        raise Unknown("keyword arguments to methods are not supported")
    target, name = method.target, method.name
    if name == "join":
        if len(args) != 1 or not isinstance(args[0], list) or not all(isinstance(a, str) for a in args[0]):
            raise Unknown("join() needs a list of strings")
        return join_bounded(target, args[0])
    if any(not isinstance(a, (str, int)) or isinstance(a, bool) for a in args):
        raise Unknown(f"unsupported arguments to {name}()")
    if name == "replace" and isinstance(target, str):
        return replace_bounded(target, *args)
    if isinstance(target, dict) and name in PY2_DICT_METHODS:
        if name == "has_key":
            if len(args) != 1:
                raise Unknown("has_key() takes one argument")
            return hashable(args[0]) in target
        name = PY2_DICT_METHODS[name]
    try:
        result: Any = getattr(target, name)(*args)
    except (TypeError, ValueError, OverflowError) as exc:
        raise Unknown(f"{name}() failed ({type(exc).__name__})") from None
    if isinstance(result, (type({}.keys()), type({}.values()), type({}.items()))):
        result = list(result)  # ansible-core turns a view into a list (of tuples, for items())
    return result


def replace_bounded(text: str, old: Any, new: Any, count: Any = -1) -> str:
    """``str.replace`` whose result size is known, and refused, before it is built."""
    if not isinstance(old, str) or not isinstance(new, str) or not is_int(count):
        raise Unknown("replace() needs two strings and a count")
    found = text.count(old) if old else len(text) + 1
    if 0 <= count < found:
        found = count
    if len(text) + found * (len(new) - len(old)) > MAX_LENGTH:
        raise BudgetExceeded(f"replace() would build a string longer than {MAX_LENGTH}")
    return text.replace(old, new, found)


def join_bounded(sep: str, parts: Iterable[str]) -> str:
    """``sep.join(parts)``, refused as soon as the parts add up to too long a string."""
    pieces: list[str] = []
    size = 0
    for part in parts:
        size += len(part) + (len(sep) if pieces else 0)
        if size > MAX_LENGTH:
            raise BudgetExceeded(f"join would build a string longer than {MAX_LENGTH}")
        pieces.append(part)
    return sep.join(pieces)


def range_list(*args: Any) -> list[int]:
    if not args or len(args) > 3 or not all(is_int(a) for a in args):
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


def apply_operator(op: str, a: Any, b: Any) -> Any:
    if op == "~":
        left, right = to_string(a), to_string(b)
        if len(left) + len(right) > MAX_LENGTH:
            raise BudgetExceeded(f"a string longer than {MAX_LENGTH}")
        return left + right
    if op == "+":
        if (is_number(a) and is_number(b)) or (type(a) is type(b) and isinstance(a, (str, list, tuple))):
            return a + b
        raise Unknown(f"cannot add {type_name(a)} and {type_name(b)}")
    if op == "*":
        return _multiply(a, b)
    if op == "%" and isinstance(a, str):
        return percent_format(a, b)
    if not (is_number(a) and is_number(b)):
        raise Unknown(f"cannot apply {op} to {type_name(a)} and {type_name(b)}")
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
    if is_number(a) and is_number(b):
        if is_int(a) and is_int(b) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            raise BudgetExceeded(f"a product larger than {MAX_INT_BITS} bits")
        return a * b
    seq, count = (a, b) if isinstance(a, (str, list, tuple)) else (b, a)
    if isinstance(seq, (str, list, tuple)) and is_int(count):
        if len(seq) * max(count, 0) > MAX_LENGTH:
            raise BudgetExceeded(f"repetition longer than {MAX_LENGTH}")
        return seq * count
    raise Unknown(f"cannot multiply {type_name(a)} and {type_name(b)}")


def _power(a: Any, b: Any) -> Any:
    """``a ** b``, refused before computing when the integer result would be too large."""
    if is_int(a) and is_int(b) and b > 0 and abs(a) > 1 and (a.bit_length() - 1) * b > MAX_INT_BITS:
        raise BudgetExceeded(f"exponent too large: the result would exceed {MAX_INT_BITS} bits")
    if isinstance(b, float) and isinstance(a, int) and a.bit_length() > 64:
        raise BudgetExceeded("exponent of a huge integer")
    return a**b


def compare_values(op: str, a: Any, b: Any) -> bool:
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "in":
            return contains(b, a)
        if op == "notin":
            return not contains(b, a)
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        raise Unknown(f"cannot compare {type_name(a)} and {type_name(b)} with {op}") from None
    raise Unknown(f"unsupported comparison {op}")  # pragma: no cover


def contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise Unknown("'in' a string needs a string")
        return item in container
    if isinstance(container, dict):
        return hashable(item) in container
    if isinstance(container, SEQUENCES):
        return item in container
    raise Unknown(f"'in' needs a string, list or mapping, not {type_name(container)}")


def to_string(value: Any) -> str:
    """Python's ``str()`` of a value, as Jinja's ``~`` and ``string`` give it (a bounded one).

    A tuple prints as ``(1, 2)``; anything but plain values (a macro, a namespace) is
    ``Unknown``: Jinja would print a Python object's repr.
    """
    if isinstance(value, str):
        return value
    if value is OMIT:
        raise Unknown("omit used inside a string")
    if isinstance(value, Method):
        raise Unknown("a method that is not called")
    if isinstance(value, UnknownValue):
        raise Unknown(value.reason)
    if isinstance(value, int):
        check_int(value)
    elif isinstance(value, (list, tuple, dict)):
        measure(value)
        finalize(value)  # refuses what has no plain value, anywhere inside
    elif not isinstance(value, (float, type(None))):
        raise Unknown(f"a {type_name(value)} is not printed statically")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return check_length(str(value))


def output_string(value: Any) -> str:
    """What ``{{ value }}`` writes into a template as ansible-core renders it: ``none`` is
    empty, a tuple is written as the list it becomes (``[1, 2]``)."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list, dict)):
        measure(value)
        value = finalize(value)
    return to_string(value)
