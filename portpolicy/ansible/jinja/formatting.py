"""``'%-20s' % x``, ``'%s:%d' | format(a, b)`` and ``'{}:{}'.format(a, b)``, as Python does them.

Jinja formats with Python itself, so these do too, after reading every specifier: a width
or precision above ``MAX_LENGTH`` (``%-999999999s``) is refused before anything is built,
and so is what Python would look up rather than format (``{0.attr}``, ``{0[key]}``,
``%*d``, a nested ``{:{width}}``). Only plain values are formatted (a macro's repr is not a
value); the result is bounded like every other string.
"""

from __future__ import annotations

import re
import string
from typing import Any

from portpolicy.ansible.jinja.budget import MAX_LENGTH, check_int, check_length, measure
from portpolicy.ansible.jinja.values import BudgetExceeded, Unknown, finalize

_PERCENT = re.compile(
    r"%(?:\((?P<key>[^()]*)\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<conv>.?)",
    re.S,
)
_CONVERSIONS = frozenset("diouxXeEfFgGcrsa%")
_FORMAT_SPEC = re.compile(
    r"(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?", re.S
)
_FIELD = re.compile(r"\d{0,6}|[A-Za-z_]\w*")
_RESERVE = 400
"""Characters a number may take when formatted (a 1,024-bit integer has 309 digits)."""


def percent_format(text: str, values: Any) -> str:
    """Python's ``text % values``: each specifier read and bounded first."""
    reserve = len(text)
    for spec in _PERCENT.finditer(text):
        if spec.group("conv") not in _CONVERSIONS:
            raise Unknown("%-format with an unknown conversion")
        reserve += _width(spec.group("width")) + _width(spec.group("precision")) + _RESERVE
    reserve += _plain_size(values)
    if reserve > 4 * MAX_LENGTH:
        raise BudgetExceeded(f"%-format would build a string longer than {MAX_LENGTH}")
    try:
        formatted: str = text % values
        return check_length(formatted)
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise Unknown(f"%-format failed ({type(exc).__name__})") from None


def str_format(text: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """Python's ``text.format(*args, **kwargs)`` on plain values, fields read first."""
    reserve = len(text)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        raise Unknown("format() string not understood") from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not _FIELD.fullmatch(name) or conversion not in (None, "s", "r", "a"):
            raise Unknown("format() field with an attribute, an index or a conversion")
        found = _FORMAT_SPEC.fullmatch(spec or "")
        if found is None or "{" in (spec or ""):
            raise Unknown("format() specifier not evaluated statically")
        reserve += _width(found.group("width")) + _width(found.group("precision")) + _RESERVE
    reserve += _plain_size(args) + _plain_size(kwargs)
    if reserve > 4 * MAX_LENGTH:
        raise BudgetExceeded(f"format() would build a string longer than {MAX_LENGTH}")
    try:
        return check_length(text.format(*args, **kwargs))
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise Unknown(f"format() failed ({type(exc).__name__})") from None


def _width(digits: str | None) -> int:
    """A width or precision as written; ``*`` (taken from the values) is not read statically."""
    if not digits:
        return 0
    if digits == "*":
        raise Unknown("a width taken from the values (*) is not evaluated statically")
    if len(digits) > 6 or int(digits) > MAX_LENGTH:
        raise BudgetExceeded(f"a format width or precision above {MAX_LENGTH}")
    return int(digits)


def _plain_size(values: Any) -> int:
    """Characters the values may print as (refusing what has no plain value and integers
    over the size limit, which Python would spend quadratic time printing)."""
    finalize(values)
    stack = [values]
    while stack:
        value = stack.pop()
        if isinstance(value, int):
            check_int(value)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    items, chars = measure(values) if isinstance(values, (list, tuple, dict)) else (1, 0)
    if isinstance(values, str):
        chars = len(values)
    return 4 * chars + 8 * items
