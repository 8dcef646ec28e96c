"""Kubernetes manifests: pod ports, who runs them, pod sysctls, Services and the NodePort pool.

Containers of one pod share a network namespace, declared as ``pod:<namespace>/<name>``;
a ``hostNetwork`` pod's ports live in the node's namespace (``host``), and so does a
``hostPort``, which the CNI ``portmap`` plugin forwards as root (``bound_by`` runtime). A
Service's ``port`` is a virtual cluster-IP port and its ``nodePort`` a netfilter rule, so
neither is a socket: Services give no listeners, only port validation and the NodePort
pool (``--service-node-port-range`` where a kube-apiserver flag, a kubeadm
``ClusterConfiguration`` or a kops ``Cluster`` sets it, else the 30000-32767 default).
Plain init containers run to completion before the app starts and are not read; native
sidecars (``restartPolicy: Always``) listen for the pod's life and are. Templates: inline
placeholders (Helm ``{{ }}``, Jinja) make a value unresolved, never a guess.

A ConfigMap's ``data`` keys are files in waiting: each becomes an ``Embedded`` text (padded
to the manifest's lines), and a container that mounts a ConfigMap volume (``mountPath``,
``subPath``, ``items``, ``projected`` sources) gives a ``ContainerLink`` whose mounts name
the ConfigMap. ``deployed`` joins the two, reads each key as what its mount path makes it
(``nginx.conf`` at ``/etc/nginx/nginx.conf``), and ``correlate`` runs its listeners in the
pod as the container's user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from portpolicy.model import (
    BindAddress,
    ContainerLink,
    Evidence,
    Fact,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    Mount,
    NetnsDecl,
    ParseError,
    PortPool,
    PortRange,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    MAX_DIGITS,
    Format,
    Source,
    ascii_int,
    is_ascii_digits,
    is_templated,
    mask_inline_jinja,
    shown,
)
from portpolicy.signatures.kubernetes import is_static_pod_path
from portpolicy.virtual import CONFIGMAP, Embedded, embed
from portpolicy.yamlnodes import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    YamlError,
    compose_documents,
    get,
    is_null,
    items,
    location,
    scalar,
    seq,
)

NAME = "kubernetes"

FORMAT = Format(
    "a Kubernetes manifest",
    "'apiVersion' or 'kind' key",
    re.compile(r"[ \t]*(?:-[ \t]+)?[\"']?(?:apiVersion|kind)[\"']?[ \t]*:"),
    comments=("#", "---", "%"),
)

# Where each workload kind keeps its pod spec (CronJob nests a Job template).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "DeploymentConfig": ("spec", "template", "spec"),  # OpenShift
    "Rollout": ("spec", "template", "spec"),  # Argo Rollouts
}
KERNEL_KEYS = frozenset(
    {
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
PROTOCOLS = ("TCP", "UDP", "SCTP")
NODEPORT_DEFAULT = PortRange(30000, 32767)
FLAG = "service-node-port-range"
NON_ROOT = "non-root (runAsNonRoot)"
# Placement, carried in ``Listener.source`` until the hosts stage names the reader there.
SCHEDULED = "kubernetes:scheduled"
EVERY_NODE = "kubernetes:every-node"

_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1, as sigs.k8s.io/yaml reads it
_FALSE = frozenset({"false", "no", "off", "n"})
_FLAG_RE = re.compile(r"--service-node-port-range(?:=|\s+)(\S+)")
_NODEPORT_TYPES = frozenset({"NodePort", "LoadBalancer"})
_PLACEHOLDER = re.compile(r"_T[0-9]+_+")
_POOL = re.compile(r"([0-9]+)(?:([-+])([0-9]+))?")
_YAML11_INTS = (
    (re.compile(r"[-+]?0x[0-9a-fA-F]+"), 16),
    (re.compile(r"[-+]?0[0-7]+"), 8),
    (re.compile(r"[-+]?[0-9]+"), 10),
)
_K8S_TEXT = re.compile(r"^apiVersion\s*:", re.M)
_BLOCK_OPEN = re.compile(r"^\s*\{%-?\s*(?:if|for)\b")
_BLOCK_CLOSE = re.compile(r"^\s*\{%-?\s*end(?:if|for)\b")

Record = Fact | Embedded
"""What this reader yields: facts, and ConfigMap keys for ``deployed``."""
ConfigSources = dict[str, list[tuple[str, list[tuple[str, str]] | None]]]
"""Per pod volume name: the ConfigMaps it projects, each with its ``items`` (key, path) or None (all keys)."""


def sniff(text: str) -> bool:
    """Cheap text test before YAML is composed: every object says ``apiVersion`` and ``kind``."""
    return "apiVersion" in text and "kind" in text


def claims(docs: list[Node]) -> bool:
    """True when any document is a Kubernetes object: a mapping with ``apiVersion`` and a ``kind``."""
    return any(_is_object(doc) for doc in docs)


def _is_object(doc: Node) -> bool:
    keys = {key: value for key, _, value in items(doc)}
    return "apiVersion" in keys and scalar(keys.get("kind")) is not None


def read(source: Source) -> Iterator[Record]:
    """A file matched by name; a template has its Jinja masked first, keeping lines and columns."""
    text = source.masked
    placeholders: dict[str, str] = {}
    conditional: frozenset[int] = frozenset()
    template = source.template
    if template:
        conditional = _conditional_lines(source.text)
        text, placeholders = mask_inline_jinja(text, "_T", "_")
    try:
        docs = compose_documents(text)
    except YamlError as exc:
        if template:
            # A template's YAML is only final once rendered: not checked, and not an error.
            if _K8S_TEXT.search(source.text):
                why = f"template cannot be read statically (YAML error once masked: {exc}); not checked"
                yield Unresolved(source.path, why, source.at(exc.line, exc.column))
            return
        yield ParseError(f"invalid YAML: {exc}", source.at(exc.line, exc.column))
        return
    yield from _read_guarded(source, docs, text, placeholders, conditional)


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Record]:
    """Read already composed documents of a file that ``claims`` accepted."""
    yield from _read_guarded(source, docs, source.text, {})


def assemble(facts: list[Fact]) -> list[Fact]:
    """Join one host's facts across files: one NodePort pool, one namespace per manifest, and
    no clash between scheduled pods.

    The assumed default pool stays only when no flag sets the pool on this host, once. Two
    files declaring the same pod are alternatives (applying both leaves one object), so the
    later file's pod gets its own namespace instead of sharing ports with the first. The
    scheduler never puts two pods that need the same host port on one node (its NodePorts
    filter), so of two scheduled pods the later one is left out of the node's namespace
    and named on the first as evidence; a DaemonSet or static pod runs on every node and a
    host daemon is unknown to the scheduler, so clashes with those stay.
    """
    flagged = any(isinstance(f, PortPool) and f.name == "nodeport" and not f.default for f in facts)
    owner: dict[str, str] = {}
    for f in facts:
        if isinstance(f, NetnsDecl):
            owner.setdefault(f.netns, f.location.path)
    defaults = [f for f in facts if isinstance(f, PortPool) and f.default]
    out: list[Fact] = []
    scheduled: list[int] = []
    for f in facts:
        if isinstance(f, Listener) and f.netns == "host" and f.source == SCHEDULED:
            twin = next((i for i in scheduled if _same_socket(out[i], f)), None)
            if twin is not None:
                first = out[twin]
                assert isinstance(first, Listener)
                why = f"{f.service} also needs this host port; the scheduler keeps the two on different nodes"
                out[twin] = replace(first, evidence=(*first.evidence, Evidence(f.location, why)))
                continue
            scheduled.append(len(out))
        if isinstance(f, PortPool) and f.default:
            if flagged or f is not defaults[0]:
                continue
            f = replace(f, evidence=tuple(e for d in defaults for e in d.evidence))
        elif isinstance(f, (NetnsDecl, Listener, KernelSetting)) and f.netns.startswith("pod:"):
            declared_in = owner.get(f.netns)
            if declared_in is not None and declared_in != f.location.path:
                f = replace(f, netns=f"{f.netns}@{f.location.path}")
        out.append(f)
    return out


def _same_socket(a: Fact, b: Listener) -> bool:
    """Two different pods' host-side sockets that one node could not hold at once."""
    return (
        isinstance(a, Listener)
        and a.service != b.service
        and a.protocol == b.protocol
        and a.ports.overlaps(b.ports)
        and a.address.overlaps(b.address)
    )


def _read_guarded(
    source: Source,
    docs: list[Node],
    text: str,
    placeholders: dict[str, str],
    conditional: frozenset[int] = frozenset(),
) -> Iterator[Record]:
    """A reader never raises: an unexpected failure becomes a ParseError, not a crash of the run."""
    try:
        reader = _Reader(source, text, placeholders, conditional)
        for doc in docs:
            yield from reader.object(doc)
    except Exception as exc:  # pragma: no cover - a safety net for bugs, not for bad input
        yield ParseError(f"kubernetes reader failed ({type(exc).__name__}); please report it", source.at(1))


def _conditional_lines(text: str) -> frozenset[int]:
    """Lines inside a Jinja ``{% if %}`` / ``{% for %}`` block: true only in some renderings."""
    depth = 0
    lines: set[int] = set()
    for number, line in enumerate(LINE_BREAK.split(text), 1):
        if _BLOCK_CLOSE.match(line):
            depth = max(0, depth - 1)
        elif _BLOCK_OPEN.match(line):
            depth += 1
        elif depth:
            lines.add(number)
    return frozenset(lines)


@dataclass(frozen=True)
class _Val:
    """A scalar as written (``raw``, templates restored) and whether it is known statically."""

    raw: str
    known: bool
    location: Location
    plain: bool = True

    @property
    def text(self) -> str:
        return self.raw.strip()


@dataclass(frozen=True)
class _Pod:
    """What the containers of one pod share."""

    netns: str
    label: str
    host_network: bool
    evidence: tuple[Evidence, ...]
    security: Node | None
    windows: bool
    placement: str


class _Reader:
    """Reads the objects of one file."""

    def __init__(
        self, source: Source, text: str, placeholders: dict[str, str], conditional: frozenset[int]
    ) -> None:
        self.source = source
        self.text = text
        """The text the documents were composed from (a template's masked text)."""
        self.placeholders = placeholders
        self.conditional = conditional
        """Lines of a template that only some renderings keep: their settings are not certain."""

    # -- values ---------------------------------------------------------------------------

    def loc(self, node: Node) -> Location:
        return location(self.source.path, node)

    def is_template_node(self, node: Node | None) -> bool:
        """A Helm ``{{ }}`` left unquoted composes as a flow mapping: it is a placeholder."""
        if node is None or isinstance(node, ScalarNode):
            return False
        index = node.start_mark.index
        return self.text.startswith("{{", index) or self.text.startswith("{%", index)

    def value(self, node: Node | None) -> _Val | None:
        """A scalar (or a template placeholder) as a value; None when absent or structured."""
        if node is None or is_null(node):
            return None
        if self.is_template_node(node):
            end = node.end_mark.index
            return _Val(self.text[node.start_mark.index : end], False, self.loc(node))
        text = scalar(node)
        if text is None:
            return None
        raw = text
        if self.placeholders and "_T" in text:
            raw = _PLACEHOLDER.sub(lambda m: self.placeholders.get(m.group(0), m.group(0)), text)
        plain = isinstance(node, ScalarNode) and not node.style
        return _Val(raw, not is_templated(raw), self.loc(node), plain)

    def uncertain(self, node: Node | None) -> bool:
        """True when the node sits inside a template conditional or loop."""
        return node is not None and node.start_mark.line + 1 in self.conditional

    def flag(self, node: Node | None) -> bool | None:
        """A YAML boolean; None when absent, templated, conditional or not a boolean."""
        val = self.value(node)
        if val is None or not val.known or self.uncertain(node):
            return None
        word = val.text.lower()
        return True if word in _TRUE else False if word in _FALSE else None

    def port(self, node: Node | None, ctx: str, zero_ok: bool) -> int | InvalidPort | Unresolved | None:
        """A port number as Kubernetes reads it (YAML 1.1 integers); None when absent or 0 and allowed."""
        val = self.value(node)
        if val is None:
            if node is not None and not is_null(node):
                assert node is not None
                return InvalidPort("", f"{ctx}: a port must be a number", self.loc(node), ctx)
            return None
        if not val.known:
            return Unresolved(val.raw, f"{ctx} is a template or variable", val.location)
        number = _int(val.text) if val.plain else ascii_int(val.text)
        if number is None:
            return InvalidPort(val.raw, f"{ctx}: {shown(val.raw)!r} is not a port number", val.location, ctx)
        if number == 0 and zero_ok:
            return None
        if not 1 <= number <= 65535:
            return InvalidPort(val.raw, f"{ctx}: port {shown(val.raw)} is outside 1-65535", val.location, ctx)
        return number

    def path(self, node: Node | None, keys: tuple[str, ...]) -> Node | None:
        for key in keys:
            node = get(node, key)
        return node

    # -- objects ----------------------------------------------------------------------------

    def object(self, doc: Node, depth: int = 0) -> Iterator[Record]:
        """One object (or the items of a ``List``)."""
        if not isinstance(doc, MappingNode) or not _is_object(doc):
            return
        kind = scalar(get(doc, "kind")) or ""
        api = scalar(get(doc, "apiVersion")) or ""
        if kind.endswith("List") and depth < 4:
            for item in seq(get(doc, "items")):
                yield from self.object(item, depth + 1)
            return
        if kind in POD_SPEC_PATHS:
            yield from self.workload(doc, kind, self.path(doc, POD_SPEC_PATHS[kind]))
        elif kind == "Service":
            yield from self.service(doc)
        elif kind == "ConfigMap":
            yield from self.config_map(doc)
        elif kind == "ClusterConfiguration" and api.startswith("kubeadm.k8s.io/"):
            yield from self.kubeadm(doc)
        elif kind == "Cluster" and api.startswith("kops.k8s.io/"):
            node = self.path(doc, ("spec", "kubeAPIServer", "serviceNodePortRange"))
            yield from self.pool(node, "kops spec.kubeAPIServer.serviceNodePortRange")

    def names(self, doc: Node) -> tuple[str, str]:
        """(namespace, name) from metadata; a missing namespace is the default one."""
        meta = get(doc, "metadata")
        name = self.value(get(meta, "name")) or self.value(get(meta, "generateName"))
        ns = self.value(get(meta, "namespace"))
        return (ns.text if ns else "default"), (name.text if name else f"unnamed@{self.loc(doc).line}")

    # -- pods -------------------------------------------------------------------------------

    def workload(self, doc: MappingNode, kind: str, spec: Node | None) -> Iterator[Record]:
        if spec is None or not isinstance(spec, MappingNode):
            return
        namespace, name = self.names(doc)
        label = name if namespace == "default" else f"{namespace}/{name}"
        host_network = get(spec, "hostNetwork")
        on_host = self.flag(host_network)
        hn_val = self.value(host_network)
        if hn_val is not None and (not hn_val.known or self.uncertain(host_network)):
            why = "hostNetwork is a template or inside a template conditional: ports are placed in the pod's own namespace"
            yield Unresolved(hn_val.raw, why, hn_val.location)
        evidence: tuple[Evidence, ...] = ()
        if on_host and host_network is not None:
            why = f"hostNetwork: true: {shown(kind)} {shown(name)} binds in the node's network namespace"
            evidence = (Evidence(self.loc(host_network), why),)
        windows = (self.value(self.path(spec, ("os", "name"))) or _Val("", True, self.loc(spec))).text
        pod = _Pod(
            netns="host" if on_host else f"pod:{namespace}/{name}",
            label=label,
            host_network=bool(on_host),
            evidence=evidence,
            security=get(spec, "securityContext"),
            windows=windows == "windows",
            placement=EVERY_NODE if kind == "DaemonSet" or self.static_pod(kind) else SCHEDULED,
        )
        if not on_host:
            yield NetnsDecl(pod.netns, "container", self.loc(doc))
        yield from self.sysctls(pod)
        volumes = self.config_volumes(spec, namespace)
        for key in ("containers", "initContainers"):
            node = get(spec, key)
            if node is not None and not is_null(node) and not isinstance(node, SequenceNode):
                if self.is_template_node(node):
                    continue
                yield ParseError(
                    f"{shown(kind)} {shown(name)}: '{key}' must be a list of containers", self.loc(node)
                )
                continue
            for container in seq(node):
                if not isinstance(container, MappingNode):
                    if not self.is_template_node(container):
                        why = f"{shown(kind)} {shown(name)}: each of '{key}' must be a mapping"
                        yield ParseError(why, self.loc(container))
                    continue
                yield from self.node_port_flag(container)
                if key == "initContainers":
                    restart = self.value(get(container, "restartPolicy"))
                    if restart is None or restart.text != "Always":
                        continue  # runs to completion before the app containers start
                yield from self.container(pod, container, volumes)

    def static_pod(self, kind: str) -> bool:
        """A Pod in the kubelet's manifest directory: the kubelet runs it, no scheduler places it."""
        return kind == "Pod" and is_static_pod_path(self.source.rendered_path)

    def sysctls(self, pod: _Pod) -> Iterator[Fact]:
        """The pod's port sysctls, in its own namespace (the kubelet refuses net.* with hostNetwork)."""
        for entry in seq(get(pod.security, "sysctls")):
            key_val = self.value(get(entry, "name"))
            if key_val is None or not key_val.known:
                continue
            key = key_val.text.replace("/", ".")
            if key not in KERNEL_KEYS or pod.host_network:
                continue
            val = self.value(get(entry, "value"))
            if val is not None and not val.known:
                yield Unresolved(val.raw, f"sysctl {key} is a template or variable", val.location)
                continue
            value = val.text if val is not None else ""
            loc = key_val.location
            yield KernelSetting(key, value, loc, netns=pod.netns, order=(0, "", loc.line))

    def container(
        self, pod: _Pod, container: MappingNode, volumes: ConfigSources | None = None
    ) -> Iterator[Fact]:
        name_val = self.value(get(container, "name"))
        cname = name_val.text if name_val is not None else f"container@{self.loc(container).line}"
        service = f"{pod.label}/{cname}"
        run_as = RunAs() if pod.windows else self.run_as(pod.security, get(container, "securityContext"))
        mounts = tuple(self.config_mounts(container, volumes or {}))
        if mounts:
            yield ContainerLink(service, pod.netns, self.loc(container), run_as, True, mounts=mounts)
        ports = get(container, "ports")
        if ports is not None and not is_null(ports) and not isinstance(ports, SequenceNode):
            if not self.is_template_node(ports):
                yield ParseError(f"container {shown(cname)!r}: 'ports' must be a list", self.loc(ports))
            return
        for entry in seq(ports):
            if not isinstance(entry, MappingNode):
                if not self.is_template_node(entry):
                    yield ParseError(
                        f"container {shown(cname)!r}: each port must be a mapping", self.loc(entry)
                    )
                continue
            yield from self.container_port(pod, service, run_as, entry)

    def container_port(self, pod: _Pod, service: str, run_as: RunAs, entry: MappingNode) -> Iterator[Fact]:
        """One ``ports`` entry: the process's socket, and the node's forwarded ``hostPort``."""
        cp_node = get(entry, "containerPort")
        if cp_node is None:
            yield InvalidPort("", "containerPort is required in a container's port", self.loc(entry))
            return
        cport = self.port(cp_node, "containerPort", zero_ok=False)
        hport = self.port(get(entry, "hostPort"), "hostPort", zero_ok=True)
        protocol = self.protocol(get(entry, "protocol"))
        for fact in (cport, hport, protocol):
            if isinstance(fact, (InvalidPort, Unresolved)):
                yield fact
        if not isinstance(cport, int) or not isinstance(protocol, str):
            return
        cloc = self.loc(cp_node)
        if pod.host_network:
            if isinstance(hport, int) and hport != cport:
                why = f"hostPort {hport} must equal containerPort {cport} with hostNetwork"
                yield InvalidPort(str(hport), why, self.loc(get(entry, "hostPort") or entry), "hostPort")
                return
        elif isinstance(hport, int):
            address = self.host_ip(get(entry, "hostIP"))
            if isinstance(address, (InvalidPort, Unresolved)):
                yield address
            else:
                hloc = self.loc(get(entry, "hostPort") or entry)
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
        )

    def protocol(self, node: Node | None) -> str | InvalidPort | Unresolved:
        """TCP (default), UDP or SCTP: the API server accepts these upper-case names only."""
        val = self.value(node)
        if val is None:
            return "TCP"
        if not val.known:
            return Unresolved(val.raw, "port protocol is a template or variable", val.location)
        if val.text not in PROTOCOLS:
            why = f"protocol {shown(val.raw)!r} is refused by the API server (TCP, UDP or SCTP, upper case)"
            return InvalidPort(val.raw, why, val.location, "protocol")
        return val.text

    def host_ip(self, node: Node | None) -> BindAddress | InvalidPort | Unresolved:
        import ipaddress

        val = self.value(node)
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

    def run_as(self, pod_sc: Node | None, sc: Node | None) -> RunAs:
        """The user (container overrides pod), capabilities and no_new_privs of one container.

        No ``runAsUser`` leaves the image's user: unknown. ``runAsNonRoot: true`` without it
        is a non-root user of unknown name, since the kubelet refuses to start it as root.
        """
        user: str | None = None
        user_loc: Location | None = None
        uid_node = get(sc, "runAsUser") if get(sc, "runAsUser") is not None else get(pod_sc, "runAsUser")
        uid = self.value(uid_node)
        if uid is not None:
            user_loc = uid.location
            number = _int(uid.text) if uid.known and not self.uncertain(uid_node) else None
            user = str(number) if number is not None else None
        if user is None:
            nr_node = get(sc, "runAsNonRoot")
            if nr_node is None:
                nr_node = get(pod_sc, "runAsNonRoot")
            if self.flag(nr_node):
                assert nr_node is not None
                user, user_loc = NON_ROOT, self.loc(nr_node)
        caps = get(sc, "capabilities")
        added = self.capabilities(get(caps, "add"))
        dropped = self.capabilities(get(caps, "drop"), certain=True)
        privileged = get(sc, "privileged")
        if self.flag(privileged):
            added.add("ALL")
        escalation = get(sc, "allowPrivilegeEscalation")
        cap_node = caps if caps is not None else privileged
        return RunAs(
            user=user,
            location=user_loc,
            added=frozenset(added),
            dropped=frozenset(dropped),
            no_new_privileges=self.flag(escalation) is False,
            capability_location=self.loc(cap_node) if cap_node is not None else None,
        )

    def capabilities(self, node: Node | None, certain: bool = False) -> set[str]:
        """Capability names as the model keeps them; ``certain`` leaves out conditional ones."""
        caps: set[str] = set()
        for item in seq(node):
            val = self.value(item)
            if val is not None and val.known and not (certain and self.uncertain(item)):
                cap = val.text.upper()
                caps.add(cap[4:] if cap.startswith("CAP_") else cap)
        return caps

    # -- ConfigMaps: files the pods mount -------------------------------------------------------

    def config_map(self, doc: MappingNode) -> Iterator[Embedded]:
        """Each ``data`` key as an embedded file (``binaryData`` is never a config we read)."""
        namespace, name = self.names(doc)
        owner = f"{CONFIGMAP}{namespace}/{name}"
        for key, key_node, node in items(get(doc, "data")):
            if not isinstance(node, ScalarNode) or self.is_template_node(node):
                continue
            yield self.embedded(owner, key, key_node, node)

    def embedded(self, owner: str, key: str, key_node: Node, node: ScalarNode) -> Embedded:
        """A key's text where it is written: a literal block (``|``, what ``kubectl`` writes for a
        file) keeps its lines and columns; any other style starts on the key's line and its
        later lines are counted from there (a quoted ``\\n`` has no line of its own)."""
        value = str(node.value)
        if node.style == "|":
            offset = node.start_mark.line + 1
            text, lines = embed(value, offset, self.indent(offset, node.end_mark.line))
        else:
            text, lines = embed(value, key_node.start_mark.line, 0)
        return Embedded(self.source.path, owner, key, text, lines, self.loc(key_node))

    def indent(self, first: int, end: int) -> int:
        """The indentation of a literal block: that of its first line with content."""
        for line in LINE_BREAK.split(self.text, end + 1)[first : end + 1]:
            if line.strip():
                return len(line) - len(line.lstrip(" "))
        return 0

    def config_volumes(self, spec: Node, namespace: str) -> ConfigSources:
        """The pod's volumes that hold ConfigMaps (``configMap``, or ``projected`` sources)."""
        found: ConfigSources = {}
        for volume in seq(get(spec, "volumes")):
            name = self.value(get(volume, "name"))
            if name is None or not name.known:
                continue
            sources = [get(volume, "configMap")]
            sources += [get(s, "configMap") for s in seq(self.path(volume, ("projected", "sources")))]
            for cm in sources:
                cm_name = self.value(get(cm, "name"))
                if cm is None or cm_name is None or not cm_name.known:
                    continue
                chosen = self.config_items(get(cm, "items"))
                found.setdefault(name.text, []).append((f"{namespace}/{cm_name.text}", chosen))
        return found

    def config_items(self, node: Node | None) -> list[tuple[str, str]] | None:
        """``items``: the keys projected and the relative path each gets; None (all keys) when absent."""
        if node is None or is_null(node):
            return None
        chosen = []
        for item in seq(node):
            key, path = self.value(get(item, "key")), self.value(get(item, "path"))
            if key is not None and path is not None and key.known and path.known:
                chosen.append((key.text, path.text))
        return chosen

    def config_mounts(self, container: MappingNode, volumes: ConfigSources) -> Iterator[Mount]:
        """``volumeMounts`` of ConfigMap volumes, naming the ConfigMap (and key) for ``deployed``."""
        for entry in seq(get(container, "volumeMounts")):
            name, where = self.value(get(entry, "name")), self.value(get(entry, "mountPath"))
            sub = self.value(get(entry, "subPath"))
            if name is None or where is None or not (name.known and where.known) or name.text not in volumes:
                continue
            if sub is not None and not sub.known:
                continue
            for owner, chosen in volumes[name.text]:
                ref = f"{CONFIGMAP}{owner}"
                if sub is not None and sub.text:
                    key = next((k for k, p in chosen or () if p == sub.text), None if chosen else sub.text)
                    if key is not None:
                        yield Mount(f"{ref}:{key}", where.text, where.location, "mounted")
                elif chosen is not None:
                    for key, path in chosen:
                        target = where.text.rstrip("/") + "/" + path
                        yield Mount(f"{ref}:{key}", target, where.location, "mounted")
                else:
                    yield Mount(ref, where.text.rstrip("/") + "/", where.location, "mounted")

    # -- services and the NodePort pool ---------------------------------------------------------

    def service(self, doc: MappingNode) -> Iterator[Fact]:
        """Port validation, and the NodePort pool a NodePort or LoadBalancer Service draws from."""
        spec = get(doc, "spec")
        type_node = get(spec, "type")
        svc_type = self.value(type_node)
        for entry in seq(get(spec, "ports")):
            if not isinstance(entry, MappingNode):
                continue
            checks = (
                self.port(get(entry, "port"), "Service port", zero_ok=False),
                self.port(get(entry, "nodePort"), "nodePort", zero_ok=True),
                self.target_port(get(entry, "targetPort")),
                self.protocol(get(entry, "protocol")),
            )
            for fact in checks:
                if isinstance(fact, (InvalidPort, Unresolved)):
                    yield fact
        if svc_type is None or not svc_type.known or svc_type.text not in _NODEPORT_TYPES:
            return
        if svc_type.text == "LoadBalancer" and self.flag(get(spec, "allocateLoadBalancerNodePorts")) is False:
            return
        _, name = self.names(doc)
        why = f"Service {shown(name)} (type {shown(svc_type.text)}) takes node ports from this pool on every node"
        yield PortPool(
            "nodeport",
            NODEPORT_DEFAULT,
            svc_type.location,
            default=True,
            evidence=(Evidence(svc_type.location, why),),
        )

    def target_port(self, node: Node | None) -> int | InvalidPort | Unresolved | None:
        """A number (checked) or the name of a container port (not checked here)."""
        val = self.value(node)
        if val is not None and val.known and not is_ascii_digits(val.text) and _int(val.text) is None:
            return None
        return self.port(node, "targetPort", zero_ok=False)

    def kubeadm(self, doc: MappingNode) -> Iterator[Fact]:
        """``apiServer.extraArgs``: a map (up to v1beta3) or a list of name/value (v1beta4)."""
        args = self.path(doc, ("apiServer", "extraArgs"))
        if isinstance(args, MappingNode):
            for key, _, value in items(args):
                if key == FLAG:
                    yield from self.pool(value, f"kubeadm apiServer.extraArgs {FLAG}")
        for entry in seq(args):
            name = self.value(get(entry, "name"))
            if name is not None and name.text == FLAG:
                yield from self.pool(get(entry, "value"), f"kubeadm apiServer.extraArgs {FLAG}")

    def node_port_flag(self, container: MappingNode) -> Iterator[Fact]:
        """``--service-node-port-range`` in a container's command or args (a static kube-apiserver)."""
        words: list[Node] = [*seq(get(container, "command")), *seq(get(container, "args"))]
        for i, node in enumerate(words):
            val = self.value(node)
            if val is None:
                continue
            if val.text == f"--{FLAG}" and i + 1 < len(words):
                yield from self.pool(words[i + 1], f"kube-apiserver --{FLAG}")
                continue
            found = _FLAG_RE.search(val.raw)
            if found is not None:
                flag_value = _Val(found.group(1), not is_templated(found.group(1)), val.location)
                yield from self.pool_value(flag_value, f"kube-apiserver --{FLAG}")

    def pool(self, node: Node | None, ctx: str) -> Iterator[Fact]:
        val = self.value(node)
        if val is not None:
            yield from self.pool_value(val, ctx)

    def pool_value(self, val: _Val, ctx: str) -> Iterator[Fact]:
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
        yield PortPool(
            "nodeport", PortRange(start, end), val.location, evidence=(Evidence(val.location, why),)
        )


def _int(text: str) -> int | None:
    """A YAML 1.1 integer as Kubernetes' parser reads it: decimal, ``0x`` hex or ``0`` octal.

    ASCII digits only; a number longer than any int64 is no integer the API server accepts.
    """
    t = text.replace("_", "")
    for pattern, base in _YAML11_INTS:
        if pattern.fullmatch(t):
            return int(t, base) if len(t) <= MAX_DIGITS else None
    return None
