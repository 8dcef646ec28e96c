"""Recognition of Compose files: Compose's default names, or YAML shaped like services.

A compose file says ``services:``; a service fragment (a file a tool merges into the real
compose file: ``web:`` mapping to a body with ``image:``/``build:``, no ``services:``) says
it with a top-level key whose indented block sets ``image: <name>`` or ``build:``. Both
are cheap text sniffs before any YAML is composed; the reader's ``claims(docs)`` then
decides on the documents (a Helm ``values.yaml`` says ``image:`` too, but with a mapping
of ``repository``/``tag`` and next to keys no service has).
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

_BASENAME = lazy(
    r"(?:(?:compose(?:\.override)?|docker-compose[^/]*)\.ya?ml|docker-compose[^/]*)\.j2"
    r"|(?:compose(?:\.override)?|docker-compose[^/]*)\.ya?ml"
)
_FRAGMENT = lazy(
    r"^[\"']?[A-Za-z0-9][\w.-]*[\"']?[ \t]*:[ \t]*(?:#[^\n]*)?\r?\n"  # a top-level key
    r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*"  # blank or comment lines
    r"(?P<ind>[ \t]+)"  # the indentation of its first child, a key (not a list item)
    r"(?:[A-Za-z_<\"'][^\n]*\n(?:(?P=ind)[^\n]*\n|(?!(?P=ind))[ \t]*(?:#[^\n]*)?\r?\n)*?(?P=ind))?"
    r"(?:image[ \t]*:[ \t]*[^\s#{\[|>&*!]|build[ \t]*:)",  # a sibling: image: <name>, or build:
    re.M,
)
"""A top-level key whose own child (not a deeper key, not in a list) is ``image: <name>`` or ``build:``.

Each line can be matched one way only (at the child indentation or deeper, or a blank or
comment line above it), so a failed search costs one pass over each block.
"""


_TOP_SERVICES = lazy(r"^\ufeff?(?:[!&][^\s]*[ \t]+)*[\"']?services[\"']?[ \t]*:", re.M)
"""``services:`` as a key at the start of a line (quoted, tagged or anchored too): a block
mapping at the top level has its keys there."""
_ODD_TOP = lazy(
    r"<<"  # a merge key: an anchor elsewhere may hold services
    r"|^[ \t]*(?:---[ \t]+)?[{?]"  # a document that is a flow mapping, or an explicit key
    r"|(?:\A|^---[^\n]*\n)(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]+[^\s#]",  # a document whose top level is indented
    re.M,
)
"""Where a top-level ``services`` key need not start a line; the text sniff then says yes."""


def _services_on_top(text: str) -> bool:
    """``services`` may be a key of a document's top level (the reader's ``claims`` decides).

    Only where it cannot be (``jobs.<id>.services`` in a GitHub workflow, an Ansible task's
    ``services:`` argument) is the file not composed: the key of a top-level block mapping
    starts its line unless the top level is a flow mapping, uses an explicit ``?`` key, is
    indented as a whole, or merges keys from an anchor (``<<``).
    """
    if "\r" in text:
        text = text.replace("\r", "\n")
    return _TOP_SERVICES.search(text) is not None or _ODD_TOP.search(text) is not None


def named(rel: str) -> bool:
    """Compose's default file names (and their ``.j2`` templates) are compose files by name."""
    return _BASENAME.fullmatch(rel.rsplit("/", 1)[-1]) is not None


def looks(text: str) -> bool:
    """Cheap text test before any YAML is composed: a top-level ``services``, or a service fragment's shape."""
    if "services" in text and _services_on_top(text):
        return True
    return ("image" in text or "build" in text) and _FRAGMENT.search(text) is not None


SIGNATURE = Signature(
    "compose",
    "portpolicy.readers.compose",
    "a Compose file",
    named,
    looks=looks,
    yaml=True,
    role="containers",
    scope="project",
    project_files=frozenset(
        f"{stem}{ext}"
        for stem in ("compose", "compose.override", "docker-compose", "docker-compose.override")
        for ext in (".yml", ".yaml", ".yml.j2", ".yaml.j2")
    ),
)
