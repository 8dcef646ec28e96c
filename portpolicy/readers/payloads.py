"""Files carried as values inside another file: decoding their text and placing it on its lines.

Ignition's ``contents.source`` is a ``data:`` URL (percent-encoded, or ``;base64``), possibly
``compression: gzip``; cloud-init's ``write_files`` ``content`` is ``b64``/``gzip``/``gz+b64``
encoded, or plain. Decoding is bounded: ``MAX_ENCODED`` characters of a value are looked at,
``MAX_DECODED`` bytes come out (gzip is inflated incrementally and stopped there, so a bomb
costs what its cap does). Text that fails to decode is one ``ParseError`` on the value's line.

Where the text lands (``embedded``): a literal block (``|``) keeps its own lines and columns
(padded to the outer file's, ``virtual.embed``); any other value (a quoted string with
``\\n``, anything encoded) has no lines of its own, so the record is ``pinned`` and every fact
of it points at the line holding the value.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import unquote_to_bytes

from portpolicy.model import ParseError
from portpolicy.readers.base import LINE_BREAK, Source, shown
from portpolicy.virtual import WRITTEN, Deployed, embed
from portpolicy.yamlnodes import Node, ScalarNode, YamlError, compose_documents, location

MAX_ENCODED = 4 * 1024 * 1024
"""Characters of one encoded value decoded (a config is kilobytes)."""
MAX_DECODED = 1024 * 1024
"""Bytes one embedded file may decode or inflate to; more is one PP000, not read."""
MAX_FILES = 1000
"""Embedded files read per outer file."""

_DATA_URL = re.compile(r"data:([^,]{0,256}),", re.I)


class DecodeError(ValueError):
    """An embedded value that does not decode: its message quotes nothing of it."""


def data_url(url: str) -> bytes:
    """The bytes of a ``data:`` URL (RFC 2397): percent-encoded, or base64 with ``;base64``."""
    m = _DATA_URL.match(url)
    if m is None:
        raise DecodeError("is not a data: URL")
    raw = _percent(url[m.end() :])
    if m.group(1).lower().endswith(";base64"):
        return b64(raw.decode("ascii", errors="replace"))
    if len(raw) > MAX_DECODED:
        raise DecodeError(f"decodes to more than {MAX_DECODED // 1024} KiB")
    return raw


def _percent(payload: str) -> bytes:
    if len(payload) > MAX_ENCODED:
        raise DecodeError(f"is a data: URL over {MAX_ENCODED // 1048576} MiB")
    return unquote_to_bytes(payload)


def b64(text: str) -> bytes:
    """Base64 (whitespace ignored), bounded."""
    if len(text) > MAX_ENCODED:
        raise DecodeError(f"is base64 over {MAX_ENCODED // 1048576} MiB")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("is not valid base64") from None
    if len(data) > MAX_DECODED:
        raise DecodeError(f"decodes to more than {MAX_DECODED // 1024} KiB")
    return data


def gunzip(data: bytes) -> bytes:
    """Gzip inflated to at most ``MAX_DECODED`` bytes: a bomb stops at the cap."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_DECODED + 1)
    except zlib.error:
        raise DecodeError("is not valid gzip data") from None
    if len(out) > MAX_DECODED:
        raise DecodeError(f"inflates to more than {MAX_DECODED // 1024} KiB")
    return out


def text_of(data: bytes) -> str:
    """The decoded bytes as text; binary content is no config."""
    if b"\0" in data[:8192]:
        raise DecodeError("is binary, not text")
    return data.decode("utf-8-sig", errors="replace")


def embedded(
    source: Source,
    destination: str,
    node: Node,
    text: str | None,
    how: str,
    scope: str,
) -> Deployed | ParseError | None:
    """The record of a file whose text ``text`` is written at ``node`` (None: decoding failed
    and ``node``'s error is the caller's), or None when it writes nothing."""
    if text is None or not text.strip():
        return None
    where = location(source.path, node)
    ident = f"{WRITTEN}{source.path}:{where.line}:{where.column}"
    if isinstance(node, ScalarNode) and node.style == "|" and text == node.value:
        first = node.start_mark.line + 1
        padded, lines = embed(text, first, _indent(source.text, first, node.end_mark.line))
        return Deployed(source.path, padded, destination, first, how, where, ident, lines, scope=scope)
    line = where.line
    return Deployed(
        source.path, text, destination, 0, how, where, ident, (line, line), pinned=True, scope=scope
    )


def failed(source: Source, node: Node, destination: str, error: DecodeError) -> ParseError | None:
    """The error of content that does not decode, when some format's name wants its destination.

    Content written where no reader looks (``/etc/sysconfig/selinux``, a documentation
    example's truncated base64) would never be read: it is no error of the scan's.
    """
    if not _wanted(destination):
        return None
    where = location(source.path, node)
    return ParseError(f"the content written to {shown(destination, 80)} {error}", where)


def _wanted(destination: str) -> bool:
    from portpolicy.signatures import all_signatures  # loaded by recognition already

    path = destination.lstrip("/")
    return bool(path) and any(s.named(path) for s in all_signatures())


def _indent(text: str, first: int, end: int) -> int:
    """The indentation of a literal block: that of its first line with content."""
    for line in LINE_BREAK.split(text, end + 1)[first : end + 1]:
        if line.strip():
            return len(line) - len(line.lstrip(" "))
    return 0


Item = TypeVar("Item")


def read_documents(
    source: Source, read_yaml: Callable[[Source, list[Node]], Iterator[Item]], what: str
) -> Iterator[Item | ParseError]:
    """A file claimed by name, composed and handed to the reader's ``read_yaml`` (a YAML error is one PP000)."""
    try:
        docs = compose_documents(source.text)
    except YamlError as exc:
        yield ParseError(f"invalid {what}: {exc}", source.at(exc.line, exc.column))
        return
    yield from read_yaml(source, docs)
