"""Recognition of iptables-save files: ``*filter``, ``:CHAIN POLICY [p:b]``, ``-A`` lines, ``COMMIT``.

What ``iptables-restore`` loads (``rules.v4``, ``sysconfig/iptables``) has a shape no other
format has: a ``*table`` line, chain or rule lines, and ``COMMIT``. ufw's own rule files
are the same language with ufw's chains only; those are ufw's (see ``signatures.ufw``).
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.paths import TEMPLATE_SUFFIXES
from portpolicy.signatures import Signature

_SAVE_NAMES = frozenset(
    {"rules.v4", "rules.v6", "iptables.rules", "ip6tables.rules", "iptables.save", "ip6tables.save"}
)
_TABLE = lazy(r"^[ \t]*\*[a-z]", re.M)
_COMMIT = lazy(r"^[ \t]*COMMIT\b", re.M)
_CHAIN_OR_RULE = lazy(r"^[ \t]*(?::[A-Za-z][\w-]*[ \t]+(?:ACCEPT|DROP|-)\b|-[AIN][ \t]+\S)", re.M)
_SAVE_LINE = lazy(r"[ \t]*(?:\*[a-z]|:\S+[ \t]+\S|-[AIN][ \t]|COMMIT\b)")
"""The start of a line only iptables-restore input has."""
_UFW_CHAIN = lazy(r"^[ \t]*:ufw6?-(?:before|user|after|track|skip|logging|not-local|reject)", re.M)
_BUILTIN_CHAIN = lazy(r"^[ \t]*:(?:INPUT|OUTPUT|FORWARD)[ \t]", re.M)


def unix_lines(text: str) -> str:
    """``text`` with CRLF and CR line ends as LF, so ``^``/``$`` see every line end the readers see."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def stem(rel: str) -> tuple[str, str]:
    """(file name without a template suffix, parent folder name) of a path."""
    parts = rel.split("/")
    name = parts[-1]
    for suffix in TEMPLATE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name, parts[-2] if len(parts) > 1 else ""


def named(rel: str) -> bool:
    """``rules.v4``/``rules.v6``, ``sysconfig/iptables``, ``*.rules`` in an ``iptables`` folder."""
    name, parent = stem(rel)
    if name in _SAVE_NAMES or (parent == "sysconfig" and name in ("iptables", "ip6tables")):
        return True
    return parent in ("iptables", "ip6tables") and (name.startswith("rules") or name.endswith(".rules"))


def is_save(text: str) -> bool:
    """A table line, a chain or rule line and ``COMMIT``: iptables-restore input."""
    text = unix_lines(text)
    return bool(_TABLE.search(text) and _COMMIT.search(text) and _CHAIN_OR_RULE.search(text))


def ufw_only(text: str) -> bool:
    """ufw's chains without the built-in ones: a ufw rules file (``user.rules``, ``before.rules``)."""
    text = unix_lines(text)
    return bool(_UFW_CHAIN.search(text)) and not _BUILTIN_CHAIN.search(text)


def looks(text: str) -> bool:
    """iptables-restore input from its first line on (not quoted inside another file)."""
    return first_line_is_save(text) and is_save(text) and not ufw_only(text)


def first_line_is_save(text: str) -> bool:
    """The first line that is not blank or a comment is a table, chain or rule line."""
    for line in unix_lines(text).split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_SAVE_LINE.match(line))
    return False


SIGNATURE = Signature(
    "iptables",
    "portpolicy.readers.iptables",
    "an iptables-save file",
    named,
    looks=looks,
    shaped=first_line_is_save,
    role="host",
    scope="directory",
)
