"""Which ports a started program binds: its flags, its environment and its built-in defaults.

Readers that see a process start (a systemd ``ExecStart=``, a compose service's ``command:``/
``entrypoint:``/``image:``, a pod container's ``command``/``args``/``image``, a Dockerfile's
``CMD``/``ENTRYPOINT``) hand it here as a ``Start``; ``listeners`` answers with one
``Listener`` per socket, each saying where its port came from (``Listener.port_origin``):
a flag, an environment variable, or the program's built-in default (``data/apps.yml``).

A default is assumed only for a program this start runs (by its executable, or by its image
when the command is the image's own) and only when no flag or variable names that socket;
when the command line names a config file that may set the port, nothing is assumed (the
file decides), and when the program reads one by default the listener is marked
``port_assumed``. The table is loaded on first use, never at import.

Hostile input: words and variables are counted, not trusted; a command line beyond
``MAX_WORDS`` words is read up to that point and reported once as a ``ParseError``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from portpolicy import imagerefs
from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    PortSet,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import ascii_int, is_templated, shown
from portpolicy.readers.netaddr import bind_address, split_host_port

MAX_WORDS = 2048
"""Words of one command line that are read; a longer one is cut and reported once."""
MAX_COMMAND = 256 * 1024
"""Characters of one command line that are split into words."""
_WRAPPERS = frozenset({"exec", "nohup", "nice", "tini", "dumb-init", "catatonit", "setpriv", "chpst"})
_USER_WRAPPERS = frozenset({"gosu", "su-exec"})
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_PYTHONS = re.compile(r"python(?:[0-9.]*)\Z")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_SCHEME_PORTS = {"http": 80, "https": 443, "tcp": None, "unix": None}


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Socket:
    """One socket of a program (a ``listeners`` item of ``data/apps.yml``)."""

    name: str
    flags: tuple[str, ...]
    env: tuple[str, ...]
    form: str
    address: str | None
    default: str | None
    when: tuple[str, ...]
    protocols: tuple[str, ...]
    empty_disables: bool
    repeat: bool
    address_flags: tuple[str, ...]
    address_env: tuple[str, ...]


@dataclass(frozen=True)
class App:
    """One program of the table."""

    name: str
    run: tuple[tuple[str, str | None], ...]
    images: tuple[str, ...]
    arg_markers: tuple[re.Pattern[str], ...]
    env_markers: tuple[str, ...]
    root_master: bool
    config_flags: tuple[str, ...]
    config_positional: bool
    config_paths: tuple[str, ...]
    config_read: bool
    """Another reader reads its config file (``read_by``): that file's ports stand, no default."""
    sockets: tuple[Socket, ...]
    image_env: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @property
    def executables(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.run)


@dataclass(frozen=True)
class Table:
    apps: tuple[App, ...]
    generic: tuple[Socket, ...]
    by_executable: Mapping[str, tuple[App, ...]]


def _socket(item: dict[str, Any]) -> Socket:
    return Socket(
        name=str(item["name"]),
        flags=tuple(item.get("flags", ())),
        env=tuple(item.get("env", ())),
        form=str(item.get("form", "address")),
        address=item.get("address"),
        default=item.get("default"),
        when=tuple(item.get("when", ())),
        protocols=tuple(item.get("protocols", ("tcp",))),
        empty_disables=item.get("empty") == "disabled",
        repeat=bool(item.get("repeat", False)),
        address_flags=tuple(item.get("address_flags", ())),
        address_env=tuple(item.get("address_env", ())),
    )


def _app(name: str, entry: dict[str, Any]) -> App:
    run: list[tuple[str, str | None]] = []
    for spec in entry.get("run", ()):
        exe, _, word = str(spec).partition(" ")
        run.append((exe, word or None))
    markers = entry.get("markers", {})
    config = entry.get("config", {})
    return App(
        name=name,
        run=tuple(run),
        images=tuple(entry.get("images", ())),
        arg_markers=tuple(re.compile(m) for m in markers.get("args", ())),
        env_markers=tuple(markers.get("env", ())),
        root_master=entry.get("privilege") == "root-master",
        config_flags=tuple(config.get("flags", ())),
        config_positional=bool(config.get("positional", False)),
        config_paths=tuple(config.get("paths", ())),
        config_read=bool(config.get("read_by")),
        sockets=tuple(_socket(s) for s in entry.get("listeners", ())),
        image_env=tuple(
            (str(e["image"]), tuple((str(k), str(v)) for k, v in e["env"].items()))
            for e in entry.get("image_env", ())
        ),
    )


@cache
def table() -> Table:
    """``data/apps.yml``, loaded once on first use (a start with no candidate never loads it)."""
    import yaml

    text = resources.files("portpolicy.data").joinpath("apps.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    apps = tuple(_app(name, entry) for name, entry in data["apps"].items())
    by_exe: dict[str, list[App]] = {}
    for app in apps:
        for exe in app.executables:
            by_exe.setdefault(exe, []).append(app)
    generic = tuple(_socket(s) for s in data.get("generic", {}).get("listeners", ()))
    return Table(apps, generic, {k: tuple(v) for k, v in by_exe.items()})


# --------------------------------------------------------------------------- a process start


@dataclass(frozen=True)
class EnvValue:
    """One environment variable as the start sets it: None when its value is not known."""

    value: str | None
    location: Location


@dataclass(frozen=True)
class Start:
    """One process start as a reader sees it.

    ``words`` is the argv (entrypoint then command); empty when the image's own command runs.
    ``where`` is the line that starts it (ExecStart=, command:, CMD, image:). ``declared``
    holds ports the same scope already declares (compose ``ports``/``expose``, ``EXPOSE``,
    ``containerPort``): a socket on one of them is that listener, not a second one.
    """

    words: tuple[str, ...]
    where: Location
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    image: str = ""
    image_location: Location | None = None
    truncated: bool = False
    declared: Mapping[str, PortSet] = field(default_factory=dict)
    words_are_args: bool = False
    """``words`` are arguments to the image's entrypoint (compose ``command:`` without ``entrypoint:``)."""
    no_defaults: bool = False
    """The ports are handed over (a systemd socket unit activates it): no default is assumed."""
    env_unknown: bool = False
    """Variables come from a file the scan does not read (``EnvironmentFile=``, ``env_file:``):
    no default is assumed for a socket a variable may name."""


def split_command(text: str) -> tuple[tuple[str, ...], bool]:
    """A command line as words (shell-style quotes), at most ``MAX_WORDS``; True when cut."""
    text = text[:MAX_COMMAND]
    words: list[str] = []
    current: list[str] = []
    quote = ""
    started = False
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote, started = char, True
        elif char.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
                if len(words) >= MAX_WORDS:
                    return tuple(words), True
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return tuple(words[:MAX_WORDS]), len(words) > MAX_WORDS


def bounded(words: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """At most ``MAX_WORDS`` of ``words``, and whether any were cut."""
    return tuple(words[:MAX_WORDS]), len(words) > MAX_WORDS


def parse_environment(value: str) -> list[tuple[str, str]]:
    """A systemd ``Environment=`` value: space-separated ``NAME=value`` words, quotes allowed."""
    words, _ = split_command(value)
    out: list[tuple[str, str]] = []
    for word in words:
        match = _ASSIGNMENT.match(word)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)\Z")


def expand(words: tuple[str, ...], env: Mapping[str, EnvValue]) -> tuple[str, ...]:
    """systemd's ``${NAME}`` and whole-word ``$NAME`` from the unit's environment; unknown ones stay."""

    def value(match: re.Match[str]) -> str:
        found = env.get(match.group(1) or match.group(2))
        return found.value if found is not None and found.value is not None else match.group(0)

    if not env:
        return words
    out: list[str] = []
    for word in words:
        if "$" not in word:
            out.append(word)
            continue
        whole = _VARIABLE.fullmatch(word)
        if whole and whole.group(2):
            out.extend(split_command(value(whole))[0])  # $NAME alone splits at blanks
        else:
            out.append(_VARIABLE.sub(value, word))
    return tuple(out[:MAX_WORDS])


def _basename(word: str) -> str:
    return word.lstrip("-@:+!").rsplit("/", 1)[-1]


def _unwrap(words: tuple[str, ...], env: dict[str, EnvValue], where: Location) -> tuple[str, ...]:
    """The program's own argv: past ``sh -c``, ``exec``, ``env X=1``, ``gosu user``, ``python -m``."""
    for _ in range(8):  # wrappers nest a few levels at most
        if not words:
            return words
        exe = _basename(words[0])
        if exe in _SHELLS and len(words) >= 3 and words[1] == "-c":
            inner, _cut = split_command(words[2])
            words = inner
        elif exe in _WRAPPERS:
            rest = words[1:]
            words = rest[1:] if rest[:1] == ("--",) else rest
        elif exe in _USER_WRAPPERS and len(words) >= 2:
            words = words[2:]
        elif exe == "env":
            words = _env_assignments(words[1:], env, where)
        elif _PYTHONS.match(exe) and len(words) >= 3 and words[1] == "-m":
            words = words[2:]
        else:
            return words
    return words


def _env_assignments(words: tuple[str, ...], env: dict[str, EnvValue], where: Location) -> tuple[str, ...]:
    """``env [-i] NAME=value ... program``: the variables into ``env``, the program's argv back."""
    i = 0
    while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
        match = _ASSIGNMENT.match(words[i])
        if match:
            env[match.group(1)] = EnvValue(match.group(2), where)
        i += 1
    return words[i:]


# --------------------------------------------------------------------------- which programs run


@dataclass(frozen=True)
class _Run:
    app: App
    args: tuple[str, ...]
    by_image: bool
    by_env: bool = False
    """Known only by a variable of its own (ASPNETCORE_URLS): its port is that variable's, no default."""


def _image_apps(image: str) -> tuple[App, ...]:
    ref = imagerefs.parse(image) if image else None
    if ref is None:
        return ()
    return tuple(a for a in table().apps if any(imagerefs.matches(ref, p) for p in a.images))


def _runs(start: Start, env: Mapping[str, EnvValue], words: tuple[str, ...]) -> list[_Run]:
    """The table's programs this start runs, each with its arguments; else those its environment names."""
    runs = _started(start, env, words)
    if runs or not env:
        return runs
    return [_Run(app, (), False, True) for app in table().apps if any(n in env for n in _port_markers(app))]


def _port_markers(app: App) -> tuple[str, ...]:
    """The app's marker variables that are also its port variables (SERVER_PORT, ASPNETCORE_URLS)."""
    names = {n for s in app.sockets for n in s.env}
    return tuple(n for n in app.env_markers if n in names)


def _started(start: Start, env: Mapping[str, EnvValue], words: tuple[str, ...]) -> list[_Run]:
    if not words or start.words_are_args:
        by_image = _image_apps(start.image)
        if by_image and start.words_are_args and words and _basename(words[0]) in table().by_executable:
            pass  # a command that names its own program replaces the image's
        else:
            return [_Run(app, words, True) for app in by_image]
    exe = _basename(words[0])
    args = words[1:]
    runs: list[_Run] = []
    for app in table().by_executable.get(exe, ()):
        needs = [word for name, word in app.run if name == exe]
        if None not in needs and not any(w in args for w in needs if w):
            continue  # e.g. rsync without --daemon, consul without agent
        if (app.arg_markers or app.env_markers) and not _marked(app, args, env):
            continue
        runs.append(_Run(app, args, False))
    return runs


def _marked(app: App, args: tuple[str, ...], env: Mapping[str, EnvValue]) -> bool:
    if any(name in env for name in app.env_markers):
        return True
    return any(m.search(a) for m in app.arg_markers for a in args[:64])


# --------------------------------------------------------------------------- flags


@dataclass(frozen=True)
class _Hit:
    flag: str
    value: str


def _flag_hits(names: Sequence[str], args: tuple[str, ...]) -> list[_Hit]:
    """Every occurrence of one of ``names`` in ``args`` with its value, in order."""
    hits: list[_Hit] = []
    if not names:
        return hits
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            break
        if not word.startswith("-"):
            continue
        for name in names:
            value = _flag_value(name, word, args, i)
            if value is None:
                continue
            text, used = value
            hits.append(_Hit(name, text))
            i += used
            break
    return hits


def _flag_value(name: str, word: str, args: tuple[str, ...], i: int) -> tuple[str, int] | None:
    """The value ``word`` (and maybe the next one) gives flag ``name``: (value, words used)."""
    if name.startswith(("-D", "-E")) and not name.startswith("--"):
        key, eq, value = word.partition("=")
        return (value, 0) if eq and key == name else None
    if not name.startswith("--"):  # a short option: -p 80, -p80
        if word == name:
            return (args[i], 1) if i < len(args) else ("", 0)
        if len(name) == 2 and word.startswith(name) and not word.startswith("--"):
            return word[2:].removeprefix("="), 0
        return None
    key, eq, value = word.partition("=")
    bare = key.lstrip("-")
    if key.startswith("---") or not _same_flag(name[2:], bare):
        return None
    if eq:
        return value, 0
    if i < len(args) and not args[i].startswith("-"):
        return args[i], 1
    return "", 0


def _same_flag(pattern: str, written: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatchcase(written.lower(), pattern.lower())
    return pattern == written


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class _Port:
    host: str | None
    port: int
    protocol: str | None = None


def _ports(value: str, socket: Socket) -> list[_Port] | str | None:
    """The sockets ``value`` names in the socket's form; a string says why it names none; None: off."""
    form = socket.form
    if form == "urls":
        return _url_ports(value)
    if form == "ports":
        out: list[_Port] = []
        for part in re.split(r"[;,:\s]+", value.strip())[:64]:
            if part:
                port = _port_number(part)
                if isinstance(port, str):
                    return port
                if port:
                    out.append(_Port(socket.address, port))
        return out
    if form == "port":
        port = _port_number(value)
        return port if isinstance(port, str) else ([_Port(socket.address, port)] if port else None)
    return _address_port(value, socket)


def _port_number(text: str) -> int | str:
    text = text.strip()
    port = ascii_int(text)
    if port is None or port > 65535:
        return f"{shown(text)!r} is not a port in 1-65535"
    return port


def _address_port(value: str, socket: Socket) -> list[_Port] | str | None:
    text, protocol = value.strip(), None
    for suffix in ("/tcp", "/udp"):
        if text.lower().endswith(suffix):
            text, protocol = text[: -len(suffix)], suffix[1:]
    if socket.form == "host_port" and ascii_int(text) is not None:
        port = _port_number(text)
        return port if isinstance(port, str) else ([_Port(socket.address, port, protocol)] if port else None)
    host, port_text = split_host_port(text)
    if port_text is None or (host is None and not text.startswith(":") and not text.startswith("[")):
        return "missing port in address"
    port = _port_number(port_text)
    if isinstance(port, str):
        return port
    return [_Port(host or None, port, protocol)] if port else None


def _url_ports(value: str) -> list[_Port] | str | None:
    out: list[_Port] = []
    for part in re.split(r"[;,\s]+", value.strip())[:64]:
        if not part:
            continue
        scheme, sep, rest = part.partition("://")
        if not sep:
            scheme, rest = "", part
        scheme = scheme.lower()
        if scheme == "unix":
            continue
        hostport = rest.split("/", 1)[0]
        host, port_text = split_host_port(hostport)
        if port_text is None:
            default = _SCHEME_PORTS.get(scheme)
            if default is None:
                return f"{shown(part)!r} names no port"
            port: int | str = default
            host = hostport or None
        else:
            port = _port_number(port_text)
        if isinstance(port, str):
            return port
        if host in ("+", "*"):
            host = None
        if port:
            out.append(_Port(host, port))
    return out or None


# --------------------------------------------------------------------------- listeners


@dataclass(frozen=True)
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
    words = _unwrap(start.words, env, start.where)
    if start.truncated:
        yield ParseError(
            f"{scope.service}: the command line has more than {MAX_WORDS} words; only the first {MAX_WORDS} are read",
            start.where,
        )
    runs = _runs(start, env, words)
    claimed: set[str] = set()
    for run in runs:
        env_here = _with_image_env(run.app, start.image, env, start)
        for socket in run.app.sockets:
            claimed.update(socket.flags)
            yield from _socket_facts(run, socket, env_here, start, scope)
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
    run: _Run, socket: Socket, env: Mapping[str, EnvValue], start: Start, scope: Scope
) -> Iterator[Fact]:
    hits = list(_from_flags(run, socket, socket.flags, run.args, start, scope))
    if hits or _flag_hits(socket.flags, run.args):
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
    run: _Run | None, socket: Socket, flags: Sequence[str], args: tuple[str, ...], start: Start, scope: Scope
) -> Iterator[Fact]:
    hits = _flag_hits(flags, args)
    if not socket.repeat:
        hits = hits[-1:]
    for hit in hits:
        spelled = f"{hit.flag}={shown(hit.value)}"
        origin = f"{hit.flag} on the command line"
        yield from _facts_for(
            run, socket, hit.value, spelled, origin, (), run_address(run, socket, args), start, scope
        )


def run_address(run: _Run | None, socket: Socket, args: tuple[str, ...]) -> str | None:
    """The address an ``address_flags`` option (``--host``) gives a bare port."""
    hits = _flag_hits(socket.address_flags, args) if run is not None else []
    return hits[-1].value if hits else None


def _from_env(
    run: _Run,
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
    run: _Run, socket: Socket, env: Mapping[str, EnvValue], start: Start, scope: Scope
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


def _names_config(run: _Run) -> bool:
    """The command line names a config file that may set the port."""
    app = run.app
    if app.config_flags and _flag_hits(app.config_flags, run.args):
        return True
    if app.config_positional:
        return any(not a.startswith("-") for a in run.args[:64])
    return False


def _facts_for(
    run: _Run | None,
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
    if is_templated(value) or "$" in value or "%" in value:
        yield Unresolved(
            value,
            f"{context}: value is a variable or unit specifier",
            evidence[0].location if evidence else start.where,
        )
        return
    ports = _ports(value, socket)
    if isinstance(ports, str):
        at = evidence[0].location if evidence else start.where
        yield InvalidPort(value, f"{context}: {ports}", at, context)
        return
    for found in ports or ():
        yield from _listener(
            run, socket, found, host_override, spelled, origin, evidence, start, scope, assumed
        )


def _listener(
    run: _Run | None,
    socket: Socket,
    found: _Port,
    host_override: str | None,
    spelled: str,
    origin: str,
    evidence: tuple[Evidence, ...],
    start: Start,
    scope: Scope,
    assumed: bool,
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
            address=bind_address(host),
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
