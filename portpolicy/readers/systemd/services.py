"""Service units: who a service runs as, and the listeners its ``ExecStart=`` flags name.

``User=``, ``DynamicUser=``, ``NoNewPrivileges=``, ``PrivateUsers=`` and the capability sets
are read as systemd's ``load-fragment.c`` does (the last valid assignment wins, an empty one
resets, capability lists add and remove). A socket's listeners run as the service it
activates; a service's own flags (``--web.listen-address=:9100``), ``Environment=`` variables
and its program's built-in default port (``data/apps.yml``, ``portpolicy.apps``) bind as the
service's user. A ``docker|podman|nerdctl run`` (or ``create`` in ``ExecStartPre=``) starts a
container instead (``readers.containerrun``): its listeners are the container's, in the host's
scope; a ``podman run`` by a non-root ``User=`` is rootless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from portpolicy.model import Evidence, Fact, Location, RunAs
from portpolicy.readers import daemons
from portpolicy.readers.base import ascii_int, is_templated, shown
from portpolicy.readers.systemd.dropins import HostUnits, MergedUnit
from portpolicy.readers.systemd.specifiers import expand_specifiers
from portpolicy.readers.systemd.unitfile import Directive

if TYPE_CHECKING:
    from portpolicy.apps import EnvValue

_T = TypeVar("_T")


_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})

# Linux capability numbers 0..40, as systemd also accepts numeric names.
ALL_CAPABILITIES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip


def parse_bool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def last_assignment(
    directives: Iterator[Directive], key: str, parse: Callable[[str], _T | None]
) -> tuple[_T | None, Location | None]:
    """A scalar setting: the last valid assignment wins, an empty one resets, invalid ones are ignored."""
    value: _T | None = None
    where: Location | None = None
    for directive in directives:
        if directive.key != key:
            continue
        if directive.value == "":
            value, where = None, None
            continue
        parsed = parse(directive.value)
        if parsed is not None:
            value, where = parsed, directive.location
    return value, where


def _capability(name: str) -> str:
    word = name.upper()
    word = word.removeprefix("CAP_")
    number = ascii_int(word)
    if number is not None and number < len(ALL_CAPABILITIES):
        return ALL_CAPABILITIES[number]
    return word


def _capabilities(directives: Iterator[Directive], key: str) -> tuple[frozenset[str] | None, Location | None]:
    """A capability list as config_parse_capability_set() builds it (None: never set).

    A first, empty or ``~``-only assignment replaces the set; later ones add (or, with
    ``~``, remove) names. An inverted set ("all except") is spelled out by name, or ``ALL``.
    """
    inverted = False
    names: frozenset[str] | None = None
    where: Location | None = None
    for directive in directives:
        if directive.key != key:
            continue
        text = directive.value
        invert = text.startswith("~")
        words = frozenset(_capability(w) for w in text.removeprefix("~").split())
        if not words or names is None or (not inverted and not names and key != "CapabilityBoundingSet"):
            inverted, names = invert, words
        elif invert:
            names = names | words if inverted else names - words
        else:
            names = names - words if inverted else names | words
        where = directive.location
    if names is None:
        return None, None
    if not inverted:
        return names, where
    if not names:
        return frozenset({"ALL"}), where
    return frozenset(ALL_CAPABILITIES) - names, where


def who_runs(units: HostUnits, socket: MergedUnit, service: str) -> tuple[RunAs, tuple[Evidence, ...]]:
    """Who the paired service runs as (None when unknown) and the lines that say so."""
    if socket.user_unit:
        found = units.merged(True, service)
        paired: tuple[Evidence, ...] = ()
        if found is not None and found.fragments:
            paired = (Evidence(found.fragments[0].location, f"paired service unit {service}"),)
        return RunAs(user="systemd user manager"), paired
    unit = units.merged(False, service)
    if unit is None or unit.broken:
        return RunAs(user=None), ()

    def settings() -> Iterator[Directive]:
        return unit.directives("Service")

    evidence: list[Evidence] = []
    if unit.fragments:
        evidence.append(Evidence(unit.fragments[0].location, f"paired service unit {service}"))
    user, user_at = last_assignment(settings(), "User", lambda v: v)
    dynamic, dynamic_at = last_assignment(settings(), "DynamicUser", parse_bool)
    nnp, nnp_at = last_assignment(settings(), "NoNewPrivileges", parse_bool)
    private, private_at = last_assignment(settings(), "PrivateUsers", _private_users)
    ambient, ambient_at = _capabilities(settings(), "AmbientCapabilities")
    bounding, bounding_at = _capabilities(settings(), "CapabilityBoundingSet")

    name: str | None
    location = user_at
    if user is not None:
        expanded = expand_specifiers(user, unit)
        name = None if is_templated(user) or expanded.unresolved else expanded.text
        evidence.append(Evidence(user_at or unit.fragments[0].location, f"User={shown(user)}"))
    elif dynamic:
        name = "dynamic user"
        location = dynamic_at
    elif unit.main is not None:
        name = "root"  # a system service without User= runs as root
    else:
        name = None
    if dynamic and dynamic_at is not None:
        evidence.append(Evidence(dynamic_at, "DynamicUser=yes: a transient non-root user"))
    if ambient and ambient_at is not None:
        evidence.append(Evidence(ambient_at, "AmbientCapabilities=" + " ".join(sorted(ambient))))
    if nnp and nnp_at is not None:
        evidence.append(Evidence(nnp_at, "NoNewPrivileges=yes"))
    if private and private_at is not None:
        evidence.append(Evidence(private_at, "PrivateUsers=: no capabilities in the host user namespace"))
    run_as = RunAs(
        user=name,
        location=location,
        ambient=ambient or frozenset(),
        bounding=bounding,
        no_new_privileges=bool(nnp) or bool(dynamic),
        private_users=bool(private),
        capability_location=ambient_at or bounding_at,
    )
    return run_as, tuple(evidence)


def _private_users(value: str) -> bool | None:
    """PrivateUsers= takes a boolean or (newer systemd) a mode: every mode is a user namespace."""
    if value.lower() in {"self", "identity", "full", "managed"}:
        return True
    return parse_bool(value)


def exec_facts(units: HostUnits) -> Iterator[Fact]:
    """Listeners of ``ExecStart=`` lines: flags, ``Environment=`` and defaults (data/apps.yml)."""
    for user_unit, name in sorted(units.mains):
        if not name.endswith(".service") or "@." in name:
            continue
        unit = units.merged(user_unit, name)
        if unit is None or unit.broken:
            continue
        commands: list[Directive] = []
        for directive in unit.directives("Service"):
            if directive.key == "ExecStart":
                if directive.value == "":
                    commands.clear()  # an empty assignment resets the list (drop-in overrides)
                else:
                    commands.append(directive)
        if not commands:
            continue
        run_as, evidence = who_runs(units, unit, name)
        env = _environment(unit)
        activated = _socket_activated(units, user_unit, name)  # its sockets are the socket unit's
        env_file = any(d.key == "EnvironmentFile" for d in unit.directives("Service"))
        for directive in commands:
            started = _containers(directive, run_as, evidence, env)
            if started is not None:  # docker run: the container's process listens, not the client
                yield from started
                continue
            yield from daemons.exec_listeners(
                directive.value, directive.location, name, run_as, evidence, env, activated, env_file
            )
        for directive in unit.directives("Service"):
            if directive.key == "ExecStartPre":  # ``docker create`` before ``ExecStart=docker start``
                yield from _containers(directive, run_as, evidence, env) or ()


def _containers(
    directive: Directive, run_as: RunAs, evidence: tuple[Evidence, ...], env: dict[str, EnvValue]
) -> list[Fact] | None:
    """The container a ``docker|podman|nerdctl run|create`` command line starts (``readers.containerrun``),
    run by the unit's user; None when the line starts none."""
    from portpolicy import apps
    from portpolicy.readers import containerrun

    if containerrun.MENTION.search(directive.value) is None:
        return None
    where = directive.location
    reads = containerrun.Reads(where.path, containerrun.Invoker(run_as, evidence))
    try:
        words = next(containerrun.commands(directive.value, _positions(directive)), [])
    except ValueError:
        return None
    words = containerrun.unwrap_shell(words)
    if env:  # ``${PORT}`` from the unit's Environment=
        words = [
            replace(w, text=(apps.expand((w.text,), env) or ("",))[0]) if "$" in w.text else w for w in words
        ]
    if containerrun.container_run(words) is None:
        return None
    reads.words(words)
    return reads.found


def _positions(directive: Directive) -> Callable[[int], Location]:
    """Where an offset of a directive's value is written: continued values go on at later lines."""
    where = directive.location

    def position(at: int) -> Location:
        for offset, line in reversed(directive.breaks):
            if offset <= at:
                return Location(where.path, line, 1 + at - offset)
        return replace(where, column=where.column + at)

    return position


def _socket_activated(units: HostUnits, user_unit: bool, service: str) -> bool:
    """A socket unit of the host activates ``service`` (same name, or its ``Service=``)."""
    stem = service.removesuffix(".service")
    for user, socket_name in units.socket_names():
        if user != user_unit:
            continue
        if socket_name.removesuffix(".socket").partition("@")[0] == stem:
            return True
        socket = units.merged(user, socket_name)
        if socket is not None and any(
            d.key == "Service" and d.value == service for d in socket.directives("Socket")
        ):
            return True
    return False


def _environment(unit: MergedUnit) -> dict[str, EnvValue]:
    """``Environment=`` assignments in order (a later one wins; an empty one clears them all)."""
    from portpolicy.apps import EnvValue, parse_environment

    env: dict[str, EnvValue] = {}
    for directive in unit.directives("Service"):
        if directive.key != "Environment":
            continue
        if directive.value == "":
            env.clear()
            continue
        for name, value in parse_environment(directive.value):
            env[name] = EnvValue(None if is_templated(value) else value, directive.location)
    return env
