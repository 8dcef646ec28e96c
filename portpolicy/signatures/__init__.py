"""What each format looks like, by its path and by its content, without importing its reader.

This is the registry's static half: one small module per format, holding only what
recognition needs (a name prior and content tests), so deciding what a file is imports no
reader. ``portpolicy.recognise`` asks these; ``portpolicy.registry`` imports a reader only
once a file is recognised as its format.

Each signature answers three questions:

* ``named(rel)``: does the path (relative to the scanned root, never above it) suggest the
  format? A prior only: it orders the tests and lowers the bar, it never decides alone.
* ``looks(text)``: does the content, alone, say the format? Strong, distinctive evidence
  (an nginx ``server {`` block with ``listen``, a ``[Service]`` section with ``Exec*=``),
  enough to claim a file of any name in any folder.
* ``shaped(text)``: with a name that suggests it, does the content have the format's shape
  (its kind of lines, before anything else)? The weaker test for a well-named file.

A file whose name suggests a format but whose content does not is skipped with that
reason, never PP000: PP000 is for a file that is clearly of its format and broken.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType


def _never(_: str) -> bool:
    return False


@dataclass(frozen=True)
class Signature:
    """One format's recognition data (see the module docstring)."""

    name: str
    """The reader's ``NAME``: what ``--statistics`` and ``facts`` call the file type."""
    module: str
    """The reader module, imported only when a file is recognised as this format."""
    title: str
    """The format in a sentence: ``an nginx config``."""
    named: Callable[[str], bool]
    looks: Callable[[str], bool] = _never
    shaped: Callable[[str], bool] = _never
    yaml: bool = False
    """A YAML format: its files are composed once and the reader's ``claims(docs)`` decides."""
    empty_by_name: bool = True
    """A well-named file with nothing but comments is read (it says nothing, so nothing contradicts the name)."""
    comments: tuple[str, ...] = ("#",)
    """How a comment line starts (for the empty-file test and for suppression comments)."""
    extra: dict[str, object] = field(default_factory=dict, compare=False)


@cache
def reader(signature: Signature) -> ModuleType:
    """The reader module of ``signature``, imported on first use."""
    return importlib.import_module(signature.module)


ORDER = (
    "sysctl",
    "systemd",
    "compose",
    "dotenv",
    "firewalld",
    "dockerfile",
    "kubernetes",
    "sshd",
    "apache",
    "nginx",
    "haproxy",
    "daemons",
    "nftables",
    "ufw",
    "iptables",
    "shell",
)
"""The order in which content tests run when no name suggests a format; first claim wins.

Specific formats come before loose ones: sysctl's dotted kernel keys and systemd's
``[Section]`` headers before the daemon readers' ``key value`` lines; Apache's
``<VirtualHost>`` before nginx's ``server {``; shell scripts last.
"""


@cache
def all_signatures() -> tuple[Signature, ...]:
    """Every format's signature, in ``ORDER``."""
    found = []
    for name in ORDER:
        module = importlib.import_module(f"portpolicy.signatures.{name}")
        found.append(module.SIGNATURE)
    return tuple(found)


def by_name(name: str) -> Signature | None:
    return next((s for s in all_signatures() if s.name == name), None)
