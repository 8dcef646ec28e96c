"""A service's attributes as Compose resolves them: its own, else inherited through same-file ``extends``."""

from __future__ import annotations

from portpolicy.readers.base import Source
from portpolicy.readers.compose.values import Values
from portpolicy.readers.dotenv import Env
from portpolicy.yamlnodes import MappingNode, Node, items, scalar, seq


class Services(Values):
    """The services of one document, and each one's attributes with ``extends`` applied."""

    def __init__(self, source: Source, placeholders: dict[str, str], env: Env | None = None) -> None:
        super().__init__(source, placeholders, env)
        self.services: dict[str, tuple[Node, MappingNode]] = {}

    def attr(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> Node | None:
        """A service attribute, inherited through same-file ``extends`` when not set here."""
        for k, _, v in items(svc):
            if k == key:
                return v
        base = self.extends(svc, seen)
        return self.attr(base[1], key, seen | {base[0]}) if base else None

    def attr_list(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> list[Node]:
        """A list attribute with same-file ``extends`` applied (Compose appends the lists)."""
        base = self.extends(svc, seen)
        inherited = self.attr_list(base[1], key, seen | {base[0]}) if base else []
        own = [v for k, _, v in items(svc) if k == key]
        return inherited + (seq(own[0]) if own else [])

    def attr_key(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> Node | None:
        """The key node of an attribute (inherited through ``extends``), to point at its line."""
        for k, key_node, _ in items(svc):
            if k == key:
                return key_node
        base = self.extends(svc, seen)
        return self.attr_key(base[1], key, seen | {base[0]}) if base else None

    def extends(self, svc: MappingNode, seen: frozenset[str]) -> tuple[str, MappingNode] | None:
        """The base service of ``extends: name`` / ``extends: {service: name}`` in this file.

        ``extends`` with ``file:`` names another file this reader does not see.
        """
        node: Node | None = None
        for k, _, v in items(svc):
            if k == "extends":
                node = v
        if node is None:
            return None
        name = scalar(node)
        if isinstance(node, MappingNode):
            fields = {k: v for k, _, v in items(node)}
            if "file" in fields:
                return None
            name = scalar(fields.get("service"))
        if name is None or name in seen or name not in self.services:
            return None
        return name, self.services[name][1]
