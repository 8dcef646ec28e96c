"""Which files to read, and with which reader: by path first, YAML by content later.

Directories are walked without following symbolic links. A link to a file is read when its
target lies inside the scanned roots (``sites-enabled/default -> ../sites-available/default``);
a link whose target is outside them, or in ``.git``, is skipped with that reason. A link to a
directory is never followed: a target inside the roots is scanned where it lies (following
would read it twice), one outside must not be read at all.

Version-control and dependency folders are passed over, and so, inside a git repository, is
whatever ``.gitignore`` files (each for its own subtree, as git reads them) and
``.git/info/exclude`` ignore, unless ``respect-gitignore`` is off. ``exclude`` and
``per-file-ignores`` are gitignore-style globs relative to the config file's folder (``*``
stays within one folder, a pattern without ``/`` matches at any depth). Every folder left
out, every special file, every file excluded or never opened by its type, and every ignored
file a name prior claims is recorded with the reason, for ``--verbose`` and ``--statistics``
(an ignored file no name claims is left out quietly, as git leaves it out).

A path named on the command line is the user's explicit request: when it is missing,
unreadable, not a file or folder, or a symbolic link to outside the scanned paths, that is
a ``UsageError`` (exit 2), never a silent skip. An unreadable folder met while walking is a
candidate with a ``problem`` (PP000), so the loss shows in every output format.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from portpolicy import safeio
from portpolicy.config import CONFIG_NAMES, Config, ConfigError, compile_globs
from portpolicy.errors import UsageError
from portpolicy.recognise import NOT_CONFIG, named, never_config
from portpolicy.records import record

if TYPE_CHECKING:  # pathspec costs tens of milliseconds to import: only when a glob is compiled
    import pathspec

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
GITIGNORE_LIMIT = 1024 * 1024
"""Bytes of one ignore file that are read; the patterns run on RE2, so size is the only cost."""
DIR_LINK = (
    "symbolic link to a folder (not followed: a target inside the scanned tree is scanned where it lies)"
)
UNLISTABLE = "cannot list this folder"
PASSED_OVER = "version-control, dependency or cache folder (not scanned)"
VENDOR_MARKS = ("modules.txt", "autoload.php")
"""A ``vendor`` folder holding one of these is Go's (``go mod vendor``) or Composer's copy of
other projects' code, their test fixtures included; any other ``vendor`` folder is scanned."""


def _vendored(name: str, full: str) -> bool:
    """A dependency manager's ``vendor`` folder (``VENDOR_MARKS``), not a folder of vendor configs."""
    return name == "vendor" and any(os.path.isfile(os.path.join(full, mark)) for mark in VENDOR_MARKS)


@record
class Candidate:
    """A file to read: the path shown to users and the path relative to its scanned root.

    What the file is, is decided when it is read (``recognise``), from its content; ``rel``
    is the only path that decision may look at. ``problem`` is set for something that could
    not be read at all (a folder that cannot be listed): it becomes PP000 instead of a read.
    """

    path: str
    rel: str = ""
    problem: str = ""


@record
class Skipped:
    path: str
    reason: str


def display_path(path: str) -> str:
    """Relative to the working directory when below it, with forward slashes."""
    rel = os.path.relpath(path)
    shown = path if rel.startswith("..") and os.path.isabs(path) else rel
    return posixpath.normpath(shown.replace(os.sep, "/"))


def classify(rel: str) -> str | None:
    """Why a file is not even opened (its name alone says so), or None: it is read and recognised."""
    if posixpath.basename(rel) in CONFIG_NAMES:
        return "portpolicy configuration"
    if never_config(rel):
        return NOT_CONFIG
    return None


def wanted_by_name(rel: str) -> bool:
    """True when a format's name prior claims ``rel``: a loss of such a file is worth recording."""
    return bool(named(rel))


def _relative(path: str, top: str) -> str:
    """``path`` below the walked folder ``top``, with forward slashes."""
    return posixpath.normpath(os.path.relpath(path, top).replace(os.sep, "/"))


def config_relative(path: str, config: Config) -> str:
    """``path`` relative to the config file's folder, as ``exclude`` globs see it.

    A path outside that folder cannot be named by an anchored glob; it is matched as shown
    (relative to the working directory).
    """
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(config.root)).replace(os.sep, "/")
    return display_path(path) if rel.startswith("../") else posixpath.normpath(rel)


def matches(spec: pathspec.GitIgnoreSpec, rel: str, is_dir: bool = False) -> bool:
    return spec.check_file(rel + "/" if is_dir else rel).include is True


def discover(paths: list[str], config: Config) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates and skipped entries under ``paths``; a bad named path raises ``UsageError``."""
    walk = _Walk(config, config.roots or safeio.scan_roots(paths))
    for raw in paths:
        walk.named(raw)
    return walk.candidates, walk.skipped


class _Walk:
    """One discovery: what was found so far, and the rules that leave entries out."""

    def __init__(self, config: Config, roots: tuple[str, ...]) -> None:
        self.config = config
        self.roots = roots
        self.candidates: list[Candidate] = []
        self.skipped: list[Skipped] = []
        self.seen: set[str] = set()
        self.top = "."
        """The named folder being walked: name priors look only below it."""
        try:
            self.exclude = compile_globs(config.exclude) if config.exclude else None
        except ValueError as exc:
            raise ConfigError(f"{config.path or 'config'}: exclude: {exc}") from None

    def named(self, raw: str) -> None:
        """A path from the command line: it must exist and be readable, or the run stops."""
        try:
            info = os.lstat(raw)
        except OSError as exc:
            raise UsageError(f"{(exc.strerror or 'cannot read').lower()}: {raw}") from None
        if stat.S_ISLNK(info.st_mode):
            if safeio.containment(raw, self.roots) is not None:
                raise UsageError(
                    f"refusing to read {raw}: it is a symbolic link to outside the paths given"
                    " (name its target instead)"
                )
            try:
                info = os.stat(raw)
            except OSError:
                raise UsageError(f"broken symbolic link: {raw}") from None
        if stat.S_ISDIR(info.st_mode):
            self._named_dir(raw)
        elif stat.S_ISREG(info.st_mode):
            why = safeio.can_open(raw)
            if why is not None:
                raise UsageError(f"cannot read {raw}: {why}")
            self.consider(raw)
        else:
            raise UsageError(f"not a regular file or folder: {raw}")

    def _named_dir(self, top: str) -> None:
        try:
            with os.scandir(top):
                pass
        except OSError as exc:
            raise UsageError(f"cannot read folder {top}: {exc.strerror or 'cannot list it'}") from None
        ignores = _GitIgnores(top, self.roots) if self.config.respect_gitignore else None
        self.top = top
        for path in self._walk(top, ignores):
            self.consider(path, rel=_relative(path, top))

    def _walk(self, top: str, ignores: _GitIgnores | None) -> Iterator[str]:
        """Files below ``top``, each folder's files before its subfolders, in name order."""
        stack: list[tuple[str, tuple[_IgnoreFile, ...]]] = [(top, ignores.above if ignores else ())]
        while stack:
            directory, inherited = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self._unlistable(directory, exc)
                continue
            rules = ignores.enter(directory, inherited) if ignores else ()
            subdirs: list[str] = []
            for entry in entries:
                full = os.path.join(directory, entry.name)
                kind = self._entry(entry, full, rules, ignores)
                if kind == "dir":
                    subdirs.append(full)
                elif kind == "file":
                    yield full
            stack.extend((d, rules) for d in reversed(subdirs))

    def _entry(
        self,
        entry: os.DirEntry[str],
        full: str,
        rules: tuple[_IgnoreFile, ...],
        ignores: _GitIgnores | None,
    ) -> str:
        """ "dir" to descend, "file" to consider, "" when left out (recorded if it matters)."""
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir and (entry.name in SKIP_DIRS or _vendored(entry.name, full)):
            self.skip(full, PASSED_OVER)
            return ""
        if rules and ignores is not None and ignores.ignored(rules, full, is_dir):
            if is_dir or wanted_by_name(_relative(full, self.top)):
                self.skip(full, "ignored by .gitignore")
            return ""
        if is_dir and self._excluded(full, is_dir=True):
            self.skip(full, "excluded by config")
            return ""
        if entry.is_symlink():
            return self._link(full)
        if is_dir:
            return "dir"
        if entry.is_file(follow_symlinks=False):
            return "file"
        self._special(full)
        return ""

    def _link(self, full: str) -> str:
        refused = safeio.containment(full, self.roots)
        if refused is not None:
            self.skip(full, refused)
            return ""
        try:
            mode = os.stat(full).st_mode
        except OSError:
            self.skip(full, "broken symbolic link")
            return ""
        if stat.S_ISDIR(mode):
            self.skip(full, DIR_LINK)
            return ""
        if stat.S_ISREG(mode):
            return "file"
        self._special(full)
        return ""

    def _special(self, full: str) -> None:
        """A FIFO, socket or device: never opened, always recorded (whatever its name)."""
        self.skip(full, safeio.NOT_REGULAR)

    def _unlistable(self, directory: str, exc: OSError) -> None:
        shown = display_path(directory)
        if shown not in self.seen:
            self.seen.add(shown)
            problem = f"{UNLISTABLE}: {exc.strerror or type(exc).__name__}"
            self.candidates.append(Candidate(shown, problem=problem))

    def skip(self, path: str, reason: str) -> None:
        shown = display_path(path)
        if shown not in self.seen:
            self.seen.add(shown)
            self.skipped.append(Skipped(shown, reason))

    def _excluded(self, path: str, is_dir: bool = False) -> bool:
        return self.exclude is not None and matches(self.exclude, config_relative(path, self.config), is_dir)

    def consider(self, path: str, rel: str = "") -> None:
        """``path`` is read unless excluded or its type is never configuration.

        A named file of such a type (``notes.txt``, ``app.py``) is skipped with that reason
        too: pre-commit names every staged file, and source code that quotes a config must
        not be read as one. ``rel`` is its path below the named folder it was found in; a
        file named on the command line is its own root, and is known by the path as given.
        """
        shown = display_path(path)
        if shown in self.seen:
            return
        if self._excluded(path):
            self.skip(path, "excluded by config")
            return
        rel = rel or shown
        why = classify(rel)
        if why is not None:
            self.skip(path, why)
            return
        self.seen.add(shown)
        self.candidates.append(Candidate(shown, rel))


@record
class _IgnoreFile:
    """The patterns of one ignore file, relative to the folder ``base`` (absolute)."""

    base: str
    spec: pathspec.GitIgnoreSpec


def _ignored(rules: tuple[_IgnoreFile, ...], absolute: str, is_dir: bool) -> bool:
    """Git's verdict: the last file (deepest) with a matching pattern decides; ``!`` re-includes."""
    verdict: bool | None = None
    for rule in rules:
        rel = os.path.relpath(absolute, rule.base).replace(os.sep, "/")
        if rel.startswith("../"):
            continue
        found = rule.spec.check_file(rel + "/" if is_dir else rel).include
        if found is not None:
            verdict = found
    return verdict is True


class _GitIgnores:
    """The ignore files that apply to a walk of ``top``: only inside a git repository, as git does.

    ``above`` holds ``.git/info/exclude`` and the ``.gitignore`` files of the folders from
    the repository root down to ``top``'s parent; ``enter`` adds each walked folder's own.
    The global excludes file (``core.excludesFile``) is the user's, not the repository's,
    and lies outside the tree: it is not read.
    """

    def __init__(self, top: str, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.named_top = os.path.abspath(top)
        self.real_top = os.path.realpath(top)
        self.repo = safeio.repository_root(top)
        self.above: tuple[_IgnoreFile, ...] = ()
        if self.repo is None:
            return
        inside = (self.repo,)
        parents = [
            f for f in safeio.ancestors(os.path.dirname(self.real_top)) if safeio.within(f, (self.repo,))
        ]
        found = [self._load(os.path.join(self.repo, ".git", "info", "exclude"), self.repo, inside)]
        if self.real_top != self.repo:
            found += [self._load(os.path.join(f, ".gitignore"), f, inside) for f in reversed(parents)]
        self.above = tuple(r for r in found if r is not None)

    def real(self, path: str) -> str:
        """The resolved form of a walked path (the walk never follows a link below ``top``)."""
        absolute = os.path.abspath(path)
        return self.real_top + absolute[len(self.named_top) :]

    def ignored(self, rules: tuple[_IgnoreFile, ...], full: str, is_dir: bool) -> bool:
        return _ignored(rules, self.real(full), is_dir)

    def enter(self, directory: str, inherited: tuple[_IgnoreFile, ...]) -> tuple[_IgnoreFile, ...]:
        if self.repo is None:
            return ()
        own = self._load(os.path.join(directory, ".gitignore"), self.real(directory), self.roots)
        return (*inherited, own) if own is not None else inherited

    @staticmethod
    def _load(path: str, base: str, roots: tuple[str, ...]) -> _IgnoreFile | None:
        if not os.path.lexists(path):
            return None
        data = safeio.read_bytes(path, roots, GITIGNORE_LIMIT)
        if isinstance(data, safeio.Refusal):
            return None
        lines = data.decode("utf-8", errors="replace").splitlines()
        return _IgnoreFile(base, _lenient_globs(lines))


def _lenient_globs(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """A .gitignore's patterns; a line git would reject is dropped, as git drops it."""
    try:
        return compile_globs(lines)
    except ValueError:
        good = []
        for line in lines:
            try:
                compile_globs([line])
            except ValueError:
                continue
            good.append(line)
        return compile_globs(good)


def nothing_read(paths: list[str]) -> str:
    """After a scan that read no file: raise ``UsageError`` when a folder was named, else a warning.

    A named folder with nothing portpolicy reads is almost always a wrong path in CI (exit 2,
    as ruff and yamllint fail on a path they cannot use). With no path given (``.`` by
    default) or only files named (pre-commit passes whatever matched its filter), nothing to
    read is a normal outcome: one warning line, as ruff's "No Python files found", exit 0.
    """
    folders = [p for p in paths if os.path.isdir(p)]
    if folders:
        raise UsageError(f"no file portpolicy can read under {', '.join(folders)}")
    where = ", ".join(paths) if paths else "."
    return f"no file portpolicy can read in {where}"
