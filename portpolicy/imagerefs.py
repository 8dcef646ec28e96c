"""Container image references as registries read them, so one image matches in every spelling.

``nginx``, ``nginx:1.27``, ``docker.io/library/nginx:1.27-alpine`` and
``nginx@sha256:…`` are one repository (``docker.io/library/nginx``); ``bitnami/redis`` is
``docker.io/bitnami/redis``. A reference that still holds an unresolved variable
(``${REGISTRY}/app``, ``{{ image }}``) is no reference: callers learn nothing from it.

Tables (known images, sensitive services) name images by a short pattern: a repository
with an optional registry and ``*`` for one path segment or a name's tail
(``bitnami/*``, ``gcr.io/distroless/*``), and optionally a tag glob after ``:``
(``gcr.io/distroless/*:*nonroot*``).
"""

from __future__ import annotations

import fnmatch
import re

from portpolicy.records import record

DEFAULT_REGISTRY = "docker.io"
_REGISTRY_ALIASES = {"index.docker.io": DEFAULT_REGISTRY, "registry-1.docker.io": DEFAULT_REGISTRY}
_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
MAX_REFERENCE = 512


@record
class ImageRef:
    """One image reference, normalised: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """``registry/repository``: what tables match."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def parse(text: str) -> ImageRef | None:
    """``text`` as an image reference, or None when it is none (a variable, a typo, too long)."""
    ref = text.strip().strip("\"'")
    if not ref or len(ref) > MAX_REFERENCE or any(c in ref for c in "${}% \t"):
        return None
    ref, _, digest = ref.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        return None
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return None
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = _REGISTRY_ALIASES.get(first.lower(), first.lower()), rest
    else:
        registry, path = DEFAULT_REGISTRY, ref
    if not _NAME.fullmatch(path):
        return None
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag, digest)


def matches(ref: ImageRef, pattern: str) -> bool:
    """True when ``ref`` is one of the images ``pattern`` names (see the module docstring)."""
    name_glob, tag_glob = _split_pattern(pattern)
    if not fnmatch.fnmatchcase(ref.name, name_glob):
        return False
    return not tag_glob or fnmatch.fnmatchcase(ref.tag or "latest", tag_glob)


def _split_pattern(pattern: str) -> tuple[str, str]:
    """A table pattern as (``registry/repository`` glob, tag glob or "")."""
    name, tag = pattern, ""
    colon = pattern.rfind(":")
    if colon > pattern.rfind("/"):
        name, tag = pattern[:colon], pattern[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{_REGISTRY_ALIASES.get(first, first)}/{rest}", tag
    if "/" not in name:
        name = f"library/{name}"
    return f"{DEFAULT_REGISTRY}/{name}", tag
