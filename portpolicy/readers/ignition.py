"""Ignition, Butane and OpenShift MachineConfig files: the files and units they write on a host.

An Ignition config (``*.ign``, JSON), its Butane source (``*.bu``, or YAML with ``variant``)
and a MachineConfig (``machineconfiguration.openshift.io``, whose ``spec.config`` is an
Ignition config) carry configs as values: ``storage.files[]`` with a ``path`` and
``contents.source`` (a ``data:`` URL, percent-encoded or ``;base64``), ``contents.inline``
(Butane) and ``contents.compression: gzip``; ``systemd.units[]`` with ``contents`` and
``dropins[]``. Each becomes a ``Deployed`` record (``payloads``) that ``deployed.read_all``
reads as its destination's format. The file is one host (``Signature.scope``): everything it
writes lands on the machine it provisions. ``contents.local`` (a file beside the Butane
source) and remote URLs are not followed; an ``append`` is read alone, like a heredoc's.
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Fact, ParseError
from portpolicy.readers import payloads
from portpolicy.readers.base import Source
from portpolicy.virtual import Deployed
from portpolicy.yamlnodes import Node, get, items, scalar, seq

NAME = "ignition"
UNITS = "/etc/systemd/system/"

Record = Fact | Deployed


def is_config(doc: Node) -> bool:
    """An Ignition config (``ignition.version``), a Butane config (``variant``) or a MachineConfig."""
    keys = {key for key, _, _ in items(doc)}
    if "ignition" in keys or ("variant" in keys and "version" in keys):
        return True
    api = scalar(get(doc, "apiVersion")) or ""
    return scalar(get(doc, "kind")) == "MachineConfig" and api.startswith("machineconfiguration.openshift.io")


def claims(docs: list[Node]) -> bool:
    """Every document is one of these (a manifest that mixes in other objects is Kubernetes')."""
    return bool(docs) and all(is_config(doc) for doc in docs)


def read(source: Source) -> Iterator[Record]:
    """A file claimed by name (``*.ign``, ``*.bu``)."""
    yield from payloads.read_documents(source, read_yaml, "Ignition/Butane config")


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Record]:
    found = 0
    for doc in docs:
        config = get(get(doc, "spec"), "config") if get(doc, "kind") is not None else doc
        for record in _config(source, config):
            found += isinstance(record, Deployed)
            if found > payloads.MAX_FILES:
                yield ParseError(
                    f"more than {payloads.MAX_FILES} files; the rest are not read", record.location
                )
                return
            yield record


def _config(source: Source, config: Node | None) -> Iterator[Deployed | ParseError]:
    for entry in seq(get(get(config, "storage"), "files")):
        path = scalar(get(entry, "path"))
        if path:
            yield from _file(source, path, get(entry, "contents"), "written by Ignition storage.files")
            for more in seq(get(entry, "append")):  # Ignition 3: a list of contents appended
                yield from _file(source, path, more, "appended by Ignition storage.files (read alone)")
    for unit in seq(get(get(config, "systemd"), "units")):
        name = scalar(get(unit, "name"))
        if not name or "/" in name:
            continue
        yield from _inline(source, UNITS + name, get(unit, "contents"), "written by Ignition systemd.units")
        for dropin in seq(get(unit, "dropins")):
            base = scalar(get(dropin, "name"))
            if base and "/" not in base:
                where = f"{UNITS}{name}.d/{base}"
                yield from _inline(
                    source, where, get(dropin, "contents"), "written by Ignition systemd dropins"
                )


def _file(source: Source, path: str, contents: Node | None, how: str) -> Iterator[Deployed | ParseError]:
    """One ``contents``: ``inline`` (Butane) or a ``data:`` URL ``source``, maybe gzip-compressed."""
    inline = get(contents, "inline")
    if inline is not None:
        yield from _inline(source, path, inline, how)
        return
    node = get(contents, "source")
    url = scalar(node)
    if node is None or not url or url[:5].lower() != "data:":
        return  # a remote or local source is not in the tree
    try:
        data = payloads.data_url(url)
        if (scalar(get(contents, "compression")) or "").lower() == "gzip":
            data = payloads.gunzip(data)
        text = payloads.text_of(data)
    except payloads.DecodeError as exc:
        error = payloads.failed(source, node, path, exc)
        if error is not None:
            yield error
        return
    record = payloads.embedded(source, path, node, text, how, NAME)
    if record is not None:
        yield record


def _inline(source: Source, path: str, node: Node | None, how: str) -> Iterator[Deployed | ParseError]:
    text = scalar(node)
    if node is None or text is None:
        return
    record = payloads.embedded(source, path, node, text, how, NAME)
    if record is not None:
        yield record
