"""What a pod container runs: ``command``, ``args``, ``env`` and ``image``.

The ports its program binds by flag, variable or built-in default are ``portpolicy.apps``'s
(``data/apps.yml``); this module only reads the container's keys into an ``apps.Start``.
``command`` replaces the image's ENTRYPOINT and ``args`` its CMD; ``$(NAME)`` in them expands
from the container's ``env`` as the kubelet does. Only literal ``value:`` variables are known;
``valueFrom`` is known at run time only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from portpolicy.model import Evidence, Fact, PortSet, RunAs
from portpolicy.readers.kubernetes.manifest import Manifest
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, get, is_null, seq

if TYPE_CHECKING:
    from portpolicy.apps import EnvValue

MAX_ENTRIES = 4096
"""``env`` entries read per container; a longer list is read up to here."""
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def container_listeners(
    m: Manifest,
    container: MappingNode,
    service: str,
    run_as: RunAs,
    netns: str,
    source: str,
    evidence: tuple[Evidence, ...],
    image: str,
    declared: Mapping[str, PortSet],
) -> Iterator[Fact]:
    """The sockets the container's program binds that its ``ports`` do not declare."""
    command, args, image_node = get(container, "command"), get(container, "args"), get(container, "image")
    if is_null(command) and is_null(args) and not image:
        return
    from portpolicy import apps

    env = _environment(m, container)
    words, cut = apps.bounded([*_words(m, command, env), *_words(m, args, env)])
    where: Node = next(
        (n for n in (command, args, image_node) if n is not None and not is_null(n)), container
    )
    start = apps.Start(
        words,
        m.loc(where),
        env,
        image=image,
        image_location=m.loc(image_node) if image_node is not None else None,
        truncated=cut or len(seq(command)) + len(seq(args)) > apps.MAX_WORDS,
        declared=dict(declared),
        words_are_args=is_null(command),
    )
    yield from apps.listeners(start, apps.Scope(service, run_as, source, netns=netns, evidence=evidence))


def _words(m: Manifest, node: Node | None, env: Mapping[str, EnvValue]) -> list[str]:
    from portpolicy import apps

    if not isinstance(node, SequenceNode):
        return []
    out: list[str] = []
    for item in seq(node)[: apps.MAX_WORDS + 1]:
        value = m.value(item)
        if value is None or not value.known:
            out.append("$UNKNOWN")
            continue
        out.append(_REFERENCE.sub(lambda ref: _known(env, ref), value.raw))
    return out


def _known(env: Mapping[str, EnvValue], ref: re.Match[str]) -> str:
    found = env.get(ref.group(1))
    return found.value if found is not None and found.value is not None else ref.group(0)


def _environment(m: Manifest, container: MappingNode) -> dict[str, EnvValue]:
    """``env:`` entries: a literal ``value`` is known, ``valueFrom`` is not."""
    from portpolicy.apps import EnvValue

    env: dict[str, EnvValue] = {}
    for entry in seq(get(container, "env"))[:MAX_ENTRIES]:
        if not isinstance(entry, MappingNode):
            continue
        name = m.value(get(entry, "name"))
        if name is None or not name.known:
            continue
        value_node = get(entry, "value")
        value = m.value(value_node)
        known = value.raw if value is not None and value.known and not m.uncertain(value_node) else None
        if value_node is None and get(entry, "valueFrom") is None:
            known = ""  # `value` left out is the empty string
        env[name.text] = EnvValue(known, m.loc(value_node if value_node is not None else entry))
    return env
