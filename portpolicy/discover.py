"""Which files to read, and with which reader: by path first, YAML by content later.

Directories are walked without following symlinks; version-control and dependency folders
are passed over. Every file that is left out is recorded with the reason, for ``--verbose``.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import dataclass
from types import ModuleType

from portpolicy.config import Config
from portpolicy.registry import PATH_READERS

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "site-packages",
    ".terraform",
}
YAML_SUFFIXES = (".yml", ".yaml", ".yml.j2", ".yaml.j2")


@dataclass(frozen=True)
class Candidate:
    """A file to read: the path shown to users, and its reader (None: sniff YAML content)."""

    path: str
    reader: ModuleType | None


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def display_path(path: str) -> str:
    """Relative to the working directory when below it, with forward slashes."""
    rel = os.path.relpath(path)
    shown = path if rel.startswith("..") and os.path.isabs(path) else rel
    return posixpath.normpath(shown.replace(os.sep, "/"))


def classify(path: str) -> ModuleType | str | None:
    """The path reader for ``path``, None for YAML to sniff, or a reason to skip it."""
    for reader in PATH_READERS:
        if reader.matches(path):
            return reader
    if path.lower().endswith(YAML_SUFFIXES):
        return None
    return "no reader for this file type"


def discover(paths: list[str], config: Config) -> tuple[list[Candidate], list[Skipped]]:
    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()

    def consider(path: str, explicit: bool) -> None:
        shown = display_path(path)
        if shown in seen:
            return
        if _excluded(shown, path, config):
            seen.add(shown)
            skipped.append(Skipped(shown, "excluded by config"))
            return
        kind = classify(shown)
        if isinstance(kind, str):
            if explicit:
                seen.add(shown)
                skipped.append(Skipped(shown, kind))
            return
        seen.add(shown)
        candidates.append(Candidate(shown, kind))

    for raw in paths:
        if os.path.isdir(raw):
            for dirpath, dirnames, filenames in os.walk(raw):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full) and not os.path.exists(full):
                        skipped.append(Skipped(display_path(full), "broken symbolic link"))
                        continue
                    if not os.path.isfile(full):
                        if not isinstance(classify(display_path(full)), str):
                            skipped.append(Skipped(display_path(full), "not a regular file"))
                        continue
                    consider(full, explicit=False)
        elif os.path.isfile(raw):
            consider(raw, explicit=True)
        elif os.path.exists(raw):
            skipped.append(Skipped(display_path(raw), "not a regular file"))
        else:
            skipped.append(Skipped(display_path(raw), "no such file or directory"))
    return candidates, skipped


def _excluded(shown: str, path: str, config: Config) -> bool:
    if not config.exclude:
        return False
    rel = posixpath.normpath(
        os.path.relpath(os.path.abspath(path), os.path.abspath(config.root)).replace(os.sep, "/")
    )
    return any(
        fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.rstrip("/") + "/*")
        for pat in config.exclude
        for p in (rel, shown)
    )
