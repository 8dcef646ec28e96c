"""Ansible inventories: groups, children, hosts and their variables, INI or YAML.

INI follows Ansible's ``ini`` plugin: ``[group]`` host lines with inline ``key=value``
vars, ``[group:vars]`` (both read as Python literals, as ansible-core does), ``[group:children]``.
YAML follows the ``yaml`` plugin: ``all: {hosts, vars, children}`` nested. ``group_vars/``
and ``host_vars/`` beside an inventory (or a playbook) hold files named after the group or
host, with ``.yml``/``.yaml``/``.json`` or no extension, or directories of such files.
Host ranges expand as Ansible's ``expand_hostname_range`` does (``web[01:03]``, ``[a:c]``,
with a step ``[1:10:2]``, several in one name), and a ``:port`` suffix becomes the host's
``ansible_port``; a range Ansible refuses, or one past ``MAX_RANGE_HOSTS`` names, is kept as
written (one name).
"""

from __future__ import annotations

import ast
import os
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portpolicy.ansible.jinja import UnknownValue
from portpolicy.ansible.loader import Loaded
from portpolicy.ansible.variables import Var, vars_of
from portpolicy.model import Location, ParseError
from portpolicy.readers.base import LINE_BREAK
from portpolicy.readers.lexing import glob_matches, split_shell
from portpolicy.yamlnodes import MappingNode, Node, items, location

VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
MAX_RANGE_HOSTS = 4096
"""Names one host pattern may expand to: a hostile ``h[0:999999999]`` must not exhaust memory."""
_SECTION = re.compile(r"^\[([^\]:]+)(?::(\w+))?\]\s*(?:#.*)?$")
"""``[group]``, ``[group:vars]``, and a comment after it, as ansible-core's INI plugin reads a section."""


@dataclass
class Group:
    name: str
    hosts: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)
    vars: list[dict[str, Var]] = field(default_factory=list)
    """One dict per source, lowest precedence first."""


@dataclass
class Inventory:
    """All groups and hosts of the inventories of one project, merged."""

    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, list[dict[str, Var]]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    """Inventory and ``group_vars``/``host_vars`` files that do not parse (PP000 in every play using them)."""

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, group: str, host: str, host_vars: dict[str, Var] | None = None) -> None:
        self.group(group).hosts.add(host)
        self.host_vars.setdefault(host, [])
        if host_vars:
            self.host_vars[host].append(host_vars)

    @property
    def all_hosts(self) -> set[str]:
        """Hosts an inventory lists: a ``host_vars/`` file names no host by itself, as in Ansible."""
        return {h for g in self.groups.values() for h in g.hosts}

    def parents(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for g in self.groups.values():
            for child in g.children:
                out.setdefault(child, set()).add(g.name)
        return out

    def groups_of(self, host: str, lookup: _Lookup | None = None) -> list[str]:
        """The host's groups, ``all`` first, then by depth (parents before children), as Ansible sorts them."""
        lookup = lookup or _Lookup(self)
        found: set[str] = set()
        stack = list(lookup.direct.get(host, ()))
        while stack:
            g = stack.pop()
            if g in found:
                continue
            found.add(g)
            stack.extend(lookup.parents.get(g, ()))
        found.add("all")
        return sorted(found, key=lambda g: (lookup.depths.get(g, 1), g))

    def members(self, group: str) -> set[str]:
        """Hosts of ``group`` and of every group below it (each group visited once)."""
        if group == "all":
            return self.all_hosts
        out: set[str] = set()
        seen: set[str] = set()
        stack = [group]
        while stack:
            name = stack.pop()
            g = self.groups.get(name)
            if g is None or name in seen:
                continue
            seen.add(name)
            out |= g.hosts
            stack.extend(g.children)
        return out

    def match(self, pattern: str) -> set[str] | None:
        """Hosts a play's ``hosts`` pattern selects; None when the pattern names nothing known."""
        selected: set[str] = set()
        known = False
        for i, part in enumerate(p for p in re.split(r"[:,]", pattern) if p.strip()):
            part = part.strip()
            op = ""
            if part[0] in "!&":
                op, part = part[0], part[1:]
            hosts: set[str] = set()
            if part in self.groups or part == "all":
                hosts, known = self.members(part), True
            elif part in self.host_vars and part in self.all_hosts:
                hosts, known = {part}, True
            elif any(c in part for c in "*?["):
                names = [g for g in self.groups if glob_matches(g, part)]
                for g in names:
                    hosts |= self.members(g)
                hosts |= {h for h in self.all_hosts if glob_matches(h, part)}
                known = known or bool(hosts)
            if op == "!":
                selected -= hosts
            elif op == "&" and i:
                selected &= hosts
            else:
                selected |= hosts
        return selected if known else None

    def layers_for(self, host: str, lookup: _Lookup | None = None) -> list[dict[str, Var]]:
        """Inventory variable layers of one host, lowest precedence first."""
        layers: list[dict[str, Var]] = []
        for g in self.groups_of(host, lookup):
            group = self.groups.get(g)
            if group is not None:
                layers.extend(group.vars)
        layers.extend(self.host_vars.get(host, ()))
        return layers

    def layers_for_pattern(self, pattern: str) -> tuple[list[dict[str, Var]], str]:
        """One view of the inventory variables for a play's hosts, and how it was made.

        When the matched hosts disagree on a variable, it becomes unknown for the play
        (``merge``); the Ansible stage then splits the hosts into classes where that
        variable reaches a fact (``project._run_play``).
        """
        view = self.host_view(pattern)
        if view is None:
            return self.group_layers(pattern), "no inventory host matches; group variables only"
        merged, _ = merge(view, sorted(view), pattern)
        return [merged], f"{len(view)} inventory host(s)"

    def group_layers(self, pattern: str) -> list[dict[str, Var]]:
        """The variables of the groups a pattern names, for a play no inventory host matches."""
        layers: list[dict[str, Var]] = list(self.groups["all"].vars) if "all" in self.groups else []
        for part in re.split(r"[:,]", pattern):
            group = self.groups.get(part.strip())
            if group is not None and group.name != "all":
                layers.extend(group.vars)
        return layers

    def host_view(self, pattern: str) -> dict[str, dict[str, Var]] | None:
        """Each host the pattern selects, with its inventory variables flattened; None when none."""
        hosts = self.match(pattern)
        if not hosts:
            return None
        lookup = _Lookup(self)
        return {h: _flatten(self.layers_for(h, lookup)) for h in sorted(hosts)}


def merge(
    view: dict[str, dict[str, Var]], hosts: list[str], pattern: str, why: str = ""
) -> tuple[dict[str, Var], set[str]]:
    """The variables ``hosts`` agree on, and the names of those they disagree on.

    Each name they disagree on is an unknown value (``why`` says more): we never pick one
    host's value for the others.
    """
    per_host = [view[h] for h in hosts]
    merged: dict[str, Var] = {}
    differing: set[str] = set()
    names: set[str] = set().union(*per_host)
    for name in names:
        defs = [h.get(name) for h in per_host]
        first = defs[0]
        if all(d is not None and first is not None and d.value == first.value for d in defs):
            assert first is not None
            merged[name] = first
        else:
            where = next(d for d in defs if d is not None)
            differing.add(name)
            merged[name] = Var(
                name,
                UnknownValue(f"{name} differs between the hosts of {pattern!r}{why}"),
                where.location,
                where.origin,
            )
    return merged, differing


class _Lookup:
    """Group relations of a finished inventory, each worked out once, in linear time.

    A hostile inventory (thousands of hosts and groups, diamond-shaped ``children``) must
    not make every host's look-up walk every path: per-path recursion took exponential time.
    """

    def __init__(self, inv: Inventory) -> None:
        self.parents = inv.parents()
        self.direct: dict[str, set[str]] = {}
        for g in inv.groups.values():
            for host in g.hosts:
                self.direct.setdefault(host, set()).add(g.name)
        self.depths = _depths(inv, self.parents)


def _depths(inv: Inventory, parents: dict[str, set[str]]) -> dict[str, int]:
    """Each group's depth: 1 + its deepest parent's, ``all`` 0 (longest path, in topological order).

    Groups on a cycle of ``children`` (which Ansible refuses) keep the depth reached before it.
    """
    depths = {name: (0 if name == "all" else 1) for name in inv.groups}
    waiting = {name: len(parents.get(name, ())) for name in inv.groups}
    ready = [name for name, count in waiting.items() if count == 0]
    while ready:
        name = ready.pop()
        for child in inv.groups[name].children:
            if child not in waiting:
                continue
            depths[child] = max(depths[child], depths[name] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return depths


def _flatten(layers: Iterable[dict[str, Var]]) -> dict[str, Var]:
    out: dict[str, Var] = {}
    for layer in layers:
        out.update(layer)
    return out


# --------------------------------------------------------------------------- readers


def looks_like_ini_inventory(text: str) -> bool:
    """A cheap test: section headers or bare host lines, and nothing YAML-like at the top."""
    lines = [
        ln.strip() for ln in LINE_BREAK.split(text) if ln.strip() and not ln.strip().startswith(("#", ";"))
    ]
    if not lines:
        return False
    if lines[0].startswith("---") or lines[0].endswith(":") or lines[0].startswith("- "):
        return False
    return any(_SECTION.match(ln) for ln in lines) or all(
        re.match(r"^[\w.\-\[\]:]+(\s+\w+=\S+)*\s*$", ln) for ln in lines[:20]
    )


def read_ini(inv: Inventory, path: str, text: str) -> None:
    """Add an INI inventory file's groups, hosts and variables."""
    section, kind = "ungrouped", "hosts"
    group_vars: dict[str, dict[str, Var]] = {}
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section, kind = m.group(1).strip(), (m.group(2) or "hosts")
            inv.group(section)
            continue
        if kind == "vars":
            key, sep, value = line.partition("=")
            if sep:
                col = raw.find(value.strip()) + 1 if value.strip() else 1
                loc = Location(path, number, max(col, 1))
                group_vars.setdefault(section, {})[key.strip()] = Var(
                    key.strip(), _group_value(value.strip()), loc, path
                )
        elif kind == "children":
            name = line.split()[0]
            inv.group(section).children.add(name)
            inv.group(name)
        else:
            tokens = _split(line)
            if not tokens:
                continue
            names, port = expand_host_pattern(tokens[0])
            host_vars: dict[str, Var] = {}
            if port is not None:
                host_vars["ansible_port"] = Var("ansible_port", port, Location(path, number, 1), path)
            at = 0
            for token in tokens[1:]:
                key, sep, value = token.partition("=")
                if not sep:
                    continue
                found = raw.find(key + "=", at)
                at = found + 1 if found >= 0 else at
                col = found + len(key) + 2
                host_vars[key] = Var(key, _literal(value), Location(path, number, max(col, 1)), path)
            for host in names:
                inv.add_host(section if section else "ungrouped", host, dict(host_vars))
    for name, values in group_vars.items():
        inv.group(name).vars.append(values)
    inv.group("all")
    inv.files.append(path)


def _group_value(value: str) -> Any:
    """A ``[group:vars]`` value: quotes and a trailing comment dropped, then read as a Python
    literal as ansible-core's ``ini`` plugin does (``8080`` is a number)."""
    stripped = _strip_comment(value)
    return stripped if value.startswith(("'", '"')) else _literal(stripped)


def _split(line: str) -> list[str]:
    """A host line's words, quotes and comments as the shell reads them (``shlex``, in linear time)."""
    try:
        return split_shell(line, comments=True)
    except ValueError:
        return line.split()


def _strip_comment(value: str) -> str:
    if value.startswith(("'", '"')):
        try:
            parsed = split_shell(value, comments=True)
        except ValueError:
            return value
        return parsed[0] if parsed else ""
    for mark in _COMMENT.finditer(value):
        if mark.start() and value[mark.start() - 1].isspace():
            return value[: mark.start()].rstrip()
    return value


_COMMENT = re.compile(r"[#;]")
"""A comment starts at ``#`` or ``;`` after whitespace (found without a regex that backtracks
over long runs of spaces)."""


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value) if len(value) < 1000 else value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def read_yaml(inv: Inventory, loaded: Loaded) -> bool:
    """Add a YAML inventory; False when the document is not one.

    A ``.yml``/``.yaml``/``.json`` inventory file that does not parse is one, with its error.
    """
    if loaded.error is not None and loaded.path.endswith((".yml", ".yaml", ".json")):
        inv.errors.append(loaded.error)
        return True
    doc = loaded.docs[0] if loaded.docs else None
    if not isinstance(doc, MappingNode):
        return False
    groups = list(items(doc))
    if not groups or not all(isinstance(v, MappingNode) or v.tag.endswith("null") for _, _, v in groups):
        return False
    if not any(k in ("hosts", "children", "vars") for _, _, v in groups for k, _, _ in items(v)):
        return False
    for name, _, node in groups:
        _yaml_group(inv, loaded.path, name, node, 0)
    inv.group("all")
    inv.files.append(loaded.path)
    return True


def _yaml_group(inv: Inventory, path: str, name: str, node: Node, depth: int) -> None:
    group = inv.group(name)
    if depth > 20:
        return
    for key, _, value in items(node):
        if key == "hosts":
            for pattern, key_node, hvars in items(value):
                names, port = expand_host_pattern(pattern)
                host_vars = vars_of(hvars, path, path)
                if port is not None and "ansible_port" not in host_vars:
                    host_vars["ansible_port"] = Var("ansible_port", port, location(path, key_node), path)
                for host in names:
                    inv.add_host(name, host, host_vars)
        elif key == "vars":
            group.vars.append(vars_of(value, path, path))
        elif key == "children":
            for child, _, cnode in items(value):
                group.children.add(child)
                _yaml_group(inv, path, child, cnode, depth + 1)


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """The host names an inventory host entry stands for, and its ``:port``, as Ansible reads them."""
    name, port = _split_port(pattern.strip())
    if "[" not in name:
        return [name], port
    names = _expand_ranges(name)
    return (names if names is not None else [name]), port


_HOST_PORT = re.compile(r"^((?:[^\[\]:]|\[[^\]]*\])+):(\d+)$")
_BRACKETED_PORT = re.compile(r"^\[([^\]]+)\]:(\d+)$")


def _split_port(pattern: str) -> tuple[str, int | None]:
    """``host:22`` and ``[::1]:22`` carry a port; an unbracketed IPv6 address does not."""
    m = _BRACKETED_PORT.match(pattern)
    if m:
        return m.group(1), int(m.group(2))
    m = _HOST_PORT.match(pattern)
    if m:
        return m.group(1), int(m.group(2))
    return pattern, None


_RANGE = re.compile(r"\[([^\[\]]*)\]")


def _expand_ranges(name: str) -> list[str] | None:
    """Every name the ``[begin:end:step]`` ranges in ``name`` make, left range first; None when
    Ansible would refuse one, or past ``MAX_RANGE_HOSTS`` names."""
    out = [""]
    at = 0
    for m in _RANGE.finditer(name):
        values = _range_values(m.group(1))
        if values is None or len(out) * len(values) > MAX_RANGE_HOSTS:
            return None
        head = name[at : m.start()]
        out = [prefix + head + v for prefix in out for v in values]
        at = m.end()
    tail = name[at:]
    if "[" in tail or "]" in tail:
        return None
    return [prefix + tail for prefix in out]


def _range_values(spec: str) -> list[str] | None:
    """One range's values: numeric (zero-padded when written so) or single letters."""
    bounds = spec.split(":")
    if len(bounds) not in (2, 3) or not bounds[1]:
        return None
    beg = bounds[0] or "0"
    end = bounds[1]
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        return None
    if step <= 0:
        return None
    width = len(beg) if beg[0] == "0" and len(beg) > 1 else 0
    if width and width != len(end):
        return None
    letters = string.ascii_letters
    if len(beg) == 1 and len(end) == 1 and beg in letters and end in letters:
        i, j = letters.index(beg), letters.index(end)
        return list(letters[i : j + 1 : step]) if i <= j else None
    if not (beg.isascii() and beg.isdigit() and end.isascii() and end.isdigit()):
        return None
    first, last = int(beg), int(end)
    if (last - first) // step + 1 > MAX_RANGE_HOSTS:
        return None
    return [str(n).zfill(width) for n in range(first, last + 1, step)]


def read_vars_dirs(inv: Inventory, base: str, files: dict[str, Loaded], rank: int) -> None:
    """``group_vars/`` and ``host_vars/`` under ``base``: files, extensionless files or directories."""
    del rank  # playbook-adjacent dirs are read after inventory ones, so they rank higher
    for kind in ("group_vars", "host_vars"):
        prefix = f"{base}/{kind}/" if base not in ("", ".") else f"{kind}/"
        by_name: dict[str, list[Loaded]] = {}
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            first = rest.split("/", 1)[0]
            name = first
            if "/" not in rest:
                for suffix in VARS_SUFFIXES[1:]:
                    if name.endswith(suffix):
                        name = name[: -len(suffix)]
                        break
            by_name.setdefault(name, []).append(files[path])
        for name, loaded_files in by_name.items():
            layer: dict[str, Var] = {}
            for loaded in loaded_files:
                if loaded.error is not None:
                    inv.errors.append(loaded.error)
                doc = loaded.docs[0] if loaded.docs else None
                layer.update(vars_of(doc, loaded.path, loaded.path))
            if kind == "group_vars":
                inv.group(name).vars.append(layer)
            else:
                inv.host_vars.setdefault(name, []).append(layer)


def is_vars_file(path: str) -> bool:
    """Inside a ``group_vars``/``host_vars`` directory, with a vars extension or none."""
    parts = path.split("/")
    if not any(p in ("group_vars", "host_vars") for p in parts[:-1]):
        return False
    name = parts[-1]
    _, ext = os.path.splitext(name)
    return ext in VARS_SUFFIXES and not name.startswith(".")


def location_of(path: str, node: Node) -> Location:
    return location(path, node)
