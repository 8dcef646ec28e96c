"""The compose projects of a tree, as Compose would build them from the files the scan read.

Each file set (``sets``: ``-f`` lists, ``COMPOSE_FILE``, a devcontainer's list, Compose's
default pair) is one project, merged by Compose's rules (``merge``), read with the ``.env``
of its first file's folder (the project directory), and split into worlds by its profiles
(``profiles``). Its facts land on its first file; the files merged into it give none of
their own. A base file shared by two sets (``-f base -f dev`` and ``-f base -f prod``) gives
two projects, which Compose never runs at once: the second and further projects of one
first file, and every world of a project split by profiles, bind their published ports in a
view of the host namespace of their own (``netns="host [<why>]"``, ``hosts`` names it), so
they never conflict with each other. A file in no set, with no ``include``, ``extends:
file:`` or profiles to split, is read as before (``project._with_env``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from portpolicy.model import Fact, Listener, Location, Unresolved
from portpolicy.readers.base import cut_values, shown
from portpolicy.readers.compose import merge, profiles, sets
from portpolicy.readers.compose.document import Document
from portpolicy.readers.compose.project import Entry, Pending, _refused, _with_env
from portpolicy.readers.compose.shape import NAME
from portpolicy.readers.dotenv import Env, EnvFile
from portpolicy.yamlnodes import MappingNode, Node, items


def join(entries: Sequence[Entry], paths: Sequence[str] = (), roots: tuple[str, ...] = ()) -> list[Entry]:
    """Compose projects as Compose builds them (``projects.build``), each read with its folder's ``.env``.

    ``paths`` are the files of the scan (scripts, Makefiles, ``.env``, devcontainer files among
    them) where file sets and profile combinations are looked for; ``roots`` bound reading them.
    A compose file that takes part in no merged project is read again with the ``.env`` of
    its folder when it uses a variable that file sets.

    The folder of the compose file is its project directory, where Compose looks for
    ``.env``; only a ``.env`` the scan read is used (it lies inside the scanned roots and
    went through the same safe read). Runs once over all read files, before they are
    grouped into hosts, so a file that is its own project (a fragment, ``prod.yml``) gets
    the ``.env`` beside it as a default-named project file does.
    """
    envs: dict[str, Env] = {}
    for path, _, facts in entries:
        for fact in facts:
            if isinstance(fact, EnvFile):
                envs[posixpath.dirname(path)] = fact.env
    built = build(entries, envs, paths or [p for p, _, _ in entries], roots)
    out: list[Entry] = []
    for path, name, facts in entries:
        if name == NAME and path in built:
            facts = built[path]
        elif name == NAME:
            facts = _with_env(path, facts, envs.get(posixpath.dirname(path)))
        out.append((path, name, facts))
    return out


HOST_VIEW = "host ["
"""How a listener's ``netns`` names a view of the host namespace: ``host [<label>]``."""


def build(
    entries: Sequence[Entry], envs: Mapping[str, Env], paths: Sequence[str], roots: tuple[str, ...]
) -> dict[str, list[Any]]:
    """The facts of every compose file that takes part in a built project, by path (others: absent)."""
    pending = {path: _pending(facts) for path, name, facts in entries if name == NAME}
    docs = {path: p.docs for path, p in pending.items() if p is not None}
    found = sets.find(docs, paths, roots)
    plans = _plans(found, docs)
    out: dict[str, list[Any]] = {}
    for base, filesets in plans.items():
        facts: list[Any] = []
        labelled = len(filesets) > 1
        for fileset in filesets:
            label = None if fileset.default or not labelled else _set_label(fileset)
            facts += _project(fileset, pending, docs, envs, found.combinations, label)
        out[base] = _distinct(facts)
        for fileset in filesets:
            for path in fileset.files:
                out.setdefault(path, [])
    for path, facts in out.items():
        if not facts and path in pending:
            out[path] = _kept(next(f for p, n, f in entries if p == path and n == NAME))
    return out


def _pending(facts: list[Any]) -> Pending | None:
    return next((f for f in facts if isinstance(f, Pending)), None)


def _kept(facts: list[Any]) -> list[Any]:
    """What a merged file keeps of its own read: nothing but the records of a YAML it could not compose."""
    return [] if any(isinstance(f, Pending) for f in facts) else facts


def _plans(found: sets.Found, docs: Mapping[str, list[Node]]) -> dict[str, list[sets.FileSet]]:
    """The projects to build, by first file: merged sets, default sets, and lone files that need it."""
    chosen = [s for s in found.sets if len(s.files) > 1 or s.default or s.too_long]
    member = {path for s in chosen if len(s.files) > 1 for path in s.files}
    single = {s.files[0] for s in chosen if len(s.files) == 1}
    for path in sorted(docs):
        if path not in member and path not in single and _needs_project(docs[path], found.combinations):
            chosen.append(sets.FileSet((path,), sets.Origin(path, 1, "a file of its own")))
    plans: dict[str, list[sets.FileSet]] = {}
    for s in chosen:
        lone = len(s.files) == 1 and not s.too_long and s.files[0] not in member
        if lone and not _needs_project(docs[s.files[0]], found.combinations):
            continue  # read as before: no merge, nothing to split
        plans.setdefault(s.files[0], []).append(s)
    return plans


def _needs_project(docs: list[Node], combinations: Sequence[sets.Combination]) -> bool:
    """A lone file Compose builds differently from a plain read: ``include``, ``extends: file:``, profiles."""
    for doc in docs:
        if merge.get_node(doc, "include") is not None:
            return True
        services = merge.get_node(doc, "services")
        for _, _, svc in items(services if isinstance(services, MappingNode) else None):
            ext = merge.get_node(svc, "extends")
            if isinstance(ext, MappingNode) and merge.get_node(ext, "file") is not None:
                return True
            if merge.profiles_of(svc):
                return True
    return False


def _set_label(fileset: sets.FileSet) -> str:
    names = " + ".join(shown(posixpath.basename(p)) for p in fileset.files)
    return f"files {names} from {fileset.origin.path}:{fileset.origin.line}"


def _project(
    fileset: sets.FileSet,
    pending: Mapping[str, Pending | None],
    docs: Mapping[str, list[Node]],
    envs: Mapping[str, Env],
    combinations: Sequence[sets.Combination],
    label: str | None,
) -> list[Fact]:
    """One project's facts: merged, read with its ``.env``, once per world."""
    base = fileset.files[0]
    first = pending[base]
    assert first is not None
    facts: list[Fact] = []
    if fileset.too_long:
        why = (
            f"{fileset.origin} names {fileset.too_long} compose files (over {sets.MAX_SET_FILES}): "
            "they are not merged, so conflicts between them are not known"
        )
        facts.append(Unresolved(shown(base), why, Location(fileset.origin.path, fileset.origin.line)))
    env = envs.get(posixpath.dirname(base))
    if env is not None and env.broken:
        return [*facts, _refused(base, env)]
    project = merge.Builder(docs.get).build(fileset.files)
    folder = posixpath.dirname(base)
    relevant = [
        c
        for c in combinations
        if (c.files == fileset.files) or (not c.files and (c.folder is None or c.folder == folder))
    ]
    split = profiles.split(project.doc, relevant)
    facts += project.problems
    if split.unsplit:
        why = f"not split into conflict scopes: {split.unsplit}"
        facts.append(Unresolved("profiles", why, Location(base, 1)))
    for name, alone in split.unstarted:
        facts.append(Unresolved("profiles", _unstarted(name, alone, relevant), Location(base, 1)))
    for world in split.worlds:
        document = Document(first.source, {}, env)
        document.origin = project.origin
        doc = merge.with_services(project.doc, {name: name in world.services for name in _names(project.doc)})
        read = list(document.document(doc, first.by_name))
        view = "; ".join(x for x in (label, world.label) if x)
        facts += [_in_view(f, view) for f in read] if view else read
    return cut_values(facts) if env is not None else facts


def _unstarted(name: str, alone: Sequence[str], starts: Sequence[sets.Combination]) -> str:
    """``profile none: no script starts it (...)``: why a profile is no conflict scope."""
    origins = sorted({f"{c.origin.path}:{c.origin.line}" for c in starts})
    more = f" and {len(origins) - 1} more" if len(origins) > 1 else ""
    unchecked = ", ".join(shown(s) for s in alone[:8]) + (" ..." if len(alone) > 8 else "")
    left = f"; not checked: {unchecked}, which only it starts" if alone else ""
    return (
        f"profile {shown(name)}: no script starts it (the tree starts its profiles by {origins[0]}{more}),"
        f" so it is no conflict scope of its own{left}"
    )


def _names(doc: MappingNode) -> list[str]:
    return [name for name, _, _ in items(merge.get_node(doc, "services"))]


def _in_view(fact: Fact, view: str) -> Fact:
    """A fact of a world or a further project: its host-namespace listeners move to the view."""
    if isinstance(fact, Listener) and fact.netns == "host":
        return replace(fact, netns=f"{HOST_VIEW}{view}]")
    return fact


def _distinct(facts: list[Any]) -> list[Any]:
    """Each fact once: worlds share the services that have no profile."""
    seen: set[Any] = set()
    out = []
    for fact in facts:
        try:
            key: Any = fact
            hash(key)
        except TypeError:
            key = repr(fact)
        if key not in seen:
            seen.add(key)
            out.append(fact)
    return out
