"""Services and the NodePort pool: port validation, and the pool node ports come from.

A Service's ``port`` is a virtual cluster-IP port and its ``nodePort`` a netfilter rule, so
neither is a socket: Services give no listeners. A ``NodePort`` or ``LoadBalancer`` Service
draws from the NodePort pool, which ``--service-node-port-range`` sets where a kube-apiserver
flag, a kubeadm ``ClusterConfiguration`` or a kops ``Cluster`` says so (the 30000-32767
default otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Location,
    PortPool,
    PortRange,
    PortSet,
    ServicePort,
    Unresolved,
)
from portpolicy.readers.base import ascii_int, is_ascii_digits, is_templated, shown
from portpolicy.readers.kubernetes.exposure import outside_limit
from portpolicy.readers.kubernetes.manifest import Labels, Manifest, Value, yaml_int
from portpolicy.yamlnodes import MappingNode, Node, get, items, seq

NODEPORT_DEFAULT = PortRange(30000, 32767)
FLAG = "service-node-port-range"

_FLAG_RE = re.compile(r"--service-node-port-range(?:=|\s+)(\S+)")
_NODEPORT_TYPES = frozenset({"NodePort", "LoadBalancer"})
_POOL = re.compile(r"([0-9]+)(?:([-+])([0-9]+))?")


def read_service(m: Manifest, doc: MappingNode) -> Iterator[Fact]:
    """Port validation, each port as a ``ServicePort`` (list keys, node port, the pods it
    reaches), and the NodePort pool a NodePort or LoadBalancer Service draws from."""
    spec = get(doc, "spec")
    type_node = get(spec, "type")
    svc_type = m.value(type_node)
    namespace, name = m.names(doc)
    node_ports = svc_type is not None and svc_type.known and svc_type.text in _NODEPORT_TYPES
    if node_ports and svc_type is not None and svc_type.text == "LoadBalancer":
        node_ports = m.flag(get(spec, "allocateLoadBalancerNodePorts")) is not False
    shape = _Shape(
        label=name if namespace == "default" else f"{namespace}/{name}",
        namespace=namespace,
        object_id=str(m.loc(doc)),
        service_type=_type_text(m, type_node, svc_type),
        selector=m.labels(get(spec, "selector")),
        headless=_is_headless(m, get(spec, "clusterIP")),
        node_port_open=node_ports and not m.uncertain(type_node),
        outside_limit=outside_limit(m, doc, spec)
        if svc_type is not None and svc_type.text == "LoadBalancer"
        else "",
    )
    for index, entry in enumerate(seq(get(spec, "ports"))):
        if isinstance(entry, MappingNode):
            yield from read_service_port(m, shape, index, entry)
    if svc_type is None or not svc_type.known or svc_type.text not in _NODEPORT_TYPES:
        return
    if svc_type.text == "LoadBalancer" and m.flag(get(spec, "allocateLoadBalancerNodePorts")) is False:
        return
    why = f"Service {shown(name)} (type {shown(svc_type.text)}) takes node ports from this pool on every node"
    yield PortPool(
        "nodeport",
        NODEPORT_DEFAULT,
        svc_type.location,
        default=True,
        evidence=(Evidence(svc_type.location, why),),
    )


@dataclass(frozen=True)
class _Shape:
    """What every port of one Service shares."""

    label: str
    namespace: str
    object_id: str
    service_type: str
    selector: Labels
    headless: bool = False
    node_port_open: bool = False
    outside_limit: str = ""


def _is_headless(m: Manifest, node: Node | None) -> bool:
    """``clusterIP: None``: DNS answers with the pods' own addresses, no virtual port forwards."""
    value = m.value(node)
    return value is not None and value.known and value.text == "None"


def _type_text(m: Manifest, node: Node | None, value: Value | None) -> str:
    """The Service type as the API server defaults it (ClusterIP); "" when a template hides it."""
    if value is None:
        return "ClusterIP"
    return value.text if value.known and not m.uncertain(node) else ""


def read_service_port(m: Manifest, shape: _Shape, index: int, entry: MappingNode) -> Iterator[Fact]:
    """One ``spec.ports`` entry: its values checked, then a ``ServicePort`` when its key is known.

    An entry only some renderings of a template keep (inside ``{% if %}``) is checked but
    gives no ``ServicePort``: two branches' entries are alternatives, not duplicates.
    """
    port_node, node_port_node = get(entry, "port"), get(entry, "nodePort")
    target_node = get(entry, "targetPort")
    port = m.port(port_node, "Service port", zero_ok=False)
    node_port = m.port(node_port_node, "nodePort", zero_ok=True)
    target = target_port(m, target_node)
    protocol = m.protocol(get(entry, "protocol"))
    for fact in (port, node_port, target, protocol):
        if isinstance(fact, (InvalidPort, Unresolved)):
            yield fact
    if not isinstance(port, int) or not isinstance(protocol, str) or m.uncertain(entry):
        return
    name = m.value(get(entry, "name"))
    written = m.value(target_node)
    named = written is not None and target is None and written.known
    yield ServicePort(
        service=shape.label,
        object_id=shape.object_id,
        k8s_namespace=shape.namespace,
        index=index,
        location=m.loc(entry),
        port=port,
        protocol=protocol,
        name=name.text if name is not None and name.known else "",
        service_type=shape.service_type,
        node_port=PortRange.single(node_port) if isinstance(node_port, int) else None,
        node_port_location=m.loc(node_port_node) if node_port_node is not None else None,
        target=written.raw if written is not None else "",
        target_port=target if isinstance(target, int) else port if written is None else None,
        target_name=written.text if named and written is not None else "",
        target_location=m.loc(target_node) if target_node is not None else None,
        selector=shape.selector.pairs if shape.selector.present else None,
        selector_known=shape.selector.known,
        headless=shape.headless,
        node_port_open=shape.node_port_open,
        outside_limit=shape.outside_limit,
    )


def target_port(m: Manifest, node: Node | None) -> int | InvalidPort | Unresolved | None:
    """A number (checked) or the name of a container port (None: joined to the pods' ports)."""
    val = m.value(node)
    if val is not None and val.known and not is_ascii_digits(val.text) and yaml_int(val.text) is None:
        return None
    return m.port(node, "targetPort", zero_ok=False)


def with_node_port_range(facts: list[Fact]) -> list[Fact]:
    """Each Service port with the NodePort range in force for its scope: the ranges the flags
    read for it set (a port inside any of them is accepted), else the default."""
    flagged = [f for f in facts if isinstance(f, PortPool) and f.name == "nodeport" and not f.default]
    ranges: PortRange | PortSet = NODEPORT_DEFAULT
    where: Location | None = None
    source = "the default"
    if flagged:
        joined = PortSet.of(p.ports for p in flagged)
        ranges = joined.ranges[0] if len(joined.ranges) == 1 else joined
        where = flagged[0].location
        source = flagged[0].evidence[0].message if flagged[0].evidence else "a flag"
    return [
        replace(f, node_port_range=ranges, node_port_range_source=source, node_port_range_location=where)
        if isinstance(f, ServicePort)
        else f
        for f in facts
    ]


def read_kubeadm(m: Manifest, doc: MappingNode) -> Iterator[Fact]:
    """``apiServer.extraArgs``: a map (up to v1beta3) or a list of name/value (v1beta4)."""
    args = m.path(doc, ("apiServer", "extraArgs"))
    if isinstance(args, MappingNode):
        for key, _, value in items(args):
            if key == FLAG:
                yield from pool(m, value, f"kubeadm apiServer.extraArgs {FLAG}")
    for entry in seq(args):
        name = m.value(get(entry, "name"))
        if name is not None and name.text == FLAG:
            yield from pool(m, get(entry, "value"), f"kubeadm apiServer.extraArgs {FLAG}")


def node_port_flag(m: Manifest, container: MappingNode) -> Iterator[Fact]:
    """``--service-node-port-range`` in a container's command or args (a static kube-apiserver)."""
    words: list[Node] = [*seq(get(container, "command")), *seq(get(container, "args"))]
    for i, node in enumerate(words):
        val = m.value(node)
        if val is None:
            continue
        if val.text == f"--{FLAG}" and i + 1 < len(words):
            yield from pool(m, words[i + 1], f"kube-apiserver --{FLAG}")
            continue
        found = _FLAG_RE.search(val.raw)
        if found is not None:
            flag_value = Value(found.group(1), not is_templated(found.group(1)), val.location)
            yield from pool_value(flag_value, f"kube-apiserver --{FLAG}")


def pool(m: Manifest, node: Node | None, ctx: str) -> Iterator[Fact]:
    """The NodePort pool a flag's value sets (nothing when absent)."""
    val = m.value(node)
    if val is not None:
        yield from pool_value(val, ctx)


def pool_value(val: Value, ctx: str) -> Iterator[Fact]:
    """``a-b``, ``a+size`` or ``a`` (``k8s.io/apimachinery`` ``ParsePortRange``)."""
    if not val.known:
        yield Unresolved(val.raw, f"{ctx} is a template or variable", val.location)
        return
    text = val.text.strip("\"'")
    found = _POOL.fullmatch(text)
    start = ascii_int(found.group(1)) if found else None
    end = start if found is None or found.group(2) is None else ascii_int(found.group(3))
    if found is None or start is None or end is None:
        yield InvalidPort(val.raw, f"{ctx}: {shown(val.raw)!r} is not a port range", val.location, ctx)
        return
    if found.group(2) == "+":
        end = start + end
    if not (1 <= start <= 65535 and 1 <= end <= 65535) or start > end:
        why = f"{ctx}: {shown(val.raw)!r} is not a range within 1-65535 (the API server refuses to start)"
        yield InvalidPort(val.raw, why, val.location, ctx)
        return
    why = f"{ctx} sets the NodePort pool"
    yield PortPool("nodeport", PortRange(start, end), val.location, evidence=(Evidence(val.location, why),))
