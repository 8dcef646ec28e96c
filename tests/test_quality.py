"""The code stays ruff- and mypy-clean: part of the one test command, so CI enforces it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    result = _run("ruff", "check", "portpolicy", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    if shutil.which("mypy") is None and _run("mypy", "--version").returncode != 0:
        pytest.fail("mypy is part of the test extras: pip install '.[test]'")
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_directory_is_packaged() -> None:
    """A subpackage missing from pyproject's list installs fine and fails at the first scan."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.relative_to(REPO).parts[:-1])
        for p in (REPO / "portpolicy").rglob("__init__.py")
        if "__pycache__" not in p.parts and p.parent.name != "ansiblelint"
    }
    assert found - listed == set()
