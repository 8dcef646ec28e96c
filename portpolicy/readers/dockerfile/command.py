"""``CMD`` and ``ENTRYPOINT``: what a stage's container runs, and the ports its program binds.

The last ``ENTRYPOINT`` and ``CMD`` of a stage (or the ones it inherits from an earlier stage)
are its process; in exec form (a JSON array) the words are as written, in shell form they run
under ``/bin/sh -c``. ``ENTRYPOINT`` resets a ``CMD`` inherited from the parent. With neither,
the base image's own command runs. The ports are ``portpolicy.apps``'s (``data/apps.yml``):
flags, the stage's ``ENV`` and the program's built-in default; a port the stage already
``EXPOSE``s is that listener, not a second one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from portpolicy.model import Fact, Listener, Location, PortSet
from portpolicy.readers.dockerfile.stages import Build, Stage
from portpolicy.readers.dockerfile.syntax import LogicalLine

MAX_JSON = 64 * 1024
"""Characters of an exec-form array that are parsed; a longer one is read as shell form."""


def do_cmd(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    stage = build.stage
    stage.cmd, stage.cmd_own = _words(rest), True
    stage.command_at = line.at(rest_at, build.path)


def do_entrypoint(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    stage = build.stage
    stage.entrypoint = _words(rest)
    if not stage.cmd_own:
        stage.cmd = None  # an inherited CMD is reset by ENTRYPOINT
    stage.command_at = line.at(rest_at, build.path)


def _words(rest: str) -> tuple[str, ...]:
    text = rest.strip()
    if text.startswith("[") and len(text) <= MAX_JSON:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(w, str) for w in parsed):
            return tuple(parsed)
    return ("/bin/sh", "-c", text)


def stage_listeners(build: Build, stage: Stage) -> Iterator[Fact]:
    """The sockets the stage's program binds (run as the stage's user; ``_read`` sets the last one)."""
    if stage.entrypoint is None and stage.cmd is None and not stage.image:
        return
    from portpolicy import apps

    env = {
        name: apps.EnvValue(value, stage.env_at.get(name, stage.location))
        for name, value in stage.env.items()
        if name in stage.env_names
    }
    raw = (*(stage.entrypoint or ()), *(stage.cmd or ()))
    words, cut = apps.bounded(apps.expand(raw, env))
    declared: dict[str, PortSet] = {}
    for listener in stage.listeners:
        declared[listener.protocol] = declared.get(listener.protocol, PortSet()).union(listener.ports)
    where: Location = stage.command_at or stage.location
    start = apps.Start(
        words,
        where,
        env,
        image=stage.image,
        image_location=stage.location,
        truncated=cut,
        declared=declared,
        words_are_args=stage.entrypoint is None,
    )
    scope = apps.Scope(build.path, stage.run_as, f"{build.path} CMD", netns=build.netns, container=build.path)
    for fact in apps.listeners(start, scope):
        if isinstance(fact, Listener):
            stage.listeners.append(fact)
        else:
            yield fact
