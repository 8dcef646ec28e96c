"""Known images: who a container of a widely used image runs as when the files set no user.

Many images run as non-root with no ``USER`` line in the repository that uses them
(``FROM nginxinc/nginx-unprivileged``, ``bitnami/*``, distroless ``:nonroot``), and many
run as root but drop to a user before the server binds (postgres, redis, mysql: their
entrypoint's ``gosu``). ``data/images.yml`` says so for each; it is read only when a
listener's container names an image, and an image it does not list stays "user unknown",
so no verdict is guessed. Entries are patterns (``imagerefs.matches``); the first that
matches wins, so a tag-specific entry stands before its repository's general one.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from portpolicy import imagerefs
from portpolicy.model import Location, RunAs
from portpolicy.records import record

TABLE = "images.yml"
ORIGIN = "data/images.yml"


@record
class KnownImage:
    """One entry of the table."""

    patterns: tuple[str, ...]
    user: str
    """The image's configured user (its ``USER``; root when it sets none)."""
    binds_as: str
    """Who calls ``bind()`` for its listening sockets: ``user``, unless the entrypoint drops first."""
    model: str = ""
    """How the process that binds differs from ``user``, in words ("" when it does not)."""
    ports: tuple[str, ...] = ()
    """What its default configuration listens on (``8080/tcp``), for the reader of the table."""


@cache
def table() -> tuple[KnownImage, ...]:
    """The known images, in the table's order (the first match wins)."""
    text = resources.files("portpolicy.data").joinpath(TABLE).read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return tuple(
        KnownImage(
            tuple(str(p) for p in (e["image"] if isinstance(e["image"], list) else [e["image"]])),
            str(e["user"]),
            str(e.get("binds_as", e["user"])),
            str(e.get("model", "")),
            tuple(str(p) for p in e.get("ports", ())),
        )
        for e in entries
    )


@lru_cache(maxsize=4096)
def lookup(image: str) -> KnownImage | None:
    """The table's entry for an image reference as written, or None (unknown, or no reference)."""
    ref = imagerefs.parse(image) if image else None
    if ref is None:
        return None
    return next((known for known in table() if any(imagerefs.matches(ref, p) for p in known.patterns)), None)


def default_user(image: str, location: Location | None) -> RunAs | None:
    """The user the image's listening process binds as, located at the line naming the image.

    None for an image the table does not know: the user stays unknown.
    """
    known = lookup(image)
    if known is None:
        return None
    ref = image.strip().strip("\"'").partition("@")[0]  # a digest says nothing to a reader
    how = known.model or f"runs as {known.user}"
    return RunAs(
        user=known.binds_as, location=location, origin=f"the image's default user ({ref} {how}: {ORIGIN})"
    )
