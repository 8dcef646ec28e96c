"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

Paths are relative to the working directory under ``%SRCROOT%`` (run from the repository
root), results carry a content-based ``partialFingerprints`` entry so alerts survive line
shifts, and rules tagged ``security`` get a ``security-severity`` score from their
severity, which is what makes GitHub file them as security alerts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from portpolicy import __version__, fingerprint, ruledoc
from portpolicy.engine import Rule
from portpolicy.model import Finding, Location
from portpolicy.pipeline import Report
from portpolicy.report.escape import unicode_text

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SECURITY_SEVERITY = {"error": "6.5", "warning": "4.0", "info": "2.0"}
"""CVSS-like scores GitHub shows as medium/medium/low: a port problem is a real risk, rarely critical."""
MAX_TEXT = 1024


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _plain(markdown: str) -> str:
    """Rule text without markdown backticks, for viewers that show ``help.text``."""
    return re.sub(r"`([^`]*)`", r"\1", markdown)


def descriptor(rule: Rule) -> dict[str, Any]:
    first_paragraph = rule.rationale.split("\n\n", 1)[0]
    tags = [t for t in rule.tags][:20]
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    if "security" in rule.tags:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    doc: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": _short(rule.summary)},
        "fullDescription": {"text": _short(_plain(first_paragraph))},
        "help": {
            "text": _plain(
                f"{rule.summary}\n\nWhy it matters:\n{rule.rationale}\n\nHow to fix:\n{rule.remediation}"
            ),
            "markdown": ruledoc.render(rule),
        },
        "defaultConfiguration": {"level": LEVELS[rule.severity], "enabled": rule.enabled},
        "properties": properties,
    }
    url = ruledoc.rule_url(rule)
    if url:
        doc["helpUri"] = url
    return doc


def _artifact(path: str) -> dict[str, Any]:
    """A URI of the path's bytes: a name that is not UTF-8 is percent-encoded byte by byte."""
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    raw = path.replace(os.sep, "/").encode("utf-8", "surrogateescape")
    return {"uri": quote(raw), "uriBaseId": "%SRCROOT%"}


def _physical(loc: Location) -> dict[str, Any]:
    return {
        "artifactLocation": _artifact(loc.path),
        "region": {"startLine": max(loc.line, 1), "startColumn": max(loc.column, 1)},
    }


def result(f: Finding, rule_index: int, fp: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "message": {"text": unicode_text(f.message)},
        "locations": [{"physicalLocation": _physical(f.location)}],
        "partialFingerprints": {"portpolicy/v1": fp, "primaryLocationLineHash": fp},
    }
    if f.host:
        doc["properties"] = {"host": unicode_text(f.host)}
    if f.related:
        doc["relatedLocations"] = [
            {"id": i, "physicalLocation": _physical(r.location), "message": {"text": unicode_text(r.message)}}
            for i, r in enumerate(f.related[:1000], start=1)
        ]
    return doc


def as_dict(report: Report, fingerprints: dict[Finding, str] | None = None) -> dict[str, Any]:
    fps = fingerprints if fingerprints is not None else fingerprint.by_finding(report.findings)
    rules = list(report.rules)
    index = {r.id: i for i, r in enumerate(rules)}
    extra: list[dict[str, Any]] = []
    for f in report.findings:  # a finding of a rule that is not in the run's list still needs a descriptor
        if f.rule not in index:
            index[f.rule] = len(rules) + len(extra)
            extra.append({"id": f.rule, "name": f.name, "shortDescription": {"text": f.name}})
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "portpolicy",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": ruledoc.REPOSITORY,
                        "rules": [descriptor(r) for r in rules] + extra,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri().rstrip("/") + "/"}},
                "results": [
                    result(f, index[f.rule], fps.get(f) or fingerprint.compute([f])[0])
                    for f in report.findings
                ],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def render(report: Report, fingerprints: dict[Finding, str] | None = None) -> str:
    return json.dumps(as_dict(report, fingerprints), indent=2, ensure_ascii=False) + "\n"
