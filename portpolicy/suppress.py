"""Inline suppressions: comments, in each format's own syntax, that silence a rule on one line.

Two spellings are recognised after a comment leader (``#``, ``;``, ``//`` or ``<!--``):

- ``# portpolicy: ignore[PP001,PP002] reason``  (the reason is optional free text)
- ``# noqa: PP001`` or ``# noqa PP001``          (ruff / ansible-lint style)
- ``# noqa: portpolicy[port-conflict]`` (a rule by name, as the ansible-lint plugin tags its
  findings) or ``# noqa: portpolicy`` (every rule on that line): one comment for both channels

A comment alone on its line applies to the next line that is neither blank nor a comment;
a comment after other text applies to its own line. systemd units, sysctl files and other
INI-style formats only know whole-line comments, so there the comment goes on the line above.

A suppression that names an unknown rule, or a selected rule that reports nothing on its
target line, is itself a finding of rule ``UNUSED_RULE``. "Unused" is only known once every
other rule has run, so ``apply`` drops the silenced findings first and ``as_facts`` then
turns each suppression into a ``suppression`` fact (``model.SuppressionComment``) that the
engine judges last, like any fact, with the conditions and messages of ``rules/PP014.yml``.
A suppression of a rule that did not run (``--select``) is neither used nor unused: no verdict.
``noqa`` is shared with other tools, so only ids with a prefix of a loaded rule (``PP``) count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field

from portpolicy import safeio
from portpolicy.engine import Rule
from portpolicy.model import USED_HERE, Finding, Location, SuppressionComment
from portpolicy.readers.base import LINE_BREAK
from portpolicy.records import record

UNUSED_RULE = "PP014"
"""The rule over suppression comments (``rules/PP014.yml``): its page says what it checks."""
_LEADER = r"(?:#|;|//|<!--)"
_IGNORE = re.compile(_LEADER + r"[ \t]*portpolicy:[ \t]*ignore\[([^\]\n]{0,512})\][ \t]*(.*)")
"""The id list is bounded: an unbounded one made each unclosed ``ignore[`` of a line scan
to its end (quadratic in a line of them); a real list is a few ids."""
_NOQA = re.compile(
    _LEADER + r"[ \t]*noqa(?::[ \t]*|[ \t]+)([A-Za-z][\w\[\]-]*(?:[ \t]*,[ \t]*[A-Za-z][\w\[\]-]*)*)"
)
_COMMENT_ONLY = re.compile(r"[ \t]*(?:#|;|//|<!--)")
_RULE_ID = re.compile(r"[A-Z][A-Z0-9]*[0-9]{3}")
_PLUGIN_TAG = re.compile(r"portpolicy(?:\[[\w-]{1,100}\])?")
"""The ansible-lint plugin's spelling: ``portpolicy`` or ``portpolicy[<rule name>]``."""
EVERY_RULE = "portpolicy"
"""A bare ``# noqa: portpolicy``: every rule on its line, as ansible-lint reads it."""


@record(frozen=False)
class Suppression:
    """One rule named in one suppression comment."""

    rule: str
    location: Location
    target: int
    """The line it silences."""
    spelling: str
    used: bool = field(default=False)


def parse(path: str, text: str) -> list[Suppression]:
    """Every suppression in ``text`` (``noqa`` ids of any rule-id shape; ``apply`` keeps ours)."""
    lines = LINE_BREAK.split(text)  # the readers' lines: no break at \f, \v or U+2028
    out: list[Suppression] = []
    following: list[int] = []  # filled on first use: the next code line after each line
    for index, line in enumerate(lines):
        if "portpolicy:" not in line and "noqa" not in line:
            continue
        found: list[tuple[str, int, str]] = []
        for m in _IGNORE.finditer(line):
            ids = [r.strip() for r in m.group(1).split(",")]
            found += [(r, m.start() + 1, "ignore") for r in ids if r]
            if not any(ids):
                found.append(("", m.start() + 1, "ignore"))
        for m in _NOQA.finditer(line):
            ids = [r.strip() for r in m.group(1).split(",")]
            found += [
                (r, m.start() + 1, "noqa") for r in ids if _RULE_ID.fullmatch(r) or _PLUGIN_TAG.fullmatch(r)
            ]
        if not found:
            continue
        target = index + 1
        first = min(col for _, col, _ in found)
        if not line[: first - 1].strip():
            following = following or _next_code_lines(lines)
            target = following[index]
        out += [
            Suppression(rule, Location(path, index + 1, col), target, spelling)
            for rule, col, spelling in found
            if rule or spelling == "ignore"
        ]
    return out


def _next_code_lines(lines: Sequence[str]) -> list[int]:
    """For each line, the 1-based number of the next line that is neither blank nor a
    comment (its own number when none follows), in one pass from the end: a file of
    comment lines costs linear time, not quadratic."""
    out = [0] * len(lines)
    code: int | None = None
    for j in range(len(lines) - 1, -1, -1):
        out[j] = code if code is not None else j + 1
        if lines[j].strip() and not _COMMENT_ONLY.match(lines[j]):
            code = j + 1
    return out


def in_text(path: str, text: str) -> list[Suppression]:
    """The suppressions of a file's text as a reader gets it: a substring test, then a parse.

    The pipeline calls it once per file it reads and keeps the result with that file's
    facts, so ``apply`` judges findings against the very text they came from.
    """
    return parse(path, text) if "portpolicy:" in text or "noqa" in text else []


def read(path: str, roots: tuple[str, ...] = ()) -> list[Suppression]:
    """The suppressions of a file the pipeline did not note (read elsewhere): a cheap byte test first.

    Read through ``safeio`` under the scan's ``roots``, like every other read of a scanned file.
    """
    data = safeio.read_bytes(path, roots)
    if isinstance(data, safeio.Refusal):
        return []
    if b"portpolicy:" not in data and b"noqa" not in data:
        return []
    return parse(path, data.decode("utf-8-sig", errors="replace"))


def _prefix(rule_id: str) -> str:
    return rule_id.rstrip("0123456789")


def collect(
    files: Iterable[str],
    read_with: Mapping[str, Sequence[Suppression]],
    known: Sequence[Rule],
    roots: tuple[str, ...] = (),
) -> list[Suppression]:
    """Our suppressions in ``files``: those found while reading (``read_with``, by path), the
    rest read again (files another stage read, such as Ansible's) under the scan's ``roots``.

    ``noqa`` is shared with other tools, so only ids with a prefix of a ``known`` rule count.
    """
    prefixes = tuple(sorted({_prefix(r.id) for r in known} | {"PP"}))
    by_name = {f"{EVERY_RULE}[{r.name}]": r.id for r in known}
    found: list[Suppression] = []
    for path in files:
        noted = read_with.get(path)
        for s in noted if noted is not None else read(path, roots):
            if s.spelling == "noqa" and s.rule in by_name:
                s.rule = by_name[s.rule]
            elif s.spelling == "noqa" and not (s.rule.startswith(prefixes) or _PLUGIN_TAG.fullmatch(s.rule)):
                continue  # another tool's noqa
            found.append(s)
    return found


def apply(findings: list[Finding], suppressions: Sequence[Suppression]) -> list[Finding]:
    """``findings`` without the ones ``suppressions`` (from ``collect``) silence.

    Marks each suppression ``used`` when it silenced a finding, for ``as_facts``.
    """
    if not suppressions:
        return findings
    by_place: dict[tuple[str, int], list[Suppression]] = {}
    for s in suppressions:
        by_place.setdefault((s.location.path, s.target), []).append(s)
    kept = []
    for f in findings:
        # a finding moved to where a value is written is still silenced where the value is used
        places = [f.location, *(r.location for r in f.related if r.message == USED_HERE)]
        matching = [
            s
            for loc in places
            for s in by_place.get((loc.path, loc.line), ())
            if s.rule in (f.rule, EVERY_RULE)
        ]
        for s in matching:
            s.used = True
        if not matching:
            kept.append(f)
    return kept


def as_facts(
    suppressions: Sequence[Suppression], known: Sequence[Rule], selected: Sequence[Rule]
) -> list[SuppressionComment]:
    """The suppressions after ``apply``, as facts for the rules that judge comments (PP014)."""
    known_ids = {r.id for r in known} | {EVERY_RULE}
    ran = {r.id for r in selected} | {EVERY_RULE}
    return [
        SuppressionComment(
            s.rule, s.location, s.target, s.spelling, s.used, s.rule in known_ids, s.rule in ran
        )
        for s in suppressions
    ]
