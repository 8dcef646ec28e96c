"""``when:`` as Ansible decides it, and what a condition that does not resolve leaves behind.

A role or task whose ``when:`` is false with the variables known is not run (nor are the
roles it pulls in). One whose ``when:`` does not resolve may run: it is run, and every
listener it declares carries the unresolved conditions (``Listener.may_run``), so that a
rule pairing two sockets (PP004) does not take two listeners guarded by different unknown
conditions (``cinder_csi_enabled``, ``aws_ebs_csi_enabled``) as running together.

Its own module so that the task walker (``tasks.py``), role running (``roles.py``) and the
play runner (``project.py``) share one reading of ``when:`` without importing each other.
"""

from __future__ import annotations

from dataclasses import replace

from portpolicy.ansible.context import Out
from portpolicy.ansible.jinja import Unknown, evaluate, truth
from portpolicy.ansible.variables import Scope, node_value
from portpolicy.model import Listener, MayRun
from portpolicy.yamlnodes import Node, SequenceNode, seq

MAX_CONDITIONS = 16
"""Conditions a fact keeps (nested roles and blocks): past it, further ones are not added,
so a pairing rule errs towards pairing (a finding), never towards silence."""


def when(scope: Scope, node: Node | None) -> tuple[bool | None, tuple[str, ...]]:
    """``when``: (False, ()) when some part is false; (None, the parts that did not resolve)
    when none is false but some are unknown (it may run); (True, ()) when all hold."""
    if node is None:
        return True, ()
    conds = seq(node) if isinstance(node, SequenceNode) else [node]
    unknown: list[str] = []
    for cond in conds:
        value = node_value(cond)
        if isinstance(value, bool):
            if not value:
                return False, ()
            continue
        if not isinstance(value, str):
            unknown.append(str(getattr(cond, "value", "")) or "a condition that is not text")
            continue
        text = value.strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2].strip()
        try:
            if not truth(evaluate(text, scope)):
                return False, ()
        except Unknown:
            unknown.append(" ".join(text.split()))
    return (None, tuple(unknown)) if unknown else (True, ())


def guard(out: Out, start: int, conditions: tuple[str, ...]) -> None:
    """Mark the listeners added to ``out`` since ``start`` as running only if ``conditions`` hold."""
    if not conditions:
        return
    facts = out.facts
    for i in range(start, len(facts)):
        reader, fact = facts[i]
        if isinstance(fact, Listener):
            have = fact.may_run.conditions
            if len(have) >= MAX_CONDITIONS:
                continue
            added = have.union(conditions[: MAX_CONDITIONS - len(have)])
            facts[i] = (reader, replace(fact, may_run=MayRun(frozenset(added))))
