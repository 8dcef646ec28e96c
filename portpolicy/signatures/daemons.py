"""Recognition of the table-driven daemons' configs (PostgreSQL, Redis, MySQL, CUPS...).

Everything a daemon is recognised by is data in ``portpolicy/data/daemons.yml``, so a new
daemon stays a table entry: ``files`` (name globs, the prior) and ``content`` (regular
expressions at a line start: one ``strong`` mark, or two different ``marks``, claim a file
of any name, such as a Redis config saved as ``cache.conf``). The table is read on the
first file asked about, never at import; this module never imports the reader, which asks
``daemon_of`` which daemon a file is: by content first, by name on a tie.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from portpolicy.lazyre import lazy
from portpolicy.records import record
from portpolicy.signatures import Signature, first_line_is, glob_test

SAMPLE = 65536
"""Characters of a file the content tests look at."""
STRONG = 2
"""A strong mark weighs as much as two different marks."""

LINE = lazy(r"[ \t]*(?:\[[\w. -]+\]|!include|</?[A-Z]\w*|[A-Za-z_][\w.-]*(?:[ \t]*=|[ \t]+\S|[ \t]*$))")
"""A line of a ``key value`` / ``key = value`` config, a ``[section]``, an ``!include`` or a CUPS tag."""
_SCRIPT = lazy(r"\A#!|<<-?[ \t]*['\"]?[A-Za-z_]")
"""A shell script (shebang) or a heredoc: the config it writes is not this file."""
_CONTENT = lazy(r"^[ \t]*(?![#;])\S", re.M)
_SECTION = lazy(r"^[ \t]*\[[^\]\n]*\]", re.M)


@record
class Marks:
    """One daemon's recognition data from the table."""

    name: str
    files: tuple[tuple[Callable[[str], bool], tuple[Callable[[str], bool], ...]], ...]
    strong: re.Pattern[str] | None
    marks: re.Pattern[str] | None

    def named(self, parts: list[str]) -> bool:
        name = parts[-1].removesuffix(".j2")
        dirs = parts[:-1]
        return any(
            matches(name) and (not under or any(u(d) for d in dirs for u in under))
            for matches, under in self.files
        )

    def score(self, sample: str) -> int:
        """``STRONG`` for a strong mark or two different marks, 1 for one mark, else 0."""
        if self.strong is not None and self.strong.search(sample):
            return STRONG
        if self.marks is None:
            return 0
        seen: set[str | None] = set()
        for match in self.marks.finditer(sample):
            seen.add(match.lastgroup)
            if len(seen) >= 2:
                return STRONG
        return len(seen)


@cache
def raw_table() -> dict[str, Any]:
    """``data/daemons.yml`` as loaded (the reader builds its own view of it from this)."""
    from importlib import resources  # not at import: it pulls in pathlib, urllib and tempfile

    import yaml

    text = resources.files("portpolicy.data").joinpath("daemons.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def _alternation(patterns: list[str]) -> re.Pattern[str] | None:
    """One regex for a list of marks, each in a named group (``lastgroup`` tells which one hit)."""
    if not patterns:
        return None
    body = "|".join(f"(?P<m{i}>{p})" for i, p in enumerate(patterns))
    return lazy(rf"^[ \t]*(?:{body})", re.M)


@cache
def daemons() -> tuple[Marks, ...]:
    """Every daemon's marks, in table order."""
    found = []
    for name, entry in raw_table()["daemons"].items():
        content = entry.get("content", {})
        files = tuple(
            (glob_test(f["name"]), tuple(glob_test(u) for u in f.get("under", ()))) for f in entry["files"]
        )
        found.append(
            Marks(
                name, files, _alternation(content.get("strong", [])), _alternation(content.get("marks", []))
            )
        )
    return tuple(found)


def daemon_named(rel: str) -> str | None:
    """The daemon whose file ``rel``'s name is, or None."""
    parts = rel.split("/")
    return next((d.name for d in daemons() if d.named(parts)), None)


def daemon_of(text: str, rel: str) -> str | None:
    """The daemon whose config ``text`` is: the best content evidence, the name on a tie or none."""
    sample = text[:SAMPLE]
    by_name = daemon_named(rel)
    scores = {d.name: d.score(sample) for d in daemons()}
    best = max(scores.values(), default=0)
    if best == 0:
        return by_name
    if by_name is not None and scores.get(by_name) == best:
        return by_name
    return next(name for name, score in scores.items() if score == best)


def named(rel: str) -> bool:
    """A file named like one daemon's config (``redis.conf``, ``my.cnf``, ``*.cnf`` under ``mysql/``)."""
    return daemon_named(rel) is not None


def looks(text: str) -> bool:
    """One daemon's strong mark, or two of its marks."""
    sample = text[:SAMPLE]
    if _SCRIPT.search(sample):
        return False
    return any(d.score(sample) >= STRONG for d in daemons())


def shaped(text: str) -> bool:
    """The first meaningful line is a setting or an ``!include``, and no ``[section]`` (a well-named file).

    Only MySQL's files have sections, and its server sections are strong marks: a file
    named like a daemon's with other sections (``[supervisord]``, ``[client]`` alone) has
    no server setting to read.
    """
    if not first_line_is(text, _CONTENT, LINE, SAMPLE):
        return False
    return _SECTION.search(text, 0, SAMPLE) is None


SIGNATURE = Signature(
    "daemons",
    "portpolicy.readers.daemons",
    "a daemon config",
    named,
    looks=looks,
    shaped=shaped,
    comments=("#", ";"),
    role="daemon",
    scope="directory",
)
