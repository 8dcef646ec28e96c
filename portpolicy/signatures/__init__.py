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

Each signature also declares what the stages after reading need to know of its files, so
that none of them names a reader: its ``role`` towards containers (``ROLES``) and its
``scope``, how the hosts stage groups its files into hosts (``SCOPES``). Both are required:
``tests/test_signatures.py`` fails on a signature that leaves one out. Whether a reader
joins its files per host (``assemble(facts)``) or per project (``join(entries)``) is not
declared here: the pipeline asks the reader module, which is imported by then anyway (it
read the files), and a flag here would be a second place to keep in step with it.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable
from functools import cache
from types import ModuleType

from portpolicy.lazyre import lazy
from portpolicy.records import record


def _never(_: str) -> bool:
    return False


HOST = "host"
DAEMON = "daemon"
IMAGE = "image"
CONTAINERS = "containers"
PODS = "pods"
ROLES: dict[str, str] = {
    HOST: "configures the host itself (kernel settings, firewalls, units): never placed into a container",
    DAEMON: "configures a program that may run in a container: a file mounted or copied into one "
    "is placed there, its listeners in the container's namespace",
    IMAGE: "builds an image: its exposed ports belong to each container that runs it",
    CONTAINERS: "defines containers whose published ports the container runtime binds; "
    "a daemon's own listener in the container replaces a declared port",
    PODS: "defines pods: as containers, under a CRI runtime; a host port is a DNAT rule "
    "(CNI portmap), no socket",
}
"""What a format's files are to containers (``Signature.role``): read by ``hosts`` (privilege,
runtime, sockets) and by the placement stage (which files move into which container)."""
CONTAINER_ROLES = frozenset({CONTAINERS, PODS})
"""Roles whose listeners are container ports (a container's default capabilities apply)."""

DIRECTORY = "directory"
PROJECT = "project"
SCOPES: dict[str, str] = {
    DIRECTORY: "each folder is a host, unless a root-filesystem tree (``…/etc/…``) or a firewalld "
    "tree (``…/firewalld/zones/…``) holds it; files in ``drop_in_folders`` join the folder above",
    PROJECT: "a file named in ``project_files`` makes its folder one project (host); any other file "
    "of the format is a project of its own",
}
"""How the hosts stage groups a format's files into hosts (``Signature.scope``, ``hosts.scope_of``).
A config that maps paths to hosts overrides both."""


@record
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
    """How a comment line starts (for the empty-file test). Suppression comments do not ask:
    ``suppress`` knows one set of leaders for every file, including those no reader read."""
    role: str = ""
    """What its files are to containers: one of ``ROLES`` (required)."""
    scope: str = ""
    """How its files are grouped into hosts: one of ``SCOPES`` (required)."""
    project_files: frozenset[str] = frozenset()
    """``project`` scope: the file names that make their folder one project."""
    drop_in_folders: tuple[str, ...] = ()
    """Folder suffixes (``.service.d``) whose files belong to the folder above; the suffix without
    its dot (``service.d``) names such a folder too."""


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
    "ignition",
    "cloudinit",
    "kubernetes",
    "sshd",
    "apache",
    "nginx",
    "haproxy",
    "dockerd",
    "appconfig",
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


def roles() -> dict[str, str]:
    """Format name -> its declared ``role``; a name of no format (``file``, ``live``) is absent."""
    return {s.name: s.role for s in all_signatures()}


def first_line_is(text: str, content: re.Pattern[str], line: re.Pattern[str], sample: int = 65536) -> bool:
    """True when the first meaningful line (where ``content`` first matches) has the shape ``line``.

    The shape test of a well-named file: the format shows in its first line that is not
    blank, a comment or a template statement (what ``content`` skips).
    """
    first = content.search(text, 0, sample)
    return first is not None and line.match(text, first.start(), first.start() + sample) is not None


def glob_test(glob: str) -> Callable[[str], bool]:
    """Whether a whole name matches the shell glob ``glob`` (``fnmatch`` rules, case-sensitive).

    A literal glob is a string comparison; a pattern is compiled on its first use, and only
    for a name with the glob's literal start and end (``redis-*.conf``: ``redis-``, ``.conf``),
    so that asking every format's name test about one file compiles next to nothing.
    """
    if not any(c in glob for c in "*?["):
        return glob.__eq__
    head = glob[: min(glob.index(c) for c in "*?[" if c in glob)]
    tail = glob.rpartition("*")[2]
    if any(c in tail for c in "?["):
        tail = ""
    pattern = lazy(fnmatch.translate(glob))
    return lambda name: name.startswith(head) and name.endswith(tail) and pattern.match(name) is not None
