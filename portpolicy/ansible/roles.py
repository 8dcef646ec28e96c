"""Running a role the way Ansible does: its variables, its dependencies, then its tasks.

A role's ``defaults`` sit below everything the play sees, its ``vars/`` above the play's
vars, its parameters above both; ``meta/main.yml`` dependencies run first, once per play
for the same parameters; afterwards its defaults and vars stay visible to the play.

Large repositories run the same roles in hundreds of plays, so a run is recorded
(``RoleRun``) with the variable values it read, and replayed where they are the same.

The tasks of a role are run by the task walker (``tasks.run_file``), passed in as
``run_tasks``: the walker runs roles (``include_role``) and roles run task files, and
neither module imports the other.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible import conditions
from portpolicy.ansible.context import Ctx, Out
from portpolicy.ansible.locate import Role
from portpolicy.ansible.variables import Scope, Var, node_value, vars_of
from portpolicy.model import Evidence, Fact, Location
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, get, items, location, seq

TaskFileRunner = Callable[[Ctx, str], None]
"""Runs one task file in a context (``tasks.run_file``)."""

MAX_ROLE_DEPTH = 10
"""Role dependency chains deeper than this are not followed (cycles are cut anyway)."""
MAX_ROLE_RUNS = 32
"""Recorded runs kept per role and place: enough for a few inventory groups, bounded memory."""


@dataclass(frozen=True)
class RoleRun:
    """What running a role added to a play, and the variable values it depended on.

    Plays that reach a role with the same values (the same inventory group, the same role
    defaults, nothing set differently before it) get the same result, so it is replayed
    instead of run again: large repositories run the same roles in hundreds of plays.
    """

    depends: tuple[tuple[str, Any], ...]
    depth: int
    deepest: int
    cut: bool
    """The dependency depth bound stopped part of it: then it holds only at the same depth."""
    skipped: frozenset[Any]
    """Run keys it found already run (so it skipped them); a replay needs them run too."""
    executed: frozenset[Any]
    """Run keys it looked at and found not yet run; a replay needs them not run yet."""
    facts: tuple[tuple[str, Fact], ...]
    resolved: int
    claimed: frozenset[str]
    used_roles: frozenset[str]
    ran: frozenset[Any]
    evidence: tuple[tuple[tuple[str, int], tuple[Evidence, ...]], ...]
    reasons: tuple[tuple[tuple[str, int], str], ...]
    runtime: tuple[tuple[str, Var], ...]
    exports: tuple[tuple[dict[str, Var], dict[str, Var]], ...] = ()
    """Defaults and vars of the roles it ran, made visible to the rest of the play, in order."""
    tasks: tuple[Any, ...] = ()
    """The tasks it ran, each with its bucket (``accounting.TaskMark``), counted again on a replay."""


def run_role(
    ctx: Ctx,
    role: Role,
    params: dict[str, Var],
    run_tasks: TaskFileRunner,
    tasks_from: str = "main",
    depth: int = 0,
    when: Node | None = None,
) -> None:
    """A role in a play: dependencies first, then its tasks and handlers, in its own scope.

    Role defaults sit below everything the play sees; role ``vars/`` above play vars; role
    parameters above both. ``when`` (a play's or a dependency's) is evaluated in the role's
    scope, as Ansible applies it to each of the role's tasks: false, the role does not run
    (its variables are still loaded, as a static role's are); unresolved, it may run, and
    its listeners say so (``conditions.guard``).
    """
    if depth > MAX_ROLE_DEPTH or role.root in ctx.stack:
        for open_reach in ctx.out.reach:
            open_reach[1] = True  # a recording that hit the bound is only valid at the same depth
        return
    for open_reach in ctx.out.reach:
        open_reach[0] = max(open_reach[0], depth)
    # Ansible runs a role once per play for the same parameters (dependencies shared by
    # several roles included); it also bounds the work on diamond-shaped dependency graphs.
    key = (role.root, tasks_from, repr(sorted((k, repr(v.value)) for k, v in params.items())))
    for checked in ctx.out.checks:
        checked.add(key)
    if key in ctx.out.ran:
        return
    defaults, role_vars = _variable_layers(ctx, role)
    parents = (ctx.role, *ctx.parents) if ctx.role is not None else ctx.parents
    names: set[str] = set()
    scope = Scope(
        [defaults, *ctx.scope.all_layers, role_vars, params, _magic(ctx, role)],
        (*ctx.scope.recorders, *ctx.out.names, names),
    )
    verdict, unknown = conditions.when(scope.child(ctx.runtime), when)
    if verdict is False:
        _export(ctx, defaults, role_vars)
        return
    ctx.out.ran.add(key)
    ctx.out.used_roles.add(role.root)
    static = (
        key,
        tuple(r.root for r in parents),
        ctx.stack,
        posixpath.dirname(ctx.playbook),
        ctx.project.root,
        unknown,
    )
    runtime_before = dict(ctx.runtime)
    if _replay(ctx, static, scope, runtime_before, depth):
        _export(ctx, defaults, role_vars)
        return
    recording = _Recording.start(ctx.out, depth, names)
    inner = ctx.child(scope=scope, role=role, parents=parents, stack=(*ctx.stack, role.root))
    start = len(ctx.out.facts)
    _run_dependencies(ctx, role, run_tasks, depth)
    for kind, stem in (("tasks", tasks_from), ("handlers", "main")):
        path = role.file(ctx.project.files, kind, stem)
        if path is not None:
            run_tasks(inner.child(path=path), path)
    conditions.guard(ctx.out, start, unknown)
    ctx.loader.role_runs.setdefault(static, []).append(recording.finish(ctx, scope, runtime_before))
    _export(ctx, defaults, role_vars)


def _variable_layers(ctx: Ctx, role: Role) -> tuple[dict[str, Var], dict[str, Var]]:
    """The role's ``defaults`` and ``vars`` layers; the other YAML files beside them are claimed."""
    files = ctx.project.files
    layers: list[dict[str, Var]] = []
    for kind in ("defaults", "vars"):
        path = role.file(files, kind)
        # ``defaults/main/*.yml``: a directory instead of a file, merged in name order
        parts = (
            [path]
            if path is not None
            else [p for p in role.dir_files(files, f"{kind}/main") if p.endswith((".yml", ".yaml", ".json"))]
        )
        layer = _role_layer(ctx, role, kind, parts)
        for extra in role.dir_files(files, kind):
            if (
                extra != path
                and extra.endswith((".yml", ".yaml"))
                and extra.count("/") == (path or extra).count("/")
            ):
                ctx.out.claimed.add(extra)
        layers.append(layer)
    return layers[0], layers[1]


def _run_dependencies(ctx: Ctx, role: Role, run_tasks: TaskFileRunner, depth: int) -> None:
    """The roles ``meta/main.yml`` lists under ``dependencies``, one level deeper."""
    meta = role.file(ctx.project.files, "meta")
    if meta is None:
        return
    loaded = ctx.loader.load(meta)
    ctx.out.claimed.add(meta)
    if loaded.error is not None:
        ctx.out.facts.append(("ansible", loaded.error))
    for dep in seq(get(loaded.docs[0], "dependencies") if loaded.docs else None):
        dep_name, dep_params = role_reference(dep, meta)
        dep_role = ctx.project.find_role(dep_name, role.root + "/x") if dep_name else None
        if dep_role is not None:
            dep_when = get(dep, "when") if isinstance(dep, MappingNode) else None
            run_role(ctx.child(role=role), dep_role, dep_params, run_tasks, depth=depth + 1, when=dep_when)


@dataclass
class _Recording:
    """A role run being recorded, open while it runs (``Out.checks``, ``names``, ``reach``,
    ``exports``): what it found already run, the names it read, how deep it went."""

    depth: int
    mark: tuple[int, int, frozenset[str], frozenset[str], frozenset[Any]]
    evidence_before: dict[tuple[str, int], tuple[Evidence, ...]]
    reasons_before: dict[tuple[str, int], str]
    checked: set[Any]
    names: set[str]
    reach: list[Any]
    exported: list[tuple[dict[str, Var], dict[str, Var]]]
    tasks_before: int = 0

    @classmethod
    def start(cls, out: Out, depth: int, names: set[str]) -> _Recording:
        recording = cls(
            depth, out.mark(), dict(out.evidence), dict(out.reasons), set(), names, [depth, False], []
        )
        out.checks.append(recording.checked)
        out.names.append(names)
        out.reach.append(recording.reach)
        out.exports.append(recording.exported)
        recording.tasks_before = len(out.tasks)
        return recording

    def finish(self, ctx: Ctx, scope: Scope, runtime_before: dict[str, Var]) -> RoleRun:
        """Close the recording: what the run added since ``start``, and what it depended on."""
        out = ctx.out
        assert (
            out.checks[-1] is self.checked and out.names[-1] is self.names
        )  # recordings nest like role runs
        out.checks.pop()
        out.names.pop()
        out.reach.pop()
        out.exports.pop()
        mark, checked = self.mark, self.checked
        return RoleRun(
            depends=tuple((n, _entry_value(n, scope, runtime_before)) for n in sorted(self.names)),
            depth=self.depth,
            deepest=self.reach[0],
            cut=self.reach[1],
            skipped=frozenset(k for k in checked if k in mark[4]),
            executed=frozenset(k for k in checked if k not in mark[4]),
            facts=tuple(out.facts[mark[0] :]),
            resolved=out.resolved - mark[1],
            claimed=frozenset(out.claimed) - mark[2],
            used_roles=frozenset(out.used_roles) - mark[3],
            ran=frozenset(out.ran) - mark[4],
            evidence=tuple((k, v) for k, v in out.evidence.items() if self.evidence_before.get(k) != v),
            reasons=tuple((k, v) for k, v in out.reasons.items() if self.reasons_before.get(k) != v),
            runtime=tuple((k, v) for k, v in ctx.runtime.items() if runtime_before.get(k) is not v),
            exports=tuple(self.exported),
            tasks=tuple(out.tasks[self.tasks_before :]),
        )


def _role_layer(ctx: Ctx, role: Role, kind: str, parts: list[str]) -> dict[str, Var]:
    """A role's ``defaults`` or ``vars`` as one layer, read once per scan (never mutated after)."""
    for part in parts:
        ctx.out.claimed.add(part)
    key = (role.root, kind)
    cached = ctx.loader.role_layers.get(key)
    if cached is not None:
        layer, errors = cached
    else:
        layer, errors = {}, []
        for part in parts:
            loaded = ctx.loader.load(part)
            if loaded.error is not None:
                errors.append(loaded.error)
            elif loaded.docs:
                layer.update(vars_of(loaded.docs[0], part, f"role {role.name} {kind}"))
        ctx.loader.role_layers[key] = (layer, errors)
    ctx.out.facts.extend(("ansible", e) for e in errors)
    return layer  # type: ignore[no-any-return]


def _export(ctx: Ctx, defaults: dict[str, Var], role_vars: dict[str, Var]) -> None:
    """A role's defaults and vars stay visible to the rest of the play (Ansible's default,
    ``private_role_vars = False``): kubespray's ``kubespray_defaults`` role is only that.

    Defaults go below everything the play sees, role vars above the play's vars.
    """
    if not defaults and not role_vars:
        return
    if defaults:
        ctx.scope.layers.insert(0, defaults)
    if role_vars:
        ctx.scope.layers.append(role_vars)
    ctx.scope.forget()
    for recording in ctx.out.exports:
        recording.append((defaults, role_vars))


def _entry_value(name: str, scope: Scope, runtime: dict[str, Var]) -> Any:
    """What ``name`` meant when the role started: set_fact results rank above everything."""
    var = runtime.get(name)
    if var is None:
        var = scope.lookup(name)
    return None if var is None else (var.value, var.location, var.origin, id(var.node))


def _replay(ctx: Ctx, static: tuple[Any, ...], scope: Scope, runtime: dict[str, Var], depth: int) -> bool:
    """Apply a recorded run of this role when every value it read is the same now."""
    runs = ctx.loader.role_runs.get(static)
    if not runs:
        return False
    ran = ctx.out.ran
    now: dict[str, Any] = {}  # each name's current value, looked up once for all recorded runs

    def current(name: str) -> Any:
        if name not in now:
            now[name] = _entry_value(name, scope, runtime)
        return now[name]

    for run in runs:
        if run.cut and depth != run.depth:
            continue
        if depth + run.deepest - run.depth > MAX_ROLE_DEPTH:
            continue
        if any(current(n) != v for n, v in run.depends):
            continue
        if any(k not in ran for k in run.skipped) or any(k in ran for k in run.executed):
            continue
        out = ctx.out
        # Recordings still open (roles that include this one) depend on what this run depended on.
        for checked in out.checks:
            checked |= run.skipped | run.executed
        for names in out.names:
            names.update(n for n, _ in run.depends)
        for reach in out.reach:
            reach[0] = max(reach[0], depth + run.deepest - run.depth)
            reach[1] = reach[1] or run.cut
        out.facts.extend(run.facts)
        out.resolved += run.resolved
        out.claimed |= run.claimed
        out.used_roles |= run.used_roles
        out.ran |= run.ran
        out.evidence.update(run.evidence)
        out.reasons.update(run.reasons)
        out.tasks.extend(run.tasks)
        ctx.runtime.update(run.runtime)
        for defaults, role_vars in run.exports:
            _export(ctx, defaults, role_vars)
        return True
    if len(runs) >= MAX_ROLE_RUNS:
        runs.pop(0)
    return False


def _magic(ctx: Ctx, role: Role) -> dict[str, Var]:
    """Variables Ansible sets for a running role (``role_name``, ``ansible_parent_role_names``...)."""
    coll = ctx.project.collection
    parents = [r for r in (ctx.role, *ctx.parents) if r is not None]

    def fq(r: Role) -> str:
        return f"{coll}.{r.name}" if coll else r.name

    values: dict[str, Any] = {
        "role_name": role.name,
        "ansible_role_name": fq(role),
        "role_path": role.root,
        "ansible_parent_role_names": [fq(r) for r in parents],
        "ansible_parent_role_paths": [r.root for r in parents],
    }
    if coll:
        values["ansible_collection_name"] = coll
    where = Location(role.root)
    return {k: Var(k, v, where, "set by Ansible for the role") for k, v in values.items()}


def role_reference(node: Node, path: str) -> tuple[str | None, dict[str, Var]]:
    """``- name`` or ``- role: name`` (with old-style params beside it or under ``vars``)."""
    if isinstance(node, ScalarNode):
        return str(node.value), {}
    if not isinstance(node, MappingNode):
        return None, {}
    name: str | None = None
    params: dict[str, Var] = {}
    for key, key_node, value in items(node):
        if key in ("role", "name"):
            name = str(node_value(value))
        elif key == "vars":
            params.update(vars_of(value, path, "role params"))
        elif key not in (
            "when",
            "tags",
            "become",
            "become_user",
            "delegate_to",
            "ignore_errors",
            "environment",
        ):
            params[key] = Var(key, node_value(value), location(path, key_node), "role params", value)
    return name, params
