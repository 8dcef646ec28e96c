"""A release's chart archive, built in memory from files read through ``safeio``.

Helm is never pointed at the scanned tree: it could follow a symbolic link out of it. The
child reads each planned file under the scanned roots (regular files only, bounded), and
hands Helm a ``.tgz`` of what it read; a file it may not read is left out, as the per-file
readers would skip it.

A ``values.schema.json`` is Helm's to judge, with one exception made before Helm sees it:
a schema whose ``$ref`` (or ``$schema``) names anything but a place in the same file is left
out, because Helm loads what it names, from the network or from any file of this machine.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterator

from portpolicy import safeio

MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
"""All the files of one release together: a chart is kilobytes, a vendored dependency a few more."""
MAX_ARCHIVE_FILES = 20_000


class PackageError(Exception):
    """The release cannot be packaged: the message says why (shown as the unresolved reason)."""


SCHEMA_FILE = "values.schema.json"
MAX_SCHEMA_DEPTH = 200
"""Nesting of a schema walked for references; deeper is refused, not followed."""
_METASCHEMA = re.compile(
    r"https?://json-schema\.org/(?:draft-0[4-7]/schema|draft/20(?:19-09|20-12)/schema|schema)#?"
)
"""The metaschemas Helm's JSON Schema library carries itself (never fetched)."""
_REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def schema_problems(files: list[tuple[str, str]], roots: tuple[str, ...]) -> dict[str, str]:
    """Schema files Helm must not be given (shown path -> why): those that name another document."""
    out: dict[str, str] = {}
    for name, path in files:
        if posixpath.basename(name) != SCHEMA_FILE:
            continue
        data = safeio.read_bytes(path, roots, MAX_ARCHIVE_BYTES)
        if isinstance(data, safeio.Refusal):
            continue  # left out by ``build`` anyway
        why = outside_reference(data)
        if why:
            out[path] = why
    return out


def outside_reference(data: bytes) -> str:
    """Why a schema may not go to Helm (it names another document), or ``""``.

    Text that is not JSON is Helm's to refuse (it reads nothing else for it).
    """
    try:
        schema = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    try:
        for key, value in _references(schema, 0):
            if key == "$schema" and _METASCHEMA.fullmatch(value):
                continue
            if key != "$schema" and value.startswith("#"):
                continue
            shown = value if len(value) <= 80 else value[:79] + "…"
            return (
                f"{key} {shown!r} names another document, which Helm would load from the "
                "network or this machine's files; checked without the schema"
            )
    except RecursionError:
        return f"nested over {MAX_SCHEMA_DEPTH} levels; checked without the schema"
    return ""


def _references(node: object, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_SCHEMA_DEPTH:
        raise RecursionError
    if isinstance(node, dict):
        for key, value in node.items():
            if key in (*_REFERENCE_KEYS, "$schema") and isinstance(value, str):
                yield key, value
            else:
                yield from _references(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item, depth + 1)


def build(
    files: list[tuple[str, str]], roots: tuple[str, ...], leave_out: frozenset[str] = frozenset()
) -> bytes:
    """The ``.tgz`` of ``files`` (archive name, shown path), read under ``roots``; ``leave_out``
    names shown paths not to put in it (a schema Helm is not given)."""
    files = [(name, path) for name, path in files if path not in leave_out]
    if len(files) > MAX_ARCHIVE_FILES:
        raise PackageError(f"chart has {len(files)} files, over the {MAX_ARCHIVE_FILES} this stage packages")
    out = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        for name, path in files:
            data = safeio.read_bytes(path, roots, MAX_ARCHIVE_BYTES)
            if isinstance(data, safeio.Refusal):
                if name.count("/") == 1 and name.endswith("/Chart.yaml"):
                    raise PackageError(f"Chart.yaml not read: {data.reason}")
                continue
            total += len(data)
            if total > MAX_ARCHIVE_BYTES:
                raise PackageError(f"chart files are over {MAX_ARCHIVE_BYTES // 1048576} MiB together")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def read_values(paths: list[str], roots: tuple[str, ...]) -> list[tuple[str, str]]:
    """The extra values files as (shown path, text); one that cannot be read is a ``PackageError``."""
    texts = []
    for path in paths:
        text = safeio.read_text(path, roots, safeio.MAX_BYTES)
        if isinstance(text, safeio.Refusal):
            raise PackageError(f"values file {path} not read: {text.reason}")
        texts.append((path, text))
    return texts
