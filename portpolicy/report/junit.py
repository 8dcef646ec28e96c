"""JUnit XML, the way linters write it: a test suite per scanned file, a failing test per finding.

A clean file gets one passing test case, so an all-clean run is not an empty report
(some CI systems show that as "no tests"). GitLab reads it via ``artifacts:reports:junit``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from portpolicy.model import Finding
from portpolicy.pipeline import Report

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(text: str) -> str:
    """XML 1.0 cannot hold most control characters, even escaped."""
    return _CONTROL.sub("?", text)


def _case(suite: ET.Element, f: Finding) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=f"{f.rule} {f.name}",
        classname=_clean(f.location.path),
        file=_clean(f.location.path),
        line=str(f.location.line),
    )
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", name="severity", value=f.severity)
    detail = [f"{f.location}: {f.message}"]
    detail += [f"{r.location}: {r.message}" for r in f.related]
    failure = ET.SubElement(case, "failure", message=_clean(f.message), type=f.rule)
    failure.text = _clean("\n".join(detail))


def render(report: Report) -> str:
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_file[f.location.path].append(f)
    paths = sorted(set(report.files) | set(by_file))
    root = ET.Element("testsuites", name="portpolicy")
    for path in paths:
        found = by_file.get(path, [])
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(path),
            tests=str(max(len(found), 1)),
            failures=str(len(found)),
            errors="0",
            skipped="0",
        )
        for f in found:
            _case(suite, f)
        if not found:
            ET.SubElement(suite, "testcase", name="portpolicy", classname=_clean(path), file=_clean(path))
    if not paths:
        suite = ET.SubElement(
            root, "testsuite", name="portpolicy", tests="1", failures="0", errors="0", skipped="0"
        )
        ET.SubElement(suite, "testcase", name="no files to check", classname="portpolicy")
    total = sum(max(len(by_file.get(p, [])), 1) for p in paths) or 1
    root.set("tests", str(total))
    root.set("failures", str(len(report.findings)))
    root.set("errors", "0")
    root.set("skipped", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
