"""Machine output, version 1: the shape documented in the README and kept stable.

Paths and messages are valid Unicode: a byte of a file name that is not UTF-8 is written
``\\xNN`` (``escape.unicode_text``).
"""

from __future__ import annotations

import json
from typing import Any

from portpolicy import __version__
from portpolicy.model import Finding
from portpolicy.pipeline import Report
from portpolicy.report.escape import unicode_text

VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "name": f.name,
        "severity": f.severity,
        "message": unicode_text(f.message),
        "path": unicode_text(f.location.path),
        "line": f.location.line,
        "column": f.location.column,
        "host": unicode_text(f.host),
        "related": [
            {
                "path": unicode_text(r.location.path),
                "line": r.location.line,
                "column": r.location.column,
                "message": unicode_text(r.message),
            }
            for r in f.related
        ],
    }


def render(report: Report) -> str:
    doc = {
        "version": VERSION,
        "tool": {"name": "portpolicy", "version": __version__},
        "findings": [finding_dict(f) for f in report.findings],
        "summary": report.summary(),
    }
    return json.dumps(doc, indent=2) + "\n"
