"""The vocabulary every stage shares: small frozen dataclasses and nothing else.

Readers produce facts (``Listener``, ``KernelSetting``, ``NetnsDecl``, ``InvalidPort``,
``ParseError``, ``Unresolved``); the hosts stage (with the kernel replay) fills in the
derived fields (``host``, ``namespace``, ``privilege``, the values a rule suggests) once, so
that rules only compare fields. A property here is a meaning of a value's own fields that
several stages ask (``size``, ``is_loopback``, ``is_root``, ``restricted``), never a piece
of a message: a message's words and its conditional parts live in the rule
(``report.phrases``), and a rule's template names fields only.

One room although over 500 lines: it is one vocabulary of small value classes that
refer to each other (``Listener`` holds ``PortRange``, ``Namespace``, ``Privilege``,
``Evidence``), read as a glossary; split, every stage would import five modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import field

from portpolicy.records import record


@record(order=True)
class Location:
    """A place in a scanned file: path relative to the working directory, 1-based line/column."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@record(order=True)
class PortRange:
    """An inclusive range of port numbers; a single port has ``start == end``."""

    start: int
    end: int

    @classmethod
    def single(cls, port: int) -> PortRange:
        return cls(port, port)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def contains(self, port: int) -> bool:
        return self.start <= port <= self.end

    def overlaps(self, other: PortRange | PortSet) -> bool:
        if isinstance(other, PortSet):
            return other.overlaps(self)
        return self.start <= other.end and other.start <= self.end

    def inside(self, other: PortRange | PortSet) -> bool:
        """True when every port of this range is also in ``other``."""
        if isinstance(other, PortSet):
            return other.covers(self)
        return other.start <= self.start and self.end <= other.end

    def intersection(self, other: PortRange) -> PortRange | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return PortRange(start, end) if start <= end else None

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


@record
class PortSet:
    """A normalised list of port ranges (sorted, merged), as in ``ip_local_reserved_ports``."""

    ranges: tuple[PortRange, ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[PortRange]) -> PortSet:
        merged: list[PortRange] = []
        for r in sorted(ranges):
            if merged and r.start <= merged[-1].end + 1:
                last = merged[-1]
                merged[-1] = PortRange(last.start, max(last.end, r.end))
            else:
                merged.append(r)
        return cls(tuple(merged))

    def __iter__(self) -> Iterator[PortRange]:
        return iter(self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def contains(self, port: int) -> bool:
        return any(r.contains(port) for r in self.ranges)

    def overlaps(self, other: PortRange | PortSet) -> bool:
        others = other.ranges if isinstance(other, PortSet) else (other,)
        return any(a.overlaps(b) for a in self.ranges for b in others)

    def covers(self, other: PortRange) -> bool:
        return any(other.inside(r) for r in self.ranges)

    def inside(self, other: PortRange | PortSet) -> bool:
        return all(r.inside(other) for r in self.ranges)

    def union(self, other: PortRange | PortSet) -> PortSet:
        others = other.ranges if isinstance(other, PortSet) else (other,)
        return PortSet.of((*self.ranges, *others))

    def minus(self, other: PortSet) -> PortSet:
        """The ports of this set that ``other`` does not contain."""
        left: list[PortRange] = []
        for r in self.ranges:
            pieces = [r]
            for cut in other.ranges:
                next_pieces: list[PortRange] = []
                for p in pieces:
                    if not p.overlaps(cut):
                        next_pieces.append(p)
                        continue
                    if p.start < cut.start:
                        next_pieces.append(PortRange(p.start, cut.start - 1))
                    if p.end > cut.end:
                        next_pieces.append(PortRange(cut.end + 1, p.end))
                pieces = next_pieces
            left.extend(pieces)
        return PortSet.of(left)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.ranges)


WILDCARDS = {"", "*", "0.0.0.0", "::", "[::]"}


@record
class BindAddress:
    """Where a socket binds: ``host`` None is the wildcard; ``family`` ipv4, ipv6 or dual.

    Linux refuses a second bind of the same port when the families meet and either side is
    a wildcard or both name the same address, so that is what ``overlaps`` answers.
    """

    host: str | None = None
    family: str = "dual"
    unknown: bool = False
    """The address is known only on the host: ``host`` is the template as written
    (``{{ ansible_default_ipv4.address }}``, ``${LB_IP}``), never an address. It is neither
    loopback nor exposed (``is_loopback`` None), and it overlaps only a wildcard or the same
    template (one expression gives one address on one host)."""

    @classmethod
    def wildcard(cls, family: str = "dual") -> BindAddress:
        return cls(None, family)

    @property
    def is_loopback(self) -> bool | None:
        if self.unknown:
            return None
        h = (self.host or "").strip("[]").lower()
        return h.startswith("127.") or h in {"::1", "localhost"}

    def overlaps(self, other: BindAddress) -> bool:
        if "dual" not in (self.family, other.family) and self.family != other.family:
            return False
        if self.host is None or other.host is None:
            return True
        if self.unknown or other.unknown:
            return self.unknown and other.unknown and self.host == other.host
        return self.host.strip("[]").lower() == other.host.strip("[]").lower()

    def __str__(self) -> str:
        if self.host is None:
            return {"ipv4": "0.0.0.0", "ipv6": "[::]"}.get(self.family, "*")
        if self.unknown:
            return self.host
        return f"[{self.host}]" if ":" in self.host else self.host


@record
class RunAs:
    """Who a listening process runs as, and which capabilities it may hold.

    ``user`` None means unknown (no verdict is drawn from it). Capability names are
    upper case without the ``CAP_`` prefix; ``ALL`` stands for every capability.
    """

    user: str | None = None
    location: Location | None = None
    ambient: frozenset[str] = frozenset()
    added: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()
    bounding: frozenset[str] | None = None
    no_new_privileges: bool = False
    private_users: bool = False
    capability_location: Location | None = None
    origin: str = ""
    """Why ``user`` is what it is when no line of the scanned files sets it: a known image's
    default user (``portpolicy/data/images.yml``); "" when a line does, or nothing is known."""

    @property
    def is_root(self) -> bool | None:
        if self.user is None:
            return None
        name = self.user.split(":", 1)[0].strip()
        return name in {"root", "0"}


@record
class Evidence:
    """A further location that helps prove a fact or a finding.

    ``value`` marks the place where the fact's value is written as a literal (an Ansible
    variable's definition, a loop item): when a fact has exactly one such place, findings
    point there, the line to change, with the line that uses it as related evidence.
    """

    location: Location
    message: str
    value: bool = False


USED_HERE = "the value is used here"


@record
class MayRun:
    """The Ansible ``when:`` conditions that guard a fact and did not resolve: it may run.

    Empty when the fact surely runs (no condition, or every condition true). A role or task
    whose condition is false is not run at all, so its facts never exist. Two facts may only
    be taken to exist together when one's conditions include the other's (``inside``): then
    whenever the first runs, so does the second.
    """

    conditions: frozenset[str] = frozenset()

    def inside(self, other: MayRun) -> bool:
        """True when ``other`` runs whenever this does: its conditions are among these."""
        return isinstance(other, MayRun) and other.conditions <= self.conditions

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def __str__(self) -> str:
        return " and ".join(sorted(self.conditions))


@record
class Setting:
    """A derived kernel setting with where it came from (a file line, or a default)."""

    value: object
    source: str
    location: Location | None = None

    def __str__(self) -> str:
        return str(self.value)


@record
class Namespace:
    """A network namespace on a host: the scope of port conflicts and kernel port settings."""

    id: str
    host: str
    kind: str  # "host" or "container"
    platform: str
    runtime: str | None
    unprivileged_port_start: Setting
    ephemeral_range: Setting
    reserved_ports: Setting
    listeners: int = 0
    """How many listeners were read for this namespace (PP013 needs both sides known)."""
    firewall_rules: int = 0
    """How many firewall rules were read for this namespace."""
    inbound_policy: Setting = Setting(None, "no firewall of this host was read")
    """What the host's firewall does with new inbound traffic no rule accepts: "accept",
    "drop" or "reject" (None: not known), with the line that sets it (ufw's default,
    a firewalld zone's target, an nftables input chain's policy, iptables ``-P INPUT``)."""
    runtime_firewall: Setting = Setting(None, "no container runtime's firewall handling was read")
    """How the container runtime's published ports meet that firewall: "bypasses" (rootful
    Docker/Podman and Kubernetes DNAT before INPUT), "filtered" (``DOCKER-USER`` rules,
    ``"iptables": false``, a rootless runtime whose forwarder INPUT filters), None unknown."""
    node_ports: Setting = Setting(None, "no Kubernetes node port was read for this host")
    """How kube-proxy's node ports meet that firewall: "bypasses" (its DNAT in ``nat PREROUTING``
    comes before INPUT), "filtered" or "loopback" (``nodePortAddresses`` keeps them off public
    addresses), None when no Service of this host opens one."""
    shared: bool = True
    """The host's namespace, or a container namespace where more than one service listens.

    Only there do other programs' outgoing connections draw ports from the same pool, so
    only there can they take a listener's port first."""
    runs: str = ""
    """What runs a container namespace, which decides where it may end up: ``compose`` (Docker,
    as the compose file says), ``image`` (a lone Dockerfile's image: any runtime), ``pod`` (the
    cluster's CRI runtime); "" for the host's namespace."""
    runtime_assumed: bool = False
    """No runtime is configured for this host: the runtime's rules in force are an assumption."""
    portable_unprivileged_port_start: Setting | None = None
    """The limit on the runtimes and kernels that keep the kernel's 1024 in a new namespace, when
    it is above the assumed runtime's (``runtime_assumed`` and no sysctl of the files sets it);
    its source names them. None when the limit in force holds wherever the files can run."""
    lowered_by: str = ""
    """With ``portable_unprivileged_port_start``: the runtimes that lower the limit, in words."""


@record
class Privilege:
    """The hosts stage's verdict on whether a listener may bind below the unprivileged start."""

    known: bool
    granted: bool
    reason: str
    location: Location | None = None


@record
class Sensitive:
    """A service that must not be reachable from everywhere, and how a listener was known as it.

    ``basis`` says what told (``image redis:7``, ``container port 6379``); ``why`` is the harm,
    ``fix`` the service's own setting that binds it to loopback, ``source`` the reference.
    """

    service: str
    why: str
    basis: str
    fix: str
    source: str


@record
class Listener:
    """A socket some process binds: the central fact of most rules.

    ``netns`` is the namespace key within the file's host as the reader sees it
    (``"host"`` or ``"container:<name>"``); ``source`` is the reader that produced it (set by
    the pipeline); ``bound_by`` says who calls ``bind()``:
    ``process``, ``systemd`` (PID 1), ``systemd-user``, ``runtime`` (a root container
    daemon), ``rootless-runtime`` or ``root-master`` (a master process that starts as root).
    """

    service: str
    protocol: str
    ports: PortRange
    address: BindAddress
    location: Location
    run_as: RunAs = RunAs()
    bound_by: str = "process"
    netns: str = "host"
    source: str = ""
    evidence: tuple[Evidence, ...] = ()
    container: str = ""
    """The container (compose service or image) whose process binds it; "" when none is known."""
    forwards_to: PortRange | None = None
    """For a port a runtime publishes (``bound_by="runtime"``): the container port it forwards to."""
    image: str = ""
    """The image reference whose defaults apply to that process ("" when none is known).

    A compose service's or pod container's ``image:``; for a Dockerfile, the external base
    image its final stage is built ``FROM`` (its user and ports stand until the Dockerfile
    overrides them). Known images (``portpolicy/data/images.yml``) lend a default user."""
    internal_only: bool = False
    """For a published port: every network the container joins is ``internal`` (compose
    ``networks: {x: {internal: true}}``), so the runtime publishes nothing on the host."""
    port_origin: str = ""
    """Where the port came from when no config line states it (``portpolicy.apps``): "port 9100:
    node_exporter's built-in default; ...", "port 8080: ASPNETCORE_HTTP_PORTS in the
    environment"; "" for a port a config line states."""
    port_assumed: bool = False
    """The port is a built-in default that a config file the program reads (and the scan did not
    join to it) may change: no verdict that needs the process's whole set of ports."""
    program: str = ""
    """The program of ``data/apps.yml`` that binds it (``node_exporter``), when known."""
    may_run: MayRun = MayRun()
    """The Ansible ``when:`` conditions guarding the task or role that declares it, where they
    did not resolve: the socket exists only if they hold (empty: it surely exists)."""
    # Filled in by the hosts stage.
    host: str = ""
    namespace: Namespace | None = None
    privilege: Privilege | None = None
    sensitive: Sensitive | None = None
    """The sensitive service (``data/sensitive.yml``) this socket reaches, known by its image or
    its container port; None when it is none of them (``portpolicy.sensitive``)."""
    holds_socket: bool = True
    """False for a pod's host port: the CNI portmap plugin writes DNAT rules, no socket is bound."""
    refuses_repeat: bool = False
    """The program or tool refuses a second bind of the same protocol/port/address by the same
    service: Apache ``Listen``, a compose service's published host port, ..."""
    reserved_ports_if_added: PortSet | None = None
    """The namespace's reserved-ports list with this listener's ports added (a write replaces the list)."""
    seq: int = 0
    kind: str = field(default="listener", init=False)


@record
class KernelSetting:
    """One write of a kernel port setting, exactly as found (value unparsed).

    ``order`` sorts writes of one host the way the boot applies them; ``file_id``
    (basename, directory priority) lets a file in ``/etc/sysctl.d`` mask one of the same
    name in ``/usr/lib/sysctl.d``.
    """

    key: str
    value: str
    location: Location
    netns: str = "host"
    ignore_errors: bool = False
    order: tuple[object, ...] = ()
    file_id: tuple[str, int] | None = None
    evidence: tuple[Evidence, ...] = ()
    # Filled in by the hosts stage.
    host: str = ""
    namespace: Namespace | None = None
    accepted: bool = True
    reject_reason: str = ""
    range: PortRange | None = None
    ports: PortSet | None = None
    number: int | None = None
    effective: bool = False
    dropped: PortSet | None = None
    reserved_union: PortSet | None = None
    """This write's ports plus the ones it dropped: the list that keeps every reservation."""
    same_parity: bool | None = None
    """The range's start and end have the same parity (None without a range)."""
    parity_fixed: PortRange | None = None
    """With ``same_parity``, the nearest range whose start and end differ in parity."""
    seq: int = 0
    kind: str = field(default="kernel_setting", init=False)


@record
class FirewallRule:
    """One firewall rule as the firewall itself applies it, whatever the syntax it came in.

    ``ports`` None means "every destination port" (no port match); ``source_ports`` None
    means no source-port match. ``sources`` empty means any source address. ``stateful``
    is True when the rule only matches packets of connections already known to conntrack
    (``ct state established,related``, ``--ctstate ESTABLISHED,RELATED``, ``-m state
    --state ESTABLISHED``), so it admits no new connection; a rule matching ``new`` is not
    stateful in this sense. ``ruleset_stateful`` is True when the ruleset it sits in accepts
    established and related traffic somewhere (firewalld, ufw and most nftables rulesets do).
    ``firewall`` names the tool (firewalld, nftables, iptables, ufw); ``chain`` the chain,
    zone or policy it belongs to; ``service`` the named service it came from, if any.
    """

    firewall: str
    direction: str  # "in", "out" or "forward"
    action: str  # "accept", "drop" or "reject"
    protocol: str  # tcp, udp, sctp, dccp or "any"
    ports: PortRange | None
    location: Location
    source_ports: PortRange | None = None
    sources: tuple[str, ...] = ()
    family: str = "dual"
    stateful: bool = False
    ruleset_stateful: bool = False
    chain: str = ""
    interface: str = ""
    service: str = ""
    netns: str = "host"
    evidence: tuple[Evidence, ...] = ()
    # Filled in by the hosts stage.
    host: str = ""
    namespace: Namespace | None = None
    wide: bool = False
    seq: int = 0
    kind: str = field(default="firewall_rule", init=False)

    @property
    def restricted(self) -> bool:
        """True when only explicit source addresses match (not "any")."""
        return bool(self.sources) and not any(s in {"any", "0.0.0.0/0", "::/0"} for s in self.sources)

    @property
    def port_text(self) -> str:
        """The destination ports as text ("all ports" without a port match), for reading facts in tests."""
        return "all ports" if self.ports is None else str(self.ports)


@record
class PortPool:
    """A range some component allocates ports from on a host (Kubernetes NodePorts).

    ``name`` says which pool (``nodeport``); ``default`` is True when no flag was found
    and the component's built-in default is assumed.
    """

    name: str
    ports: PortRange
    location: Location
    default: bool = False
    netns: str = "host"
    evidence: tuple[Evidence, ...] = ()
    # Filled in by the hosts stage.
    host: str = ""
    namespace: Namespace | None = None
    ephemeral_overlap: PortRange | None = None
    """The ports of the pool the kernel may also hand out as ephemeral ports."""
    seq: int = 0
    kind: str = field(default="port_pool", init=False)


@record
class NetnsDecl:
    """A reader's declaration of a network namespace other than the host's (``kind`` container)."""

    netns: str
    kind: str
    location: Location


@record
class Mount:
    """A file or directory of the scanned tree that appears inside a container at ``target``.

    ``source`` is relative to the working directory (as ``Location.path``); ``how`` says
    what put it there (a compose bind mount or config, a Dockerfile ``COPY``/``ADD``).
    """

    source: str
    target: str
    location: Location
    how: str


@record
class ContainerLink:
    """A compose service's ties to other files: the image it builds and what it mounts.

    Read by ``placement`` only (hosts ignore it). ``netns`` is "" when the service's
    namespace is not known; ``user_set`` is True when the service sets ``user:`` (even to
    an unresolved value, which then still hides the image's ``USER``).
    """

    service: str
    netns: str
    location: Location
    run_as: RunAs
    user_set: bool
    dockerfile: str | None = None
    build_context: str | None = None
    target: str | None = None
    mounts: tuple[Mount, ...] = ()
    image: str = ""
    """The service's or container's ``image:`` (its defaults apply to what is mounted into it)."""
    kind: str = field(default="container_link", init=False)


@record
class ImageStage:
    """One ``FROM`` stage with what it inherits from the stage it is built on.

    ``run_as.user`` None with no location: no ``USER`` anywhere, the base image decides;
    ``listeners`` are its ``EXPOSE`` ports (as a lone image's), ``copies`` the files it
    takes from the build context (sources relative to the context, as written).
    """

    name: str
    base: str
    location: Location
    run_as: RunAs
    listeners: tuple[Listener, ...] = ()
    copies: tuple[tuple[str, str, Location], ...] = ()
    image: str = ""
    """The external image at the root of its ``FROM`` chain ("" for ``scratch`` or an unknown base)."""


@record
class ImageInfo:
    """What a Dockerfile builds, stage by stage, for ``placement`` (hosts ignore it)."""

    location: Location
    netns: str
    service: str
    stages: tuple[ImageStage, ...]
    kind: str = field(default="image", init=False)

    def stage(self, target: str | None) -> ImageStage | None:
        """The stage ``--target`` builds (the last one without a target); None when absent."""
        if not self.stages:
            return None
        if target is None:
            return self.stages[-1]
        return next((s for s in self.stages if s.name == target.lower()), None)


@record
class ImageBuild:
    """An image the repository builds from a Dockerfile, found in a build call (``buildcalls``).

    Attached to the Dockerfile's facts: ``placement`` gives a workload whose ``image:`` is one
    of ``names`` (``imagerefs.ImageRef.name``) that Dockerfile's stage ``target``, its
    ``COPY`` sources read against ``context``. ``location`` is the call (a workflow step, a
    Makefile line); ``text`` is how ``facts`` and evidence show the link.
    """

    names: tuple[str, ...]
    dockerfile: str
    context: str
    location: Location
    text: str
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    host: str = ""
    kind: str = field(default="image_build", init=False)


@record
class InvalidPort:
    """A value where a real port is required that is no valid port (0 excepted when it means 'auto')."""

    value: str
    reason: str
    location: Location
    context: str = ""
    host: str = ""
    kind: str = field(default="invalid_port", init=False)


@record
class ParseError:
    """A file in scope that could not be read or parsed."""

    message: str
    location: Location
    host: str = ""
    kind: str = field(default="parse_error", init=False)


@record
class Unresolved:
    """A port value the reader could not resolve statically (a variable, a template): no verdict."""

    value: str
    reason: str
    location: Location
    host: str = ""
    kind: str = field(default="unresolved", init=False)


@record
class ContainerPort:
    """One entry of a Kubernetes container's ``ports``: its list key, and what a Service's
    ``targetPort`` can name.

    ``owner`` identifies the container within its file (its list is where keys must be
    unique); ``protocol`` is as the API writes it (TCP, UDP, SCTP).
    """

    workload: str
    container: str
    owner: str
    k8s_namespace: str
    index: int
    number: int
    protocol: str
    location: Location
    name: str = ""
    image: str = ""
    """The container's ``image:`` ("" when absent or a template): what a Service reaching this port reaches."""
    host: str = ""
    kind: str = field(default="container_port", init=False)


@record
class PodTemplate:
    """A workload's pod template (Kubernetes) as a Service's selector sees it: labels and ports.

    Join input for the kubernetes reader's ``assemble`` only (it never reaches the rules).
    ``labels_known`` / ``ports_known`` are False when a template or variable hides some of them.
    """

    workload: str
    k8s_namespace: str
    location: Location
    labels: tuple[tuple[str, str], ...] = ()
    labels_known: bool = True
    ports: tuple[ContainerPort, ...] = ()
    ports_known: bool = True
    kind: str = field(default="pod_template", init=False)


@record
class ServicePort:
    """One entry of a Kubernetes Service's ``spec.ports``: its list keys, its node port, and
    the pods its selector reaches.

    ``selector`` None: the Service has none (its endpoints are managed by hand); with
    ``selector_known`` False a template hides it. The kubernetes reader's ``assemble`` joins
    it to the pod templates of its scope and namespace: ``selects`` names the workloads,
    ``reaches`` the container ports the traffic goes to, ``join`` the verdict (``reached``,
    ``unreached``, ``unknown`` with ``join_reason``, ``skipped`` without a selector).
    """

    service: str
    object_id: str
    k8s_namespace: str
    index: int
    location: Location
    port: int
    protocol: str = "TCP"
    name: str = ""
    service_type: str = "ClusterIP"
    """As written; "" when a template hides it (an absent type is ClusterIP)."""
    node_port: PortRange | None = None
    node_port_location: Location | None = None
    target: str = ""
    """``targetPort`` as written ("" when absent: the port itself)."""
    target_port: int | None = None
    target_name: str = ""
    target_location: Location | None = None
    selector: tuple[tuple[str, str], ...] | None = None
    selector_known: bool = True
    headless: bool = False
    """``clusterIP: None``: clients reach the pods' addresses directly; ``targetPort`` only names SRV records."""
    node_port_open: bool = False
    """kube-proxy opens a node port for it on every node: type NodePort, or LoadBalancer unless
    ``allocateLoadBalancerNodePorts: false``."""
    outside_limit: str = ""
    """What keeps clients outside the cluster off its load balancer ("" when nothing does):
    ``loadBalancerSourceRanges`` of private ranges only, an internal load-balancer annotation."""
    # Filled in by the kubernetes reader's ``assemble``.
    selects: tuple[str, ...] = ()
    reaches: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()
    """The container ports (name/protocol number) the selected pods declare, for messages."""
    join: str = "skipped"
    join_reason: str = ""
    node_port_range: PortRange | PortSet | None = None
    """The NodePort range in force for the scope (the flags read for it, else the default)."""
    node_port_range_source: str = ""
    node_port_range_location: Location | None = None
    sensitive: Sensitive | None = None
    """The sensitive service (``data/sensitive.yml``) behind it: the reached container's image or
    port, else (the pods not in the scope) its target port."""
    ingress_limit: str = ""
    """A NetworkPolicy of the scope that limits ingress to the selected pods to named sources."""
    host: str = ""
    namespace: Namespace | None = None
    """The host namespace of its scope (filled in by the hosts stage): its node ports open there."""
    kind: str = field(default="service_port", init=False)

    @property
    def node_ports(self) -> PortRange | PortSet | None:
        """The node ports it opens: its ``nodePort``, else the range the API server picks one from."""
        if not self.node_port_open:
            return None
        return self.node_port if self.node_port is not None else self.node_port_range


@record
class IngressPolicy:
    """A Kubernetes NetworkPolicy that governs ingress to the pods it selects. Join input for
    the kubernetes reader's ``assemble`` only: it fills ``ServicePort.ingress_limit`` and goes
    no further. Policies add up: a pod is limited when some policy selects it and every one
    that does (or may) names its sources.
    """

    name: str
    k8s_namespace: str
    location: Location
    selector: tuple[tuple[str, str], ...] = ()
    """``podSelector.matchLabels`` (empty: every pod of the namespace)."""
    limits: bool = True
    """Every ingress rule names its sources (``from``), or none is allowed."""
    selector_known: bool = True
    """False when ``matchExpressions`` or a template decide which pods it selects."""
    kind: str = field(default="ingress_policy", init=False)


@record
class Posture:
    """A host-wide stance a file states beyond its port rules: the hosts stage derives
    ``Namespace.inbound_policy`` (``aspect`` "inbound": accept, drop or reject) and
    ``Namespace.runtime_firewall`` (``aspect`` "runtime": bypasses or filtered) from these.

    Readers emit one where no ``FirewallRule`` says it: a firewalld default zone's target, a
    base input chain that ends in an unconditional verdict, a ``DOCKER-USER`` drop, Docker's
    ``daemon.json``. ``why`` is the sentence ``facts`` and messages show.
    """

    aspect: str
    value: str
    why: str
    location: Location
    netns: str = "host"
    kind: str = field(default="posture", init=False)


@record
class YamlAmbiguity:
    """A plain YAML scalar that YAML 1.1 and YAML 1.2 read differently: ``22:22`` is the base-60
    integer 1342 to PyYAML and Compose v1, the string "22:22" to Compose v2 (PP020).

    ``value`` is the text as written, ``yaml11_reading`` what a YAML 1.1 loader makes of it,
    ``context`` the key it sits under (``services.web.ports``).
    """

    value: str
    yaml11_reading: str
    location: Location
    context: str = ""
    host: str = ""
    kind: str = field(default="yaml_ambiguity", init=False)


@record
class ProgramStart:
    """A process start of a program whose own config file may set its ports (``portpolicy.apps``).

    Joined per host to that program's config file (``apps.join``): the config's listeners take
    this process's user and namespace, and its assumed defaults give way. No rule reads it; the
    join drops it. ``configs`` are the files it reads: named on its command line (``named``), or
    the program's default paths.
    """

    program: str
    service: str
    configs: tuple[str, ...]
    named: bool
    location: Location
    run_as: RunAs = RunAs()
    netns: str = "host"
    container: str = ""
    evidence: tuple[Evidence, ...] = ()
    image: str = ""
    kind: str = field(default="program_start", init=False)


Fact = (
    Listener
    | KernelSetting
    | FirewallRule
    | PortPool
    | NetnsDecl
    | InvalidPort
    | ParseError
    | Unresolved
    | ContainerLink
    | ImageInfo
    | ImageBuild
    | ContainerPort
    | PodTemplate
    | IngressPolicy
    | ServicePort
    | Posture
    | YamlAmbiguity
    | ProgramStart
)


@record
class SuppressionComment:
    """One rule id named in one suppression comment, once every other rule has run.

    Not read from a config: ``suppress`` makes these after it has dropped the findings they
    silence, so ``used`` is known; the rules over them (PP014) run last (``pipeline``).
    """

    rule: str
    """The id as written ("" for an empty ``ignore[]``)."""
    location: Location
    target: int
    """The line it silences."""
    spelling: str
    """``ignore`` or ``noqa``."""
    used: bool
    """It silenced a finding."""
    known: bool
    """``rule`` is the id of a loaded rule."""
    ran: bool
    """``rule`` ran in this scan (a rule that did not run leaves its suppressions without a verdict)."""
    kind: str = field(default="suppression", init=False)


@record
class Related:
    location: Location
    message: str


@record
class Finding:
    rule: str
    name: str
    severity: str
    message: str
    location: Location
    host: str = ""
    related: tuple[Related, ...] = ()
    subject: str = ""
    """What the finding is about at its place (``engine.SUBJECTS``: the socket, the opening, the
    key); findings of one rule at one place differ in it. Reports do not show it."""


@record
class Host:
    """A machine (or compose project, or root-filesystem tree) and the namespaces on it."""

    name: str
    reason: str
    platform: str
    runtime: str
    namespaces: tuple[Namespace, ...] = ()
