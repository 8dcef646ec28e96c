"""Fast, safe YAML for readers: libyaml composition into nodes, never construction.

Composing (not loading) is the cheapest correct parse: no Python objects are built, any
tag (Ansible's ``!vault``, ``!unsafe``) is tolerated, and every node keeps its line and
column. YAML 1.1 resolution quirks (``22:22`` read as a base-60 integer) cannot bite,
because readers use the scalar text as written, as Docker's YAML 1.2 parser does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NoReturn

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from portpolicy.model import Location
from portpolicy.readers.base import shown

Node = yaml.Node
MappingNode = yaml.MappingNode
SequenceNode = yaml.SequenceNode
ScalarNode = yaml.ScalarNode

MAX_NODES = 2_000_000
MAX_ALIAS_NODES = 100_000
"""Nodes that aliases may add when expanded, beyond the file's own: merge keys and shared
lists in real files add a few hundred; readers walk the expanded tree, so this bounds
their work by the file's size."""
MAX_DEPTH = 200
FLOW_CHECK_THRESHOLD = 2_000
_ALIAS = re.compile(r"\*[0-9A-Za-z_-]")
"""Where an alias may be: libyaml (and PyYAML's scanner) take an alias's name from these
characters only, so text without this has no alias (``"*"``, ``"0 3 * * *"``, ``**/*.py``)."""


class YamlError(Exception):
    """A YAML file that cannot be composed; carries the 1-based position of the problem."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def compose_documents(text: str) -> list[Node]:
    """All documents of a YAML stream as node trees; raises YamlError on any problem."""
    if text.count("[") + text.count("{") > FLOW_CHECK_THRESHOLD:
        _check_flow_depth(text)
    loader = _Loader(text)
    docs: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        raise YamlError(_unquoted(exc.problem or exc.context or "invalid YAML"), line, column) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise YamlError(f"invalid YAML: {_unquoted(str(exc))}") from None
    finally:
        loader.dispose()
    if _ALIAS.search(text):
        _check_bounds(docs)
    else:  # no alias without '*name': the tree is as large as the text, only depth matters
        _check_depth(docs)
    return docs


def _check_flow_depth(text: str) -> None:
    """Measure nesting with libyaml's iterative event parser before composing.

    libyaml's composer recurses in C and crashes the interpreter on some tens of thousands
    of nested flow collections; the event parser keeps an explicit stack and does not.
    """
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                    raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", line, column)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if "nesting depth" in str(exc.problem):  # PyYAML >= 6.0.4 stops at 1000 levels itself
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", line, column) from None
        raise YamlError(_unquoted(exc.problem or "invalid YAML"), line, column) from None
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels") from None
        raise YamlError(f"invalid YAML: {_unquoted(str(exc))}") from None
    finally:
        loader.dispose()


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
MESSAGE_CHARS = 160
"""How much of a parser's message is kept: its first line, the kind of problem."""


def _unquoted(message: str) -> str:
    """A parser's message as a finding may show it: the kind of problem, no long quote of the file.

    PyYAML's pure-Python parser quotes what it found (``found undefined alias 'x'``); each
    quoted piece is cut short, and the message to its first line.
    """
    first = message.split("\n", 1)[0]
    return shown(
        _QUOTED.sub(lambda m: m.group(0)[0] + shown(m.group(0)[1:-1]) + m.group(0)[0], first), MESSAGE_CHARS
    )


def _check_bounds(docs: list[Node]) -> None:
    """Refuse alias bombs, recursive aliases and absurd nesting before any reader walks the tree.

    Sizes and heights are worked out once per distinct collection (an alias shares its
    anchor's node), so the check costs what was composed, never the expanded tree it
    refuses. A scalar counts one node and one level and never exceeds a bound, so it is
    counted where its collection is measured, never put on the stack; only its identity is
    kept, for the count of distinct nodes.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    scalars: set[int] = set()
    total = 0
    for doc in docs:
        if type(doc) is ScalarNode:
            scalars.add(id(doc))
            total += 1
        else:
            _measure(doc, sizes, heights, scalars)
            total += sizes[id(doc)]
        if total > MAX_NODES:
            raise YamlError(f"more than {MAX_NODES} nodes after alias expansion (alias bomb?)")
    if total - len(sizes) - len(scalars) > MAX_ALIAS_NODES:
        raise YamlError(f"aliases expand to more than {MAX_ALIAS_NODES} extra nodes (alias bomb?)")


def _check_depth(docs: list[Node]) -> None:
    """Refuse absurd nesting in a tree without aliases (one walk over its collections, nothing kept).

    Scalars, most of a tree, are never put on the stack: a scalar is too deep only under a
    collection at ``MAX_DEPTH``, checked there. The walk visits the collections in the
    order a walk of every node would, and a too-deep collection's last child is where that
    walk would have stopped, so the reported place is the same.
    """
    stack: list[tuple[Node, int]] = [(d, 1) for d in docs if type(d) is not ScalarNode]
    while stack:
        node, depth = stack.pop()
        children = node.value
        if not children:
            continue
        if depth == MAX_DEPTH:  # its children are one level too deep: the last one is met first
            last = children[-1]
            _too_deep(last[1] if type(node) is MappingNode else last)
        if type(node) is MappingNode:
            for k, v in children:
                if type(k) is not ScalarNode:
                    stack.append((k, depth + 1))
                if type(v) is not ScalarNode:
                    stack.append((v, depth + 1))
        else:
            stack.extend([(v, depth + 1) for v in children if type(v) is not ScalarNode])


def _too_deep(node: Node) -> NoReturn:
    mark = node.start_mark
    raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)


def _children(node: Node) -> list[Node]:
    if type(node) is MappingNode:
        return [child for pair in node.value for child in pair]
    return list(node.value)


def _measure(root: Node, sizes: dict[int, int], heights: dict[int, int], scalars: set[int]) -> None:
    """Expanded size and height of every collection under ``root`` (post-order, no recursion)."""
    open_nodes: set[int] = set()  # the nodes on the path from root to the current node
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size, height = 1, 1
            for c in _children(node):
                if type(c) is ScalarNode:
                    scalars.add(id(c))
                    size += 1
                    if height < 2:
                        height = 2
                else:
                    size += sizes[id(c)]
                    height = max(height, heights[id(c)] + 1)
            sizes[key], heights[key] = size, height
            mark = node.start_mark
            if size > MAX_NODES:  # at the first node whose copies are too many
                raise YamlError(
                    f"more than {MAX_NODES} nodes after alias expansion (alias bomb?)",
                    mark.line + 1,
                    mark.column + 1,
                )
            if height > MAX_DEPTH:
                raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            mark = node.start_mark
            raise YamlError("an alias refers to a node that contains it", mark.line + 1, mark.column + 1)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend([(c, False) for c in _children(node) if type(c) is not ScalarNode])


def location(path: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


def scalar(node: Node | None) -> str | None:
    """The text of a scalar node as written, or None for anything else."""
    if isinstance(node, ScalarNode):
        return str(node.value)
    return None


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null"))


def items(node: Node | None) -> Iterator[tuple[str, Node, Node]]:
    """(key text, key node, value node) of a mapping, with ``<<`` merge keys applied.

    Explicit keys win over merged ones, and earlier merge sources over later ones, as in
    YAML's merge-key type (compose files use it for shared service settings).
    """
    if not isinstance(node, MappingNode):
        return
    explicit: list[tuple[str, Node, Node]] = []
    merged: list[tuple[str, Node, Node]] = []
    for k, v in node.value:
        key = scalar(k)
        if (key == "<<" and k.tag.endswith(":merge")) or (key == "<<" and k.style is None):
            sources = v.value if isinstance(v, SequenceNode) else [v]
            for src in sources:
                if src is not node:
                    merged.extend(items(src))
        elif key is not None:
            explicit.append((key, k, v))
    seen = {key for key, _, _ in explicit}
    yield from explicit
    for key, k, v in merged:
        if key not in seen:
            seen.add(key)
            yield key, k, v


def get(node: Node | None, key: str) -> Node | None:
    for k, _, v in items(node):
        if k == key:
            return v
    return None


def seq(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []
