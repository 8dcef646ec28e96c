"""GitLab Code Quality JSON: a bare array, one issue per finding, with stable fingerprints.

GitLab collapses issues with equal fingerprints and tracks them across pipelines by it,
so the fingerprint is the shared content-based one (portpolicy/fingerprint.py).
"""

from __future__ import annotations

import json
from typing import Any

from portpolicy import fingerprint
from portpolicy.model import Finding
from portpolicy.pipeline import Report
from portpolicy.report.escape import unicode_text

SEVERITIES = {"error": "major", "warning": "minor", "info": "info"}


def issue(f: Finding, fp: str) -> dict[str, Any]:
    return {
        "type": "issue",
        "check_name": f.rule,
        "description": unicode_text(f"{f.rule} {f.name}: {f.message}"),
        "categories": ["Bug Risk"],
        "severity": SEVERITIES[f.severity],
        "fingerprint": fp,
        "location": {"path": unicode_text(f.location.path), "lines": {"begin": max(f.location.line, 1)}},
    }


def render(report: Report, fingerprints: dict[Finding, str] | None = None) -> str:
    fps = fingerprints if fingerprints is not None else fingerprint.by_finding(report.findings)
    doc = [issue(f, fps.get(f) or fingerprint.compute([f])[0]) for f in report.findings]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
