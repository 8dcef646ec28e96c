"""Dockerfiles and Containerfiles: each stage's ``USER``, ``EXPOSE`` and build-context copies.

The syntax is BuildKit's (``moby/buildkit`` ``frontend/dockerfile/parser``): parser
directives at the top (``# escape=`` changes the line-continuation and escape character),
comment and blank lines skipped even inside a continuation, heredocs (``RUN <<EOF`` …
``EOF``) whose bodies are never instructions, instructions in any case, JSON-array and
shell forms. Variables expand as BuildKit's shell lexer does, from ``ARG`` defaults and
``ENV`` values; a variable that is declared without a value or not declared at all is not
known statically (a ``--build-arg`` may set it), so it becomes ``Unresolved``.

A stage built ``FROM`` an earlier stage inherits its ``USER``, ``ENV``, ``EXPOSE`` and
files; one built from an image does not see earlier stages. The last stage is what runs
(compose ``target:`` picks another one, see ``correlate``). ``EXPOSE`` documents the ports
the process listens on inside the container, so each becomes a ``Listener`` in the image's
own network namespace (``container:image:<file name>``), run as the stage's user. With no
``USER`` at all the base image decides, which is unknown (no verdict), except ``FROM
scratch``, which runs as root. EXPOSE values are parsed like ``nat.ParsePortSpecs``
(``docker/go-connections``): ``80``, ``80/udp``, ``8000-8010``, tcp/udp/sctp only.
"""

from __future__ import annotations

import json
import posixpath
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from portpolicy.model import (
    BindAddress,
    Fact,
    ImageInfo,
    ImageStage,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    Format,
    Source,
    first_word,
    parse_port_range,
    shown,
)
from portpolicy.readers.interpolate import BUILDKIT, VAR_NAME, operator_of, reference_at
from portpolicy.readers.lexing import JINJA_EXPRESSIONS, replace_templates

NAME = "dockerfile"

FORMAT = Format(
    "a Dockerfile",
    "Dockerfile instruction",
    re.compile(
        r"(?i)[ \t]*(?:from|run|cmd|label|maintainer|expose|env|add|copy|entrypoint|volume|user|workdir"
        r"|arg|onbuild|stopsignal|healthcheck|shell)(?:[ \t]|$)"
    ),
)

INSTRUCTIONS = frozenset(
    {
        "from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy", "entrypoint",
        "volume", "user", "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell",
    }
)  # fmt: skip
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=(.*)")
"""The value is stripped in code: ``(.*?)\\s*$`` is quadratic in a run of blanks."""
_HEREDOC = re.compile(r"(?:^|(?<=\s))[0-9]*<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2(?=\s|$)")
_UNKNOWN = "\x00"
_TEMPLATED = "\x01"
_PROTOCOLS = ("tcp", "udp", "sctp")
MAX_LINES = 200_000


@dataclass
class _Line:
    """One logical instruction: its text and where each piece of it came from."""

    text: str
    starts: list[int]
    places: list[tuple[int, int]]
    original: str
    """The same text with template expressions as written (for values shown to users)."""

    def at(self, offset: int, path: str) -> Location:
        i = max(0, bisect_right(self.starts, offset) - 1)
        line, col = self.places[i]
        return Location(path, line, col + offset - self.starts[i])


@dataclass
class _Stage:
    """A stage while it is being read; ``env`` maps names to values (None: not known)."""

    name: str
    base: str
    location: Location
    env: dict[str, str | None]
    run_as: RunAs
    listeners: list[Listener] = field(default_factory=list)
    copies: list[tuple[str, str, Location]] = field(default_factory=list)
    workdir: str = "/"
    env_names: set[str] = field(default_factory=set)


def read(source: Source) -> Iterator[Fact]:
    """Read one Dockerfile; a reader bug becomes a ParseError, never an exception."""
    try:
        yield from _Reader(source).run()
    except Exception as exc:  # pragma: no cover - a safety net for bugs, not for bad input
        yield ParseError(f"dockerfile reader failed ({type(exc).__name__}); please report it", source.at(1))


class _Reader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.path = source.path
        self.template = source.template
        self.escape = "\\"
        self.global_args: dict[str, str | None] = {}
        self.stages: list[_Stage] = []
        name = posixpath.basename(source.name_path)
        self.netns = f"container:image:{name}"
        self.facts: list[Fact] = []

    # -- lines ---------------------------------------------------------------------------

    def lines(self) -> Iterator[_Line]:
        """Logical instructions: directives read, continuations joined, heredoc bodies skipped."""
        text = self.source.masked
        # the line breaks of every reader, suppression and code frame: \f, \v or U+2028 end no line
        orig = LINE_BREAK.split(text, MAX_LINES)[:MAX_LINES]
        # Inline ``{{ … }}`` (Jinja, Go templates) is no Dockerfile syntax: one unknown value,
        # same length, so columns and the text shown for it stay those of the file.
        raw = [replace_templates(ln, lambda span: _TEMPLATED * len(span), JINJA_EXPRESSIONS) for ln in orig]
        i = 0
        while i < len(raw):  # parser directives: only before anything else
            m = _DIRECTIVE.match(raw[i])
            if not m:
                break
            key, value = m.group(1).lower(), m.group(2).strip()
            if key == "escape":
                if value not in ("\\", "`"):
                    self.facts.append(
                        ParseError(
                            f"invalid escape directive {shown(value)!r} (must be \\ or `)",
                            self.source.at(i + 1),
                        )
                    )
                else:
                    self.escape = value
            i += 1
        while i < len(raw):
            line = raw[i]
            stripped = line.lstrip()
            if not stripped or stripped.startswith("#"):
                i += 1
                continue
            starts: list[int] = []
            places: list[tuple[int, int]] = []
            parts: list[str] = []
            originals: list[str] = []
            length = 0
            lead = len(line) - len(stripped)
            piece, cont = self._continued(stripped)
            starts.append(0)
            places.append((i + 1, lead + 1))
            parts.append(piece)
            originals.append(orig[i][lead : lead + len(piece)])
            length += len(piece)
            i += 1
            while cont and i < len(raw):
                nxt = raw[i]
                s = nxt.lstrip()
                if not s or s.startswith("#"):
                    i += 1
                    continue
                piece, cont = self._continued(nxt)
                starts.append(length)
                places.append((i + 1, 1))
                parts.append(piece)
                originals.append(orig[i][: len(piece)])
                length += len(piece)
                i += 1
            logical = _Line("".join(parts), starts, places, "".join(originals))
            i = self._skip_heredocs(logical, raw, i)
            yield logical

    def _continued(self, line: str) -> tuple[str, bool]:
        body = line.rstrip(" \t\r")
        if body.endswith(self.escape):
            return body[: -len(self.escape)], True
        return line.rstrip("\r"), False

    def _skip_heredocs(self, logical: _Line, raw: list[str], i: int) -> int:
        """Skip the bodies of ``RUN``/``COPY``/``ADD`` heredocs; returns the next line index."""
        word = logical.text.split(None, 1)
        if not word or word[0].lower() not in ("run", "copy", "add") or "<<" not in logical.text:
            return i
        for m in _HEREDOC.finditer(logical.text):
            strip_tabs, end = m.group(1) == "-", m.group(3)
            while i < len(raw):
                body = raw[i].rstrip("\r")
                i += 1
                if (body.lstrip("\t") if strip_tabs else body) == end:
                    break
            else:
                self.facts.append(
                    ParseError(f"heredoc <<{end} is never closed", logical.at(m.start(), self.path))
                )
        return i

    # -- instructions --------------------------------------------------------------------

    def run(self) -> Iterator[Fact]:
        for line in self.lines():
            text = line.text
            m = re.match(r"\S+", text)
            if m is None:
                continue
            word = m.group(0)
            instr = word.lower()
            tail = text[m.end() :]
            rest_at = m.end() + len(tail) - len(tail.lstrip())
            rest = text[rest_at:].rstrip()
            if instr not in INSTRUCTIONS:
                if not (self.template or _TEMPLATED in word or "$" in word or "@" in word):
                    self.facts.append(
                        ParseError(f"unknown instruction {first_word(word)!r}", line.at(0, self.path))
                    )
                continue
            handler = getattr(self, f"do_{instr}", None)
            if instr != "arg" and instr != "from" and not self.stages:
                if instr not in ("onbuild",):
                    self.facts.append(
                        ParseError(f"{word.upper()} before the first FROM", line.at(0, self.path))
                    )
                continue
            if handler is not None:
                handler(line, rest, rest_at)
        yield from self.facts
        if self.stages:
            # The last USER of a stage is the one its process runs as, wherever EXPOSE stands.
            stages = tuple(
                ImageStage(
                    s.name,
                    s.base,
                    s.location,
                    s.run_as,
                    tuple(replace(ln, run_as=s.run_as) for ln in s.listeners),
                    tuple(s.copies),
                )
                for s in self.stages
            )
            yield from stages[-1].listeners
            yield ImageInfo(self.source.at(1), self.netns, self.path, stages)

    @property
    def stage(self) -> _Stage:
        return self.stages[-1]

    def env(self) -> dict[str, str | None]:
        return self.stage.env if self.stages else self.global_args

    def do_from(self, line: _Line, rest: str, rest_at: int) -> None:
        words = _words(rest, rest_at)
        words = [(w, o) for w, o in words if not w.startswith("--")]
        loc = line.at(0, self.path)
        name = str(len(self.stages))
        if len(words) >= 3 and words[-2][0].lower() == "as":
            name = words[-1][0].lower()
        base_raw = words[0][0] if words else ""
        base, _ = _expand(base_raw, self.global_args, self.escape)
        parent = next((s for s in reversed(self.stages) if s.name == base.lower()), None)
        if parent is not None:
            stage = _Stage(
                name,
                base,
                loc,
                {k: v for k, v in parent.env.items() if k in parent.env_names},
                parent.run_as,
                list(parent.listeners),
                list(parent.copies),
                parent.workdir,
                set(parent.env_names),
            )
        else:
            run_as = RunAs("root", loc) if base.lower() == "scratch" else RunAs()
            stage = _Stage(name, base, loc, {}, run_as)
        self.stages.append(stage)

    def do_arg(self, line: _Line, rest: str, rest_at: int) -> None:
        target = self.env()
        for word, _ in _words(rest, rest_at):
            key, eq, value = word.partition("=")
            if not VAR_NAME.fullmatch(key):
                continue
            if self.stages and key in self.stage.env_names:
                continue  # ENV of the same name wins over ARG
            if eq:
                target[key] = _known(_expand(value, self.env(), self.escape)[0])
            elif self.stages:
                target[key] = self.global_args.get(key)
            else:
                target[key] = None

    def do_env(self, line: _Line, rest: str, rest_at: int) -> None:
        words = _words(rest, rest_at)
        if not words:
            return
        if "=" not in words[0][0]:  # legacy ``ENV key value with spaces``
            key, _, value = rest.partition(" ")
            pairs = [(key, value.strip())]
        else:
            pairs = [(w.partition("=")[0], w.partition("=")[2]) for w, _ in words]
        for key, value in pairs:
            if VAR_NAME.fullmatch(key):
                self.stage.env[key] = _known(_expand(value, self.stage.env, self.escape)[0])
                self.stage.env_names.add(key)

    def do_workdir(self, line: _Line, rest: str, rest_at: int) -> None:
        value = _known(_expand(rest.strip(), self.stage.env, self.escape)[0])
        if value is None:
            self.stage.workdir = ""
        elif self.stage.workdir or value.startswith("/"):
            self.stage.workdir = posixpath.normpath(posixpath.join(self.stage.workdir or "/", value))

    def do_user(self, line: _Line, rest: str, rest_at: int) -> None:
        loc = line.at(rest_at, self.path)
        words = _words(rest, rest_at)
        if len(words) != 1:
            self.facts.append(ParseError("USER takes exactly one argument", loc))
            return
        value, problem = _expand(words[0][0], self.stage.env, self.escape)
        if _UNKNOWN in value or problem:
            why = problem or "holds a variable without a known value"
            shown = line.original[rest_at : rest_at + len(rest)]
            self.facts.append(Unresolved(shown, f"USER {why}: the user is not known statically", loc))
            self.stage.run_as = RunAs(None, loc)
            return
        if not value.strip():
            self.stage.run_as = RunAs(None, loc)
            return
        self.stage.run_as = RunAs(value.strip(), loc)

    def do_expose(self, line: _Line, rest: str, rest_at: int) -> None:
        for word, offset in _words(rest, rest_at):
            loc = line.at(offset, self.path)
            value, problem = _expand(word, self.stage.env, self.escape)
            if _UNKNOWN in value or problem:
                why = problem or "holds a variable without a known value"
                written = line.original[offset : offset + len(word)]
                self.facts.append(Unresolved(written, f"EXPOSE port {why}", loc))
                continue
            for spec in value.split():
                self._expose_one(word if spec == value else spec, spec, loc)

    def _expose_one(self, raw: str, spec: str, loc: Location) -> None:
        ctx = f"EXPOSE {shown(raw)!r}"
        container = spec.rsplit(":", 1)[-1]  # ``nat.ParsePortSpec`` keeps the container part
        port, _, proto = container.partition("/")
        protocol = (proto or "tcp").lower()
        if protocol not in _PROTOCOLS:
            why = f"{ctx}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
            self.facts.append(InvalidPort(raw, why, loc, ctx))
            return
        if not port:
            self.facts.append(InvalidPort(raw, f"{ctx}: no port", loc, ctx))
            return
        prange = parse_port_range(port, loc, ctx, allow_zero=True)
        if isinstance(prange, (InvalidPort, Unresolved)):
            self.facts.append(replace(prange, value=raw))
            return
        if prange is None:
            return
        self.stage.listeners.append(
            Listener(
                service=self.path,
                protocol=protocol,
                ports=prange,
                address=BindAddress.wildcard(),
                location=loc,
                run_as=self.stage.run_as,
                bound_by="process",
                netns=self.netns,
                source=f"{self.path} EXPOSE",
                container=self.path,
            )
        )

    def do_copy(self, line: _Line, rest: str, rest_at: int) -> None:
        self._copy(line, rest, rest_at, add=False)

    def do_add(self, line: _Line, rest: str, rest_at: int) -> None:
        self._copy(line, rest, rest_at, add=True)

    def _copy(self, line: _Line, rest: str, rest_at: int, add: bool) -> None:
        """Files taken from the build context (``--from`` copies from a stage or image: skipped)."""
        words = _words(rest, rest_at)
        flags = [w for w, _ in words if w.startswith("--")]
        origin = next((f.partition("=")[2].lower() for f in flags if f.startswith("--from=")), None)
        stage_from = next((s for s in self.stages[:-1] if s.name == origin), None)
        if origin is not None and stage_from is None:
            return  # copied from an image: not from the build context
        args = [w for w, _ in words if not w.startswith("--")]
        body = " ".join(args).strip()
        if body.startswith("["):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
                args = parsed
        if len(args) < 2:
            return
        dest = _known(_expand(args[-1], self.stage.env, self.escape)[0])
        if dest is None:
            return
        if not dest.startswith("/"):
            if not self.stage.workdir:
                return
            keep_slash = dest.endswith("/") or dest in (".", "./")
            dest = posixpath.normpath(posixpath.join(self.stage.workdir, dest)) + ("/" if keep_slash else "")
        many = len(args) > 2
        for src in args[:-1]:
            if src.startswith("<<") or (add and ("://" in src or src.startswith("git@"))):
                continue
            value = _known(_expand(src, self.stage.env, self.escape)[0])
            if value is not None and stage_from is not None:
                value = _context_path(stage_from, value)
            if value is None:
                continue
            target = dest + ("/" if many and not dest.endswith("/") else "")
            self.stage.copies.append((value, target, line.at(0, self.path)))


def _context_path(stage: _Stage, path: str) -> str | None:
    """The build-context path that ``COPY --from=<stage> path`` takes, when that stage copied it."""
    path = posixpath.normpath(path)
    for src, dest, _ in reversed(stage.copies):
        if any(ch in src for ch in "*?["):
            continue
        base = posixpath.normpath(dest)
        if path == base and not dest.endswith("/"):
            return src
        if path.startswith(base.rstrip("/") + "/"):
            rest = path[len(base.rstrip("/")) + 1 :]
            if dest.endswith("/") and src not in (".", "./") and not src.endswith("/"):
                # ``COPY a.conf /etc/x/`` puts the file itself in the directory
                return src if rest == posixpath.basename(src) else None
            return posixpath.normpath(posixpath.join(src, rest))
    return None


def _known(text: str) -> str | None:
    return None if _UNKNOWN in text else text


def _words(text: str, base: int) -> list[tuple[str, int]]:
    """Whitespace-separated words (quotes keep spaces together), with their offsets."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        quote = ""
        while i < n and (quote or text[i] not in " \t"):
            c = text[i]
            if quote:
                if c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            i += 1
        out.append((text[start:i], base + start))
    return out


def _expand(text: str, env: dict[str, str | None], escape: str = "\\") -> tuple[str, str | None]:
    """BuildKit's word expansion: quotes removed, ``$VAR``/``${VAR}`` and their modifiers.

    Unknown parts become ``_UNKNOWN``; returns the text and a problem (a bad substitution).
    """
    out: list[str] = []
    problem: str | None = None
    i, n = 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if c == _TEMPLATED:
            while i < n and text[i] == _TEMPLATED:
                i += 1
            out.append(_UNKNOWN)
            problem = problem or "is a template expression"
            continue
        if c == escape and quote != "'" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if c in "\"'" and (not quote or quote == c):
            quote = "" if quote else c
            i += 1
            continue
        if c != "$" or quote == "'":
            out.append(c)
            i += 1
            continue
        ref = reference_at(text, i, BUILDKIT)
        i = ref.end
        if ref.literal is not None:
            out.append(ref.literal)
            continue
        if not ref.closed:
            return "".join(out) + _UNKNOWN, "has a '${' without '}'"
        if ref.name is None:
            out.append(_UNKNOWN)
            problem = problem or f"has a bad substitution '${{{ref.body}}}'"
            continue
        name, mod = ref.name, ref.modifier
        declared = name in env
        value = env.get(name)
        if mod == "":
            out.append(_UNKNOWN if value is None else value)
        elif ref.valid:
            colon, op, word = operator_of(mod)
            if declared and value is None:
                out.append(_UNKNOWN)  # a build argument may or may not set it
                continue
            is_set = declared and (value != "" if colon else True)
            alt, sub = _expand(word, env, escape)
            problem = problem or sub
            if op == "-":
                out.append(value if is_set and value is not None else alt)
            else:
                out.append(alt if is_set else "")
        else:
            out.append(_UNKNOWN)
    return "".join(out), problem
