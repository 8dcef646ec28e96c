"""Recognition of cloud-init user data: a ``#cloud-config`` first line, of any name.

By name, ``user-data``/``vendor-data`` and ``cloud-config`` files without a YAML suffix are
read whole once their first line says ``#cloud-config``; YAML whose first line says so is
sniffed, and the reader's ``claims`` wants a ``write_files`` list (the only part read).
"""

from __future__ import annotations

from portpolicy.lazyre import lazy
from portpolicy.paths import strip_template
from portpolicy.signatures import Signature

_NAMES = frozenset({"user-data", "user_data", "userdata", "vendor-data", "cloud-config", "cloud-init"})
_HEADER = lazy(r"\A(?:\ufeff)?[ \t]*#cloud-config[ \t]*(?:\n|\Z)")


def named(rel: str) -> bool:
    return strip_template(rel.rsplit("/", 1)[-1]).lower() in _NAMES


def looks(text: str) -> bool:
    return _HEADER.match(text) is not None


SIGNATURE = Signature(
    "cloud-init",
    "portpolicy.readers.cloudinit",
    "a cloud-init cloud-config",
    named,
    looks=looks,
    yaml=True,
    empty_by_name=False,
    role="host",
    scope="project",
    project_files=frozenset({"user-data"}),
)
