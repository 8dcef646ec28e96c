"""What a rule may name on a fact: the fact kinds, field paths and the types conditions share.

A path is checked when the rule loads (a typo must not silently never match) and resolved
when it runs, on a dataclass fact, a mapping or a join's ``other`` candidate.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from portpolicy.model import (
    ContainerPort,
    FirewallRule,
    InvalidPort,
    KernelSetting,
    Listener,
    ParseError,
    PortPool,
    ServicePort,
    SuppressionComment,
    Unresolved,
    YamlAmbiguity,
)

FACT_CLASSES: dict[str, type] = {
    "listener": Listener,
    "kernel_setting": KernelSetting,
    "invalid_port": InvalidPort,
    "parse_error": ParseError,
    "firewall_rule": FirewallRule,
    "port_pool": PortPool,
    "unresolved": Unresolved,
    "suppression": SuppressionComment,
    "service_port": ServicePort,
    "container_port": ContainerPort,
    "yaml_ambiguity": YamlAmbiguity,
}

Binding = dict[str, Any]
Condition = Callable[[Any, Binding], "Binding | None"]
Getter = Callable[[Any, Binding], Any]
Choices = tuple[tuple[Condition, str], ...]
"""(condition, template) pairs: the first whose condition holds gives the text."""


def resolve(obj: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part, None)
    return obj


def check_path(path: str, fact: str, join_fact: str | None) -> None:
    """Reject a path whose first name the fact does not have: a typo must not silently never match."""
    head, _, rest = path.partition(".")
    kind = fact
    if head == "other":
        if join_fact is None:
            raise ValueError(f"'{path}' uses 'other.' outside an exists join")
        kind, head = join_fact, rest.partition(".")[0]
    names = field_names(kind)
    if names is not None and head not in names:
        raise ValueError(f"fact '{kind}' has no field '{head}' (in '{path}')")


@functools.cache
def field_names(kind: str) -> frozenset[str] | None:
    """What a rule may name on a fact kind (fields and public attributes); None for an unknown kind."""
    cls = FACT_CLASSES.get(kind)
    if cls is None:
        return None
    return frozenset(
        {f.name for f in dataclasses.fields(cls)} | {n for n in dir(cls) if not n.startswith("_")}
    )


SUBJECTS: dict[str, tuple[str, ...]] = {
    "listener": ("ports",),
    "firewall_rule": ("direction", "action", "port_text"),
    "kernel_setting": ("key",),
    "port_pool": ("name", "ports"),
    "invalid_port": ("value",),
    "container_port": ("protocol", "number"),
    "service_port": ("protocol", "port"),
}
"""What a finding is about on each fact kind, besides its place: the socket's ports, the
firewall opening (direction, verdict, ports), the kernel key, the pool, the bad value, the
Kubernetes port. The engine keeps one finding per rule, place and subject, so each item of an
Ansible loop (which all share the task's line) with another port keeps its own finding, while
one fact repeated at a place (a file included twice) stays one. The protocol, the service and
the address are left out: one line's tcp/53 and udp/53 (``-dns.port=53``, a firewalld ``dns``
service), one variable's port that two services bind, or one template line that binds each
host's own address, are one value to fix there, and say so once.
Kinds not listed (parse errors, unresolved values, YAML ambiguities) have no subject: one
finding per rule and place, as a place says all there is about them."""


def subject(fact: Any) -> str:
    """The text of ``fact``'s subject (``SUBJECTS``); "" for a kind without one."""
    names = SUBJECTS.get(getattr(fact, "kind", ""), ())
    return " ".join(str(getattr(fact, name, "")) for name in names)
