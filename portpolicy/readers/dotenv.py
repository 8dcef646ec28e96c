"""A Compose project's ``.env`` file, and Compose's ``${VAR}`` interpolation that uses it.

Compose fills ``${VAR}`` in a compose file from the shell of whoever runs it, then from the
``.env`` file in the project directory (the compose file's folder). The shell of the
machine running portpolicy is never that shell (a CI runner's environment is not the
deployment's), so only the ``.env`` in the scanned tree is used; a variable it does not set
stays unknown unless the compose file gives a default. ``env_file:`` is not used here:
Compose passes it to the container's environment and never interpolates the compose file
with it.

``.env`` files hold secrets. A value is kept only when it has the shape of a port, a port
range or a ``uid:gid`` pair (``PORTLIKE``): any other value is never stored, so no message,
``facts`` listing or report can quote it. A variable with such a value is known to be set
(``${VAR:+x}`` gives ``x``) but its value stays unknown, and the reason says so.

The syntax is the one Compose documents (docs.docker.com, "Syntax for environment files"):
``#`` comment lines, blank lines, ``[export ]KEY=VALUE`` (or ``KEY: VALUE``), unquoted values
ending at a `` #`` comment, double-quoted values with escapes and interpolation, single-quoted
values taken literally, quoted values spanning lines. A line Compose cannot read makes
Compose refuse the whole project: the file is then ``broken`` and used for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from typing import Any

from portpolicy.model import Location
from portpolicy.readers.base import Source, shown
from portpolicy.readers.interpolate import COMPOSE, operator_of, reference_at
from portpolicy.records import record

NAME = "dotenv"

UNKNOWN = "\x00"
"""Stands in for the part of an interpolated value that is not known statically."""

PORTLIKE = re.compile(r"(?:[0-9]{1,10}(?:[-:][0-9]{1,10}){0,3}(?:/(?:tcp|udp|sctp))?)?")
"""A value that may be kept and shown: empty, a port, a range, ``host:container`` or ``uid:gid``."""

MAX_NESTING = 16
"""Deepest ``${A:-${B:-...}}`` interpolated; deeper is unknown (bounds a hostile value's cost)."""

_REFERENCE = re.compile(r"\$\{?([_a-zA-Z][_a-zA-Z0-9]*)")
_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([^\s=:#'\"]+)[ \t]*(=|:|\r?\n|$)")
_VALID_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_SPACE = re.compile(r"[ \t\v\f\r]*")
_BLANK_OR_COMMENT = re.compile(r"(?:\s|#[^\n]*)*")
_LINE_END = re.compile(r"[ \t\v\f\r]*(?:#[^\n]*)?(?:\n|$)")
_ESCAPE = re.compile(r"\\(.)", re.S)
_INLINE_COMMENT = re.compile(r"[ \t]#")


@record
class Opaque:
    """A variable the ``.env`` sets to a value that is not used (not a port, or not known)."""

    reason: str
    nonempty: bool | None
    """Whether the value is non-empty (``${VAR:+x}``, ``${VAR:-x}`` depend on it); None: not known."""


@record
class Env:
    """What a project's ``.env`` sets: port-like values, and the names of the others."""

    path: str
    values: Mapping[str, str] = field(default_factory=dict)
    opaque: Mapping[str, Opaque] = field(default_factory=dict)
    broken: str = ""
    """Why Compose cannot read the file (it then refuses the project), naming the line; empty when it can."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.values) | frozenset(self.opaque)


@record
class EnvFile:
    """A read ``.env``: kept until the compose files of its folder are interpolated with it."""

    env: Env
    location: Location
    kind: str = field(default="env_file", init=False)


def matches(path: str) -> bool:
    """Only ``.env`` itself: the file Compose reads by default (``--env-file`` names are not known)."""
    return path.rsplit("/", 1)[-1] == ".env"


def read(source: Source) -> Iterator[EnvFile]:
    """The variables of a ``.env`` file; never raises, never keeps a value that is not port-like."""
    yield EnvFile(parse(source.text, source.path), source.at(1))


def assemble(facts: Sequence[Any]) -> list[Any]:
    """A ``.env`` gives no fact of its own: its use is in the compose files of its folder."""
    return [f for f in facts if not isinstance(f, EnvFile)]


# -- the .env syntax --------------------------------------------------------------------------


def parse(text: str, path: str) -> Env:
    """The variables ``text`` sets, as Compose reads a ``.env``; later lines see earlier ones."""
    values: dict[str, str] = {}
    opaque: dict[str, Opaque] = {}
    pos, n, line, counted = 0, len(text), 1, 0
    while True:
        pos = _BLANK_OR_COMMENT.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return Env(path, values, opaque)
        line, counted = line + text.count("\n", counted, pos), pos  # each character counted once
        key = _KEY.match(text, pos)
        if key is None or not _VALID_KEY.fullmatch(key.group(1)):
            return Env(path, broken=f"line {line} is not KEY=VALUE")
        pos = key.end()
        if key.group(2) not in ("=", ":"):
            continue  # ``KEY`` alone: the value of the shell running Compose, never known here
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        parsed = _value(text, pos, line)
        if isinstance(parsed, str):
            return Env(path, broken=parsed)
        raw, pos, quote = parsed
        _store(key.group(1), raw, quote, path, values, opaque)


def _value(text: str, pos: int, line: int) -> tuple[str, int, str] | str:
    """(value as written, position after it, its quote), or why it does not parse."""
    quote = text[pos : pos + 1]
    if quote not in ("'", '"'):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        raw = text[pos:end]
        comment = _INLINE_COMMENT.search(raw)
        raw = raw[: comment.start()] if comment else raw
        return raw.rstrip(), end, ""
    close = pos + 1
    while True:
        close = text.find(quote, close)
        if close < 0:
            return f"line {line} opens a quoted value that never closes"
        if text[close - 1] != "\\":
            break
        close += 1
    rest = _LINE_END.match(text, close + 1)
    if rest is None:
        return f"line {line} has text after its quoted value"
    return text[pos + 1 : close], rest.end(), quote


def _store(
    name: str, raw: str, quote: str, path: str, values: dict[str, str], opaque: dict[str, Opaque]
) -> None:
    """Keep ``name``'s value if it is port-like; otherwise only that it is set (and whether empty)."""
    values.pop(name, None)
    opaque.pop(name, None)
    value, problem = raw, None
    if quote == "'":
        value = raw.replace("\\'", "'")
    elif "$" in raw or "\\" in raw:
        value = _ESCAPE.sub(_unescape, raw) if quote == '"' else raw
        value, problem = interpolate(value, Env(path, values, opaque))
    if problem is not None or UNKNOWN in value:
        opaque[name] = Opaque(f"whose value uses a variable that {path} does not set", None)
    elif PORTLIKE.fullmatch(value):
        values[name] = value
    else:
        opaque[name] = Opaque("whose value is not a port (not shown: a .env holds secrets)", value != "")


def _unescape(m: re.Match[str]) -> str:
    """Compose's escapes in a double-quoted value: ``\\n``, ``\\r``, ``\\t``, and a backslash before anything else."""
    c = m.group(1)
    return {"n": "\n", "r": "\r", "t": "\t"}.get(c, c if c != "$" else "\\$")


# -- interpolation ------------------------------------------------------------------------------


def references(text: str) -> frozenset[str]:
    """The variable names ``text`` may interpolate (a cheap over-approximation: ``$$X`` counts)."""
    return frozenset(_REFERENCE.findall(text)) if "$" in text else frozenset()


def interpolate(text: str, env: Env | None = None, depth: int = 0) -> tuple[str, str | None]:
    """Compose's interpolation of ``text`` with ``env`` (a ``.env``; None: no file), defaults taken.

    ``$$`` is a literal ``$``; ``${VAR:-x}`` / ``${VAR-x}`` give ``x`` (itself interpolated) when
    VAR is unset (``:-`` also when empty). A variable that neither the ``.env`` nor a default
    gives is unknown (``UNKNOWN``): the deployment's shell may set it. Returns the text and the
    first problem: an invalid template, a required variable not set, a value not used.
    """
    if "$" not in text:
        return text, None
    if depth > MAX_NESTING:
        return UNKNOWN, "nests variables too deeply"
    out: list[str] = []
    problem: str | None = None
    i, n = 0, len(text)
    while i < n:
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        ref = reference_at(text, dollar, COMPOSE)
        i = ref.end
        if ref.literal is not None:  # ``$$``, or a '$' that starts no variable: Compose leaves it
            out.append(ref.literal)
            continue
        if not ref.closed:
            out.append(UNKNOWN)
            problem = problem or "is an invalid interpolation ('${' without '}')"
            break
        if ref.name is None or not ref.valid:
            out.append(UNKNOWN)
            problem = problem or f"is an invalid interpolation '${{{shown(ref.body)}}}'"
            continue
        value, why = _substitute(ref.name, ref.modifier, env, depth)
        out.append(value)
        problem = problem or why
    return "".join(out), problem


def _substitute(name: str, op: str, env: Env | None, depth: int) -> tuple[str, str | None]:
    """One ``${name<op>}`` (``op`` is ``""``, ``:-x``, ``-x``, ``:?x``, ``?x``, ``:+x`` or ``+x``).

    Its value, or ``UNKNOWN`` and why (None: the variable is simply not set anywhere known).
    """
    colon, kind, arg = operator_of(op)
    value = env.values.get(name) if env is not None else None
    hidden = env.opaque.get(name) if env is not None else None
    if value is None and hidden is None:
        return _unset(name, kind, arg, env, depth)
    nonempty = value != "" if value is not None else hidden.nonempty if hidden is not None else None
    if colon and kind and nonempty is None:
        return UNKNOWN, _withheld(name, env, hidden)  # set, but whether empty is not known
    if kind == "+":
        return interpolate(arg, env, depth + 1) if nonempty or not colon else ("", None)
    if colon and not nonempty:
        if kind == "-":
            return interpolate(arg, env, depth + 1)
        return UNKNOWN, _required(name, arg, f"which {_where(env)} sets to nothing")
    return (value, None) if value is not None else (UNKNOWN, _withheld(name, env, hidden))


def _unset(name: str, kind: str, arg: str, env: Env | None, depth: int) -> tuple[str, str | None]:
    """A variable no ``.env`` sets: a default is taken; otherwise it is the deployment's to set."""
    if kind == "-":
        return interpolate(arg, env, depth + 1)
    if kind == "?":
        which = "which is not set" if env is None else f"which {env.path} does not set"
        return UNKNOWN, _required(name, arg, which)
    return UNKNOWN, None


def _required(name: str, message: str, which: str) -> str:
    """Why ``${name:?message}`` stops Compose; the message is the compose file's own text."""
    why = f"requires {name}, {which}"
    return f"{why} (Compose stops: {shown(message)!r})" if message else why


def _withheld(name: str, env: Env | None, hidden: Opaque | None) -> str:
    return f"takes {name} from {_where(env)}, {hidden.reason if hidden else 'whose value is not known'}"


def _where(env: Env | None) -> str:
    return env.path if env is not None else ".env"
