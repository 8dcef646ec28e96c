"""Recognition of Docker's daemon config, ``/etc/docker/daemon.json``: by its exact place.

JSON is skipped by suffix (``recognise.NOT_CONFIG_SUFFIXES``); this one file is let through by
name (``recognise.CONFIG_BY_NAME``), as its ``"iptables"`` and ``"ip"`` keys decide whether
published ports bypass the host firewall. A JSON object is all the shape it needs; no content
claims a file of another name.
"""

from __future__ import annotations

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

FOLDERS = frozenset({"docker"})
"""The folder ``daemon.json`` lives in (``/etc/docker``; rootless: ``~/.config/docker``)."""
_OBJECT = lazy(r"\s*\{")


def named(rel: str) -> bool:
    """``docker/daemon.json`` (or its template) in any tree."""
    parts = rel.split("/")
    name = parts[-1].removesuffix(".j2")
    return name == "daemon.json" and len(parts) >= 2 and parts[-2] in FOLDERS


def shaped(text: str) -> bool:
    """A JSON object (its first character that is no blank opens one)."""
    return _OBJECT.match(text) is not None


SIGNATURE = Signature(
    "dockerd",
    "portpolicy.readers.dockerd",
    "a Docker daemon.json",
    named,
    shaped=shaped,
    comments=(),
    role="host",
    scope="directory",
)
