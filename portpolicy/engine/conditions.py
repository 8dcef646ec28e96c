"""Rule conditions compiled once into closures: ``all``/``any``/``not``, field comparisons,
port-range operators (``overlaps``, ``inside``), RE2 ``matches`` and ``exists`` joins."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from portpolicy.engine.fields import Binding, Condition, Getter, check_path, resolve
from portpolicy.engine.joins import join_condition, plan_join
from portpolicy.model import PortRange, PortSet
from portpolicy.readers.base import ascii_int, shown


def always(f: Any, b: Binding) -> Binding | None:
    return b


def _getter(path: str, fact: str, join_fact: str | None) -> Getter:
    check_path(path, fact, join_fact)
    parts = tuple(path.split("."))
    if parts[0] == "other":
        rest = parts[1:]
        return lambda f, b: resolve(b.get("other"), rest)
    if parts[0] == "self":
        parts = parts[1:]
    return lambda f, b: resolve(f, parts)


def _port_value(value: Any) -> Any:
    """Literal port specs in rules (``8080``, ``"30000-32767"``, ``"22,80,443"``) as port objects."""
    if isinstance(value, int) and not isinstance(value, bool):
        return PortRange(value, value)
    if isinstance(value, str):
        ranges = []
        for token in value.split(","):
            a, _, b = token.strip().partition("-")
            start, end = ascii_int(a), ascii_int(b or a)
            if start is None or end is None or max(start, end) > 65535:
                raise ValueError(f"{shown(value)!r} is not a port, range or list of them")
            ranges.append(PortRange(start, end))
        return ranges[0] if len(ranges) == 1 else PortSet.of(ranges)
    raise ValueError(f"{shown(repr(value))} is not a port, range or list of them")


def _overlaps(a: Any, b: Any) -> bool:
    return bool(a.overlaps(b)) if hasattr(a, "overlaps") else False


def _inside(a: Any, b: Any) -> bool:
    return bool(a.inside(b)) if hasattr(a, "inside") else False


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(a: Any, b: Any) -> bool:
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        try:
            return fn(a, b)
        except TypeError:
            return False

    return op


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> Any:
    """A rule's ``matches`` pattern in RE2 (linear time: the subject is scanned content).

    A pattern RE2 refuses (backreferences, lookaround) is a rule error at load time; one
    taken from a fact (``ref``) that RE2 refuses matches nothing.
    """
    from portpolicy.regex import RegexRefused, compile_untrusted

    try:
        return compile_untrusted(text)
    except RegexRefused:
        return _NEVER


class _Never:
    def search(self, _text: str) -> None:
        return None


_NEVER = _Never()


BINARY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a is not None and a == b,
    "ne": lambda a, b: a is not None and a != b,
    "lt": _cmp(lambda a, b: bool(a < b)),
    "le": _cmp(lambda a, b: bool(a <= b)),
    "gt": _cmp(lambda a, b: bool(a > b)),
    "ge": _cmp(lambda a, b: bool(a >= b)),
    "in": lambda a, b: a is not None and a in b,
    "not_in": lambda a, b: a is not None and a not in b,
    "overlaps": lambda a, b: a is not None and b is not None and _overlaps(a, b),
    "inside": lambda a, b: a is not None and b is not None and _inside(a, b),
    "not_inside": lambda a, b: a is not None and b is not None and not _inside(a, b),
    "matches": lambda a, b: a is not None and _pattern(str(b)).search(str(a)) is not None,
}

UNARY_OPS: dict[str, Callable[[Any], bool]] = {
    "exists": lambda a: a is not None,
    "missing": lambda a: a is None,
    "empty": lambda a: not a,
    "nonempty": lambda a: bool(a),
}


def compile_condition(node: dict[str, Any], fact: str, join_fact: str | None) -> Condition:
    if "all" in node:
        parts = [compile_condition(n, fact, join_fact) for n in node["all"]]

        def all_of(f: Any, b: Binding) -> Binding | None:
            for p in parts:
                got = p(f, b)
                if got is None:
                    return None
                b = got
            return b

        return all_of
    if "any" in node:
        options = [compile_condition(n, fact, join_fact) for n in node["any"]]

        def any_of(f: Any, b: Binding) -> Binding | None:
            for p in options:
                got = p(f, b)
                if got is not None:
                    return got
            return None

        return any_of
    if "not" in node:
        inner = compile_condition(node["not"], fact, join_fact)
        return lambda f, b: b if inner(f, b) is None else None
    if "exists" in node:
        return _join_condition(node["exists"], fact)
    field = _getter(node["field"], fact, join_fact)
    op = node["op"]
    if op in UNARY_OPS:
        test = UNARY_OPS[op]
        return lambda f, b: b if test(field(f, b)) else None
    if op not in BINARY_OPS:
        raise ValueError(f"unknown operator {op!r}")
    binary = BINARY_OPS[op]
    if "ref" in node:
        other = _getter(node["ref"], fact, join_fact)
    else:
        value = node["value"]
        if op in {"overlaps", "inside", "not_inside"}:
            value = _port_value(value)
        elif op == "matches":
            from portpolicy.regex import RegexRefused, compile_untrusted

            try:
                compile_untrusted(str(value))
            except RegexRefused as exc:
                raise ValueError(exc.reason) from None
        other = lambda f, b: value  # noqa: E731
    return lambda f, b: b if binary(field(f, b), other(f, b)) else None


def _join_condition(spec: dict[str, Any], fact: str) -> Condition:
    kind = spec["fact"]
    for p in spec.get("same", ()):
        check_path(p, fact, None)
        check_path(p, kind, None)
    where = compile_condition(spec["where"], fact, kind) if "where" in spec else (lambda f, b: b)
    return join_condition(plan_join(spec), where)
