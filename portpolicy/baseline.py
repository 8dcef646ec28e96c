"""Baseline files: adopt portpolicy on an old repository and fail only on new findings.

``--write-baseline FILE`` records every current finding by its content-based fingerprint
(portpolicy/fingerprint.py); ``--baseline FILE`` hides findings whose fingerprint is listed.
Fingerprints hold the path as shown (relative to the working directory), so write and use
a baseline from the same directory, normally the repository root.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from portpolicy import __version__
from portpolicy.config import ConfigError
from portpolicy.model import Finding
from portpolicy.report.escape import unicode_text

VERSION = 1


def document(findings: Sequence[Finding], fingerprints: dict[Finding, str]) -> dict[str, Any]:
    entries = [
        {
            "fingerprint": fingerprints[f],
            "rule": f.rule,
            "path": unicode_text(f.location.path),
            "message": unicode_text(f.message),
        }
        for f in findings
    ]
    entries.sort(key=lambda e: (e["path"], e["rule"], e["fingerprint"]))
    return {"version": VERSION, "tool": {"name": "portpolicy", "version": __version__}, "entries": entries}


def text(findings: Sequence[Finding], fingerprints: dict[Finding, str]) -> str:
    """The baseline file's text; ``outputs`` writes it the way every report is written."""
    return json.dumps(document(findings, fingerprints), indent=2, ensure_ascii=False) + "\n"


def load(path: str) -> set[str]:
    """The fingerprints in a baseline file; a missing or malformed file is a usage error (exit 2)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"baseline {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("entries"), list):
        raise ConfigError(f"baseline {path} is not a version {VERSION} portpolicy baseline")
    prints = set()
    for entry in doc["entries"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise ConfigError(f"baseline {path}: every entry needs a 'fingerprint' string")
        prints.add(entry["fingerprint"])
    return prints


def split(
    findings: Sequence[Finding], fingerprints: dict[Finding, str], known: set[str]
) -> tuple[list[Finding], list[Finding], int]:
    """(new findings, baselined findings, number of baseline entries that matched nothing)."""
    new = [f for f in findings if fingerprints[f] not in known]
    old = [f for f in findings if fingerprints[f] in known]
    stale = len(known - {fingerprints[f] for f in old})
    return new, old, stale
