"""Every recorded report is reproduced byte for byte (see ``tests/golden``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import golden


@pytest.mark.parametrize("name", sorted(golden.cases()))
def test_report_is_unchanged(name: str) -> None:
    expected = (golden.HERE / f"{name}.json").read_text()
    assert golden.report(golden.cases()[name]) == expected, (
        "regenerate with python -m tests.golden if intended"
    )


def test_generated_tree_report_is_unchanged(tmp_path: Path) -> None:
    expected = (golden.HERE / "generated.json").read_text()
    assert golden.report(golden.generated_tree(tmp_path / "tree")) == expected
