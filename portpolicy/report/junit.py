"""JUnit XML, the way linters write it: a test suite per scanned file, a failing test per finding.

The document is valid under ``junit-10.xsd`` (the Jenkins xUnit plugin schema that pytest's
``xunit2`` targets and GitLab, Jenkins and Azure read): a test case has only ``name`` and
``classname``, so the location and severity go into the ``<failure>`` text, and the suite
(whose ``file`` attribute the schema allows) names the file. A clean file gets one passing
test case, so an all-clean run is not an empty report (some CI systems show that as "no
tests"). Every name and message goes through ``escape.xml_text``: any file name gives
well-formed XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from portpolicy.model import Finding
from portpolicy.pipeline import Report
from portpolicy.report.escape import xml_text


def _failure_text(f: Finding) -> str:
    lines = [f"{f.location}: {f.rule} [{f.severity}] {f.message}"]
    lines += [f"{r.location}: note: {r.message}" for r in f.related]
    return xml_text("\n".join(lines))


def _case(suite: ET.Element, f: Finding) -> None:
    path = xml_text(f.location.path)
    name = xml_text(f"{f.rule} {f.name} (line {f.location.line})")
    case = ET.SubElement(suite, "testcase", name=name, classname=path)
    failure = ET.SubElement(case, "failure", message=xml_text(f.message), type=xml_text(f.rule))
    failure.text = _failure_text(f)


def _suite(root: ET.Element, name: str, found: list[Finding], file: str | None) -> None:
    attributes = {"name": name, "tests": str(max(len(found), 1)), "failures": str(len(found)), "errors": "0"}
    attributes["skipped"] = "0"
    if file is not None:
        attributes["file"] = file
    suite = ET.SubElement(root, "testsuite", attributes)
    for f in found:
        _case(suite, f)
    if not found:
        ET.SubElement(suite, "testcase", name="no problems" if file else "no files to check", classname=name)


def render(report: Report) -> str:
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_file[f.location.path].append(f)
    paths = sorted(set(report.files) | set(by_file))
    root = ET.Element("testsuites", name="portpolicy")
    for path in paths:
        _suite(root, xml_text(path), by_file.get(path, []), xml_text(path))
    if not paths:
        _suite(root, "portpolicy", [], None)
    root.set("tests", str(sum(max(len(by_file.get(p, [])), 1) for p in paths) or 1))
    root.set("failures", str(len(report.findings)))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
