"""From a scan's findings to the new text of each file: nothing here writes.

A finding is fixable when its rule has a ``fix:`` block and the fact it was made on is found
again: the rule is judged once more on each fact of its kind, and a fact whose finding is
among the report's (so not suppressed, not ignored) is the one. The edit goes to the line
the finding points at (for an Ansible variable, its definition), except PP002's, which goes
to the line that sets the reserved ports, or to a new sysctl file when none does.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from portpolicy import engine, safeio, suppress
from portpolicy.engine import Rule
from portpolicy.engine.joins import INDEX_KEY, JOIN_BUDGET, JOIN_BUDGET_PER_FACT, _JoinIndex
from portpolicy.fixes.edits import DELETE, EDITS, Refused
from portpolicy.model import Finding, Host, Location, PortRange, PortSet, Setting
from portpolicy.readers.base import LINE_BREAK

NEW_SYSCTL_FILE = "90-portpolicy-reserved-ports.conf"
"""The sysctl.d file PP002's fix writes on a host none of whose files reserves ports."""
RESERVED_KEY = "net.ipv4.ip_local_reserved_ports"


@dataclass(frozen=True)
class LineChange:
    """One edit of one line, for the findings it resolves (PP002's of one reserved-ports line share one)."""

    findings: tuple[Finding, ...]
    location: Location
    edit: str
    values: tuple[tuple[str, Any], ...]
    summary: str


@dataclass
class FileFix:
    """One file's text before and after its fixes (``before`` None: a file the fix creates)."""

    path: str
    before: str | None
    after: str
    fixed: list[Finding] = field(default_factory=list)
    raw: bytes = b""
    """The bytes read, to tell a file changed since the scan before it is replaced."""


@dataclass
class Plan:
    """Every file a fix changes, and the findings a fix was declared for but could not be made."""

    files: list[FileFix] = field(default_factory=list)
    refused: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def fixed(self) -> list[Finding]:
        return [f for ff in self.files for f in ff.fixed]


def plan(report: Any) -> Plan:
    """The fixes for ``report`` (a ``pipeline.Report``), as new file texts."""
    changes, refused = _changes(report)
    changes = _merge_reservations(changes)
    out = Plan(refused=refused)
    by_path: dict[str, list[LineChange]] = defaultdict(list)
    new_files: dict[str, list[LineChange]] = defaultdict(list)
    for change in changes:
        if change.edit == "reserve-ports" and change.location.line == 0:
            new_files[change.location.path].append(change)
        else:
            by_path[change.location.path].append(change)
    for path in sorted(by_path):
        fixed, not_made = _fix_file(path, by_path[path], report.config.roots)
        out.refused += not_made
        if fixed is not None:
            out.files.append(fixed)
    for path in sorted(new_files):
        out.files.append(_new_sysctl_file(path, new_files[path]))
    return out


def _changes(report: Any) -> tuple[list[LineChange], list[tuple[Finding, str]]]:
    reported = {(f.rule, f.location): f for f in report.findings}
    changes: list[LineChange] = []
    refused: list[tuple[Finding, str]] = []
    seen: set[tuple[Any, ...]] = set()
    hosts = {h.name: h for h in report.hosts}
    for rule in report.rules:
        if rule.fix is None or not any(r == rule.id for r, _ in reported):
            continue
        for fact, finding in _found_again(rule, _facts_of(rule, report), reported):
            if rule.fix.when is not None and rule.fix.when(fact, {INDEX_KEY: _JoinIndex()}) is None:
                continue
            values = {name: engine.resolve(fact, tuple(path.split("."))) for name, path in rule.fix.fields}
            change = _change(rule, finding, values, hosts, report.config.roots)
            if isinstance(change, Refused):
                refused.append((finding, change.reason))
                continue
            key = (change.edit, change.location, change.values)
            if key not in seen:
                seen.add(key)
                changes.append(change)
    return changes, refused


def _facts_of(rule: Rule, report: Any) -> Sequence[Any]:
    if rule.fact == "suppression":
        known = engine.load_rules(report.config.rule_directories())
        return suppress.as_facts(report.suppressions, known, report.rules)
    return [f for f in report.facts if getattr(f, "kind", "") == rule.fact]


def _found_again(
    rule: Rule, facts: Sequence[Any], reported: Mapping[tuple[str, Location], Finding]
) -> Iterator[tuple[Any, Finding]]:
    """Each fact the rule reports on again, with the report's finding there (bounded like a scan)."""
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        by_kind[fact.kind].append(fact)
    index = _JoinIndex(dict(by_kind))
    index.limit = JOIN_BUDGET + JOIN_BUDGET_PER_FACT * len(facts)
    start = {INDEX_KEY: index}
    for fact in facts:
        try:
            again = engine._judge(rule, rule, fact, start, None, set())
        except engine.JoinBudgetExceeded:
            return
        if again is not None and (rule.id, again.location) in reported:
            yield fact, reported[(rule.id, again.location)]


def _change(
    rule: Rule, finding: Finding, values: dict[str, Any], hosts: Mapping[str, Host], roots: tuple[str, ...]
) -> LineChange | Refused:
    assert rule.fix is not None
    location = finding.location
    if rule.fix.edit == "reserve-ports":
        target = _reserve_target(finding, values, hosts, roots)
        if isinstance(target, Refused):
            return target
        location = target
        values["current"] = values["setting"].value if location.line else None
        values.pop("setting")
    return LineChange((finding,), location, rule.fix.edit, tuple(sorted(values.items())), rule.fix.summary)


def _merge_reservations(changes: list[LineChange]) -> list[LineChange]:
    """PP002's changes of one reserved-ports line (or new file) as one: each port joins one list."""
    merged: dict[Location, LineChange] = {}
    out: list[LineChange] = []
    for change in changes:
        if change.edit != "reserve-ports":
            out.append(change)
            continue
        first = merged.get(change.location)
        if first is None:
            merged[change.location] = change
            continue
        values = dict(first.values)
        values["ports"] = PortSet.of([*_ranges(values["ports"]), *_ranges(dict(change.values)["ports"])])
        merged[change.location] = replace(
            first, findings=first.findings + change.findings, values=tuple(sorted(values.items()))
        )
    return out + list(merged.values())


def _ranges(ports: Any) -> tuple[PortRange, ...]:
    if isinstance(ports, PortSet):
        return ports.ranges
    return (ports,) if isinstance(ports, PortRange) else ()


def _reserve_target(
    finding: Finding, values: Mapping[str, Any], hosts: Mapping[str, Host], roots: tuple[str, ...]
) -> Location | Refused:
    """The line that sets the reserved ports, or (line 0) the new file for a host that sets none."""
    setting = values["setting"]
    if values["scope"] != "host":
        return Refused("a container's own namespace: reserve the port in the container's sysctls")
    if not isinstance(setting, Setting):
        return Refused("the host's reserved ports are not known")
    if setting.location is not None:
        return setting.location
    folder = _sysctl_folder(hosts.get(finding.host))
    if folder is None:
        return Refused("no folder of this host to write a sysctl.d file in")
    if not os.path.isdir(folder) or safeio.containment(folder, roots) is not None:
        return Refused(f"{folder} is no folder of the scanned tree")
    return Location(posixpath.normpath(posixpath.join(folder, NEW_SYSCTL_FILE)), 0, 0)


def _sysctl_folder(host: Host | None) -> str | None:
    """Where a new sysctl file lands on the same host: a root filesystem's ``etc/sysctl.d``, else the host's folder."""
    if host is None:
        return None
    if host.reason.startswith("root-filesystem tree"):
        return posixpath.join(host.name, "etc", "sysctl.d")
    if host.reason.startswith(("files in directory", "compose project in")):
        return host.name
    return None


def _fix_file(
    path: str, changes: list[LineChange], roots: tuple[str, ...]
) -> tuple[FileFix | None, list[tuple[Finding, str]]]:
    """``path``'s text with every change that applies; the others refused with their reason."""
    raw = safeio.read_bytes(path, roots)
    if isinstance(raw, safeio.Refusal):
        return None, [(f, f"cannot read {path}: {raw.reason}") for c in changes for f in c.findings]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [(f, f"{path} is not UTF-8 text") for c in changes for f in c.findings]
    lines, ends = _split(text)
    refused: list[tuple[Finding, str]] = []
    fixed: list[Finding] = []
    # right to left on a line, so a column still points where the scan saw it
    for change in sorted(changes, key=lambda c: (c.location.line, -c.location.column)):
        index = change.location.line - 1
        if not 0 <= index < len(lines) or lines[index] == DELETE:
            refused += [(f, f"{path} has no line {change.location.line}") for f in change.findings]
            continue
        result = EDITS[change.edit](lines[index], change.location.column, dict(change.values))
        if isinstance(result, Refused):
            refused += [(f, result.reason) for f in change.findings]
            continue
        lines[index] = result
        fixed += change.findings
    after = "".join(line + end for line, end in zip(lines, ends, strict=True) if line != DELETE)
    if after == text:
        return None, refused
    return FileFix(path, text, after, _unique(fixed), raw), refused


def _split(text: str) -> tuple[list[str], list[str]]:
    """The lines as the readers number them, and each one's own line break (kept as found)."""
    lines: list[str] = []
    ends: list[str] = []
    start = 0
    for m in LINE_BREAK.finditer(text):
        lines.append(text[start : m.start()])
        ends.append(m.group(0))
        start = m.end()
    lines.append(text[start:])
    ends.append("")
    return lines, ends


def _new_sysctl_file(path: str, changes: list[LineChange]) -> FileFix:
    ports = PortSet.of(r for c in changes for k, v in c.values if k == "ports" for r in _ranges(v))
    text = (
        "# Written by portpolicy --fix (PP002): ports services listen on inside the ephemeral range,\n"
        "# reserved so that no outgoing connection takes them first.\n"
        f"{RESERVED_KEY} = {ports}\n"
    )
    return FileFix(path, None, text, _unique(f for c in changes for f in c.findings))


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
