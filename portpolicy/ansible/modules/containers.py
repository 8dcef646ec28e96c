"""Container modules: community.docker.docker_container is read as the compose service it
is equivalent to, kubernetes.core.k8s as the manifests it applies (inline or from ``src``).

Both hand their content to the format's own reader (``destinations``), so a container's ports
mean what they mean in a compose file or a manifest, and map every location back to the
task argument the user edits.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import replace
from typing import Any

from portpolicy import regex
from portpolicy.ansible import destinations
from portpolicy.ansible.args import Arg, Resolved
from portpolicy.ansible.context import Ctx, ModuleCall, resolve_path
from portpolicy.ansible.jinja import Unknown, lookups, to_string
from portpolicy.ansible.modules.deploy import deploy_template
from portpolicy.ansible.variables import Var
from portpolicy.model import Location, ParseError, Unresolved
from portpolicy.readers.base import shown, strip_template
from portpolicy.yamlnodes import MappingNode, SequenceNode

# docker_container argument -> compose key, and whether it is a list of items
_COMPOSE_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("image",), "image"),
    (("user",), "user"),
    (("network_mode",), "network_mode"),
    (("privileged",), "privileged"),
    (("published_ports", "ports"), "ports"),
    (("exposed_ports", "expose", "exposed"), "expose"),
    (("capabilities",), "cap_add"),
    (("cap_drop",), "cap_drop"),
    (("sysctls",), "sysctls"),
)


def _compose_text(
    a: Resolved, name: str, task_location: Location
) -> tuple[str, list[Location], dict[int, str]]:
    """A compose document equivalent to a docker_container call, with a line -> location map.

    Values that cannot be resolved are written as their template text, so the compose reader
    reports them as unresolved; the returned map gives the reason for each such line.
    """
    lines = ["services:", f"  {json.dumps(name)}:"]
    where = [task_location, task_location]
    reasons: dict[int, str] = {}
    for names, key in _COMPOSE_KEYS:
        arg = a.get(*names)
        if arg is None:
            continue
        try:
            value = a.value(arg.name)
        except Unknown as exc:
            value, reasons[len(lines) + 1] = arg.raw, exc.reason
        if value is None:
            continue
        if key in ("ports", "expose", "cap_add", "cap_drop"):
            values = value if isinstance(value, list) else [value]
            lines.append(f"    {key}:")
            where.append(arg.location)
            nodes = list(getattr(arg.node, "value", []) or []) if isinstance(arg.raw, list) else []
            for i, v in enumerate(values):
                lines.append(f"      - {_quote(v)}")
                node = nodes[i] if i < len(nodes) else None
                mark = getattr(node, "start_mark", None)
                where.append(
                    Location(arg.location.path, mark.line + 1, mark.column + 1) if mark else arg.location
                )
        elif key == "sysctls" and isinstance(value, dict):
            lines.append(f"    {key}:")
            where.append(arg.location)
            for k, v in value.items():
                lines.append(f"      {_quote(k)}: {_quote(v)}")
                where.append(arg.location)
        else:
            lines.append(f"    {key}: {_quote(value)}")
            where.append(arg.location)
    return "\n".join(lines) + "\n", where, reasons


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else to_string(value)
    return json.dumps(text.replace("$", "$$"))


def _container_name(a: Resolved) -> str:
    name = a.known("name")
    return str(name) if name else "container"


def docker_container(ctx: Ctx, call: ModuleCall) -> None:
    """The container as a compose service: its ports, user, capabilities and sysctls."""
    a, where = call.args, call.where
    if str(a.known("state", default="started")).lower() in ("absent", "stopped"):
        return
    reader = destinations.named_reader("compose")
    if reader is None:
        return
    text, lines, reasons = _compose_text(a, _container_name(a), where)

    def mapper(loc: Location) -> Location:
        return lines[loc.line - 1] if 1 <= loc.line <= len(lines) else where

    dest = f"{ctx.path}#docker_container/compose.yaml"
    for fact in destinations.read_as(reader, dest, text, lambda loc: loc):
        line = fact.location.line if hasattr(fact, "location") else 1
        if isinstance(fact, Unresolved) and line in reasons:
            fact = replace(fact, reason=f"docker_container: {reasons[line]}")
        fact = destinations.remap(fact, dest, mapper)
        if not isinstance(fact, (Unresolved, ParseError)) and any(
            arg.templated for arg in a.args.values() if arg.location == getattr(fact, "location", None)
        ):
            ctx.out.resolved += 1
        ctx.out.facts.append((reader.NAME, fact))


def k8s(ctx: Ctx, call: ModuleCall) -> None:
    """The manifests applied: ``definition`` inline, or the file ``src`` names."""
    a = call.args
    if str(a.known("state", default="present")).lower() == "absent":
        return
    reader = destinations.named_reader("kubernetes", yaml=True)
    if reader is None:
        return
    arg = a.get("definition", "resource_definition", "inline")
    if arg is not None and applied_template(ctx, a, arg):
        return
    template = a.get("template")
    if template is not None:
        _k8s_templates(ctx, a, template)
        return
    if arg is not None and isinstance(arg.node, (MappingNode, SequenceNode)):
        docs = list(arg.node.value) if isinstance(arg.node, SequenceNode) else [arg.node]
        text = ctx.loader.text(ctx.path) or ""
        for fact in destinations.read_docs(reader, ctx.path, text, docs):
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
            for fact in destinations.read_docs(reader, path, loaded.text, loaded.docs):
                ctx.out.facts.append((reader.NAME, fact))


# --------------------------------------------------------------------------- templated manifests


def applied_template(ctx: Ctx, a: Resolved, arg: Arg) -> bool:
    """``arg`` is ``{{ lookup('template', name) }}`` applied as a manifest: render the role's
    template with the task's variables (and ``template_vars``) and read it as Kubernetes, at
    the template's lines. True when ``arg`` is such a lookup (followed, or counted unresolved)."""
    try:
        found = lookups.template_lookup(arg.raw, a.scope)
    except Unknown as exc:
        _unfollowed(ctx, arg, exc.reason)
        return True
    if found is None:
        return False
    layer = {k: Var(k, v, arg.location, "template_vars") for k, v in found.template_vars.items()}
    _render_manifest(ctx, Resolved(a.args, a.scope.child(layer), a.item_location), arg, found.name)
    return True


def _k8s_templates(ctx: Ctx, a: Resolved, arg: Arg) -> None:
    """k8s ``template:``: a name, ``{path: name}``, or a list of them, from the role's templates."""
    try:
        value = a.value(arg.name)
    except Unknown as exc:
        _unfollowed(ctx, arg, exc.reason)
        return
    for entry in (value if isinstance(value, list) else [value])[:MAX_TEMPLATES]:
        name = entry.get("path") if isinstance(entry, dict) and set(entry) == {"path"} else entry
        if not isinstance(name, str) or not name.strip():
            _unfollowed(ctx, arg, "a template entry with options other than path is not followed")
            continue
        try:
            name = lookups.safe_name(name)
        except Unknown as exc:
            _unfollowed(ctx, arg, exc.reason)
            continue
        _render_manifest(ctx, a, arg, name)


MAX_TEMPLATES = 64
"""Templates one k8s task applies that are followed (a list of them)."""


def _render_manifest(ctx: Ctx, a: Resolved, arg: Arg, name: str) -> None:
    reader = destinations.named_reader("kubernetes", yaml=True)
    path = resolve_path(ctx, name, "templates")
    if reader is None or path is None:
        _unfollowed(ctx, arg, "no such template in the folders Ansible searches")
        return
    before = len(ctx.out.facts)
    why = deploy_template(ctx, a, path, strip_template(posixpath.basename(path)), reader)
    if why is not None and len(ctx.out.facts) == before:  # not rendered, and nothing read raw: counted
        _unfollowed(ctx, arg, f"template {path} not rendered ({why})")


def _unfollowed(ctx: Ctx, arg: Arg, why: str) -> None:
    value = shown(arg.raw if isinstance(arg.raw, str) else "template")
    ctx.out.facts.append(("ansible", Unresolved(value, f"manifest not read: {why}", arg.location)))


_KUBECTL_APPLY = regex.compile_trusted(
    r"(?:^|[\s/])(?:kubectl|oc)(?:\s+--?[\w-]+(?:[= ]\S+)?)*\s+(?:apply|create|replace)\b"
)
_FROM_STDIN = regex.compile_trusted(r"(?:^|\s)(?:-f|--filename)(?:\s+|=)-(?:\s|$)")


def kubectl_stdin(ctx: Ctx, call: ModuleCall) -> None:
    """``command``/``shell`` running ``kubectl apply -f -`` with ``stdin`` a template lookup:
    the manifest it applies (kubespray's CoreDNS and nodelocaldns)."""
    a = call.args
    stdin = a.get("stdin")
    if stdin is None or not isinstance(stdin.raw, str) or "lookup" not in stdin.raw:
        return
    try:
        cmd = a.value("cmd", "argv")
    except Unknown as exc:
        if lookups.is_template_lookup(stdin.raw):
            _unfollowed(ctx, stdin, f"the command that reads it does not resolve ({exc.reason})")
        return
    text = " ".join(str(part) for part in cmd) if isinstance(cmd, list) else str(cmd or "")
    if _KUBECTL_APPLY.search(text) is None or _FROM_STDIN.search(text) is None:
        return
    applied_template(ctx, a, stdin)
