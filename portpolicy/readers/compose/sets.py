"""Which compose files Compose combines into one project, and which profiles it starts together.

Compose builds a project from a list of files, merged in order: the ``-f`` options of a
``docker compose`` command, else ``COMPOSE_FILE`` (in the project's ``.env``), else its
default pair in the working folder (compose-go's ``cli/options.go``: the first of
``compose.yaml``, ``compose.yml``, ``docker-compose.yml``, ``docker-compose.yaml``, and the
first of ``compose.override.yml``, ``compose.override.yaml``, ``docker-compose.override.yml``,
``docker-compose.override.yaml``). A devcontainer's ``dockerComposeFile`` list is another
such list. The lists are found here, in the scanned tree only:

* commands in Makefiles, shell scripts, justfiles and CI files, read with a small tokenizer
  (never run): ``docker compose``/``docker-compose``/``podman compose`` with ``-f``/``--file``
  and ``--profile``; a file name ``$(VAR)``/``${VAR}``/``$VAR`` is used only when the same
  file assigns ``VAR`` a literal value (its last one; a ``--profile $VAR`` takes each value
  the file assigns, one start per value); a variable holding a compose command
  (``DC="docker compose -f x.yml"``) starts one where it begins a command (``$DC up``);
  names are relative to the file's folder (a CI file's: the folder holding ``.github``; a
  script's, or a folder above it, since it may ``cd`` to the repository root first);
* ``COMPOSE_FILE`` (split on ``COMPOSE_PATH_SEPARATOR``, ``:`` by default) and
  ``COMPOSE_PROFILES`` in a ``.env`` beside a compose file;
* ``dockerComposeFile`` in ``.devcontainer/devcontainer.json`` or ``.devcontainer.json``
  (JSON is never read otherwise; these files are opened here, through ``safeio``, by name).

Nothing here is evaluated: a name that is not literal is passed over. Every source is bounded
(``MAX_*`` below, documented in docs/robustness.md).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import field

from portpolicy import safeio
from portpolicy.records import record

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

MAX_SET_FILES = 64
"""Files one set may merge; a longer list is not merged (an Unresolved line says so)."""
MAX_SETS = 256
"""Distinct file sets kept from the whole tree; further ones are passed over."""
MAX_SOURCES = 2000
"""Scripts, Makefiles and CI files searched for compose commands."""
MAX_SOURCE_BYTES = 1024 * 1024
"""Bytes of one such file (or ``.env``, or ``devcontainer.json``) that are read."""
MAX_COMMANDS = 4096
"""Compose commands taken from the whole tree."""

_SOURCE_NAMES = frozenset(
    {"makefile", "gnumakefile", "justfile", ".gitlab-ci.yml", "jenkinsfile", "taskfile.yml"}
)
_SOURCE_SUFFIXES = (".mk", ".sh", ".bash", ".zsh", ".just")
_DEVCONTAINER = frozenset({".devcontainer/devcontainer.json", ".devcontainer.json"})
_COMMAND = re.compile(r"\b(?:docker|podman)[ \t]+compose\b|\b(?:docker|podman)-compose\b")
_ASSIGNMENT = re.compile(
    r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:[:?+]?=|:=)[ \t]*(.*?)[ \t]*$", re.M
)
_REFERENCE = re.compile(
    r"\$(?:\(([A-Za-z_][A-Za-z0-9_]*)\)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_MAKE_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_ENV_LINE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(COMPOSE_FILE|COMPOSE_PROFILES|COMPOSE_PATH_SEPARATOR)[ \t]*=[ \t]*(.*?)[ \t]*$",
    re.M,
)
_SHELL_STOPS = frozenset({";", "&&", "||", "|", "&", ")", "(", "`", "\\"})


@record
class Origin:
    """Where a file list or a profile combination was found, for ``facts`` and messages."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.what})"


@record
class FileSet:
    """Compose files merged, in order, into one project; ``default``: Compose's own pair."""

    files: tuple[str, ...]
    origin: Origin
    default: bool = False
    too_long: int = 0
    """The number of files named when the list is over ``MAX_SET_FILES`` (it is then not merged)."""


@record
class Combination:
    """Profiles one command (or ``COMPOSE_PROFILES``) starts together; ``files``: its ``-f`` list, if any."""

    profiles: frozenset[str]
    origin: Origin
    files: tuple[str, ...] = ()
    folder: str | None = None
    """The project folder a ``.env``'s ``COMPOSE_PROFILES`` applies to; None: any project."""


@record(frozen=False)
class Found:
    """Every file set and profile combination of the tree."""

    sets: list[FileSet] = field(default_factory=list)
    combinations: list[Combination] = field(default_factory=list)


def find(compose_paths: Iterable[str], paths: Sequence[str], roots: tuple[str, ...]) -> Found:
    """The file sets and profile combinations that ``compose_paths`` (the compose files read) take part in."""
    composes = {posixpath.normpath(p): p for p in compose_paths}
    found = Found()
    replaced: set[str] = set()
    for path in paths:
        rel = posixpath.normpath(path)
        if posixpath.basename(rel) == ".env" and posixpath.dirname(rel) in _folders(composes):
            replaced |= _from_env(path, composes, roots, found)
    sources = [p for p in paths if _is_source(p)][:MAX_SOURCES]
    for path in sources:
        _from_commands(path, composes, roots, found)
    for path in paths:
        if any(posixpath.normpath(path).endswith(name) for name in _DEVCONTAINER) and _is_devcontainer(path):
            _from_devcontainer(path, composes, roots, found)
    for folder in sorted(_folders(composes) - replaced):
        pair = default_pair(folder, composes)
        if pair:
            found.sets.append(FileSet(pair, Origin(pair[0], 1, "Compose's default files"), default=True))
    found.sets = _distinct(found.sets)[:MAX_SETS]
    return found


def default_pair(folder: str, composes: Mapping[str, str]) -> tuple[str, ...]:
    """Compose's default files in ``folder``: the first default name there, then the first override name."""

    def first(names: tuple[str, ...]) -> str | None:
        for name in names:
            path = posixpath.normpath(posixpath.join(folder, name))
            if path in composes:
                return composes[path]
        return None

    base = first(DEFAULT_FILES)
    if base is None:
        return ()
    override = first(OVERRIDE_FILES)
    return (base, override) if override else (base,)


def _folders(composes: Mapping[str, str]) -> set[str]:
    return {posixpath.dirname(p) for p in composes}


def _is_source(path: str) -> bool:
    """A file that may run compose commands: a Makefile, a script, a justfile, a CI file."""
    rel = posixpath.normpath(path)
    name = posixpath.basename(rel).lower()
    if name in _SOURCE_NAMES or name.endswith(_SOURCE_SUFFIXES):
        return True
    return "/.github/workflows/" in f"/{rel}" and name.endswith((".yml", ".yaml"))


def _is_devcontainer(path: str) -> bool:
    rel = posixpath.normpath(path)
    return posixpath.basename(rel) == ".devcontainer.json" or rel.endswith(".devcontainer/devcontainer.json")


def _text(path: str, roots: tuple[str, ...]) -> str | None:
    text = safeio.read_text(path, roots, MAX_SOURCE_BYTES)
    return None if isinstance(text, safeio.Refusal) else text


def _resolve(folder: str, name: str, composes: Mapping[str, str]) -> str | None:
    """The compose file read under this name (relative to ``folder``), or None."""
    if not name or name == "-" or posixpath.isabs(name):
        return None
    return composes.get(posixpath.normpath(posixpath.join(folder, name)))


def _file_set(
    folder: str, names: Sequence[str], composes: Mapping[str, str], origin: Origin
) -> FileSet | None:
    """The set of the files named, each once, in order; None when none of them was read."""
    if len(names) > MAX_SET_FILES:
        first = _resolve(folder, names[0], composes)
        return FileSet((first,), origin, too_long=len(names)) if first else None
    files: list[str] = []
    for name in names:
        path = _resolve(folder, name, composes)
        if path is not None and path not in files:
            files.append(path)
    return FileSet(tuple(files), origin) if files else None


def _from_env(path: str, composes: Mapping[str, str], roots: tuple[str, ...], found: Found) -> set[str]:
    """``COMPOSE_FILE``/``COMPOSE_PROFILES`` of a project's ``.env``; the folder when it replaces the defaults."""
    text = _text(path, roots)
    if text is None:
        return set()
    folder = posixpath.dirname(posixpath.normpath(path))
    values: dict[str, tuple[str, int]] = {}
    for m in _ENV_LINE.finditer(text):
        values[m.group(1)] = (_unquoted(m.group(2)), text.count("\n", 0, m.start()) + 1)
    separator = values.get("COMPOSE_PATH_SEPARATOR", (":", 0))[0] or ":"
    replaced: set[str] = set()
    if "COMPOSE_FILE" in values:
        value, line = values["COMPOSE_FILE"]
        names = [n for n in value.split(separator) if n]
        fileset = _file_set(folder, names, composes, Origin(path, line, "COMPOSE_FILE"))
        if fileset is not None:
            found.sets.append(fileset)
            replaced.add(folder)
    if "COMPOSE_PROFILES" in values:
        value, line = values["COMPOSE_PROFILES"]
        profiles = frozenset(p.strip() for p in value.split(",") if p.strip())
        if profiles:
            origin = Origin(path, line, "COMPOSE_PROFILES")
            found.combinations.append(Combination(profiles, origin, folder=folder))
    return replaced


def _unquoted(value: str) -> str:
    """A ``.env`` value without its quotes or its `` #`` comment."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()


def _from_devcontainer(path: str, composes: Mapping[str, str], roots: tuple[str, ...], found: Found) -> None:
    """``dockerComposeFile``: a name or a list of names, relative to the devcontainer file's folder."""
    text = _text(path, roots)
    if text is None:
        return
    m = re.search(r'"dockerComposeFile"\s*:\s*(\[[^\]]*\]|"(?:[^"\\]|\\.)*")', text)
    if m is None:
        return
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return
    names = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
    folder = posixpath.dirname(posixpath.normpath(path))
    origin = Origin(path, text.count("\n", 0, m.start()) + 1, "dockerComposeFile")
    fileset = _file_set(folder, names, composes, origin)
    if fileset is not None:
        found.sets.append(fileset)


def _from_commands(path: str, composes: Mapping[str, str], roots: tuple[str, ...], found: Found) -> None:
    """The compose commands of a script, Makefile or CI file, as file sets and profile combinations."""
    text = _text(path, roots)
    if text is None or _COMMAND.search(text) is None:
        return
    assigned = _literal_assignments(text)
    rel = posixpath.normpath(path)
    folder = _working_folder(rel)
    script = posixpath.basename(rel).lower().endswith((".sh", ".bash", ".zsh"))
    for line, command in _commands(text, assigned):
        if len(found.combinations) >= MAX_COMMANDS:
            return
        parsed = _options(command, assigned)
        if parsed is None:
            continue
        names, choices, directory = parsed
        where = posixpath.normpath(posixpath.join(folder, directory)) if directory else folder
        origin = Origin(path, line, "docker compose " + " ".join(f"-f {n}" for n in names[:4]).strip())
        files: tuple[str, ...] = ()
        if names:
            fileset = _file_set_from(where, names, composes, origin, script and not directory)
            if fileset is None:
                continue
            found.sets.append(fileset)
            files = fileset.files
        for profiles in _combinations(choices):
            shown = " ".join(f"--profile {p}" for p in sorted(profiles))
            found.combinations.append(Combination(frozenset(profiles), Origin(path, line, shown), files))


MAX_UP = 8
"""Folders above a script where its relative compose file names are looked for."""
MAX_VALUES = 16
"""Literal values kept for one variable (a script that sets ``profile=`` in each branch)."""


def _file_set_from(
    folder: str, names: Sequence[str], composes: Mapping[str, str], origin: Origin, upwards: bool
) -> FileSet | None:
    """``_file_set`` from ``folder``; a script may run from any folder above its own (it often
    ``cd``s to the repository root first), so those are tried in turn, nearest first."""
    fileset = _file_set(folder, names, composes, origin)
    for _ in range(MAX_UP if upwards else 0):
        if fileset is not None or folder in ("", ".", "/"):
            break
        folder = posixpath.dirname(folder) or "."
        fileset = _file_set(folder, names, composes, origin)
    return fileset


def _combinations(choices: Sequence[Sequence[str]]) -> Iterator[set[str]]:
    """The profile sets a command may start: each ``--profile`` takes one of its values (a
    variable assigned several literals gives several); at most ``MAX_VALUES`` sets."""
    if not choices:
        return
    sets: list[set[str]] = [set()]
    for values in choices:
        sets = [s | {v} for s in sets for v in values][:MAX_VALUES]
    yield from sets


def _working_folder(rel: str) -> str:
    """Where a file's commands run: its folder; a CI workflow's, the folder holding ``.github``."""
    parts = rel.split("/")
    if ".github" in parts[:-1]:
        return "/".join(parts[: parts.index(".github")])
    return posixpath.dirname(rel)


Assigned = Mapping[str, Sequence[str]]
"""A file's literal assignments: each variable's distinct values, in order (the last is the one
a file name takes; a profile may be any of them)."""


def _literal_assignments(text: str) -> dict[str, list[str]]:
    """``VAR = value`` / ``VAR := value`` / ``VAR=value`` with a literal value (no ``$``)."""
    out: dict[str, list[str]] = {}
    for m in _ASSIGNMENT.finditer(text):
        value = _unquoted(m.group(2))
        if "$" not in value and "`" not in value:
            values = out.setdefault(m.group(1), [])
            if value in values:
                values.remove(value)
            values.append(value)
            del values[:-MAX_VALUES]
    return out


def _commands(text: str, assigned: Assigned | None = None) -> Iterator[tuple[int, str]]:
    """(line, text after ``docker compose``) for every compose command; continued lines joined.

    A variable whose literal value is a compose command (``DC="docker compose -f x.yml"``) is
    one when it starts a command (``$DC --profile dev up``): its value is put in its place.
    """
    commands = {k: v[-1] for k, v in (assigned or {}).items() if _COMMAND.match(v[-1])}
    for number, logical in _logical_lines(text):
        if commands:
            logical = _COMMAND_VARIABLE.sub(lambda m: _command_value(m, commands), logical)
        for m in _COMMAND.finditer(logical):
            yield number, logical[m.end() :]


_COMMAND_VARIABLE = re.compile(r"(^|[;&|(`]|\b(?:then|do|else)\b)([ \t]*)\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _command_value(m: re.Match[str], commands: Mapping[str, str]) -> str:
    value = commands.get(m.group(3))
    return m.group(0) if value is None else f"{m.group(1)}{m.group(2)}{value}"


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with their backslash continuations joined, each with the number of its first line."""
    parts: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        yield start, " ".join(parts)
        parts = []
    if parts:
        yield start, " ".join(parts)


def _tokens(command: str) -> list[str]:
    """Shell words of one command, up to the first operator (``;``, ``&&``, ``|`` ...)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()`")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    try:
        for word in lexer:
            if word in _SHELL_STOPS or set(word) <= set(";&|()`"):
                break
            words.append(word)
            if len(words) > 4 * MAX_SET_FILES + 64:
                words.append("\x00many")
                break
    except ValueError:  # an unbalanced quote: what was split so far
        pass
    return words


def _options(command: str, assigned: Assigned) -> tuple[list[str], list[list[str]], str] | None:
    """The ``-f`` files, ``--profile`` names (each option's possible values) and
    ``--project-directory`` of a command; None when a file name is not literal."""
    words = _tokens(_MAKE_REFERENCE.sub(r"${\1}", command))  # $(VAR) is no subshell to the tokenizer
    names: list[str] = []
    profiles: list[list[str]] = []
    directory = ""
    i = 0
    while i < len(words):
        word = words[i]
        key, eq, inline = word.partition("=")
        if word == "\x00many":
            names.extend(["\x00"] * (MAX_SET_FILES + 1 - len(names)))
            break
        if not word.startswith("-"):
            break  # the subcommand: options after it are its own
        takes = key in (
            "-f",
            "--file",
            "--profile",
            "--project-directory",
            "-p",
            "--project-name",
            "--env-file",
        )
        value = inline if eq else (words[i + 1] if takes and i + 1 < len(words) else "")
        if key.startswith("-f") and key not in ("-f", "--file") and not key.startswith("--"):
            key, value, eq = "-f", word[2:], "="
        i += 1 if eq or not takes else 2
        if key in ("-f", "--file"):
            literal = _literal(value, assigned)
            if literal is None:
                return None
            names.append(literal)
        elif key == "--profile":
            values = [v for v in _literals(value, assigned) if v]
            if values:
                profiles.append(values)
        elif key == "--project-directory":
            directory = _literal(value, assigned) or ""
    return names, profiles, directory


def _literal(word: str, assigned: Assigned) -> str | None:
    """A word with its ``$(VAR)``/``${VAR}``/``$VAR`` filled from literal assignments (each
    variable's last value); None if one is not."""
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1) or m.group(2) or m.group(3)
        if name in assigned:
            return assigned[name][-1]
        missing = True
        return ""

    text = _REFERENCE.sub(fill, word)
    return None if missing or "$" in text else text


def _literals(word: str, assigned: Assigned) -> list[str]:
    """Every value ``word`` may take: a word that is one variable assigned several literals
    (``profile=api`` in one branch, ``profile=worker`` in another) takes each; else ``_literal``."""
    m = _REFERENCE.fullmatch(word)
    name = (m.group(1) or m.group(2) or m.group(3)) if m is not None else None
    if name is not None and name in assigned:
        return list(assigned[name])
    literal = _literal(word, assigned)
    return [] if literal is None else [literal]


def _distinct(sets: list[FileSet]) -> list[FileSet]:
    """Each list of files once (the first place that names it), in a stable order."""
    seen: dict[tuple[str, ...], FileSet] = {}
    for s in sets:
        seen.setdefault(s.files, s)
    return sorted(seen.values(), key=lambda s: (not s.default, s.files))
