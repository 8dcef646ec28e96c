"""``--statistics``: what a run covered, so a quiet result can be told from a blind one.

Counts findings per rule and files per file type (reader), files read and, per reason,
files not read, and port values resolved from variables or left unresolved; ``-v`` adds the
paths under each reason. Every file under the scanned roots is either read or in
``Report.skipped`` with its reason, so the counts add up to the tree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from portpolicy.discover import Skipped
from portpolicy.pipeline import Report
from portpolicy.report.escape import deep, display, unicode_text


def by_reason(skipped: Iterable[Skipped]) -> list[tuple[str, list[str]]]:
    """(reason, sorted paths) per reason, the most frequent reason first: how ``-v``,
    ``--statistics`` and ``facts`` group what was not read."""
    groups: dict[str, list[str]] = defaultdict(list)
    for s in skipped:
        groups[s.reason].append(s.path)
    return sorted(
        ((reason, sorted(paths)) for reason, paths in groups.items()), key=lambda g: (-len(g[1]), g[0])
    )


def collect(report: Report, verbose: bool = False) -> dict[str, Any]:
    names = {r.id: r.name for r in report.rules}
    by_rule = Counter(f.rule for f in report.findings)
    files_by_type = Counter(report.readers.get(p, "?") for p in report.files)
    findings_by_type = Counter(report.readers.get(f.location.path, "?") for f in report.findings)
    stats: dict[str, Any] = {
        "by_rule": [
            {"rule": rule, "name": names.get(rule, ""), "count": n} for rule, n in sorted(by_rule.items())
        ],
        "by_file_type": [
            {"type": kind, "files": n, "findings": findings_by_type.get(kind, 0)}
            for kind, n in sorted(files_by_type.items())
        ],
        "files_read": len(report.files),
        "files_skipped": len(report.skipped),
        "skipped_reasons": dict(sorted(Counter(s.reason for s in report.skipped).items())),
        "ports_resolved": report.resolved,
        "ports_unresolved": len(report.unresolved),
    }
    if report.ansible_tasks:
        stats["ansible_tasks"] = _tasks(report.ansible_tasks, verbose)
    if verbose:
        stats["skipped"] = [{"path": s.path, "reason": s.reason} for s in report.skipped]
        stats["unresolved"] = [
            {"location": str(u.location), "value": u.value, "reason": u.reason} for u in report.unresolved
        ]
    cleaned: dict[str, Any] = deep(stats, unicode_text)
    return cleaned


TASK_BUCKETS = ("resolved", "unresolved", "no-port", "skipped")
"""``ansible.accounting``'s buckets: every task of the plays run is in one."""


def _tasks(tasks: list[Any], verbose: bool) -> dict[str, Any]:
    """The Ansible tasks per bucket (they add up to ``tasks``), unresolved ones per kind of reason."""
    counts = Counter(t.bucket for t in tasks)
    out: dict[str, Any] = {
        "tasks": len(tasks),
        **{b.replace("-", "_"): counts.get(b, 0) for b in TASK_BUCKETS},
    }
    kinds = Counter(t.kind for t in tasks if t.bucket == "unresolved")
    out["unresolved_reasons"] = dict(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
    if verbose:
        out["unresolved_tasks"] = [
            {"location": str(t.where), "reason": t.reason} for t in tasks if t.bucket == "unresolved"
        ]
        out["notes"] = [{"location": str(t.where), "note": note} for t in tasks for note in t.notes]
    return out


def _task_lines(t: dict[str, Any]) -> list[str]:
    lines = [
        f"  Ansible tasks: {t['tasks']} in the plays run: {t['resolved']} resolved, {t['unresolved']} unresolved, "
        f"{t['no_port']} declaring no port, {t['skipped']} skipped"
    ]
    lines += [f"    {n:>6}  {kind}" for kind, n in t["unresolved_reasons"].items()]
    lines += [f"    {item['location']}: {item['reason']}" for item in t.get("unresolved_tasks", ())]
    lines += [f"    {item['location']}: note: {item['note']}" for item in t.get("notes", ())]
    return lines


def render_text(report: Report, verbose: bool = False) -> str:
    s = deep(collect(report, verbose), display)
    lines = ["", "Statistics:", "  findings per rule:"]
    lines += [f"    {r['count']:>6}  {r['rule']}  {r['name']}" for r in s["by_rule"]] or ["    (none)"]
    lines.append("  files per type:")
    lines += [
        f"    {t['files']:>6}  {t['type']}  ({t['findings']} finding{'s' if t['findings'] != 1 else ''})"
        for t in s["by_file_type"]
    ] or ["    (none)"]
    lines.append(f"  files read: {s['files_read']}, skipped: {s['files_skipped']}")
    paths: dict[str, list[str]] = defaultdict(list)
    for item in s.get("skipped", ()):
        paths[item["reason"]].append(item["path"])
    for reason, n in sorted(s["skipped_reasons"].items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {n:>6}  {reason}")
        lines += [f"            {path}: {reason}" for path in sorted(paths[reason])]
    lines.append(
        f"  port values: {s['ports_resolved']} resolved from variables, {s['ports_unresolved']} unresolved"
    )
    for item in s.get("unresolved", ()):
        lines.append(f"    {item['location']}: {item['value']} ({item['reason']})")
    if "ansible_tasks" in s:
        lines += _task_lines(s["ansible_tasks"])
    return "\n".join(lines) + "\n"
