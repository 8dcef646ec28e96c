"""What keeps strangers off a Service and its pods: a load balancer's source ranges or internal
annotation, a NetworkPolicy that limits ingress, and kube-proxy's ``nodePortAddresses``.

A ``LoadBalancer`` Service is reachable from outside the cluster unless its
``loadBalancerSourceRanges`` (or the AWS annotation of the same name) name sources narrower
than everywhere, or an annotation of ``data/sensitive.yml`` asks the cloud for an internal
load balancer. ``externalTrafficPolicy`` only keeps the client's address: it limits nothing.
A value a template hides is no verdict either way: the limit is taken as unknown, which
silences the finding (never a guess).

A NetworkPolicy whose every ingress rule names its sources (``from``), or that allows no
ingress at all, limits who reaches the pods it selects: an ``IngressPolicy`` for the
Service join. One with an ingress rule open to all sources, a ``matchExpressions`` selector
or a template in its selector limits nothing the files can show.

kube-proxy answers on node ports on every address of the node unless ``nodePortAddresses``
(``--nodeport-addresses``) names CIDRs: loopback or private ones only keep node ports off the
public interface, which a ``Posture`` (aspect ``node-ports``) tells the hosts stage.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from portpolicy import sensitive
from portpolicy.model import Fact, IngressPolicy, Location, Posture
from portpolicy.readers.base import shown
from portpolicy.readers.kubernetes.manifest import Manifest
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, get, is_null, items, seq

NODE_PORTS = "node-ports"
"""``Posture.aspect`` of kube-proxy's node-port addresses."""
AWS_SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
MAX_RANGES = 256
"""CIDRs of one list looked at; a longer list is no verdict."""
_EVERYWHERE = frozenset({"0.0.0.0/0", "::/0"})
_SHOWN_RANGES = 3


def outside_limit(m: Manifest, doc: MappingNode, spec: Node | None) -> str:
    """What keeps clients outside the cluster off this Service's load balancer; "" for nothing."""
    annotations = get(get(doc, "metadata"), "annotations")
    for key, _, value_node in items(annotations):
        values = sensitive.internal_load_balancers().get(key)
        val = m.value(value_node)
        if values is not None and val is not None:
            if not val.known:
                return f"annotation {shown(key)} is a template (an internal load balancer, perhaps)"
            if val.text.strip().lower() in values:
                return f"annotation {shown(key)}: {shown(val.text)} asks for an internal load balancer"
    ranges = get(spec, "loadBalancerSourceRanges")
    if ranges is not None and not is_null(ranges):
        return _ranges_limit(m, ranges, "loadBalancerSourceRanges")
    aws = next((v for k, _, v in items(annotations) if k == AWS_SOURCE_RANGES), None)
    val = m.value(aws)
    if val is not None:
        if not val.known:
            return f"annotation {AWS_SOURCE_RANGES} is a template"
        return _cidrs_limit([c.strip() for c in val.text.split(",") if c.strip()], AWS_SOURCE_RANGES)
    return ""


def _ranges_limit(m: Manifest, node: Node, what: str) -> str:
    if m.is_template_node(node):
        return f"{what} is a template"
    values = [m.value(item) for item in seq(node)[: MAX_RANGES + 1]]
    if any(v is None or not v.known for v in values) or len(values) > MAX_RANGES:
        return f"{what} is a template or too long to judge"
    return _cidrs_limit([v.text.strip() for v in values if v is not None], what)


def _cidrs_limit(cidrs: list[str], what: str) -> str:
    """A limit when the CIDRs are some sources, not everywhere ("" for none or everywhere)."""
    if not cidrs or any(_everywhere(c) for c in cidrs):
        return ""
    listed = ", ".join(shown(c) for c in cidrs[:_SHOWN_RANGES])
    more = f" and {len(cidrs) - _SHOWN_RANGES} more" if len(cidrs) > _SHOWN_RANGES else ""
    kind = "private ranges" if all(_private(c) for c in cidrs) else "these sources"
    return f"{what} allows {kind} only ({listed}{more})"


def _everywhere(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return cidr in _EVERYWHERE


def _private(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).is_private
    except ValueError:
        return False


def read_network_policy(m: Manifest, doc: MappingNode) -> Iterator[Fact]:
    """An ``IngressPolicy`` when the NetworkPolicy governs ingress (whether it limits it or not)."""
    spec = get(doc, "spec")
    if not isinstance(spec, MappingNode) or not _governs_ingress(m, spec):
        return
    selector = get(spec, "podSelector")
    known = get(selector, "matchExpressions") is None and (
        selector is None or is_null(selector) or isinstance(selector, MappingNode)
    )
    labels = m.labels(get(selector, "matchLabels")) if known else None
    namespace, name = m.names(doc)
    yield IngressPolicy(
        name=name if namespace == "default" else f"{namespace}/{name}",
        k8s_namespace=namespace,
        location=m.loc(doc),
        selector=labels.pairs if labels is not None else (),
        limits=_limits_ingress(m, spec),
        selector_known=labels is not None and labels.known,
    )


def _governs_ingress(m: Manifest, spec: MappingNode) -> bool:
    """Ingress is among its policy types (always, when ``policyTypes`` is absent); a template
    there governs it perhaps (True: it may open what another policy limits)."""
    types = get(spec, "policyTypes")
    if types is None or is_null(types):
        return True
    names = [m.value(t) for t in seq(types)]
    if not isinstance(types, SequenceNode) or any(v is None or not v.known for v in names):
        return True
    return "Ingress" in {v.text for v in names if v is not None}


def _limits_ingress(m: Manifest, spec: MappingNode) -> bool:
    """Every ingress rule names its sources (or there is none), as far as the files show."""
    if any(v is None or not v.known for v in (m.value(t) for t in seq(get(spec, "policyTypes")))):
        return False
    ingress = get(spec, "ingress")
    if ingress is None or is_null(ingress):
        return True  # no rule: no ingress allowed at all
    if not isinstance(ingress, SequenceNode):
        return False  # a template
    for rule in seq(ingress):
        if not isinstance(rule, MappingNode) or m.uncertain(rule):
            return False
        peers = get(rule, "from")
        if peers is None or is_null(peers) or not seq(peers):
            return False  # a rule without sources admits everyone
        for peer in seq(peers):
            if not isinstance(peer, MappingNode):
                return False
            block = m.value(get(get(peer, "ipBlock"), "cidr"))
            if block is not None and (not block.known or _everywhere(block.text.strip())):
                return False
    return True


def read_kube_proxy(m: Manifest, doc: MappingNode) -> Iterator[Fact]:
    """A ``KubeProxyConfiguration``'s ``nodePortAddresses``."""
    node = get(doc, "nodePortAddresses")
    values = [m.value(item) for item in seq(node)[: MAX_RANGES + 1]]
    if not values or any(v is None or not v.known for v in values) or len(values) > MAX_RANGES:
        return
    yield from _node_port_posture([v.text.strip() for v in values if v is not None], m.loc(node or doc))


def node_port_addresses_flag(m: Manifest, container: MappingNode) -> Iterator[Fact]:
    """``--nodeport-addresses`` in a kube-proxy container's command or args."""
    words = [m.value(n) for n in (*seq(get(container, "command")), *seq(get(container, "args")))]
    for i, val in enumerate(words):
        if val is None or not val.known:
            continue
        text, loc = "", val.location
        if val.text.startswith("--nodeport-addresses="):
            text = val.text.split("=", 1)[1]
        elif val.text == "--nodeport-addresses" and i + 1 < len(words):
            following = words[i + 1]
            if following is None or not following.known:
                continue
            text, loc = following.text, following.location
        if text:
            yield from _node_port_posture([c.strip() for c in text.split(",") if c.strip()], loc)


def _node_port_posture(cidrs: list[str], where: Location) -> Iterator[Fact]:
    """Node ports kept off public addresses: loopback only, or private ranges only."""
    if not cidrs or not all(_private(c) for c in cidrs):
        return  # "primary", a public range or everywhere: node ports answer on public addresses
    listed = ", ".join(shown(c) for c in cidrs[:_SHOWN_RANGES])
    loopback = all(ipaddress.ip_network(c, strict=False).is_loopback for c in cidrs)
    value = "loopback" if loopback else "filtered"
    why = f"kube-proxy nodePortAddresses {listed}: node ports answer on these addresses only"
    yield Posture(NODE_PORTS, value, why, where)
