"""Rules as data: loading them (the built-in bundle, user directories), validating them
against ``schemas/rule.schema.json`` and compiling them into ``Rule`` objects."""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from portpolicy.config import ConfigError
from portpolicy.engine.conditions import always, compile_condition
from portpolicy.engine.fields import Choices, Condition, check_path, field_names
from portpolicy.records import record


@record
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
    fix: Fix | None = dataclasses.field(default=None, compare=False)
    """The safe edit that resolves a finding (the ``fix:`` key), applied by ``portpolicy.fixes``."""


@record
class Fix:
    """A rule's ``fix:`` block: which edit ``portpolicy.fixes`` makes, from which of the fact's fields.

    ``fields`` maps each name the edit needs to a field path of the fact; ``when`` narrows the
    findings it is safe for (PP006's inverted range, not its other refusals).
    """

    edit: str
    summary: str
    fields: tuple[tuple[str, str], ...]
    when: Condition | None = dataclasses.field(default=None, repr=False, compare=False)


def builtin_rules_dir() -> Path:
    """The shipped rules: inside the wheel as ``portpolicy/_rules``, or ``rules/`` in a checkout."""
    here = Path(__file__).resolve().parent.parent
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
        condition = compile_condition(where, fact, None) if where else (lambda f, b: b)
        levels = tuple(
            (compile_condition(lv["when"], fact, None), lv["severity"]) for lv in data.get("levels", ())
        )
        cases = tuple(
            (compile_condition(c["when"], fact, None), c["message"].strip()) for c in report.get("cases", ())
        )
        joined = where.get("exists", {}).get("fact") if isinstance(where, dict) else None
        phrases = _phrases(report.get("phrases", {}), fact, joined)
        fix = _fix(data.get("fix"), fact)
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
        level_texts=tuple(
            (lv["severity"], lv["description"])
            for lv in (
                *data.get("levels", ()),
                *(x for part in data.get("also", ()) for x in part.get("levels", ())),
            )
        ),
        cases=cases,
        phrases=phrases,
        per_fact=report.get("per_fact", False),
        live_sockets=data.get("live_sockets", True),
        fix=fix,
        also=tuple(
            compile_rule(
                {
                    **data,
                    "match": part["match"],
                    "report": part["report"],
                    "also": [],
                    "levels": part.get("levels", []),
                    "fix": None,
                },
                source,
            )
            for part in data.get("also", ())
        ),
    )


def _fix(spec: Mapping[str, Any] | None, fact: str) -> Fix | None:
    """``fix:`` compiled: every field path checked against the fact, like a condition's."""
    if not spec:
        return None
    fields = tuple(sorted(spec["fields"].items()))
    for _, path in fields:
        check_path(path, fact, None)
    when = compile_condition(spec["when"], fact, None) if "when" in spec else None
    return Fix(spec["edit"], spec["summary"].strip(), fields, when)


def _check_template(template: str, fact: str, phrases: frozenset[str] = frozenset()) -> None:
    for name in re.findall(r"\{([a-z_][a-z0-9_]*)", template):
        if name != "other" and name not in phrases:
            check_path(name, fact, None)


def _phrases(
    spec: Mapping[str, Any], fact: str, joined: str | None = None
) -> tuple[tuple[str, Choices], ...]:
    """``report.phrases`` compiled: a choice without ``when`` always holds; texts keep their spaces.

    A rule whose match is an ``exists`` join may name the joined fact (``other.``) in a choice's
    condition, as its templates do (``joined`` is that fact's kind)."""
    compiled = []
    for name, choices in spec.items():
        if name in {"other", "self"} or name in (field_names(fact) or ()):
            raise ValueError(f"phrase '{name}' has the name of a field of fact '{fact}'")
        for choice in choices:
            _check_template(choice["text"], fact)
        compiled.append(
            (
                name,
                tuple(
                    (compile_condition(c["when"], fact, joined) if "when" in c else always, c["text"])
                    for c in choices
                ),
            )
        )
    return tuple(compiled)
