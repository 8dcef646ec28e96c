"""systemd unit files: socket units whose ports PID 1 (or a user manager) binds for a service.

``read`` parses one unit file or drop-in into a ``UnitFragment`` (its directives with exact
locations) the way systemd's ``config_parse()`` does; ``assemble`` then merges each unit with
its drop-ins, pairs every socket unit with the service it activates and yields one
``Listener`` per IP port. The socket belongs to whoever calls ``bind()``: for a system unit
that is PID 1 (root), so the service's own user never needs a privilege for it; for a user
unit it is the unprivileged user manager. Service units' ``ExecStart=`` flags that name a
listening address (``--web.listen-address=:9100``; the flag table is ``data/daemons.yml``)
yield listeners too, bound by the service's own process as the unit's user.

Behaviour copied from systemd's source (``src/shared/conf-parser.c``, ``src/core/load-fragment.c``,
``src/shared/socket-netlink.c``, ``src/basic/parse-util.c``), not guessed:

* comment lines (``#``/``;`` after leading blanks) are skipped even inside a continuation; a
  trailing unescaped backslash becomes a space and the next raw line is appended;
* a line without ``=`` is logged and skipped; a bad ``[Section`` header makes systemd refuse
  the whole file; an empty (zero-byte) main unit file means the unit is masked;
* an empty ``Listen*=`` assignment drops *every* listen entry of the socket, of any type;
* ``parse_ip_port()`` rejects port 0 (``EINVAL``) and values above 65535 (``ERANGE``); it reads
  numbers like ``strtoul(..., 0)``, so ``0x50`` and ``0120`` are port 80;
* an IPv6 address without a port (``::1``) or an IPv4 address without one is refused; host
  names are never accepted.

The package splits the reader by job: ``unitfile`` (one file's syntax, ``UnitFragment``),
``dropins`` (a unit joined with its drop-ins), ``specifiers`` (``%i`` and friends),
``sockets`` (``Listen*=`` and the listeners) and ``services`` (who runs, ``ExecStart=`` flags).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from portpolicy.model import Fact
from portpolicy.readers.base import Format, Source
from portpolicy.readers.systemd.dropins import HostUnits
from portpolicy.readers.systemd.services import ALL_CAPABILITIES, exec_facts
from portpolicy.readers.systemd.sockets import socket_facts
from portpolicy.readers.systemd.unitfile import (
    LONG_LINE_MAX,
    UNIT_SUFFIXES,
    Directive,
    UnitFragment,
    read_unit_file,
)

NAME = "systemd"

FORMAT = Format(
    "a systemd unit",
    "[Section] header",
    re.compile(r"[ \t]*\[(?:[A-Z][A-Za-z]*|X-[^\]]*)\]"),
    comments=("#", ";"),
)


def read(source: Source) -> Iterator[Fact | UnitFragment]:
    """Parse one file (bad input is a fact; a bug is the pipeline's to guard, at its call)."""
    yield from read_unit_file(source)


def assemble(facts: Sequence[Fact | UnitFragment]) -> list[Fact]:
    """Merge units with their drop-ins, pair sockets with services, and yield the listeners.

    Facts that are not ``UnitFragment`` pass through unchanged; the fragments themselves are
    consumed (service units yield nothing yet).
    """
    out: list[Fact] = []
    fragments: list[UnitFragment] = []
    for fact in facts:
        if isinstance(fact, UnitFragment):
            fragments.append(fact)
        else:
            out.append(fact)
    units = HostUnits(fragments)
    out.extend(socket_facts(units))
    out.extend(exec_facts(units))
    return out


__all__ = [
    "ALL_CAPABILITIES",
    "FORMAT",
    "LONG_LINE_MAX",
    "NAME",
    "UNIT_SUFFIXES",
    "Directive",
    "UnitFragment",
    "assemble",
    "read",
]
