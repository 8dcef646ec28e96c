"""The composite GitHub Action (action.yml): its shell steps run with bash as the runner would.

The install step installs this checkout into a fresh virtual environment from a fake
``GITHUB_ACTION_PATH``; the run step scans a small repository once and leaves both the
annotations (in the log) and a valid SARIF file; the last step turns the exit code into
the job's result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO, write_tree
from tests.validate import sarif_errors

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
COMPOSE = "services:\n  web:\n    image: nginx\n    user: '101'\n    network_mode: host\n    expose: ['80']\n"


def _step(name: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in ACTION["runs"]["steps"] if s.get("name") == name)
    return step


def _bash(name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A step's script as the runner runs a ``shell: bash`` step (``bash -e {0}``)."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _step(name)["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The install step run into a fresh venv (dependencies from this Python's site-packages)."""
    root = tmp_path_factory.mktemp("action")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    action_path = root / "action"
    shutil.copytree(
        REPO,
        action_path,
        ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".*cache"),
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "GITHUB_ACTIONS"}},
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(action_path),
    }
    done = _bash("Install portpolicy", env, root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("portpolicy 0.")
    return env


def test_action_uses_the_current_upload_action_and_a_category_input() -> None:
    upload = _step("Upload SARIF to code scanning")
    assert upload["uses"] == "github/codeql-action/upload-sarif@v4"
    assert upload["with"]["category"] == "${{ inputs.category }}"
    assert ACTION["inputs"]["category"]["default"] == "portpolicy"
    assert "version" not in ACTION["inputs"]  # nothing is installed from a package index
    assert '"$GITHUB_ACTION_PATH"' in _step("Install portpolicy")["run"]


def test_a_failed_install_fails_the_step_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "GITHUB_ACTION_PATH": str(tmp_path / "not-a-checkout")}
    env.pop("PYTHONPATH", None)
    done = _bash(
        "Install portpolicy",
        {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
        tmp_path,
    )
    assert done.returncode == 2
    assert "::error title=portpolicy::could not install portpolicy from the action's checkout" in done.stdout


def _run_step(
    installed: dict[str, str], repo: Path, args: str = ""
) -> tuple[subprocess.CompletedProcess[str], str, Path]:
    calls = repo.parent / f"{repo.name}-calls"
    shims = repo.parent / f"{repo.name}-bin"
    shims.mkdir()
    real = shutil.which("portpolicy", path=installed["PATH"])
    assert real is not None and "venv" in real
    shim = shims / "portpolicy"  # counts the scans, then runs the installed portpolicy
    shim.write_text(f'#!/bin/sh\necho scan >> "{calls}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    output = repo.parent / f"{repo.name}-github-output"
    env = {
        **installed,
        "PATH": f"{shims}{os.pathsep}{installed['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "PORTPOLICY_PATHS": ".",
        "PORTPOLICY_ARGS": args,
        "SARIF_FILE": "portpolicy.sarif",
    }
    done = _bash("Run portpolicy", env, repo)
    scans = calls.read_text().count("scan") if calls.exists() else 0
    assert scans == 1
    return done, output.read_text(), repo / "portpolicy.sarif"


def test_one_scan_writes_annotations_and_sarif(installed: dict[str, str], tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"compose.yaml": COMPOSE})
    done, output, sarif = _run_step(installed, repo)
    assert done.returncode == 0, done.stderr
    assert output == "exit-code=1\n"
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1 and "file=compose.yaml,line=6,col=14,title=PP001" in annotations[0]
    doc = json.loads(sarif.read_text())
    assert sarif_errors(doc) == []
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["PP001"]


def test_run_step_reports_usage_errors_as_exit_2(installed: dict[str, str], tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"compose.yaml": COMPOSE})
    done, output, sarif = _run_step(installed, repo, "--select ZZ999")
    assert done.returncode == 0 and output == "exit-code=2\n" and not sarif.exists()
    assert "unknown rule or prefix 'ZZ999'" in done.stderr


@pytest.mark.parametrize(("code", "expected"), [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("", 2)])
def test_fail_step_turns_the_exit_code_into_the_job_result(tmp_path: Path, code: str, expected: int) -> None:
    done = _bash("Fail on findings", {**os.environ, "CODE": code}, tmp_path)
    assert done.returncode == expected
    if expected >= 2:
        assert done.stdout.startswith("::error title=portpolicy::")


def test_install_snippets_point_only_at_what_exists() -> None:
    """No release exists yet: no snippet may install from PyPI or pin a tag (see docs/release.md)."""
    import re

    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    docs += sorted((REPO / "collections").rglob("*.md"))
    stale = re.compile(
        r"pip install '?portpolicy\b|portpolicy/portpolicy@v\d|rev: v\d|collection install portpolicy\.audit"
    )
    offending = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in docs
        if path.name != "release.md"  # the procedure for when a release exists
        for line in path.read_text(encoding="utf-8").splitlines()
        if stale.search(line)
    ]
    assert offending == []
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "pip install . && portpolicy check examples/" in readme
    assert "pip install '.[test]' && python -m pytest -q" in readme
