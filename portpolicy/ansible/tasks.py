"""Walk task lists the way Ansible runs them and hand each module call to its handler.

Blocks, ``include_tasks``/``import_tasks``, ``include_role``/``import_role``, ``set_fact``,
``include_vars``, loops and ``when`` are followed statically:

* ``when`` that evaluates to false with the variables known skips the task (as Ansible
  would without extra vars); an unresolved ``when`` keeps it: the task may run.
* a loop over a list that resolves is expanded, item by item; a loop item that is written
  out as removed (``state: absent``/``comment``/``disabled``, ``enabled: false``) is not a
  setting; a loop that does not resolve makes the task's port values unresolved.
* every other module call goes to its handler (``modules.HANDLERS``): firewall rules,
  kernel settings, containers, and files a task deploys, read by their destination's reader.

Roles are run by ``roles.py`` (given ``run_file`` to run their task files). The state a run
carries (``Ctx``, ``Out``, ``ModuleCall``) lives in ``context.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible import conditions, modules, provenance, roles
from portpolicy.ansible.args import Arg, Resolved, parse_args
from portpolicy.ansible.context import Ctx, ModuleCall, resolve_path
from portpolicy.ansible.jinja import Unknown, UnknownValue
from portpolicy.ansible.variables import Scope, Var, node_value, vars_of
from portpolicy.model import Location
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, SequenceNode, get, items, location, seq

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

REMOVED_STATES = frozenset({"absent", "disabled", "comment", "commented", "removed"})
"""Loop items written out as not applied (``state: absent``): not settings."""


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
        verdict, unknown = conditions.when(scope, keys.get("when"))
        if verdict is False:
            return
        inner = ctx.child(scope=scope)
        start = len(ctx.out.facts)
        for part in ("block", "rescue", "always"):
            run_list(inner, keys.get(part))
        conditions.guard(ctx.out, start, unknown)
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
        verdict, unknown = conditions.when(item_scope, keys.get("when"))
        if verdict is False:
            continue
        start = len(ctx.out.facts)
        dispatch(
            ctx.child(scope=item_scope, task_vars=task_vars),
            ModuleCall(name, module, Resolved(args, item_scope, item_loc), where),
            module_node,
        )
        conditions.guard(ctx.out, start, unknown)


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
    return conditions.when(scope, node)[0]


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
        traced = provenance.item_locations(scope, raw, value[:MAX_LOOP]) if not nodes and isinstance(raw, str) else []
        for i, item in enumerate(value[:MAX_LOOP]):
            loc = location(nodes_path, nodes[i]) if i < len(nodes) else (traced[i] if traced else None)
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


def dispatch(ctx: Ctx, call: ModuleCall, module_node: Node | None) -> None:
    """Run one module call: the play's control flow here, any other module by its handler."""
    control = _CONTROL_FLOW.get(call.name)
    if control is not None:
        control(ctx, call.args, module_node)
        return
    handler = modules.HANDLERS.get(call.name)
    if handler is not None:
        handler(ctx, call)


def _include_role(ctx: Ctx, a: Resolved, module_node: Node | None) -> None:
    """``include_role``/``import_role``: the task's ``vars`` and the call's rank as role parameters."""
    role_name = a.known("name")
    if isinstance(role_name, str):
        role = ctx.project.find_role(role_name, ctx.path)
        if role is not None:
            params = dict(ctx.task_vars)
            for k, v in _mapping_args(a, "vars").items():
                params[k] = Var(k, v.raw, v.location, "include_role vars")
            roles.run_role(ctx, role, params, run_file, str(a.known("tasks_from") or "main"))


def _set_fact(ctx: Ctx, a: Resolved, module_node: Node | None) -> None:
    """Values for the rest of the play; one that does not resolve is known to be unknown."""
    for key, arg in a.args.items():
        if key == "cacheable":
            continue
        try:
            value: Any = a.scope.template(arg.raw)
        except Unknown as exc:
            value = UnknownValue(exc.reason)
        ctx.runtime[key] = Var(key, value, arg.location, "set_fact", arg.node)


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


_CONTROL_FLOW: dict[str, Callable[[Ctx, Resolved, Node | None], None]] = {
    "include_tasks": _include_tasks,
    "import_tasks": _include_tasks,
    "include": _include_tasks,
    "include_role": _include_role,
    "import_role": _include_role,
    "set_fact": _set_fact,
    "include_vars": _include_vars,
}
"""Modules that are the play's own control flow: they run task files, roles and set variables."""
