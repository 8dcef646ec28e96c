"""The project around a compose file: its folder's ``.env``, and the second read that uses it.

A file that uses variables is read at once without a ``.env`` and gives a ``Pending`` record;
``join`` then reads it again with the ``.env`` of its folder (the project directory), if the
scan read one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from portpolicy.model import Fact, Location, ParseError
from portpolicy.readers.base import Source, cut_values
from portpolicy.readers.compose.document import Document
from portpolicy.readers.dotenv import Env, references
from portpolicy.yamlnodes import Node


def _with_pending(
    source: Source, docs: list[Node], placeholders: dict[str, str], by_name: bool
) -> Iterator[Fact | Pending]:
    """The facts read without a ``.env``; then, if the file uses variables, what ``join`` needs."""
    facts = list(_read_guarded(source, docs, placeholders, by_name))
    yield from facts
    if not source.template:  # kept for ``join``: the ``.env``, and the files Compose merges with it
        yield Pending(source, docs, placeholders, by_name, references(source.text), len(facts))


def _read_guarded(
    source: Source, docs: list[Node], placeholders: dict[str, str], by_name: bool, env: Env | None = None
) -> Iterator[Fact]:
    """The services of every document (a bug is the pipeline's to guard, at its call)."""
    for doc in docs:
        yield from Document(source, placeholders, env).document(doc, by_name)


class Pending:
    """A compose file that uses variables, kept (with its documents) until its folder's ``.env`` is known.

    Not a dataclass, so nothing that walks facts (``destinations.remap``) walks its documents.
    """

    kind = "compose_pending"

    def __init__(
        self,
        source: Source,
        docs: list[Node],
        placeholders: dict[str, str],
        by_name: bool,
        names: frozenset[str],
        count: int,
    ) -> None:
        self.source = source
        self.docs = docs
        self.placeholders = placeholders
        self.by_name = by_name
        self.names = names
        """The variables the file may use."""
        self.count = count
        """How many facts the reader gave before this record (those ``join`` replaces)."""
        self.location = source.at(1)


Entry = tuple[str, str, list[Any]]
"""(path, reader name, what the reader gave) for one read file, as the pipeline holds it."""


def _with_env(path: str, facts: list[Any], env: Env | None) -> list[Any]:
    """A compose file's facts, read again with ``env`` when it sets a variable the file uses."""
    at = next((i for i, f in enumerate(facts) if isinstance(f, Pending)), None)
    refused = [_refused(path, env)] if env is not None and env.broken else []
    if at is None:
        return facts + refused
    pending: Pending = facts[at]
    if env is None or env.broken or not pending.names & env.names:
        return facts[:at] + facts[at + 1 :] + refused
    start = at - pending.count
    fresh = _read_guarded(pending.source, pending.docs, pending.placeholders, pending.by_name, env)
    return facts[:start] + cut_values(list(fresh)) + facts[at + 1 :]


def _refused(path: str, env: Env) -> ParseError:
    """Compose refuses a project whose ``.env`` it cannot read: said on the compose file, so no line of
    the ``.env`` (which holds secrets) is ever shown under a finding."""
    why = f"Compose cannot read {env.path} ({env.broken}), so it refuses to start this project"
    return ParseError(why, Location(path, 1))


def assemble(facts: Sequence[Any]) -> list[Any]:
    """What ``join`` did not use (a compose text read outside the pipeline's files) is dropped."""
    return [f for f in facts if not isinstance(f, Pending)]
