"""Recognition of a Compose project's ``.env``: by its exact name, with ``KEY=VALUE`` lines.

``KEY=VALUE`` lines say nothing alone (``/etc/default`` files, ``.properties``, shell
snippets have them too), so there is no content test that claims a file of another name:
only ``.env`` itself, the one file Compose reads by default, whose first line that is not
blank or a comment assigns a variable.
"""

from __future__ import annotations

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

_FIRST_ASSIGNMENT = lazy(r"(?:\s|#[^\n]*)*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.\-]*[ \t]*[=:]")


def named(rel: str) -> bool:
    """``.env`` in any folder (``--env-file`` names are chosen at deploy time, not known here)."""
    return rel.rsplit("/", 1)[-1] == ".env"


def shaped(text: str) -> bool:
    """Its first line that is not blank or a comment is ``[export ]KEY=VALUE`` (or ``KEY: VALUE``)."""
    return _FIRST_ASSIGNMENT.match(text) is not None


SIGNATURE = Signature(
    "dotenv",
    "portpolicy.readers.dotenv",
    "a Compose .env file",
    named,
    shaped=shaped,
    role="host",
    scope="directory",
)
