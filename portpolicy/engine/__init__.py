"""Loads declarative rules and evaluates them over the derived fact model.

A rule is data (``rules/*.yml``, schema ``schemas/rule.schema.json``): a fact kind, a
condition tree (``all``/``any``/``not``, field comparisons, port-range operators and an
``exists`` join to other facts that share fields with this one), and a report template.
One job per module: ``rules`` loads and compiles rules, ``fields`` says what a rule may
name on a fact, ``conditions`` compiles condition trees into closures, ``joins`` evaluates
``exists`` joins through an index (N copies of one listener cost O(N), not N²; a rule that
still compares too many pairs stops at a budget), ``messages`` fills a finding's text. This
module runs the rules: a rule that raises skips that fact and one that runs out of budget
stops, both reported (``RuleFailure``), not fatal. Every public name stays importable here.
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from portpolicy import errors
from portpolicy.config import Config, ConfigError
from portpolicy.engine.conditions import BINARY_OPS, UNARY_OPS, compile_condition
from portpolicy.engine.fields import (
    FACT_CLASSES,
    SUBJECTS,
    Binding,
    Choices,
    Condition,
    Getter,
    resolve,
    subject,
)
from portpolicy.engine.joins import (
    INDEX_KEY,
    JOIN_BUDGET,
    JOIN_BUDGET_PER_FACT,
    JoinBudgetExceeded,
    _JoinIndex,
)
from portpolicy.engine.messages import phrase_texts, render
from portpolicy.engine.rules import (
    BUNDLE,
    Rule,
    _load,
    builtin_rules_dir,
    compile_rule,
    load_rules,
    rule_data,
    rule_schema,
    stamp,
    validate_rule,
)
from portpolicy.model import USED_HERE, Fact, Finding, Location, Related, SuppressionComment
from portpolicy.records import record

__all__ = [
    "BINARY_OPS",
    "BUNDLE",
    "FACT_CLASSES",
    "INDEX_KEY",
    "JOIN_BUDGET",
    "JOIN_BUDGET_PER_FACT",
    "SEVERITY_RANK",
    "SUBJECTS",
    "UNARY_OPS",
    "Binding",
    "Choices",
    "Condition",
    "Getter",
    "JoinBudgetExceeded",
    "Rule",
    "RuleFailure",
    "_load",
    "builtin_rules_dir",
    "compile_condition",
    "compile_rule",
    "evaluate",
    "load_rules",
    "resolve",
    "rule_data",
    "rule_schema",
    "select",
    "stamp",
    "subject",
    "validate_rule",
]

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@record
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
    """Every finding of ``rules`` over ``facts``; one per rule, location and subject (``SUBJECTS``).

    The first fact to hold at a place speaks for every other with the same subject there;
    facts with other subjects at that place (the items of one Ansible loop) speak for themselves.

    With a ``failures`` list, a rule that raises on a fact skips that fact (one entry per
    rule and file) and a rule that exhausts the join budget stops (one entry: each side
    has the budget, and the first side that exhausts it ends the rule, its later sides
    too); without one, both raise, as a library caller expects.
    """
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        by_kind[fact.kind].append(fact)
    index = _JoinIndex(dict(by_kind))
    start: Binding = {INDEX_KEY: index}
    findings: list[Finding] = []
    seen: set[tuple[str, Location, str]] = set()
    for rule in rules:
        fixed = (severity or {}).get(rule.id)
        for part in (rule, *rule.also):
            index.tests, index.limit = 0, JOIN_BUDGET + JOIN_BUDGET_PER_FACT * len(facts)
            evaluation = _Evaluation(rule, part, start, fixed, seen, failures)
            findings.extend(evaluation.run(by_kind.get(part.fact, ())))
            if evaluation.exhausted:
                break
    return findings


@record(frozen=False)
class _Evaluation:
    """One side of one rule (``part`` is the rule itself or one of its ``also`` sides) over its facts."""

    rule: Rule
    part: Rule
    start: Binding
    fixed: str | None
    seen: set[tuple[str, Location, str]]
    failures: list[RuleFailure] | None
    exhausted: bool = False
    """The side stopped at the join budget: the rule's findings are incomplete, its other sides skipped."""

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
                self.exhausted = True
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
    seen: set[tuple[str, Location, str]],
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
    about = subject(fact)
    if not part.per_fact:
        if (rule.id, at, about) in seen:
            return None
        seen.add((rule.id, at, about))
    phrases = phrase_texts(part, fact, start, binding)
    for path, template in part.related:
        loc = _location_at(path, fact, binding)
        if loc is not None and loc != at and all(r.location != loc for r in related):
            related.append(Related(loc, render(template, fact, binding, phrases)))
    for ev in getattr(fact, "evidence", ()):
        if ev.location != at and all(r.location != ev.location for r in related):
            related.append(Related(ev.location, ev.message))
    level = fixed or next((lvl for cond, lvl in part.levels if cond(fact, start) is not None), rule.severity)
    return Finding(
        rule=rule.id,
        name=rule.name,
        severity=level,
        message=render(_message(part, fact, start), fact, binding, phrases),
        location=at,
        host=getattr(fact, "host", ""),
        related=tuple(related),
        subject=about,
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
