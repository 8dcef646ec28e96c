"""One build call as a file writes it, before its paths are resolved against the tree."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_TAGS = 32
"""Image names kept from one call (``-t`` options, ``tags:`` lines, bake ``tags``)."""
MAX_ARGS = 64
"""Build arguments kept from one call."""


@dataclass(frozen=True)
class Call:
    """A build call: the images it tags, its Dockerfile and context as written, where it runs.

    ``folder`` is the normalised folder relative paths start from (a workflow's: the folder
    holding ``.github``). ``dockerfile`` None is the default ``Dockerfile`` of the context;
    ``file_in_context`` says a written Dockerfile path is relative to the context (bake,
    skaffold, kaniko) rather than to ``folder`` (``docker build -f``, build-push-action).
    """

    tags: tuple[str, ...]
    dockerfile: str | None
    context: str | None
    folder: str
    line: int
    how: str
    file_in_context: bool = False
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    search_up: bool = False
    """A script's call may run from any folder above it: the Dockerfile is looked for upwards."""


@dataclass
class Found:
    """The calls of one file and what was passed over, as (line, sentence) notes."""

    calls: list[Call] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
