"""The Service-to-pod join: the pod templates a Service's selector picks in its scope, and the
container port each Service port reaches, resolved as the endpoints controller resolves it.

The controller (``podutil.FindPort``) takes a numeric ``targetPort`` as it is, whatever the
containers declare (``containerPort`` is informational), and a named one from the first
container port with that ``name`` and the Service port's ``protocol``: a name no selected pod
declares gives no endpoint, and traffic goes nowhere. So a named target the selected pods do
not declare is ``unreached``; a number that containers which all declare their ports do not
list is ``undeclared`` (it works only if the process listens there anyway); a selector that
picks nothing in the scanned tree, or that a template hides, is ``unknown``, never a finding;
a Service without a selector (hand-made Endpoints) is ``skipped``.

Bounded: templates are indexed by (namespace, label) pair, a selector is looked up through its
rarest pair, and each distinct selector is joined once (N Services sharing one selector that
matches every pod cost N + pods, not N x pods). A tree built to defeat that (thousands of
distinct selectors each matching thousands of pods) stops at a budget of label comparisons;
the ports left are ``unknown`` and one ``Unresolved`` line says why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from portpolicy import sensitive
from portpolicy.model import (
    ContainerPort,
    Fact,
    IngressPolicy,
    PodTemplate,
    PortRange,
    Sensitive,
    ServicePort,
    Unresolved,
)

BUDGET = 200_000
"""Label comparisons one scope may make, plus ``BUDGET_PER_FACT`` per fact of the scope."""
BUDGET_PER_FACT = 50
SHOWN = 5
"""Workloads, container ports and declared ports named on one Service port (then "N more")."""

Pair = tuple[str, str]


class _Exhausted(Exception):
    """The scope's budget of label comparisons is spent."""


@dataclass
class Selection:
    """What one selector picks in one namespace, folded for every Service port that shares it."""

    workloads: list[str] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)
    """The indices of the selected templates."""
    selects: tuple[str, ...] = ()
    """``workloads`` as shown on a Service port (the first few, then how many more)."""
    names: dict[tuple[str, str], ContainerPort] = field(default_factory=dict)
    """(port name, protocol) -> the first container port of that name, as FindPort takes it."""
    numbers: dict[tuple[int, str], ContainerPort] = field(default_factory=dict)
    declared: list[str] = field(default_factory=list)
    ports_known: bool = True
    """Every selected template's ports are known (no template or variable hides one)."""
    all_declare: bool = True
    """Every selected template declares at least one container port."""
    hidden: bool = False
    """Some template of the namespace hides its labels: it may be selected too."""
    complete: bool = True
    """False when the budget ran out before the selection was made."""


class ServiceJoin:
    """The pod templates of one scope, indexed for selectors."""

    def __init__(
        self, templates: list[PodTemplate], budget: int, policies: list[IngressPolicy] | None = None
    ) -> None:
        self.templates = templates
        self.policies: dict[tuple[str, str, str], list[IngressPolicy]] = defaultdict(list)
        """Policies by (namespace, their first label pair); ("ns", "", "") for an empty selector."""
        self.opened: set[str] = set()
        """Namespaces with a policy that may select any pod and admits every source."""
        for policy in policies or ():
            if not policy.selector_known:
                if not policy.limits:
                    self.opened.add(policy.k8s_namespace)
                continue
            first = policy.selector[0] if policy.selector else ("", "")
            self.policies[(policy.k8s_namespace, first[0], first[1])].append(policy)
        self.limits: dict[tuple[str, tuple[Pair, ...]], str] = {}
        self.labels = [dict(t.labels) for t in templates]
        self.by_pair: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        self.hidden: set[str] = set()
        for i, t in enumerate(templates):
            if not t.labels_known:
                self.hidden.add(t.k8s_namespace)
            for key, value in t.labels:
                self.by_pair[(t.k8s_namespace, key, value)].append(i)
        self.cache: dict[tuple[str, tuple[Pair, ...]], Selection] = {}
        self.left = budget
        self.exhausted = False

    def select(self, namespace: str, selector: tuple[Pair, ...]) -> Selection:
        key = (namespace, selector)
        if key not in self.cache:
            try:
                self.cache[key] = self._select(namespace, selector)
            except _Exhausted:
                self.exhausted = True
                self.cache[key] = Selection(complete=False)
        return self.cache[key]

    def _spend(self, cost: int) -> None:
        self.left -= cost
        if self.left < 0:
            raise _Exhausted

    def _select(self, namespace: str, selector: tuple[Pair, ...]) -> Selection:
        if self.exhausted:
            raise _Exhausted
        postings = [self.by_pair.get((namespace, k, v), []) for k, v in selector]
        rarest = min(postings, key=len)
        chosen = Selection(hidden=namespace in self.hidden)
        for i in rarest:
            self._spend(len(selector))
            labels = self.labels[i]
            if all(labels.get(k) == v for k, v in selector):
                chosen.chosen.append(i)
                self._fold(chosen, self.templates[i])
        chosen.selects = _shown(chosen.workloads)
        return chosen

    def ingress_limit(self, namespace: str, selector: tuple[Pair, ...], chosen: Selection) -> str:
        """The NetworkPolicy that limits ingress to every selected pod ("" when some pod has none)."""
        key = (namespace, selector)
        if key not in self.limits:
            self.limits[key] = self._limit(namespace, chosen)
        return self.limits[key]

    def _limit(self, namespace: str, chosen: Selection) -> str:
        """Every chosen pod must have a limiting policy (a pod without one takes anyone in)."""
        if (
            chosen.hidden
            or not chosen.chosen
            or self.exhausted
            or not self.policies
            or namespace in self.opened
        ):
            return ""
        found: list[str] = []
        try:
            for i in chosen.chosen:
                policy = self._policy_of(namespace, self.labels[i])
                if policy is None:
                    return ""
                if policy.name not in found:
                    found.append(policy.name)
        except _Exhausted:
            self.exhausted = True
            return ""  # not known: the warning stays
        return ", ".join(_shown(found))

    def _policy_of(self, namespace: str, labels: dict[str, str]) -> IngressPolicy | None:
        """The first policy that selects a pod with these labels, when every one that does limits
        its sources (policies add up: one that admits everyone opens the pod)."""
        first: IngressPolicy | None = None
        for key in [("", ""), *labels.items()]:
            for candidate in self.policies.get((namespace, key[0], key[1]), ()):
                self._spend(1 + len(candidate.selector))
                if all(labels.get(k) == v for k, v in candidate.selector):
                    if not candidate.limits:
                        return None
                    first = first or candidate
        return first

    def _fold(self, chosen: Selection, template: PodTemplate) -> None:
        self._spend(1 + len(template.ports))
        chosen.workloads.append(template.workload)
        chosen.ports_known &= template.ports_known
        chosen.all_declare &= bool(template.ports)
        for port in template.ports:
            chosen.names.setdefault((port.name, port.protocol), port)
            chosen.numbers.setdefault((port.number, port.protocol), port)
            if len(chosen.declared) <= SHOWN:
                chosen.declared.append(_declared(port))


def join_services(facts: list[Fact]) -> list[Fact]:
    """One scope's facts with each ``ServicePort`` joined to the pod templates it selects.

    ``PodTemplate`` and ``IngressPolicy`` facts are join input only and do not go further.
    """
    templates = [f for f in facts if isinstance(f, PodTemplate)]
    policies = [f for f in facts if isinstance(f, IngressPolicy)]
    services = sum(1 for f in facts if isinstance(f, ServicePort))
    if not services:
        return [f for f in facts if not isinstance(f, (PodTemplate, IngressPolicy))]
    join = ServiceJoin(templates, BUDGET + BUDGET_PER_FACT * len(facts), policies)
    out: list[Fact] = []
    first_unjoined: ServicePort | None = None
    for f in facts:
        if isinstance(f, (PodTemplate, IngressPolicy)):
            continue
        if isinstance(f, ServicePort):
            f = joined(f, join)
            if first_unjoined is None and f.join_reason == OVER_BUDGET:
                first_unjoined = f
        out.append(f)
    if first_unjoined is not None:
        why = f"Service-to-pod join stopped: {OVER_BUDGET}; later Service ports are not checked"
        out.append(Unresolved(first_unjoined.service, why, first_unjoined.location))
    return out


OVER_BUDGET = "too many selectors match too many pod templates in this scope"


def joined(sp: ServicePort, join: ServiceJoin) -> ServicePort:
    """``sp`` with what its selector picks, where its target port leads, the sensitive service
    there, and the NetworkPolicy that limits who reaches it."""
    sp, port = _joined(sp, join)
    if port is not None:
        found = sensitive.classify_port(
            port.image, PortRange.single(port.number), port.protocol.lower(), "container port"
        )
    else:
        found = _by_target(sp)
    if found is not None:
        sp = replace(sp, sensitive=_behind(found, sp))
    if sp.selector and sp.join in REACHING:
        chosen = join.select(sp.k8s_namespace, sp.selector)
        if chosen.complete:
            sp = replace(sp, ingress_limit=join.ingress_limit(sp.k8s_namespace, sp.selector, chosen))
    return sp


REACHING = frozenset({"reached", "undeclared"})


def _by_target(sp: ServicePort) -> Sensitive | None:
    """Without a container port joined: the target port's number alone (no image is known)."""
    if sp.target_port is None or sp.service_type == "ExternalName" or sp.join == "unreached":
        return None
    return sensitive.classify_port("", PortRange.single(sp.target_port), sp.protocol.lower(), "target port")


def _behind(found: Sensitive, sp: ServicePort) -> Sensitive:
    """The basis with the pods that told, when the join reached them."""
    if not sp.reaches or sp.join != "reached":
        return found
    return replace(found, basis=f"the Service reaches {sp.reaches[0]}, and {found.basis}")


def _joined(sp: ServicePort, join: ServiceJoin) -> tuple[ServicePort, ContainerPort | None]:
    """``sp`` with what its selector picks and where its target port leads (the container port, when declared)."""
    if sp.selector is None and sp.selector_known:
        return replace(sp, join="skipped", join_reason="no selector: its endpoints are managed by hand"), None
    if sp.service_type == "ExternalName":
        return replace(
            sp, join="skipped", join_reason="an ExternalName Service is a DNS alias: no endpoints"
        ), None
    if not sp.selector_known or sp.selector is None:
        return _unknown(sp, "its selector is a template or variable"), None
    if sp.target_port is None and not sp.target_name:
        return _unknown(sp, "its targetPort is a template or variable"), None
    chosen = join.select(sp.k8s_namespace, sp.selector)
    if not chosen.complete:
        return _unknown(sp, OVER_BUDGET), None
    if not chosen.workloads:
        why = f"its selector matches no pod template in namespace {sp.k8s_namespace} of this scope"
        return _unknown(sp, why), None
    sp = replace(sp, selects=chosen.selects, declared=tuple(chosen.declared[:SHOWN]))
    if sp.target_name:
        return _named(sp, chosen)
    return _numbered(sp, chosen)


def _named(sp: ServicePort, chosen: Selection) -> tuple[ServicePort, ContainerPort | None]:
    """A named target: FindPort's first container port of that name and protocol, or no endpoint."""
    port = chosen.names.get((sp.target_name, sp.protocol))
    if port is not None:
        return replace(sp, join="reached", reaches=(_reach(port),)), port
    if not chosen.ports_known or chosen.hidden:
        return _unknown(sp, "a template hides the ports or labels of pods it may select"), None
    return replace(
        sp, join="unreached", join_reason="no selected container port has this name and protocol"
    ), None


def _numbered(sp: ServicePort, chosen: Selection) -> tuple[ServicePort, ContainerPort | None]:
    """A numeric target: used as is; a finding only when every selected pod lists its ports."""
    assert sp.target_port is not None
    port = chosen.numbers.get((sp.target_port, sp.protocol))
    if port is not None:
        return replace(sp, join="reached", reaches=(_reach(port),)), port
    if chosen.ports_known and chosen.all_declare and not chosen.hidden:
        why = "no selected container declares this port"
        return replace(
            sp, join="undeclared", join_reason=why, reaches=(f"port {sp.target_port} (undeclared)",)
        ), None
    return replace(
        sp,
        join="reached",
        join_reason="a selected pod declares no ports: the number is used as is",
        reaches=(f"port {sp.target_port}",),
    ), None


def _unknown(sp: ServicePort, why: str) -> ServicePort:
    return replace(sp, join="unknown", join_reason=why)


def _reach(port: ContainerPort) -> str:
    named = f" ({port.name})" if port.name else ""
    return f"{port.workload}/{port.container} {port.protocol}/{port.number}{named}"


def _declared(port: ContainerPort) -> str:
    return f"{port.name} {port.protocol}/{port.number}" if port.name else f"{port.protocol}/{port.number}"


def _shown(listed: list[str]) -> tuple[str, ...]:
    if len(listed) <= SHOWN:
        return tuple(listed)
    return (*listed[:SHOWN], f"{len(listed) - SHOWN} more")
