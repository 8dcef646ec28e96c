"""Reading one file: through ``safeio`` under the scan's roots, recognised by content, handed
to its reader, and never raising whatever the file holds (``read_candidate``).

The facts come back with the file's suppression comments (``FileRead``), not through
shared state, so scans may run in threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from portpolicy import errors, recognise, safeio, signatures, suppress
from portpolicy.discover import Candidate
from portpolicy.model import Fact, Location, ParseError
from portpolicy.readers.base import Source, cut_values, raw_template_errors, unlike_file
from portpolicy.yamlnodes import YamlError, compose_documents

MAX_BYTES = safeio.MAX_BYTES


class FileRead(NamedTuple):
    """What reading one candidate gave: its reader (None when skipped), facts, skip reason
    and suppression comments (these travel with the facts, not through shared state)."""

    reader: str | None
    facts: list[Fact]
    skip: str = ""
    suppressions: Sequence[suppress.Suppression] = ()


def read_candidate(candidate: Candidate, roots: tuple[str, ...] = ()) -> FileRead:
    """The reader, facts and suppressions of one file, or why it is skipped: never raises,
    whatever the file holds.

    The file is read once, through ``safeio`` under ``roots`` (a link out of the tree or to
    a FIFO or device is skipped, an unreadable file is PP000); ``recognise`` decides from
    its text which reader gets it.
    """
    loaded = load(candidate, roots)
    return loaded if isinstance(loaded, FileRead) else read_loaded(candidate, loaded)


def load(candidate: Candidate, roots: tuple[str, ...] = ()) -> bytes | FileRead:
    """The file's bytes, or what reading it gave when there is nothing to read (a refusal,
    a binary file): the part of ``read_candidate`` that depends on the file system, not on
    the content, so the cache (``portpolicy.cache``) keys what follows on the bytes."""
    path = candidate.path
    if candidate.problem:
        return FileRead("file", [_error(path, candidate.problem)])
    data = safeio.read_bytes(path, roots, MAX_BYTES)
    if isinstance(data, safeio.Refusal):
        return FileRead(*_refused(candidate, data))
    if b"\0" in data[:8192]:
        return FileRead(None, [], "binary content")
    return data


def read_loaded(candidate: Candidate, data: bytes) -> FileRead:
    """``read_candidate`` for bytes ``load`` gave: a function of the content, ``candidate.path``
    and ``candidate.rel`` alone (and of portpolicy's code), never raising."""
    path = candidate.path
    text, bad_utf8 = decode(data)
    name = "recognition"
    comments: Sequence[suppress.Suppression] = ()
    try:
        recognition = recognise.recognise(candidate.rel or path, text)
        if recognition.signature is None and not recognition.sniff_yaml:
            return FileRead(None, [], recognition.reason)
        facts: list[Fact] = []
        if bad_utf8 is not None:
            facts.append(
                _error(
                    path,
                    f"not valid UTF-8 (first bad byte at offset {bad_utf8}); read with replacement characters",
                )
            )
        source = Source(path, text, candidate.rel)
        comments = suppress.in_text(path, text)
        if recognition.signature is None:
            name = "yaml"
            return FileRead(*_sniff_yaml(source, facts, recognition.sniffed), comments)
        reader = signatures.reader(recognition.signature)
        name = reader.NAME
        read = list(reader.read(source))
        unlike = unlike_file(reader, source, read)
        if unlike is not None:  # read by its name, but not of the format: quote none of it
            read, name = [_error(path, unlike)], UNRECOGNISED_FORMAT
        else:
            read = cut_values(read)
        facts.extend(raw_template_errors(path, read) if source.template else read)
        return FileRead(name, facts, "", comments)
    except Exception as exc:  # a reader bug must not cost the user the rest of the run
        message = f"internal error in the {name} reader ({errors.describe(exc)}); please report it"
        return FileRead(name, [_error(path, message)], "", comments)


PENDING = ("portpolicy.readers.compose.project", "Pending")
"""The compose reader's record of a file kept for ``join`` (``readers.compose.project``): it
holds the file's composed YAML documents, which are costly to copy between processes and
have no data form; they are composed again from the text instead (``own_documents``)."""


def is_pending(fact: object) -> bool:
    """Is ``fact`` the compose reader's ``Pending`` record? (Without importing the reader.)"""
    kind = type(fact)
    return kind.__name__ == PENDING[1] and kind.__module__ == PENDING[0]


def own_documents(fact: Any, candidate: Candidate, text: str) -> bool:
    """Are ``fact``'s documents (a ``Pending`` record) ``compose_documents`` of this file's own
    text, so that ``recompose`` gives them again?

    True for the record of the file itself (its source is the file, as ``read_loaded``
    built it) when the file holds no Jinja: its documents were composed from ``text``,
    by name and by content alike (``masked`` is ``text`` then). A record of an embedded
    file, or of a file with Jinja masked, keeps its documents.
    """
    source = fact.source
    return (
        type(source) is Source
        and source.path == candidate.path
        and source.rel == candidate.rel
        and source.text == text
        and not source.jinja
    )


def recompose(source: Source, placeholders: dict[str, str], by_name: bool, names: Any, count: int) -> Any:
    """A ``Pending`` record whose documents ``own_documents`` left out, with them composed again."""
    from portpolicy.readers.compose.project import Pending

    return Pending(source, compose_documents(source.text), placeholders, by_name, names, count)


def _refused(candidate: Candidate, refusal: safeio.Refusal) -> tuple[str | None, list[Fact], str]:
    """A file ``safeio`` would not read: a skip (not ours to read) or PP000 (ours, unreadable).

    An oversized file is PP000 only when its name says it is one of ours: its content is
    never looked at.
    """
    if refusal.kind in ("outside", "special"):
        return None, [], refusal.reason
    if refusal.kind == "too-large":
        priors = recognise.named(candidate.rel or candidate.path)
        if not priors:
            return None, [], f"larger than {MAX_BYTES // 1048576} MiB, not read"
        message = f"file is {refusal.size // 1048576} MiB, over the {MAX_BYTES // 1048576} MiB limit"
        return priors[0].name, [_error(candidate.path, message)], ""
    return "file", [_error(candidate.path, refusal.reason)], ""


UNRECOGNISED_FORMAT = "file"
"""The reader name of a file that is not of the format its name claims: no line of it is quoted."""


def _sniff_yaml(
    source: Source, facts: list[Fact], sniffed: tuple[signatures.Signature, ...]
) -> tuple[str | None, list[Fact], str]:
    """YAML whose text ``sniffed`` formats accepted (``recognise``): composed once, then their
    readers' ``claims`` decide."""
    yaml_readers = [signatures.reader(s) for s in sniffed]
    try:
        docs = compose_documents(source.text)
    except YamlError:
        return None, [], recognise.UNPARSED_YAML
    for reader in yaml_readers:
        if reader.claims(docs):
            facts.extend(reader.read_yaml(source, docs))
            return reader.NAME, facts, ""
    return None, [], recognise.UNRECOGNISED_YAML


def decode(data: bytes) -> tuple[str, int | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return data.decode("utf-8-sig", errors="replace"), exc.start


def _error(path: str, message: str, line: int = 1, column: int = 1) -> ParseError:
    return ParseError(message, Location(path, line, column))
