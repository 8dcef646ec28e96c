"""Portpolicy's own regular expressions, compiled on first use (#13).

A module that holds many patterns (the recognition signatures, the readers' helpers) costs
nothing to import this way, and a one-file check compiles only the few its file is tested
with. Patterns written in scanned content go to ``portpolicy.regex`` (RE2) instead.
"""

from __future__ import annotations

import re
from typing import Any, cast


class _Lazy:
    """A ``re`` pattern compiled on its first use.

    The first attribute asked for compiles it and copies the compiled pattern's methods and
    attributes onto this object, so every later ``search``/``match``/... is the compiled
    pattern's own bound method, found in the instance dict: no call in between.
    """

    _ATTRIBUTES = (
        "search",
        "match",
        "fullmatch",
        "finditer",
        "findall",
        "sub",
        "subn",
        "split",
        "scanner",
        "pattern",
        "flags",
        "groups",
        "groupindex",
    )

    def __init__(self, pattern: str, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_source":  # copy, pickle and dir ask before __init__ ran
            raise AttributeError(name)
        compiled = re.compile(*self._source)
        for attribute in self._ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r})"


def lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)`` on first use: its methods and attributes, not an instance of ``re.Pattern``."""
    return cast("re.Pattern[str]", _Lazy(pattern, flags))
