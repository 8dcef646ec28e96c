"""Loads declarative rules and evaluates them over the derived fact model.

A rule is data (``rules/*.yml``, schema ``schemas/rule.schema.json``): a fact kind, a
condition tree (``all``/``any``/``not``, field comparisons, port-range operators and an
``exists`` join to other facts that share fields with this one), and a report template.
Conditions are compiled once into closures. Joins use an index on their ``same`` fields,
fold candidates the condition cannot tell apart into one class, and narrow classes by port
buckets (``_JoinPlan``): N copies of one listener cost O(N), not N² comparisons. A rule
that still compares too many pairs (input built to defeat the index) stops at a budget,
and a rule that raises skips that fact: both are reported (``RuleFailure``), not fatal.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import json
import re
import string
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from portpolicy import errors
from portpolicy.config import Config, ConfigError
from portpolicy.model import (
    USED_HERE,
    Fact,
    Finding,
    FirewallRule,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    ParseError,
    PortPool,
    PortRange,
    PortSet,
    Related,
    SuppressionComment,
    Unresolved,
)
from portpolicy.readers.base import ascii_int, shown

FACT_CLASSES: dict[str, type] = {
    "listener": Listener,
    "kernel_setting": KernelSetting,
    "invalid_port": InvalidPort,
    "parse_error": ParseError,
    "firewall_rule": FirewallRule,
    "port_pool": PortPool,
    "unresolved": Unresolved,
    "suppression": SuppressionComment,
}
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

Binding = dict[str, Any]
Condition = Callable[[Any, Binding], "Binding | None"]
Getter = Callable[[Any, Binding], Any]
Choices = tuple[tuple[Condition, str], ...]
"""(condition, template) pairs: the first whose condition holds gives the text."""


@dataclass(frozen=True)
class Rule:
    """A loaded rule: its documentation fields and its compiled condition."""

    id: str
    name: str
    severity: str
    enabled: bool
    summary: str
    rationale: str
    remediation: str
    references: tuple[str, ...]
    tags: tuple[str, ...]
    examples: tuple[dict[str, Any], ...]
    fact: str
    message: str
    at: str
    related: tuple[tuple[str, str], ...]
    source: str
    condition: Condition = dataclasses.field(repr=False, compare=False)
    levels: tuple[tuple[Condition, str], ...] = dataclasses.field(default=(), repr=False, compare=False)
    """(condition, severity) pairs: the first that holds sets the finding's severity."""
    level_texts: tuple[tuple[str, str], ...] = ()
    """(severity, when in words) for each of ``levels``, for the documentation."""
    also: tuple[Rule, ...] = dataclasses.field(default=(), repr=False, compare=False)
    """Further sides of the same rule over other fact kinds (the ``also:`` key)."""
    cases: Choices = dataclasses.field(default=(), repr=False, compare=False)
    """(condition, message) pairs: the first that holds gives the finding's message instead of ``message``."""
    phrases: tuple[tuple[str, Choices], ...] = dataclasses.field(default=(), repr=False, compare=False)
    """Named pieces of text (``report.phrases``) a template inserts as ``{name}``: each the text of
    its first choice whose condition holds, or "" when none does."""
    per_fact: bool = False
    """One finding per matching fact, even where several share a location (each id named in
    one suppression comment is its own verdict); otherwise one per rule and location."""
    live_sockets: bool = True
    """False: sockets seen bound on a live host take no part (their existence disproves the
    verdict, as two bound sockets coexist by the kernel's consent); ``live_audit`` asks."""


def builtin_rules_dir() -> Path:
    """The shipped rules: inside the wheel as ``portpolicy/_rules``, or ``rules/`` in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_rules"
    return installed if installed.is_dir() else here.parent / "rules"


BUNDLE = "bundle.json"
"""The built-in rules already parsed (``scripts/bundle_rules.py``), beside their YAML files.

Composing fifteen rule files with PyYAML costs more than the rest of a one-file check's
rule work; ``json`` reads the same data in a fraction of that. Each entry carries the
size and CRC-32 of the YAML it was made from, and is used only while that file still has
them: an edited rule is read from its YAML, so a stale bundle costs speed, never rules.
(A checksum finds edits; it is no defence, and needs none: whoever can rewrite the
installed rules can rewrite the code that reads them. ``hashlib`` would cost more start-up
than the rest of rule loading.)
"""


def load_rules(extra_dirs: Iterable[str] = ()) -> list[Rule]:
    """Built-in rules (trusted, validated by the test suite) plus user rule dirs (validated now)."""
    bundle = _bundle(builtin_rules_dir())
    rules = [_load(path, validate=False, bundle=bundle) for path in sorted(builtin_rules_dir().glob("*.yml"))]
    for directory in extra_dirs:
        d = Path(directory)
        if not d.is_dir():
            raise ConfigError(f"rules directory {directory} does not exist")
        files = sorted([*d.glob("*.yml"), *d.glob("*.yaml")])
        if not files:
            raise ConfigError(f"rules directory {directory} holds no .yml rule files")
        rules.extend(_load(path, validate=True) for path in files)
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(f"{rule.source}: rule id {rule.id} is already defined in {seen[rule.id]}")
        seen[rule.id] = rule.source
    return rules


def rule_schema() -> dict[str, Any]:
    text = resources.files("portpolicy.schemas").joinpath("rule.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def validate_rule(data: Any, where: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(rule_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(list(e.absolute_path)), str(e.message)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        path = "/".join(str(p) for p in best.absolute_path) or "(top level)"
        raise ConfigError(f"{where}: invalid rule at {path}: {best.message}")


def _bundle(directory: Path) -> dict[str, Any]:
    """The bundle of built-in rules (``BUNDLE``): file name -> {stamp, rule}; empty if absent."""
    try:
        found = json.loads((directory / BUNDLE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {name: entry for name, entry in found.items() if isinstance(entry, dict) and "rule" in entry}


def stamp(raw: bytes) -> str:
    """What a bundle entry records of its YAML file's bytes, to tell an edited file: size and CRC-32."""
    return f"{len(raw)}:{zlib.crc32(raw):08x}"


def rule_data(raw: bytes) -> Any:
    """A rule file's data, as PyYAML reads it."""
    return yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _load(path: Path, validate: bool, bundle: Mapping[str, Any] | None = None) -> Rule:
    try:
        raw = path.read_bytes()
        entry = (bundle or {}).get(path.name) or {}
        data = entry["rule"] if entry.get("stamp") == stamp(raw) else rule_data(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read rule: {exc}") from None
    if validate:
        validate_rule(data, str(path))
    return compile_rule(data, str(path))


def compile_rule(data: dict[str, Any], source: str) -> Rule:
    match, report = data["match"], data["report"]
    fact = match["fact"]
    where = match.get("where")
    try:
        condition = _compile(where, fact, None) if where else (lambda f, b: b)
        levels = tuple((_compile(lv["when"], fact, None), lv["severity"]) for lv in data.get("levels", ()))
        cases = tuple(
            (_compile(c["when"], fact, None), c["message"].strip()) for c in report.get("cases", ())
        )
        phrases = _phrases(report.get("phrases", {}), fact)
        named = frozenset(name for name, _ in phrases)
        for template in (
            report["message"],
            *(c["message"] for c in report.get("cases", ())),
            *(r["message"] for r in report.get("related", ())),
        ):
            _check_template(template, fact, named)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Rule(
        id=data["id"],
        name=data["name"],
        severity=data["severity"],
        enabled=data.get("enabled", True),
        summary=data["summary"].strip(),
        rationale=data["rationale"].strip(),
        remediation=data["remediation"].strip(),
        references=tuple(data.get("references", ())),
        tags=tuple(data.get("tags", ())),
        examples=tuple(data.get("examples", ())),
        fact=fact,
        message=report["message"].strip(),
        at=report.get("at", "location"),
        related=tuple((r["at"], r["message"]) for r in report.get("related", ())),
        source=source,
        condition=condition,
        levels=levels,
        level_texts=tuple((lv["severity"], lv["description"]) for lv in data.get("levels", ())),
        cases=cases,
        phrases=phrases,
        per_fact=report.get("per_fact", False),
        live_sockets=data.get("live_sockets", True),
        also=tuple(
            compile_rule(
                {**data, "match": part["match"], "report": part["report"], "also": [], "levels": []}, source
            )
            for part in data.get("also", ())
        ),
    )


def _check_path(path: str, fact: str, join_fact: str | None) -> None:
    """Reject a path whose first name the fact does not have: a typo must not silently never match."""
    head, _, rest = path.partition(".")
    kind = fact
    if head == "other":
        if join_fact is None:
            raise ValueError(f"'{path}' uses 'other.' outside an exists join")
        kind, head = join_fact, rest.partition(".")[0]
    names = _field_names(kind)
    if names is not None and head not in names:
        raise ValueError(f"fact '{kind}' has no field '{head}' (in '{path}')")


@functools.cache
def _field_names(kind: str) -> frozenset[str] | None:
    """What a rule may name on a fact kind (fields and public attributes); None for an unknown kind."""
    cls = FACT_CLASSES.get(kind)
    if cls is None:
        return None
    return frozenset(
        {f.name for f in dataclasses.fields(cls)} | {n for n in dir(cls) if not n.startswith("_")}
    )


def _check_template(template: str, fact: str, phrases: frozenset[str] = frozenset()) -> None:
    for name in re.findall(r"\{([a-z_][a-z0-9_]*)", template):
        if name != "other" and name not in phrases:
            _check_path(name, fact, None)


def _phrases(spec: Mapping[str, Any], fact: str) -> tuple[tuple[str, Choices], ...]:
    """``report.phrases`` compiled: a choice without ``when`` always holds; texts keep their spaces."""
    compiled = []
    for name, choices in spec.items():
        if name in {"other", "self"} or name in (_field_names(fact) or ()):
            raise ValueError(f"phrase '{name}' has the name of a field of fact '{fact}'")
        for choice in choices:
            _check_template(choice["text"], fact)
        compiled.append(
            (
                name,
                tuple(
                    (_compile(c["when"], fact, None) if "when" in c else _always, c["text"]) for c in choices
                ),
            )
        )
    return tuple(compiled)


def _always(f: Any, b: Binding) -> Binding | None:
    return b


def resolve(obj: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part, None)
    return obj


def _getter(path: str, fact: str, join_fact: str | None) -> Getter:
    _check_path(path, fact, join_fact)
    parts = tuple(path.split("."))
    if parts[0] == "other":
        rest = parts[1:]
        return lambda f, b: resolve(b.get("other"), rest)
    if parts[0] == "self":
        parts = parts[1:]
    return lambda f, b: resolve(f, parts)


def _port_value(value: Any) -> Any:
    """Literal port specs in rules (``8080``, ``"30000-32767"``, ``"22,80,443"``) as port objects."""
    if isinstance(value, int) and not isinstance(value, bool):
        return PortRange(value, value)
    if isinstance(value, str):
        ranges = []
        for token in value.split(","):
            a, _, b = token.strip().partition("-")
            start, end = ascii_int(a), ascii_int(b or a)
            if start is None or end is None or max(start, end) > 65535:
                raise ValueError(f"{shown(value)!r} is not a port, range or list of them")
            ranges.append(PortRange(start, end))
        return ranges[0] if len(ranges) == 1 else PortSet.of(ranges)
    raise ValueError(f"{shown(repr(value))} is not a port, range or list of them")


def _overlaps(a: Any, b: Any) -> bool:
    return bool(a.overlaps(b)) if hasattr(a, "overlaps") else False


def _inside(a: Any, b: Any) -> bool:
    return bool(a.inside(b)) if hasattr(a, "inside") else False


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(a: Any, b: Any) -> bool:
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        try:
            return fn(a, b)
        except TypeError:
            return False

    return op


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> Any:
    """A rule's ``matches`` pattern in RE2 (linear time: the subject is scanned content).

    A pattern RE2 refuses (backreferences, lookaround) is a rule error at load time; one
    taken from a fact (``ref``) that RE2 refuses matches nothing.
    """
    from portpolicy.ansible.regex import RegexRefused, compile_untrusted

    try:
        return compile_untrusted(text)
    except RegexRefused:
        return _NEVER


class _Never:
    def search(self, _text: str) -> None:
        return None


_NEVER = _Never()


BINARY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a is not None and a == b,
    "ne": lambda a, b: a is not None and a != b,
    "lt": _cmp(lambda a, b: bool(a < b)),
    "le": _cmp(lambda a, b: bool(a <= b)),
    "gt": _cmp(lambda a, b: bool(a > b)),
    "ge": _cmp(lambda a, b: bool(a >= b)),
    "in": lambda a, b: a is not None and a in b,
    "not_in": lambda a, b: a is not None and a not in b,
    "overlaps": lambda a, b: a is not None and b is not None and _overlaps(a, b),
    "inside": lambda a, b: a is not None and b is not None and _inside(a, b),
    "not_inside": lambda a, b: a is not None and b is not None and not _inside(a, b),
    "matches": lambda a, b: a is not None and _pattern(str(b)).search(str(a)) is not None,
}

UNARY_OPS: dict[str, Callable[[Any], bool]] = {
    "exists": lambda a: a is not None,
    "missing": lambda a: a is None,
    "empty": lambda a: not a,
    "nonempty": lambda a: bool(a),
}


def _compile(node: dict[str, Any], fact: str, join_fact: str | None) -> Condition:
    if "all" in node:
        parts = [_compile(n, fact, join_fact) for n in node["all"]]

        def all_of(f: Any, b: Binding) -> Binding | None:
            for p in parts:
                got = p(f, b)
                if got is None:
                    return None
                b = got
            return b

        return all_of
    if "any" in node:
        options = [_compile(n, fact, join_fact) for n in node["any"]]

        def any_of(f: Any, b: Binding) -> Binding | None:
            for p in options:
                got = p(f, b)
                if got is not None:
                    return got
            return None

        return any_of
    if "not" in node:
        inner = _compile(node["not"], fact, join_fact)
        return lambda f, b: b if inner(f, b) is None else None
    if "exists" in node:
        return _compile_join(node["exists"], fact)
    field = _getter(node["field"], fact, join_fact)
    op = node["op"]
    if op in UNARY_OPS:
        test = UNARY_OPS[op]
        return lambda f, b: b if test(field(f, b)) else None
    if op not in BINARY_OPS:
        raise ValueError(f"unknown operator {op!r}")
    binary = BINARY_OPS[op]
    if "ref" in node:
        other = _getter(node["ref"], fact, join_fact)
    else:
        value = node["value"]
        if op in {"overlaps", "inside", "not_inside"}:
            value = _port_value(value)
        elif op == "matches":
            from portpolicy.ansible.regex import RegexRefused, compile_untrusted

            try:
                compile_untrusted(str(value))
            except RegexRefused as exc:
                raise ValueError(exc.reason) from None
        other = lambda f, b: value  # noqa: E731
    return lambda f, b: b if binary(field(f, b), other(f, b)) else None


ORDER_OPS = frozenset({"lt", "le", "gt", "ge", "ne"})
"""Comparisons whose truth over a set of sequence numbers is decided by its smallest and largest."""
BUCKET_BITS = 8
"""Port buckets of 256 ports: a listener lands in one, the widest range in 257."""
LAST_BUCKET = 65536 >> BUCKET_BITS
JOIN_BUDGET = 100_000
"""Candidate comparisons any one rule may make, plus ``JOIN_BUDGET_PER_FACT`` per fact.

With the join index a real tree needs a few per fact; only input built to defeat the index
(thousands of distinct, overlapping, never-matching candidates) reaches it.
"""
JOIN_BUDGET_PER_FACT = 20


class JoinBudgetExceeded(Exception):
    """A rule compared more candidate pairs than the budget allows: it stops, and says so."""


@dataclass(frozen=True)
class _PortProbe:
    """A join conjunct ``other.P overlaps S`` (optionally ``or other.P missing``): an index key."""

    other: tuple[str, ...]
    self_path: tuple[str, ...]
    missing: bool


@dataclass(frozen=True)
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


@dataclass
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


def _plan(spec: dict[str, Any]) -> _JoinPlan:
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


def _compile_join(spec: dict[str, Any], fact: str) -> Condition:
    kind = spec["fact"]
    for p in spec.get("same", ()):
        _check_path(p, fact, None)
        _check_path(p, kind, None)
    where = _compile(spec["where"], fact, kind) if "where" in spec else (lambda f, b: b)
    plan = _plan(spec)

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


class _Fields(Mapping[str, Any]):
    """What a template names: ``{namespace.ephemeral_range.value}``, ``{other.service}``, a phrase."""

    def __init__(self, fact: Any, binding: Binding, phrases: Mapping[str, str]) -> None:
        self.fact, self.binding, self.phrases = fact, binding, phrases

    def __getitem__(self, key: str) -> Any:
        if key in self.binding:
            return self.binding[key]
        if key in self.phrases:
            return self.phrases[key]
        return getattr(self.fact, key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


CUT = re.compile(r"\.(\d+)")
"""A format spec that is only a precision: ``{value:.80}``."""


class _Formatter(string.Formatter):
    """``str.format`` with two additions for messages: a list is written as its items joined by
    ", " (a set's sorted), and a precision cuts any value's text, marking the cut with "..."
    (a hostile value can be megabytes; the finding points at it anyway).

    Only the rule's template is parsed: a value (scanned content, a phrase's text) is inserted
    as it is, never read as a template.
    """

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise KeyError(key)
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> Any:
        if isinstance(value, (tuple, list)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, (set, frozenset)):
            value = ", ".join(sorted(str(v) for v in value))
        cut = CUT.fullmatch(format_spec)
        if cut is None:
            return format(value, format_spec)
        text, limit = str(value), int(cut.group(1))
        return text if len(text) <= limit else text[:limit] + "..."


_FORMATTER = _Formatter()


def _render(template: str, fact: Any, binding: Binding, phrases: Mapping[str, str] | None = None) -> str:
    try:
        return _FORMATTER.vformat(template, (), _Fields(fact, binding, phrases or {}))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        return f"{template} [template error: {exc}]"


def _phrase_texts(part: Rule, fact: Any, start: Binding, binding: Binding) -> dict[str, str]:
    """Each of ``part.phrases`` rendered: its first choice that holds, or ""."""
    texts: dict[str, str] = {}
    for name, choices in part.phrases:
        chosen = next((text for cond, text in choices if cond(fact, start) is not None), None)
        texts[name] = "" if chosen is None else _render(chosen, fact, binding)
    return texts


@dataclass(frozen=True)
class RuleFailure:
    """A rule that could not finish on a fact: a bug (with its traceback) or the join budget.

    It is located at the fact the rule was judging, so the report names the file whose
    content triggered it; the rule's findings on other facts, and every other rule, stand.
    """

    rule: str
    location: Location
    host: str
    message: str
    traceback: str = ""


def evaluate(
    rules: Iterable[Rule],
    facts: Sequence[Fact | SuppressionComment],
    severity: Mapping[str, str] | None = None,
    failures: list[RuleFailure] | None = None,
) -> list[Finding]:
    """Every finding of ``rules`` over ``facts``; one finding per rule and location.

    With a ``failures`` list, a rule that raises on a fact skips that fact (one entry per
    rule and file) and a rule that exhausts the join budget stops (one entry); without
    one, both raise, as a library caller expects.
    """
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        by_kind[fact.kind].append(fact)
    index = _JoinIndex(dict(by_kind))
    start: Binding = {INDEX_KEY: index}
    findings: list[Finding] = []
    seen: set[tuple[str, Location]] = set()
    for rule in rules:
        fixed = (severity or {}).get(rule.id)
        for part in (rule, *rule.also):
            index.tests, index.limit = 0, JOIN_BUDGET + JOIN_BUDGET_PER_FACT * len(facts)
            evaluation = _Evaluation(rule, part, start, fixed, seen, failures)
            findings.extend(evaluation.run(by_kind.get(part.fact, ())))
    return findings


@dataclass
class _Evaluation:
    """One side of one rule (``part`` is the rule itself or one of its ``also`` sides) over its facts."""

    rule: Rule
    part: Rule
    start: Binding
    fixed: str | None
    seen: set[tuple[str, Location]]
    failures: list[RuleFailure] | None

    def run(self, facts: Iterable[Any]) -> list[Finding]:
        found: list[Finding] = []
        failed: set[str] = set()
        for fact in facts:
            try:
                finding = _judge(self.rule, self.part, fact, self.start, self.fixed, self.seen)
            except JoinBudgetExceeded as exc:
                if self.failures is None:
                    raise
                what = f"rule {self.rule.id} ({self.rule.name}) {exc}: its findings here are incomplete"
                self.failures.append(self._failure(fact, what, ""))
                break
            except Exception as exc:
                if self.failures is None:
                    raise
                if fact.location.path not in failed:
                    failed.add(fact.location.path)
                    what = f"internal error in the rules stage (rule {self.rule.id}, {errors.describe(exc)}); please report it"
                    self.failures.append(self._failure(fact, what, traceback.format_exc()))
                continue
            if finding is not None:
                found.append(finding)
        return found

    def _failure(self, fact: Any, message: str, trace: str) -> RuleFailure:
        where = fact.location if isinstance(getattr(fact, "location", None), Location) else Location("")
        return RuleFailure(self.rule.id, where, getattr(fact, "host", ""), message, trace)


def _judge(
    rule: Rule,
    part: Rule,
    fact: Any,
    start: Binding,
    fixed: str | None,
    seen: set[tuple[str, Location]],
) -> Finding | None:
    """The finding ``part`` of ``rule`` makes on ``fact``, or None."""
    binding = part.condition(fact, start)
    if binding is None:
        return None
    at = _location(resolve(fact, tuple(part.at.split("."))), fact)
    related: list[Related] = []
    if part.at == "location":
        # a value written in one place and used in another: point at the line to change
        written = {ev.location for ev in getattr(fact, "evidence", ()) if ev.value}
        if len(written) == 1:
            related.append(Related(at, USED_HERE))
            at = written.pop()
    if not part.per_fact:
        if (rule.id, at) in seen:
            return None
        seen.add((rule.id, at))
    phrases = _phrase_texts(part, fact, start, binding)
    for path, template in part.related:
        loc = _location_at(path, fact, binding)
        if loc is not None and loc != at and all(r.location != loc for r in related):
            related.append(Related(loc, _render(template, fact, binding, phrases)))
    for ev in getattr(fact, "evidence", ()):
        if ev.location != at and all(r.location != ev.location for r in related):
            related.append(Related(ev.location, ev.message))
    level = fixed or next((lvl for cond, lvl in part.levels if cond(fact, start) is not None), rule.severity)
    return Finding(
        rule=rule.id,
        name=rule.name,
        severity=level,
        message=_render(_message(part, fact, start), fact, binding, phrases),
        location=at,
        host=getattr(fact, "host", ""),
        related=tuple(related),
    )


def _message(part: Rule, fact: Any, start: Binding) -> str:
    """The template of the first of ``part.cases`` whose condition holds, else ``part.message``."""
    return next((text for cond, text in part.cases if cond(fact, start) is not None), part.message)


def _location(value: Any, fact: Any) -> Location:
    return value if isinstance(value, Location) else fact.location


def _location_at(path: str, fact: Any, binding: Binding) -> Location | None:
    parts = tuple(path.split("."))
    value = resolve(binding.get("other"), parts[1:]) if parts[0] == "other" else resolve(fact, parts)
    return value if isinstance(value, Location) else None


def select(rules: list[Rule], config: Config) -> list[Rule]:
    """The rules to run: defaults (or ``select``), plus ``extend-select``, minus ``ignore``."""
    for pattern in (*(config.select or ()), *config.extend_select, *config.ignore):
        if not any(r.id.startswith(pattern) or r.name == pattern for r in rules):
            from portpolicy.suggest import hint

            known = [name for r in rules for name in (r.id, r.name)]
            did_you_mean = hint(pattern, known)
            raise ConfigError(f"unknown rule or prefix {pattern!r}{did_you_mean} (see 'portpolicy rules')")

    def hit(rule: Rule, patterns: Iterable[str]) -> bool:
        return any(rule.id.startswith(p) or rule.name == p for p in patterns)

    chosen = [r for r in rules if (hit(r, config.select) if config.select is not None else r.enabled)]
    chosen += [r for r in rules if r not in chosen and hit(r, config.extend_select)]
    return [r for r in chosen if not hit(r, config.ignore)]
