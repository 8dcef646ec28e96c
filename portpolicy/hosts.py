"""Groups facts into hosts and network namespaces, and derives what rules compare.

A conflict or clash exists only inside one network namespace, so scoping decides
correctness: each compose project, each root-filesystem-like tree (``…/etc/…``) and
otherwise each directory is its own host, unless the config maps paths to named hosts.
Kernel settings are replayed per namespace (``kernel.py``) and every listener gets a
``Privilege`` verdict here, so rules never reason about capabilities themselves.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import field, replace

from portpolicy import kernel, sensitive, signatures
from portpolicy.config import Config, HostConfig
from portpolicy.model import (
    ContainerPort,
    Fact,
    FirewallRule,
    Host,
    ImageBuild,
    InvalidPort,
    KernelSetting,
    Listener,
    Namespace,
    NetnsDecl,
    ParseError,
    PortPool,
    PortRange,
    PortSet,
    Privilege,
    ServicePort,
    Setting,
    Unresolved,
    YamlAmbiguity,
)
from portpolicy.platforms import Platform, Runtime, in_words, platforms, portability, runtimes
from portpolicy.posture import with_posture
from portpolicy.readers.base import shown
from portpolicy.readers.lexing import glob_matches
from portpolicy.records import record

FIREWALLD_DIRS = {"zones", "services", "policies", "ipsets", "helpers", "icmptypes"}
"""The folders of a firewalld configuration tree: a deployment layout, so it scopes every file in
it (one that no reader could read too), whatever read it."""
# Capabilities a container's root user has by default (moby oci/caps/defaults.go).
BIND_CAP = "NET_BIND_SERVICE"
HOST_VIEW = "host ["
"""A listener ``netns`` of ``host [<why>]`` binds in a view of the host namespace (``compose.projects``)."""


@record(frozen=False)
class HostBucket:
    """Facts gathered for one host before derivation."""

    name: str
    reason: str
    config: HostConfig | None
    facts: list[tuple[str, Fact]] = field(default_factory=list)
    """(reader name, fact): the reader becomes ``Listener.source`` in the one copy made here."""


def scope_of(path: str, reader: str, config: Config, rel: str = "") -> tuple[str, str, HostConfig | None]:
    """The host a file's facts land on, and why (shown by ``portpolicy facts``).

    ``rel`` is the path below the scanned root (``discover.Candidate.rel``; the shown
    ``path`` when not given). Only ``rel`` decides, so a folder above the root (a checkout
    under ``~/src/etc/``, a clone named ``firewalld``) changes no verdict; the host is named
    with the shown prefix, so two roots never share a host by accident.
    """
    if config.hosts:
        mapped = _mapped(path, config)
        if mapped is not None:
            return mapped
    prefix, rel = _split_root(path, rel)

    def shown(scoped: str) -> str:
        return _under(prefix, scoped)

    directory = shown(posixpath.dirname(rel) or ".")
    declared = signatures.by_name(reader)
    served = served_tree(rel) if declared is not None and declared.role == signatures.CONTAINERS else None
    if served is not None:  # a container project in /srv or /opt of a root filesystem
        return shown(served), f"root-filesystem tree {shown(served)}", None
    if declared is not None and declared.scope == signatures.PROJECT:
        if posixpath.basename(rel) in declared.project_files:
            return directory, f"{reader} project in {directory}", None
        return path, f"{reader} file {path} (not a default project file, so its own project)", None
    fw = firewalld_tree(rel)
    if fw is not None:
        return shown(fw), f"firewalld configuration tree {shown(fw)}", None
    root = rootfs_of(rel)
    if root is not None:
        return shown(root), f"root-filesystem tree {shown(root)}", None
    if declared is not None and _is_drop_in(posixpath.basename(posixpath.dirname(rel)), declared):
        # a drop-in (``web.service.d/x.conf``) joins its unit, which lies one folder up
        directory = shown(posixpath.dirname(posixpath.dirname(rel)) or ".")
    return directory, f"files in directory {directory}", None


def release_scope(chart: str, release: str, config: Config) -> tuple[str, str, HostConfig | None]:
    """The host of a Helm release of the chart in folder ``chart``: one release is one cluster.

    Two charts never share a host (nor conflict) unless the config maps both to one.
    """
    if config.hosts:
        mapped = _mapped(posixpath.join(chart, "Chart.yaml"), config)
        if mapped is not None:
            return mapped
    folder = chart or "."
    return f"helm:{folder}", f"Helm release {release} of chart {folder} (one release is one cluster)", None


def _is_drop_in(folder: str, declared: signatures.Signature) -> bool:
    """``web.service.d``, ``service.d``: a folder of drop-ins (``Signature.drop_in_folders``)."""
    suffixes = declared.drop_in_folders
    return bool(suffixes) and (folder.endswith(suffixes) or folder in {s[1:] for s in suffixes})


def _mapped(path: str, config: Config) -> tuple[str, str, HostConfig | None] | None:
    """The host ``config.hosts`` maps ``path`` to: patterns are relative to the config file's folder."""
    rel = posixpath.normpath(
        os.path.relpath(os.path.abspath(path), os.path.abspath(config.root)).replace(os.sep, "/")
    )
    for host in config.hosts:
        for pattern in host.paths:
            # fnmatch on the whole path (``*`` crosses ``/``), length-capped: the config
            # may come from the pull request under scan
            if glob_matches(rel, pattern) or glob_matches(rel, pattern.rstrip("/") + "/*"):
                return host.name, f"config maps {pattern!r} to host {host.name!r}", host
    return None


def _split_root(path: str, rel: str) -> tuple[str, str]:
    """(shown path of the scanned root, path below it); the whole shown path when they disagree."""
    if not rel or rel == path:
        return "", path
    prefix = path[: len(path) - len(rel)]
    if not path.endswith(rel) or not prefix.endswith("/"):
        return "", path
    return prefix, rel


def _under(prefix: str, scoped: str) -> str:
    """``scoped`` (relative to the scanned root) as shown: below ``prefix``."""
    if not prefix:
        return scoped
    base = prefix.rstrip("/") or "/"
    return base if scoped == "." else posixpath.join(base, scoped)


AUTO_DEPLOYED = frozenset({"lib/rancher/k3s", "lib/rancher/rke2"})
"""``var/lib/rancher/k3s/server/manifests``: manifests k3s and RKE2 apply on the node they sit on."""
SERVED = frozenset({"srv", "opt"})
"""Folders of a root filesystem that hold deployed projects (FHS ``/srv``, ``/opt``)."""


def served_tree(rel: str) -> str | None:
    """The folder that plays ``/`` when a project file lies under its ``srv/`` or ``opt/``.

    A container project deployed there publishes the machine's own ports, beside the firewall
    of its ``etc/``: one host (PP016 needs both)."""
    parts = rel.split("/")
    for i, part in enumerate(parts[:-1]):
        if part in SERVED:
            return "/".join(parts[:i]) or "."
    return None


def firewalld_tree(rel: str) -> str | None:
    """The folder holding ``zones/``, ``services/`` … when ``rel`` lies in a ``firewalld/`` tree.

    Not inside a root-filesystem tree (``srv/etc/firewalld/zones``): that tree is the host.
    """
    parts = rel.split("/")
    for i in range(len(parts) - 2, 0, -1):
        if parts[i - 1] == "firewalld" and parts[i] in FIREWALLD_DIRS and rootfs_of(rel) is None:
            return "/".join(parts[:i])
    return None


def rootfs_of(path: str) -> str | None:
    """The directory that plays ``/`` when a path looks like ``…/etc/…`` or ``…/usr/lib/…``.

    Give it a path relative to the scanned root: a shown path would let a folder above the
    root (a checkout under ``~/src/etc/``) make the whole tree one root filesystem.
    """
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1] if i + 1 < len(parts) - 1 else ""
        if (
            part == "etc"
            or (part == "usr" and nxt in {"lib", "local"})
            or (part in {"lib", "run"} and nxt in {"systemd", "sysctl.d"})
        ):
            return "/".join(parts[:i]) or "."
        if part == ".config" and nxt == "systemd":
            return "/".join(parts[:i]) or "."
        if part == "var" and "/".join(parts[i + 1 : i + 4]) in AUTO_DEPLOYED:
            return "/".join(parts[:i]) or "."
    return None


def build(buckets: Iterable[HostBucket], config: Config) -> tuple[list[Host], list[Fact]]:
    """Derive namespaces, kernel verdicts and privileges; return hosts and annotated facts."""
    parts = [_derive(bucket, config) for bucket in buckets]
    return merge([([host], facts) for host, facts in parts])


def merge(
    parts: Iterable[tuple[list[Host], list[Fact]]], extra: Iterable[Fact] = ()
) -> tuple[list[Host], list[Fact]]:
    """Hosts built apart as one model: sorted, facts in file order and numbered (``seq``) afresh.

    ``extra`` are facts of no built host (PP000 for a host whose build failed).
    """
    hosts: list[Host] = []
    out: list[Fact] = list(extra)
    for built, facts in parts:
        hosts.extend(built)
        out.extend(facts)
    out.sort(key=_fact_order)
    numbered: list[Fact] = []
    for i, fact in enumerate(out, 1):
        numbered.append(
            replace(fact, seq=i) if isinstance(fact, (Listener, FirewallRule, PortPool)) else fact
        )
    return sorted(hosts, key=lambda h: h.name), numbered


def _fact_order(fact: Fact) -> tuple[str, int, int, str]:
    loc = fact.location
    return (loc.path, loc.line, loc.column, type(fact).__name__)


def _derive(bucket: HostBucket, config: Config) -> tuple[Host, list[Fact]]:
    hc = bucket.config
    platform = _lookup(
        platforms(), (hc.platform if hc and hc.platform else None) or config.platform, "platform"
    )
    runtime = _lookup(runtimes(), (hc.runtime if hc and hc.runtime else None) or config.runtime, "runtime")
    # Pods run under a CRI runtime, not Docker: unless one is chosen, containerd 2.x (the common default).
    pod_runtime = runtime if (hc and hc.runtime) or config.runtime_set else runtimes()["containerd"]
    writes: dict[str, list[KernelSetting]] = defaultdict(list)
    decls: dict[str, NetnsDecl] = {}
    listeners: list[tuple[str, Listener]] = []
    placed: list[FirewallRule | PortPool] = []
    others: list[Fact] = []
    for reader, fact in bucket.facts:
        if isinstance(fact, KernelSetting):
            writes[fact.netns].append(fact)
        elif isinstance(fact, NetnsDecl):
            decls.setdefault(fact.netns, fact)
        elif isinstance(fact, Listener):
            listeners.append((reader, fact))
        elif isinstance(fact, (FirewallRule, PortPool)):
            placed.append(fact)
        elif isinstance(
            fact, (InvalidPort, ParseError, Unresolved, ServicePort, ContainerPort, YamlAmbiguity, ImageBuild)
        ):
            others.append(replace(fact, host=bucket.name))
    kernel_overrides = {**config.kernel, **(hc.kernel if hc else {})}
    namespaces: dict[str, Namespace] = {}
    annotated: list[Fact] = []
    host_writes = _unmasked(writes.pop("host", []))
    ns, done = _namespace(bucket.name, "host", platform, runtime, host_writes, kernel_overrides, config)
    ns = with_posture(ns, bucket.facts, runtime)  # its firewall's inbound policy, its runtime's handling
    namespaces["host"] = ns
    annotated.extend(done)
    for view in sorted({ln.netns for _, ln in listeners if ln.netns.startswith(HOST_VIEW)}):
        # a compose project Compose never runs beside the others here (another file set, a
        # profile started alone): the host's namespace, as a conflict scope of its own
        namespaces[view] = replace(ns, id=f"{bucket.name} {view[len('host ') :]}")
    container_ids = (
        set(decls)
        | set(writes)
        | {ln.netns for _, ln in listeners if ln.netns != "host" and ln.netns not in namespaces}
        | {f.netns for f in placed if f.netns != "host"}
    )
    services: dict[str, set[str]] = defaultdict(set)
    for _, ln in listeners:
        services[ln.netns].add(ln.service)
    assumed = not ((hc and hc.runtime) or config.runtime_set)
    for netns in sorted(container_ids):
        rt = pod_runtime if netns.startswith("pod:") else runtime
        ns, done = _namespace(bucket.name, netns, platform, rt, writes.get(netns, []), {}, config)
        if assumed:
            ns = _assumed(ns)
        namespaces[netns] = replace(ns, shared=len(services[netns]) > 1, runs=_runs(netns))
        annotated.extend(done)
    roles = signatures.roles()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, ln in listeners:
        counts[ln.netns][0] += 1
    for f in placed:
        if isinstance(f, FirewallRule):
            counts[f.netns][1] += 1
    for netns, (n_listeners, n_rules) in counts.items():
        namespaces[netns] = replace(namespaces[netns], listeners=n_listeners, firewall_rules=n_rules)
    for reader, listener in listeners:
        ns = namespaces[listener.netns]
        role = roles.get(reader, "")
        # a pod's host port is a DNAT rule the CNI portmap plugin writes: no socket is bound
        holds = not (role == signatures.PODS and listener.bound_by == "runtime")
        listener = replace(
            listener,
            source=reader,
            host=bucket.name,
            namespace=ns,
            holds_socket=holds,
            reserved_ports_if_added=_reserved(ns).union(listener.ports),
        )
        rt = pod_runtime if role == signatures.PODS else runtime
        listener = sensitive.mark(listener)  # the service behind it, by image or container port
        annotated.append(replace(listener, privilege=privilege(listener, ns, rt)))
    for fact in placed:
        ns = namespaces[fact.netns]
        if isinstance(fact, FirewallRule):
            wide = fact.ports is None or fact.ports.size >= config.wide_range
            annotated.append(replace(fact, host=bucket.name, namespace=ns, wide=wide))
        else:
            overlap = _ephemeral(ns)
            annotated.append(
                replace(
                    fact,
                    host=bucket.name,
                    namespace=ns,
                    ephemeral_overlap=fact.ports.intersection(overlap) if overlap else None,
                )
            )
    order = sorted(namespaces, key=lambda k: (k != "host", k))
    host = Host(bucket.name, bucket.reason, platform.name, runtime.name, tuple(namespaces[k] for k in order))
    here = namespaces["host"]  # a Service's node ports open in the host's namespace
    return host, annotated + [replace(f, namespace=here) if isinstance(f, ServicePort) else f for f in others]


def _runs(netns: str) -> str:
    """What runs a container namespace (``Namespace.runs``), from the key its reader gave it."""
    if netns.startswith("pod:"):
        return "pod"
    return "image" if netns.startswith("container:image:") else "compose"


def _assumed(ns: Namespace) -> Namespace:
    """A container namespace under a runtime nobody configured: say so, and where its limit differs.

    A limit a line of the files sets (a compose or pod sysctl) holds on every runtime; one
    the assumed runtime lowers holds only where that runtime runs (``data/portability.yml``).
    """
    start = ns.unprivileged_port_start
    if start.location is not None:
        return replace(ns, runtime_assumed=True)
    ns = replace(
        ns,
        runtime_assumed=True,
        unprivileged_port_start=replace(
            start, source=f"{start.source}; assumed, as no runtime is configured"
        ),
    )
    where = portability()
    if not isinstance(start.value, int) or start.value >= where.limit:
        return ns
    kept = Setting(where.limit, f"kept by {in_words(where.kept_by)}")
    return replace(ns, portable_unprivileged_port_start=kept, lowered_by=in_words(where.lowered_by))


def _reserved(ns: Namespace) -> PortSet:
    value = ns.reserved_ports.value
    return value if isinstance(value, PortSet) else PortSet()


def _ephemeral(ns: Namespace) -> PortRange | None:
    value = ns.ephemeral_range.value
    return value if isinstance(value, PortRange) else None


def _lookup(table: dict[str, Platform] | dict[str, Runtime], name: str, what: str):  # type: ignore[no-untyped-def]
    try:
        return table[name]
    except KeyError:
        from portpolicy.config import ConfigError

        raise ConfigError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(table))}") from None


def _unmasked(writes: list[KernelSetting]) -> list[KernelSetting]:
    """Drop writes from sysctl.d files masked by a same-named file in a higher-priority directory."""
    best: dict[str, int] = {}
    for w in writes:
        if w.file_id is not None:
            name, prio = w.file_id
            best[name] = min(prio, best.get(name, prio))
    return [w for w in writes if w.file_id is None or w.file_id[1] == best[w.file_id[0]]]


def _namespace(
    host: str,
    netns: str,
    platform: Platform,
    runtime: Runtime,
    writes: list[KernelSetting],
    overrides: dict[str, str],
    config: Config,
) -> tuple[Namespace, list[KernelSetting]]:
    """Replay one namespace's writes over its defaults; config overrides have the last word."""
    is_host = netns == "host"
    base = platform if is_host else platforms()["linux"]
    default = f"default for platform {base.name}"
    unpriv = Setting(base.unprivileged_port_start, default)
    if not is_host:
        if not runtime.start_known:
            unpriv = Setting(None, f"runtime {runtime.name}: not known whether it lowers it")
        elif runtime.container_unprivileged_port_start is not None:
            unpriv = Setting(
                runtime.container_unprivileged_port_start,
                f"runtime {runtime.name} sets it in the container's network namespace",
            )
        else:
            unpriv = Setting(
                1024, f"kernel default in a new network namespace (runtime {runtime.name} keeps it)"
            )
    state = kernel.State(
        Setting(base.ephemeral, default), Setting(PortSet(), "default: none reserved"), unpriv
    )
    ordered = sorted(writes, key=lambda w: (w.order, w.location))
    done = kernel.replay(state, ordered)
    if is_host and not platform.kernel_sysctl:
        state = kernel.State(
            Setting(base.ephemeral, default), Setting(PortSet(), "default: none reserved"), unpriv
        )
    source = f"config {config.path}" if config.path else "command line"
    for key, value in overrides.items():
        parsed = kernel.parse_override(key, value)  # the config refused invalid values already
        if isinstance(parsed, PortRange):
            state.ephemeral = Setting(parsed, source)
        elif isinstance(parsed, PortSet):
            state.reserved = Setting(parsed, source)
        elif isinstance(parsed, int):
            state.unprivileged = Setting(parsed, source)
    ns_id = host if is_host else f"{host}#{netns}"
    ns = Namespace(
        id=ns_id,
        host=host,
        kind="host" if is_host else "container",
        platform=base.name,
        runtime=runtime.name,
        unprivileged_port_start=state.unprivileged,
        ephemeral_range=state.ephemeral,
        reserved_ports=state.reserved,
    )
    return ns, [replace(w, host=host, namespace=ns) for w in done]


def privilege(listener: Listener, ns: Namespace, runtime: Runtime) -> Privilege:
    """May this listener bind below its namespace's unprivileged start, and why (or why not)."""
    run_as = listener.run_as
    if listener.bound_by == "systemd":
        return Privilege(
            True, True, "the socket is created by systemd (PID 1, root) and handed to the service"
        )
    if listener.bound_by == "root-master":
        return Privilege(True, True, "the master process starts as root and binds before dropping privileges")
    if listener.bound_by == "systemd-user":
        return Privilege(
            True, False, "the socket is created by the per-user systemd manager, which runs unprivileged"
        )
    if listener.bound_by == "runtime":
        if runtime.publishes_as_root:
            return Privilege(
                True, True, f"the published port is bound by the root container daemon ({runtime.name})"
            )
        return Privilege(
            True,
            False,
            f"the published port is bound by {runtime.name}'s port forwarder, running as the unprivileged user",
        )
    if listener.bound_by == "rootless-runtime" and run_as.is_root is False:
        return Privilege(
            True,
            False,
            f"the published port is bound by the rootless runtime's port forwarder, running as {shown(run_as.user or '')!r}",
            run_as.location,
        )
    is_root = run_as.is_root
    if is_root is None:
        return Privilege(False, False, "the user it runs as is not known")
    declared = signatures.by_name(listener.source)
    container = (declared is not None and declared.role in signatures.CONTAINER_ROLES) or bool(
        listener.container
    )
    if container:
        caps = {BIND_CAP} if is_root else set()
        caps |= set(run_as.added)
        if "ALL" in run_as.added:
            caps.add(BIND_CAP)
        # Dropping ALL (or it) and adding it back keeps it: Docker and containerd both apply the add.
        if (BIND_CAP in run_as.dropped or "ALL" in run_as.dropped) and BIND_CAP not in run_as.added:
            caps.discard(BIND_CAP)
        if is_root:
            if BIND_CAP in caps:
                return Privilege(True, True, "runs as root with the runtime's default CAP_NET_BIND_SERVICE")
            return Privilege(
                True,
                False,
                "runs as root but cap_drop removes CAP_NET_BIND_SERVICE",
                run_as.capability_location,
            )
        if BIND_CAP in caps and run_as.no_new_privileges:
            return Privilege(
                True,
                False,
                "an added NET_BIND_SERVICE does not reach a non-root process (no ambient capabilities), "
                "and no_new_privs (allowPrivilegeEscalation: false / no-new-privileges) stops file capabilities",
                run_as.capability_location,
            )
        if BIND_CAP in caps:
            return Privilege(
                False,
                False,
                "cap_add NET_BIND_SERVICE reaches a non-root process only through file capabilities on its binary",
                run_as.capability_location,
            )
        return Privilege(
            True,
            False,
            f"runs as non-root user {shown(run_as.user or '')!r} with no capability to bind",
            run_as.location,
        )
    if run_as.private_users:
        return Privilege(
            True,
            False,
            "PrivateUsers=yes leaves it no capability in the host's user namespace",
            run_as.location,
        )
    if is_root:
        if run_as.bounding is not None and BIND_CAP not in run_as.bounding:
            return Privilege(
                True,
                False,
                "runs as root but CapabilityBoundingSet= lacks CAP_NET_BIND_SERVICE",
                run_as.capability_location,
            )
        return Privilege(True, True, "runs as root")
    bounded_out = run_as.bounding is not None and BIND_CAP not in run_as.bounding
    if BIND_CAP in run_as.ambient and not bounded_out:
        return Privilege(
            True, True, "AmbientCapabilities= grants CAP_NET_BIND_SERVICE", run_as.capability_location
        )
    return Privilege(
        True,
        False,
        f"runs as non-root user {shown(run_as.user or '')!r} and no AmbientCapabilities=CAP_NET_BIND_SERVICE",
        run_as.location,
    )
