"""A non-editable ``pip install .`` into a fresh virtual environment works from any directory.

This is the user's first five minutes: the wheel must carry the rules, schemas and data
tables, and ``portpolicy check examples/`` must find the planted problems.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from tests.helpers import REPO


def test_pip_install_into_a_fresh_venv_and_check_examples_from_elsewhere(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    src = tmp_path / "src"
    shutil.copytree(
        REPO, src, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".*cache")
    )
    clean_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(src)],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = env_dir / "bin" / "portpolicy"
    result = subprocess.run(
        [str(exe), "check", str(REPO / "examples"), "--format", "json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["findings"] == 16
    assert {f["rule"] for f in doc["findings"]} == {
        "PP001",
        "PP002",
        "PP003",
        "PP004",
        "PP006",
        "PP007",
        "PP009",
        "PP011",
    }
    rules = subprocess.run([str(exe), "rules"], cwd=elsewhere, capture_output=True, text=True, env=clean_env)
    assert rules.stdout.count("\n") == len(list((REPO / "rules").glob("*.yml")))
    where = subprocess.run(
        [str(python), "-c", "import portpolicy.engine as e; print(e.builtin_rules_dir())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert "site-packages" in where.stdout, "rules must come from the installed wheel, not a checkout"
    assert sys.prefix not in where.stdout
