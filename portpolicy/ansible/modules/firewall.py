"""Firewall modules (ansible.posix.firewalld, community.general.ufw, ansible.builtin.iptables):
their arguments become ``FirewallRule`` facts.

Arguments follow the modules' own documentation. A call that removes something
(``state: absent``/``disabled``, ufw ``delete``) declares no port. Where a port value cannot
be resolved, the fact is ``Unresolved`` with the reason, never a guess.

Each function turns one call's arguments into facts (``Emit``), without the play's
context; ``as_handler`` makes it an entry of the handler table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from portpolicy.ansible.args import Arg, Resolved
from portpolicy.ansible.context import Ctx, ModuleCall
from portpolicy.ansible.jinja import Unknown, to_string
from portpolicy.model import Evidence, Fact, FirewallRule, Location, PortRange, Posture, Unresolved
from portpolicy.readers import firewall_cmd, firewalld_catalogue
from portpolicy.readers.base import PROTOCOLS, parse_port_range, shown
from portpolicy.readers.netfilter import RUNTIME_CHAIN


@dataclass
class Emit:
    """What a module call produced: (reader name, fact) pairs and how many values were resolved."""

    facts: list[tuple[str, Fact]] = field(default_factory=list)
    resolved: int = 0

    def add(self, fact: Fact, reader: str = "ansible") -> None:
        self.facts.append((reader, fact))


def _unresolved(arg: Arg, what: str, exc: Unknown) -> Unresolved:
    return Unresolved(_raw(arg), f"{what}: {exc.reason}", arg.location)


def _names_service(text: str) -> bool:
    """ufw reads a port that starts with a letter as an /etc/services name (``ssh``).

    Only an ASCII letter: ``²`` or ``٨٠`` are not names, and not port numbers either
    (``str.isdigit`` accepts them, so the port parser says why they are invalid).
    """
    return text[:1].isascii() and text[:1].isalpha()


def _raw(arg: Arg) -> str:
    return arg.raw if isinstance(arg.raw, str) else json.dumps(arg.raw, default=str)


def _protocol(text: str | None) -> str:
    value = (text or "").strip().lower()
    return value if value in PROTOCOLS else "any"


def _ports(out: Emit, text: str, where: Location, context: str, sep: str) -> PortRange | None:
    """``text`` as a port range; an invalid or unresolved value is emitted and gives None."""
    rng = parse_port_range(text, where, context, sep=sep)
    if rng is not None and not isinstance(rng, PortRange):
        out.add(rng)
    return rng if isinstance(rng, PortRange) else None


def _text(a: Resolved, out: Emit, module: str, arg: Arg) -> str | None:
    """An argument's resolved text; when it cannot be resolved, that is emitted and None returned."""
    try:
        return a.text(arg.name) or ""
    except Unknown as exc:
        out.add(_unresolved(arg, f"{module} {arg.name}", exc))
        return None


_FAILED = PortRange(0, 0)
"""Returned by ``_source_ports`` when the argument gave no usable range (its fact is emitted)."""


def _source_ports(a: Resolved, out: Emit, module: str, name: str) -> PortRange | None:
    """A source-port argument (``from_port``, ``source_port``) as a range; None when absent."""
    arg = a.get(name)
    if arg is None:
        return None
    text = _text(a, out, module, arg)
    if text is None:
        return _FAILED
    rng = _ports(out, text, arg.location, f"{module} {name}", ":")
    return _FAILED if rng is None else rng


# --------------------------------------------------------------------------- firewalld


def firewalld(a: Resolved, out: Emit, module: str) -> None:
    state = a.known("state")
    if state is None or str(state).lower() != "enabled":
        return  # disabled removes, present/absent manage zones, unknown state: no claim
    zone = a.known("zone") or ""
    port = a.get("port")
    if port is not None:
        text = _text(a, out, module, port)
        if text is None:
            return
        number, _, proto = text.partition("/")
        rng = _ports(out, number, port.location, f"{module} port", "-")
        if rng is None:
            return
        out.resolved += port.templated
        out.add(
            FirewallRule(
                "firewalld",
                "in",
                "accept",
                _protocol(proto),
                rng,
                port.location,
                ruleset_stateful=True,
                chain=str(zone),
                evidence=a.evidence(port),
            )
        )
        return
    rich = a.get("rich_rule")
    if rich is not None:
        text = _text(a, out, module, rich)
        if text is None:
            return
        fact = firewall_cmd.rich_rule(text, rich.location, str(zone), a.evidence(rich))
        if fact is not None:
            out.resolved += rich.templated and isinstance(fact, FirewallRule)
            out.add(fact)
        return
    service = a.get("service")
    if service is not None:
        _firewalld_service(a, out, module, service, str(zone))


def _firewalld_service(a: Resolved, out: Emit, module: str, service: Arg, zone: str) -> None:
    """``service: samba-dc``: the ports of firewalld's own service catalogue (a service defined
    on the host itself may differ, which the files cannot show: the evidence says where they came from)."""
    name = _text(a, out, module, service)
    if name is None:
        return
    ports = firewalld_catalogue.service_ports(name)
    if ports is None:
        out.add(
            Unresolved(
                name, f"{module} service {shown(name)!r} is not in firewalld's catalogue", service.location
            )
        )
        return
    release = firewalld_catalogue.catalogue()[0]
    for proto, rng in ports:
        note = Evidence(service.location, f"firewalld {release} service {name}: {rng}/{proto}")
        out.add(
            FirewallRule(
                "firewalld",
                "in",
                "accept",
                proto,
                rng,
                service.location,
                ruleset_stateful=True,
                chain=zone,
                service=name,
                evidence=(*a.evidence(service), note),
            )
        )


# --------------------------------------------------------------------------- ufw

_UFW_ACTIONS = {"allow": "accept", "limit": "accept", "deny": "drop", "reject": "reject"}
_UFW_DIRECTIONS = {"in": "in", "incoming": "in", "out": "out", "outgoing": "out", "routed": "forward"}


def ufw(a: Resolved, out: Emit, module: str) -> None:
    if a.flag("delete") is not False:
        return  # delete: yes removes a rule; unknown: no claim
    rule = a.known("rule")
    if rule is None:
        _ufw_default(a, out)
    if rule is None or str(rule).lower() not in _UFW_ACTIONS:
        return  # state, default policy or logging only
    direction = _UFW_DIRECTIONS.get(str(a.known("direction", default="in") or "in").lower())
    if direction is None:
        return
    proto = _protocol(a.known("proto", "protocol"))
    sources = a.known("from_ip", "src", "from", default="any")
    src = () if str(sources) in ("any", "") else (str(sources),)
    source_ports = _source_ports(a, out, module, "from_port")
    if source_ports is _FAILED:
        return
    port = a.get("to_port", "port")
    port_texts: list[str | None] = [None]
    if port is not None:
        try:
            value = a.value("to_port", "port")
        except Unknown as exc:
            out.add(_unresolved(port, f"{module} port", exc))
            return
        if value is not None:
            port_texts = [p.strip() for p in to_string(value).split(",") if p.strip()]
    for port_text in port_texts:
        ports: PortRange | None = None
        where = port.location if port is not None else a.args["rule"].location
        if port_text is not None and port is not None:
            if _names_service(port_text):
                # ufw takes service names from /etc/services ("ssh"): not looked up here
                out.add(Unresolved(port_text, f"{module} port names a service, not a number", port.location))
                continue
            ports = _ports(out, port_text, port.location, f"{module} port", ":")
            if ports is None:
                continue
            out.resolved += port.templated
        action = _UFW_ACTIONS[str(rule).lower()]
        out.add(
            FirewallRule(
                "ufw",
                direction,
                action,
                proto,
                ports,
                where,
                source_ports=source_ports,
                sources=src,
                ruleset_stateful=True,
                interface=str(a.known("interface", "if") or ""),
                evidence=a.evidence(port),
            )
        )


_UFW_POLICIES = {"allow": "accept", "deny": "drop", "reject": "reject"}
_UFW_CHAINS = {"in": "default incoming", "out": "default outgoing", "forward": "default routed"}


def _ufw_default(a: Resolved, out: Emit) -> None:
    """``default: deny`` (alias ``policy``) with ``direction: incoming`` (ufw's default direction):
    a policy fact, as ``/etc/default/ufw`` gives one."""
    arg = a.get("default", "policy")
    action = _UFW_POLICIES.get(str(a.known("default", "policy") or "").lower())
    direction = _UFW_DIRECTIONS.get(str(a.known("direction", default="incoming") or "").lower())
    if arg is None or action is None or direction is None:
        return
    out.add(
        FirewallRule(
            "ufw",
            direction,
            action,
            "any",
            None,
            arg.location,
            chain=_UFW_CHAINS[direction],
            service="policy",
            ruleset_stateful=True,
        )
    )


# --------------------------------------------------------------------------- iptables

_CHAINS = {"INPUT": "in", "OUTPUT": "out", "FORWARD": "forward"}
_JUMPS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject"}


def iptables(a: Resolved, out: Emit, module: str) -> None:
    if str(a.known("state", default="present")).lower() != "present":
        return
    if str(a.known("table", default="filter") or "filter") != "filter":
        return
    chain = a.known("chain")
    jump = a.known("jump")
    if chain == RUNTIME_CHAIN:
        _docker_user(a, out, str(jump or ""))
        return
    if chain in _CHAINS and jump is None:
        _iptables_policy(a, out, str(chain))
    if chain not in _CHAINS or jump is None or str(jump) not in _JUMPS:
        return  # policy, custom chains, LOG/other targets: no opening of their own
    direction, action = _CHAINS[str(chain)], _JUMPS[str(jump)]
    proto = _protocol(a.known("protocol"))
    family = {"ipv4": "ipv4", "ipv6": "ipv6"}.get(str(a.known("ip_version", default="ipv4")), "ipv4")
    source = a.known("source", "src")
    sources = (str(source),) if source and not str(source).startswith("!") else ()
    ctstate = a.known("ctstate", default=[]) or []
    states = {
        str(c).strip().upper() for c in (ctstate if isinstance(ctstate, list) else str(ctstate).split(","))
    }
    # only known connections: a rule that also matches NEW admits new connections
    stateful = bool(states) and states <= {"ESTABLISHED", "RELATED"}
    source_ports = _source_ports(a, out, module, "source_port")
    if source_ports is _FAILED:
        return
    port_arg = a.get("destination_port", "destination_ports")
    port_texts: list[str | None] = [None]
    if port_arg is not None:
        try:
            value = a.value(port_arg.name)
        except Unknown as exc:
            out.add(_unresolved(port_arg, f"{module} {port_arg.name}", exc))
            return
        if value is not None:
            values = value if isinstance(value, list) else [value]
            port_texts = [to_string(v) for v in values] or [None]
    for port_text in port_texts:
        dports: PortRange | None = None
        where = port_arg.location if port_arg is not None else a.args["jump"].location
        if port_text is not None and port_arg is not None:
            dports = _ports(out, port_text, port_arg.location, f"{module} {port_arg.name}", ":")
            if dports is None:
                continue
            out.resolved += port_arg.templated
        out.add(
            FirewallRule(
                "iptables",
                direction,
                action,
                proto,
                dports,
                where,
                source_ports=source_ports,
                sources=sources,
                family=family,
                stateful=stateful,
                chain=str(chain),
                interface=str(a.known("in_interface") or ""),
                evidence=a.evidence(port_arg),
            )
        )


def _iptables_policy(a: Resolved, out: Emit, chain: str) -> None:
    """``chain: INPUT`` with ``policy: DROP``: the chain's policy, as ``-P INPUT DROP``."""
    arg = a.get("policy")
    action = {"ACCEPT": "accept", "DROP": "drop"}.get(str(a.known("policy") or "").upper())
    if arg is None or action is None:
        return
    family = {"ipv4": "ipv4", "ipv6": "ipv6"}.get(str(a.known("ip_version", default="ipv4")), "ipv4")
    out.add(
        FirewallRule(
            "iptables",
            _CHAINS[chain],
            action,
            "any",
            None,
            arg.location,
            family=family,
            chain=chain,
            service="policy",
        )
    )


def _docker_user(a: Resolved, out: Emit, jump: str) -> None:
    """A drop or reject in ``DOCKER-USER`` whatever the source (a listed source is a blocklist):
    published ports meet it before Docker's own rules."""
    arg = a.get("jump")
    source = str(a.known("source", "src") or "")
    if arg is None or jump.upper() not in ("DROP", "REJECT") or (source and not source.startswith("!")):
        return
    why = f"Ansible iptables rule in chain {RUNTIME_CHAIN} {_JUMPS[jump.upper()]}s forwarded traffic before Docker's own rules"
    out.add(Posture("runtime", "filtered", why, arg.location))


FirewallModule = Callable[[Resolved, Emit, str], None]
"""Arguments, where the facts go, and the module's name as written (for messages)."""


def as_handler(module: FirewallModule) -> Callable[[Ctx, ModuleCall], None]:
    """A handler that runs ``module`` on a call and adds what it emitted to the play's output."""

    def handle(ctx: Ctx, call: ModuleCall) -> None:
        emit = Emit()
        module(call.args, emit, call.module)
        ctx.out.facts.extend(emit.facts)
        ctx.out.resolved += emit.resolved

    return handle
