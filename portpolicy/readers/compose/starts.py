"""What a service's container runs: ``entrypoint:``, ``command:``, ``environment:`` and ``image:``.

The ports its program binds by flag, variable or built-in default are ``portpolicy.apps``'s
(``data/apps.yml``); this module only reads the service's keys into an ``apps.Start``.
``command:`` without ``entrypoint:`` is arguments to the image's own entrypoint (Compose
replaces the image's CMD only), so the image's program reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from portpolicy.model import Evidence, Fact, PortSet, RunAs
from portpolicy.readers.base import is_templated
from portpolicy.readers.compose.services import Services
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, is_null, items, seq

if TYPE_CHECKING:
    from portpolicy.apps import EnvValue, Start

MAX_ENTRIES = 4096
"""Environment entries read per service; a longer list is read up to here."""


def service_listeners(
    doc: Services,
    name: str,
    svc: MappingNode,
    run_as: RunAs,
    netns: str,
    covered: Mapping[str, PortSet],
    evidence: tuple[Evidence, ...],
    image: str,
) -> Iterator[Fact]:
    """The sockets the service's program binds that its ``ports``/``expose`` do not declare."""
    entrypoint, command = doc.attr(svc, "entrypoint"), doc.attr(svc, "command")
    image_node = doc.attr(svc, "image")
    if is_null(entrypoint) and is_null(command) and not image:
        return
    from portpolicy import apps

    start = _start(doc, svc, entrypoint, command, image_node, image, covered)
    if start is None:
        return
    scope = apps.Scope(name, run_as, f"services.{name}", netns=netns, evidence=evidence)
    yield from apps.listeners(start, scope)


def _start(
    doc: Services,
    svc: MappingNode,
    entrypoint: Node | None,
    command: Node | None,
    image_node: Node | None,
    image: str,
    covered: Mapping[str, PortSet],
) -> Start | None:
    from portpolicy import apps

    words: list[str] = []
    cut = False
    for node in (entrypoint, command):
        part, part_cut = _words(doc, node)
        words.extend(part)
        cut = cut or part_cut
    where_node = next((n for n in (command, entrypoint, image_node) if not is_null(n)), None)
    if where_node is None:
        return None
    bounded, more = apps.bounded(words)
    return apps.Start(
        bounded,
        doc.loc(where_node),
        _environment(doc, svc),
        image=image,
        image_location=doc.loc(image_node) if image_node is not None else None,
        truncated=cut or more,
        declared=dict(covered),
        words_are_args=is_null(entrypoint),
        env_unknown=not is_null(doc.attr(svc, "env_file")),
    )


def _words(doc: Services, node: Node | None) -> tuple[list[str], bool]:
    """A command as its words: a list as written, a string split as a shell would."""
    from portpolicy import apps

    if is_null(node) or node is None:
        return [], False
    if isinstance(node, SequenceNode):
        out: list[str] = []
        for item in seq(node)[: apps.MAX_WORDS + 1]:
            value = doc.value(item)
            if value is not None and value.known:
                out.append(value.text)
            elif value is not None and is_templated(value.raw) and "$" not in value.raw:
                out.append(value.raw)  # a Jinja template (``{{ ip }}:9100``): the program table decides
            else:
                out.append("$UNKNOWN")
        return out, len(seq(node)) > apps.MAX_WORDS
    value = doc.value(node)
    if value is None or not value.known:
        return [], False
    words, cut = apps.split_command(value.text)
    return list(words), cut


def _environment(doc: Services, svc: MappingNode) -> dict[str, EnvValue]:
    """``environment:`` in its map or ``KEY=value`` list form; a value not known is None."""
    from portpolicy.apps import EnvValue

    node = doc.attr(svc, "environment")
    env: dict[str, EnvValue] = {}
    if isinstance(node, MappingNode):
        for i, (key, _, value_node) in enumerate(items(node)):
            if i >= MAX_ENTRIES:
                break
            value = doc.value(value_node) if not is_null(value_node) else None
            known = value.text if value is not None and value.known else None
            env[key] = EnvValue(known, doc.loc(value_node if not is_null(value_node) else node))
    elif isinstance(node, SequenceNode):
        for item in seq(node)[:MAX_ENTRIES]:
            value = doc.value(item)
            if value is None:
                continue
            key, eq, text = value.text.partition("=")
            known = text if eq and value.known else None  # `- KEY` alone: from the host, not known
            env[key.strip()] = EnvValue(known, value.location)
    return env
