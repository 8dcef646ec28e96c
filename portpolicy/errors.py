"""Errors the user must fix (exit 2), as opposed to findings (exit 1) and our bugs (exit 3)."""

from __future__ import annotations

import traceback
from pathlib import Path


class UsageError(Exception):
    """A wrong path, an unwritable output or a bad option: one line on stderr, exit 2."""


def describe(exc: BaseException) -> str:
    """``KeyError at portpolicy/engine.py:123``: the exception's type and where our code raised it.

    The exception's own text is left out: it may quote the scanned file (a secret); the
    traceback, shown only on request, has it.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _ours(f.filename)]
    if not frames:
        return type(exc).__name__
    frame = frames[-1]
    return f"{type(exc).__name__} at {_short(frame.filename)}:{frame.lineno}"


PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _ours(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(PACKAGE_DIR)


def _short(filename: str) -> str:
    return "portpolicy/" + Path(filename).resolve().relative_to(PACKAGE_DIR).as_posix()
