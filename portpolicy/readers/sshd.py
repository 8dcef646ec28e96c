"""OpenSSH server configuration: ``Port`` and ``ListenAddress``.

sshd runs as root and binds as root (privilege separation only affects the per-connection
children), so its listeners are ``bound_by="root-master"`` with ``service="sshd"``; the
compose/Dockerfile correlation step may override ``bound_by``/``run_as`` for an sshd run
by a non-root container user.

Semantics from sshd_config(5) and ``servconf.c``: keywords are case-insensitive and take
``Keyword value`` or ``Keyword=value``; ``Port`` may repeat (default 22); a
``ListenAddress`` without a port listens on every ``Port``; with none, sshd listens on all
addresses. ``Port`` and ``ListenAddress`` are refused inside ``Match`` (sshd exits), and
``a2port()`` refuses 0 and values above 65535. Only the server's file is read: a ``Port``
in ``ssh_config`` is where a client connects, never a listener.

A main ``sshd_config`` with no ``Port`` and no ``Include`` listens on 22; with an
``Include`` the port may come from a drop-in, so no default is assumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from portpolicy.model import Fact, InvalidPort, Listener, Location, ParseError, PortRange, Unresolved
from portpolicy.readers.base import (
    LINE_BREAK,
    Format,
    Source,
    ascii_int,
    first_word,
    is_templated,
    shown,
    strip_template,
)
from portpolicy.readers.lexing import JINJA_EXPRESSIONS, template_spans
from portpolicy.readers.netaddr import bind_address, split_bracketed

NAME = "sshd"

FORMAT = Format(
    "an sshd config",
    "sshd keyword",
    re.compile(r"[ \t]*[A-Za-z][A-Za-z0-9]*(?:[ \t]*=[ \t]*|[ \t]+)\S"),
)
SERVICE = "sshd"

# One argument: a run of non-blanks, where a Jinja ``{{ ... }}`` counts as one piece.
_WORD_END = re.compile(r"[\s#]")
_SNIFF = re.compile(
    r"^[ \t]*(?:ListenAddress|PermitRootLogin|PasswordAuthentication|Subsystem|HostKey|UsePAM"
    r"|AuthorizedKeysFile|ChallengeResponseAuthentication|KbdInteractiveAuthentication|X11Forwarding"
    r"|AllowUsers|AllowGroups|PubkeyAuthentication|Ciphers|KexAlgorithms|MACs)\b",
    re.M | re.I,
)


_SUBSYSTEM = re.compile(r"^[ \t]*Subsystem(?:[ \t]*=[ \t]*|[ \t]+)\S", re.M | re.I)
"""``Subsystem sftp ...``: written in a main ``sshd_config``, hardly ever in a drop-in."""


def _name(path: str) -> str:
    return strip_template(path.rsplit("/", 1)[-1])


def _in_dropin_dir(path: str) -> bool:
    return "/sshd_config.d/" in "/" + path


def read(source: Source) -> Iterator[Fact]:
    """One file's listeners; a file with no sshd keyword and no sshd name yields nothing; never raises."""
    path = source.name_path
    by_name = _name(path).startswith("sshd_config") or _in_dropin_dir(path)
    if not by_name and not _SNIFF.search(source.text):
        return
    text = source.masked
    ports: list[tuple[int, Location]] = []
    addresses: list[tuple[str, Location]] = []
    in_match = ""  # "", "all" (active everywhere) or "cond" (a Match sshd refuses Port in)
    has_include = False
    port_lines = 0  # an invalid Port line makes sshd exit: then there is no default 22 either
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        parsed = _keyword(raw)
        if parsed is None:
            continue
        keyword, value, column = parsed
        where = source.at(number, column)
        if keyword == "match":
            in_match = "all" if value.strip().lower() == "all" else "cond"
            continue
        if keyword == "include":
            has_include = True
            continue
        if keyword not in ("port", "listenaddress"):
            continue
        if in_match == "all":
            continue  # not a listener there; whether sshd accepts it depends on its version
        if in_match:
            yield ParseError(
                f"sshd: directive {first_word(raw)!r} is not allowed within a Match block", where
            )
            continue
        if keyword == "port":
            port_lines += 1
            port = _port(value, where, "sshd Port")
            if isinstance(port, int):
                ports.append((port, where))
            else:
                yield port
        else:
            addresses.append((value, where))
    main = _is_main(path, text)
    if not ports and (has_include or not main or port_lines):
        if not addresses:
            return
        default_ports: list[tuple[int, Location]] = []
    else:
        default_ports = ports or [(22, source.at(1))]
    yield from _listeners(addresses, default_ports, ports)


def _is_main(path: str, text: str) -> bool:
    """A main config (no ``Port`` means 22) rather than a drop-in: by its name, else by ``Subsystem``."""
    if _in_dropin_dir(path):
        return False
    return _name(path).startswith("sshd_config") or _SUBSYSTEM.search(text) is not None


def _keyword(raw: str) -> tuple[str, str, int] | None:
    """(lower-case keyword, first argument, column of the argument) of one line."""
    stripped = raw.strip()
    if not stripped or stripped.startswith("#"):
        return None
    match = re.match(r"([A-Za-z0-9]+)(\s*=\s*|\s+)(.*)$", stripped)
    if match is None:
        return None
    value = match.group(3).strip()
    if value.startswith('"'):
        end = value.find('"', 1)
        value = value[1:end] if end > 0 else value[1:]
    else:
        value = _first_word(value)
    column = len(raw) - len(raw.lstrip()) + match.start(3) + 1
    return match.group(1).lower(), value, column


def _first_word(value: str) -> str:
    """``value`` up to its first blank or ``#`` outside a ``{{ }}`` expression.

    Scanned once: a regex of ``(?:\\{\\{.*?\\}\\}|[^\\s#])+`` searches the rest of the
    line again from every ``{{`` that is never closed.
    """
    pos = 0
    for start, end in template_spans(value, JINJA_EXPRESSIONS):
        stop = _WORD_END.search(value, pos, start)
        if stop is not None:
            return value[: stop.start()]
        pos = end
    stop = _WORD_END.search(value, pos)
    return value if stop is None else value[: stop.start()]


def _port(text: str, where: Location, context: str) -> int | InvalidPort | Unresolved:
    if is_templated(text) or "$" in text:
        return Unresolved(text, f"{context}: value is a template or variable", where)
    port = ascii_int(text)
    if port is None or not 1 <= port <= 65535:
        return InvalidPort(
            text, f"{context} {shown(text)}: badly formatted port number (sshd needs 1-65535)", where, context
        )
    return port


def _listeners(
    addresses: list[tuple[str, Location]],
    default_ports: list[tuple[int, Location]],
    ports: list[tuple[int, Location]],
) -> Iterator[Fact]:
    def listener(port: int, host: str | None, where: Location) -> Listener:
        return Listener(
            service=SERVICE,
            protocol="tcp",
            ports=PortRange.single(port),
            address=bind_address(host),
            location=where,
            bound_by="root-master",
            source=NAME,
        )

    if not addresses:
        for port, where in default_ports:
            yield listener(port, None, where)
        return
    for value, where in addresses:
        if is_templated(value) or "$" in value:
            yield Unresolved(value, "sshd ListenAddress: value is a template or variable", where)
            continue
        bracketed = split_bracketed(value)
        if bracketed is not None:
            host, port_text = bracketed
        elif value.count(":") == 1:
            host, port_text = value.split(":")
        else:
            host, port_text = value, None  # a bare IPv6 address or a host name
        if port_text is not None:
            explicit = _port(port_text, where, "sshd ListenAddress")
            yield listener(explicit, host, where) if isinstance(explicit, int) else explicit
            continue
        for port, _ in default_ports:
            yield listener(port, host, where)
