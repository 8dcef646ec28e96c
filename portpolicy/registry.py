"""Every reader module, imported: the format table (``portpolicy.signatures``) made concrete.

A scan never imports this module: it asks ``portpolicy.signatures`` what a file is and
imports only that format's reader. This is for code that wants every reader at once (tests
that go through each reader, documentation), in ``signatures.ORDER``.
"""

from __future__ import annotations

from types import ModuleType

from portpolicy import signatures

MODULES: dict[str, str] = {s.name: s.module for s in signatures.all_signatures()}
"""Format name (the reader's ``NAME``) -> the module that reads it."""

PATH_READERS: tuple[ModuleType, ...] = tuple(signatures.reader(s) for s in signatures.all_signatures())
"""Every reader, in the order recognition tries them."""

YAML_READERS: tuple[ModuleType, ...] = tuple(
    signatures.reader(s) for s in signatures.all_signatures() if s.yaml
)
"""The readers of YAML formats, which decide from composed documents (``claims``)."""
