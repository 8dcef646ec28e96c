"""Recognition of HAProxy config: sections at column 0 with indented proxy keywords.

HAProxy configs are often named ``<service>.cfg`` in any folder, so content decides: a
section line at the start of a line (``frontend web``, ``backend app``, ``listen stats``,
``global``, ``defaults``) and an indented line of a keyword HAProxy sections hold
(``bind``, ``mode http``, ``server s1 10.0.0.1:80``, ``balance``, ``default_backend``,
``timeout connect 5s``...). Neither line ends with ``;`` or ``{``, so an nginx
``listen 80;`` with an ``upstream`` block never passes; a ``setup.cfg``/``tox.ini`` has
``[sections]``. A shell script that writes a config through a heredoc is a script.

The name (``haproxy*.cfg``, ``*.cfg`` under a ``haproxy`` folder) is a prior: such a file
is read when its first meaningful line is a section keyword.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature, first_line_is

SAMPLE = 65536
"""Characters of a file the content tests look at."""

_SECTION = lazy(
    r"^(?:(?:frontend|backend|listen|peers|resolvers|userlist|program|mailers|cache|ring|http-errors"
    r"|fcgi-app|log-forward)[ \t]+\S[^;{}\n]*|(?:global|defaults)(?:[ \t]+[^;{}\s]+)?[ \t]*)$",
    re.M,
)
"""A section line at column 0, as HAProxy's own configs and every example write it."""
_KEYWORD = lazy(
    r"^[ \t]+(?:bind[ \t]+\S|mode[ \t]+(?:http|tcp|health)\b|server[ \t]+\S+[ \t]+\S|balance[ \t]+\w"
    r"|default_backend[ \t]+\S|use_backend[ \t]+\S|option[ \t]+(?:httplog|tcplog|forwardfor|httpchk"
    r"|redispatch|dontlognull|http-server-close|ssl-hello-chk|tcpka|log-health-checks|tcp-check)"
    r"|timeout[ \t]+(?:connect|client|server|http-request|http-keep-alive|queue|tunnel|check)[ \t]+\S"
    r"|stats[ \t]+(?:socket|enable|uri|auth|timeout|realm)|http-request[ \t]+\S|tcp-request[ \t]+\S"
    r"|maxconn[ \t]+[0-9]|acl[ \t]+\S)[^;{}\n]*$",
    re.M,
)
"""An indented keyword line of a section (no ``;`` or ``{``: nginx's ``server 10.0.0.1:80;`` is not)."""
_SCRIPT = lazy(r"\A#!|<<-?[ \t]*['\"]?[A-Za-z_]")
"""A shell script (shebang) or a heredoc: the config it writes is not this file."""
_CONTENT = lazy(r"^[ \t]*(?!#)\S", re.M)
_LINE = lazy(
    r"[ \t]*(?:global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|mailers|cache"
    r"|ring|http-errors|crt-store|traces|log-forward|fcgi-app)(?:[ \t]|$)",
    re.M,
)
"""A section keyword: how an HAProxy config starts."""


def named(rel: str) -> bool:
    """``haproxy*.cfg`` anywhere, ``*.cfg`` under a folder whose name holds ``haproxy`` (and ``.j2``)."""
    parts = rel.split("/")
    name = parts[-1].removesuffix(".j2")
    if name.startswith("haproxy") and name.endswith(".cfg"):
        return True
    return name.endswith(".cfg") and any("haproxy" in d.lower() for d in parts[:-1])


def looks(text: str) -> bool:
    """A section line at column 0 and an indented section keyword."""
    sample = text[:SAMPLE]
    if _SCRIPT.search(sample):
        return False
    return _SECTION.search(sample) is not None and _KEYWORD.search(sample) is not None


def shaped(text: str) -> bool:
    """The first meaningful line is a section keyword (a well-named file)."""
    return first_line_is(text, _CONTENT, _LINE, SAMPLE)


SIGNATURE = Signature(
    "haproxy",
    "portpolicy.readers.haproxy",
    "an HAProxy config",
    named,
    looks=looks,
    shaped=shaped,
    role="daemon",
    scope="directory",
)
