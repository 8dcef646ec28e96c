"""Files that live on behalf of, or inside, other files: the records ``deployed`` reads.

Plain data, shared by the readers that find such files (a Kubernetes ConfigMap key), by
``placement`` (which container a deployed file reaches) and by ``deployed`` (which reads
them as what they become): kept apart from all three so none imports another for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

from portpolicy.model import Location
from portpolicy.records import record

CONFIGMAP = "configmap:"
"""How a Kubernetes mount names its ConfigMap before ``read_all`` joins it to the key's text."""
WRITTEN = "written:"
"""How a file written inside another file (a heredoc, cloud-init ``write_files``, an Ignition
entry) is named (its ``ident``): never a tree path, so it reaches a container only through a
route that names it (a Dockerfile heredoc's ``COPY <<EOF``/``RUN``), never by accident."""


@record
class Deployed:
    """A file at ``destination`` whose text lives in the scanned tree.

    ``text`` None: the tree file ``source_path`` itself; else a text embedded in it,
    preceded by ``line_offset`` lines (and padded so, see the module docstring).
    ``location`` is the line that deploys it (the COPY, the volume, the volumeMount).
    ``ident`` is how ``placement`` finds the container it reaches: the source path, or a
    name for an embedded text; ``lines`` the span of the source an embedded text covers.
    ``pinned``: an encoded text (base64, gzip, a ``data:`` URL) has no lines of its own, so
    every fact of it points at ``location``, the line holding the encoded value.
    ``scope``: the reader whose host scope the text takes (the file that writes it: an
    Ignition or cloud-init file is one host); empty, the text's own reader's.
    """

    source_path: str
    text: str | None
    destination: str
    line_offset: int
    how: str
    location: Location
    ident: str = ""
    lines: tuple[int, int] | None = None
    pinned: bool = False
    scope: str = ""
    kind: str = field(default="deployed", init=False)

    @property
    def key(self) -> str:
        return self.ident or self.source_path


@record
class Embedded:
    """A file held inside another file, not yet deployed anywhere (a ConfigMap key).

    ``owner`` names what holds it (``configmap:<namespace>/<name>``) and ``name`` the key;
    ``text`` is already padded to the container file's lines (``embed``); ``lines`` is the
    span of the container file it covers; ``location`` where the key is written.
    """

    source_path: str
    owner: str
    name: str
    text: str
    lines: tuple[int, int]
    location: Location
    kind: str = field(default="embedded", init=False)


def embed(value: str, line_offset: int, indent: int) -> tuple[str, tuple[int, int]]:
    """``value`` padded to where it is written: ``line_offset`` lines, ``indent`` columns.

    Padding (not remapping) keeps every reader's line and column right, even readers that
    keep raw token positions; the padded text is never larger than the lines it stands for.
    """
    lines = value.split("\n")
    pad = " " * indent
    body = "\n".join(pad + line if line else line for line in lines)
    last = line_offset + max(1, len(lines) - (1 if value.endswith("\n") else 0))
    return "\n" * line_offset + body, (line_offset + 1, last)


MAX_NEST = 512
"""How deep ``move_locations`` follows a fact's dataclasses (nginx blocks nest up to 64 levels)."""


def move_locations(obj: Any, path: str, move: Callable[[Location], Location], depth: int = 0) -> Any:
    """``obj`` with every ``Location`` on ``path`` replaced by ``move(location)``.

    Nested dataclasses and tuples are followed (``MAX_NEST`` levels); anything unchanged is
    returned as is. A file read under another name (a deployed file, a rendered template)
    comes back to the lines the user edits this way.
    """
    if depth > MAX_NEST:
        return obj
    if isinstance(obj, Location):
        return move(obj) if obj.path == path else obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for f in dataclasses.fields(obj):
            if not f.init:
                continue
            value = getattr(obj, f.name)
            new = move_locations(value, path, move, depth + 1)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(obj, **changes) if changes else obj
    if isinstance(obj, tuple) and obj:
        items = [move_locations(x, path, move, depth + 1) for x in obj]
        if all(a is b for a, b in zip(items, obj, strict=True)):
            return obj
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj
