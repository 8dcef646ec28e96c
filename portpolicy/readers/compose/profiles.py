"""Profiles as partitions: which services of a project can run at the same time.

A service with ``profiles:`` starts only when one of them is enabled (``--profile``,
``COMPOSE_PROFILES``); a service without is always started. Profiles that some command of
the tree (or a ``.env``) enables together are one group; every other profile is a group of
its own, since nothing shows it running beside the others (the project's scripts may start
each on another server). Each group, with the services that have no profile, is one
conflict scope: a *world*. A project whose services all run together has one world.

A profile that no command starts, in a project whose commands do start some of its profiles,
is no world at all: the repository says how it runs the project, and never with that
profile. This is the shape of a base service kept out of every start by a profile nothing
enables (``profiles: [none]``) and extended by the services that are started: Compose
appends a base's ``profiles`` to the child's through ``extends:`` (sequences are appended,
docs.docker.com/reference/compose-file/merge/; TryGhost/Ghost#23171 and
smart-on-fhir/cumulus-etl#129 met it), so ``--profile none`` would start the base and every
child at once, which nobody runs. Its services are then checked only in the worlds of the
profiles that are started, and an ``Unresolved`` line says so (``profile none: no script
starts it``). Without any start in the tree, each profile stays a world of its own, as
before: nothing then says which profiles are never used.
"""

from __future__ import annotations

from collections.abc import Sequence

from portpolicy.readers.base import shown
from portpolicy.readers.compose.merge import get_node, profiles_of
from portpolicy.readers.compose.sets import Combination
from portpolicy.records import record
from portpolicy.yamlnodes import MappingNode, items

MAX_WORLDS = 32
"""Profile groups a project is split into; with more, it is not split (every service together)."""
MAX_PROFILES = 1024
"""Profile names looked at in one project; with more, it is not split."""


@record
class World:
    """Services that run together; ``label`` says which profiles and why (None: the whole project)."""

    label: str | None
    services: frozenset[str]
    profiles: tuple[str, ...] = ()
    started: bool = True
    """False: no command of the tree names any of its profiles."""


@record
class Split:
    """A project's worlds; why it was not split ("" when it was, or needed not be); the profiles
    no command starts, each with the services left in no world (``unstarted``)."""

    worlds: list[World]
    unsplit: str = ""
    unstarted: tuple[tuple[str, tuple[str, ...]], ...] = ()


def split(doc: MappingNode, combinations: Sequence[Combination]) -> Split:
    """``worlds``, without the profiles no command starts when commands start some of them."""
    found, unsplit = worlds(doc, combinations)
    if unsplit or len(found) < 2 or not any(w.started for w in found):
        return Split(found, unsplit)
    kept = [w for w in found if w.started]
    running: frozenset[str] = frozenset().union(*(w.services for w in kept))
    unstarted = tuple(
        ("+".join(w.profiles), tuple(sorted(w.services - running))) for w in found if not w.started
    )
    return Split(kept, "", unstarted)


def worlds(doc: MappingNode, combinations: Sequence[Combination]) -> tuple[list[World], str]:
    """The worlds of a merged project, and why it was not split when it was too large to be ("" otherwise)."""
    services = get_node(doc, "services")
    profiles = (
        {name: profiles_of(svc) for name, _, svc in items(services)}
        if isinstance(services, MappingNode)
        else {}
    )
    everything = [World(None, frozenset(profiles))]
    names = sorted(set().union(*profiles.values())) if profiles else []
    if len(names) < 2:
        return everything, ""
    if len(names) > MAX_PROFILES:
        return (
            everything,
            f"{len(names)} profiles (over {MAX_PROFILES}): every service is taken to run together",
        )
    parent = {n: n for n in names}
    why: dict[str, list[str]] = {n: [] for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for combo in combinations:
        chosen = sorted(names if "*" in combo.profiles else combo.profiles & set(names))
        for other in chosen[1:]:
            a, b = root(chosen[0]), root(other)
            if a != b:
                parent[b] = a
        for n in chosen:
            why[n].append(str(combo.origin))
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    if len(groups) == 1:
        return everything, ""
    if len(groups) > MAX_WORLDS:
        return (
            everything,
            f"{len(groups)} separate profile groups (over {MAX_WORLDS}): every service is taken to run together",
        )
    out = []
    for group in sorted(groups.values()):
        members = set(group)
        running = frozenset(s for s, p in profiles.items() if not p or p & members)
        started = any(why[n] for n in group)
        out.append(World(_label(group, why), running, tuple(group), started))
    return out, ""


def _label(group: list[str], why: dict[str, list[str]]) -> str:
    """``profile api: started alone (deploy.sh:3 ...)`` / ``profiles a+b: started together (...)``."""
    names = "+".join(shown(n) for n in group)
    origins = sorted({o for n in group for o in why[n]})
    if len(group) > 1:
        return f"profiles {names}: started together by {origins[0]}"
    if origins:
        return f"profile {names}: started without the other profiles by {origins[0]}"
    return f"profile {names}: no command in the tree starts it with another profile"
