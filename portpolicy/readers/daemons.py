"""Daemons whose ports are simple ``key value`` settings, driven by ``data/daemons.yml``.

One generic reader covers PostgreSQL, Redis, MySQL/MariaDB, CUPS and whatever the table
adds: the table says how a daemon's config is recognised (content marks first, file names
on a tie: ``portpolicy.signatures.daemons`` decides), which ``[sections]`` hold server
settings (a MySQL ``[client]`` port is where a client connects, not a listener), which keys
are ports and which keys list their addresses, what a port of 0 means, and how the daemon
gets the right to bind (``runs-as`` its own user, ``root-master``, or unknown).

``exec_listeners`` serves the systemd reader for ``ExecStart=`` lines: flags, environment
and built-in defaults of the programs in ``data/apps.yml`` (``portpolicy.apps``).

Only values written in a config file become facts here; a daemon's built-in default port is
``portpolicy.apps``'s, for a process start the scan sees. The compose/Dockerfile correlation
step may override ``bound_by``/``run_as`` of these listeners when the config runs in a
container (it finds them by ``service``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    Format,
    Source,
    ascii_int,
    first_word,
    is_templated,
    shown,
)
from portpolicy.readers.netaddr import bind_address, split_host_port
from portpolicy.signatures import daemons as signature

if TYPE_CHECKING:
    from portpolicy.apps import EnvValue

NAME = "daemons"

_SETTING = re.compile(r"([A-Za-z0-9_.-]+)(?:\s*=\s*|\s+)(.*)$")
_SECTION = re.compile(r"\[([^\]]*)\]")
_COMMENT = re.compile(r"\s#")
_FALSE = {"0", "off", "false", "no"}


@dataclass(frozen=True)
class KeySpec:
    value: str  # "port" or "address_port"
    protocols: tuple[str, ...]
    zero: str  # "disabled" or "invalid"
    address_key: str | None
    repeat: bool


@dataclass(frozen=True)
class AddressSpec:
    separator: str
    default: str
    none: tuple[str, ...]
    optional_prefix: str


@dataclass(frozen=True)
class Daemon:
    name: str
    sections: re.Pattern[str] | None
    dashes: bool
    listeners: dict[str, KeySpec]
    addresses: dict[str, AddressSpec]
    disable_keys: frozenset[str]
    model: str
    user: str | None
    note: str
    user_key: str | None

    def key(self, text: str) -> str:
        key = text.lower()
        return key.replace("-", "_") if self.dashes else key


@dataclass(frozen=True)
class Table:
    daemons: tuple[Daemon, ...]


@cache
def table() -> Table:
    """The daemon table, loaded once on first use (no YAML work at import time)."""
    data = signature.raw_table()
    return Table(tuple(_daemon(name, entry) for name, entry in data["daemons"].items()))


def _daemon(name: str, entry: dict[str, Any]) -> Daemon:
    dashes = entry.get("normalize") == "dashes"

    def norm(key: str) -> str:
        key = key.lower()
        return key.replace("-", "_") if dashes else key

    sections = entry.get("sections")
    privilege = entry.get("privilege", {})
    return Daemon(
        name=name,
        sections=re.compile("(?:" + "|".join(sections) + r")\Z", re.I) if sections else None,
        dashes=dashes,
        listeners={
            norm(k): KeySpec(
                v.get("value", "port"),
                tuple(v.get("protocols", ["tcp"])),
                v.get("zero", "disabled"),
                norm(v["address_key"]) if v.get("address_key") else None,
                bool(v.get("repeat", False)),
            )
            for k, v in entry["listeners"].items()
        },
        addresses={
            norm(k): AddressSpec(
                v.get("separator", ","),
                str(v.get("default", "*")),
                tuple(str(x) for x in v.get("none", ())),
                str(v.get("optional_prefix", "")),
            )
            for k, v in entry.get("addresses", {}).items()
        },
        disable_keys=frozenset(norm(k) for k in entry.get("disable_keys", ())),
        model=privilege.get("model", "unknown"),
        user=privilege.get("user"),
        note=privilege.get("note", ""),
        user_key=norm(entry["user_key"]) if entry.get("user_key") else None,
    )


FORMAT = Format("a daemon config", "daemon setting", signature.LINE, ("#", ";"), whole_file=False)
"""Settings, sections and includes: what every daemon of the table writes."""


def daemon_for(source: Source) -> Daemon | None:
    """The daemon whose config ``source`` is: by its content, by its name on a tie or without marks."""
    name = signature.daemon_of(source.text, source.name_path)
    return next((d for d in table().daemons if d.name == name), None)


_EvidenceFor = Callable[[Location], tuple[Evidence, ...]]


@dataclass(frozen=True)
class _Setting:
    key: str
    value: str
    location: Location


def read(source: Source) -> Iterator[Fact]:
    """The listeners one daemon config file sets; never raises."""
    daemon = daemon_for(source)
    if daemon is None:
        return
    text = source.masked
    settings: list[_Setting] = []
    for item in _settings(source, text, daemon):
        if isinstance(item, ParseError):
            yield item
            return  # the daemon refuses the whole file
        settings.append(item)
    yield from _listeners(daemon, settings)


def _settings(source: Source, text: str, daemon: Daemon) -> Iterator[_Setting | ParseError]:
    """Every ``key value`` line in a server section, with the location of its value.

    A section header that never closes, or a value whose quote never closes, makes the
    daemon refuse the file (MySQL: "Wrong group definition"; PostgreSQL: "syntax error";
    Redis: "Unbalanced quotes"), so it ends the file as a ``ParseError``.
    """
    in_scope = daemon.sections is None
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if daemon.sections is not None and stripped.startswith("[") and "]" not in stripped:
            yield ParseError(
                f"section header {first_word(stripped)!r} never closes: {daemon.name} refuses this file",
                source.at(number, 1 + raw.index("[")),
            )
            return
        section = _SECTION.match(stripped)
        if section and daemon.sections is not None:
            in_scope = daemon.sections.match(section.group(1).strip()) is not None
            continue
        if not in_scope:
            continue
        match = _SETTING.match(stripped)
        if match is None:
            if daemon.sections is not None and daemon.key(stripped) in daemon.disable_keys:
                yield _Setting(daemon.key(stripped), "", source.at(number, 1 + raw.index(stripped[0])))
            continue
        column = len(raw) - len(raw.lstrip()) + match.start(2) + 1
        quoted = match.group(2).strip()
        if quoted[:1] in ("'", '"') and quoted.find(quoted[0], 1) < 0:
            yield ParseError(
                f"unbalanced quotes in {shown(match.group(1).strip())!r}: {daemon.name} refuses this file",
                source.at(number, column),
            )
            return
        value = _unquote(match.group(2))
        yield _Setting(daemon.key(match.group(1)), value, source.at(number, column))


def _unquote(value: str) -> str:
    value = value.strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    comment = _COMMENT.search(value)  # not \s+#: that retries from every blank of a long run
    return (value if comment is None else value[: comment.start()]).strip()


def _listeners(daemon: Daemon, settings: list[_Setting]) -> Iterator[Fact]:
    last: dict[str, _Setting] = {}
    repeated: list[_Setting] = []
    for s in settings:
        spec = daemon.listeners.get(s.key)
        if spec is not None and spec.repeat:
            repeated.append(s)
        else:
            last[s.key] = s
    for key in daemon.disable_keys:
        if key in last and last[key].value.lower() not in _FALSE:
            return
    run_as, bound_by, evidence = _privilege(daemon, last)
    chosen = [*repeated, *(last[k] for k in daemon.listeners if k in last and not daemon.listeners[k].repeat)]
    for setting in sorted(chosen, key=lambda s: s.location):
        spec = daemon.listeners[setting.key]
        context = f"{daemon.name} {setting.key}"
        where = setting.location
        value = setting.value
        if is_templated(value) or "$" in value:
            yield Unresolved(value, f"{context}: value is a template or variable", where)
            continue
        if spec.value == "address_port":
            if value.startswith(("/", "@")):
                continue  # a Unix socket
            host, port_text = split_host_port(value)
            if port_text is None:
                yield InvalidPort(value, f"{context} {shown(value)}: no port", where, context)
                continue
            hosts: list[str | None] = [host]
        else:
            port_text = value
            hosts = _hosts(daemon, spec, last)
        port = _port(port_text, spec, where, context)
        if port is None:
            continue
        if not isinstance(port, int):
            yield port
            continue
        for host in hosts:
            address = bind_address(host)
            for protocol in spec.protocols:
                yield Listener(
                    service=daemon.name,
                    protocol=protocol,
                    ports=PortRange.single(port),
                    address=address,
                    location=where,
                    run_as=run_as,
                    bound_by=bound_by,
                    source=NAME,
                    evidence=evidence(where),
                )


def _hosts(daemon: Daemon, spec: KeySpec, last: dict[str, _Setting]) -> list[str | None]:
    if spec.address_key is None:
        return [None]
    address_spec = daemon.addresses.get(spec.address_key)
    setting = last.get(spec.address_key)
    if address_spec is None:
        return [setting.value if setting else None]
    raw = setting.value if setting is not None else address_spec.default
    if is_templated(raw) or "$" in raw:
        return [None]  # where it binds is unknown; the port is still the port
    if raw.strip() in address_spec.none:
        return []  # e.g. PostgreSQL listen_addresses = '': no TCP socket at all
    sep = address_spec.separator
    parts = raw.split() if sep == " " else [p.strip() for p in raw.split(sep)]
    hosts: list[str | None] = []
    for part in parts:
        if address_spec.optional_prefix and part.startswith(address_spec.optional_prefix):
            part = part[len(address_spec.optional_prefix) :]
        if part == "::*":
            part = "::"
        if part:
            hosts.append(part)
    return hosts or [None]


def _port(text: str, spec: KeySpec, where: Location, context: str) -> int | InvalidPort | None:
    text = text.strip()
    port = ascii_int(text)
    if port is None:
        return InvalidPort(text, f"{context}: {shown(text)!r} is not a port number", where, context)
    if port == 0:
        if spec.zero == "disabled":
            return None
        return InvalidPort(text, f"{context}: port 0 is outside 1-65535", where, context)
    if port > 65535:
        return InvalidPort(text, f"{context}: port {shown(text)} is outside 1-65535", where, context)
    return port


def _privilege(daemon: Daemon, last: dict[str, _Setting]) -> tuple[RunAs, str, _EvidenceFor]:
    """RunAs, bound_by and an evidence builder from the table's privilege model."""
    user_setting = last.get(daemon.user_key) if daemon.user_key else None
    if user_setting is not None and not is_templated(user_setting.value):
        user = user_setting.value
        run_as = RunAs(user=user, location=user_setting.location)

        def from_key(where: Location) -> tuple[Evidence, ...]:
            return (Evidence(user_setting.location, f"{daemon.user_key} = {shown(user)}"),)

        return run_as, "process", from_key
    if daemon.model == "root-master":

        def root(where: Location) -> tuple[Evidence, ...]:
            return (Evidence(where, daemon.note),) if daemon.note else ()

        return RunAs(), "root-master", root
    if daemon.model == "runs-as" and daemon.user:

        def own(where: Location) -> tuple[Evidence, ...]:
            return (Evidence(where, f"{daemon.name} runs as user {daemon.user!r}: {daemon.note}"),)

        return RunAs(user=daemon.user), "process", own
    return RunAs(), "process", lambda where: ()


# --------------------------------------------------------------------------- systemd ExecStart flags


def exec_listeners(
    command: str,
    where: Location,
    service: str,
    run_as: RunAs,
    evidence: tuple[Evidence, ...],
    env: Mapping[str, EnvValue] | None = None,
    no_defaults: bool = False,
    env_unknown: bool = False,
) -> Iterator[Fact]:
    """Listeners one ``ExecStart=`` command line binds: its flags, its environment, its program's
    built-in default (``data/apps.yml``, read by ``portpolicy.apps``)."""
    from portpolicy import apps

    words, cut = apps.split_command(command)
    words = apps.expand(words, env or {})
    start = apps.Start(
        words, where, env or {}, truncated=cut, no_defaults=no_defaults, env_unknown=env_unknown
    )
    yield from apps.listeners(start, apps.Scope(service, run_as, "systemd", evidence=evidence))
