"""Unit specifiers (``%i``, ``%n``, ``%%``...) in a value: the ones a unit's name tells, resolved."""

from __future__ import annotations

import re
from typing import NamedTuple

from portpolicy.readers.systemd.dropins import MergedUnit

_SPECIFIER = re.compile(r"%(.)", re.S)
# Specifiers that expand to an absolute path (runtime, state, cache, logs, config, home, ...).
_PATH_SPECIFIERS = frozenset("tSCLEhTVdyYf")
_INSTANCE_SPECIFIERS = frozenset("iInNpPjJ")


class Expanded(NamedTuple):
    text: str
    path_like: bool
    unresolved: tuple[str, ...]


def expand_specifiers(value: str, unit: MergedUnit) -> Expanded:
    """Resolve ``%%`` and the instance specifiers we can know; report the rest.

    A leading path specifier (``%t/app.sock``) means an AF_UNIX path, never a port.
    """
    stem = unit.name.rsplit(".", 1)[0]
    prefix = stem.split("@", 1)[0]
    instance = unit.instance
    known: dict[str, str] = {"n": unit.name, "N": stem, "p": prefix, "P": prefix}
    known["j"] = known["J"] = prefix.rsplit("-", 1)[-1]
    if instance is not None:
        known["i"] = known["I"] = instance
    unresolved: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter == "%":
            return "%"
        if letter in known and letter in _INSTANCE_SPECIFIERS:
            return known[letter]
        unresolved.append(match.group(0))
        return match.group(0)

    path_like = len(value) >= 2 and value[0] == "%" and value[1] in _PATH_SPECIFIERS
    return Expanded(_SPECIFIER.sub(substitute, value), path_like, tuple(unresolved))
