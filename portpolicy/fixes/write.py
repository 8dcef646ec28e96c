"""The one place portpolicy writes a scanned file: ``--fix``, after every target has been checked.

A scan runs on other people's pull requests, so a fix must never be a way to write outside
the tree or through a link: each target must lie inside the scanned roots, be a regular file
that is no symbolic link (or, for a new file, not exist yet in a folder of the tree), still
hold the bytes the fix was planned from, and be writable. A file whose mode has no write bit
is read-only even for root, as its owner meant. Every target is checked before any is
written, so a refusal writes nothing; each file is then replaced atomically (a temporary
file in the same folder, ``fsync``, ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from portpolicy import safeio
from portpolicy.errors import UsageError


@dataclass(frozen=True)
class Target:
    """A file to write: its path, its new bytes, and the bytes it must still hold (None: a new file)."""

    path: str
    data: bytes
    expected: bytes | None


def write_all(targets: Sequence[Target], roots: tuple[str, ...]) -> None:
    """Write every target, or none: raises ``UsageError`` (exit 2) naming each refusal."""
    problems = [f"{t.path}: {reason}" for t in targets if (reason := refusal(t, roots)) is not None]
    if problems:
        raise UsageError("--fix wrote nothing: " + "; ".join(problems))
    for target in targets:
        try:
            _write(target)
        except OSError as exc:
            raise UsageError(
                f"--fix could not write {target.path}: {exc.strerror or type(exc).__name__}"
            ) from None


def refusal(target: Target, roots: tuple[str, ...]) -> str | None:
    """Why ``target`` must not be written, or None."""
    folder = os.path.dirname(target.path) or "."
    if not roots or safeio.containment(folder, roots) is not None:
        return "outside the scanned tree"
    if target.expected is None:
        return _new_file_refusal(target.path, folder)
    try:
        info = os.lstat(target.path)
    except OSError as exc:
        return f"cannot check it: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        return "not a regular file (a symbolic link or a special file is never written)"
    if safeio.containment(target.path, roots) is not None:
        return "outside the scanned tree"
    if not info.st_mode & 0o222 or not os.access(target.path, os.W_OK):
        return "the file is read-only"
    if not os.access(folder, os.W_OK):
        return "its folder is read-only"
    if safeio.read_bytes(target.path, roots) != target.expected:
        return "the file changed since it was read"
    return None


def _new_file_refusal(path: str, folder: str) -> str | None:
    if os.path.lexists(path):
        return "the file to create already exists"
    if not os.path.isdir(folder) or os.path.islink(folder):
        return "its folder does not exist"
    if not os.access(folder, os.W_OK):
        return "its folder is read-only"
    return None


def _write(target: Target) -> None:
    """Atomically: a temporary file beside the target, then a rename (a link for a new file)."""
    folder = os.path.dirname(target.path) or "."
    old = None if target.expected is None else os.lstat(target.path)
    mode = 0o644 if old is None else stat.S_IMODE(old.st_mode)
    fd, temporary = tempfile.mkstemp(prefix=".portpolicy-fix-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(target.data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        if old is not None and hasattr(os, "chown") and (old.st_uid, old.st_gid) != _ids():
            _keep_owner(temporary, old.st_uid, old.st_gid)
        if target.expected is None:
            os.link(temporary, target.path)  # fails if the name appeared meanwhile: never clobbers
        else:
            os.replace(temporary, target.path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _ids() -> tuple[int, int]:
    return (os.geteuid(), os.getegid()) if hasattr(os, "geteuid") else (-1, -1)


def _keep_owner(path: str, uid: int, gid: int) -> None:
    """The replaced file keeps its owner when we may set it (root); otherwise it becomes ours."""
    with contextlib.suppress(OSError):
        os.chown(path, uid, gid)
