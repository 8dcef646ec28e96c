"""Stable finding fingerprints, shared by SARIF, GitLab Code Quality and the baseline.

A fingerprint hashes what identifies a problem, not where the file happens to put it: the
rule, the path, the host, the finding's source line with its whitespace collapsed, and a
counter that tells apart findings with all of those equal. Line numbers are left out, so
inserting lines above a finding keeps its fingerprint; editing the offending line changes
it, which is what a reviewer expects. Files are read only for findings, once each.

The engine keeps one finding per rule, place and subject (``engine.SUBJECTS``). The first
finding of a rule at a place (the one a scan reported before findings had subjects) hashes
as above; each further one at that place (another item of the same Ansible loop) adds its
subject, so it neither takes the first one's fingerprint nor shifts its counter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from portpolicy import safeio
from portpolicy.model import Finding, Location
from portpolicy.readers.base import LINE_BREAK


class LineCache:
    """The lines of the files findings point at, read on first use (unreadable files: no lines).

    Files are read through ``safeio`` under the scan's ``roots`` (``report.config.roots``).
    """

    def __init__(self, roots: tuple[str, ...] = ()) -> None:
        self._files: dict[str, list[str]] = {}
        self._roots = roots

    def line(self, path: str, number: int) -> str:
        lines = self._files.get(path)
        if lines is None:
            lines = self._files[path] = _read_lines(path, self._roots)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _read_lines(path: str, roots: tuple[str, ...]) -> list[str]:
    text = safeio.read_text(path, roots)
    # numbered as the readers number them: \f, \v or U+2028 end no line
    return [] if isinstance(text, safeio.Refusal) else LINE_BREAK.split(text)


def normalise(line: str) -> str:
    """Whitespace-insensitive line content: re-indenting or trailing blanks keep the fingerprint."""
    return " ".join(line.split())


def compute(findings: Sequence[Finding], cache: LineCache | None = None) -> list[str]:
    """One fingerprint per finding, in order; 32 hex digits, identical across runs."""
    cache = cache or LineCache()
    seen: dict[str, int] = {}
    places: set[tuple[str, str, Location]] = set()
    result = []
    for f in findings:
        content = normalise(cache.line(f.location.path, f.location.line))
        key = "\0".join((f.rule, f.location.path, f.host, content))
        place = (f.rule, f.host, f.location)
        if place in places and f.subject:
            key = f"{key}\0{f.subject}"
        places.add(place)
        seen[key] = seen.get(key, 0) + 1
        digest = hashlib.sha256(f"{key}\0{seen[key]}".encode("utf-8", "surrogateescape")).hexdigest()
        result.append(digest[:32])
    return result


def by_finding(findings: Sequence[Finding], roots: tuple[str, ...] = ()) -> dict[Finding, str]:
    """``compute`` as a mapping, for renderers that receive a filtered list of the same findings."""
    return dict(zip(findings, compute(findings, LineCache(roots)), strict=True))
