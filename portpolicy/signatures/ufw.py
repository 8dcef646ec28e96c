"""Recognition of ufw's files: its rule files (iptables-save with ufw's chains) and its settings.

``user.rules`` and ``before.rules`` are iptables-restore input whose chains are ufw's own
(``:ufw-user-input``), and ``user.rules`` carries ``### tuple ###`` comments, one per rule
``ufw allow`` added. ``/etc/default/ufw`` holds ``DEFAULT_INPUT_POLICY="DROP"`` and the
like; ``ufw.conf`` only ``ENABLED``/``LOGLEVEL``, so it is recognised by its name alone.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature
from portpolicy.signatures.iptables import first_line_is_save, is_save, stem, ufw_only, unix_lines

_RULE_FILES = frozenset({"user.rules", "user6.rules"})
_UFW_DIR_FILES = frozenset({"before.rules", "after.rules", "before6.rules", "after6.rules"})
_TUPLE = lazy(r"^### tuple ### ", re.M)
_POLICY = lazy(r"^[ \t]*DEFAULT_(?:INPUT|OUTPUT|FORWARD)_POLICY=", re.M)
_DEFAULTS_KEY = lazy(
    r"^[ \t]*(?:IPV6|DEFAULT_APPLICATION_POLICY|MANAGE_BUILTINS|IPT_SYSCTL|IPT_MODULES)=", re.M
)
_SETTING = lazy(
    r"[ \t]*(?:IPV6|DEFAULT_[A-Z_]+_POLICY|MANAGE_BUILTINS|IPT_SYSCTL|IPT_MODULES|ENABLED|LOGLEVEL)="
)


def named(rel: str) -> bool:
    """``user.rules``/``user6.rules``, before/after rules in a ``ufw`` folder, ``default/ufw``, ``ufw.conf``."""
    name, parent = stem(rel)
    if name in _RULE_FILES or (parent == "ufw" and name in _UFW_DIR_FILES | {"ufw.conf"}):
        return True
    return parent == "default" and name == "ufw"


def is_settings(text: str) -> bool:
    """ufw's default policies, with another of ``/etc/default/ufw``'s settings beside them."""
    text = unix_lines(text)
    return len(_POLICY.findall(text)) >= 2 or bool(_POLICY.search(text) and _DEFAULTS_KEY.search(text))


def looks(text: str) -> bool:
    text = unix_lines(text)
    rules = first_line_is_save(text) and is_save(text)
    return (rules and (_TUPLE.search(text) is not None or ufw_only(text))) or is_settings(text)


def shaped(text: str) -> bool:
    """A well-named file whose first line is a rule-file line or one of ufw's settings."""
    if first_line_is_save(text):
        return True
    for line in unix_lines(text).split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_SETTING.match(line))
    return False


SIGNATURE = Signature(
    "ufw",
    "portpolicy.readers.ufw",
    "a ufw rules or settings file",
    named,
    looks,
    shaped,
    role="host",
    scope="directory",
)
