"""Evaluating an ``exists`` join without comparing every pair of facts.

Candidates are indexed on the join's ``same`` fields, candidates the join's condition cannot
tell apart are folded into one class, and classes are narrowed by port buckets
(``_JoinPlan``): N copies of one listener cost O(N), not N² comparisons. A rule that still
compares too many pairs (input built to defeat the index) stops at a budget.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from portpolicy.engine.fields import Binding, Condition, resolve
from portpolicy.model import PortRange, PortSet
from portpolicy.records import record

ORDER_OPS = frozenset({"lt", "le", "gt", "ge", "ne"})
"""Comparisons whose truth over a set of sequence numbers is decided by its smallest and largest."""
BUCKET_BITS = 8
"""Port buckets of 256 ports: a listener lands in one, the widest range in 257."""
LAST_BUCKET = 65536 >> BUCKET_BITS
JOIN_BUDGET = 100_000
"""Candidate comparisons any one side of a rule (the rule, or one of its ``also`` sides) may
make, plus ``JOIN_BUDGET_PER_FACT`` per fact; the first side that exhausts it ends the rule.

With the join index a real tree needs a few per fact; only input built to defeat the index
(thousands of distinct, overlapping, never-matching candidates) reaches it.
"""
JOIN_BUDGET_PER_FACT = 20


class JoinBudgetExceeded(Exception):
    """A rule compared more candidate pairs than the budget allows: it stops, and says so."""


@record
class _PortProbe:
    """A join conjunct ``other.P overlaps S`` (optionally ``or other.P missing``): an index key."""

    other: tuple[str, ...]
    self_path: tuple[str, ...]
    missing: bool


@record
class _JoinPlan:
    """How one ``exists`` join finds its candidates without comparing every pair.

    Candidates that agree on every field the join's condition reads (``key``) are one class:
    the condition cannot tell them apart, so one or two representatives stand for all. When
    the condition compares ``other.seq`` once with an order operator (``ordered``), the
    class's two smallest and two largest sequence numbers decide it. ``probe`` narrows the
    classes to those whose ports overlap the fact's.
    """

    kind: str
    same: tuple[tuple[str, ...], ...]
    key: tuple[tuple[str, ...], ...]
    ordered: bool
    probe: _PortProbe | None


@record(frozen=False)
class _Group:
    """The candidates sharing one ``same`` key, as classes with their representatives.

    Class numbers follow first appearance; every list below is sorted, so merging the lists a
    fact's ports touch yields the classes in that order, lazily: a join that matches early
    stops early. A narrow port span is indexed port by port (``exact``, and ``narrow`` per
    bucket for wide queries), a wide one per bucket of 256 ports (``wide``).
    """

    reps: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    exact: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    narrow: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    wide: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    missing: list[int] = dataclasses.field(default_factory=list)
    loose: list[int] = dataclasses.field(default_factory=list)
    """Classes whose probed value is no port value: always tested."""

    def add(self, members: list[Any], plan: _JoinPlan) -> None:
        i = len(self.reps)
        self.reps.append(_representatives(members, plan.ordered))
        if plan.probe is None:
            return
        spans = _spans(resolve(members[0], plan.probe.other))
        if spans is None:
            self.loose.append(i)
        elif not spans:
            self.missing.append(i)
        for start, end in spans or ():
            if end - start < NARROW_SPAN:
                for port in range(start, end + 1):
                    _push(self.exact, port, i)
                for bucket in _buckets(start, end):
                    _push(self.narrow, bucket, i)
            else:
                for bucket in _buckets(start, end):
                    _push(self.wide, bucket, i)

    def candidates(self, plan: _JoinPlan, fact: Any) -> Iterator[Any]:
        """Representatives of the classes that may satisfy the join for ``fact``, in first-seen order."""
        spans = _spans(resolve(fact, plan.probe.self_path)) if plan.probe else None
        if plan.probe is None or spans is None:
            order: Iterable[int] = range(len(self.reps))
        else:
            order = _unique(heapq.merge(*self._streams(spans, plan.probe.missing)))
        for i in order:
            yield from self.reps[i]

    def _streams(self, spans: list[tuple[int, int]], missing: bool) -> list[list[int]]:
        streams = [self.loose, self.missing] if missing else [self.loose]
        for start, end in spans:
            if end - start < NARROW_SPAN:
                streams.extend(self.exact[p] for p in range(start, end + 1) if p in self.exact)
            else:
                streams.extend(self.narrow[b] for b in _buckets(start, end) if b in self.narrow)
            streams.extend(self.wide[b] for b in _buckets(start, end) if b in self.wide)
        return streams


NARROW_SPAN = 16
"""Port spans shorter than this are indexed port by port."""


def _push(lists: dict[int, list[int]], key: int, i: int) -> None:
    entries = lists.setdefault(key, [])
    if not entries or entries[-1] != i:
        entries.append(i)


def _unique(ordered: Iterable[int]) -> Iterator[int]:
    last = -1
    for i in ordered:
        if i != last:
            last = i
            yield i


def _buckets(start: int, end: int) -> range:
    return range(_bucket(start), _bucket(end) + 1)


def _bucket(port: int) -> int:
    return min(max(port, 0) >> BUCKET_BITS, LAST_BUCKET)


def _spans(value: Any) -> list[tuple[int, int]] | None:
    """A port value as (low, high) pairs; [] for None; None for anything the index cannot place."""
    if value is None:
        return []
    ranges = (
        value.ranges if isinstance(value, PortSet) else (value,) if isinstance(value, PortRange) else None
    )
    if ranges is None or not all(isinstance(r.start, int) and isinstance(r.end, int) for r in ranges):
        return None
    return [(min(r.start, r.end), max(r.start, r.end)) for r in ranges]


class _JoinIndex:
    """Facts of one kind grouped by the values of the join's ``same`` paths, built on first use."""

    def __init__(self, facts: dict[str, list[Any]] | None = None) -> None:
        self.facts: dict[str, list[Any]] = facts or {}
        self.cache: dict[_JoinPlan, dict[tuple[Any, ...], _Group]] = {}
        self.tests = 0
        self.limit = JOIN_BUDGET

    def group(self, plan: _JoinPlan) -> dict[tuple[Any, ...], _Group]:
        if plan not in self.cache:
            members: dict[tuple[Any, ...], dict[tuple[Any, ...], list[Any]]] = defaultdict(dict)
            for fact in self.facts.get(plan.kind, ()):
                same = tuple(_hashable(resolve(fact, p)) for p in plan.same)
                key = tuple(_hashable(resolve(fact, p)) for p in plan.key)
                members[same].setdefault(key, []).append(fact)
            self.cache[plan] = {same: _build_group(plan, list(c.values())) for same, c in members.items()}
        return self.cache[plan]

    def spend(self) -> None:
        self.tests += 1
        if self.tests > self.limit:
            raise JoinBudgetExceeded(f"stopped after {self.limit} comparisons of similar facts")


def _build_group(plan: _JoinPlan, classes: list[list[Any]]) -> _Group:
    group = _Group()
    for members in classes:
        group.add(members, plan)
    return group


def _representatives(members: list[Any], ordered: bool) -> tuple[Any, ...]:
    """Two members (one may be the fact itself), or the two smallest and largest by ``seq``."""
    if not ordered:
        return tuple(members[:2])
    by_seq = sorted(members, key=lambda m: _seq(m))
    picked = by_seq[:2] + by_seq[-2:]
    return tuple({id(m): m for m in picked}.values())


def _seq(fact: Any) -> Any:
    value = getattr(fact, "seq", 0)
    return value if isinstance(value, int) else 0


INDEX_KEY = "_join_index"
"""The binding key that carries the evaluation's own join index, so evaluations never share state."""


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _other_reads(node: Any) -> list[tuple[str, str]]:
    """(path after ``other.``, operator) for every candidate field a join condition reads.

    A nested ``exists`` binds its own ``other``, so its reads are not this join's.
    """
    if not isinstance(node, dict) or "exists" in node:
        return []
    reads: list[tuple[str, str]] = []
    for child in (*node.get("all", ()), *node.get("any", ()), *([node["not"]] if "not" in node else [])):
        reads.extend(_other_reads(child))
    for side in ("field", "ref"):
        path = node.get(side)
        if isinstance(path, str) and path.startswith("other."):
            reads.append((path[len("other.") :], str(node.get("op"))))
    return reads


def _port_probe(where: Any) -> _PortProbe | None:
    """The first top-level conjunct that says the candidate's ports overlap the fact's."""
    if not isinstance(where, dict):
        return None
    for node in where.get("all", [where]):
        probe = _overlap_probe(node, False)
        if probe is None and isinstance(node, dict) and len(node.get("any", ())) == 2:
            probe = _missing_or_overlap(node["any"])
        if probe is not None:
            return probe
    return None


def _overlap_probe(node: Any, missing: bool) -> _PortProbe | None:
    if not isinstance(node, dict) or node.get("op") != "overlaps" or "ref" not in node:
        return None
    field, ref = str(node.get("field")), str(node["ref"])
    if field.startswith("other.") == ref.startswith("other."):
        return None
    other, mine = (field, ref) if field.startswith("other.") else (ref, field)
    if other == "other.seq":
        return None
    own = tuple(mine.split("."))
    return _PortProbe(tuple(other.split("."))[1:], own[1:] if own[0] == "self" else own, missing)


def _missing_or_overlap(options: list[Any]) -> _PortProbe | None:
    """``any: [{field: other.P, op: missing}, other.P overlaps S]``, in either order."""
    for test, other in (options, options[::-1]):
        probe = _overlap_probe(other, True)
        if (
            probe is not None
            and isinstance(test, dict)
            and test.get("op") == "missing"
            and test.get("field") == "other." + ".".join(probe.other)
        ):
            return probe
    return None


def plan_join(spec: dict[str, Any]) -> _JoinPlan:
    where = spec.get("where")
    reads = _other_reads(where)
    seq_ops = [op for path, op in reads if path == "seq"]
    ordered = len(seq_ops) == 1 and seq_ops[0] in ORDER_OPS
    paths = sorted({path for path, _ in reads if not (ordered and path == "seq")})
    return _JoinPlan(
        kind=spec["fact"],
        same=tuple(tuple(p.split(".")) for p in spec.get("same", ())),
        key=tuple(tuple(p.split(".")) for p in paths),
        ordered=ordered,
        probe=_port_probe(where),
    )


def join_condition(plan: _JoinPlan, where: Condition) -> Condition:
    """The condition "some other fact of the plan's kind, sharing its ``same`` fields, satisfies ``where``"."""

    def join(f: Any, b: Binding) -> Binding | None:
        index: _JoinIndex = b[INDEX_KEY]
        group = index.group(plan).get(tuple(_hashable(resolve(f, p)) for p in plan.same))
        if group is None:
            return None
        for candidate in group.candidates(plan, f):
            if candidate is f:
                continue
            index.spend()
            got = where(f, {**b, "other": candidate})
            if got is not None:
                return got
        return None

    return join
