"""Human output: ``path:line:col: PPnnn [severity] message``, one line per finding, then a summary.

Colour only when writing to a terminal (and never with NO_COLOR set), so logs and
pipes stay plain. Related evidence lines follow under ``--verbose``.
"""

from __future__ import annotations

from portpolicy.pipeline import Report

COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def render(report: Report, colour: bool = False, verbose: bool = False) -> str:
    lines = []
    for f in report.findings:
        where = f"{f.location.path}:{f.location.line}:{f.location.column}:"
        sev = f"[{f.severity}]"
        if colour:
            where = f"{BOLD}{where}{RESET}"
            sev = f"{COLOURS[f.severity]}{sev}{RESET}"
        lines.append(f"{where} {f.rule} {sev} {f.message}")
        if verbose:
            for r in f.related:
                note = f"    {r.location.path}:{r.location.line}:{r.location.column}: note: {r.message}"
                lines.append(f"{DIM}{note}{RESET}" if colour else note)
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def summary_line(report: Report) -> str:
    files = f"{len(report.files)} file{'s' if len(report.files) != 1 else ''}"
    if not report.findings:
        return f"No problems found in {files}."
    counts = report.counts()
    parts = [f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in counts.items() if n]
    total = len(report.findings)
    return f"Found {total} problem{'s' if total != 1 else ''} ({', '.join(parts)}) in {files}."
