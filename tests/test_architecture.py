"""The pipeline reads one way, and the import graph says so.

discover -> recognise -> read -> derive -> evaluate -> suppress -> report: no stage imports a
later one, and no two modules import each other, at module level or inside a function (a
deferred import is still a dependency; it only moves the cost). Signatures (the static
per-format content tests) never import a reader: a one-file check imports only the reader
that reads it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import portpolicy
from portpolicy import signatures

PACKAGE = Path(portpolicy.__file__).parent

LATER_THAN_READERS = ("hosts", "placement", "engine", "pipeline", "suppress", "report", "ansible")
"""Stages after reading: a reader that imports one of them makes data flow backwards."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(name: str, path: Path) -> set[str]:
    """The portpolicy modules ``name`` imports anywhere in its text (top level, functions,
    ``TYPE_CHECKING`` blocks): ``from pkg import sub`` counts as ``pkg.sub`` when that is a module."""
    known = _modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


@cache
def graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(_imported(name, path)) for name, path in _modules().items()}


def _cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_imports_at_every_level() -> None:
    """The walk finds a module-level and a deferred import, and the cycle search finds a
    cycle, or the checks below prove nothing."""
    edges = graph()
    assert "portpolicy.pipeline" in edges["portpolicy.cli"]
    assert "portpolicy.baseline" in edges["portpolicy.outputs"]  # imported inside a function
    assert "portpolicy.report.text" in edges["portpolicy.outputs"]  # ``from portpolicy.report import text``
    synthetic = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert _cycles(synthetic) == [["a", "b", "c"]]


def _reach(start: str) -> set[str]:
    """Every module importing ``start`` loads, directly or through others."""
    edges, seen, todo = graph(), set(), [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_cycles() -> None:
    cycles = _cycles(graph())
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_readers_import_no_later_stage() -> None:
    later = tuple(f"portpolicy.{stage}" for stage in LATER_THAN_READERS)
    backwards = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if _in(name, "portpolicy.readers")
        for target in targets
        if any(_in(target, stage) for stage in later)
    )
    assert not backwards, "; ".join(backwards)


def test_signatures_load_no_reader() -> None:
    """Not even through a shared module: recognising a file must not import the readers."""
    readers = {s.module for s in signatures.all_signatures()}
    assert len(readers) > 10 and all(_in(r, "portpolicy.readers") for r in readers)
    loaded = sorted(
        f"{name} loads {target}"
        for name in graph()
        if _in(name, "portpolicy.signatures")
        for target in _reach(name) & readers
    )
    assert not loaded, "; ".join(loaded)
