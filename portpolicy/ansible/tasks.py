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

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible import conditions, modules, provenance, roles
from portpolicy.ansible.accounting import NO_PORT, RESOLVED, SKIPPED, UNRESOLVED, TaskMark
from portpolicy.ansible.args import Arg, Resolved, parse_args
from portpolicy.ansible.context import Ctx, ModuleCall, resolve_path
from portpolicy.ansible.jinja import Unknown, UnknownValue, has_template
from portpolicy.ansible.modules import custom
from portpolicy.ansible.variables import Scope, Var, node_value, vars_of
from portpolicy.model import Location, ParseError, Unresolved
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
        args = parse_args(ctx.path, module_node, keys.get("args")) if module is not None else None
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
            _skip_block(ctx, keys)
            return
        inner = ctx.child(scope=scope)
        start = len(ctx.out.facts)
        for part in ("block", "rescue", "always"):
            run_list(inner, keys.get(part))
        conditions.guard(ctx.out, start, unknown)
        return
    module, module_node, name = prep.module, prep.module_node, prep.name
    if module is None:
        ctx.out.tasks.append(TaskMark(prep.where, *_without_module(keys)))
        return
    notes: list[str] = []
    loop = loop_items(scope, keys, ctx.path, notes)
    loop_var = str(node_value(get(keys.get("loop_control"), "loop_var")) or "item")
    args, where = prep.args, prep.where
    outcome = (SKIPPED, "")
    if isinstance(loop, Unknown):
        # The task still runs, for items nobody can know: values built from them stay unresolved.
        outcome = (UNRESOLVED, f"loop not resolved: {loop.reason}")
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
        ran = dispatch(
            ctx.child(scope=item_scope, task_vars=task_vars),
            ModuleCall(name or module, module, Resolved(args, item_scope, item_loc), where),
            module_node,
        )
        conditions.guard(ctx.out, start, unknown)
        outcome = _stronger(outcome, ran)
        notes.extend(n for n in item_scope.notes if n not in notes)  # a Python 2 dict method, ...
    ctx.out.tasks.extend(TaskMark(where, *outcome, note) for note in notes or [""])


def _stronger(held: tuple[str, str], new: tuple[str, str]) -> tuple[str, str]:
    """The bucket of a task over its loop items: unresolved over resolved over no-port over skipped."""
    order = (SKIPPED, NO_PORT, RESOLVED, UNRESOLVED)
    return new if order.index(new[0]) > order.index(held[0]) else held


def _without_module(keys: dict[str, Node]) -> tuple[str, str]:
    """A task with no module key: the old ``action:`` forms, or something that is not a task."""
    for key in ("local_action", "action"):
        node = keys.get(key)
        if node is None:
            continue
        value = node_value(node)
        written = value.get("module") if isinstance(value, dict) else str(value).split(" ", 1)[0]
        name = modules.canonical(str(written)) if written else None
        if key == "local_action":
            return NO_PORT, "runs on the controller (local_action): no port on the play's hosts"
        if name is None or (name not in modules.HANDLERS and name not in _CONTROL_FLOW):
            return NO_PORT, ""
        return UNRESOLVED, f"old form not evaluated: action: {written}"
    return UNRESOLVED, "no module: the task names no module portpolicy can tell from its keywords"


def _skip_block(ctx: Ctx, keys: dict[str, Node], depth: int = 0) -> None:
    """A block whose ``when:`` is false: each task inside it is skipped (nested blocks too)."""
    if depth > MAX_DEPTH:
        return
    for part in ("block", "rescue", "always"):
        for task in seq(keys.get(part)):
            if not isinstance(task, MappingNode):
                continue
            inner = {k: v for k, _, v in items(task)}
            if "block" in inner:
                _skip_block(ctx, inner, depth + 1)
            else:
                ctx.out.tasks.append(TaskMark(location(ctx.path, task), SKIPPED))


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


def loop_items(
    scope: Scope, keys: dict[str, Node], path: str, notes: list[str] | None = None
) -> list[tuple[Any, Location | None]] | Unknown:
    """The items a task loops over, with the location of each item when it is written out.

    A ``with_*`` loop over a bare name (``with_items: firewall_ports``) is evaluated as the
    variable, as Ansible 1.x and 2.0 did (``Templar._convert_bare_variable``: a string with a
    filter, or whose first name is a variable, is wrapped in ``{{ }}``), with a note in
    ``notes``; later Ansible loops over the text itself. A bare name that is not a variable
    of the files read (a registered result, a fact) is unknown. A string is a one-item list,
    as ``listify_lookup_plugin_terms`` makes it.
    """
    for key in _UNSUPPORTED_LOOPS:
        if key in keys:
            return Unknown(f"{key} is not expanded statically")
    for key in _LOOP_KEYS:
        node = keys.get(key)
        if node is None:
            continue
        raw = node_value(node)
        if key != "loop" and isinstance(raw, str) and not has_template(raw):
            bare = _bare_variable(scope, key, raw.strip())
            if isinstance(bare, Unknown):
                return bare
            if bare != raw.strip() and notes is not None:
                notes.append(
                    f"{key}: {raw.strip()} is a bare variable, evaluated as {bare} as Ansible 1.x and 2.0 did "
                    "(deprecated in Ansible 2.0; later versions loop over the text itself)"
                )
            raw = bare
        try:
            value = scope.template(raw)
        except Unknown as exc:
            return exc
        if key != "loop" and key != "with_dict" and isinstance(value, str):
            value = [value]  # listify_lookup_plugin_terms: a string is one term
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
                flat.extend(_flattened(v, 0 if key == "with_items" else MAX_DEPTH))
            if len(flat) != len(value) or any(isinstance(v, list) for v in value):
                nodes = []
            value = flat
        if key == "with_indexed_items":
            value, nodes = [[i, v] for i, v in enumerate(value)], []
        out: list[tuple[Any, Location | None]] = []
        traced = (
            provenance.item_locations(scope, raw, value[:MAX_LOOP])
            if not nodes and isinstance(raw, str)
            else []
        )
        for i, item in enumerate(value[:MAX_LOOP]):
            loc = location(nodes_path, nodes[i]) if i < len(nodes) else (traced[i] if traced else None)
            out.append((item, loc))
        return out
    return [(None, None)]


_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\])*")
"""A bare variable reference as loops wrote it: ``name``, ``name.attr``, ``name['key']``."""


def _bare_variable(scope: Scope, key: str, text: str) -> str | Unknown:
    """``Templar._convert_bare_variable`` of Ansible 2.0 for a ``with_*`` loop's text.

    The text with ``{{ }}`` around it when it has a filter or its first name is a variable;
    ``Unknown`` when it looks like a variable the files read do not define (a registered
    result or a fact, known only when the play runs); else the text itself (a literal item).
    """
    first = re.split(r"[|.\[]", text, maxsplit=1)[0].strip()
    if "|" in text or (first and scope.lookup(first) is not None):
        return "{{ " + text + " }}"
    if _BARE.fullmatch(text):
        return Unknown(
            f"{key}: {text} is a bare name that no file read defines (a registered result or a fact?): "
            "Ansible 2.0 evaluated it as that variable, later versions loop over the text"
        )
    return text


def _flattened(value: Any, depth: int) -> list[Any]:
    """``with_flattened`` flattens lists inside lists at every level (``with_items`` one level)."""
    if not isinstance(value, list):
        return [value]
    if depth <= 0:
        return list(value)
    out: list[Any] = []
    for v in value:
        out.extend(_flattened(v, depth - 1))
        if len(out) > MAX_LOOP:
            break
    return out


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


Outcome = tuple[str, str]
"""A call's bucket (``accounting``) and, when unresolved, why."""
_DONE: Outcome = (RESOLVED, "")


def dispatch(ctx: Ctx, call: ModuleCall, module_node: Node | None) -> Outcome:
    """Run one module call: the play's control flow here, any other module by its handler.

    Returns the call's bucket: unresolved when a value it declares did not resolve (an
    ``Unresolved`` or ``ParseError`` among the facts it added), or when its module is one
    the repository ships (``modules.custom``) and no ``port-modules`` entry says what it does.
    """
    control = _CONTROL_FLOW.get(call.name)
    if control is not None:
        why = control(ctx, call.args, module_node)
        return (UNRESOLVED, why) if why else _DONE
    start = len(ctx.out.facts)
    handler = modules.HANDLERS.get(call.name)
    if handler is not None:
        handler(ctx, call)
        return _added(ctx, start)
    spec = custom.spec_for(ctx.port_modules, call.module)
    if spec is not None:
        why = custom.port_module(ctx, call, spec)
        return (UNRESOLVED, why) if why else _added(ctx, start)
    if modules.canonical(call.module) is None:
        found = custom.find(ctx, call.module)
        if found is not None:
            return UNRESOLVED, f"custom module `{call.module}` ({found}): not evaluated"
    return NO_PORT, ""


def _added(ctx: Ctx, start: int) -> Outcome:
    """Resolved, unless a fact the call added says a value did not resolve or a file did not parse."""
    for _, fact in ctx.out.facts[start:]:
        if isinstance(fact, Unresolved):
            return UNRESOLVED, f"value not resolved: {fact.reason}"
        if isinstance(fact, ParseError):
            return UNRESOLVED, f"file not read: {fact.location.path}: {fact.message}"
    return _DONE


def _include_role(ctx: Ctx, a: Resolved, module_node: Node | None) -> str | None:
    """``include_role``/``import_role``: the task's ``vars`` and the call's rank as role parameters."""
    role_name = a.known("name")
    if not isinstance(role_name, str):
        return f"include not resolved: role name {_why(a, 'name')}"
    role = ctx.project.find_role(role_name, ctx.path)
    if role is None:
        return f"role not in the tree: {role_name}"
    params = dict(ctx.task_vars)
    for k, v in _mapping_args(a, "vars").items():
        params[k] = Var(k, v.raw, v.location, "include_role vars")
    roles.run_role(ctx, role, params, run_file, str(a.known("tasks_from") or "main"))
    return None


def _why(a: Resolved, *names: str) -> str:
    """Why an argument has no usable value: its reason, or that it is missing."""
    if a.get(*names) is None:
        return "is not given"
    try:
        value = a.value(*names)
    except Unknown as exc:
        return f"did not resolve: {exc.reason}"
    return f"is not a name ({type(value).__name__})"


MAX_SET_FACT = 256
"""Variables one ``set_fact`` call sets: a hostile task with thousands gives no more than this."""


def _set_fact(ctx: Ctx, a: Resolved, module_node: Node | None) -> str | None:
    """Values for the rest of the play; one that does not resolve is known to be unknown.

    A value is templated in the scope of the call, where the variable it sets already holds
    what earlier calls set: ``x: "{{ x | default({}) | combine(item) }}"`` in a loop, or over
    several tasks, accumulates as in Ansible, each evaluation within the Jinja budget.
    """
    why: str | None = None
    # The play's set_fact values as they are now, above the loop item: the task's scope was
    # made before an earlier item of this loop set them. All values are templated before
    # any is set, as ansible-core templates a module's arguments.
    scope = a.scope.child(dict(ctx.runtime))
    values: dict[str, Var] = {}
    for key, arg in list(a.args.items())[:MAX_SET_FACT]:
        if key == "cacheable":
            continue
        try:
            value: Any = scope.template(arg.raw)
        except Unknown as exc:
            value = UnknownValue(exc.reason)
            why = why or f"set_fact value not resolved: {key}: {exc.reason}"
        values[key] = Var(key, value, arg.location, "set_fact", arg.node)
    ctx.runtime.update(values)
    return why


def _mapping_args(a: Resolved, key: str) -> dict[str, Arg]:
    arg = a.get(key)
    if arg is None or not isinstance(arg.node, MappingNode):
        return {}
    return {k: Arg(k, node_value(v), v, location(arg.location.path, v)) for k, _, v in items(arg.node)}


def _include_tasks(ctx: Ctx, a: Resolved, module_node: Node | None) -> str | None:
    target: Any = None
    if isinstance(module_node, ScalarNode) and "=" not in str(module_node.value):
        try:
            target = a.scope.template(str(module_node.value).strip())
        except Unknown as exc:
            return f"include not resolved: {exc.reason}"
    else:
        target = a.known("file", "_raw_params")
    if not isinstance(target, str) or not target:
        return f"include not resolved: the file {_why(a, 'file', '_raw_params')}"
    path = resolve_path(ctx, target, "tasks")
    if path is None:
        return f"task file not in the tree: {target}"
    run_file(ctx, path)
    return None


def _include_vars(ctx: Ctx, a: Resolved, module_node: Node | None) -> str | None:
    target: Any = None
    if isinstance(module_node, ScalarNode):
        try:
            target = a.scope.template(str(module_node.value).strip())
        except Unknown as exc:
            return f"include not resolved: {exc.reason}"
    else:
        target = a.known("file")
    if not isinstance(target, str):
        return f"include not resolved: the file {_why(a, 'file')} (dir: and name: are not evaluated)"
    path = resolve_path(ctx, target, "vars")
    if path is None:
        return f"vars file not in the tree: {target}"
    loaded = ctx.loader.load(path)
    ctx.out.claimed.add(path)
    if loaded.error is not None:
        ctx.out.facts.append(("ansible", loaded.error))
    if loaded.docs:
        ctx.runtime.update(vars_of(loaded.docs[0], path, path))
    return f"file not read: {path}: {loaded.error.message}" if loaded.error is not None else None


_CONTROL_FLOW: dict[str, Callable[[Ctx, Resolved, Node | None], str | None]] = {
    "include_tasks": _include_tasks,
    "import_tasks": _include_tasks,
    "include": _include_tasks,
    "include_role": _include_role,
    "import_role": _include_role,
    "set_fact": _set_fact,
    "include_vars": _include_vars,
}
"""Modules that are the play's own control flow: they run task files, roles and set variables."""
