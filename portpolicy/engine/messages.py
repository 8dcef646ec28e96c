"""A finding's text: the rule's template filled from the fact, its join binding and its phrases.

Only the rule's template is parsed; values are inserted as they are.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from portpolicy.engine.fields import Binding
from portpolicy.engine.rules import Rule


class _Fields(Mapping[str, Any]):
    """What a template names: ``{namespace.ephemeral_range.value}``, ``{other.service}``, a phrase."""

    def __init__(self, fact: Any, binding: Binding, phrases: Mapping[str, str]) -> None:
        self.fact, self.binding, self.phrases = fact, binding, phrases

    def __getitem__(self, key: str) -> Any:
        if key in self.binding:
            return self.binding[key]
        if key in self.phrases:
            return self.phrases[key]
        return getattr(self.fact, key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


CUT = re.compile(r"\.(\d+)")
"""A format spec that is only a precision: ``{value:.80}``."""


class _Formatter(string.Formatter):
    """``str.format`` with two additions for messages: a list is written as its items joined by
    ", " (a set's sorted), and a precision cuts any value's text, marking the cut with "..."
    (a hostile value can be megabytes; the finding points at it anyway).

    Only the rule's template is parsed: a value (scanned content, a phrase's text) is inserted
    as it is, never read as a template.
    """

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise KeyError(key)
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, (tuple, list)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, (set, frozenset)):
            value = ", ".join(sorted(str(v) for v in value))
        cut = CUT.fullmatch(format_spec)
        if cut is None:
            return format(value, format_spec)
        text, limit = str(value), int(cut.group(1))
        return text if len(text) <= limit else text[:limit] + "..."


_FORMATTER = _Formatter()


def render(template: str, fact: Any, binding: Binding, phrases: Mapping[str, str] | None = None) -> str:
    try:
        return _FORMATTER.vformat(template, (), _Fields(fact, binding, phrases or {}))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        return f"{template} [template error: {exc}]"


def phrase_texts(part: Rule, fact: Any, start: Binding, binding: Binding) -> dict[str, str]:
    """Each of ``part.phrases`` rendered: its first choice that holds, or ""."""
    texts: dict[str, str] = {}
    for name, choices in part.phrases:
        chosen = next((text for cond, text in choices if cond(fact, binding) is not None), None)
        texts[name] = "" if chosen is None else render(chosen, fact, binding)
    return texts
