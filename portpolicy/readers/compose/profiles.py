"""Profiles as partitions: which services of a project can run at the same time.

A service with ``profiles:`` starts only when one of them is enabled (``--profile``,
``COMPOSE_PROFILES``); a service without is always started. Profiles that some command of
the tree (or a ``.env``) enables together are one group; every other profile is a group of
its own, since nothing shows it running beside the others (the project's scripts may start
each on another server). Each group, with the services that have no profile, is one
conflict scope: a *world*. A project whose services all run together has one world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portpolicy.readers.base import shown
from portpolicy.readers.compose.merge import get_node, profiles_of
from portpolicy.readers.compose.sets import Combination
from portpolicy.yamlnodes import MappingNode, items

MAX_WORLDS = 32
"""Profile groups a project is split into; with more, it is not split (every service together)."""
MAX_PROFILES = 1024
"""Profile names looked at in one project; with more, it is not split."""


@dataclass(frozen=True)
class World:
    """Services that run together; ``label`` says which profiles and why (None: the whole project)."""

    label: str | None
    services: frozenset[str]


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
        out.append(World(_label(group, why), running))
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
