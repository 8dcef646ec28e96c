"""Files that live on behalf of, or inside, other files: the records ``deployed`` reads.

Plain data, shared by the readers that find such files (a Kubernetes ConfigMap key), by
``placement`` (which container a deployed file reaches) and by ``deployed`` (which reads
them as what they become): kept apart from all three so none imports another for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portpolicy.model import Location

CONFIGMAP = "configmap:"
"""How a Kubernetes mount names its ConfigMap before ``read_all`` joins it to the key's text."""


@dataclass(frozen=True)
class Deployed:
    """A file at ``destination`` whose text lives in the scanned tree.

    ``text`` None: the tree file ``source_path`` itself; else a text embedded in it,
    preceded by ``line_offset`` lines (and padded so, see the module docstring).
    ``location`` is the line that deploys it (the COPY, the volume, the volumeMount).
    ``ident`` is how ``placement`` finds the container it reaches: the source path, or a
    name for an embedded text; ``lines`` the span of the source an embedded text covers.
    """

    source_path: str
    text: str | None
    destination: str
    line_offset: int
    how: str
    location: Location
    ident: str = ""
    lines: tuple[int, int] | None = None
    kind: str = field(default="deployed", init=False)

    @property
    def key(self) -> str:
        return self.ident or self.source_path


@dataclass(frozen=True)
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
