"""Ansible's and Jinja's filters that port values use: ``FILTERS``, name -> function.

Each filter takes the ``Evaluation`` (whose budget it spends while it visits items), the
value and the filter's arguments. What a filter cannot do statically raises ``Unknown``;
every result that can grow is bounded before or while it is built. The regular-expression
filters are in ``regex_filters.py``, the tests (``is defined``, ``is version``) in
``predicates.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from portpolicy.ansible.jinja.budget import (
    MAX_LENGTH,
    MAX_ROUND_DIGITS,
    MAX_VALUE_DEPTH,
    MAX_VALUE_SIZE,
    Evaluation,
    check_int,
    check_length,
    measure,
    size_of,
)
from portpolicy.ansible.jinja.formatting import percent_format
from portpolicy.ansible.jinja.operations import (
    get_attribute,
    get_item,
    join_bounded,
    replace_bounded,
    to_string,
)
from portpolicy.ansible.jinja.predicates import TESTS
from portpolicy.ansible.jinja.regex_filters import regex_escape, regex_findall, regex_replace, regex_search
from portpolicy.ansible.jinja.values import (
    MISSING,
    SEQUENCES,
    BudgetExceeded,
    Undefined,
    Unknown,
    finalize,
    hashable,
    is_int,
    is_number,
    truth,
    type_name,
)


def short_name(name: str) -> str:
    """``ansible.builtin.int`` and ``int`` name the same filter."""
    return name.rsplit(".", 1)[-1]


def _f_int(_: Evaluation, value: Any, default: Any = 0, base: int = 10) -> Any:
    if is_int(value):
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


def _f_float(_: Evaluation, value: Any, default: Any = 0.0) -> Any:
    try:
        return float(value) if not isinstance(value, (list, dict)) else default
    except (TypeError, ValueError):
        return default


def _f_bool(_: Evaluation, value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    return value is True or (is_number(value) and value == 1)


def _f_join(ev: Evaluation, value: Any, sep: Any = "", attribute: Any = None) -> str:
    if not isinstance(value, SEQUENCES):
        raise Unknown("join needs a list")
    if attribute is not None:
        value = [get_attribute(v, attribute) for v in value]
    return join_bounded(to_string(sep), (to_string(v) for v in value))


def _f_ternary(_: Evaluation, value: Any, yes: Any = True, no: Any = False, none: Any = MISSING) -> Any:
    if value is None and none is not MISSING:
        return none
    return yes if truth(value) else no


def _f_split(_: Evaluation, value: Any, sep: Any = None, maxsplit: int = -1) -> list[str]:
    if not isinstance(value, str):
        raise Unknown("split needs a string")
    return value.split(sep, maxsplit)


def _f_replace(_: Evaluation, value: Any, old: Any, new: Any, count: Any = -1) -> str:
    return replace_bounded(to_string(value), old, new, count)


def _f_length(_: Evaluation, value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise Unknown(f"length of {type_name(value)}")


def _f_list(_: Evaluation, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, str)):
        return list(value)
    if isinstance(value, dict):
        return list(value)
    raise Unknown(f"list of {type_name(value)}")


def _f_first(_: Evaluation, value: Any) -> Any:
    if isinstance(value, (list, tuple, str)) and value:
        return value[0]
    raise Undefined("first of an empty sequence")


def _f_last(_: Evaluation, value: Any) -> Any:
    if isinstance(value, (list, tuple, str)) and value:
        return value[-1]
    raise Undefined("last of an empty sequence")


def _f_flatten(ev: Evaluation, value: Any, levels: Any = None) -> list[Any]:
    if not isinstance(value, SEQUENCES):
        raise Unknown("flatten needs a list")
    if levels is not None and not is_int(levels):
        raise Unknown("flatten levels must be an integer")
    out: list[Any] = []
    stack: list[tuple[Iterator[Any], int]] = [(iter(value), 0)]
    while stack:
        items, depth = stack[-1]
        item = next(items, MISSING)
        if item is MISSING:
            stack.pop()
            continue
        ev.budget.spend()
        if isinstance(item, SEQUENCES) and (levels is None or depth < levels):
            if len(stack) > MAX_VALUE_DEPTH:
                raise BudgetExceeded(f"flatten of a list nested deeper than {MAX_VALUE_DEPTH} levels")
            stack.append((iter(item), depth + 1))
        elif item is not None:
            out.append(item)
            check_length(out)
    return out


def _frozen(value: Any) -> Any:
    """A hashable stand-in that is equal exactly when the values are (for ``unique``)."""
    if isinstance(value, SEQUENCES):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((_frozen(k), _frozen(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return value


def _f_unique(ev: Evaluation, value: Any, case_sensitive: Any = None, attribute: Any = None) -> list[Any]:
    """Ansible's ``unique``: Jinja's (strings compared ignoring case unless ``case_sensitive``)
    when the items can be hashed, else each item once by equality. Linear either way."""
    if not isinstance(value, SEQUENCES) or attribute is not None:
        raise Unknown("unique needs a list (and no attribute)")
    try:
        keys = [_ignore_case(item, case_sensitive) for item in value]
        for key in keys:
            hash(key)
    except TypeError:
        if case_sensitive is False:
            raise Unknown("unique of unhashable items with case_sensitive=false fails in Ansible") from None
        keys = [_frozen(item) for item in value]
    seen: set[Any] = set()
    out: list[Any] = []
    for item, key in zip(value, keys, strict=True):
        ev.budget.spend()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _f_map(ev: Evaluation, value: Any, *args: Any, **kwargs: Any) -> list[Any]:
    if not isinstance(value, SEQUENCES):
        raise Unknown("map needs a list")
    if "attribute" in kwargs:
        attr = kwargs["attribute"]
        out = []
        for v in value:
            ev.budget.spend()
            try:
                out.append(get_attribute(v, attr) if not is_int(attr) else get_item(v, attr))
            except Undefined:
                if "default" not in kwargs:
                    raise
                out.append(kwargs["default"])
        return out
    if not args:
        raise Unknown("map needs a filter name or attribute=")
    func = FILTERS.get(short_name(str(args[0])))
    if func is None:
        raise Unknown(f"map with filter {args[0]!r} is not evaluated statically")
    mapped: list[Any] = []
    size = 0
    for v in value:
        ev.budget.spend()
        result = ev.budget.check(func(ev, v, *args[1:]))
        size += size_of(result)
        if size > MAX_VALUE_SIZE:
            raise BudgetExceeded(f"map would build more than {MAX_VALUE_SIZE} items and characters")
        mapped.append(result)
    return mapped


def _select(ev: Evaluation, value: Any, keep: bool, attr: Any, test: Any = "truthy", *args: Any) -> list[Any]:
    if not isinstance(value, SEQUENCES):
        raise Unknown("select needs a list")
    func = TESTS.get(short_name(str(test)))
    if func is None:
        raise Unknown(f"select with test {test!r} is not evaluated statically")
    out = []
    for v in value:
        ev.budget.spend()
        subject = v
        if attr is not None:
            try:
                subject = get_attribute(v, attr)
            except Undefined:
                subject = MISSING
        if test == "undefined":
            ok = subject is MISSING
        elif test == "defined":
            ok = subject is not MISSING
        else:
            ok = subject is not MISSING and bool(func(subject, *args))
        if ok == keep:
            out.append(v)
    return out


def _f_dict2items(ev: Evaluation, value: Any, key_name: str = "key", value_name: str = "value") -> list[Any]:
    if not isinstance(value, dict):
        raise Unknown("dict2items needs a mapping")
    ev.budget.spend(len(value))
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _f_items2dict(
    _: Evaluation, value: Any, key_name: str = "key", value_name: str = "value"
) -> dict[Any, Any]:
    if not isinstance(value, SEQUENCES):
        raise Unknown("items2dict needs a list")
    return {hashable(item[key_name]): item[value_name] for item in value}


def _f_combine(
    ev: Evaluation, value: Any, *others: Any, recursive: bool = False, **__: Any
) -> dict[Any, Any]:
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


def _f_format(_: Evaluation, value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's ``format``: ``str(value) % (kwargs or args)``, every specifier bounded."""
    if args and kwargs:
        raise Unknown("format with both positional and keyword arguments")
    return percent_format(to_string(value), kwargs or args)


def _f_center(_: Evaluation, value: Any, width: Any = 80) -> str:
    """``str.center``: Jinja centres the value's text (``5 | center(4)`` is ``' 5  '``)."""
    if not is_int(width):
        raise Unknown("center needs an integer width")
    if width > MAX_LENGTH:
        raise BudgetExceeded(f"center width above {MAX_LENGTH}")
    return to_string(value).center(width)


def _f_truncate(
    _: Evaluation, value: Any, length: Any = 255, killwords: Any = False, end: Any = "...", leeway: Any = 5
) -> str:
    """Jinja's ``truncate`` (its default policy: ``leeway`` 5), cut at a word unless ``killwords``."""
    if not isinstance(value, str) or not is_int(length) or not isinstance(end, str) or not is_int(leeway):
        raise Unknown("truncate needs a string, an integer length and leeway, and a string end")
    if length < len(end) or leeway < 0:
        raise Unknown("truncate: length shorter than the end marker, or a negative leeway")
    if len(value) <= length + leeway:
        return value
    if truth(killwords):
        return value[: length - len(end)] + end
    return value[: length - len(end)].rsplit(" ", 1)[0] + end


def _f_indent(_: Evaluation, value: Any, width: Any = 4, first: Any = False, blank: Any = False) -> str:
    """Jinja's ``indent``: every line but the first (``first``) and blank ones (``blank``)."""
    if not isinstance(value, str) or not (is_int(width) or isinstance(width, str)):
        raise Unknown("indent needs a string and an integer or string width")
    if is_int(width) and width > MAX_LENGTH:
        raise BudgetExceeded(f"indent width above {MAX_LENGTH}")
    indention = width if isinstance(width, str) else " " * max(width, 0)
    text = value + "\n"
    lines = text.splitlines()
    if len(text) + len(indention) * (len(lines) + 1) > MAX_LENGTH:
        raise BudgetExceeded(f"indent would build a string longer than {MAX_LENGTH}")
    if truth(blank):
        result = ("\n" + indention).join(lines)
    else:
        result = lines.pop(0)
        if lines:
            result += "\n" + "\n".join(indention + line if line else line for line in lines)
    return indention + result if truth(first) else result


def _f_reverse(_: Evaluation, value: Any) -> Any:
    """A reversed string, or the list ansible-core makes of Jinja's reversed iterator."""
    if isinstance(value, str):
        return value[::-1]
    if isinstance(value, SEQUENCES):
        return list(reversed(value))
    raise Unknown(f"reverse of {type_name(value)}")


def _f_to_json(_: Evaluation, value: Any) -> str:
    """``to_json`` without options: ``json.dumps`` of a plain value (no NaN, no special types)."""
    items, chars = measure(value) if isinstance(value, (list, tuple, dict)) else (0, 0)
    if 2 * chars + 8 * items > MAX_LENGTH:
        raise BudgetExceeded(f"to_json would build a string longer than {MAX_LENGTH}")
    plain = finalize(value)
    if is_int(plain):
        check_int(plain)
    if isinstance(plain, float) and not math.isfinite(plain):
        raise Unknown("to_json of a number that JSON cannot write")
    try:
        return check_length(json.dumps(plain, allow_nan=False))
    except (TypeError, ValueError):
        raise Unknown("to_json of a value that is not plain JSON") from None


def _f_sum(ev: Evaluation, value: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Numbers add up; ``start=[]`` concatenates lists in linear time (not ``sum``'s quadratic)."""
    if not isinstance(value, SEQUENCES):
        raise Unknown("sum needs a list")
    items = [get_attribute(v, attribute) for v in value] if attribute is not None else value
    if isinstance(start, list):
        total = list(start)
        for item in items:
            ev.budget.spend()
            if not isinstance(item, list):
                raise Unknown(f"sum of lists with a {type_name(item)} in it")
            total.extend(item)
            check_length(total)
        return total
    result = start
    for item in items:
        ev.budget.spend()
        if not is_number(result) or not is_number(item):
            raise Unknown(f"sum of {type_name(item)}")
        result = result + item
        if is_int(result):
            check_int(result)
    return result


def _f_round(_: Evaluation, value: Any, precision: Any = 0, method: Any = "common") -> Any:
    if not is_number(value) or not is_int(precision) or abs(precision) > MAX_ROUND_DIGITS:
        raise Unknown("round needs a number and a small integer precision")
    if method == "common":
        return round(value, precision)
    if method in ("ceil", "floor"):
        scale = 10.0**precision
        func = math.ceil if method == "ceil" else math.floor
        return func(value * scale) / scale
    raise Unknown(f"round method {method!r}")


def _f_basename(_: Evaluation, value: Any) -> str:
    return to_string(value).rsplit("/", 1)[-1]


def _f_dirname(_: Evaluation, value: Any) -> str:
    text = to_string(value)
    return text.rsplit("/", 1)[0] if "/" in text else ""


_STABLE_HASH = (int, float, bool)


def _list_op(op: str) -> Callable[..., list[Any]]:
    """Ansible's ``union``/``intersect``/``difference``: a Python set's order when the items
    hash, which is only known for numbers (a string's hash changes with each process)."""

    def run(ev: Evaluation, a: Any, b: Any) -> list[Any]:
        if not isinstance(a, SEQUENCES) or not isinstance(b, SEQUENCES):
            raise Unknown(f"{op} needs lists")
        ev.budget.spend(len(a) + len(b))
        try:
            first, second = set(a), set(b)
        except TypeError:
            if op == "union":
                return _f_unique(ev, [*a, *b], True)
            others = {_frozen(x) for x in b}
            wanted = op == "intersect"
            return _f_unique(ev, [x for x in a if (_frozen(x) in others) == wanted], True)
        if not all(type(x) in _STABLE_HASH for x in (*first, *second)):
            raise Unknown(f"{op} of strings: the order of the result depends on Python's hash seed")
        found = first | second if op == "union" else first & second if op == "intersect" else first - second
        return list(found)

    return run


def _ignore_case(value: Any, case_sensitive: Any) -> Any:
    """Jinja sorts strings by their lower case unless ``case_sensitive``."""
    return value.lower() if isinstance(value, str) and not truth(case_sensitive) else value


def _f_sort(
    _: Evaluation, value: Any, reverse: Any = False, case_sensitive: Any = False, attribute: Any = None
) -> Any:
    if not isinstance(value, SEQUENCES):
        raise Unknown("sort needs a list")
    if attribute is not None and not isinstance(attribute, str):
        raise Unknown("sort by an attribute that is not a name")
    if attribute is not None and ("," in attribute or "." in attribute):
        raise Unknown("sort by several or dotted attributes is not evaluated statically")

    def key(item: Any) -> Any:
        return _ignore_case(get_attribute(item, attribute) if attribute is not None else item, case_sensitive)

    try:
        return sorted(value, key=key, reverse=truth(reverse))
    except TypeError:
        raise Unknown("sort of mixed types") from None


def _f_dictsort(
    _: Evaluation, value: Any, case_sensitive: Any = False, by: Any = "key", reverse: Any = False
) -> Any:
    """Jinja's ``dictsort``: (key, value) tuples, sorted by key or value, ignoring case."""
    if not isinstance(value, dict) or by not in ("key", "value"):
        raise Unknown("dictsort needs a mapping, by 'key' or 'value'")
    index = 0 if by == "key" else 1
    try:
        return sorted(
            value.items(), key=lambda kv: _ignore_case(kv[index], case_sensitive), reverse=truth(reverse)
        )
    except TypeError:
        raise Unknown("dictsort of mixed types") from None


def _f_min_max(pick: Callable[..., Any]) -> Callable[..., Any]:
    def run(_: Evaluation, value: Any, **__: Any) -> Any:
        if not isinstance(value, (list, tuple, str, dict)):
            raise Unknown(f"{pick.__name__} needs a list")
        return pick(value)

    return run


FILTERS: dict[str, Callable[..., Any]] = {
    "dictsort": _f_dictsort,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "regex_findall": regex_findall,
    "regex_escape": regex_escape,
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
    "reverse": _f_reverse,
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
    "truncate": _f_truncate,
    "indent": _f_indent,
    "capitalize": lambda _, v: to_string(v).capitalize(),
    "to_json": _f_to_json,
    "comment": lambda _, v, *a, **k: "#\n# " + to_string(v) + "\n#",
    "quote": lambda _, v: (
        to_string(v)
        if re.fullmatch(r"[\w@%+=:,./-]*", to_string(v))
        else "'" + to_string(v).replace("'", "'\"'\"'") + "'"
    ),
}
