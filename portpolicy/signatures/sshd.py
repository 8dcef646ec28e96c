"""Recognition of sshd config: keywords only the OpenSSH *server* has.

A hardening role keeps ``sshd_config`` as ``roles/ssh/files/hardened``, so content decides:
one keyword only sshd knows and no ssh client has (``PermitRootLogin``, ``ListenAddress``,
``AuthorizedKeysFile``, ``UsePAM``, ``Subsystem``...), or two of the looser ones
(``HostKey``, ``AllowUsers``, ``ClientAliveInterval``...). ``Port``, ``Ciphers``,
``PasswordAuthentication`` are shared with the client, whose config (``Host x`` blocks
with ``Port 22`` and ``User``) is where it connects, never a listener: a ``Host`` line
means a client config. An INI file (``[sshd]`` of fail2ban) or a script that writes a
config through a heredoc is neither.

The name (``sshd_config*``, ``sshd_config.d/*.conf``, ``opensshd.conf``) is a prior: such
a file is read when its first meaningful line is a ``Keyword value`` line.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature, first_line_is

SAMPLE = 65536
"""Characters of a file the content tests look at."""

_STRONG = lazy(
    r"^[ \t]*(?:PermitRootLogin|ListenAddress|AuthorizedKeysFile|AuthorizedKeysCommand|UsePAM|Subsystem"
    r"|UsePrivilegeSeparation|PermitEmptyPasswords|X11UseLocalhost|PrintLastLog|PermitUserEnvironment|AuthorizedPrincipalsFile|TrustedUserCAKeys)"
    r"(?:[ \t]*=[ \t]*|[ \t]+)\S",
    re.M | re.I,
)
"""Keywords only sshd_config(5) has (``Keyword value`` or ``Keyword=value``, any case)."""
_LOOSE = lazy(
    r"^[ \t]*(HostKey|AllowUsers|AllowGroups|DenyUsers|DenyGroups|ClientAliveInterval|ClientAliveCountMax"
    r"|MaxAuthTries|MaxSessions|MaxStartups|LoginGraceTime|PrintMotd|StrictModes|X11Forwarding"
    r"|AllowTcpForwarding|AllowAgentForwarding|AllowStreamLocalForwarding|PermitTunnel|PermitOpen"
    r"|AcceptEnv|Banner|SyslogFacility|HostCertificate|RevokedKeys|PubkeyAuthentication"
    r"|PasswordAuthentication|KbdInteractiveAuthentication|Port)(?:[ \t]*=[ \t]*|[ \t]+)\S",
    re.M | re.I,
)
"""Server keywords another format may share: two different ones are needed, one not the client's."""
_CLIENT_TOO = frozenset(
    {"port", "passwordauthentication", "pubkeyauthentication", "kbdinteractiveauthentication"}
)
"""Keywords ``ssh_config`` has as well."""
_CLIENT = lazy(r"^[ \t]*Host(?:[ \t]*=[ \t]*|[ \t]+)\S", re.M | re.I)
"""``Host`` opens a block of an ssh *client* config; sshd has no such keyword."""
_NOT_SSHD = lazy(r"\A#!|<<-?[ \t]*['\"]?[A-Za-z_]|^[ \t]*\[[^\]\n]*\][ \t]*$", re.M)
"""A script (shebang, heredoc) or an INI file with ``[sections]``."""
_CONTENT = lazy(r"^[ \t]*(?!#)\S", re.M)
_LINE = lazy(r"[ \t]*[A-Za-z][A-Za-z0-9]*(?:[ \t]*=[ \t]*|[ \t]+)\S")
"""An sshd line: ``Keyword value`` or ``Keyword=value``."""


def _name(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].removesuffix(".j2")


def named(rel: str) -> bool:
    """``sshd_config``, drop-ins in ``sshd_config.d/`` and templates named after them."""
    parts = rel.split("/")
    name = _name(rel)
    if name.startswith("sshd_config") or name == "opensshd.conf":
        return not name.endswith((".d", ".service", ".socket"))
    return len(parts) >= 2 and parts[-2] == "sshd_config.d" and name.endswith(".conf")


def looks(text: str) -> bool:
    """A server-only keyword, or two looser server keywords; never a client config or INI file."""
    sample = text[:SAMPLE]
    if _NOT_SSHD.search(sample) or _CLIENT.search(sample):
        return False
    if _STRONG.search(sample):
        return True
    seen: set[str] = set()
    for match in _LOOSE.finditer(sample):
        seen.add(match.group(1).lower())
        if len(seen) >= 2 and seen - _CLIENT_TOO:
            return True
    return False


def shaped(text: str) -> bool:
    """The first meaningful line is a ``Keyword value`` line, and no ``Host`` block (a well-named file)."""
    if not first_line_is(text, _CONTENT, _LINE, SAMPLE):
        return False
    return _CLIENT.search(text, 0, SAMPLE) is None


SIGNATURE = Signature(
    "sshd",
    "portpolicy.readers.sshd",
    "an sshd config",
    named,
    looks=looks,
    shaped=shaped,
    role="daemon",
    scope="directory",
)
