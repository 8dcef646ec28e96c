"""Recognition of systemd units: ``[Unit]``/``[Service]``/``[Socket]`` sections with their keys.

A unit is claimed by content wherever it lies: its first meaningful line is a section
header, it has a unit section (``[Service]``, ``[Socket]``, ``[Install]``...) and a key only
units use (``ExecStart=``, ``ListenStream=``, ``WantedBy=``...). Other INI-like files have
other sections: a fail2ban filter's ``[Definition]``, a desktop entry's ``[Desktop Entry]``
with ``Exec=``, supervisord's ``[program:x]``. A shell script that writes a unit through a
heredoc starts with a command, not a header. The name (``x.service``, ``x.socket``,
``x.service.d/*.conf``) is a prior; the reader takes the unit's type from it when there is
one, and from its sections otherwise.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

SAMPLE = 65536
"""Characters of a file the content tests look at."""

UNIT_TYPES = ("service", "socket")
"""The unit types that hold or use a listening socket: the ones the name prior knows."""

_UNIT_FILE = lazy(rf"(?:^|/)[^/]+\.(?:{'|'.join(UNIT_TYPES)})(?:\.j2)?$")
# ``foo.service.d/x.conf``, prefix drop-ins ``foo-.service.d/`` and the type-wide ``service.d/``.
_DROPIN_FILE = lazy(rf"(?:^|/)(?:[^/]+\.)?(?:{'|'.join(UNIT_TYPES)})\.d/[^/]+\.conf(?:\.j2)?$")

_CONTENT = lazy(r"^[ \t]*(?![#;]|\{%|\{#)\S", re.M)
"""A line systemd (or a template) does not skip: not blank, not a comment, not a Jinja statement."""
_HEADER = lazy(r"[ \t]*\[(?:[A-Z][A-Za-z]*|X-[^\]\n]*)\][ \t]*\r?$", re.M)
_UNIT_SECTION = lazy(
    r"^[ \t]*\[(?:Unit|Service|Socket|Install|Timer|Mount|Automount|Swap|Path|Slice|Scope)\][ \t]*\r?$", re.M
)
_UNIT_KEY = lazy(
    r"^[ \t]*(?:Exec(?:Start|StartPre|StartPost|Stop|StopPost|Reload|Condition)"
    r"|Listen(?:Stream|Datagram|SequentialPacket|FIFO|Netlink|Special|MessageQueue|USBFunction)"
    r"|WantedBy|RequiredBy|UpheldBy|DefaultInstance|Wants|Requires|Requisite|BindsTo|PartOf|Upholds"
    r"|After|Before|OnFailure|DefaultDependencies|Condition[A-Z]\w*|Assert[A-Z]\w*"
    r"|RemainAfterExit|KillMode|Restart|RestartSec|TimeoutStartSec|TimeoutStopSec|PIDFile|BusName"
    r"|DynamicUser|AmbientCapabilities|CapabilityBoundingSet|NoNewPrivileges|PrivateTmp|ProtectSystem"
    r"|ProtectHome|OnCalendar|OnBootSec|OnUnitActiveSec|Persistent|Accept|BindIPv6Only|Unit)[ \t]*=",
    re.M,
)
"""Keys no other INI-style format uses (``Exec=`` of a desktop entry, ``command=`` of supervisord are not here)."""


def named(rel: str) -> bool:
    """Unit files and drop-ins of the two unit types that can hold or use a listening socket."""
    return bool(_UNIT_FILE.search(rel) or _DROPIN_FILE.search(rel))


def looks(text: str) -> bool:
    """A section header first, a unit section, and a key only units have."""
    sample = text[:SAMPLE]
    first = _CONTENT.search(sample)
    if first is None or _HEADER.match(sample, first.start()) is None:
        return False
    return _UNIT_SECTION.search(sample) is not None and _UNIT_KEY.search(sample) is not None


def shaped(text: str) -> bool:
    """A section header first, and a unit section (a drop-in may hold only ``[Service]`` and ``User=``)."""
    sample = text[:SAMPLE]
    first = _CONTENT.search(sample)
    if first is None or _HEADER.match(sample, first.start()) is None:
        return False
    return _UNIT_SECTION.search(sample) is not None


SIGNATURE = Signature(
    "systemd",
    "portpolicy.readers.systemd",
    "a systemd unit",
    named,
    looks=looks,
    shaped=shaped,
    comments=("#", ";"),
    role="host",
    scope="directory",
    drop_in_folders=(".service.d", ".socket.d"),
)
