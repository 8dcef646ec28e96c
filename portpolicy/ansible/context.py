"""What a task run carries: the play's context (``Ctx``), what it produced (``Out``), one
module call (``ModuleCall``), and Ansible's search for the files a task names
(``resolve_path``).

Its own module so that the task walker (``tasks.py``), role running (``roles.py``) and the
module handlers (``modules/``) all use it without importing each other.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from portpolicy.ansible.accounting import TaskMark
from portpolicy.ansible.args import Resolved
from portpolicy.ansible.loader import Loader
from portpolicy.ansible.locate import Project, Role
from portpolicy.ansible.variables import Scope, Var
from portpolicy.config import PortModule
from portpolicy.model import Evidence, Fact, Location


@dataclass
class Out:
    """Everything one play (or standalone role) produced."""

    facts: list[tuple[str, Fact]] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    used_roles: set[str] = field(default_factory=set)
    ran: set[tuple[str, str, str]] = field(default_factory=set)
    resolved: int = 0
    evidence: dict[tuple[str, int], tuple[Evidence, ...]] = field(default_factory=dict)
    """(template path, line) -> where the values rendered there are defined."""
    reasons: dict[tuple[str, int], str] = field(default_factory=dict)
    """(template path, line) -> why an expression there did not resolve."""
    tasks: list[TaskMark] = field(default_factory=list)
    """Each task run and its bucket (``accounting``): ``--statistics`` counts them."""

    checks: list[set[Any]] = field(default_factory=list)
    """Open recordings of role runs: each collects the run keys looked at while it runs."""
    names: list[set[str]] = field(default_factory=list)
    """Open recordings of role runs: each collects the variable names looked up while it runs."""
    exports: list[list[tuple[dict[str, Var], dict[str, Var]]]] = field(default_factory=list)
    """Open recordings of role runs: the role variables they made visible to the play."""
    reach: list[list[Any]] = field(default_factory=list)
    """Open recordings of role runs: [deepest dependency depth reached, whether a bound cut it]."""

    def mark(self) -> tuple[int, int, frozenset[str], frozenset[str], frozenset[Any]]:
        return (
            len(self.facts),
            self.resolved,
            frozenset(self.claimed),
            frozenset(self.used_roles),
            frozenset(self.ran),
        )


@dataclass
class Ctx:
    project: Project
    loader: Loader
    out: Out
    scope: Scope
    path: str
    playbook: str
    role: Role | None = None
    parents: tuple[Role, ...] = ()
    """Roles that included this one (Ansible searches their templates and files too)."""
    stack: tuple[str, ...] = ()
    task_vars: dict[str, Var] = field(default_factory=dict)
    """``vars:`` of the task being run: for ``include_role`` they rank above the role's ``vars/``."""
    runtime: dict[str, Var] = field(default_factory=dict)
    """``set_fact`` and ``include_vars`` results, shared by the rest of the play."""
    port_modules: dict[str, PortModule] = field(default_factory=dict)
    """The config's ``port-modules``: what custom modules' arguments declare."""

    def child(self, **changes: Any) -> Ctx:
        # a shallow copy with a few fields changed, made for every task and loop item:
        # ``dataclasses.replace`` re-runs ``__init__`` and costs three times as much
        new = object.__new__(Ctx)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


class ModuleCall(NamedTuple):
    """One call of a module by a task, for one loop item: what a module handler is given."""

    name: str
    """The module's canonical name (``sysctl``)."""
    module: str
    """The name as the task wrote it (``ansible.posix.sysctl``): messages quote it."""
    args: Resolved
    """The call's arguments, resolved in the task's scope (with the loop item)."""
    where: Location
    """The task."""


def resolve_path(ctx: Ctx, target: str, kind: str) -> str | None:
    """Ansible's search: the role's ``<kind>/`` dir, the current file's dir, the playbook's dir."""
    files = ctx.project.files
    bases: list[str] = []
    for role in (ctx.role, *ctx.parents):
        if role is not None:
            bases.append(posixpath.join(role.root, kind))
            bases.append(role.root)
    bases.append(posixpath.dirname(ctx.path) or ".")
    pb = posixpath.dirname(ctx.playbook) or "."
    bases += [posixpath.join(pb, kind), pb]
    for base in bases:
        candidate = posixpath.normpath(posixpath.join(base, target))
        if candidate in files:
            return candidate
    return None
