"""Run portpolicy on hostile input in a child process with a time bound and a memory cap.

A regression test for a hang, a blow-up or a traceback must not take the test run down
with it: the child gets ``RLIMIT_AS`` (address space) and a wall-clock timeout, and the
test asserts on what the child printed and how it exited.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO

MEMORY_LIMIT = 1024 * 1024 * 1024
"""1 GiB of address space: a scan of a few small files needs well under 200 MiB."""
TIME_LIMIT = 30.0
"""Seconds; the inputs are a few bytes to a few hundred kilobytes each."""


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def crashed(self) -> bool:
        """A traceback, a memory error or a hang: never acceptable, whatever the input."""
        return (
            self.timed_out
            or self.returncode not in (0, 1, 2)
            or "Traceback" in self.stderr
            or "MemoryError" in self.stderr
        )


def run_bounded(
    *args: str,
    cwd: Path | str | None = None,
    timeout: float = TIME_LIMIT,
    memory: int = MEMORY_LIMIT,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """``python -m portpolicy ARGS`` in a child with ``memory`` bytes of address space."""
    inherited = {k: v for k, v in os.environ.items() if k not in {"GITHUB_ACTIONS", "GITLAB_CI"}}
    full_env = {**inherited, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    return _bounded([sys.executable, "-m", "portpolicy", *args], cwd, full_env, timeout, memory)


def run_python_bounded(
    code: str, timeout: float = TIME_LIMIT, memory: int = MEMORY_LIMIT, cwd: Path | str | None = None
) -> ChildRun:
    """Run a Python snippet (library calls, not the CLI) under the same bounds."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return _bounded([sys.executable, "-c", code], cwd, env, timeout, memory)


def _bounded(
    argv: list[str], cwd: Path | str | None, env: dict[str, str], timeout: float, memory: int
) -> ChildRun:
    def limit() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=timeout,
            preexec_fn=limit,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        return ChildRun(-9, _text(exc.stdout), _text(exc.stderr), True)
    return ChildRun(done.returncode, _text(done.stdout), _text(done.stderr), False)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")
