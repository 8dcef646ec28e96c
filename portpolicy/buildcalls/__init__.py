"""Which Dockerfile builds which image: the build calls a repository holds, as one table.

A Kubernetes container or a compose service that names ``image: org/app:tag`` without a
``build:`` runs an image the repository may build itself. The calls are read here, in the
scanned tree only and never run: GitHub Actions workflows (``docker/build-push-action``,
``docker build`` in ``run:``), GitLab CI scripts (``docker build``, kaniko), Makefiles and
shell scripts, ``docker-bake.hcl`` targets and ``skaffold.yaml`` artifacts. Each call whose
Dockerfile the scan read becomes an ``ImageBuild`` fact on that Dockerfile: its image names,
its build context (``COPY`` sources are relative to it) and its target; ``placement`` joins
workloads to it. Files are found by name and opened through ``safeio``; every source is
bounded (``MAX_*`` here and in each module; docs/robustness.md), and what a bound cut short
is an ``Unresolved`` line on the file, shown by ``facts``.

A compose service with ``build:`` and ``image:`` declares such a build itself (the compose
reader gives its ``ImageBuild``): it joins the table first, and a call building the same
image from the same Dockerfile and context adds nothing. A file read for its calls is
listed as read (``READER``), a CI file with none says so (``relist``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from portpolicy import imagerefs, safeio
from portpolicy.buildcalls.calls import Call, Found
from portpolicy.discover import Skipped
from portpolicy.model import Fact, ImageBuild, ImageInfo, Location, Unresolved
from portpolicy.recognise import not_taken

Entry = tuple[str, str, list[Fact]]

MAX_SOURCES = 2000
"""Workflows, CI files, Makefiles, scripts, bake and skaffold files read for build calls."""
MAX_SOURCE_BYTES = 1024 * 1024
"""Bytes of one such file that are read."""
MAX_CALLS = 4096
"""Build calls taken from the whole tree."""
MAX_UP = 8
"""Folders above a script searched for the Dockerfile its call names."""
READER = "build calls"
"""The name notes are filed under (no format reader: these files are not configuration)."""

_MENTION = re.compile(r"build|executor|bud\b|artifacts|target")


def kind_of(path: str) -> str | None:
    """Which build-call source ``path`` is by its name, or None."""
    rel = posixpath.normpath(path)
    name = posixpath.basename(rel)
    lower = name.lower()
    if "/.github/workflows/" in f"/{rel}" and lower.endswith((".yml", ".yaml")):
        return "workflow"
    if lower.endswith(".gitlab-ci.yml"):
        return "gitlab"
    if lower in ("makefile", "gnumakefile") or lower.endswith(".mk"):
        return "make"
    if lower.endswith((".sh", ".bash")):
        return "script"
    if lower.startswith("docker-bake") and lower.endswith(".hcl"):
        return "bake"
    if lower.startswith("skaffold") and lower.endswith((".yaml", ".yml")):
        return "skaffold"
    return None


_WHAT = {
    "workflow": "a CI workflow",
    "gitlab": "a CI workflow",
    "skaffold": "a skaffold config",
    "bake": "a bake file",
}
NO_BUILD = " with no image build"
"""Why a CI file, skaffold or bake file that holds no build call is not read (``relist``)."""
NO_DOCKERFILE = ", read for image builds only when the scan reads a Dockerfile"
"""Why such a file is not read when no Dockerfile was (no image to link)."""


@dataclass
class Sources:
    """Which build-call sources were looked at (path -> kind) and which held a build call."""

    looked: dict[str, str] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)


def relist(skipped: Sequence[Skipped], sources: Sources | None) -> tuple[list[Skipped], list[str]]:
    """The skipped files without those read for their build calls (returned, to be listed as
    read, as ``READER``), and a CI file with none saying so instead of "unrecognised".

    ``sources`` None: no Dockerfile was read, so no file was read for build calls.
    """
    out: list[Skipped] = []
    read: list[str] = []
    for skip in skipped:
        if not not_taken(skip.reason):
            out.append(skip)
        elif sources is not None and skip.path in sources.held:
            read.append(skip.path)
        else:
            kind = kind_of(skip.path) if sources is None else sources.looked.get(skip.path)
            what = _WHAT.get(kind or "")
            if what is not None:
                skip = Skipped(skip.path, what + (NO_BUILD if sources is not None else NO_DOCKERFILE))
            out.append(skip)
    return out, read


def attach(
    per_file: list[Entry], paths: Sequence[str], roots: tuple[str, ...], sources: Sources | None = None
) -> tuple[list[Entry], list[Entry]]:
    """``per_file`` with each build call's ``ImageBuild`` on the Dockerfile it builds, and the
    notes (bounds met, cycles) as entries of their own files. ``sources``, when given, learns
    which files were looked at and which held a call (``relist``)."""
    dockerfiles = {
        posixpath.normpath(p): p for p, _, facts in per_file if any(isinstance(f, ImageInfo) for f in facts)
    }
    if not dockerfiles:
        return per_file, []
    sources = Sources() if sources is None else sources
    builds: dict[str, list[Fact]] = {}
    seen: set[tuple[str, str, str | None, tuple[str, ...]]] = set()
    notes: list[Entry] = []
    per_file = _declared(per_file, dockerfiles, builds, seen)
    total = 0
    found_sources = [(p, k) for p in paths if (k := kind_of(p)) is not None]
    for path, kind in found_sources[:MAX_SOURCES]:
        found = _read(path, kind, roots)
        sources.looked[path] = kind
        if found.calls:
            sources.held.add(path)
        notes.extend((path, READER, [_note(path, line, text)]) for line, text in found.notes[:8])
        for call in found.calls:
            total += 1
            if total > MAX_CALLS:
                notes.append(
                    (
                        path,
                        READER,
                        [
                            _note(
                                path,
                                call.line,
                                f"more than {MAX_CALLS} build calls: the rest are passed over",
                            )
                        ],
                    )
                )
                break
            build = _resolve(call, path, dockerfiles)
            key = (build.dockerfile, build.context, build.target, build.names) if build else None
            if build is None or key is None or key in seen:
                continue
            seen.add(key)
            builds.setdefault(build.dockerfile, []).append(build)
        if total > MAX_CALLS:
            break
    out = [(p, reader, [*facts, *builds.get(p, ())]) for p, reader, facts in per_file]
    return out, notes


def _declared(
    per_file: list[Entry],
    dockerfiles: dict[str, str],
    builds: dict[str, list[Fact]],
    seen: set[tuple[str, str, str | None, tuple[str, ...]]],
) -> list[Entry]:
    """The builds files declare themselves (a compose service's ``build:`` with ``image:``) join
    the table first: each once, on the Dockerfile it builds when the scan read it (else it
    stays where it was declared, as ``facts`` shows it); a workflow building the same image
    from the same Dockerfile and context adds nothing."""
    out: list[Entry] = []
    for path, reader, facts in per_file:
        if path in dockerfiles.values() or not any(isinstance(f, ImageBuild) for f in facts):
            out.append((path, reader, facts))
            continue
        kept: list[Fact] = []
        for fact in facts:
            if not isinstance(fact, ImageBuild):
                kept.append(fact)
                continue
            found = dockerfiles.get(posixpath.normpath(fact.dockerfile))
            key = (found or fact.dockerfile, fact.context, fact.target, fact.names)
            if key in seen:
                continue
            seen.add(key)
            if found is None:
                kept.append(fact)
            else:
                builds.setdefault(found, []).append(replace(fact, dockerfile=found))
        out.append((path, reader, kept))
    return out


def _read(path: str, kind: str, roots: tuple[str, ...]) -> Found:
    """The calls of one file; a file that cannot be read or parsed has none (it is no config)."""
    text = safeio.read_text(path, roots, MAX_SOURCE_BYTES)
    if isinstance(text, safeio.Refusal) or not _MENTION.search(text):
        return Found()
    folder = _working_folder(posixpath.normpath(path))
    from portpolicy.yamlnodes import YamlError

    try:
        return _parser(kind)(text, folder)
    except YamlError:
        return Found()


def _parser(kind: str) -> Callable[[str, str], Found]:
    """The reader of one kind of file, imported only when such a file is in the tree."""
    if kind == "workflow":
        from portpolicy.buildcalls import actions

        return actions.workflow
    if kind == "gitlab":
        from portpolicy.buildcalls import gitlab

        return gitlab.pipeline
    if kind == "bake":
        from portpolicy.buildcalls import bake

        return bake.bakefile
    if kind == "skaffold":
        from portpolicy.buildcalls import skaffold

        return skaffold.config
    from portpolicy.buildcalls import make

    return make.makefile if kind == "make" else make.script


def _working_folder(rel: str) -> str:
    """Where a file's calls run: its folder; a workflow's, the folder holding ``.github``."""
    parts = rel.split("/")
    if ".github" in parts[:-1]:
        return "/".join(parts[: parts.index(".github")]) or "."
    return posixpath.dirname(rel) or "."


def _resolve(call: Call, path: str, dockerfiles: dict[str, str]) -> ImageBuild | None:
    """The call as an ``ImageBuild`` of a Dockerfile the scan read, or None."""
    names = tuple(dict.fromkeys(ref.name for tag in call.tags if (ref := imagerefs.parse(tag)) is not None))
    if not names or call.context is None:
        return None
    for folder in _folders(call):
        context = posixpath.normpath(posixpath.join(folder, call.context))
        written = call.dockerfile or "Dockerfile"
        first = context if call.file_in_context or call.dockerfile is None else folder
        for base in dict.fromkeys((first, folder, context)):
            found = dockerfiles.get(posixpath.normpath(posixpath.join(base, written)))
            if found is not None:
                return _build(call, path, names, found, context)
    return None


def _folders(call: Call) -> list[str]:
    """The working folder, and for a script the folders above it (it may run from any)."""
    out = [call.folder]
    while call.search_up and out[-1] not in (".", "", "/") and len(out) <= MAX_UP:
        out.append(posixpath.dirname(out[-1]) or ".")
    return out


def _build(call: Call, path: str, names: tuple[str, ...], dockerfile: str, context: str) -> ImageBuild:
    where = Location(path, call.line)
    target = f", target {call.target}" if call.target else ""
    text = (
        f"image {call.tags[0]} \u2190 {dockerfile} (context {call.context}{target}, from {path}:{call.line})"
    )
    return ImageBuild(names, dockerfile, context, where, text, call.target, call.args)


def _note(path: str, line: int, text: str) -> Unresolved:
    return Unresolved(posixpath.basename(path), text, Location(path, line))
