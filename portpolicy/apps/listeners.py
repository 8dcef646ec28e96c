"""The listeners one start binds: by flag, by environment variable, or by built-in default."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from portpolicy import imagerefs
from portpolicy.apps.commands import MAX_WORDS, EnvValue, Start, unwrap
from portpolicy.apps.flags import flag_hits
from portpolicy.apps.programs import Run, runs_of
from portpolicy.apps.table import App, Socket, table
from portpolicy.apps.values import Port, ports_of
from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    ParseError,
    PortRange,
    PortSet,
    ProgramStart,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import is_templated, shown
from portpolicy.readers.netaddr import bind_address, templated_host, unknown_address
from portpolicy.records import record


@record
class Scope:
    """Who binds, and where: what the reader knows of the process."""

    service: str
    run_as: RunAs
    source: str
    netns: str = "host"
    evidence: tuple[Evidence, ...] = ()
    container: str = ""


def listeners(start: Start, scope: Scope) -> Iterator[Fact]:
    """The sockets ``start`` binds, by flag, variable or built-in default; never raises on input."""
    env = dict(start.env)
    words = unwrap(start.words, env, start.where)
    if start.truncated:
        yield ParseError(
            f"{scope.service}: the command line has more than {MAX_WORDS} words; only the first {MAX_WORDS} are read",
            start.where,
        )
    runs = runs_of(start, env, words)
    claimed: set[str] = set()
    for run in runs:
        env_here = _with_image_env(run.app, start.image, env, start)
        for socket in run.app.sockets:
            claimed.update(socket.flags)
            yield from _socket_facts(run, socket, env_here, start, scope)
        if run.app.config_ports:
            yield _program_start(run, start, scope)
    args = words[1:] if words and not start.words_are_args else words
    for socket in table().generic:
        flags = tuple(f for f in socket.flags if f not in claimed)
        yield from _from_flags(None, socket, flags, args, start, scope)


def _with_image_env(app: App, image: str, env: dict[str, EnvValue], start: Start) -> dict[str, EnvValue]:
    """The environment with the variables the image itself sets (.NET images' ASPNETCORE_*)."""
    ref = imagerefs.parse(image) if image and app.image_env else None
    if ref is None:
        return env
    for pattern, values in app.image_env:
        if imagerefs.matches(ref, pattern):
            where = start.image_location or start.where
            baked = {name: EnvValue(value, where) for name, value in values if name not in env}
            return {**baked, **env} if baked else env
    return env


def _socket_facts(
    run: Run, socket: Socket, env: Mapping[str, EnvValue], start: Start, scope: Scope
) -> Iterator[Fact]:
    hits = list(_from_flags(run, socket, socket.flags, run.args, start, scope))
    if hits or flag_hits(socket.flags, run.args):
        yield from hits
        return
    for name in _env_names(socket, env):
        yield from _from_env(run, socket, name, env[name], env, start, scope)
        return
    yield from _from_default(run, socket, env, start, scope)


def _env_names(socket: Socket, env: Mapping[str, EnvValue]) -> Iterator[str]:
    for name in socket.env:
        if "*" not in name:
            if name in env:
                yield name
            continue
        for i, key in enumerate(env):
            if i >= 4096:
                break
            if fnmatch.fnmatchcase(key, name):
                yield key


def _from_flags(
    run: Run | None, socket: Socket, flags: Sequence[str], args: tuple[str, ...], start: Start, scope: Scope
) -> Iterator[Fact]:
    hits = flag_hits(flags, args)
    if not socket.repeat:
        hits = hits[-1:]
    for hit in hits:
        spelled = f"{hit.flag}={shown(hit.value)}"
        origin = f"{hit.flag} on the command line"
        yield from _facts_for(
            run, socket, hit.value, spelled, origin, (), run_address(run, socket, args), start, scope
        )


def run_address(run: Run | None, socket: Socket, args: tuple[str, ...]) -> str | None:
    """The address an ``address_flags`` option (``--host``) gives a bare port."""
    hits = flag_hits(socket.address_flags, args) if run is not None else []
    return hits[-1].value if hits else None


def _from_env(
    run: Run,
    socket: Socket,
    name: str,
    value: EnvValue,
    env: Mapping[str, EnvValue],
    start: Start,
    scope: Scope,
) -> Iterator[Fact]:
    if value.value is None:
        yield Unresolved(name, f"{run.app.name} {socket.name}: {name} has no known value", value.location)
        return
    spelled = f"{name}={shown(value.value)}"
    evidence = (
        Evidence(value.location, f"{spelled}: {run.app.name} reads its {socket.name} port from {name}", True),
    )
    host = _env_address(socket, env) or run_address(run, socket, run.args)
    yield from _facts_for(
        run, socket, value.value, spelled, f"{name} in the environment", evidence, host, start, scope
    )


def _env_address(socket: Socket, env: Mapping[str, EnvValue]) -> str | None:
    for name in socket.address_env:
        found = env.get(name)
        if found is not None and found.value:
            return found.value
    return None


def _from_default(
    run: Run, socket: Socket, env: Mapping[str, EnvValue], start: Start, scope: Scope
) -> Iterator[Fact]:
    if socket.default is None or run.by_env or start.no_defaults or run.app.config_read or start.truncated:
        return  # (a cut command line may name the port in what was not read)
    if start.env_unknown and socket.env:
        return
    if any("$" in word for word in run.args[:MAX_WORDS]):
        return  # a variable not known here may hold the flag that names the port
    if socket.when and not any(w in run.args for w in socket.when):
        return
    if _names_config(run):
        return  # the config file it names decides (issue #25 item 2 joins it)
    named = [*socket.flags, *socket.env]
    said = f"{run.app.name}'s built-in default"
    if run.by_image:
        said += f" (the image {shown(start.image)} runs {run.app.name})"
    if named:
        said += (
            "; "
            + ("the image's command" if run.by_image and not run.args else "the command line")
            + " sets no "
        )
        said += " or ".join(named[:3])
    assumed = bool(run.app.config_paths)
    if assumed:
        said += f"; a config file it reads ({run.app.config_paths[0]}) may change it"
    host = run_address(run, socket, run.args) or _env_address(socket, env)
    written = replace(socket, form="address")  # the table writes every default as an address
    yield from _facts_for(
        run, written, socket.default, "", said, (), host, start, scope, default=True, assumed=assumed
    )


def _program_start(run: Run, start: Start, scope: Scope) -> ProgramStart:
    """The start as the join to the program's own config file needs it (``apps.join``)."""
    named = named_configs(run)
    return ProgramStart(
        program=run.app.name,
        service=scope.service,
        configs=named or run.app.config_paths,
        named=bool(named),
        location=start.where,
        run_as=scope.run_as,
        netns=scope.netns,
        container=scope.container,
        evidence=scope.evidence,
        image=start.image,
    )


def named_configs(run: Run) -> tuple[str, ...]:
    """The config files the command line names (``-c /etc/unbound/unbound.conf``, a positional file)."""
    app = run.app
    named = [hit.value for hit in flag_hits(app.config_flags, run.args) if hit.value]
    if app.config_positional:
        named += [
            a
            for a in run.args[:64]
            if not a.startswith("-") and ("/" in a or a.endswith((".yml", ".yaml", ".ini")))
        ]
    return tuple(named[:16])


def _names_config(run: Run) -> bool:
    """The command line names a config file that may set the port."""
    app = run.app
    if app.config_flags and flag_hits(app.config_flags, run.args):
        return True
    if app.config_positional:
        return any(not a.startswith("-") for a in run.args[:64])
    return False


def _facts_for(
    run: Run | None,
    socket: Socket,
    value: str,
    spelled: str,
    origin: str,
    evidence: tuple[Evidence, ...],
    host_override: str | None,
    start: Start,
    scope: Scope,
    default: bool = False,
    assumed: bool = False,
) -> Iterator[Fact]:
    program = run.app.name if run is not None else scope.service
    context = f"{program} {spelled or socket.name}"
    if not value:
        if not socket.empty_disables and not default:
            yield ParseError(
                f"{scope.service}: {socket.flags[0] if socket.flags else socket.name} has no value",
                start.where,
            )
        return
    unknown: str | None = None
    if is_templated(value) or "$" in value or "%" in value:
        # ``{{ ansible_host }}:9100``: the port is known, the address only on the host
        split = templated_host(value) if socket.form in ("address", "host_port") else None
        if split is None or "%" in split[0]:
            yield Unresolved(
                value,
                f"{context}: value is a variable or unit specifier",
                evidence[0].location if evidence else start.where,
            )
            return
        unknown, value = split[0], ":" + split[1]
    ports = ports_of(value, socket)
    if isinstance(ports, str):
        at = evidence[0].location if evidence else start.where
        yield InvalidPort(value, f"{context}: {ports}", at, context)
        return
    for found in ports or ():
        yield from _listener(
            run, socket, found, host_override, spelled, origin, evidence, start, scope, assumed, unknown
        )


def _listener(
    run: Run | None,
    socket: Socket,
    found: Port,
    host_override: str | None,
    spelled: str,
    origin: str,
    evidence: tuple[Evidence, ...],
    start: Start,
    scope: Scope,
    assumed: bool,
    unknown: str | None = None,
) -> Iterator[Listener]:
    host = found.host
    if host_override is not None and (host is None or socket.form in ("port", "host_port")):
        host = host_override or None
    protocols = (found.protocol,) if found.protocol else socket.protocols
    root_master = run is not None and run.app.root_master and scope.run_as.is_root is True
    why = f"port {found.port}: {origin}"
    notes = [Evidence(start.where, f"{spelled}: {why}" if spelled else why)]
    if run is not None and run.by_image and start.image_location is not None:
        notes.append(Evidence(start.image_location, f"the image's default command runs {run.app.name}"))
    for protocol in protocols:
        if start.declared.get(protocol, PortSet()).contains(found.port):
            continue  # the scope declares this port already: that listener is this socket
        yield Listener(
            service=scope.service,
            protocol=protocol,
            ports=PortRange.single(found.port),
            address=unknown_address(unknown) if unknown is not None else bind_address(host),
            location=start.where,
            run_as=scope.run_as,
            bound_by="root-master" if root_master else "process",
            netns=scope.netns,
            source=scope.source,
            evidence=(*scope.evidence, *evidence, *notes),
            container=scope.container,
            image=start.image,
            port_origin=why,
            port_assumed=assumed,
            program=run.app.name if run is not None else "",
        )
