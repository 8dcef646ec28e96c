"""``EXPOSE``: the ports a stage's process listens on inside the container.

Each becomes a ``Listener`` in the image's own network namespace (``container:image:<file
name>``), run as the stage's user (its last ``USER``, wherever ``EXPOSE`` stands). Values are
parsed like ``nat.ParsePortSpecs`` (``docker/go-connections``): ``80``, ``80/udp``,
``8000-8010``, tcp/udp/sctp only.
"""

from __future__ import annotations

from dataclasses import replace

from portpolicy.model import BindAddress, InvalidPort, Listener, Location, Unresolved
from portpolicy.readers.base import ascii_int, parse_port_range, shown
from portpolicy.readers.dockerfile.stages import Build
from portpolicy.readers.dockerfile.syntax import LogicalLine
from portpolicy.readers.dockerfile.words import UNKNOWN, expand_word, split_words

_PROTOCOLS = ("tcp", "udp", "sctp")


def do_expose(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """Each ``EXPOSE`` word, expanded, as one or more listeners of the stage."""
    for word, offset in split_words(rest, rest_at):
        loc = line.at(offset, build.path)
        value, problem = expand_word(word, build.stage.env, build.escape)
        if UNKNOWN in value or problem:
            why = problem or "holds a variable without a known value"
            written = line.original[offset : offset + len(word)]
            build.facts.append(Unresolved(written, f"EXPOSE port {why}", loc))
            continue
        for spec in value.split():
            _expose_one(build, word if spec == value else spec, spec, loc)


def _expose_one(build: Build, raw: str, spec: str, loc: Location) -> None:
    ctx = f"EXPOSE {shown(raw)!r}"
    container = spec.rsplit(":", 1)[-1]  # ``nat.ParsePortSpec`` keeps the container part
    port, _, proto = container.partition("/")
    protocol = (proto or "tcp").lower()
    if protocol not in _PROTOCOLS:
        why = f"{ctx}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
        build.facts.append(InvalidPort(raw, why, loc, ctx))
        return
    if not port:
        build.facts.append(InvalidPort(raw, f"{ctx}: no port", loc, ctx))
        return
    if ascii_int(port) == 0:
        why = f"{ctx}: port 0 is no port (docker build records 0/{protocol} in the image; nothing listens on it)"
        build.facts.append(InvalidPort(raw, why, loc, ctx))
        return
    prange = parse_port_range(port, loc, ctx)
    if isinstance(prange, (InvalidPort, Unresolved)):
        build.facts.append(replace(prange, value=raw))
        return
    if prange is None:
        return
    build.stage.listeners.append(
        Listener(
            service=build.path,
            protocol=protocol,
            ports=prange,
            address=BindAddress.wildcard(),
            location=loc,
            run_as=build.stage.run_as,
            bound_by="process",
            netns=build.netns,
            source=f"{build.path} EXPOSE",
            container=build.path,
        )
    )
