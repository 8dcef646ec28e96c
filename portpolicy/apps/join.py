"""A program's config file joined to the process that reads it, on one host.

The config reader (``readers.appconfig``) knows the program and the sockets its file opens,
not who runs it; a process start (``ProgramStart``: a unit's ``ExecStart=``, a container's
command) knows who runs it, not what its file says. Per host and namespace, a config of
program P joins the start of P that reads it: the start that names that file on its command
line, else one that names none and reads it by default (the file's name is one of the
program's default paths). The config's listeners then run as that process's user, carry its
evidence (the unit or Dockerfile line as related) and its built-in defaults give way: the
config decided (``port_assumed`` listeners of P in that namespace are dropped). A config with no
start keeps its listener, user unknown. ``ProgramStart`` facts are dropped here: no rule reads them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import replace

from portpolicy.model import Evidence, Fact, Listener, ProgramStart

CONFIG_READER = "appconfig"
Pair = tuple[str, Fact]


def join(pairs: Sequence[Pair]) -> list[Pair]:
    """The host's facts with configs joined to their processes and every ``ProgramStart`` dropped."""
    starts = [f for _, f in pairs if isinstance(f, ProgramStart)]
    configs = [f for r, f in pairs if r == CONFIG_READER and isinstance(f, Listener) and f.program]
    decided = {(f.program, f.netns) for f in configs}
    out: list[Pair] = []
    for reader, fact in pairs:
        if isinstance(fact, ProgramStart):
            continue
        if isinstance(fact, Listener) and reader != CONFIG_READER and _gives_way(fact, decided):
            continue
        if reader == CONFIG_READER and isinstance(fact, Listener) and fact.program:
            start = _reader_of(fact, starts)
            if start is not None:
                fact = _joined(fact, start)
        out.append((reader, fact))
    return out


def _gives_way(listener: Listener, decided: set[tuple[str, str]]) -> bool:
    """A built-in default of a program whose config file in the same namespace was read."""
    return listener.port_assumed and (listener.program, listener.netns) in decided


def _reader_of(config: Listener, starts: list[ProgramStart]) -> ProgramStart | None:
    """The start that reads ``config``: same program and namespace, the file named or read by default."""
    name = posixpath.basename(config.location.path).removesuffix(".j2")
    mine = [s for s in starts if s.program == config.program and s.netns == config.netns]
    named = [s for s in mine if s.named and any(posixpath.basename(c) == name for c in s.configs)]
    if named:
        return named[0]
    unnamed = [s for s in mine if not s.named]
    by_default = [s for s in unnamed if any(posixpath.basename(c) == name for c in s.configs)]
    chosen = by_default or unnamed
    return chosen[0] if chosen else None


def _joined(config: Listener, start: ProgramStart) -> Listener:
    """The config's listener as the start's process binds it."""
    related = Evidence(start.location, f"{start.service} starts {start.program}, which reads this file")
    run_as = config.run_as if config.run_as.user is not None else start.run_as
    return replace(
        config,
        service=start.service,
        run_as=run_as,
        bound_by="root-master" if config.bound_by == "root-master" and run_as.is_root is True else "process",
        container=config.container or start.container,
        image=config.image or start.image,
        evidence=(*start.evidence, *config.evidence, related),
    )
