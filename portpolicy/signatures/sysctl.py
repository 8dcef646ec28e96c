"""Recognition of sysctl files: ``key = value`` lines on kernel keys, wherever the file lies.

Real repositories keep sysctl settings in a role's ``files/conf/hardening.conf`` or a
config-management tree's ``99-reserved-ports.conf``, so content decides: most meaningful
lines assign a dotted (or slashed) key under a kernel top level (``net.``, ``kernel.``,
``vm.``...). A Java ``.properties`` file (``server.port=8080``), an INI file or a systemd
unit has other keys, so it is not claimed. The name (``sysctl.conf``, ``sysctl.d/*.conf``)
is only a prior that lowers the bar to "its first line is an assignment".
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

SAMPLE = 65536
"""Characters of a file the content tests look at: enough for any sysctl file's shape."""

TOP_LEVELS = ("net", "kernel", "vm", "fs", "dev", "user", "abi", "sunrpc", "crypto", "debug")
"""The first component of every key under ``/proc/sys``."""
CORE = ("net", "kernel", "vm", "fs")
"""Top levels one of whose keys a sysctl file sets: ``dev.``/``debug.`` alone are common words in other files."""

_COMPONENT = r"[\w*?\[\]-]+"
_KEY = rf"{_COMPONENT}(?:[./]{_COMPONENT})+"
_TOP = "|".join(t for t in TOP_LEVELS if t != "user")
_KERNEL_LINE = lazy(
    rf"^[ \t]*-?(?:(?:{_TOP})[./]{_COMPONENT}|user[./]max_\w+)(?:[./]{_COMPONENT})*[ \t]*(?:=|$)", re.M
)
"""An assignment (or a ``-key`` exclusion) of a key under a kernel top level (``user.`` keys are ``max_*``)."""
_CORE_LINE = lazy(rf"^[ \t]*-?(?:{'|'.join(CORE)})[./]{_COMPONENT}[./ \t=]", re.M)
_MEANINGFUL = lazy(r"^[ \t]*(?![#;]|\{\{|\{%|\{#)\S", re.M)
"""A line that is not blank, a comment or a Jinja line."""
_CONTENT = lazy(r"^[ \t]*(?![#;]|\{%|\{#)\S", re.M)
"""A line that is not blank, a comment or a Jinja statement (``{{ key }} = 1`` is content)."""
_ASSIGNMENT = lazy(rf"[ \t]*(?:-?(?:{_KEY}|\{{\{{[^\n]*\}}\}})[ \t]*=|-{_KEY}[ \t]*(?:$|\r))", re.M)
"""A ``key = value`` line with a dotted or slashed key (or a templated one), or a ``-key`` exclusion."""


def named(rel: str) -> bool:
    """``sysctl.conf`` anywhere and ``*.conf`` directly inside a ``sysctl.d`` folder (``.j2`` too)."""
    parts = rel.split("/")
    name = parts[-1]
    if name in ("sysctl.conf", "sysctl.conf.j2"):
        return True
    if len(parts) < 2 or parts[-2] != "sysctl.d":
        return False
    stem = name.removesuffix(".j2")
    return stem.endswith(".conf") and len(stem) > len(".conf")


def looks(text: str) -> bool:
    """Most meaningful lines set kernel keys (``net.ipv4.ip_local_port_range = ...``)."""
    sample = text[:SAMPLE]
    if _CORE_LINE.search(sample) is None:
        return False
    kernel = sum(1 for _ in _KERNEL_LINE.finditer(sample))
    meaningful = sum(1 for _ in _MEANINGFUL.finditer(sample))
    return 2 * kernel > meaningful


def shaped(text: str) -> bool:
    """The first meaningful line assigns a dotted or slashed key (or a templated one)."""
    first = _CONTENT.search(text, 0, SAMPLE)
    if first is None:
        return False
    return _ASSIGNMENT.match(text, first.start(), SAMPLE) is not None


SIGNATURE = Signature(
    "sysctl",
    "portpolicy.readers.sysctl",
    "a sysctl file",
    named,
    looks=looks,
    shaped=shaped,
    comments=("#", ";"),
    role="host",
    scope="directory",
)
