"""Pods: their containers' ports, who runs them, pod sysctls, and where the pod is placed.

Containers of one pod share a network namespace, declared as ``pod:<namespace>/<name>``; a
``hostNetwork`` pod's ports live in the node's namespace (``host``), and so does a ``hostPort``,
which the CNI ``portmap`` plugin forwards as root (``bound_by`` runtime). Plain init
containers run to completion before the app starts and are not read; native sidecars
(``restartPolicy: Always``) listen for the pod's life and are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from portpolicy import images
from portpolicy.model import (
    BindAddress,
    ContainerLink,
    ContainerPort,
    Evidence,
    Fact,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    NetnsDecl,
    ParseError,
    PodTemplate,
    PortRange,
    PortSet,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import shown
from portpolicy.readers.kubernetes import starts
from portpolicy.readers.kubernetes.configmaps import ConfigSources, config_mounts, config_volumes
from portpolicy.readers.kubernetes.exposure import node_port_addresses_flag
from portpolicy.readers.kubernetes.manifest import Manifest, Record, Value, yaml_int
from portpolicy.readers.kubernetes.services import node_port_flag
from portpolicy.signatures.kubernetes import is_static_pod_path
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, get, is_null, seq

KERNEL_KEYS = frozenset(
    {
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
NON_ROOT = "non-root (runAsNonRoot)"
# Placement, carried in ``Listener.source`` until the hosts stage names the reader there.
SCHEDULED = "kubernetes:scheduled"
EVERY_NODE = "kubernetes:every-node"


@dataclass
class PortsSeen:
    """The container ports a pod template declares, gathered for the Service join.

    ``known`` turns False when a template, a variable or a malformed entry hides any of them.
    """

    ports: list[ContainerPort] = field(default_factory=list)
    known: bool = True


@dataclass(frozen=True)
class Pod:
    """What the containers of one pod share."""

    netns: str
    label: str
    host_network: bool
    evidence: tuple[Evidence, ...]
    security: Node | None
    windows: bool
    placement: str
    namespace: str = "default"
    seen: PortsSeen = field(default_factory=PortsSeen)


def read_workload(
    m: Manifest, doc: MappingNode, kind: str, spec: Node | None, labels: Node | None = None
) -> Iterator[Record]:
    """A workload's pod: its namespace, sysctls, the containers that run for its life, and
    its template's labels and ports (a ``PodTemplate``, for the Service join)."""
    if spec is None or not isinstance(spec, MappingNode):
        return
    pod = _pod(m, doc, kind, spec)
    yield from _pod_facts(m, doc, kind, spec, pod)
    template_labels = m.labels(labels)
    yield PodTemplate(
        workload=f"{kind} {pod.label}",
        k8s_namespace=pod.namespace,
        location=m.loc(doc),
        labels=template_labels.pairs,
        labels_known=template_labels.known,
        ports=tuple(pod.seen.ports),
        ports_known=pod.seen.known,
    )


def _pod(m: Manifest, doc: MappingNode, kind: str, spec: MappingNode) -> Pod:
    """What the containers of this workload's pod share."""
    namespace, name = m.names(doc)
    label = name if namespace == "default" else f"{namespace}/{name}"
    host_network = get(spec, "hostNetwork")
    on_host = m.flag(host_network)
    evidence: tuple[Evidence, ...] = ()
    if on_host and host_network is not None:
        why = f"hostNetwork: true: {shown(kind)} {shown(name)} binds in the node's network namespace"
        evidence = (Evidence(m.loc(host_network), why),)
    windows = (m.value(m.path(spec, ("os", "name"))) or Value("", True, m.loc(spec))).text
    return Pod(
        netns="host" if on_host else f"pod:{namespace}/{name}",
        label=label,
        host_network=bool(on_host),
        evidence=evidence,
        security=get(spec, "securityContext"),
        windows=windows == "windows",
        placement=EVERY_NODE if kind == "DaemonSet" or is_static_pod(m, kind) else SCHEDULED,
        namespace=namespace,
    )


def _pod_facts(m: Manifest, doc: MappingNode, kind: str, spec: MappingNode, pod: Pod) -> Iterator[Record]:
    """The pod's namespace, sysctls and containers."""
    namespace, name = m.names(doc)
    host_network = get(spec, "hostNetwork")
    hn_val = m.value(host_network)
    if hn_val is not None and (not hn_val.known or m.uncertain(host_network)):
        why = "hostNetwork is a template or inside a template conditional: ports are placed in the pod's own namespace"
        yield Unresolved(hn_val.raw, why, hn_val.location)
    if not pod.host_network:
        yield NetnsDecl(pod.netns, "container", m.loc(doc))
    yield from pod_sysctls(m, pod)
    volumes = config_volumes(m, spec, namespace)
    for key in ("containers", "initContainers"):
        node = get(spec, key)
        if node is not None and not is_null(node) and not isinstance(node, SequenceNode):
            pod.seen.known = False
            if m.is_template_node(node):
                continue
            yield ParseError(
                f"{shown(kind)} {shown(name)}: '{key}' must be a list of containers", m.loc(node)
            )
            continue
        for container in seq(node):
            if not isinstance(container, MappingNode):
                pod.seen.known = False
                if not m.is_template_node(container):
                    why = f"{shown(kind)} {shown(name)}: each of '{key}' must be a mapping"
                    yield ParseError(why, m.loc(container))
                continue
            yield from node_port_flag(m, container)
            yield from node_port_addresses_flag(m, container)
            if key == "initContainers":
                restart = m.value(get(container, "restartPolicy"))
                if restart is None or restart.text != "Always":
                    continue  # runs to completion before the app containers start
            yield from read_container(m, pod, container, volumes)


def is_static_pod(m: Manifest, kind: str) -> bool:
    """A Pod in the kubelet's manifest directory: the kubelet runs it, no scheduler places it."""
    return kind == "Pod" and is_static_pod_path(m.source.rendered_path)


def pod_sysctls(m: Manifest, pod: Pod) -> Iterator[Fact]:
    """The pod's port sysctls, in its own namespace (the kubelet refuses net.* with hostNetwork)."""
    for entry in seq(get(pod.security, "sysctls")):
        key_val = m.value(get(entry, "name"))
        if key_val is None or not key_val.known:
            continue
        key = key_val.text.replace("/", ".")
        if key not in KERNEL_KEYS or pod.host_network:
            continue
        val = m.value(get(entry, "value"))
        if val is not None and not val.known:
            yield Unresolved(val.raw, f"sysctl {key} is a template or variable", val.location)
            continue
        value = val.text if val is not None else ""
        loc = key_val.location
        yield KernelSetting(key, value, loc, netns=pod.netns, order=(0, "", loc.line))


def read_container(
    m: Manifest, pod: Pod, container: MappingNode, volumes: ConfigSources | None = None
) -> Iterator[Fact]:
    name_val = m.value(get(container, "name"))
    cname = name_val.text if name_val is not None else f"container@{m.loc(container).line}"
    service = f"{pod.label}/{cname}"
    image_val = m.value(get(container, "image"))
    image = image_val.text.strip() if image_val is not None and image_val.known else ""
    sc = get(container, "securityContext")
    run_as = RunAs() if pod.windows else container_user(m, pod.security, sc, image_val)
    mounts = tuple(config_mounts(m, container, volumes or {}))
    if mounts or image:  # an image the repository builds lends its USER when runAsUser is unset
        user_set = get(sc, "runAsUser") is not None or get(pod.security, "runAsUser") is not None
        where = m.loc(container)
        yield ContainerLink(service, pod.netns, where, run_as, user_set, mounts=mounts, image=image)
    ports = get(container, "ports")
    if ports is not None and not is_null(ports) and not isinstance(ports, SequenceNode):
        pod.seen.known = False
        if not m.is_template_node(ports):
            yield ParseError(f"container {shown(cname)!r}: 'ports' must be a list", m.loc(ports))
        return
    declared: dict[str, PortSet] = {}
    for index, entry in enumerate(seq(ports)):
        if not isinstance(entry, MappingNode):
            pod.seen.known = False
            if not m.is_template_node(entry):
                yield ParseError(f"container {shown(cname)!r}: each port must be a mapping", m.loc(entry))
            continue
        for fact in read_container_port(m, pod, service, run_as, entry, image):
            if isinstance(fact, Listener) and fact.netns == pod.netns:
                declared[fact.protocol] = declared.get(fact.protocol, PortSet()).union(fact.ports)
            yield fact
        keyed = container_port(m, pod, (cname, str(m.loc(container))), index, entry, image)
        if keyed is None:
            pod.seen.known = False
        elif not m.uncertain(entry):  # an entry of one template branch is no duplicate of another's
            pod.seen.ports.append(keyed)
            yield keyed
    yield from starts.container_listeners(
        m, container, service, run_as, pod.netns, pod.placement, pod.evidence, image, declared
    )


def container_port(
    m: Manifest, pod: Pod, container: tuple[str, str], index: int, entry: MappingNode, image: str = ""
) -> ContainerPort | None:
    """One ``ports`` entry as its list key (containerPort, protocol) and name; None when unknown."""
    number = m.port(get(entry, "containerPort"), "containerPort", zero_ok=False)
    protocol = m.protocol(get(entry, "protocol"))
    name_node = get(entry, "name")
    name = m.value(name_node)
    if not isinstance(number, int) or not isinstance(protocol, str):
        return None
    if name is not None and (not name.known or m.uncertain(name_node)):
        return None
    return ContainerPort(
        workload=pod.label,
        container=container[0],
        owner=container[1],
        k8s_namespace=pod.namespace,
        index=index,
        number=number,
        protocol=protocol,
        location=m.loc(entry),
        name=name.text if name is not None else "",
        image=image,
    )


def read_container_port(
    m: Manifest, pod: Pod, service: str, run_as: RunAs, entry: MappingNode, image: str = ""
) -> Iterator[Fact]:
    """One ``ports`` entry: the process's socket, and the node's forwarded ``hostPort``."""
    cp_node = get(entry, "containerPort")
    if cp_node is None:
        yield InvalidPort("", "containerPort is required in a container's port", m.loc(entry))
        return
    cport = m.port(cp_node, "containerPort", zero_ok=False)
    hport = m.port(get(entry, "hostPort"), "hostPort", zero_ok=True)
    protocol = m.protocol(get(entry, "protocol"))
    for fact in (cport, hport, protocol):
        if isinstance(fact, (InvalidPort, Unresolved)):
            yield fact
    if not isinstance(cport, int) or not isinstance(protocol, str):
        return
    cloc = m.loc(cp_node)
    if pod.host_network:
        if isinstance(hport, int) and hport != cport:
            why = f"hostPort {hport} must equal containerPort {cport} with hostNetwork"
            yield InvalidPort(str(hport), why, m.loc(get(entry, "hostPort") or entry), "hostPort")
            return
    elif isinstance(hport, int):
        address = host_address(m, get(entry, "hostIP"))
        if isinstance(address, (InvalidPort, Unresolved)):
            yield address
        else:
            hloc = m.loc(get(entry, "hostPort") or entry)
            why = f"forwarded by the CNI portmap plugin to containerPort {cport} of {pod.label}"
            yield Listener(
                service=service,
                protocol=protocol.lower(),
                ports=PortRange.single(hport),
                address=address,
                location=hloc,
                bound_by="runtime",
                netns="host",
                source=pod.placement,
                evidence=(Evidence(cloc, why),),
                forwards_to=PortRange.single(cport),
                image=image,
            )
    yield Listener(
        service=service,
        protocol=protocol.lower(),
        ports=PortRange.single(cport),
        address=BindAddress.wildcard(),
        location=cloc,
        run_as=run_as,
        bound_by="process",
        netns=pod.netns,
        source=pod.placement,
        evidence=pod.evidence,
        image=image,
    )


def host_address(m: Manifest, node: Node | None) -> BindAddress | InvalidPort | Unresolved:
    import ipaddress

    val = m.value(node)
    if val is None or not val.text:
        return BindAddress.wildcard()
    if not val.known:
        return Unresolved(val.raw, "hostIP is a template or variable", val.location)
    try:
        ip = ipaddress.ip_address(val.text)
    except ValueError:
        return InvalidPort(val.raw, f"hostIP {shown(val.raw)!r} is no IP address", val.location, "hostIP")
    family = "ipv4" if ip.version == 4 else "ipv6"
    return BindAddress.wildcard(family) if ip.is_unspecified else BindAddress(val.text, family)


def container_user(m: Manifest, pod_sc: Node | None, sc: Node | None, image: Value | None = None) -> RunAs:
    """The user (container overrides pod), capabilities and no_new_privs of one container.

    No ``runAsUser`` leaves the image's user: a known image's default (``data/images.yml``),
    else unknown. ``runAsNonRoot: true`` without it is a non-root user of unknown name,
    since the kubelet refuses to start it as root.
    """
    user: str | None = None
    user_loc: Location | None = None
    origin = ""
    uid_node = get(sc, "runAsUser") if get(sc, "runAsUser") is not None else get(pod_sc, "runAsUser")
    uid = m.value(uid_node)
    if uid is not None:
        user_loc = uid.location
        number = yaml_int(uid.text) if uid.known and not m.uncertain(uid_node) else None
        user = str(number) if number is not None else None
    known = images.default_user(image.text, image.location) if uid is None and image and image.known else None
    if known is not None and known.location is not None:
        user, user_loc, origin = known.user, known.location, known.origin
    if user is None or (known is not None and known.is_root):
        nr_node = get(sc, "runAsNonRoot")
        if nr_node is None:
            nr_node = get(pod_sc, "runAsNonRoot")
        if m.flag(nr_node):
            assert nr_node is not None
            user, user_loc, origin = NON_ROOT, m.loc(nr_node), ""
    caps = get(sc, "capabilities")
    added = capability_names(m, get(caps, "add"))
    dropped = capability_names(m, get(caps, "drop"), certain=True)
    privileged = get(sc, "privileged")
    if m.flag(privileged):
        added.add("ALL")
    escalation = get(sc, "allowPrivilegeEscalation")
    cap_node = caps if caps is not None else privileged
    return RunAs(
        user=user,
        location=user_loc,
        added=frozenset(added),
        dropped=frozenset(dropped),
        no_new_privileges=m.flag(escalation) is False,
        capability_location=m.loc(cap_node) if cap_node is not None else None,
        origin=origin,
    )


def capability_names(m: Manifest, node: Node | None, certain: bool = False) -> set[str]:
    """Capability names as the model keeps them; ``certain`` leaves out conditional ones."""
    caps: set[str] = set()
    for item in seq(node):
        val = m.value(item)
        if val is not None and val.known and not (certain and m.uncertain(item)):
            cap = val.text.upper()
            caps.add(cap[4:] if cap.startswith("CAP_") else cap)
    return caps
