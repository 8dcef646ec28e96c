"""Write ``rules/bundle.json``: the built-in rules parsed once, so a check need not run PyYAML on them.

Run after editing a file in ``rules/`` (``tests/test_startup_imports.py`` says when):

    python scripts/bundle_rules.py

Each rule is stored with its YAML's size and CRC-32 (``engine.stamp``); ``engine.load_rules``
uses an entry only while the YAML still has them. A rule whose data JSON cannot hold exactly (a date,
a non-string key) is left out and read from its YAML. Key order is kept: an example's
files are shown in the order written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from portpolicy import engine


def bundle(directory: Path) -> dict[str, Any]:
    """File name -> {stamp, rule} for every rule file in ``directory`` that JSON holds exactly."""
    out: dict[str, Any] = {}
    for path in sorted(directory.glob("*.yml")):
        raw = path.read_bytes()
        data = engine.rule_data(raw)
        if repr(json.loads(json.dumps(data))) == repr(data):  # same values, types and key order
            out[path.name] = {"stamp": engine.stamp(raw), "rule": data}
    return out


def text(directory: Path) -> str:
    return json.dumps(bundle(directory), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    directory = engine.builtin_rules_dir()
    (directory / engine.BUNDLE).write_text(text(directory), encoding="utf-8")
    print(f"wrote {directory / engine.BUNDLE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
