"""Where each item of a filtered loop is written: the list entry a finding should point at.

``loop: "{{ ports }}"`` has its items' lines from the list's nodes. Once the list goes
through a filter (``select``, ``selectattr``, ``reject``, ``map``, ``union``,
``difference``, ``unique``, ``flatten``, ``dict2items``), the evaluator hands back plain
values, so the lines are found again here: each item is matched to the first entry, as
written, of the variables the loop expression reads whose value is equal to it. That is
where the filters took it from: they all pass entries through unchanged, keep the first of
equal ones (``union``, ``unique``) or take from the first operand (``difference``).

* an item equal to a list entry (at any depth: ``flatten``) is at that entry;
* a ``{key, value}`` item (``dict2items``, ``with_dict``) is at its key in the mapping;
* a value taken out of an entry (``map(attribute='port')``) is at the field of that name,
  when the expression names it.

An item that matches nothing (computed: ``map('int')``, ``+ 1``) keeps the task's line, as
before. Equality is exact (``1`` is not ``true`` nor ``"1"``). Bounded: at most
``MAX_ENTRIES`` entries of the variables are looked at, ``MAX_DEPTH`` levels down; only an
entry whose scalars all occur among the items' is converted to a value (a long list costs a
walk, not a conversion), and one of more than ``MAX_SIZE`` nodes is not compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portpolicy.ansible.variables import Scope, node_value
from portpolicy.model import Location
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, items, location

MAX_ENTRIES = 2_000
MAX_DEPTH = 6
MAX_SIZE = 100


def item_locations(scope: Scope, expression: str, values: list[Any]) -> list[Location | None]:
    """The line of each of ``values`` (a loop's items) in the variables ``expression`` reads."""
    entries: dict[Any, Location] = {}
    keys: dict[str, Location] = {}
    fields: dict[tuple[str, Any], Location] = {}
    wanted: set[str] = set()
    for value in values:
        wanted |= _value_texts(value)
    count = 0
    for var in sorted(scope.origins(expression), key=lambda v: _written_at(expression, v.name)):
        if var.node is None:
            continue
        for kind, name, node, where in _walk(var.node, var.location.path):
            count += 1
            if count > MAX_ENTRIES:
                break
            if kind == "key":
                keys.setdefault(name, where)
                continue
            leaves = _leaf_texts(node)
            if leaves is None or not leaves <= wanted:
                continue  # cheap: no node is converted that cannot equal an item
            frozen = _freeze(node_value(node))
            if frozen is None:
                continue
            if kind == "entry":
                entries.setdefault(frozen, where)
            else:
                fields.setdefault((name, frozen), where)
    named = set(re.findall(r"\w+", expression))
    return [_find(v, entries, keys, fields, named) for v in values]


def _written_at(expression: str, name: str) -> int:
    """Where ``name`` first appears in ``expression`` (names read through other variables: after)."""
    m = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", expression)
    return m.start() if m else len(expression)


def _find(
    value: Any,
    entries: dict[Any, Location],
    keys: dict[str, Location],
    fields: dict[tuple[str, Any], Location],
    named: set[str],
) -> Location | None:
    frozen = _freeze(value)
    if frozen is None:
        return None
    if frozen in entries:
        return entries[frozen]
    if isinstance(value, dict) and set(value) == {"key", "value"} and str(value["key"]) in keys:
        return keys[str(value["key"])]
    for name in sorted(named):
        where = fields.get((name, frozen))
        if where is not None:
            return where
    return None


def _walk(root: Node, path: str) -> Iterator[tuple[str, str, Node, Location]]:
    """Entries of sequences (``entry``), keys of mappings (``key``, the value node with the key's
    line) and fields of mappings (``field``), breadth first, ``MAX_DEPTH`` levels down."""
    level = [root]
    for _ in range(MAX_DEPTH):
        below: list[Node] = []
        for node in level:
            if isinstance(node, SequenceNode):
                for child in node.value:
                    yield "entry", "", child, location(path, child)
                    below.append(child)
            elif isinstance(node, MappingNode):
                for key, key_node, child in items(node):
                    yield "key", key, child, location(path, key_node)
                    yield "field", key, child, location(path, child)
                    below.append(child)
        level = below
        if not level:
            return


def _leaf_texts(node: Node) -> set[str] | None:
    """The scalars under ``node`` (keys too), lower case; None past ``MAX_SIZE`` nodes."""
    stack: list[Node] = [node]
    seen, texts = 0, set[str]()
    while stack:
        seen += 1
        if seen > MAX_SIZE:
            return None
        current = stack.pop()
        if isinstance(current, SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, MappingNode):
            stack.extend(n for pair in current.value for n in pair)
        else:
            texts.add(str(current.value).lower())
    return texts


def _value_texts(value: Any) -> set[str]:
    """The scalars of a loop item as YAML writes them (lower case), ``MAX_SIZE`` at most."""
    stack: list[Any] = [value]
    texts: set[str] = set()
    while stack and len(texts) <= MAX_SIZE:
        current = stack.pop()
        if isinstance(current, (list, tuple)):
            stack.extend(current)
        elif isinstance(current, dict):
            stack.extend(current)
            stack.extend(current.values())
        else:
            texts.add(str(current).lower())
    return texts


def _freeze(value: Any, budget: list[int] | None = None) -> Any:
    """A hashable form of a plain value that keeps its types apart, None when too large."""
    budget = budget if budget is not None else [MAX_SIZE]
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(value, (list, tuple)):
        parts = [_freeze(v, budget) for v in value]
        return None if any(p is None for p in parts) else ("l", *parts)
    if isinstance(value, dict):
        pairs = [(_freeze(k, budget), _freeze(v, budget)) for k, v in value.items()]
        return None if any(k is None or v is None for k, v in pairs) else ("d", frozenset(pairs))
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    return None
