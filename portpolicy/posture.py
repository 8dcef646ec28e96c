"""A host's firewall posture: what its firewall does with new inbound traffic no rule accepts
(``Namespace.inbound_policy``), and how its container runtime's published ports meet that
firewall (``Namespace.runtime_firewall``). Derived once per host from the facts its readers
gave, so that rules (PP016) only compare the two values.

Inbound policy, from every firewall read for the host: ufw's ``default incoming``, an
iptables or nftables base input chain's policy (``FirewallRule`` with ``service="policy"``),
and ``Posture`` facts (a firewalld default zone's target, a base input chain that ends in an
unconditional verdict). When several say something, the strictest wins (drop or reject over
accept; the first such line by file and line): netfilter runs every chain hooked on input,
and a packet that any of them drops is dropped, so when two firewalls run at once the one
that denies decides; when only one of them runs, the files still claim the host denies the
traffic, which is what a published port that bypasses it contradicts. Whether ufw is
``ENABLED`` or firewalld started is not known from the files: both are taken as running.

Runtime handling: "filtered" when a file shows a restriction the published ports meet (a
``DOCKER-USER`` drop, ``"iptables": false``, a firewalld policy into the ``docker`` zone) or
the host's runtime is rootless (its port forwarder binds a real socket that INPUT filters);
"loopback" when ``daemon.json`` makes published ports bind 127.0.0.1 by default (``"ip"``);
otherwise "bypasses" once the host publishes a port or a daemon config of a rootful runtime
was read (Docker's DNAT in ``nat PREROUTING`` and the ``DOCKER`` chain in ``FORWARD``, the CNI
portmap plugin and kube-proxy alike, take the packet before INPUT); None when nothing of a
runtime was read. A pod's hostPort is no Docker port: the CNI portmap plugin publishes it,
which none of Docker's settings touch, so it leaves this value alone (PP016 speaks of the plugin).

Node ports (``Namespace.node_ports``): kube-proxy DNATs a NodePort or LoadBalancer Service's
node port in ``nat PREROUTING`` (``KUBE-SERVICES`` -> ``KUBE-NODEPORTS`` in iptables mode, the
``kube-proxy`` table's ``nodeports`` map in nftables mode) before INPUT, on every node of the
cluster: "bypasses" once a Service of the host opens one, unless its ``nodePortAddresses``
(a ``Posture`` with aspect ``node-ports``) keeps node ports on loopback or private addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from portpolicy import signatures
from portpolicy.model import (
    Fact,
    FirewallRule,
    Listener,
    Location,
    Namespace,
    Posture,
    ServicePort,
    Setting,
)
from portpolicy.platforms import Runtime

DENY = ("drop", "reject")
INBOUND = frozenset({"accept", *DENY})
RUNTIME = frozenset({"bypasses", "filtered", "loopback"})
BYPASS = (
    "published by rootful {runtime}, whose DNAT in nat PREROUTING and DOCKER chain in FORWARD (for a "
    "pod's hostPort, the CNI portmap plugin's) take the packet before INPUT"
)
ROOTLESS = "runtime {runtime}: published ports are bound by the user's port forwarder, a socket INPUT filters"
NODE_PORTS = "node-ports"
KUBE_PROXY = (
    "kube-proxy DNATs node ports in nat PREROUTING (KUBE-NODEPORTS; the nodeports map in nftables mode), "
    "on every node, before INPUT"
)


def with_posture(ns: Namespace, facts: Iterable[tuple[str, Fact]], runtime: Runtime) -> Namespace:
    """The host namespace ``ns`` with its inbound policy and runtime handling filled in."""
    roles = signatures.roles()
    pods = {reader for reader, role in roles.items() if role == signatures.PODS}
    mine = [fact for reader, fact in facts if _on_host(getattr(fact, "netns", "host")) and reader not in pods]
    theirs = [fact for reader, fact in facts if reader in pods]
    inbound = _inbound(mine + theirs)
    handling = _runtime(mine, runtime)
    node_ports = _node_ports(theirs)
    return replace(
        ns,
        inbound_policy=inbound if inbound is not None else ns.inbound_policy,
        runtime_firewall=handling if handling is not None else ns.runtime_firewall,
        node_ports=node_ports if node_ports is not None else ns.node_ports,
    )


def _on_host(netns: str) -> bool:
    """The host's namespace, or a view of it (``host [profile x]``: a compose file set run alone)."""
    return netns == "host" or netns.startswith("host [")


def _inbound(facts: list[Fact]) -> Setting | None:
    """The strictest inbound default any firewall of the host states; None when none does."""
    said: list[tuple[int, Location, Setting]] = []
    for fact in facts:
        setting = _inbound_of(fact)
        if setting is not None and setting.location is not None:
            said.append((0 if setting.value in DENY else 1, setting.location, setting))
    return min(said, key=lambda s: (s[0], s[1]))[2] if said else None


def _inbound_of(fact: Fact) -> Setting | None:
    if isinstance(fact, FirewallRule) and fact.service == "policy" and fact.direction == "in":
        what = fact.chain if fact.firewall == "ufw" else f"chain {fact.chain} policy"
        return Setting(fact.action, f"{fact.firewall} {what} {fact.action}", fact.location)
    if isinstance(fact, Posture) and fact.aspect == "inbound" and fact.value in INBOUND:
        return Setting(fact.value, fact.why, fact.location)
    return None


def _runtime(facts: list[Fact], runtime: Runtime) -> Setting | None:
    """How published ports meet the firewall: a stated restriction first, then the runtime's kind."""
    stated = sorted(
        (f for f in facts if isinstance(f, Posture) and f.aspect == "runtime" and f.value in RUNTIME),
        key=lambda f: (f.value == "bypasses", f.location),
    )
    if stated and stated[0].value != "bypasses":
        return Setting(stated[0].value, stated[0].why, stated[0].location)
    if not runtime.publishes_as_root:
        return Setting("filtered", ROOTLESS.format(runtime=runtime.name))
    published = any(isinstance(f, Listener) and f.bound_by == "runtime" for f in facts)
    if stated or published:
        where = stated[0].location if stated else None
        return Setting("bypasses", BYPASS.format(runtime=runtime.name), where)
    return None


def _node_ports(facts: list[Fact]) -> Setting | None:
    """How kube-proxy's node ports meet the firewall: ``nodePortAddresses`` first, then bypasses."""
    opened = any(isinstance(f, ServicePort) and f.node_port_open for f in facts)
    if not opened:
        return None
    stated = sorted(
        (f for f in facts if isinstance(f, Posture) and f.aspect == NODE_PORTS),
        key=lambda f: f.location,
    )
    if stated:
        return Setting(stated[0].value, stated[0].why, stated[0].location)
    return Setting("bypasses", KUBE_PROXY)
