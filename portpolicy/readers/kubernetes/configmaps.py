"""ConfigMaps: files in waiting, and the containers that mount them.

Each ``data`` key becomes an ``Embedded`` text (padded to the manifest's lines), and a
container that mounts a ConfigMap volume (``mountPath``, ``subPath``, ``items``, ``projected``
sources) gives a ``Mount`` that names the ConfigMap (and key). ``deployed`` joins the two and
reads each key as what its mount path makes it (``nginx.conf`` at ``/etc/nginx/nginx.conf``).
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Mount
from portpolicy.readers.base import LINE_BREAK
from portpolicy.readers.kubernetes.manifest import Manifest
from portpolicy.virtual import CONFIGMAP, Embedded, embed
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, get, is_null, items, seq

ConfigSources = dict[str, list[tuple[str, list[tuple[str, str]] | None]]]
"""Per pod volume name: the ConfigMaps it projects, each with its ``items`` (key, path) or None (all keys)."""


def read_config_map(m: Manifest, doc: MappingNode) -> Iterator[Embedded]:
    """Each ``data`` key as an embedded file (``binaryData`` is never a config we read)."""
    namespace, name = m.names(doc)
    owner = f"{CONFIGMAP}{namespace}/{name}"
    for key, key_node, node in items(get(doc, "data")):
        if not isinstance(node, ScalarNode) or m.is_template_node(node):
            continue
        yield embedded_key(m, owner, key, key_node, node)


def embedded_key(m: Manifest, owner: str, key: str, key_node: Node, node: ScalarNode) -> Embedded:
    """A key's text where it is written: a literal block (``|``, what ``kubectl`` writes for a
    file) keeps its lines and columns; any other style starts on the key's line and its
    later lines are counted from there (a quoted ``\\n`` has no line of its own)."""
    value = str(node.value)
    if node.style == "|":
        offset = node.start_mark.line + 1
        text, lines = embed(value, offset, block_indent(m, offset, node.end_mark.line))
    else:
        text, lines = embed(value, key_node.start_mark.line, 0)
    return Embedded(m.source.path, owner, key, text, lines, m.loc(key_node))


def block_indent(m: Manifest, first: int, end: int) -> int:
    """The indentation of a literal block: that of its first line with content."""
    for line in LINE_BREAK.split(m.text, end + 1)[first : end + 1]:
        if line.strip():
            return len(line) - len(line.lstrip(" "))
    return 0


def config_volumes(m: Manifest, spec: Node, namespace: str) -> ConfigSources:
    """The pod's volumes that hold ConfigMaps (``configMap``, or ``projected`` sources)."""
    found: ConfigSources = {}
    for volume in seq(get(spec, "volumes")):
        name = m.value(get(volume, "name"))
        if name is None or not name.known:
            continue
        sources = [get(volume, "configMap")]
        sources += [get(s, "configMap") for s in seq(m.path(volume, ("projected", "sources")))]
        for cm in sources:
            cm_name = m.value(get(cm, "name"))
            if cm is None or cm_name is None or not cm_name.known:
                continue
            chosen = config_items(m, get(cm, "items"))
            found.setdefault(name.text, []).append((f"{namespace}/{cm_name.text}", chosen))
    return found


def config_items(m: Manifest, node: Node | None) -> list[tuple[str, str]] | None:
    """``items``: the keys projected and the relative path each gets; None (all keys) when absent."""
    if node is None or is_null(node):
        return None
    chosen = []
    for item in seq(node):
        key, path = m.value(get(item, "key")), m.value(get(item, "path"))
        if key is not None and path is not None and key.known and path.known:
            chosen.append((key.text, path.text))
    return chosen


def config_mounts(m: Manifest, container: MappingNode, volumes: ConfigSources) -> Iterator[Mount]:
    """``volumeMounts`` of ConfigMap volumes, naming the ConfigMap (and key) for ``deployed``."""
    for entry in seq(get(container, "volumeMounts")):
        name, where = m.value(get(entry, "name")), m.value(get(entry, "mountPath"))
        sub = m.value(get(entry, "subPath"))
        if name is None or where is None or not (name.known and where.known) or name.text not in volumes:
            continue
        if sub is not None and not sub.known:
            continue
        for owner, chosen in volumes[name.text]:
            ref = f"{CONFIGMAP}{owner}"
            if sub is not None and sub.text:
                key = next((k for k, p in chosen or () if p == sub.text), None if chosen else sub.text)
                if key is not None:
                    yield Mount(f"{ref}:{key}", where.text, where.location, "mounted")
            elif chosen is not None:
                for key, path in chosen:
                    target = where.text.rstrip("/") + "/" + path
                    yield Mount(f"{ref}:{key}", target, where.location, "mounted")
            else:
                yield Mount(ref, where.text.rstrip("/") + "/", where.location, "mounted")
