"""Platform and container-runtime tables, loaded once from ``portpolicy/data``."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from portpolicy.model import PortRange
from portpolicy.records import record


@record
class Platform:
    name: str
    description: str
    ephemeral: PortRange
    unprivileged_port_start: int
    kernel_sysctl: bool


@record
class Runtime:
    name: str
    description: str
    container_unprivileged_port_start: int | None
    start_known: bool
    publishes_as_root: bool


def _table(name: str) -> dict[str, Any]:
    text = resources.files("portpolicy.data").joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


@cache
def platforms() -> dict[str, Platform]:
    return {
        name: Platform(
            name,
            d["description"],
            PortRange(*d["ephemeral"]),
            d["unprivileged_port_start"],
            d["kernel_sysctl"],
        )
        for name, d in _table("platforms.yml").items()
    }


@cache
def runtimes() -> dict[str, Runtime]:
    result = {}
    for name, d in _table("runtimes.yml").items():
        start = d["container_unprivileged_port_start"]
        result[name] = Runtime(
            name,
            d["description"],
            start if isinstance(start, int) else None,
            start != "unknown",
            d["publishes_as_root"],
        )
    return result


@record
class Portability:
    """Where a container namespace's limit is lowered and where the kernel's default stays."""

    limit: int
    lowered_by: tuple[str, ...]
    kept_by: tuple[str, ...]


@cache
def portability() -> Portability:
    """``data/portability.yml``: what a bind below 1024 depends on when no runtime is configured."""
    d = _table("portability.yml")
    return Portability(d["limit"], tuple(d["lowered_by"]), tuple(d["kept_by"]))


def in_words(names: tuple[str, ...]) -> str:
    """``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
