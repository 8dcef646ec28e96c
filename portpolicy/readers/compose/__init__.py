"""Docker Compose files: published ports, container ports, users, capabilities, sysctls.

Each service with its own network namespace is declared as ``container:<service>``. A
published port gives two listeners: the host side, bound by the container runtime in the
host namespace, and the container side, bound by the service's process in the container's
namespace. Port strings follow the Compose specification and ``docker/go-connections``
``nat.ParsePortSpec`` (the parser Compose uses); values are interpolated the way Compose
does it (``portpolicy.readers.dotenv``), with defaults taken and unknown variables reported as
``Unresolved``.

A service fragment (a mapping of service names to service bodies with ``image``/``build``,
no ``services:``; a tool merges it into the real compose file) is read as the services of a
project of its own. A file that uses variables is read at once without a ``.env``; ``join``
then reads it again with the ``.env`` of its folder (the project directory), if there is one.

The package splits the reader by job: ``shape`` (names, keys, ``claims``), ``values``
(interpolation), ``services`` (``extends``), ``document`` (a document's services),
``ports``, ``namespaces`` (network modes, sysctls), ``users``, ``mounts`` (build context,
bind mounts, configs) and ``project`` (the ``.env`` and ``join``).
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Fact, ParseError
from portpolicy.readers.base import Source, mask_inline_jinja
from portpolicy.readers.compose.namespaces import KERNEL_KEYS
from portpolicy.readers.compose.project import Entry, Pending, _with_pending, assemble
from portpolicy.readers.compose.projects import join
from portpolicy.readers.compose.shape import FORMAT, NAME, SERVICE_KEYS, TOP_LEVEL_KEYS, claims
from portpolicy.readers.compose.values import _interpolate
from portpolicy.signatures import compose as signature
from portpolicy.yamlnodes import Node, YamlError, compose_documents

__all__ = [
    "FORMAT",
    "KERNEL_KEYS",
    "NAME",
    "SERVICE_KEYS",
    "TOP_LEVEL_KEYS",
    "Entry",
    "Pending",
    "_interpolate",
    "assemble",
    "claims",
    "join",
    "matches",
    "read",
    "read_yaml",
    "sniff",
]


def matches(path: str) -> bool:
    """Compose's default file names (and their ``.j2`` templates) are compose files by name."""
    return signature.named(path)


def sniff(text: str) -> bool:
    """Cheap text test before any YAML is composed: ``services``, or a service fragment's shape."""
    return signature.looks(text)


def read(source: Source) -> Iterator[Fact | Pending]:
    """Compose a compose file (a ``.j2`` template with its Jinja masked) and read it."""
    text = source.masked
    placeholders: dict[str, str] = {}
    if source.template:
        text, placeholders = mask_inline_jinja(text, "$J")
    try:
        docs = compose_documents(text)
    except YamlError as exc:
        yield ParseError(f"invalid YAML: {exc}", source.at(exc.line, exc.column))
        return
    yield from _with_pending(source, docs, placeholders, by_name=True)


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Fact | Pending]:
    """Read already composed documents of a file that ``claims`` accepted."""
    yield from _with_pending(source, docs, {}, by_name=False)
