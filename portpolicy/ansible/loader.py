"""Read and compose each Ansible file once per scan, whatever asks for it first.

Files are read with the pipeline's limits (size, binary, UTF-8); YAML is composed with
``yamlsrc.compose_documents`` (libyaml, nodes only, ``!vault``/``!unsafe`` tolerated).
A file that cannot be read or parsed keeps its error, which becomes a ``ParseError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from portpolicy.model import Location, ParseError
from portpolicy.yamlsrc import Node, YamlError, compose_documents

MAX_BYTES = 8 * 1024 * 1024


@dataclass
class Loaded:
    path: str
    text: str
    docs: list[Node] = field(default_factory=list)
    error: ParseError | None = None


class Loader:
    """A per-scan cache of file texts and composed YAML documents."""

    def __init__(self) -> None:
        self.texts: dict[str, str | None] = {}
        self.yaml: dict[str, Loaded] = {}
        self.role_runs: dict[tuple[Any, ...], list[Any]] = {}
        self.role_layers: dict[tuple[str, str], Any] = {}
        """Each role's ``defaults``/``vars`` layer and the errors reading it, by (role root, kind)."""
        self.open_sources: set[str] = set()
        """Roles with a template task whose ``src`` did not resolve: their templates stay readable raw."""
        self.tasks: dict[int, Any] = {}
        """Each task's variable-free reading (``tasks._Prepared``) by node id; the nodes live as long."""
        """Recorded role runs (``tasks.RoleRun``) by role and place, replayed across plays."""

    def text(self, path: str) -> str | None:
        if path not in self.texts:
            self.texts[path] = _read(path)
        return self.texts[path]

    def load(self, path: str) -> Loaded:
        """The composed documents of a YAML file (an empty list, with ``error``, when it fails)."""
        if path in self.yaml:
            return self.yaml[path]
        text = self.text(path)
        loaded = Loaded(path, text or "")
        if text is None:
            loaded.error = ParseError("cannot read this file (missing, binary or too large)", Location(path))
        else:
            try:
                loaded.docs = compose_documents(text)
            except YamlError as exc:
                loaded.error = ParseError(f"YAML does not parse: {exc}", Location(path, exc.line, exc.column))
        self.yaml[path] = loaded
        return loaded


def _read(path: str) -> str | None:
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8-sig", errors="replace")
