"""Read and compose each Ansible file once per scan, whatever asks for it first.

Files are read through ``safeio`` with the scan's roots and the pipeline's limits (size,
binary, UTF-8): a ``vars_files``, ``include_vars`` or template ``src`` that resolves to a
link out of the tree is never read. YAML is composed with
``yamlnodes.compose_documents`` (libyaml, nodes only, ``!vault``/``!unsafe`` tolerated).
A file that cannot be read or parsed keeps its error, which becomes a ``ParseError``.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from portpolicy import safeio
from portpolicy.model import Location, ParseError
from portpolicy.records import record
from portpolicy.yamlnodes import Node, YamlError, compose_documents


@record(frozen=False)
class Loaded:
    path: str
    text: str
    docs: list[Node] = field(default_factory=list)
    error: ParseError | None = None


class Loader:
    """A per-scan cache of file texts and composed YAML documents."""

    def __init__(self, roots: tuple[str, ...] = ()) -> None:
        self.roots = roots
        """The scan's roots (``Config.roots``): nothing outside them is read."""
        self.texts: dict[str, str | None] = {}
        self.reasons: dict[str, str] = {}
        """Why a file has no text (outside the tree, not a regular file, binary, too large)."""
        self.yaml: dict[str, Loaded] = {}
        self.role_runs: dict[tuple[Any, ...], list[Any]] = {}
        """Recorded role runs (``roles.RoleRun``) by role and place, replayed across plays."""
        self.role_layers: dict[tuple[str, str], Any] = {}
        """Each role's ``defaults``/``vars`` layer and the errors reading it, by (role root, kind)."""
        self.open_sources: set[str] = set()
        """Roles with a template task whose ``src`` did not resolve: their templates stay readable raw."""
        self.tasks: dict[int, Any] = {}
        """Each task's variable-free reading (``tasks._Prepared``) by node id; the nodes live as long."""

    def text(self, path: str) -> str | None:
        if path not in self.texts:
            read = _read(path, self.roots)
            if isinstance(read, safeio.Refusal):
                self.reasons[path] = read.reason
                self.texts[path] = None
            else:
                self.texts[path] = read
        return self.texts[path]

    def load(self, path: str) -> Loaded:
        """The composed documents of a YAML file (an empty list, with ``error``, when it fails)."""
        if path in self.yaml:
            return self.yaml[path]
        text = self.text(path)
        loaded = Loaded(path, text or "")
        if text is None:
            why = self.reasons.get(path, "missing")
            loaded.error = ParseError(f"cannot read this file ({why})", Location(path))
        else:
            try:
                loaded.docs = compose_documents(text)
            except YamlError as exc:
                loaded.error = ParseError(f"YAML does not parse: {exc}", Location(path, exc.line, exc.column))
        self.yaml[path] = loaded
        return loaded


def _read(path: str, roots: tuple[str, ...]) -> str | safeio.Refusal:
    data = safeio.read_bytes(path, roots)
    if isinstance(data, safeio.Refusal):
        return data
    if b"\0" in data[:8192]:
        return safeio.Refusal("special", "binary content")
    return data.decode("utf-8-sig", errors="replace")
