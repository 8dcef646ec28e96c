"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` line per finding.

Chosen automatically when ``GITHUB_ACTIONS=true`` and no ``--format`` is given. Each value
first goes through ``escape.display`` (no control or escape character from a file name or
message reaches the log raw, nor a newline that could start a workflow command of its
own), then is escaped as actions/toolkit does (``%``, CR, LF in messages; also ``:`` and
``,`` in properties); related evidence goes into the annotation body on its own lines.
"""

from __future__ import annotations

from portpolicy.model import Finding
from portpolicy.pipeline import Report
from portpolicy.report.escape import display
from portpolicy.report.text import summary_line

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(f: Finding) -> str:
    props = {
        "file": display(f.location.path),
        "line": str(max(f.location.line, 1)),
        "col": str(max(f.location.column, 1)),
        "title": display(f"{f.rule} {f.name}"),
    }
    body = display(f.message)
    for r in f.related:
        body += f"\n{display(r.location.path)}:{r.location.line}:{r.location.column}: {display(r.message)}"
    joined = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
    return f"::{COMMANDS[f.severity]} {joined}::{escape_data(body)}"


def render(report: Report) -> str:
    lines = [command(f) for f in report.findings]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
