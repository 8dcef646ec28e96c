"""Inline suppressions: comments, in each format's own syntax, that silence a rule on one line.

Two spellings are recognised after a comment leader (``#``, ``;``, ``//`` or ``<!--``):

- ``# portpolicy: ignore[PP001,PP002] reason``  (the reason is optional free text)
- ``# noqa: PP001`` or ``# noqa PP001``          (ruff / ansible-lint style)

A comment alone on its line applies to the next line that is neither blank nor a comment;
a comment after other text applies to its own line. systemd units, sysctl files and other
INI-style formats only know whole-line comments, so there the comment goes on the line above.

A suppression that names an unknown rule, or a selected rule that reports nothing on its
target line, is itself a finding of rule ``UNUSED_RULE``. That rule is about comments, not
about the fact model, and "unused" is only known once every other rule has run, so this
module reports it directly, with the metadata (name, severity, message) from its rule file.
A suppression of a rule that did not run (``--select``) is neither used nor unused: no verdict.
``noqa`` is shared with other tools, so only ids with a prefix of a loaded rule (``PP``) count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from portpolicy import safeio
from portpolicy.engine import Rule
from portpolicy.model import USED_HERE, Finding, Location
from portpolicy.readers.base import LINE_BREAK

UNUSED_RULE = "PP014"
_LEADER = r"(?:#|;|//|<!--)"
_IGNORE = re.compile(_LEADER + r"[ \t]*portpolicy:[ \t]*ignore\[([^\]\n]{0,512})\][ \t]*(.*)")
"""The id list is bounded: an unbounded one made each unclosed ``ignore[`` of a line scan
to its end (quadratic in a line of them); a real list is a few ids."""
_NOQA = re.compile(
    _LEADER + r"[ \t]*noqa(?::[ \t]*|[ \t]+)([A-Za-z][\w\[\]-]*(?:[ \t]*,[ \t]*[A-Za-z][\w\[\]-]*)*)"
)
_COMMENT_ONLY = re.compile(r"[ \t]*(?:#|;|//|<!--)")
_RULE_ID = re.compile(r"[A-Z][A-Z0-9]*[0-9]{3}")


@dataclass
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
            found += [(r, m.start() + 1, "noqa") for r in ids if _RULE_ID.fullmatch(r)]
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
    found: list[Suppression] = []
    for path in files:
        noted = read_with.get(path)
        for s in noted if noted is not None else read(path, roots):
            if s.spelling == "noqa" and not s.rule.startswith(prefixes):
                continue  # another tool's noqa
            found.append(s)
    return found


def apply(
    findings: list[Finding],
    suppressions: Sequence[Suppression],
    selected: Sequence[Rule],
    known: Sequence[Rule],
    severity: dict[str, str] | None = None,
) -> list[Finding]:
    """Drop suppressed findings; add an ``UNUSED_RULE`` finding per unknown or unused suppression.

    Marks each of ``suppressions`` (from ``collect``) ``used`` when it silenced a finding.
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
        matching = [s for loc in places for s in by_place.get((loc.path, loc.line), ()) if s.rule == f.rule]
        for s in matching:
            s.used = True
        if not matching:
            kept.append(f)
    unused_rule = next((r for r in selected if r.id == UNUSED_RULE), None)
    if unused_rule is None:
        return kept
    known_ids = {r.id for r in known}
    ran = {r.id for r in selected}
    level = (severity or {}).get(UNUSED_RULE, unused_rule.severity)
    for s in suppressions:
        detail = _problem(s, known_ids, ran)
        if detail is None:
            continue
        kept.append(
            Finding(
                rule=unused_rule.id,
                name=unused_rule.name,
                severity=level,
                message=unused_rule.message.format_map({"message": detail}),
                location=s.location,
            )
        )
    return kept


def _problem(s: Suppression, known: set[str], ran: set[str]) -> str | None:
    """What is wrong with a suppression, or None when it is fine (or no verdict is possible)."""
    if not s.rule:
        return "suppression names no rule: write ignore[PPnnn]"
    if s.rule not in known:
        return f"suppression names unknown rule {s.rule} (see 'portpolicy rules')"
    if s.used or s.rule not in ran or s.rule == UNUSED_RULE:
        return None
    return f"unused suppression: {s.rule} reports nothing on line {s.target}; remove the comment"
