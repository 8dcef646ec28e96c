"""Recognition of nftables rulesets: ``table <family> <name> {`` blocks and nft's command form.

Strong evidence, any name: a ``table inet filter {`` block (or ``table <name> {`` holding a
``chain <name> {``), an ``#!/usr/sbin/nft -f`` interpreter line, ``flush ruleset``, or
``add rule|table|chain`` lines with an nft family. A well-named file (``*.nft``,
``nftables.conf``, ``nftables.d/*``) needs only to start with an nft statement.

ferm writes ``table filter { chain INPUT { ... } }`` too, but with iptables' upper-case
targets (``proto tcp dport 22 ACCEPT;``), ``domain`` and ``@def``/``@include``; nft's
verdicts are lower case, so a family-less table with those is ferm's, not nft's.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature
from portpolicy.signatures.iptables import stem, unix_lines

_FAMILY = r"(?:ip|ip6|inet|arp|bridge|netdev)"
_NAME = r"[A-Za-z_$][\w.$-]*"
_TABLE = lazy(rf"^[ \t]*(?:add[ \t]+|create[ \t]+)?table[ \t]+{_FAMILY}[ \t]+{_NAME}[ \t]*\{{", re.M)
_BARE_TABLE = lazy(rf"^[ \t]*table[ \t]+{_NAME}[ \t]*\{{", re.M)
_CHAIN = lazy(rf"^[ \t]*chain[ \t]+{_NAME}[ \t]*\{{", re.M)
_SHEBANG = lazy(r"\A#![ \t]*/(?:usr/)?s?bin/nft\b")
_FERM = lazy(
    r"^[ \t]*(?:domain[ \t]|@(?:def|include|if|hook|subchain)\b)"
    r"|(?<!jump )(?<!goto )\b(?:ACCEPT|DROP|REJECT|MASQUERADE|RETURN|SNAT|DNAT|REDIRECT|NOTRACK)[ \t]*;",
    re.M,
)
"""ferm's own lines: ``domain ip``, ``@def $X = ...``, an iptables target ending a rule (``ACCEPT;``)."""
_FLUSH = lazy(r"^[ \t]*flush[ \t]+ruleset\b", re.M)
_ADD = lazy(rf"^[ \t]*(?:add|insert|create)[ \t]+(?:rule|table|chain)[ \t]+{_FAMILY}[ \t]+{_NAME}", re.M)
_STATEMENT = lazy(
    r"[ \t]*(?:[{}]|(?:table|chain|set|map|flowtable|flush|define|redefine|undefine|include|add|insert"
    r"|create|delete|destroy|replace|type|policy|elements|ip6?|inet|tcp|udp|sctp|th|meta|ct|iif|oif"
    r"|iifname|oifname|accept|drop|reject|jump|goto|counter)(?:[ \t;{]|$))"
)
"""A line that starts with an nft keyword (the reader's ``FORMAT.line``, a little narrower)."""


def named(rel: str) -> bool:
    """``*.nft``, ``nftables.conf``/``nftables.rules``, and ``nftables.d/*.{conf,rules,nft}``."""
    name, parent = stem(rel)
    if name.endswith(".nft") or name in ("nftables.conf", "nftables.rules"):
        return True
    return parent == "nftables.d" and name.endswith((".conf", ".rules", ".nft"))


def looks(text: str) -> bool:
    """nft's own syntax; a script with another interpreter line is the shell reader's."""
    text = unix_lines(text)
    if text.startswith("#!") and not _SHEBANG.match(text):
        return False
    if not shaped(text):
        return False  # nft text quoted inside something else (a test suite, a document)
    if _TABLE.search(text) or _SHEBANG.match(text) or _FLUSH.search(text):
        return True
    if _BARE_TABLE.search(text) and _CHAIN.search(text):
        return _FERM.search(text) is None  # ferm's ``table filter {`` has no family either
    return len(_ADD.findall(text)) >= 2


def shaped(text: str) -> bool:
    """The first line that is not blank or a comment is an nft statement."""
    for line in unix_lines(text).split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_STATEMENT.match(line))
    return False


SIGNATURE = Signature(
    "nftables",
    "portpolicy.readers.nftables",
    "an nftables ruleset",
    named,
    looks,
    shaped,
    role="host",
    scope="directory",
)
