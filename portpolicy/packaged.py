"""Listen lines a distribution's package installs outside the tree (``data/packaged.yml``).

A root filesystem whose ``apache2.conf`` says ``Include ports.conf`` but ships no
``ports.conf`` runs with the one the apache2 package installs: its ``Listen 80`` and
``Listen 443`` are as real as the tree's own lines, and meet them (Apache refuses a second
``Listen`` of one address). This module only matches the table against a host's files; the
reader that owns the format turns each match into its own facts. An entry applies only when
the tree shows its layout (the main config including the packaged file) and does not ship
the packaged file itself.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from portpolicy.model import Location


@dataclass(frozen=True)
class Include:
    """One ``Include``/``IncludeOptional`` line of a scanned file, its argument as written."""

    target: str
    location: Location


@dataclass(frozen=True)
class ConfigFile:
    """What the table needs of one scanned file: its path below the scanned root and its includes."""

    rel: str
    includes: tuple[Include, ...] = ()


@dataclass(frozen=True)
class PackagedListen:
    """A ``Listen`` the package's file holds, read at the line of the tree that pulls it in."""

    port: int
    when: frozenset[str]
    location: Location
    package: str
    file: str


@dataclass(frozen=True)
class _Entry:
    name: str
    main: str
    includes: str
    file: str
    listen: tuple[tuple[int, frozenset[str]], ...]


@cache
def _entries(table: str) -> tuple[_Entry, ...]:
    text = resources.files("portpolicy.data").joinpath("packaged.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return tuple(
        _Entry(
            e["name"],
            e["main"],
            e["includes"],
            e["file"],
            tuple((int(item["port"]), _when(item.get("when", ()))) for item in e["listen"]),
        )
        for e in data.get(table, ())
    )


def _when(sections: Iterable[str]) -> frozenset[str]:
    pairs = [tuple(s.split(None, 1)) for s in sections]
    return module_conditions((kind, arg) for kind, arg in pairs)


def packaged_listens(table: str, files: Sequence[ConfigFile]) -> list[PackagedListen]:
    """The packaged ``Listen`` lines that ``files`` (one host's) pull in without shipping them."""
    shipped = {tail for f in files for tail in _tails(posixpath.normpath(f.rel))}
    found: list[PackagedListen] = []
    for entry in _entries(table):
        for f in files:
            root = _server_root(f.rel, entry.main)
            if root is None or _ships(shipped, posixpath.normpath(posixpath.join(root, entry.file))):
                continue
            line = next((i for i in f.includes if _pulls_in(i.target, entry.includes)), None)
            if line is None:
                continue
            where = posixpath.join(root, entry.file) if root else entry.file
            found.extend(
                PackagedListen(port, when, line.location, entry.name, where) for port, when in entry.listen
            )
    return found


def _ships(shipped: set[str], path: str) -> bool:
    """The tree has ``path`` (a file shown from a folder above the scanned root ends with it)."""
    return path in shipped


MAX_TAIL = 8
"""Path components a packaged file's path has at most (``etc/httpd/conf.d/ssl.conf`` has four)."""


def _tails(path: str) -> list[str]:
    """``a/etc/apache2/ports.conf`` -> itself, ``etc/apache2/ports.conf``, ..., ``ports.conf``."""
    parts = path.split("/")
    return ["/".join(parts[i:]) for i in range(max(0, len(parts) - MAX_TAIL), len(parts))]


def _server_root(rel: str, main: str) -> str | None:
    """The server root a main config at ``rel`` implies ("" for the scanned root), or None if not one."""
    path = posixpath.normpath(rel)
    if path == main:
        return ""
    if path.endswith("/" + main):
        return path[: -len(main) - 1]
    return None


def _pulls_in(target: str, includes: str) -> bool:
    """``Include ports.conf``, ``Include /etc/apache2/ports.conf``: the argument names the packaged path."""
    parts = _parts(target)
    want = _parts(includes)
    return len(parts) >= len(want) and parts[len(parts) - len(want) :] == want


def _parts(path: str) -> list[str]:
    return [p for p in path.strip("\"'").split("/") if p not in ("", ".")]


def module_conditions(sections: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The conditions of nested ``<IfModule>``/``<IfDefine>`` sections, one spelling per module.

    httpd accepts a module's name (``ssl_module``) or its source file (``mod_ssl.c``) in
    ``<IfModule>``; both become ``IfModule ssl_module``.
    """
    out = set()
    for kind, arg in sections:
        name = arg.strip()
        negated = name.startswith("!")
        name = name.lstrip("!")
        if kind.lower() == "ifmodule" and name.startswith("mod_") and name.endswith(".c"):
            name = name[4:-2] + "_module"
        out.add(f"{'IfModule' if kind.lower() == 'ifmodule' else 'IfDefine'} {'!' if negated else ''}{name}")
    return frozenset(out)
