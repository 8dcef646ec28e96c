"""Recorded reports: the refactors of this codebase must leave every verdict byte-identical.

Each case is a tree (``examples/``, a reader's fixture folder, or a generated benchmark
tree) scanned by the real CLI with ``--format json --statistics``; the recorded report is
``tests/golden/<case>.json``. A change that means to alter a verdict regenerates them with
``python -m tests.golden`` and the diff shows, in review, exactly what changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import generate_tree

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GENERATED_FILES = 1500
"""Size of the generated tree: every category of the benchmark generator, small enough for the suite."""


def cases() -> dict[str, Path]:
    """Case name -> folder to scan (the generated tree is made by ``generated_tree``)."""
    found = {"examples": REPO / "examples"}
    for folder in sorted((REPO / "tests" / "fixtures").iterdir()):
        if folder.is_dir() and folder.name != "live":
            found[f"fixtures-{folder.name}"] = folder
    return found


def generated_tree(out: Path) -> Path:
    return generate_tree(out, GENERATED_FILES)


def report(folder: Path) -> str:
    """The JSON report of ``folder`` scanned from inside it, as a stable string."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("GITHUB_ACTIONS", None)
    env.pop("CI", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portpolicy",
            "check",
            ".",
            "--format",
            "json",
            "--statistics",
            "--fail-on",
            "never",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"portpolicy failed on {folder} ({done.returncode}): {done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def update() -> None:
    for name, folder in cases().items():
        (HERE / f"{name}.json").write_text(report(folder))
    with tempfile.TemporaryDirectory() as tmp:
        (HERE / "generated.json").write_text(report(generated_tree(Path(tmp) / "tree")))


if __name__ == "__main__":
    update()
