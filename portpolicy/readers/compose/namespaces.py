"""Network namespaces: each service's ``network_mode``, the namespace its processes bind in, and
the port sysctls of a container's own namespace."""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Fact, KernelSetting, Location
from portpolicy.readers.compose.services import Services
from portpolicy.readers.compose.values import Value
from portpolicy.records import record
from portpolicy.yamlnodes import MappingNode, Node, get, is_null, items, scalar, seq

KERNEL_KEYS = frozenset(
    {
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
    }
)


@record(frozen=False)
class NetMode:
    """How a service is networked: ``own`` (bridge or named networks), ``host``, ``none``,
    ``join`` (``service:x`` / ``container:x``) or ``unknown`` (a variable)."""

    kind: str
    target: str = ""
    value: str = ""
    location: Location | None = None


def net_mode(doc: Services, svc: MappingNode, legacy: bool, container_names: dict[str, str]) -> NetMode:
    """The service's ``network_mode`` (``net`` in version 1 files); none set is a bridge."""
    node = doc.attr(svc, "network_mode")
    if node is None and legacy:
        node = doc.attr(svc, "net")
    val = doc.value(node)
    if val is None:
        return NetMode("own")
    if not val.known:
        return NetMode("unknown", value=val.raw, location=val.location)
    mode = val.text.strip()
    if mode in ("host", "none"):
        return NetMode(mode, value=mode, location=val.location)
    for prefix in ("service:", "container:"):
        if mode.startswith(prefix):
            target = mode[len(prefix) :]
            if prefix == "container:" and target in container_names:
                target = container_names[target]
            return NetMode("join", target, mode, val.location)
    return NetMode("own", value=mode, location=val.location)


def netns_of(modes: dict[str, NetMode], name: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The namespace a service's processes listen in; None when it is not known."""
    mode = modes.get(name)
    if mode is None or mode.kind in ("own", "none"):
        return f"container:{name}"
    if mode.kind == "host":
        return "host"
    if mode.kind == "join":
        if mode.target in modes and mode.target not in seen:
            return netns_of(modes, mode.target, seen | {name})
        return f"container:{mode.target}"
    return None


def sysctls(doc: Services, name: str, svc: MappingNode) -> Iterator[Fact]:
    """The port sysctls of a container's own namespace, map or ``key=value`` list form."""
    node = doc.attr(svc, "sysctls")
    entries: list[tuple[str, Value | None, Location]] = []
    if isinstance(node, MappingNode):
        for key, key_node, value_node in items(node):
            val = None if is_null(value_node) else doc.value(value_node)
            entries.append((key, val, doc.loc(key_node)))
    else:
        for item in seq(node):
            text = scalar(item)
            if text is None or "=" not in text:
                continue
            key, _, value = text.partition("=")
            entries.append((doc.restore(key), doc.text_value(value, doc.loc(item)), doc.loc(item)))
    for key, val, loc in entries:
        key = key.strip().replace("/", ".")
        if key not in KERNEL_KEYS:
            continue
        if val is not None and not val.known:
            yield doc.unresolved(val, f"sysctl {key}")
            continue
        value = "" if val is None else val.text.strip()
        yield KernelSetting(key, value, loc, netns=f"container:{name}", order=(0, "", loc.line))


def internal_networks(doc: Services, networks: Node | None) -> frozenset[str]:
    """The top-level ``networks`` declared ``internal: true`` (no route in or out of the host)."""
    names: set[str] = set()
    for name, _, body in items(networks):
        val = doc.value(get(body, "internal")) if isinstance(body, MappingNode) else None
        if val is not None and val.known and val.text.strip().lower() == "true":
            names.add(doc.restore(name))
    return frozenset(names)


def internal_only(doc: Services, svc: MappingNode, mode: NetMode, internal: frozenset[str]) -> bool:
    """Every network the service joins is internal: Docker publishes none of its ports.

    A service that names no network joins ``default``; a ``network_mode`` joins no named network.
    """
    if mode.kind != "own" or mode.value or not internal:
        return False
    node = doc.attr(svc, "networks")
    if isinstance(node, MappingNode):
        joined = {doc.restore(name) for name, _, _ in items(node)}
    else:
        joined = {doc.restore(text) for text in (scalar(n) for n in seq(node)) if text is not None}
    return (joined or {"default"}) <= internal
