"""One unit file or drop-in as systemd's ``config_parse()`` reads it: a ``UnitFragment``.

Which unit a file configures comes from the path below the scanned root (``web.socket``, a
drop-in's ``<unit>.d`` folder; a name without a unit type is decided by its sections), and so
does its search-path rank. Comment lines are skipped even inside a continuation, a trailing
unescaped backslash joins the next raw line, a line without ``=`` is skipped, and a bad
``[Section`` header makes systemd refuse the rest of the file.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from portpolicy.model import Fact, Location, ParseError, Unresolved
from portpolicy.readers.base import LINE_BREAK, Source, first_word, is_templated, strip_template

UNIT_SUFFIXES = (
    ".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer",
    ".slice", ".scope",
)  # fmt: skip
"""Every unit type's suffix: a file named so is that unit, whatever its content says."""
_LEFT_OVER = (
    ".bak", ".orig", ".old", ".save", ".disabled", ".swp", "~", ".dpkg-old", ".dpkg-dist", ".dpkg-new",
    ".dpkg-bak", ".rpmnew", ".rpmsave", ".rpmorig",
)  # fmt: skip
"""Name endings of copies systemd never loads (``web.socket.bak``); ``sshd.service.in`` is a build template."""
LONG_LINE_MAX = 1024 * 1024  # systemd's limit for one (continued) line
_WS = " \t\n\r"  # systemd's WHITESPACE: what strstrip() removes


_SEARCH_PATHS: tuple[tuple[str, int], ...] = (
    ("/.config/systemd/", 0),
    ("/etc/systemd/", 0),
    ("/run/systemd/", 1),
    ("/usr/local/lib/systemd/", 2),
    ("/usr/lib/systemd/", 3),
    ("/lib/systemd/", 3),
)


class Directive(NamedTuple):
    """One ``Key=Value`` assignment: the section it is in and where its value starts."""

    section: str
    key: str
    value: str
    location: Location
    breaks: tuple[tuple[int, int], ...] = ()
    """Where a continued value goes on: (offset in ``value``, the physical line it starts)."""


@dataclass(frozen=True)
class UnitFragment:
    """One parsed unit file or drop-in, kept until ``assemble`` can see the whole unit.

    ``unit`` is the unit name the file configures (``web.socket``; for a drop-in the name of
    its ``<unit>.d`` directory, which may also be a template ``foo@.service``, a prefix
    ``foo-.service`` or a whole type ``service``). ``failed`` marks a file systemd refuses to
    load (bad section header): its directives stop there. ``masked`` is a zero-byte main file.
    """

    unit: str
    path: str
    dropin: bool
    dropin_name: str
    user_unit: bool
    directives: tuple[Directive, ...]
    location: Location
    failed: bool = False
    masked: bool = False
    host: str = ""
    priority: int = 0
    """Search-path rank from the path below the scanned root (lower wins, see ``_priority``)."""
    kind: str = field(default="unit_fragment", init=False)


def _identity(path: str) -> tuple[str | None, bool, str]:
    """(unit name, is drop-in, drop-in basename) from the path below the scanned root.

    ``.j2`` is dropped. The unit name is None when the name has no unit type (a unit kept
    as ``deploy/webapp`` or ``units/web.conf``): its sections decide (``_unit_from_sections``).
    ``sshd.service.in`` (a build template) is ``sshd.service``.
    """
    parts = path.split("/")
    base = strip_template(parts[-1])
    if len(parts) >= 2 and base.endswith(".conf") and _is_dropin_dir(parts[-2]):
        return parts[-2][:-2], True, base
    if base.endswith(UNIT_SUFFIXES):
        return base, False, ""
    stem = base.rsplit(".", 1)[0]
    return (stem if stem.endswith(UNIT_SUFFIXES) else None), False, ""


def _is_dropin_dir(name: str) -> bool:
    """``web.service.d``, ``foo-.socket.d``, the type-wide ``service.d``: a unit type before ``.d``."""
    return name.endswith(".d") and ("." + name[:-2]).endswith(UNIT_SUFFIXES)


def _unit_from_sections(path: str, directives: list[Directive]) -> str:
    """A unit whose name has no type: a socket if it has a ``[Socket]`` section, else a service,
    named after the file's stem (``deploy/webapp.conf`` with ``[Service]`` is ``webapp.service``)."""
    base = strip_template(path.rsplit("/", 1)[-1])
    stem = base.rpartition(".")[0] or base
    socket = any(d.section == "Socket" for d in directives)
    return f"{stem}.socket" if socket else f"{stem}.service"


def _is_user_path(path: str) -> bool:
    return "systemd/user/" in "/" + path


def _priority(path: str) -> int:
    """Search-path rank; enablement links (``sockets.target.wants/x``) only stand in for a unit."""
    padded = "/" + path
    if re.search(r"\.(?:wants|requires|upholds)/[^/]+$", padded):
        return 9
    for marker, rank in _SEARCH_PATHS:
        if marker in padded:
            return rank
    return 0


def _string_is_safe(text: str) -> bool:
    """systemd's string_is_safe(): what a section name may contain."""
    return not any(ch < " " or ch in "\x7f\\\"'" for ch in text)


class _Segment(NamedTuple):
    line: int
    offset: int  # where this physical line starts inside the logical line


def read_unit_file(source: Source) -> Iterator[Fact | UnitFragment]:
    if source.name_path.endswith(_LEFT_OVER):
        yield Unresolved(
            posixpath.basename(source.name_path),
            "a backup or package left-over: systemd never loads a unit under this name",
            source.at(1),
        )
        return
    unit, dropin, dropin_name = _identity(source.name_path)
    text = source.masked
    # A masked ``{% if %}`` line inside a continuation disappears when rendered, so it must
    # not end the continuation.
    jinja_lines = source.statement_lines
    lines = LINE_BREAK.split(text)
    directives: list[Directive] = []
    errors: list[ParseError] = []
    section: str | None = None
    seen_section = False
    outside: list[Location] = []
    failed = False

    def position(segments: list[_Segment], offset: int) -> Location:
        seg = segments[0]
        for candidate in segments:
            if candidate.offset <= offset:
                seg = candidate
        return source.at(seg.line, 1 + offset - seg.offset)

    def parse_line(logical: str, segments: list[_Segment]) -> bool:
        """Handle one logical line; False when systemd would stop reading the file."""
        nonlocal section, seen_section
        lead = len(logical) - len(logical.lstrip(_WS))
        body = logical.strip(_WS)
        if not body:
            return True
        here = position(segments, lead)
        if body.startswith("["):
            if not body.endswith("]") or not _string_is_safe(body[1:-1]):
                errors.append(
                    ParseError(
                        f"invalid section header {first_word(body)!r}: systemd refuses to load this file",
                        here,
                    )
                )
                return False
            section = body[1:-1]
            seen_section = True
            return True
        if is_templated(body) and "=" not in body:
            return True  # a template line (``{{ extra }}``) may expand to anything
        if section is None:
            outside.append(here)
            return True
        eq = body.find("=")
        if eq < 0:
            errors.append(ParseError("missing '=': systemd ignores this line", here))
            return True
        if eq == 0:
            errors.append(ParseError("missing key name before '=': systemd ignores this line", here))
            return True
        key = body[:eq].strip(_WS)
        rest = body[eq + 1 :]
        value = rest.strip(_WS)
        value_offset = lead + eq + 1 + (len(rest) - len(rest.lstrip(_WS)) if value else 0)
        breaks = tuple(
            (seg.offset - value_offset, seg.line) for seg in segments[1:] if seg.offset > value_offset
        )
        directives.append(Directive(section, key, value, position(segments, value_offset), breaks))
        return True

    pieces: list[str] = []  # a continuation so far, each trailing backslash already a space
    length = 0
    segments: list[_Segment] = []
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith("\ufeff"):
            raw = raw[1:]
        stripped = raw.lstrip(_WS)
        if (stripped and stripped[0] in "#;") or (pieces and number in jinja_lines):
            continue
        if not pieces:
            segments = [_Segment(number, 0)]
            length = 0
        else:
            segments.append(_Segment(number, length))
        length += len(raw)
        if length > LONG_LINE_MAX:
            errors.append(
                ParseError(
                    "line longer than 1 MiB: systemd refuses to load this file", source.at(segments[0].line)
                )
            )
            failed = True
            pieces = []
            break
        if _ends_escaped(raw):
            pieces.append(raw[:-1] + " ")
            continue
        logical = "".join([*pieces, raw])
        pieces = []
        if not parse_line(logical, segments):
            failed = True
            break
    if pieces and not failed:
        failed = not parse_line("".join(pieces), segments)

    if outside:
        if seen_section:
            message = f"{len(outside)} line(s) before the first [Section] header: systemd ignores them"
        else:
            message = "no [Section] header: systemd ignores every assignment in this file"
        errors.insert(0, ParseError(message, outside[0]))
    yield from errors
    yield UnitFragment(
        unit=unit or _unit_from_sections(source.name_path, directives),
        path=source.path,
        dropin=dropin,
        dropin_name=dropin_name,
        user_unit=_is_user_path(source.name_path),
        directives=tuple(directives),
        location=source.at(1),
        failed=failed,
        masked=not dropin and source.text == "",
        priority=_priority(source.name_path),
    )


def _ends_escaped(text: str) -> bool:
    """True when the line ends in an odd run of backslashes, i.e. one that is not escaped.

    Same answer as systemd's scan of the whole logical line: any other character resets
    the escape state, and a continued part already ends in a space.
    """
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1
