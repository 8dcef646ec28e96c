"""Machine output, version 1: the shape documented in docs/output.md and kept stable."""

from __future__ import annotations

import json
from typing import Any

from portpolicy import __version__
from portpolicy.model import Finding
from portpolicy.pipeline import Report

VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "name": f.name,
        "severity": f.severity,
        "message": f.message,
        "path": f.location.path,
        "line": f.location.line,
        "column": f.location.column,
        "host": f.host,
        "related": [
            {
                "path": r.location.path,
                "line": r.location.line,
                "column": r.location.column,
                "message": r.message,
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
