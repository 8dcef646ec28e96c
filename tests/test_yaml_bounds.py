"""The YAML bounds walk visits less and refuses exactly what it did (#13).

``yamlnodes.compose_documents`` checks depth and aliases by walking collections only (no
scalar on its stack), and runs the alias walk only on text where libyaml can see an alias
(``*name``, not any ``*``). ``reference`` below is the walk it replaced, kept here to compare with: on
every YAML file of the fixtures and examples, and on hostile shapes around the bounds,
both accept the same documents and refuse the same ones with the same message at the
same line and column.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from portpolicy import yamlnodes
from portpolicy.yamlnodes import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_NODES,
    MappingNode,
    Node,
    SequenceNode,
    YamlError,
)
from tests import golden
from tests.helpers import REPO


def _reference_depth(docs: list[Node]) -> None:
    """The depth walk before #13: every node on the stack."""
    stack: list[tuple[Node, int]] = [(d, 1) for d in docs]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            mark = node.start_mark
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((v, depth + 1) for v in node.value)


def _reference_bounds(docs: list[Node]) -> None:
    """The alias walk before #13: every node on the stack (refuses alias bombs, recursive aliases, nesting).

    Sizes and heights are worked out once per distinct node (an alias shares its anchor's
    node), so the check costs what was composed, never the expanded tree it refuses.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    total = 0
    for doc in docs:
        _reference_measure(doc, sizes, heights)
        total += sizes[id(doc)]
        if total > MAX_NODES:
            raise YamlError(f"more than {MAX_NODES} nodes after alias expansion (alias bomb?)")
    if total - len(sizes) > MAX_ALIAS_NODES:
        raise YamlError(f"aliases expand to more than {MAX_ALIAS_NODES} extra nodes (alias bomb?)")


def _reference_children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _reference_measure(root: Node, sizes: dict[int, int], heights: dict[int, int]) -> None:
    """Expanded size and height of every node under ``root`` (post-order, no recursion)."""
    open_nodes: set[int] = set()  # the nodes on the path from root to the current node
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            children = _reference_children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            heights[key] = 1 + max((heights[id(c)] for c in children), default=0)
            mark = node.start_mark
            if sizes[key] > MAX_NODES:  # at the first node whose copies are too many
                raise YamlError(
                    f"more than {MAX_NODES} nodes after alias expansion (alias bomb?)",
                    mark.line + 1,
                    mark.column + 1,
                )
            if heights[key] > MAX_DEPTH:
                raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            mark = node.start_mark
            raise YamlError("an alias refers to a node that contains it", mark.line + 1, mark.column + 1)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _reference_children(node))


def reference(text: str) -> object:
    """What ``compose_documents`` answered before #13: the tree's shape, or the error and its place."""
    try:
        docs = _compose(text)
        if "*" in text:
            _reference_bounds(docs)
        else:
            _reference_depth(docs)
    except YamlError as exc:
        return (str(exc), exc.line, exc.column)
    return [_shape(d) for d in docs]


def current(text: str) -> object:
    try:
        docs = yamlnodes.compose_documents(text)
    except YamlError as exc:
        return (str(exc), exc.line, exc.column)
    return [_shape(d) for d in docs]


def _compose(text: str) -> list[Node]:
    """Composition alone, as compose_documents does it (its errors included)."""
    saved = yamlnodes._check_bounds, yamlnodes._check_depth
    yamlnodes._check_bounds = yamlnodes._check_depth = lambda docs: None
    try:
        return yamlnodes.compose_documents(text)
    finally:
        yamlnodes._check_bounds, yamlnodes._check_depth = saved


def _shape(node: Node) -> object:
    """A node tree as plain values with tags and places (aliases expand: small inputs only)."""
    mark = (node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, MappingNode):
        return (mark, [(_shape(k), _shape(v)) for k, v in node.value])
    if isinstance(node, SequenceNode):
        return (mark, [_shape(v) for v in node.value])
    return (mark, node.value)


def _yaml_files(*roots: Path) -> list[Path]:
    return sorted(
        p for root in roots for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()
    )


def test_every_fixture_example_and_generated_file_composes_as_before(tmp_path: Path) -> None:
    files = _yaml_files(
        REPO / "tests" / "fixtures", REPO / "examples", golden.generated_tree(tmp_path / "tree")
    )
    assert len(files) > 150
    differ = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > 200_000:
            continue
        if reference(text) != current(text):
            differ.append(path)
    assert not differ


def _nested(levels: int, style: str, leaf: str) -> str:
    """``levels`` collections one inside the other, ending in ``leaf`` (scalar, [] or {})."""
    if style == "flow-seq":
        return "[" * levels + leaf + "]" * levels + "\n"
    if style == "flow-map":
        return "{a: " * levels + leaf + "}" * levels + "\n"
    if style == "block-map":
        return "".join(" " * i + "k:\n" for i in range(levels - 1)) + " " * (levels - 1) + f"k: {leaf}\n"
    if style == "block-seq":
        return (
            "".join(" " * (2 * i) + "-\n" for i in range(levels - 1))
            + " " * (2 * (levels - 1))
            + f"- {leaf}\n"
        )
    raise AssertionError(style)


HOSTILE = [
    *(
        _nested(n, style, leaf)
        for n in (MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5)
        for style in ("flow-seq", "flow-map", "block-map", "block-seq")
        for leaf in ("x", "[]", "{}", "[1, [2]]")
    ),
    "a: [" * 150 + "b" + "]" * 150 + "\nc: " + "[" * 150 + "]" * 150 + "\n",
    "---\n" + "[" * 120 + "]" * 120 + "\n---\n" + "{a: " * 199 + "x" + "}" * 199 + "\n",
    "{" + ", ".join(f"k{i}: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) for i in range(3)) + "}\n",
    "? " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n: v\n",
    "x-a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"x-{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
    ),
    "base: &b "
    + "[" * 150
    + "]" * 150
    + "\nuse: ["
    + "[*b]"
    + "]\n"
    + "more: "
    + "[" * 60
    + "*b"
    + "]" * 60
    + "\n",
    *(
        "a: &a 1\nb: " + "[" * n + "*a" + "]" * n + "\nc: " + "[" * n + "x" + "]" * n + "\n"
        for n in (197, 198, 199)
    ),
    *("s: &s [" + "[" * n + "x" + "]" * n + "]\nt: *s\n" for n in (196, 197, 198)),
    "schedule: '0 3 * * *'\npaths: ['**/*.py', \"*\"]\nglob: *.txt\n",
    "x: *undefined\n",
    "a: &a 1\nb: *a\nc: [*a, *a]\n",
    "- &s\n  - x\n- *s\n- [*s, *s]\n",
    "services:\n  web: {<<: *d}\nx-d: &d {image: a}\n",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_shapes_are_refused_as_before(text: str) -> None:
    assert current(text) == reference(text)


def test_the_bounds_still_bite() -> None:
    assert current(_nested(MAX_DEPTH, "block-map", "x"))[0] == f"nesting deeper than {MAX_DEPTH} levels"  # type: ignore[index]
    assert isinstance(current(_nested(MAX_DEPTH - 1, "flow-seq", "x")), list)
    assert "alias bomb" in str(current(next(t for t in HOSTILE if t.startswith("x-a: &a"))))


def test_text_with_stars_but_no_alias_skips_the_alias_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[int] = []
    real = yamlnodes._check_bounds

    def counted(docs: list[Node]) -> None:
        walked.append(1)
        real(docs)

    monkeypatch.setattr(yamlnodes, "_check_bounds", counted)
    yamlnodes.compose_documents("schedule: '0 3 * * *'\npaths: ['**/*.py', \"*\"]\n")
    assert not walked
    yamlnodes.compose_documents("a: &a 1\nb: *a\n")
    assert walked == [1]
    assert yaml.__with_libyaml__  # the bounds are measured against libyaml's composition
