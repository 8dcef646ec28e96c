"""Build stages: ``FROM``, ``ARG``, ``ENV``, ``WORKDIR`` and ``USER``, as a build goes through them.

A stage built ``FROM`` an earlier stage inherits its ``USER``, ``ENV``, ``EXPOSE`` and files;
one built from an image does not see earlier stages. With no ``USER`` at all the base image
decides: its known default user (``data/images.yml``, located at the ``FROM`` line), else
unknown (no verdict); ``FROM scratch`` runs as root. ``ENV``
of a name wins over ``ARG``; global ``ARG``s (before the first ``FROM``) are seen by ``FROM``
and by a stage's ``ARG`` of the same name.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from portpolicy import imagerefs, images
from portpolicy.model import Fact, Listener, Location, ParseError, RunAs, Unresolved
from portpolicy.readers import heredocs
from portpolicy.readers.base import Source
from portpolicy.readers.dockerfile.syntax import Instructions, LogicalLine
from portpolicy.readers.dockerfile.words import UNKNOWN, expand_word, if_known, split_words
from portpolicy.readers.interpolate import VAR_NAME


@dataclass
class Stage:
    """A stage while it is being read; ``env`` maps names to values (None: not known)."""

    name: str
    base: str
    location: Location
    env: dict[str, str | None]
    run_as: RunAs
    listeners: list[Listener] = field(default_factory=list)
    copies: list[tuple[str, str, Location]] = field(default_factory=list)
    workdir: str = "/"
    env_names: set[str] = field(default_factory=set)
    image: str = ""
    """The external image at the root of its ``FROM`` chain ("" for scratch or an unknown one)."""
    env_at: dict[str, Location] = field(default_factory=dict)
    """The ``ENV`` line that set each name."""
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    cmd_own: bool = False
    """``cmd`` is this stage's own (an inherited one is reset by ``ENTRYPOINT``)."""
    command_at: Location | None = None
    """The last ``CMD``/``ENTRYPOINT`` line."""


class Build:
    """One Dockerfile's build so far: its stages, global ``ARG``s and the facts found."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.path = source.path
        self.template = source.template
        self.global_args: dict[str, str | None] = {}
        self.stages: list[Stage] = []
        name = posixpath.basename(source.name_path)
        self.netns = f"container:image:{name}"
        self.facts: list[Fact] = []
        self.syntax = Instructions(source, self.facts)
        self.writes = heredocs.Writes(source.path, "dockerfile", "written by a Dockerfile heredoc")
        """The files its heredocs write into the image (``written``)."""

    @property
    def escape(self) -> str:
        """The escape character (``# escape=``): it also quotes in word expansion."""
        return self.syntax.escape

    @property
    def stage(self) -> Stage:
        return self.stages[-1]

    def env(self) -> dict[str, str | None]:
        return self.stage.env if self.stages else self.global_args


def do_from(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """A new stage: from an earlier stage (inheriting what it set) or from an image (nothing known)."""
    words = split_words(rest, rest_at)
    words = [(w, o) for w, o in words if not w.startswith("--")]
    loc = line.at(0, build.path)
    name = str(len(build.stages))
    if len(words) >= 3 and words[-2][0].lower() == "as":
        name = words[-1][0].lower()
    base_raw = words[0][0] if words else ""
    base, _ = expand_word(base_raw, build.global_args, build.escape)
    parent = next((s for s in reversed(build.stages) if s.name == base.lower()), None)
    if parent is not None:
        stage = Stage(
            name,
            base,
            loc,
            {k: v for k, v in parent.env.items() if k in parent.env_names},
            parent.run_as,
            list(parent.listeners),
            list(parent.copies),
            parent.workdir,
            set(parent.env_names),
            parent.image,
            env_at=dict(parent.env_at),
            entrypoint=parent.entrypoint,
            cmd=parent.cmd,
            command_at=parent.command_at,
        )
    else:
        image = "" if base.lower() == "scratch" or imagerefs.parse(base) is None else base
        run_as = (
            RunAs("root", loc) if base.lower() == "scratch" else images.default_user(image, loc) or RunAs()
        )
        stage = Stage(name, base, loc, {}, run_as, image=image)
    build.stages.append(stage)


def do_arg(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """Build arguments: a default is known; a bare name takes the global ``ARG``'s, else none is known."""
    target = build.env()
    for word, _ in split_words(rest, rest_at):
        key, eq, value = word.partition("=")
        if not VAR_NAME.fullmatch(key):
            continue
        if build.stages and key in build.stage.env_names:
            continue  # ENV of the same name wins over ARG
        if eq:
            target[key] = if_known(expand_word(value, build.env(), build.escape)[0])
        elif build.stages:
            target[key] = build.global_args.get(key)
        else:
            target[key] = None


def do_env(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """Environment values of the stage (``key=value`` pairs or the legacy ``key value``)."""
    words = split_words(rest, rest_at)
    if not words:
        return
    if "=" not in words[0][0]:  # legacy ``ENV key value with spaces``
        key, _, value = rest.partition(" ")
        pairs = [(key, value.strip())]
    else:
        pairs = [(w.partition("=")[0], w.partition("=")[2]) for w, _ in words]
    for key, value in pairs:
        if VAR_NAME.fullmatch(key):
            build.stage.env[key] = if_known(expand_word(value, build.stage.env, build.escape)[0])
            build.stage.env_names.add(key)
            build.stage.env_at[key] = line.at(rest_at, build.path)


def do_workdir(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """The working directory relative ``COPY`` destinations start from (empty: not known)."""
    value = if_known(expand_word(rest.strip(), build.stage.env, build.escape)[0])
    if value is None:
        build.stage.workdir = ""
    elif build.stage.workdir or value.startswith("/"):
        build.stage.workdir = posixpath.normpath(posixpath.join(build.stage.workdir or "/", value))


def do_user(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """The user the stage's process runs as, when it is known statically."""
    loc = line.at(rest_at, build.path)
    words = split_words(rest, rest_at)
    if len(words) != 1:
        build.facts.append(ParseError("USER takes exactly one argument", loc))
        return
    value, problem = expand_word(words[0][0], build.stage.env, build.escape)
    if UNKNOWN in value or problem:
        why = problem or "holds a variable without a known value"
        shown = line.original[rest_at : rest_at + len(rest)]
        build.facts.append(Unresolved(shown, f"USER {why}: the user is not known statically", loc))
        build.stage.run_as = RunAs(None, loc)
        return
    if not value.strip():
        build.stage.run_as = RunAs(None, loc)
        return
    build.stage.run_as = RunAs(value.strip(), loc)
