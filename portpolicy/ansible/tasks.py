"""Walk task lists the way Ansible runs them and turn port-bearing calls into facts.

Blocks, ``include_tasks``/``import_tasks``, ``include_role``/``import_role``, ``set_fact``,
``include_vars``, loops and ``when`` are followed statically:

* ``when`` that evaluates to false with the variables known skips the task (as Ansible
  would without extra vars); an unresolved ``when`` keeps it: the task may run.
* a loop over a list that resolves is expanded, item by item; a loop item that is written
  out as removed (``state: absent``/``comment``/``disabled``, ``enabled: false``) is not a
  setting; a loop that does not resolve makes the task's port values unresolved.
* files a task deploys (``template``, ``copy``, ``lineinfile``, ``blockinfile``) are read by
  the reader for their destination (``deploy.py``).

The state a run carries (``Ctx``, ``Out``) lives in ``context.py``, shared with ``deploy.py``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from typing import Any

from portpolicy.ansible import deploy, handoff, jinja, modules
from portpolicy.ansible.args import Arg, Resolved, parse_args
from portpolicy.ansible.context import Ctx, resolve_path
from portpolicy.ansible.discover import Role
from portpolicy.ansible.jinja import Unknown, UnknownValue
from portpolicy.ansible.modules import REMOVED_STATES, Emit
from portpolicy.ansible.variables import Scope, Var, node_value, vars_of
from portpolicy.model import Evidence, Fact, KernelSetting, Location, ParseError, Unresolved
from portpolicy.yamlsrc import MappingNode, Node, ScalarNode, SequenceNode, get, items, location, seq

MAX_DEPTH = 30
MAX_LOOP = 500
TASK_KEYWORDS = frozenset(
    {
        "name",
        "when",
        "loop",
        "loop_control",
        "with_items",
        "with_list",
        "with_dict",
        "with_fileglob",
        "with_together",
        "with_nested",
        "with_subelements",
        "with_sequence",
        "with_indexed_items",
        "with_first_found",
        "with_random_choice",
        "with_lines",
        "with_flattened",
        "with_inventory_hostnames",
        "with_cartesian",
        "vars",
        "args",
        "tags",
        "become",
        "become_user",
        "become_method",
        "become_flags",
        "register",
        "notify",
        "listen",
        "ignore_errors",
        "ignore_unreachable",
        "failed_when",
        "changed_when",
        "until",
        "retries",
        "delay",
        "delegate_to",
        "delegate_facts",
        "local_action",
        "run_once",
        "no_log",
        "environment",
        "check_mode",
        "diff",
        "any_errors_fatal",
        "async",
        "poll",
        "throttle",
        "timeout",
        "debugger",
        "module_defaults",
        "collections",
        "connection",
        "remote_user",
        "port",
        "action",
        "block",
        "rescue",
        "always",
    }
)
_LOOP_KEYS = ("loop", "with_items", "with_list", "with_flattened", "with_dict", "with_indexed_items")
_UNSUPPORTED_LOOPS = (
    "with_nested",
    "with_subelements",
    "with_together",
    "with_cartesian",
    "with_sequence",
    "with_fileglob",
    "with_first_found",
    "with_lines",
    "with_random_choice",
    "with_inventory_hostnames",
)


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


def run_file(ctx: Ctx, path: str) -> None:
    """Run a task file (``tasks/main.yml``, an included file)."""
    if path in ctx.stack or len(ctx.stack) > MAX_DEPTH:
        return
    loaded = ctx.loader.load(path)
    ctx.out.claimed.add(path)
    if loaded.error is not None:
        ctx.out.facts.append(("ansible", loaded.error))
        return
    for doc in loaded.docs:
        run_list(ctx.child(path=path, stack=(*ctx.stack, path)), doc)


def run_list(ctx: Ctx, node: Node | None) -> None:
    for task in seq(node):
        if isinstance(task, MappingNode):
            run_task(ctx, task)


@dataclass(frozen=True)
class _Prepared:
    """What a task says before any variable is known: read once per task, however often it runs."""

    node: MappingNode
    keys: dict[str, Node]
    task_vars: dict[str, Var]
    module: str | None
    module_node: Node | None
    name: str | None
    args: Any
    where: Location


def _prepare(ctx: Ctx, task: MappingNode) -> _Prepared:
    cache = ctx.loader.tasks
    prepared: _Prepared | None = cache.get(id(task))
    if prepared is None or prepared.node is not task:
        keys = {k: v for k, _, v in items(task)}
        module, module_node = _module(keys)
        name = modules.canonical(module) if module is not None else None
        args = parse_args(ctx.path, module_node, keys.get("args")) if name is not None else None
        prepared = _Prepared(
            task,
            keys,
            vars_of(keys.get("vars"), ctx.path, "task vars"),
            module,
            module_node,
            name,
            args,
            location(ctx.path, task),
        )
        cache[id(task)] = prepared
    return prepared


def run_task(ctx: Ctx, task: MappingNode) -> None:
    prep = _prepare(ctx, task)
    keys = prep.keys
    task_vars = prep.task_vars
    scope = ctx.scope.child(task_vars, ctx.runtime)
    if "block" in keys:
        if condition(scope, keys.get("when")) is False:
            return
        inner = ctx.child(scope=scope)
        for part in ("block", "rescue", "always"):
            run_list(inner, keys.get(part))
        return
    module, module_node, name = prep.module, prep.module_node, prep.name
    if module is None or name is None:
        return
    loop = loop_items(scope, keys, ctx.path)
    loop_var = str(node_value(get(keys.get("loop_control"), "loop_var")) or "item")
    args, where = prep.args, prep.where
    if isinstance(loop, Unknown):
        # The task still runs, for items nobody can know: values built from them stay unresolved.
        loop = [(UnknownValue(f"loop not resolved: {loop.reason}"), None)]
    for item, item_loc in loop:
        if item is not None and _removed(item):
            continue
        item_scope = scope
        if item_loc is not None or item is not None:
            item_scope = scope.child({loop_var: Var(loop_var, item, item_loc or where, "loop item")})
        if condition(item_scope, keys.get("when")) is False:
            continue
        dispatch(
            ctx.child(scope=item_scope, task_vars=task_vars),
            name,
            module,
            Resolved(args, item_scope, item_loc),
            where,
            module_node,
        )


def _module(keys: dict[str, Node]) -> tuple[str | None, Node | None]:
    if "action" in keys or "local_action" in keys:
        return None, None
    for key, value in keys.items():
        if key not in TASK_KEYWORDS and not key.startswith("with_"):
            return key, value
    return None, None


def _removed(item: Any) -> bool:
    """A data-driven entry written out as not applied (``state: absent``/``comment``, ``enabled: false``)."""
    if not isinstance(item, dict):
        return False
    state = item.get("state")
    if isinstance(state, str) and state.strip().lower() in REMOVED_STATES:
        return True
    return item.get("enabled") is False or item.get("commented") is True


def condition(scope: Scope, node: Node | None) -> bool | None:
    """``when``: True/False when it evaluates, None when it cannot (the task may run)."""
    if node is None:
        return True
    conds = seq(node) if isinstance(node, SequenceNode) else [node]
    result: bool | None = True
    for cond in conds:
        value = node_value(cond)
        if isinstance(value, bool):
            if not value:
                return False
            continue
        if not isinstance(value, str):
            result = None
            continue
        text = value.strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2]
        try:
            if not jinja.truth(jinja.evaluate(text, scope)):
                return False
        except Unknown:
            result = None
    return result


def loop_items(scope: Scope, keys: dict[str, Node], path: str) -> list[tuple[Any, Location | None]] | Unknown:
    """The items a task loops over, with the location of each item when it is written out."""
    for key in _UNSUPPORTED_LOOPS:
        if key in keys:
            return Unknown(f"{key} is not expanded statically")
    for key in _LOOP_KEYS:
        node = keys.get(key)
        if node is None:
            continue
        raw = node_value(node)
        try:
            value = scope.template(raw)
        except Unknown as exc:
            return exc
        nodes: list[Node] = list(node.value) if isinstance(node, SequenceNode) else []
        nodes_path = path
        if not nodes and isinstance(raw, str):
            nodes, nodes_path = _defining_nodes(scope, raw, path)
        if key == "with_dict":
            if not isinstance(value, dict):
                return Unknown("with_dict over something that is not a mapping")
            value = [{"key": k, "value": v} for k, v in value.items()]
            nodes = []
        if not isinstance(value, list):
            return Unknown(f"{key} is not a list")
        if key in ("with_items", "with_flattened"):
            flat: list[Any] = []
            for v in value:
                flat.extend(v if isinstance(v, list) else [v])
            if len(flat) != len(value):
                nodes = []
            value = flat
        if key == "with_indexed_items":
            value, nodes = [[i, v] for i, v in enumerate(value)], []
        out: list[tuple[Any, Location | None]] = []
        for i, item in enumerate(value[:MAX_LOOP]):
            loc = location(nodes_path, nodes[i]) if i < len(nodes) else None
            out.append((item, loc))
        return out
    return [(None, None)]


def _defining_nodes(scope: Scope, raw: str, path: str) -> tuple[list[Node], str]:
    """The list items where ``loop: "{{ name }}"`` is written, and their file, for item locations."""
    text = raw.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        return [], path
    name = text[2:-2].strip()
    if not name.isidentifier():
        return [], path
    var = scope.find(name)
    if var is None or not isinstance(var.node, SequenceNode):
        return [], path
    return list(var.node.value), var.location.path


# --------------------------------------------------------------------------- dispatch


def dispatch(
    ctx: Ctx, name: str, module: str, a: Resolved, where: Location, module_node: Node | None
) -> None:
    if name in ("include_tasks", "import_tasks", "include"):
        _include_tasks(ctx, a, module_node)
    elif name in ("include_role", "import_role"):
        role_name = a.known("name")
        if isinstance(role_name, str):
            role = ctx.project.find_role(role_name, ctx.path)
            if role is not None:
                params = dict(ctx.task_vars)
                for k, v in _mapping_args(a, "vars").items():
                    params[k] = Var(k, v.raw, v.location, "include_role vars")
                run_role(ctx, role, params, str(a.known("tasks_from") or "main"))
    elif name == "set_fact":
        for key, arg in a.args.items():
            if key == "cacheable":
                continue
            try:
                value: Any = a.scope.template(arg.raw)
            except Unknown as exc:
                value = UnknownValue(exc.reason)
            ctx.runtime[key] = Var(key, value, arg.location, "set_fact", arg.node)
    elif name == "include_vars":
        _include_vars(ctx, a, module_node)
    elif name in modules.FIREWALL_MODULES:
        emit = Emit()
        modules.FIREWALL_MODULES[name](a, emit, module)
        _collect(ctx, emit)
    elif name == "sysctl":
        _sysctl(ctx, a, module)
    elif name == "template":
        deploy.template_task(ctx, a, module)
    elif name in ("copy", "lineinfile", "blockinfile"):
        deploy.content_task(ctx, a, name, module)
    elif name == "docker_container":
        _docker_container(ctx, a, where)
    elif name == "k8s":
        _k8s(ctx, a)


def _collect(ctx: Ctx, emit: Emit) -> None:
    ctx.out.facts.extend(emit.facts)
    ctx.out.resolved += emit.resolved


def _mapping_args(a: Resolved, key: str) -> dict[str, Arg]:
    arg = a.get(key)
    if arg is None or not isinstance(arg.node, MappingNode):
        return {}
    return {k: Arg(k, node_value(v), v, location(arg.location.path, v)) for k, _, v in items(arg.node)}


def _include_tasks(ctx: Ctx, a: Resolved, module_node: Node | None) -> None:
    target: Any = None
    if isinstance(module_node, ScalarNode) and "=" not in str(module_node.value):
        try:
            target = a.scope.template(str(module_node.value).strip())
        except Unknown:
            return
    else:
        target = a.known("file", "_raw_params")
    if not isinstance(target, str) or not target:
        return
    path = resolve_path(ctx, target, "tasks")
    if path is not None:
        run_file(ctx, path)


def _include_vars(ctx: Ctx, a: Resolved, module_node: Node | None) -> None:
    target: Any = None
    if isinstance(module_node, ScalarNode):
        try:
            target = a.scope.template(str(module_node.value).strip())
        except Unknown:
            return
    else:
        target = a.known("file")
    if not isinstance(target, str):
        return
    path = resolve_path(ctx, target, "vars")
    if path is None:
        return
    loaded = ctx.loader.load(path)
    ctx.out.claimed.add(path)
    if loaded.error is not None:
        ctx.out.facts.append(("ansible", loaded.error))
    if loaded.docs:
        ctx.runtime.update(vars_of(loaded.docs[0], path, path))


def run_role(ctx: Ctx, role: Role, params: dict[str, Var], tasks_from: str = "main", depth: int = 0) -> None:
    """A role in a play: dependencies first, then its tasks and handlers, in its own scope.

    Role defaults sit below everything the play sees; role ``vars/`` above play vars; role
    parameters above both.
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
    for recording in ctx.out.checks:
        recording.add(key)
    if key in ctx.out.ran:
        return
    ctx.out.ran.add(key)
    files = ctx.project.files
    ctx.out.used_roles.add(role.root)
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
    parents = (ctx.role, *ctx.parents) if ctx.role is not None else ctx.parents
    static = (
        key,
        tuple(r.root for r in parents),
        ctx.stack,
        posixpath.dirname(ctx.playbook),
        ctx.project.root,
    )
    names: set[str] = set()
    scope = Scope(
        [layers[0], *ctx.scope.all_layers, layers[1], params, _magic(ctx, role)],
        (*ctx.scope.recorders, *ctx.out.names, names),
    )
    runtime_before = dict(ctx.runtime)
    if _replay(ctx, static, scope, runtime_before, depth):
        _export(ctx, layers[0], layers[1])
        return
    mark = ctx.out.mark()
    evidence_before, reasons_before = dict(ctx.out.evidence), dict(ctx.out.reasons)
    checked: set[Any] = set()
    ctx.out.checks.append(checked)
    ctx.out.names.append(names)
    reach: list[Any] = [depth, False]
    ctx.out.reach.append(reach)
    exported: list[tuple[dict[str, Var], dict[str, Var]]] = []
    ctx.out.exports.append(exported)
    inner = ctx.child(scope=scope, role=role, parents=parents, stack=(*ctx.stack, role.root))
    meta = role.file(files, "meta")
    if meta is not None:
        loaded = ctx.loader.load(meta)
        ctx.out.claimed.add(meta)
        if loaded.error is not None:
            ctx.out.facts.append(("ansible", loaded.error))
        for dep in seq(get(loaded.docs[0], "dependencies") if loaded.docs else None):
            dep_name, dep_params = role_reference(dep, meta)
            dep_role = ctx.project.find_role(dep_name, role.root + "/x") if dep_name else None
            if dep_role is not None:
                run_role(ctx.child(role=role), dep_role, dep_params, depth=depth + 1)
    for kind, stem in (("tasks", tasks_from), ("handlers", "main")):
        path = role.file(files, kind, stem)
        if path is not None:
            run_file(inner.child(path=path), path)
    out = ctx.out
    assert out.checks[-1] is checked and out.names[-1] is names  # recordings nest like role runs
    out.checks.pop()
    out.names.pop()
    out.reach.pop()
    out.exports.pop()
    ctx.loader.role_runs.setdefault(static, []).append(
        RoleRun(
            depends=tuple((n, _entry_value(n, scope, runtime_before)) for n in sorted(names)),
            depth=depth,
            deepest=reach[0],
            cut=reach[1],
            skipped=frozenset(k for k in checked if k in mark[4]),
            executed=frozenset(k for k in checked if k not in mark[4]),
            facts=tuple(out.facts[mark[0] :]),
            resolved=out.resolved - mark[1],
            claimed=frozenset(out.claimed) - mark[2],
            used_roles=frozenset(out.used_roles) - mark[3],
            ran=frozenset(out.ran) - mark[4],
            evidence=tuple((k, v) for k, v in out.evidence.items() if evidence_before.get(k) != v),
            reasons=tuple((k, v) for k, v in out.reasons.items() if reasons_before.get(k) != v),
            runtime=tuple((k, v) for k, v in ctx.runtime.items() if runtime_before.get(k) is not v),
            exports=tuple(exported),
        )
    )
    _export(ctx, layers[0], layers[1])


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


MAX_ROLE_DEPTH = 10
"""Role dependency chains deeper than this are not followed (cycles are cut anyway)."""
MAX_ROLE_RUNS = 32
"""Recorded runs kept per role and place: enough for a few inventory groups, bounded memory."""


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


# --------------------------------------------------------------------------- other modules


def _sysctl(ctx: Ctx, a: Resolved, module: str) -> None:
    state = a.known("state", default="present")
    if state is None or str(state).lower() != "present":
        return
    name_arg, value_arg = a.get("name", "key"), a.get("value", "val")
    if name_arg is None or value_arg is None:
        return
    reader = handoff.named_reader("sysctl")
    if reader is None:
        return
    reasons: list[str] = []
    parts = []
    for arg in (name_arg, value_arg):
        try:
            parts.append(jinja.to_string(a.value(arg.name)))
        except Unknown as exc:
            parts.append(str(arg.raw) if jinja.has_template(str(arg.raw)) else "{{ unknown }}")
            reasons.append(exc.reason)
    dest = a.known("sysctl_file") or "/etc/sysctl.conf"
    if not isinstance(dest, str) or not handoff.named_as("sysctl", dest):
        dest = "/etc/sysctl.conf"
    text = f"{parts[0]} = {parts[1]}\n"
    facts = handoff.read_as(reader, dest, text, lambda loc: value_arg.location)
    for fact in facts:
        if isinstance(fact, Unresolved) and reasons:
            fact = replace(
                fact, value=str(value_arg.raw), reason=f"{module} {fact.reason.split(':')[0]}: {reasons[-1]}"
            )
        elif not isinstance(fact, (Unresolved, ParseError)):
            ctx.out.resolved += value_arg.templated or name_arg.templated
        if isinstance(fact, KernelSetting):
            # where the name and the value were written, when variables or loop items hold them
            # (the value's definition is where a bad value is fixed; the name's is context)
            named = tuple(replace(e, value=False) for e in a.evidence(name_arg))
            evidence = tuple(dict.fromkeys((*a.evidence(value_arg), *named)))
            if a.item_location is not None:
                # Loop items apply in list order: keep that order among writes at one task line.
                fact = replace(
                    fact,
                    order=(*fact.order, a.item_location.line, a.item_location.column),
                    evidence=evidence,
                )
            elif evidence:
                fact = replace(fact, evidence=evidence)
        ctx.out.facts.append((reader.NAME, fact))


def _docker_container(ctx: Ctx, a: Resolved, where: Location) -> None:
    if str(a.known("state", default="started")).lower() in ("absent", "stopped"):
        return
    reader = handoff.named_reader("compose")
    if reader is None:
        return
    text, lines, reasons = modules.compose_text(a, modules.docker_container_name(a), where)

    def mapper(loc: Location) -> Location:
        return lines[loc.line - 1] if 1 <= loc.line <= len(lines) else where

    dest = f"{ctx.path}#docker_container/compose.yaml"
    for fact in handoff.read_as(reader, dest, text, lambda loc: loc):
        line = fact.location.line if hasattr(fact, "location") else 1
        if isinstance(fact, Unresolved) and line in reasons:
            fact = replace(fact, reason=f"docker_container: {reasons[line]}")
        fact = handoff.remap(fact, dest, mapper)
        if not isinstance(fact, (Unresolved, ParseError)) and any(
            arg.templated for arg in a.args.values() if arg.location == getattr(fact, "location", None)
        ):
            ctx.out.resolved += 1
        ctx.out.facts.append((reader.NAME, fact))


def _k8s(ctx: Ctx, a: Resolved) -> None:
    if str(a.known("state", default="present")).lower() == "absent":
        return
    reader = handoff.named_reader("kubernetes", yaml=True)
    if reader is None:
        return
    arg = a.get("definition", "resource_definition", "inline")
    if arg is not None and isinstance(arg.node, (MappingNode, SequenceNode)):
        docs = list(arg.node.value) if isinstance(arg.node, SequenceNode) else [arg.node]
        text = ctx.loader.text(ctx.path) or ""
        for fact in handoff.read_docs(reader, ctx.path, text, docs):
            ctx.out.facts.append((reader.NAME, fact))
        return
    src = a.known("src")
    if isinstance(src, str):
        path = resolve_path(ctx, src, "files")
        if path is None:
            return
        loaded = ctx.loader.load(path)
        if loaded.docs:
            ctx.out.claimed.add(path)
            for fact in handoff.read_docs(reader, path, loaded.text, loaded.docs):
                ctx.out.facts.append((reader.NAME, fact))
