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
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    RunAs,
    Unresolved,
)
from portpolicy.readers import daemons
from portpolicy.readers.base import (
    LINE_BREAK,
    MAX_DIGITS,
    TOO_LARGE,
    Format,
    Source,
    ascii_int,
    first_word,
    is_templated,
    shown,
    strip_template,
)

NAME = "systemd"

FORMAT = Format(
    "a systemd unit",
    "[Section] header",
    re.compile(r"[ \t]*\[(?:[A-Z][A-Za-z]*|X-[^\]]*)\]"),
    comments=("#", ";"),
)

_T = TypeVar("_T")

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
_SPECIFIER = re.compile(r"%(.)", re.S)
# Specifiers that expand to an absolute path (runtime, state, cache, logs, config, home, ...).
_PATH_SPECIFIERS = frozenset("tSCLEhTVdyYf")
_INSTANCE_SPECIFIERS = frozenset("iInNpPjJ")
# ``[addr]:port%dev`` / ``a.b.c.d:port%dev``: systemd wants ``%%dev`` in a unit file, but the
# manual writes ``%dev``; both are taken as an interface so neither reads as a specifier.
_SCOPED = re.compile(r"([^%]*:[^%:]+)%%?([^%/\s]+)")
_STRTOUL = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")

_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})

# Linux capability numbers 0..40, as systemd also accepts numeric names.
ALL_CAPABILITIES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

# Lower rank wins when the same unit or drop-in name exists in several search paths.
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


def read(source: Source) -> Iterator[Fact | UnitFragment]:
    """Parse one file; never raises, since one odd file must not stop a whole scan."""
    try:
        yield from _read(source)
    except Exception as exc:  # pragma: no cover - defensive: a reader bug is reported, not raised
        yield ParseError(f"systemd reader could not read this file ({type(exc).__name__})", source.at(1))


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
    try:
        units = _Units(fragments)
        out.extend(units.socket_facts())
        out.extend(units.exec_facts())
    except Exception as exc:  # pragma: no cover - defensive, as in read()
        where = fragments[0].location if fragments else Location("<systemd>")
        out.append(ParseError(f"systemd reader could not join units ({type(exc).__name__})", where))
    return out


# --------------------------------------------------------------------------- reading one file


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


def _read(source: Source) -> Iterator[Fact | UnitFragment]:
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
        directives.append(Directive(section, key, value, position(segments, value_offset)))
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


# --------------------------------------------------------------------------- joining units


@dataclass(frozen=True)
class _Merged:
    """A unit as systemd loads it: main file (own or template's) and drop-ins in order."""

    name: str
    user_unit: bool
    main: UnitFragment | None
    fragments: tuple[UnitFragment, ...]

    @property
    def broken(self) -> bool:
        return self.main is not None and (self.main.masked or self.main.failed)

    def directives(self, section: str) -> Iterator[Directive]:
        for fragment in self.fragments:
            for directive in fragment.directives:
                if directive.section == section:
                    yield directive

    @property
    def instance(self) -> str | None:
        prefix = self.name.rsplit(".", 1)[0]
        if "@" not in prefix:
            return None
        return prefix.split("@", 1)[1] or None


class _Units:
    """All fragments of one host, indexed the way systemd looks units up."""

    def __init__(self, fragments: list[UnitFragment]) -> None:
        self.mains: dict[tuple[bool, str], UnitFragment] = {}
        self.dropins: dict[tuple[bool, str], list[UnitFragment]] = {}
        for fragment in sorted(fragments, key=lambda f: (f.priority, f.path)):
            key = (fragment.user_unit, fragment.unit)
            if fragment.dropin:
                self.dropins.setdefault(key, []).append(fragment)
            else:
                self.mains.setdefault(key, fragment)

    def merged(self, user_unit: bool, name: str) -> _Merged | None:
        """The unit ``name`` with everything systemd would load for it, or None if absent."""
        stem, dot, unit_type = name.rpartition(".")
        if not dot:
            return None
        base, at, instance = stem.partition("@")
        template = f"{base}@.{unit_type}" if at and instance else None
        main = self.mains.get((user_unit, name))
        if main is None and template:
            main = self.mains.get((user_unit, template))
        own = [name] + ([template] if template else [])
        if main is None and not any((user_unit, n) in self.dropins for n in own):
            return None
        pieces = base.split("-")
        prefixes = [f"{'-'.join(pieces[:i])}-.{unit_type}" for i in range(len(pieces) - 1, 0, -1)]
        dirs = [*own, *prefixes, unit_type]
        candidates = [
            (fragment.priority, specificity, fragment)
            for specificity, dir_name in enumerate(dirs)
            for fragment in self.dropins.get((user_unit, dir_name), [])
        ]
        chosen: dict[str, UnitFragment] = {}
        for _, _, fragment in sorted(candidates, key=lambda c: (c[0], c[1], c[2].path)):
            chosen.setdefault(fragment.dropin_name, fragment)
        ordered = [chosen[k] for k in sorted(chosen)]
        return _Merged(name, user_unit, main, tuple([main, *ordered] if main else ordered))

    def socket_names(self) -> list[tuple[bool, str]]:
        """Socket units that can run: a template only when no instance of it is present."""
        names = {key for key in [*self.mains, *self.dropins] if _is_concrete_socket(key[1])}
        with_instances = {(user, name.split("@", 1)[0]) for user, name in names if _instance_of(name)}
        return sorted(
            (user, name)
            for user, name in names
            if not (
                "@" in name and not _instance_of(name) and (user, name.split("@", 1)[0]) in with_instances
            )
        )

    def socket_facts(self) -> Iterator[Fact]:
        for user_unit, name in self.socket_names():
            unit = self.merged(user_unit, name)
            if unit is None or unit.broken:
                continue
            yield from _socket_facts(self, unit)

    def exec_facts(self) -> Iterator[Fact]:
        """Listeners named by ``ExecStart=`` flags (``--web.listen-address``, see data/daemons.yml)."""
        for user_unit, name in sorted(self.mains):
            if not name.endswith(".service") or "@." in name:
                continue
            unit = self.merged(user_unit, name)
            if unit is None or unit.broken:
                continue
            commands: list[Directive] = []
            for directive in unit.directives("Service"):
                if directive.key == "ExecStart":
                    if directive.value == "":
                        commands.clear()  # an empty assignment resets the list (drop-in overrides)
                    else:
                        commands.append(directive)
            if not commands:
                continue
            run_as, evidence = _run_as(self, unit, name)
            for directive in commands:
                yield from daemons.exec_listeners(directive.value, directive.location, name, run_as, evidence)


def _is_concrete_socket(name: str) -> bool:
    """A real socket unit name, not a prefix (``foo-.socket``) or type-wide (``socket``) drop-in."""
    return name.endswith(".socket") and not name.endswith("-.socket")


def _instance_of(name: str) -> str:
    """The instance part of ``foo@bar.socket`` (empty for templates and plain units)."""
    return name.rsplit(".", 1)[0].partition("@")[2]


# --------------------------------------------------------------------------- socket semantics


class _Expanded(NamedTuple):
    text: str
    path_like: bool
    unresolved: tuple[str, ...]


def _expand(value: str, unit: _Merged) -> _Expanded:
    """Resolve ``%%`` and the instance specifiers we can know; report the rest.

    A leading path specifier (``%t/app.sock``) means an AF_UNIX path, never a port.
    """
    stem = unit.name.rsplit(".", 1)[0]
    prefix = stem.split("@", 1)[0]
    instance = unit.instance
    known: dict[str, str] = {"n": unit.name, "N": stem, "p": prefix, "P": prefix}
    known["j"] = known["J"] = prefix.rsplit("-", 1)[-1]
    if instance is not None:
        known["i"] = known["I"] = instance
    unresolved: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter == "%":
            return "%"
        if letter in known and letter in _INSTANCE_SPECIFIERS:
            return known[letter]
        unresolved.append(match.group(0))
        return match.group(0)

    path_like = len(value) >= 2 and value[0] == "%" and value[1] in _PATH_SPECIFIERS
    return _Expanded(_SPECIFIER.sub(substitute, value), path_like, tuple(unresolved))


def _parse_bool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _last(
    directives: Iterator[Directive], key: str, parse: Callable[[str], _T | None]
) -> tuple[_T | None, Location | None]:
    """A scalar setting: the last valid assignment wins, an empty one resets, invalid ones are ignored."""
    value: _T | None = None
    where: Location | None = None
    for directive in directives:
        if directive.key != key:
            continue
        if directive.value == "":
            value, where = None, None
            continue
        parsed = parse(directive.value)
        if parsed is not None:
            value, where = parsed, directive.location
    return value, where


def _capability(name: str) -> str:
    word = name.upper()
    word = word.removeprefix("CAP_")
    number = ascii_int(word)
    if number is not None and number < len(ALL_CAPABILITIES):
        return ALL_CAPABILITIES[number]
    return word


def _capabilities(directives: Iterator[Directive], key: str) -> tuple[frozenset[str] | None, Location | None]:
    """A capability list as config_parse_capability_set() builds it (None: never set).

    A first, empty or ``~``-only assignment replaces the set; later ones add (or, with
    ``~``, remove) names. An inverted set ("all except") is spelled out by name, or ``ALL``.
    """
    inverted = False
    names: frozenset[str] | None = None
    where: Location | None = None
    for directive in directives:
        if directive.key != key:
            continue
        text = directive.value
        invert = text.startswith("~")
        words = frozenset(_capability(w) for w in text.removeprefix("~").split())
        if not words or names is None or (not inverted and not names and key != "CapabilityBoundingSet"):
            inverted, names = invert, words
        elif invert:
            names = names | words if inverted else names - words
        else:
            names = names - words if inverted else names | words
        where = directive.location
    if names is None:
        return None, None
    if not inverted:
        return names, where
    if not names:
        return frozenset({"ALL"}), where
    return frozenset(ALL_CAPABILITIES) - names, where


def _run_as(units: _Units, socket: _Merged, service: str) -> tuple[RunAs, tuple[Evidence, ...]]:
    """Who the paired service runs as (None when unknown) and the lines that say so."""
    if socket.user_unit:
        found = units.merged(True, service)
        paired: tuple[Evidence, ...] = ()
        if found is not None and found.fragments:
            paired = (Evidence(found.fragments[0].location, f"paired service unit {service}"),)
        return RunAs(user="systemd user manager"), paired
    unit = units.merged(False, service)
    if unit is None or unit.broken:
        return RunAs(user=None), ()

    def settings() -> Iterator[Directive]:
        return unit.directives("Service")

    evidence: list[Evidence] = []
    if unit.fragments:
        evidence.append(Evidence(unit.fragments[0].location, f"paired service unit {service}"))
    user, user_at = _last(settings(), "User", lambda v: v)
    dynamic, dynamic_at = _last(settings(), "DynamicUser", _parse_bool)
    nnp, nnp_at = _last(settings(), "NoNewPrivileges", _parse_bool)
    private, private_at = _last(settings(), "PrivateUsers", _private_users)
    ambient, ambient_at = _capabilities(settings(), "AmbientCapabilities")
    bounding, bounding_at = _capabilities(settings(), "CapabilityBoundingSet")

    name: str | None
    location = user_at
    if user is not None:
        expanded = _expand(user, unit)
        name = None if is_templated(user) or expanded.unresolved else expanded.text
        evidence.append(Evidence(user_at or unit.fragments[0].location, f"User={shown(user)}"))
    elif dynamic:
        name = "dynamic user"
        location = dynamic_at
    elif unit.main is not None:
        name = "root"  # a system service without User= runs as root
    else:
        name = None
    if dynamic and dynamic_at is not None:
        evidence.append(Evidence(dynamic_at, "DynamicUser=yes: a transient non-root user"))
    if ambient and ambient_at is not None:
        evidence.append(Evidence(ambient_at, "AmbientCapabilities=" + " ".join(sorted(ambient))))
    if nnp and nnp_at is not None:
        evidence.append(Evidence(nnp_at, "NoNewPrivileges=yes"))
    if private and private_at is not None:
        evidence.append(Evidence(private_at, "PrivateUsers=: no capabilities in the host user namespace"))
    run_as = RunAs(
        user=name,
        location=location,
        ambient=ambient or frozenset(),
        bounding=bounding,
        no_new_privileges=bool(nnp) or bool(dynamic),
        private_users=bool(private),
        capability_location=ambient_at or bounding_at,
    )
    return run_as, tuple(evidence)


def _private_users(value: str) -> bool | None:
    """PrivateUsers= takes a boolean or (newer systemd) a mode: every mode is a user namespace."""
    if value.lower() in {"self", "identity", "full", "managed"}:
        return True
    return _parse_bool(value)


def _bind_ipv6_only(value: str) -> str | None:
    lowered = value.lower()
    if lowered in {"default", "both", "ipv6-only"}:
        return lowered
    flag = _parse_bool(value)
    if flag is None:
        return None
    return "ipv6-only" if flag else "both"


class _Address(NamedTuple):
    host: str | None
    family: str  # "ipv4", "ipv6" or "wild6" (an IPv6 wildcard: dual unless BindIPv6Only=ipv6-only)
    port: int


def _parse_ip_port(text: str) -> int | str:
    """systemd's parse_ip_port(): the port, or "range" (ERANGE) / "invalid" (EINVAL)."""
    if text[:2].lower() == "0b" and text[2:] and set(text[2:]) <= set("01"):
        number = _bounded_int(text[2:], 2)
    elif text[:2].lower() == "0o" and text[2:] and set(text[2:]) <= set("01234567"):
        number = _bounded_int(text[2:], 8)
    elif _STRTOUL.fullmatch(text):
        digits = text.lstrip("+-")
        if digits[:2].lower() == "0x":
            number = _bounded_int(digits[2:], 16)
        elif len(digits) > 1 and digits[0] == "0":
            number = _bounded_int(digits, 8)
        else:
            number = _bounded_int(digits, 10)
        if text.startswith("-") and number != 0:
            return "range"
    else:
        return "invalid"
    if number > 65535:
        return "range"
    if number == 0:
        return "invalid"
    return number


def _bounded_int(digits: str, base: int) -> int:
    """Digits already checked against ``base`` as a number; ``TOO_LARGE`` when too long to convert."""
    significant = digits.lstrip("0")
    return TOO_LARGE if len(significant) > MAX_DIGITS else int(significant or "0", base)


def _why_not_a_port(text: str) -> str | None:
    """The reason a string of digits is still refused as a port (0, or a bad octal number)."""
    number = ascii_int(text.lstrip("+-"))
    if number is None:
        return None
    if number == 0:
        return f"port {shown(text)} is not accepted (systemd requires 1-65535)"
    return f"{shown(text)!r} is not a number to systemd (a leading 0 means octal)"


def _parse_address(text: str) -> _Address | str:
    """systemd's socket_address_parse() for IP forms; a reason string when systemd refuses it."""
    port = _parse_ip_port(text)
    if port == "range":
        return f"port {shown(text)} is outside 1-65535"
    if isinstance(port, int):
        return _Address(None, "wild6", port)
    if "#" in text:
        return "a server name (#name) is not accepted here"
    colon = text.rfind(":")
    if colon < 0:
        return _why_not_a_port(text) or f"{shown(text)!r} is neither a port nor an address with a port"
    if text.startswith("["):
        if colon == 0 or text[colon - 1] != "]":
            return f"{shown(text)!r} is not an [IPv6]:port address"
        host_text, port_text, family = text[1 : colon - 1], text[colon + 1 :], "ipv6"
    else:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            host_text, port_text, family = text[:colon], text[colon + 1 :], "ipv4"
        else:
            return f"IPv6 address {shown(text)!r} has no port (write [{shown(text)}]:port)"
    number = _parse_ip_port(port_text)
    if number == "range":
        return f"port {shown(port_text)} is outside 1-65535"
    if not isinstance(number, int):
        return _why_not_a_port(port_text) or f"{shown(port_text)!r} is not a port number"
    try:
        host = ipaddress.IPv6Address(host_text) if family == "ipv6" else ipaddress.IPv4Address(host_text)
    except ValueError:
        kind = "IPv6" if family == "ipv6" else "IPv4"
        return f"{shown(host_text)!r} is not a numeric {kind} address (systemd never resolves host names)"
    if host.is_unspecified:
        return _Address(None, "wild6" if family == "ipv6" else "ipv4", number)
    return _Address(str(host), family, number)


_LISTEN_KINDS = {
    "ListenStream": "stream",
    "ListenDatagram": "datagram",
    "ListenSequentialPacket": "seqpacket",
}


class _Entry(NamedTuple):
    kind: str
    address: _Address | None  # None: an Unresolved placeholder, reported as such
    directive: Directive
    unresolved: Unresolved | None


def _socket_facts(units: _Units, socket: _Merged) -> Iterator[Fact]:
    """The listeners (and invalid or unresolved values) of one loadable socket unit."""
    entries: list[_Entry] = []
    refusals: list[Fact] = []
    for directive in socket.directives("Socket"):
        if not directive.key.startswith("Listen"):
            continue
        if directive.value == "":
            entries.clear()  # socket_free_ports(): every Listen*= entry goes, of any type
            continue
        kind = _LISTEN_KINDS.get(directive.key)
        if kind is None:
            continue  # ListenFIFO=, ListenNetlink=, ListenSpecial=, ...: never an IP port
        entry = _listen_entry(kind, directive, socket)
        if isinstance(entry, _Entry):
            entries.append(entry)
        elif entry is not None:
            refusals.append(entry)
    yield from refusals

    def socket_settings() -> Iterator[Directive]:
        return socket.directives("Socket")

    accept, accept_at = _last(socket_settings(), "Accept", _parse_bool)
    service_value, service_at = _last(
        socket_settings(), "Service", lambda v: _expand(v, socket).text if v.endswith(".service") else None
    )
    ipv6_only, ipv6_at = _last(socket_settings(), "BindIPv6Only", _bind_ipv6_only)
    protocol_value, _ = _last(socket_settings(), "SocketProtocol", lambda v: v.lower() or None)

    if accept and service_value is not None:
        yield ParseError(
            "Accept=yes with Service=: systemd refuses to load this socket unit",
            service_at or socket.fragments[0].location,
        )
        return
    if accept and any(e.kind == "datagram" for e in entries):
        yield ParseError(
            "Accept=yes with ListenDatagram=: datagram sockets cannot accept; systemd refuses the unit",
            accept_at or socket.fragments[0].location,
        )
        return

    stem = socket.name.removesuffix(".socket")
    if service_value is not None:
        service = service_value
    elif accept:
        service = f"{stem.split('@', 1)[0]}@.service"
    else:
        service = f"{stem}.service"
    run_as, evidence = _run_as(units, socket, service)
    extra: list[Evidence] = []
    if service_at is not None:
        extra.append(Evidence(service_at, f"Service={shown(service)}"))
    if accept and accept_at is not None:
        extra.append(Evidence(accept_at, f"Accept=yes: one {service} instance per connection"))
    if ipv6_only == "ipv6-only" and ipv6_at is not None:
        extra.append(Evidence(ipv6_at, "BindIPv6Only=ipv6-only"))

    for entry in entries:
        if entry.unresolved is not None:
            yield entry.unresolved
            continue
        if entry.address is None or entry.kind == "seqpacket":
            continue
        address = entry.address
        if address.family == "wild6":
            bind = BindAddress(None, "ipv6" if ipv6_only == "ipv6-only" else "dual")
        else:
            bind = BindAddress(address.host, address.family)
        protocol = "udp"
        if entry.kind == "stream":
            protocol = "sctp" if protocol_value == "sctp" else "tcp"
        yield Listener(
            service=f"{service} ({socket.name})",
            protocol=protocol,
            ports=PortRange.single(address.port),
            address=bind,
            location=entry.directive.location,
            run_as=run_as,
            bound_by="systemd-user" if socket.user_unit else "systemd",
            source="systemd",
            evidence=(*evidence, *extra),
        )


def _listen_entry(kind: str, directive: Directive, socket: _Merged) -> _Entry | Fact | None:
    """Classify one Listen*= value: an IP entry, a non-port (None), or a fact saying why not."""
    raw = directive.value
    context = f"{directive.key}="
    where = directive.location
    if raw.startswith(("/", "@", "vsock:")):
        return None  # AF_UNIX path, abstract socket or AF_VSOCK: not an IP port
    if is_templated(raw):
        unresolved = Unresolved(raw, f"{context}: value is a template or variable", where)
        return _Entry(kind, None, directive, unresolved)
    scoped = _SCOPED.fullmatch(raw)
    head = scoped.group(1) if scoped else raw
    expanded = _expand(head, socket)
    if expanded.path_like or expanded.text.startswith(("/", "@", "vsock:")):
        return None
    if expanded.unresolved:
        reason = f"{context}: unit specifier {', '.join(expanded.unresolved)} is only known at run time"
        return _Entry(kind, None, directive, Unresolved(raw, reason, where))
    parsed = _parse_address(expanded.text)
    if isinstance(parsed, str):
        return InvalidPort(raw, f"{context}: {parsed}; systemd ignores this line", where, context)
    if kind == "seqpacket":
        return ParseError(
            f"{context}{shown(raw)}: sequential-packet sockets are AF_UNIX only; systemd ignores this line",
            where,
        )
    return _Entry(kind, parsed, directive, None)
