"""Modules a repository ships itself (``library/``, a collection's ``plugins/modules/``).

Their code is never imported or run: what such a module does with a port is unknown, so
a task using one is counted as unresolved ("custom module `name` (path): not evaluated").
Where the user says what its arguments mean (``port-modules`` in the config: which argument
holds the port, which the protocol, whether it opens the firewall or binds a socket),
``port_module`` turns a call into those facts; a call whose ``state`` removes something
declares none.

``find`` follows Ansible's search for a module a task names: the ``library/`` of the running
role and of the roles that included it, then the one beside the playbook and at the
project's root; a fully qualified ``ns.coll.name`` is a collection's ``plugins/modules/``
in the tree (the project itself when it is that collection).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from portpolicy.ansible.args import Arg, Resolved
from portpolicy.ansible.context import Ctx, ModuleCall
from portpolicy.ansible.jinja import Unknown, to_string
from portpolicy.config import PortModule
from portpolicy.model import (
    BindAddress,
    Fact,
    FirewallRule,
    InvalidPort,
    Listener,
    Location,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import PROTOCOLS, parse_port_range

MODULE_SUFFIXES = (".py", "", ".ps1", ".sh")
"""File names a module may have in a ``library/`` folder (Ansible accepts any executable)."""
MAX_PORTS = 64
"""Port values read from one argument (a list): a hostile list gives no more facts than this."""
REMOVING = frozenset({"absent", "disabled", "removed", "deleted", "closed"})


def find(ctx: Ctx, module: str) -> str | None:
    """The file of the module a task names, when the scanned tree holds it."""
    files = ctx.project.files
    parts = module.split(".")
    if len(parts) == 3:
        ns, coll, name = parts
        for suffix in MODULE_SUFFIXES:
            for path in _collection_paths(ctx, f"{ns}.{coll}", name + suffix):
                if path in files:
                    return path
        if ctx.project.collection_modules is None:
            ctx.project.collection_modules = _collection_modules(files)
        return ctx.project.collection_modules.get(module)
    if len(parts) != 1 or not module:
        return None
    bases: list[str] = []
    for role in (ctx.role, *ctx.parents):
        if role is not None:
            bases.append(_join(role.root, "library"))
    bases.append(_join(posixpath.dirname(ctx.playbook) or ".", "library"))
    bases.append(_join(ctx.project.root, "library"))
    if ctx.project.collection:
        bases.append(_join(ctx.project.root, "plugins/modules"))
    for base in dict.fromkeys(bases):
        for suffix in MODULE_SUFFIXES:
            path = posixpath.normpath(posixpath.join(base, module + suffix))
            if path in files:
                return path
    return None


def _collection_paths(ctx: Ctx, collection: str, filename: str) -> list[str]:
    if ctx.project.collection == collection:
        return [posixpath.normpath(_join(ctx.project.root, f"plugins/modules/{filename}"))]
    return []


_IN_COLLECTION = re.compile(r"ansible_collections/([^/]+)/([^/]+)/plugins/modules/")


def _collection_modules(files: set[str]) -> dict[str, str]:
    """``ns.coll.name`` -> the first path (sorted) of a module file below a collection's
    ``plugins/modules/`` in the tree: one pass over the project's files, not one per task."""
    index: dict[str, str] = {}
    for path in sorted(files):
        if "ansible_collections/" not in path:
            continue
        base = posixpath.basename(path)
        for match in _IN_COLLECTION.finditer(path):
            ns, coll = match.groups()
            for suffix in MODULE_SUFFIXES:
                if base.endswith(suffix) and len(base) > len(suffix):
                    index.setdefault(f"{ns}.{coll}.{base[: len(base) - len(suffix)]}", path)
    return index


def _join(root: str, rest: str) -> str:
    return rest if root in ("", ".") else f"{root}/{rest}"


def spec_for(specs: dict[str, PortModule], module: str) -> PortModule | None:
    """The ``port-modules`` entry for a module as written, or for its short name."""
    return specs.get(module) or specs.get(module.rsplit(".", 1)[-1])


def port_module(ctx: Ctx, call: ModuleCall, spec: PortModule) -> str | None:
    """A custom module's call as the facts the config says it declares; the reason when a value
    does not resolve (the task is then unresolved), else None."""
    a = call.args
    state = a.known("state")
    if isinstance(state, str) and state.strip().lower() in REMOVING:
        return None
    port_arg = a.get(spec.port)
    if port_arg is None:
        return None  # the argument is not given: the module's own default is unknown to us
    try:
        values = a.value(spec.port)
    except Unknown as exc:
        ctx.out.facts.append(("ansible", _unresolved(port_arg, call.module, exc.reason)))
        return f"argument not resolved: {call.module} {spec.port}: {exc.reason}"
    try:
        default_protocol = _protocol(a, spec)
    except Unknown as exc:
        return f"argument not resolved: {call.module} {spec.protocol}: {exc.reason}"
    address = BindAddress.wildcard()
    if spec.fact == "listener" and spec.address:
        try:
            host = a.value(spec.address)
        except Unknown as exc:
            return f"argument not resolved: {call.module} {spec.address}: {exc.reason}"
        if isinstance(host, str) and host.strip() and host.strip() not in ("0.0.0.0", "::", "*"):
            address = BindAddress(host.strip())
    items = values if isinstance(values, list) else [values]
    evidence = a.evidence(port_arg)
    for value in items[:MAX_PORTS]:
        fact = _fact(call.module, spec, value, default_protocol, address, port_arg.location, evidence)
        if isinstance(fact, (FirewallRule, Listener)) and port_arg.templated:
            ctx.out.resolved += 1
        ctx.out.facts.append(("ansible", fact))
    return None


def _protocol(a: Resolved, spec: PortModule) -> str:
    if spec.protocol in PROTOCOLS:
        return spec.protocol
    value = a.value(spec.protocol, default="tcp")
    text = str(value).strip().lower() if value is not None else "tcp"
    return text if text in PROTOCOLS else "any" if spec.fact == "firewall" else "tcp"


def _fact(
    module: str,
    spec: PortModule,
    value: Any,
    protocol: str,
    address: BindAddress,
    where: Location,
    evidence: Any,
) -> Fact:
    text = to_string(value) if not isinstance(value, (dict, list)) else json.dumps(value, default=str)
    number, _, proto = text.partition("/")
    if proto.strip().lower() in PROTOCOLS:
        protocol = proto.strip().lower()
    context = f"{module} {spec.port}"
    rng = parse_port_range(number, where, context)
    if rng is None:
        return InvalidPort(text, f"{context}: {text!r} is not a port", where, context)
    if not isinstance(rng, PortRange):
        return rng
    if spec.fact == "listener":
        return Listener(
            module, "tcp" if protocol == "any" else protocol, rng, address, where, evidence=evidence
        )
    return FirewallRule(
        f"ansible module {module}", "in", spec.action, protocol, rng, where, evidence=evidence
    )


def _unresolved(arg: Arg, module: str, reason: str) -> Unresolved:
    raw = arg.raw if isinstance(arg.raw, str) else json.dumps(arg.raw, default=str)
    return Unresolved(raw, f"{module} {arg.name}: {reason}", arg.location)
