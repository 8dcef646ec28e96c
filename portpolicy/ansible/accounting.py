"""Where every task of the plays went: so that a quiet Ansible result can be told from a blind one.

Each task the walker reaches is put in exactly one bucket (``TaskMark``):

* ``resolved``: evaluated, with every value it uses known (a firewall port, a ``set_fact``
  value, an included file's name);
* ``unresolved``: portpolicy could not evaluate it, or not all of it; the reason says why (a
  loop or an argument that does not resolve, a custom module, a role or file not in the tree);
* ``no-port``: its module declares no port that portpolicy knows of (``apt``, ``service``,
  ``debug``, a module of a collection not in the tree), so its arguments are not evaluated;
* ``skipped``: its ``when:`` is false for every loop item, or its loop has no items.

A task run more than once (a role in two plays, a play per class of hosts, a loop) keeps
the strongest bucket: unresolved over resolved over no-port over skipped, so a task left
unresolved for one class of hosts is counted unresolved. Notes (an old form such as a bare
variable in ``with_items``, evaluated as Ansible 2.0 did) travel with the mark; ``-v``
shows them. ``--statistics`` sums the buckets (``summary``); they add up to the tasks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from portpolicy.model import Location

RESOLVED = "resolved"
UNRESOLVED = "unresolved"
NO_PORT = "no-port"
SKIPPED = "skipped"
BUCKETS = (RESOLVED, UNRESOLVED, NO_PORT, SKIPPED)
_RANK = {SKIPPED: 0, NO_PORT: 1, RESOLVED: 2, UNRESOLVED: 3}


class TaskMark(NamedTuple):
    """One run of one task: where it is written, its bucket, why (for ``unresolved``), a note."""

    where: Location
    bucket: str
    reason: str = ""
    note: str = ""


class TaskTotal(NamedTuple):
    """A task's bucket over all its runs, the reason of the run that put it there (and its
    ``kind``, how ``--statistics`` groups reasons), its notes."""

    where: Location
    bucket: str
    reason: str
    kind: str
    notes: tuple[str, ...]


def combine(marks: Iterable[TaskMark]) -> list[TaskTotal]:
    """One total per task (by where it is written), in file and line order."""
    best: dict[Location, TaskMark] = {}
    notes: dict[Location, dict[str, None]] = {}
    for mark in marks:
        held = best.get(mark.where)
        if held is None or _RANK[mark.bucket] > _RANK[held.bucket]:
            best[mark.where] = mark
        if mark.note:
            notes.setdefault(mark.where, {})[mark.note] = None
    return [
        TaskTotal(where, mark.bucket, mark.reason, kind(mark.reason), tuple(notes.get(where, ())))
        for where, mark in sorted(best.items())
    ]


def kind(reason: str) -> str:
    """The reason without what names one task (a variable, a file): how ``--statistics`` groups them."""
    head = reason.split(":", 1)[0].strip()
    if head.startswith("custom module"):
        return "custom module: not evaluated"
    return head
