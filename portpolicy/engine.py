"""Loads declarative rules and evaluates them over the derived fact model.

A rule is data (``rules/*.yml``, schema ``schemas/rule.schema.json``): a fact kind, a
condition tree (``all``/``any``/``not``, field comparisons, port-range operators and an
``exists`` join to other facts that share fields with this one), and a report template.
Conditions are compiled once into closures; joins use an index on their ``same`` fields,
so a conflict check costs one dictionary look-up per fact, not a scan of all pairs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

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
    Unresolved,
)

FACT_CLASSES: dict[str, type] = {
    "listener": Listener,
    "kernel_setting": KernelSetting,
    "invalid_port": InvalidPort,
    "parse_error": ParseError,
    "firewall_rule": FirewallRule,
    "port_pool": PortPool,
    "unresolved": Unresolved,
}
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}

Binding = dict[str, Any]
Condition = Callable[[Any, Binding], "Binding | None"]
Getter = Callable[[Any, Binding], Any]


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


def builtin_rules_dir() -> Path:
    """The shipped rules: inside the wheel as ``portpolicy/_rules``, or ``rules/`` in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_rules"
    return installed if installed.is_dir() else here.parent / "rules"


def load_rules(extra_dirs: Iterable[str] = ()) -> list[Rule]:
    """Built-in rules (trusted, validated by the test suite) plus user rule dirs (validated now)."""
    rules = [_load(path, validate=False) for path in sorted(builtin_rules_dir().glob("*.yml"))]
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


def _load(path: Path, validate: bool) -> Rule:
    try:
        data = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
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
        _check_template(report["message"], fact)
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
    cls = FACT_CLASSES.get(kind)
    if cls is None:
        return
    names = {f.name for f in dataclasses.fields(cls)} | {n for n in dir(cls) if not n.startswith("_")}
    if head not in names:
        raise ValueError(f"fact '{kind}' has no field '{head}' (in '{path}')")


def _check_template(template: str, fact: str) -> None:
    for name in re.findall(r"\{([a-z_][a-z0-9_]*)", template):
        if name != "other":
            _check_path(name, fact, None)


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
            if not a.isdigit() or (b and not b.isdigit()):
                raise ValueError(f"{value!r} is not a port, range or list of them")
            ranges.append(PortRange(int(a), int(b or a)))
        return ranges[0] if len(ranges) == 1 else PortSet.of(ranges)
    raise ValueError(f"{value!r} is not a port, range or list of them")


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
    "matches": lambda a, b: a is not None and re.search(str(b), str(a)) is not None,
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
            re.compile(str(value))
        other = lambda f, b: value  # noqa: E731
    return lambda f, b: b if binary(field(f, b), other(f, b)) else None


class _JoinIndex:
    """Facts of one kind grouped by the values of the join's ``same`` paths, built on first use."""

    def __init__(self) -> None:
        self.facts: dict[str, list[Any]] = {}
        self.cache: dict[tuple[str, tuple[tuple[str, ...], ...]], dict[tuple[Any, ...], list[Any]]] = {}

    def group(self, kind: str, same: tuple[tuple[str, ...], ...]) -> dict[tuple[Any, ...], list[Any]]:
        key = (kind, same)
        if key not in self.cache:
            groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
            for fact in self.facts.get(kind, ()):
                groups[tuple(_hashable(resolve(fact, p)) for p in same)].append(fact)
            self.cache[key] = groups
        return self.cache[key]


INDEX_KEY = "_join_index"
"""The binding key that carries the evaluation's own join index, so evaluations never share state."""


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _compile_join(spec: dict[str, Any], fact: str) -> Condition:
    kind = spec["fact"]
    same = tuple(tuple(p.split(".")) for p in spec.get("same", ()))
    for p in spec.get("same", ()):
        _check_path(p, fact, None)
        _check_path(p, kind, None)
    where = _compile(spec["where"], fact, kind) if "where" in spec else (lambda f, b: b)

    def join(f: Any, b: Binding) -> Binding | None:
        key = tuple(_hashable(resolve(f, p)) for p in same)
        index: _JoinIndex = b[INDEX_KEY]
        for candidate in index.group(kind, same).get(key, ()):
            if candidate is f:
                continue
            got = where(f, {**b, "other": candidate})
            if got is not None:
                return got
        return None

    return join


class _Fields(Mapping[str, Any]):
    """Lets ``str.format_map`` templates say ``{namespace.ephemeral_range.value}`` or ``{other.service}``."""

    def __init__(self, fact: Any, binding: Binding) -> None:
        self.fact, self.binding = fact, binding

    def __getitem__(self, key: str) -> Any:
        if key in self.binding:
            return self.binding[key]
        return getattr(self.fact, key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


def _render(template: str, fact: Any, binding: Binding) -> str:
    try:
        return template.format_map(_Fields(fact, binding))
    except (AttributeError, KeyError, IndexError, ValueError) as exc:
        return f"{template} [template error: {exc}]"


def evaluate(
    rules: Iterable[Rule], facts: list[Fact], severity: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every finding of ``rules`` over ``facts``; one finding per rule and location."""
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        by_kind[fact.kind].append(fact)
    index = _JoinIndex()
    index.facts = dict(by_kind)
    start: Binding = {INDEX_KEY: index}
    findings: list[Finding] = []
    seen: set[tuple[str, Location]] = set()
    for rule in rules:
        fixed = (severity or {}).get(rule.id)
        for part in (rule, *rule.also):
            findings.extend(_evaluate_part(rule, part, by_kind.get(part.fact, ()), start, fixed, seen))
    return findings


def _evaluate_part(
    rule: Rule,
    part: Rule,
    facts: Iterable[Any],
    start: Binding,
    fixed: str | None,
    seen: set[tuple[str, Location]],
) -> list[Finding]:
    """Findings of one side of ``rule`` (``part`` is the rule itself or one of its ``also`` sides)."""
    found: list[Finding] = []
    for fact in facts:
        binding = part.condition(fact, start)
        if binding is None:
            continue
        at = _location(resolve(fact, tuple(part.at.split("."))), fact)
        related: list[Related] = []
        if part.at == "location":
            # a value written in one place and used in another: point at the line to change
            written = {ev.location for ev in getattr(fact, "evidence", ()) if ev.value}
            if len(written) == 1:
                related.append(Related(at, USED_HERE))
                at = written.pop()
        if (rule.id, at) in seen:
            continue
        seen.add((rule.id, at))
        for path, template in part.related:
            loc = _location_at(path, fact, binding)
            if loc is not None and loc != at and all(r.location != loc for r in related):
                related.append(Related(loc, _render(template, fact, binding)))
        for ev in getattr(fact, "evidence", ()):
            if ev.location != at and all(r.location != ev.location for r in related):
                related.append(Related(ev.location, ev.message))
        level = fixed or next(
            (lvl for cond, lvl in part.levels if cond(fact, start) is not None), rule.severity
        )
        found.append(
            Finding(
                rule=rule.id,
                name=rule.name,
                severity=level,
                message=_render(part.message, fact, binding),
                location=at,
                host=getattr(fact, "host", ""),
                related=tuple(related),
            )
        )
    return found


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
