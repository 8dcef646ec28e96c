"""The one place that opens scanned files: inside the scanned roots, regular files only, bounded.

A scan runs on other people's pull requests, so a file in the tree may be a symbolic link to
the runner's secrets (``Dockerfile -> ~/.aws/credentials``), a FIFO or a link to a device
that never returns from ``read``. Every reader of scanned content goes through
``read_bytes``, which:

- resolves the path (``os.path.realpath``) and refuses it unless it lies inside one of the
  scanned roots, and refuses a link into a version-control folder (``.git/config`` can hold
  the checkout's token);
- opens only a regular file (``stat`` before ``open``, so a device is never opened at all),
  with ``O_NONBLOCK`` (a FIFO swapped in cannot block) and, unless the path is a link that
  was just checked, ``O_NOFOLLOW``; then checks again with ``fstat``. The path is opened as
  given, not resolved, so a working folder whose parents the user cannot traverse works;
- reads at most ``limit + 1`` bytes, since ``/proc`` files report a size of 0.

The roots are passed explicitly (``Config.roots``): the Ansible action plugin runs scans in
threads, so nothing here is global. An empty ``roots`` means no containment is known (a
library caller reading one file); the other checks still apply.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from typing import Literal

from portpolicy.records import record

MAX_BYTES = 8 * 1024 * 1024
PRIVATE_DIRS = frozenset({".git", ".hg", ".svn"})
"""Version-control folders: never scanned, and a symbolic link into one is not followed."""
OUTSIDE = "symbolic link to outside the scanned tree"
INTO_PRIVATE = "symbolic link into a version-control folder"
NOT_REGULAR = "not a regular file"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | _NOFOLLOW
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

Kind = Literal["outside", "special", "too-large", "unreadable"]


@record
class Refusal:
    """Why a file was not read: ``kind`` tells callers whether it is a skip or a PP000."""

    kind: Kind
    reason: str
    size: int = 0


def root_of(path: str) -> str:
    """The absolute root a command-line path stands for, its last component not resolved.

    Resolving the parent keeps ``/tmp -> /private/tmp`` working; leaving the last component
    alone means a named symbolic link (``deploy -> /``) does not widen the roots to its target.
    """
    absolute = os.path.abspath(path)
    parent, name = os.path.split(absolute)
    if not name:
        return absolute
    return os.path.join(os.path.realpath(parent), name)


def scan_roots(paths: Iterable[str]) -> tuple[str, ...]:
    """The roots of a scan of ``paths`` (a directory's tree, a file itself)."""
    return tuple(dict.fromkeys(root_of(p) for p in paths))


def within(real: str, roots: Iterable[str]) -> bool:
    """True when the resolved path ``real`` is one of ``roots`` or below one."""
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def containment(path: str, roots: tuple[str, ...]) -> str | None:
    """None when ``path`` may be read under ``roots``, else the reason it may not."""
    if not roots:
        return None
    real = os.path.realpath(path)
    if not within(real, roots):
        return OUTSIDE
    if _enters_private_dir(os.path.abspath(path), real):
        return INTO_PRIVATE
    return None


def _enters_private_dir(shown: str, real: str) -> bool:
    """A link whose target is in ``.git`` (or another VCS folder) when the path named none."""
    named = set(shown.split(os.sep))
    return any(part in PRIVATE_DIRS and part not in named for part in real.split(os.sep))


def read_bytes(path: str, roots: tuple[str, ...] = (), limit: int = MAX_BYTES) -> bytes | Refusal:
    """The content of ``path`` (at most ``limit`` bytes), or why it was not read. Never raises."""
    refused = containment(path, roots)
    if refused is not None:
        return Refusal("outside", refused)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return Refusal("special", NOT_REGULAR)
        fd = os.open(path, _FLAGS if not os.path.islink(path) else _FLAGS & ~_NOFOLLOW)
    except OSError as exc:
        return _unreadable(exc)
    try:
        return _read_open(fd, limit)
    except OSError as exc:
        return _unreadable(exc)
    finally:
        os.close(fd)


def _read_open(fd: int, limit: int) -> bytes | Refusal:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return Refusal("special", NOT_REGULAR)
    if info.st_size > limit:
        return Refusal("too-large", f"file is over the {limit // 1048576} MiB limit", info.st_size)
    chunks: list[bytes] = []
    left = limit + 1  # one byte more tells a file over the limit whose size said 0 (/proc)
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        return Refusal("too-large", f"file is over the {limit // 1048576} MiB limit", len(data))
    return data


def _unreadable(exc: OSError) -> Refusal:
    return Refusal("unreadable", f"cannot read: {exc.strerror or type(exc).__name__}")


def read_text(path: str, roots: tuple[str, ...] = (), limit: int = MAX_BYTES) -> str | Refusal:
    """``read_bytes`` decoded as UTF-8 with replacement (for re-reads: comments, lines)."""
    data = read_bytes(path, roots, limit)
    if isinstance(data, Refusal):
        return data
    return data.decode("utf-8-sig", errors="replace")


def can_open(path: str) -> str | None:
    """None when ``path`` (a file named on the command line) opens for reading, else why not."""
    try:
        fd = os.open(path, _FLAGS & ~_NOFOLLOW)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    return None


def ancestors(directory: str) -> Iterator[str]:
    """``directory`` (resolved) and its parents, up to the repository root or the filesystem's top.

    The repository root is the first folder holding ``.git`` (a folder, or a file in a
    worktree); the walk also stops before a parent on another filesystem, as git does.
    """
    current = os.path.realpath(directory)
    try:
        device = os.stat(current).st_dev
    except OSError:
        return
    while True:
        yield current
        parent = os.path.dirname(current)
        if parent == current or os.path.lexists(os.path.join(current, ".git")):
            return
        try:
            if os.stat(parent).st_dev != device:
                return
        except OSError:
            return
        current = parent


def repository_root(directory: str) -> str | None:
    """The nearest folder at or above ``directory`` that holds ``.git``, on the same filesystem."""
    for folder in ancestors(directory):
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
    return None
