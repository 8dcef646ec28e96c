"""One manifest file's values as Kubernetes reads them: scalars, booleans, ports, protocols.

A ``Manifest`` holds the documents' text (a template's masked text), the template placeholders
to restore in values shown, and the lines only some renderings keep. A Helm ``{{ }}`` left
unquoted composes as a flow mapping: it is a placeholder, an unknown value, never a guess.
Numbers are YAML 1.1 integers (``sigs.k8s.io/yaml``), booleans its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portpolicy.model import Fact, InvalidPort, Location, Unresolved
from portpolicy.readers.base import MAX_DIGITS, Source, ascii_int, is_templated, shown
from portpolicy.virtual import Embedded
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, get, is_null, items, location, scalar

PROTOCOLS = ("TCP", "UDP", "SCTP")

_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1, as sigs.k8s.io/yaml reads it
_FALSE = frozenset({"false", "no", "off", "n"})
_PLACEHOLDER = re.compile(r"_T[0-9]+_+")
_YAML11_INTS = (
    (re.compile(r"[-+]?0x[0-9a-fA-F]+"), 16),
    (re.compile(r"[-+]?0[0-7]+"), 8),
    (re.compile(r"[-+]?[0-9]+"), 10),
)

Record = Fact | Embedded
"""What this reader yields: facts, and ConfigMap keys for ``deployed``."""


def is_object(doc: Node) -> bool:
    """A Kubernetes object: a mapping with ``apiVersion`` and a ``kind``."""
    keys = {key: value for key, _, value in items(doc)}
    return "apiVersion" in keys and scalar(keys.get("kind")) is not None


@dataclass(frozen=True)
class Labels:
    """A label map (a pod template's labels, a Service's selector) as sorted (key, value) pairs.

    ``present`` is False when the map is absent or empty; ``known`` is False when a template,
    a variable or a template conditional hides some of it (``pairs`` then holds the rest).
    """

    pairs: tuple[tuple[str, str], ...] = ()
    present: bool = False
    known: bool = True


@dataclass(frozen=True)
class Value:
    """A scalar as written (``raw``, templates restored) and whether it is known statically."""

    raw: str
    known: bool
    location: Location
    plain: bool = True

    @property
    def text(self) -> str:
        return self.raw.strip()


class Manifest:
    """The objects of one file: where their values are written and what they say."""

    def __init__(
        self, source: Source, text: str, placeholders: dict[str, str], conditional: frozenset[int]
    ) -> None:
        self.source = source
        self.text = text
        """The text the documents were composed from (a template's masked text)."""
        self.placeholders = placeholders
        self.conditional = conditional
        """Lines of a template that only some renderings keep: their settings are not certain."""

    def loc(self, node: Node) -> Location:
        return location(self.source.path, node)

    def is_template_node(self, node: Node | None) -> bool:
        """A Helm ``{{ }}`` left unquoted composes as a flow mapping: it is a placeholder."""
        if node is None or isinstance(node, ScalarNode):
            return False
        index = node.start_mark.index
        return self.text.startswith("{{", index) or self.text.startswith("{%", index)

    def value(self, node: Node | None) -> Value | None:
        """A scalar (or a template placeholder) as a value; None when absent or structured."""
        if node is None or is_null(node):
            return None
        if self.is_template_node(node):
            end = node.end_mark.index
            return Value(self.text[node.start_mark.index : end], False, self.loc(node))
        text = scalar(node)
        if text is None:
            return None
        raw = text
        if self.placeholders and "_T" in text:
            raw = _PLACEHOLDER.sub(lambda m: self.placeholders.get(m.group(0), m.group(0)), text)
        plain = isinstance(node, ScalarNode) and not node.style
        return Value(raw, not is_templated(raw), self.loc(node), plain)

    def uncertain(self, node: Node | None) -> bool:
        """True when the node sits inside a template conditional or loop."""
        return node is not None and node.start_mark.line + 1 in self.conditional

    def flag(self, node: Node | None) -> bool | None:
        """A YAML boolean; None when absent, templated, conditional or not a boolean."""
        val = self.value(node)
        if val is None or not val.known or self.uncertain(node):
            return None
        word = val.text.lower()
        return True if word in _TRUE else False if word in _FALSE else None

    def port(self, node: Node | None, ctx: str, zero_ok: bool) -> int | InvalidPort | Unresolved | None:
        """A port number as Kubernetes reads it (YAML 1.1 integers); None when absent or 0 and allowed."""
        val = self.value(node)
        if val is None:
            if node is not None and not is_null(node):
                assert node is not None
                return InvalidPort("", f"{ctx}: a port must be a number", self.loc(node), ctx)
            return None
        if not val.known:
            return Unresolved(val.raw, f"{ctx} is a template or variable", val.location)
        number = yaml_int(val.text) if val.plain else ascii_int(val.text)
        if number is None:
            return InvalidPort(val.raw, f"{ctx}: {shown(val.raw)!r} is not a port number", val.location, ctx)
        if number == 0 and zero_ok:
            return None
        if not 1 <= number <= 65535:
            return InvalidPort(val.raw, f"{ctx}: port {shown(val.raw)} is outside 1-65535", val.location, ctx)
        return number

    def protocol(self, node: Node | None) -> str | InvalidPort | Unresolved:
        """TCP (default), UDP or SCTP: the API server accepts these upper-case names only."""
        val = self.value(node)
        if val is None:
            return "TCP"
        if not val.known:
            return Unresolved(val.raw, "port protocol is a template or variable", val.location)
        if val.text not in PROTOCOLS:
            why = f"protocol {shown(val.raw)!r} is refused by the API server (TCP, UDP or SCTP, upper case)"
            return InvalidPort(val.raw, why, val.location, "protocol")
        return val.text

    def labels(self, node: Node | None) -> Labels:
        """A label map; a null value is the empty string, as the API server decodes it."""
        if node is None or is_null(node):
            return Labels()
        if not isinstance(node, MappingNode):
            return Labels(present=True, known=False)
        pairs: dict[str, str] = {}
        known = True
        for key, key_node, value_node in items(node):
            val = self.value(value_node)
            hidden = not val.known if val is not None else not is_null(value_node)
            if hidden or is_templated(key) or _PLACEHOLDER.search(key) or self.uncertain(key_node):
                known = False
                continue
            pairs[key] = val.text if val is not None else ""
        return Labels(tuple(sorted(pairs.items())), bool(pairs) or not known, known)

    def path(self, node: Node | None, keys: tuple[str, ...]) -> Node | None:
        for key in keys:
            node = get(node, key)
        return node

    def names(self, doc: Node) -> tuple[str, str]:
        """(namespace, name) from metadata; a missing namespace is the default one."""
        meta = get(doc, "metadata")
        name = self.value(get(meta, "name")) or self.value(get(meta, "generateName"))
        ns = self.value(get(meta, "namespace"))
        return (ns.text if ns else "default"), (name.text if name else f"unnamed@{self.loc(doc).line}")


def yaml_int(text: str) -> int | None:
    """A YAML 1.1 integer as Kubernetes' parser reads it: decimal, ``0x`` hex or ``0`` octal.

    ASCII digits only; a number longer than any int64 is no integer the API server accepts.
    """
    t = text.replace("_", "")
    for pattern, base in _YAML11_INTS:
        if pattern.fullmatch(t):
            return int(t, base) if len(t) <= MAX_DIGITS else None
    return None
