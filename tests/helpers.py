"""Shared test helpers: write a small file tree and scan it the way the CLI does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from portpolicy.config import find_config, load_config
from portpolicy.pipeline import Report, scan

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def generate_tree(out: Path, files: int) -> Path:
    """The benchmark's deterministic synthetic repository of ``files`` files, written to ``out``."""
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(out), "--files", str(files)],
        check=True,
        capture_output=True,
    )
    return out


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def scan_tree(root: Path, **overrides: object) -> Report:
    """Scan ``root`` from inside it (paths relative), with its config file if it has one."""
    old = os.getcwd()
    os.chdir(root)
    try:
        config = load_config(find_config(["."]), dict(overrides))
        return scan(["."], config)
    finally:
        os.chdir(old)


def run_cli(
    *args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, with this checkout first on the import path."""
    inherited = {k: v for k, v in os.environ.items() if k not in {"GITHUB_ACTIONS", "GITLAB_CI"}}
    full_env = {**inherited, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "portpolicy", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
