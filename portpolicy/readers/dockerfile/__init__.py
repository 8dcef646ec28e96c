"""Dockerfiles and Containerfiles: each stage's ``USER``, ``EXPOSE`` and build-context copies.

The syntax is BuildKit's (``moby/buildkit`` ``frontend/dockerfile/parser``): parser
directives at the top (``# escape=`` changes the line-continuation and escape character),
comment and blank lines skipped even inside a continuation, heredocs (``RUN <<EOF`` …
``EOF``) whose bodies are never instructions, instructions in any case, JSON-array and
shell forms. Variables expand as BuildKit's shell lexer does, from ``ARG`` defaults and
``ENV`` values; a variable that is declared without a value or not declared at all is not
known statically (a ``--build-arg`` may set it), so it becomes ``Unresolved``.

A stage built ``FROM`` an earlier stage inherits its ``USER``, ``ENV``, ``EXPOSE`` and
files; one built from an image does not see earlier stages. The last stage is what runs
(compose ``target:`` picks another one, see ``placement``). ``EXPOSE`` documents the ports
the process listens on inside the container, so each becomes a ``Listener`` in the image's
own network namespace (``container:image:<file name>``), run as the stage's user. With no
``USER`` at all the base image decides: its known default user (``data/images.yml``), else
unknown (no verdict); ``FROM scratch`` runs as root. The listeners carry the external image
at the root of the final stage's ``FROM`` chain (``Listener.image``). EXPOSE values are parsed like ``nat.ParsePortSpecs``
(``docker/go-connections``): ``80``, ``80/udp``, ``8000-8010``, tcp/udp/sctp only.

The package splits the reader by job: ``syntax`` (logical instructions, directives,
heredocs), ``words`` (quoting and variable expansion), ``stages`` (``FROM``, ``ARG``,
``ENV``, ``WORKDIR``, ``USER``), ``expose``, ``copies`` (``COPY``/``ADD``) and ``written`` (files
its heredocs write: ``COPY <<EOF``, ``RUN`` heredocs); this module
hands each instruction to its handler (``HANDLERS``) and yields each stage's image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from portpolicy.model import Fact, ImageInfo, ImageStage, ParseError
from portpolicy.readers.base import Format, Source, first_word
from portpolicy.readers.dockerfile import command, copies, expose, stages, written
from portpolicy.readers.dockerfile.stages import Build
from portpolicy.readers.dockerfile.syntax import INSTRUCTIONS, MAX_LINES, TEMPLATED, LogicalLine
from portpolicy.virtual import Deployed

NAME = "dockerfile"

FORMAT = Format(
    "a Dockerfile",
    "Dockerfile instruction",
    re.compile(
        r"(?i)[ \t]*(?:from|run|cmd|label|maintainer|expose|env|add|copy|entrypoint|volume|user|workdir"
        r"|arg|onbuild|stopsignal|healthcheck|shell)(?:[ \t]|$)"
    ),
)

Handler = Callable[[Build, LogicalLine, str, int], None]
"""An instruction's effect on the build: (build, instruction, its arguments, where they start)."""

HANDLERS: dict[str, Handler] = {
    "from": stages.do_from,
    "arg": stages.do_arg,
    "env": stages.do_env,
    "workdir": stages.do_workdir,
    "user": stages.do_user,
    "expose": expose.do_expose,
    "copy": copies.do_copy,
    "add": copies.do_add,
    "run": written.run,
    "cmd": command.do_cmd,
    "entrypoint": command.do_entrypoint,
}
"""The instructions that change what this reader reports; the others are read and left alone."""


def read(source: Source) -> Iterator[Fact | Deployed]:
    """Read one Dockerfile (a bug here is the pipeline's to guard: ``reading.read_candidate``)."""
    yield from _read(Build(source))


def _read(build: Build) -> Iterator[Fact | Deployed]:
    """Every instruction in order, then the facts found and each stage's image."""
    for line in build.syntax.lines():
        text = line.text
        m = re.match(r"\S+", text)
        if m is None:
            continue
        word = m.group(0)
        instr = word.lower()
        tail = text[m.end() :]
        rest_at = m.end() + len(tail) - len(tail.lstrip())
        rest = text[rest_at:].rstrip()
        if instr not in INSTRUCTIONS:
            if not (build.template or TEMPLATED in word or "$" in word or "@" in word):
                build.facts.append(
                    ParseError(f"unknown instruction {first_word(word)!r}", line.at(0, build.path))
                )
            continue
        handler = HANDLERS.get(instr)
        if instr != "arg" and instr != "from" and not build.stages:
            if instr not in ("onbuild",):
                build.facts.append(
                    ParseError(f"{word.upper()} before the first FROM", line.at(0, build.path))
                )
            continue
        if handler is not None:
            handler(build, line, rest, rest_at)
    for stage in build.stages:
        build.facts.extend(command.stage_listeners(build, stage))
    yield from build.facts
    yield from build.writes.found
    if build.stages:
        # The last USER of a stage is the one its process runs as, wherever EXPOSE stands.
        images = tuple(
            ImageStage(
                s.name,
                s.base,
                s.location,
                s.run_as,
                tuple(replace(ln, run_as=s.run_as, image=s.image) for ln in s.listeners),
                tuple(s.copies),
                s.image,
            )
            for s in build.stages
        )
        yield from images[-1].listeners
        yield ImageInfo(build.source.at(1), build.netns, build.path, images)


__all__ = ["FORMAT", "HANDLERS", "INSTRUCTIONS", "MAX_LINES", "NAME", "read"]
