"""The values an expression deals in, and the ways an evaluation says it cannot know one.

``Unknown`` (with a reason shown to users) is how every part of the evaluator refuses:
the caller leaves the value unresolved. ``UnknownValue`` is a variable known to be
unknown; ``OMIT`` is Ansible's ``omit``. The small predicates below (``truth``, ``is_int``)
are the language's view of plain Python values, shared by the operators, filters and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


MAX_NOTES = 20
"""Notes one resolver collects at most (``note``)."""


def note(resolve: Resolver, text: str) -> None:
    """Tell the resolver's owner something it may show in ``-v`` (a form that current Ansible
    refuses, evaluated as older Ansible did): kept in ``resolve.notes`` (a dict used as an
    ordered set) when the resolver has one, and dropped otherwise. The evaluation is unchanged."""
    sink = getattr(resolve, "notes", None)
    if isinstance(sink, dict) and (text in sink or len(sink) < MAX_NOTES):
        sink[text] = None


MISSING = object()
"""A sentinel: no value at all (an undefined operand, an exhausted iterator)."""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    return type(value).__name__


def truth(value: Any) -> bool:
    """Jinja's truth: Python's, except that ``omit`` is true."""
    if value is OMIT:
        return True
    return bool(value)


def known(value: Any) -> Any:
    """A value read out of a container: ``{% set ns.x = ... %}`` may have stored an unknown one."""
    if isinstance(value, UnknownValue):
        raise Unknown(value.reason)
    return value


def hashable(value: Any) -> Any:
    """``value`` as a mapping key, or ``Unknown`` when it cannot be one."""
    if isinstance(value, (list, dict)):
        raise Unknown("a list or mapping cannot be a mapping key")
    try:
        hash(value)
    except TypeError:
        raise Unknown(f"a {type_name(value)} cannot be a mapping key") from None
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


SEQUENCES = (list, tuple)
"""A list as written in YAML, or a tuple written in an expression (``(1, 2)``, ``dictsort``)."""


class Namespace(dict[str, Any]):
    """``namespace(x=1)``: a mapping ``{% set ns.x %}`` may change; Jinja prints it differently."""


class LoopContext(dict[str, Any]):
    """Jinja's ``loop`` inside a ``{% for %}``: read like a mapping, printed as an object."""


class TemplateModule(dict[str, Any]):
    """What ``{% import 'x.j2' as m %}`` binds: the imported template's macros and top-level sets."""


class Macro:
    """A ``{% macro %}`` (or a ``{% call %}`` body): called, it renders to a string.

    The evaluator only calls it (``invoke``); the templates module knows how to render it.
    """

    name = "macro"

    def invoke(self, args: list[Any], kwargs: dict[str, Any], budget: Any) -> str:
        raise Unknown(f"macro {self.name!r} cannot be called here")


_PLAIN = (str, int, float, bool, type(None))


def finalize(value: Any, depth: int = 0) -> Any:
    """``value`` as ansible-core hands it back: tuples become lists, nested ones too.

    What has no plain value (a macro, a namespace, an imported template) is ``Unknown``.
    A value with nothing to change is returned as it is (no copy of a large YAML list).
    Bounded by the value's depth (``measure`` bounds its size before any caller gets here).
    """
    if type(value) in _PLAIN_TYPES:
        return value
    if depth > 64:
        raise BudgetExceeded("a value nested deeper than 64 levels")
    if isinstance(value, (Namespace, LoopContext, TemplateModule, Macro)):
        raise Unknown(f"a {type_name(value)} has no plain value")
    if isinstance(value, SEQUENCES):
        items = [finalize(v, depth + 1) for v in value]
        if type(value) is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if isinstance(value, dict):
        pairs = [(finalize(k, depth + 1), finalize(v, depth + 1)) for k, v in value.items()]
        if all(k is a and v is b for (k, v), (a, b) in zip(pairs, value.items(), strict=True)):
            return value
        return {hashable(k): v for k, v in pairs}
    if isinstance(value, _PLAIN) or value is OMIT or isinstance(value, UnknownValue):
        return value
    raise Unknown(f"a {type_name(value)} has no plain value")


_PLAIN_TYPES = frozenset(_PLAIN)
