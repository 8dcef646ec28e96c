"""One compose project as Compose builds it: files merged in order, ``include:`` and ``extends: file:``.

The rules are the Compose specification's (docs.docker.com/reference/compose-file/merge/):
a mapping "gets merged by adding missing entries and merging the conflicting ones"; a
sequence "is merged by appending values from the overriding Compose file to the previous
one", except ``command``, ``entrypoint`` and ``healthcheck.test``, which the later file
overrides; ``ports``, ``volumes``, ``secrets`` and ``configs`` entries that share a unique key
are merged into one (here: entries written alike); ``!reset`` removes a value and
``!override`` replaces it whole. ``include:`` adds the services of another project (its
files merged the same way); a service defined both there and here is an error in Compose.
``extends:`` copies a service (of this file, or of ``file:``) under the extending one,
merged by the same rules; each file's ``extends`` are applied before the files are merged,
as compose-go's loader does.

Nodes are composed YAML nodes from several files; ``origin`` maps each to its file, so every
fact points at the file and line that wrote it. Every walk is bounded (``MAX_*``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import field

from portpolicy.model import Fact, Location, ParseError, Unresolved
from portpolicy.readers.base import shown
from portpolicy.readers.compose.shape import looks_like_fragment
from portpolicy.records import record
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, SequenceNode, is_null, items, scalar

MAX_INCLUDE_DEPTH = 8
"""Nested ``include:`` levels followed; deeper is reported, not read."""
MAX_EXTENDS_DEPTH = 16
"""``extends`` chain length followed; longer (or a cycle) is reported, not read."""
MAX_PROJECT_FILES = 128
"""Files (merged, included, extended from) one project may read."""

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_OVERRIDDEN = frozenset({("command",), ("entrypoint",), ("healthcheck", "test")})
"""Service attributes whose later value replaces the earlier, not appended (relative to the service)."""
_UNIQUE = frozenset({"ports", "volumes", "secrets", "configs"})

Docs = Callable[[str], "list[Node] | None"]
"""The composed documents of a file read in this scan (by its shown path), or None."""


@record(frozen=False)
class Project:
    """A merged project: its single document, where each node came from, and what went wrong."""

    doc: MappingNode
    origin: dict[int, str] = field(default_factory=dict)
    problems: list[Fact] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    """Every file the project used, in the order first used."""


class Builder:
    """Builds one project from its files (``build``); ``docs`` gives any read file's documents."""

    def __init__(self, docs: Docs) -> None:
        self.docs = docs
        self.project = Project(MappingNode(_MAP, []))

    def build(self, files: tuple[str, ...]) -> Project:
        self.project.doc = self._merged(files, ())
        return self.project

    def _merged(self, files: tuple[str, ...], including: tuple[str, ...]) -> MappingNode:
        """The files merged in order, each with its ``include:`` and ``extends`` applied."""
        merged: Node | None = None
        for path in files:
            for doc in self._file(path, including):
                merged = merge(merged, doc, ()) if merged is not None else doc
        return merged if isinstance(merged, MappingNode) else MappingNode(_MAP, [])

    def _file(self, path: str, including: tuple[str, ...]) -> list[MappingNode]:
        """One file's documents as top-level mappings, ``include:`` and ``extends`` applied."""
        docs = self._load(path)
        out: list[MappingNode] = []
        for doc in docs:
            doc = self._extends_applied(path, doc)
            out.append(self._included(path, doc, including))
        return out

    def _load(self, path: str) -> list[MappingNode]:
        """A file's mapping documents (a service fragment as ``services:``), recording where nodes came from."""
        docs = self.docs(path)
        if docs is None:
            return []
        if path not in self.project.read:
            if len(self.project.read) >= MAX_PROJECT_FILES:
                return []
            self.project.read.append(path)
            for doc in docs:
                _stamp(doc, path, self.project.origin)
        out = []
        for doc in docs:
            if isinstance(doc, MappingNode):
                if looks_like_fragment(doc) and get_node(doc, "services") is None:
                    key = ScalarNode("tag:yaml.org,2002:str", "services", doc.start_mark, doc.end_mark)
                    doc = MappingNode(_MAP, [(key, doc)], doc.start_mark, doc.end_mark)
                out.append(doc)
        return out

    # -- include -----------------------------------------------------------------------------

    def _included(self, path: str, doc: MappingNode, including: tuple[str, ...]) -> MappingNode:
        """``doc`` with the services (networks, volumes...) of the projects it includes added."""
        node = get_node(doc, "include")
        if node is None:
            return doc
        out = MappingNode(
            _MAP, [(k, v) for k, v in doc.value if scalar(k) != "include"], doc.start_mark, doc.end_mark
        )
        entries = node.value if isinstance(node, SequenceNode) else [node]
        for entry in entries:
            files = self._include_paths(path, entry)
            if not files:
                continue
            chain = (*including, path)
            if any(f in chain for f in files):
                cycle = " -> ".join(shown(p) for p in (*chain, files[0]))
                self._problem(
                    ParseError(f"include cycle ({cycle}): Compose refuses the project", _loc(path, entry))
                )
                continue
            if len(chain) > MAX_INCLUDE_DEPTH:
                why = f"include nested deeper than {MAX_INCLUDE_DEPTH} levels: not followed"
                self._problem(Unresolved(shown(files[0]), why, _loc(path, entry)))
                continue
            missing = [f for f in files if self.docs(f) is None]
            if missing:
                why = (
                    "include: the file is not a compose file read in this scan, so its services are not known"
                )
                self._problem(Unresolved(shown(missing[0]), why, _loc(path, entry)))
            sub = self._merged(tuple(f for f in files if f not in missing), chain)
            out = self._add_included(path, out, sub, entry)
        return out

    def _include_paths(self, path: str, entry: Node) -> tuple[str, ...]:
        """The files of one ``include`` entry (a path, or ``path:`` as a string or list), relative to ``path``'s folder."""
        names: list[Node] = []
        if isinstance(entry, MappingNode):
            value = get_node(entry, "path")
            names = (
                list(value.value) if isinstance(value, SequenceNode) else [value] if value is not None else []
            )
        else:
            names = [entry]
        folder = posixpath.dirname(path)
        out = []
        for name in names:
            text = scalar(name)
            if text and "$" not in text and not posixpath.isabs(text):
                out.append(posixpath.normpath(posixpath.join(folder, text)))
            elif text:
                why = "include: a path that is not literal or lies outside the project is not followed"
                self._problem(Unresolved(text, why, _loc(path, name)))
        return tuple(out)

    def _add_included(self, path: str, doc: MappingNode, sub: MappingNode, entry: Node) -> MappingNode:
        """The included project's top-level resources added; a service both define is Compose's error."""
        pairs = list(doc.value)
        for key, key_node, value in items(sub):
            at = next((i for i, (k, _) in enumerate(pairs) if scalar(k) == key), None)
            if at is None:
                pairs.append((key_node, value))
                continue
            if key == "services" and isinstance(value, MappingNode) and isinstance(pairs[at][1], MappingNode):
                mine = {scalar(k) for k, _ in pairs[at][1].value}
                added = []
                for name, name_node, svc in items(value):
                    if name in mine:
                        why = f"service {shown(name)!r} is defined here and by an included project: Compose refuses it"
                        self._problem(ParseError(why, _loc(path, entry)))
                        continue
                    added.append((name_node, svc))
                services = pairs[at][1]
                pairs[at] = (
                    pairs[at][0],
                    MappingNode(_MAP, [*services.value, *added], services.start_mark, services.end_mark),
                )
        return MappingNode(_MAP, pairs, doc.start_mark, doc.end_mark)

    # -- extends -----------------------------------------------------------------------------

    def _extends_applied(self, path: str, doc: MappingNode) -> MappingNode:
        """Every service of ``doc`` with its ``extends`` (same file or ``file:``) merged in."""
        services = get_node(doc, "services")
        if not isinstance(services, MappingNode):
            return doc
        resolved = [
            (key_node, self._service(path, doc, name, svc, ()) if isinstance(svc, MappingNode) else svc)
            for name, key_node, svc in items(services)
        ]
        new_services = MappingNode(_MAP, resolved, services.start_mark, services.end_mark)
        pairs = [(k, new_services if scalar(k) == "services" else v) for k, v in doc.value]
        return MappingNode(_MAP, pairs, doc.start_mark, doc.end_mark)

    def _service(
        self, path: str, doc: MappingNode, name: str, svc: MappingNode, chain: tuple[tuple[str, str], ...]
    ) -> MappingNode:
        """One service with its ``extends`` chain applied (a cycle or a missing base is reported)."""
        node = get_node(svc, "extends")
        if node is None:
            return svc
        base_name, base_file = _extends_target(node)
        own = MappingNode(
            _MAP, [(k, v) for k, v in svc.value if scalar(k) != "extends"], svc.start_mark, svc.end_mark
        )
        if base_name is None:
            return own
        where = path
        if base_file is not None:
            if "$" in base_file or posixpath.isabs(base_file):
                why = "extends: a file that is not literal or lies outside the project is not followed"
                self._problem(Unresolved(base_file, why, _loc(path, node)))
                return own
            where = posixpath.normpath(posixpath.join(posixpath.dirname(path), base_file))
        link = (where, base_name)
        if link in chain or (where, name) == link or len(chain) >= MAX_EXTENDS_DEPTH:
            what = "cycle" if len(chain) < MAX_EXTENDS_DEPTH else f"chain longer than {MAX_EXTENDS_DEPTH}"
            why = f"extends {what} at service {shown(base_name)!r}: Compose refuses the project"
            self._problem(ParseError(why, _loc(path, node)))
            return own
        base_doc = doc if where == path else next(iter(self._load(where)), None)
        base_services = get_node(base_doc, "services") if base_doc is not None else None
        base = get_node(base_services, base_name) if base_services is not None else None
        if not isinstance(base, MappingNode):
            if base_file is None and where == path:
                return svc  # not found here: the reader's own same-file lookup says nothing either
            why = "extends: the service is not found in a compose file read in this scan"
            self._problem(Unresolved(f"{shown(base_file or '')}#{shown(base_name)}", why, _loc(path, node)))
            return own
        assert base_doc is not None
        base = self._service(where, base_doc, base_name, base, (*chain, (path, name)))
        merged = merge(base, own, ())
        return merged if isinstance(merged, MappingNode) else own

    def _problem(self, fact: Fact) -> None:
        if len(self.project.problems) < MAX_PROJECT_FILES:
            self.project.problems.append(fact)


def _extends_target(node: Node) -> tuple[str | None, str | None]:
    """(service, file) of ``extends: name`` or ``extends: {service: name, file: path}``."""
    if isinstance(node, MappingNode):
        return scalar(get_node(node, "service")), scalar(get_node(node, "file"))
    return scalar(node), None


def merge(base: Node | None, over: Node, path: tuple[str, ...]) -> Node | None:
    """``over`` merged onto ``base`` by Compose's rules; None when ``!reset`` removes the value.

    ``path`` is the key path below a service (``("ports",)``) or the top level, which decides
    whether a sequence is appended or replaced.
    """
    if over.tag == "!reset":
        return None
    if over.tag == "!override":
        return _retagged(over)
    if base is None or is_null(base):
        return over
    if isinstance(base, MappingNode) and isinstance(over, MappingNode):
        return _merge_mappings(base, over, path)
    if isinstance(base, SequenceNode) and isinstance(over, SequenceNode):
        if _service_path(path) in _OVERRIDDEN:
            return over
        entries = list(base.value)
        if _service_path(path)[:1] and _service_path(path)[0] in _UNIQUE and len(_service_path(path)) == 1:
            written = {_written(n) for n in entries}
            entries += [n for n in over.value if _written(n) not in written]
        else:
            entries += list(over.value)
        return SequenceNode(_SEQ, entries, base.start_mark, base.end_mark, flow_style=base.flow_style)
    return over


def _merge_mappings(base: MappingNode, over: MappingNode, path: tuple[str, ...]) -> MappingNode:
    pairs: list[tuple[Node, Node]] = []
    index: dict[str, int] = {}
    for key, key_node, value in items(base):
        index[key] = len(pairs)
        pairs.append((key_node, value))
    removed: set[str] = set()
    for key, key_node, value in items(over):
        if key in index:
            merged = merge(pairs[index[key]][1], value, (*path, key))
            if merged is None:
                removed.add(key)
            else:
                pairs[index[key]] = (pairs[index[key]][0], merged)
        elif value.tag != "!reset":
            index[key] = len(pairs)
            pairs.append((key_node, _retagged(value) if value.tag == "!override" else value))
    kept = [(k, v) for k, v in pairs if scalar(k) not in removed]
    return MappingNode(_MAP, kept, base.start_mark, base.end_mark)


def _service_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """The key path below a service (``services.web.ports`` -> ``("ports",)``); () elsewhere."""
    return path[2:] if len(path) >= 2 and path[0] == "services" else ()


def _written(node: Node) -> str:
    """An entry as written, to merge entries Compose would merge (equal unique keys)."""
    text = scalar(node)
    if text is not None:
        return text.strip()
    if isinstance(node, MappingNode):
        return repr(sorted((k, scalar(v) or "") for k, _, v in items(node)))
    return f"\x00{id(node)}"


def _retagged(node: Node) -> Node:
    """A node without Compose's merge tag, as the plain YAML type it holds."""
    if isinstance(node, MappingNode):
        return MappingNode(_MAP, node.value, node.start_mark, node.end_mark, flow_style=node.flow_style)
    if isinstance(node, SequenceNode):
        return SequenceNode(_SEQ, node.value, node.start_mark, node.end_mark, flow_style=node.flow_style)
    if isinstance(node, ScalarNode):
        return ScalarNode(
            "tag:yaml.org,2002:str", node.value, node.start_mark, node.end_mark, style=node.style
        )
    return node


def get_node(node: Node | None, key: str) -> Node | None:
    for k, _, v in items(node):
        if k == key:
            return v
    return None


def _stamp(root: Node, path: str, origin: dict[int, str]) -> None:
    """Record ``path`` as the file of every node of ``root`` (aliases are walked once)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in origin:
            continue
        origin[id(node)] = path
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _loc(path: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


def profiles_of(svc: Node) -> frozenset[str]:
    """A service's ``profiles`` (names as written; an empty set: it always starts)."""
    names = get_node(svc, "profiles")
    if isinstance(names, SequenceNode):
        return frozenset(t for t in (scalar(n) for n in names.value) if t)
    text = scalar(names)
    return frozenset({text}) if text and not is_null(names) else frozenset()


def with_services(doc: MappingNode, keep: Mapping[str, bool]) -> MappingNode:
    """``doc`` with only the services ``keep`` marks True (every other key as it is)."""
    services = get_node(doc, "services")
    if not isinstance(services, MappingNode):
        return doc
    chosen = [(k, v) for k, v in services.value if keep.get(scalar(k) or "", True)]
    new = MappingNode(_MAP, chosen, services.start_mark, services.end_mark)
    return MappingNode(
        _MAP, [(k, new if scalar(k) == "services" else v) for k, v in doc.value], doc.start_mark, doc.end_mark
    )
