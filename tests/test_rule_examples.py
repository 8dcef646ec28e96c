"""Every example in every rule file is run: the docs of a rule cannot drift from what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portpolicy import engine
from tests.helpers import scan_tree, write_tree

EXAMPLES = [
    pytest.param(rule, i, ex, id=f"{rule.id}-{i}")
    for rule in engine.load_rules()
    for i, ex in enumerate(rule.examples)
]


def test_every_rule_has_a_positive_and_a_negative_example() -> None:
    for rule in engine.load_rules():
        expects = [ex["expect"] for ex in rule.examples]
        assert any(e > 0 for e in expects) and 0 in expects, rule.id


@pytest.mark.parametrize(("rule", "index", "example"), EXAMPLES)
def test_rule_example(tmp_path: Path, rule: engine.Rule, index: int, example: dict[str, Any]) -> None:
    write_tree(tmp_path, example["files"])
    report = scan_tree(tmp_path, select=[rule.id])
    got = [f for f in report.findings if f.rule == rule.id]
    assert len(got) == example["expect"], [f"{f.location}: {f.message}" for f in report.findings]
    others = [f for f in report.findings if f.rule != rule.id]
    assert not others
