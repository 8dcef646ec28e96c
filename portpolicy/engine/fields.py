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
