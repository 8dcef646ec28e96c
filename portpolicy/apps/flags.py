"""Command-line options in every spelling: ``--name=v``, ``--name v``, ``-name``, ``-p80``, ``-Dkey=v``."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from portpolicy.records import record


@record
class _Hit:
    flag: str
    value: str


def flag_hits(names: Sequence[str], args: tuple[str, ...]) -> list[_Hit]:
    """Every occurrence of one of ``names`` in ``args`` with its value, in order."""
    hits: list[_Hit] = []
    if not names:
        return hits
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            break
        if not word.startswith("-"):
            continue
        for name in names:
            value = _flag_value(name, word, args, i)
            if value is None:
                continue
            text, used = value
            hits.append(_Hit(name, text))
            i += used
            break
    return hits


def _flag_value(name: str, word: str, args: tuple[str, ...], i: int) -> tuple[str, int] | None:
    """The value ``word`` (and maybe the next one) gives flag ``name``: (value, words used)."""
    if name.startswith(("-D", "-E")) and not name.startswith("--"):
        key, eq, value = word.partition("=")
        return (value, 0) if eq and key == name else None
    if not name.startswith("--"):  # a short option: -p 80, -p80
        if word == name:
            return (args[i], 1) if i < len(args) else ("", 0)
        if len(name) == 2 and word.startswith(name) and not word.startswith("--"):
            return word[2:].removeprefix("="), 0
        return None
    key, eq, value = word.partition("=")
    bare = key.lstrip("-")
    if key.startswith("---") or not _same_flag(name[2:], bare):
        return None
    if eq:
        return value, 0
    if i < len(args) and not args[i].startswith("-"):
        return args[i], 1
    return "", 0


def _same_flag(pattern: str, written: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatchcase(written.lower(), pattern.lower())
    return pattern == written
