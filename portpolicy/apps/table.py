"""The application table (``data/apps.yml``): programs, their sockets and config files, loaded on first use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from portpolicy.records import record


@record
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


@record
class ConfigPort:
    """A key of the program's own config file that opens a socket (a ``config.ports`` item)."""

    socket: str
    key: str
    form: str
    port_key: str | None
    port_default: int | None
    address_key: str | None
    address_default: str | None
    protocols: tuple[str, ...]
    repeat: bool
    only_without: str | None
    """Read only when this key is not written (unbound's ``port:`` when no ``interface:`` names one)."""


@record
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
    config_format: str
    config_ports: tuple[ConfigPort, ...]
    config_names: tuple[str, ...]
    """File names (globs) that are this program's config wherever they are deployed."""
    """Another reader reads its config file (``read_by``): that file's ports stand, no default."""
    sockets: tuple[Socket, ...]
    image_env: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @property
    def executables(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.run)


@record
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


def _config_port(item: dict[str, Any]) -> ConfigPort:
    default = item.get("address_default")
    return ConfigPort(
        socket=str(item.get("socket", "")),
        key=str(item["key"]),
        form=str(item.get("form", "address")),
        port_key=item.get("port_key"),
        port_default=item.get("port_default"),
        address_key=item.get("address_key"),
        address_default=None if default is None else str(default),
        protocols=tuple(item.get("protocols", ("tcp",))),
        repeat=bool(item.get("repeat", False)),
        only_without=item.get("only_without"),
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
        config_format=str(config.get("format", "")),
        config_ports=tuple(_config_port(p) for p in config.get("ports", ())),
        config_names=tuple(config.get("names", ())),
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
