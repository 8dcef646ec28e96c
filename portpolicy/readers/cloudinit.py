"""cloud-init user data (``#cloud-config``): the files its ``write_files`` puts on the host.

Each ``write_files`` entry's ``content`` (plain, or ``encoding`` ``b64``/``base64``,
``gzip``/``gz`` (base64 of gzip, as YAML's ``!!binary`` holds it), ``gz+b64``/``gzip+base64``)
at its ``path`` becomes a ``Deployed`` record (``payloads``), which ``deployed.read_all`` reads
as its destination's format; ``append: true`` is read alone, like a heredoc's. The file is one
host (``Signature.scope``): the machine it provisions. Other modules (``runcmd``, ``bootcmd``)
are programs run at boot, not files: not read.
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Fact, ParseError
from portpolicy.readers import payloads
from portpolicy.readers.base import Source
from portpolicy.virtual import Deployed
from portpolicy.yamlnodes import Node, get, scalar, seq

NAME = "cloud-init"

_PLAIN = frozenset({"", "text/plain", "text"})
_BASE64 = frozenset({"b64", "base64"})
_GZIP = frozenset({"gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64"})

Record = Fact | Deployed


def claims(docs: list[Node]) -> bool:
    """A ``#cloud-config`` (recognition's sniff) whose mapping writes files."""
    return any(get(doc, "write_files") is not None for doc in docs)


def read(source: Source) -> Iterator[Record]:
    """A file claimed by name (``user-data``)."""
    yield from payloads.read_documents(source, read_yaml, "cloud-config YAML")


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Record]:
    found = 0
    for doc in docs:
        for entry in seq(get(doc, "write_files")):
            path = scalar(get(entry, "path"))
            node = get(entry, "content")
            if not path or node is None:
                continue
            found += 1
            if found > payloads.MAX_FILES:
                message = f"more than {payloads.MAX_FILES} write_files entries; the rest are not read"
                yield ParseError(message, source.at(node.start_mark.line + 1))
                return
            yield from _entry(source, path, entry, node)


def _entry(source: Source, path: str, entry: Node, node: Node) -> Iterator[Record]:
    encoding = (scalar(get(entry, "encoding")) or "").strip().lower()
    appended = (scalar(get(entry, "append")) or "").lower() == "true"
    how = (
        "appended by cloud-init write_files (read alone)" if appended else "written by cloud-init write_files"
    )
    try:
        text = _decoded(scalar(node) or "", encoding)
    except payloads.DecodeError as exc:
        error = payloads.failed(source, node, path, exc)
        if error is not None:
            yield error
        return
    if text is None:
        return  # an encoding cloud-init does not know: it writes nothing either
    record = payloads.embedded(source, path, node, text, how, NAME)
    if record is not None:
        yield record


def _decoded(value: str, encoding: str) -> str | None:
    if encoding in _PLAIN:
        return value
    if encoding in _BASE64:
        return payloads.text_of(payloads.b64(value))
    if encoding in _GZIP:
        return payloads.text_of(payloads.gunzip(payloads.b64(value)))
    return None
