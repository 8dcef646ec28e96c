"""Recognition of Dockerfiles and Containerfiles: ``FROM`` first, then instruction lines.

Repositories name Dockerfiles ``Dockerfile-prod``, ``Dockerfile_dev``, ``prod.dockerfile``,
``docker/app/Dockerfile.j2``, ``build/Containerfile.alpine``; all are named ones. Any other
file is claimed by content: its first instruction (after comments, parser directives and
``ARG`` lines, which may come before ``FROM``) is ``FROM <image>``, and another instruction
follows it. By content, instructions must be upper case, as nearly every Dockerfile writes
them: a Python script's ``from x import y`` lines are not a Dockerfile. A REUSE sidecar
(``Containerfile.license``), a ``Dockerfile.md`` or a ``Dockerfile.dockerignore`` is not
named a Dockerfile, and its content is not one either.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.paths import strip_template
from portpolicy.signatures import Signature

SAMPLE = 65536
"""Characters of a file the content tests look at."""

INSTRUCTIONS = (
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
)  # fmt: skip
STEMS = ("Dockerfile", "Containerfile", "dockerfile", "containerfile")
NOT_DOCKERFILE = frozenset(
    {
        "md", "markdown", "rst", "txt", "adoc", "html", "htm", "json", "yml", "yaml", "toml", "sh",
        "bash", "ps1", "bat", "cmd", "py", "go", "js", "ts", "rb", "pl", "lock", "patch", "diff",
        "orig", "rej", "swp", "dockerignore", "png", "svg", "gz", "zip", "license", "bak", "old",
    }
)  # fmt: skip
"""Suffixes after ``Dockerfile.`` (or ``Dockerfile-``) that are not Dockerfiles: docs, scripts, ignore files."""

_CONTENT = lazy(r"^[ \t]*(?!#|\{%|\{#)\S", re.M)
"""A line the Dockerfile parser does not skip (comments and parser directives start with ``#``)."""
_ARG = lazy(r"ARG[ \t]+\S")
_FROM = lazy(r"FROM[ \t]+(?:--platform=\S+[ \t]+)?[\w${}./:@-]+[^\n]*\n")
_INSTRUCTION = lazy(rf"[ \t]*(?:{'|'.join(INSTRUCTIONS)})(?:[ \t]|\r?$)", re.M)
_ANY_CASE_INSTRUCTION = lazy(rf"(?i)[ \t]*(?:{'|'.join(INSTRUCTIONS)})(?:[ \t]|\r?$)", re.M)


def named(rel: str) -> bool:
    """``Dockerfile``, ``Dockerfile.prod``, ``Dockerfile-prod``, ``Dockerfile_dev``, ``api.Dockerfile``, ``Containerfile``...

    ``.j2``/``.jinja`` templates of these count too.
    """
    name = rel.rsplit("/", 1)[-1]
    name = strip_template(name)
    for stem in STEMS:
        if name == stem:
            return True
        rest = name[len(stem) :] if name.startswith(stem) else ""
        if rest[:1] in (".", "-", "_") and len(rest) > 1:
            return rest.rsplit(".", 1)[-1].lower() not in NOT_DOCKERFILE
    stem, dot, suffix = name.rpartition(".")
    return bool(dot and stem) and suffix.lower() in ("dockerfile", "containerfile")


def looks(text: str) -> bool:
    """The first instruction (after ``ARG`` lines) is ``FROM <image>``, and an instruction follows."""
    sample = text[:SAMPLE] + "\n"
    line = _CONTENT.search(sample)
    while line is not None and _ARG.match(sample, line.start()):
        line = _CONTENT.search(sample, sample.index("\n", line.start()))
    if line is None or _FROM.match(sample, line.start()) is None:
        return False
    following = _CONTENT.search(sample, sample.index("\n", line.start()))
    return following is not None and _INSTRUCTION.match(sample, following.start()) is not None


def shaped(text: str) -> bool:
    """The first meaningful line is an instruction, in any case (BuildKit accepts ``from``)."""
    first = _CONTENT.search(text, 0, SAMPLE)
    return first is not None and _ANY_CASE_INSTRUCTION.match(text, first.start(), SAMPLE) is not None


SIGNATURE = Signature(
    "dockerfile",
    "portpolicy.readers.dockerfile",
    "a Dockerfile",
    named,
    looks=looks,
    shaped=shaped,
    role="image",
    scope="directory",
)
