"""A release's chart archive, built in memory from files read through ``safeio``.

Helm is never pointed at the scanned tree: it could follow a symbolic link out of it. The
child reads each planned file under the scanned roots (regular files only, bounded), and
hands Helm a ``.tgz`` of what it read; a file it may not read is left out, as the per-file
readers would skip it.
"""

from __future__ import annotations

import io
import tarfile

from portpolicy import safeio

MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
"""All the files of one release together: a chart is kilobytes, a vendored dependency a few more."""
MAX_ARCHIVE_FILES = 20_000


class PackageError(Exception):
    """The release cannot be packaged: the message says why (shown as the unresolved reason)."""


def build(files: list[tuple[str, str]], roots: tuple[str, ...]) -> bytes:
    """The ``.tgz`` of ``files`` (archive name, shown path), read under ``roots``."""
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
