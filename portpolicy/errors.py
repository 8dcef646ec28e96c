"""Errors the user must fix (exit 2), as opposed to findings (exit 1) and our bugs (exit 3)."""

from __future__ import annotations


class UsageError(Exception):
    """A wrong path, an unwritable output or a bad option: one line on stderr, exit 2."""
