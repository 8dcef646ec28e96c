"""``portpolicy check --fix`` and ``--diff``: the safe edits rules declare in their ``fix:`` block.

``plan`` turns a scan's findings into new file texts (``plan.py``, with the edit kinds in
``edits.py``); ``render_diff`` shows them as a unified diff, and ``apply`` writes them
through ``write.py``, the only module of portpolicy that writes a scanned file. Without
``--fix`` nothing is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from portpolicy.fixes.plan import FileFix, Plan, plan
from portpolicy.fixes.write import Target, write_all
from portpolicy.model import Finding

__all__ = ["FileFix", "Plan", "apply", "changed_lines", "plan", "refused_lines", "render_diff"]


def render_diff(fixes: Plan) -> str:
    """A unified diff of every file the fixes change (a new file from ``/dev/null``)."""
    out: list[str] = []
    for ff in fixes.files:
        before = (ff.before or "").splitlines(keepends=True)
        after = ff.after.splitlines(keepends=True)
        old = "/dev/null" if ff.before is None else f"a/{ff.path}"
        for line in difflib.unified_diff(before, after, old, f"b/{ff.path}"):
            out.append(
                _shown(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
            )
    return "".join(out)


def _shown(line: str) -> str:
    """A diff line safe for a terminal: control characters escaped, tabs and the line break kept."""
    from portpolicy.report.escape import display

    body = line.rstrip("\r\n")
    return "\t".join(display(part) for part in body.split("\t")) + line[len(body) :]


def apply(fixes: Plan, roots: tuple[str, ...]) -> None:
    """Write every fixed file, or none (``UsageError`` on the first check that fails)."""
    targets = [
        Target(ff.path, ff.after.encode("utf-8"), None if ff.before is None else ff.raw) for ff in fixes.files
    ]
    write_all(targets, roots)


def changed_lines(fixes: Plan) -> Iterator[str]:
    """One line per finding fixed: where, which rule, and the rule's message."""
    for ff in fixes.files:
        for finding in ff.fixed:
            yield f"{_where(finding)}: {finding.rule} fixed{' (new file ' + ff.path + ')' if ff.before is None else ''}"


def refused_lines(fixes: Plan) -> Iterator[str]:
    """One line per finding a fix was declared for but not made, with the reason."""
    for finding, reason in dict.fromkeys(fixes.refused):
        yield f"{_where(finding)}: {finding.rule} not fixed: {reason}"


def _where(finding: Finding) -> str:
    loc = finding.location
    return f"{loc.path}:{loc.line}:{loc.column}"
