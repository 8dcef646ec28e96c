"""nginx configuration: ``listen`` in http, stream and mail servers, ``user``, ``include``.

nginx's master process starts as root, binds every listening socket, then starts workers
as the ``user`` directive's user. So every listener here is ``bound_by="root-master"``
with ``service="nginx"``, and ``user`` is kept as evidence only (it never makes the bind
fail). When the same config is run by an unprivileged master (an image switched to
``USER nginx``), the compose/Dockerfile correlation step may override ``bound_by`` and
``run_as`` of these listeners: it recognises them by ``service == "nginx"``.

``read`` tokenises one file the way ``ngx_conf_read_token()`` does (``#`` comments at a
token start, quotes with backslash escapes, ``;`` ``{`` ``}``) into an ``NginxFile``;
``assemble`` then follows ``include`` directives among the files of one host (relative to
the directory of ``nginx.conf``, absolute ``/etc/nginx/...`` mapped onto the scanned
tree, glob masks; bounded, no cycles) so that each file is walked once, in the context
that includes it, and the ``user`` line can be cited. A missing include is not reported:
repositories rarely carry ``mime.types`` or distribution snippets. A ``server`` without
``listen`` (nginx uses ``*:80`` as root, ``*:8000`` otherwise) yields nothing: the port
depends on how the master is started, and guessing would only add noise.

Listens that nginx refuses to repeat (a second ``default_server`` or socket options for
one address:port, one server listing an address twice) carry ``refuses_repeat`` and
nginx's message as evidence (``nginx_repeats``): PP004 reports them.

One room at about 560 lines: the tokeniser (``_TreeBuilder``) and the include walk
(``_Walker``) share ``Directive``, ``NginxFile`` and nginx's block contexts, and each is
about 150 lines; a package would spread one format's model over three files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import Format, Source, ascii_int, is_templated, shown, strip_template
from portpolicy.readers.lexing import ForwardFinder, glob_matches, replace_templates
from portpolicy.readers.netaddr import bind_address, split_bracketed, templated_host, unknown_address
from portpolicy.readers.nginx_repeats import Bind, bind, refusals
from portpolicy.signatures import nginx as signature

NAME = "nginx"

FORMAT = Format(
    "an nginx config",
    "nginx directive",
    re.compile(r"[ \t]*(?:[a-z_][a-z0-9_]*(?:[ \t][^;{}#\n]*)?[;{]|\})"),
)
SERVICE = "nginx"
MAX_DEPTH = 64
MAX_INCLUDE_DEPTH = 16

_MASK = "\x01"
# Content that shows a text is nginx's to read: a block or a listen/include line.
_SNIFF = re.compile(
    r"^[ \t]*(?:(?:http|server|stream|events|upstream|mail|location)\s*\{|listen\s+[^;\n]+;"
    r"|server_name\s|worker_processes\s|proxy_pass\s|root\s+[^;\n]+;)",
    re.M,
)
_SERVER_CONTEXTS = {"http": "http-server", "stream": "stream-server", "mail": "mail-server"}


def _main_name(path: str) -> bool:
    """``nginx.conf``, ``nginx-*.conf``: the name of a main config (a tie-breaker, never the only evidence)."""
    name = strip_template(path.rsplit("/", 1)[-1])
    return name.startswith("nginx") and name.endswith(".conf")


@dataclass(frozen=True)
class Token:
    text: str
    line: int
    column: int
    templated: bool = False


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[Token, ...]
    location: Location
    block: tuple[Directive, ...] | None = None
    line: int = 0
    """The line of the text read (its arguments' token lines count from the same text): a
    rendered template's ``location`` is moved to the template line, the tokens are not."""


@dataclass(frozen=True)
class NginxFile:
    """One parsed file, kept until ``assemble`` knows which file includes it."""

    path: str
    directives: tuple[Directive, ...]
    location: Location
    main: bool
    host: str = ""
    rel: str = ""
    """The path relative to the scanned root: what a decision by path may look at."""
    kind: str = field(default="nginx_file", init=False)


def read(source: Source) -> Iterator[Fact | NginxFile]:
    """Parse one file; a text with no nginx line (a fail2ban filter, php-fpm) yields nothing; never raises.

    Which files are nginx's is decided by ``portpolicy.signatures.nginx`` (Apache content
    in a shared ``sites-enabled/`` goes to the Apache reader there).
    """
    if not _SNIFF.search(source.text) and not signature.shaped(source.text):
        return
    text = source.masked
    if "_by_lua_block" in text:
        text = _blank_lua_blocks(text)
    builder = _TreeBuilder(source, replace_templates(text, lambda span: _MASK * len(span)), text)
    directives = builder.parse()
    yield from builder.errors[:1]  # nginx stops at the first error; the rest follow from it
    main = any(d.name in ("http", "events", "stream", "mail") and d.block is not None for d in directives)
    main = main or _main_name(source.name_path)
    yield NginxFile(source.path, tuple(directives), source.at(1), main, rel=source.name_path)


_LUA_BLOCK = re.compile(r"(?m)^[ \t]*\w+_by_lua_block[ \t]*\{")


def _blank_lua_blocks(text: str) -> str:
    """Blank the Lua code of OpenResty's ``*_by_lua_block { ... }`` (lines kept in place).

    ngx_lua reads those blocks with its own Lua lexer, so braces inside Lua strings, long
    brackets (``[[ ]]``, ``[=[ ]=]``) and comments do not count; nginx's parser never sees
    the code, and neither should ours.
    """
    out = list(text)
    pos = 0
    while True:
        m = _LUA_BLOCK.search(text, pos)
        if m is None:
            return "".join(out)
        i, depth, n = m.end(), 1, len(text)
        while i < n and depth:
            ch = text[i]
            long_open = re.match(r"--\[(=*)\[|\[(=*)\[", text[i : i + 64])
            if long_open:  # long comment or long string: up to its matching close
                eq = long_open.group(1) if long_open.group(1) is not None else long_open.group(2) or ""
                end = text.find("]" + eq + "]", i + long_open.end())
                i = n if end < 0 else end + len(eq) + 2
                continue
            if text.startswith("--", i):
                end = text.find("\n", i)
                i = n if end < 0 else end
                continue
            if ch in "\"'":
                j = i + 1
                while j < n and text[j] != ch and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                i = j + 1
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            i += 1
        close = i - 1  # the block's own "}" stays for the parser
        for k in range(m.end(), max(m.end(), close)):
            if out[k] != "\n":
                out[k] = " "
        pos = max(i, m.end())


class _TreeBuilder:
    """ngx_conf_parse() over one file: a directive tree, and the errors nginx would stop at."""

    def __init__(self, source: Source, text: str, unmasked: str) -> None:
        self.source = source
        self.text = text
        self.original = unmasked  # same length as ``text``: inline templates are masked in place
        self.pos = 0
        self.line = 1
        self.col = 1
        self.errors: list[ParseError] = []

    def parse(self) -> list[Directive]:
        stack: list[tuple[Directive | None, list[Directive]]] = [(None, [])]
        words: list[Token] = []
        for kind, token in self._tokens():
            if kind == "word":
                words.append(token)
                continue
            if kind == ";":
                if words:
                    stack[-1][1].append(self._directive(words, None))
                else:
                    self._error('unexpected ";"', token)
                words = []
            elif kind == "{":
                if not words:
                    self._error('unexpected "{"', token)
                    words = [Token("", token.line, token.column)]
                if len(stack) > MAX_DEPTH:
                    self._error(f"blocks nested deeper than {MAX_DEPTH}", token)
                    return self._close(stack)
                stack.append((self._directive(words, ()), []))
                words = []
            elif kind == "}":
                if words:
                    self._error('unexpected "}" (a directive before it lacks ";")', token)
                    words = []
                if len(stack) == 1:
                    self._error('unexpected "}"', token)
                    continue
                head, body = stack.pop()
                assert head is not None
                stack[-1][1].append(Directive(head.name, head.args, head.location, tuple(body), head.line))
            elif kind == "error":
                self._error(token.text, token)
                return self._close(stack)
        if words:
            self._error('unexpected end of file, expecting ";" or "}"', words[0])
        if len(stack) > 1:
            head = stack[-1][0]
            where = Token("", head.location.line, head.location.column) if head else Token("", 1, 1)
            self._error('unexpected end of file, expecting "}"', where)
        return self._close(stack)

    def _close(self, stack: list[tuple[Directive | None, list[Directive]]]) -> list[Directive]:
        """Fold unclosed blocks into their parents so what was read is still used."""
        while len(stack) > 1:
            head, body = stack.pop()
            assert head is not None
            stack[-1][1].append(Directive(head.name, head.args, head.location, tuple(body), head.line))
        return stack[0][1]

    def _directive(self, words: list[Token], block: tuple[Directive, ...] | None) -> Directive:
        head = words[0]
        return Directive(
            head.text, tuple(words[1:]), self.source.at(head.line, head.column), block, head.line
        )

    def _error(self, message: str, token: Token) -> None:
        self.errors.append(ParseError(f"nginx: {message}", self.source.at(token.line, token.column)))

    def _tokens(self) -> Iterator[tuple[str, Token]]:
        text = self.text
        n = len(text)
        i = 0
        line, col = 1, 1

        next_close = ForwardFinder(text, "}")

        def advance(count: int) -> None:
            nonlocal i, line, col
            for _ in range(count):
                if text[i] == "\n":
                    line, col = line + 1, 1
                else:
                    col += 1
                i += 1

        while i < n:
            ch = text[i]
            if ch in " \t\r\n":
                advance(1)
                continue
            if ch == "#":
                end = text.find("\n", i)
                advance((n if end < 0 else end) - i)
                continue
            if ch in ";{}":
                yield ch, Token(ch, line, col)
                advance(1)
                continue
            start_line, start_col, start = line, col, i
            if ch in "\"'":
                j = i + 1
                value: list[str] = []
                while j < n and text[j] != ch:
                    if text[j] == "\\" and j + 1 < n:
                        value.append(text[j + 1] if text[j + 1] in "\"'\\" else text[j : j + 2])
                        j += 2
                        continue
                    value.append(text[j])
                    j += 1
                if j >= n:
                    yield "error", Token("unexpected end of file in a quoted string", start_line, start_col)
                    return
                advance(j + 1 - i)
                templated = _MASK in "".join(value)
                shown = self.original[start + 1 : j] if templated else "".join(value)
                yield "word", Token(shown, start_line, start_col, templated)
                continue
            j = i
            while j < n and text[j] not in " \t\r\n;{}\"'":
                if text[j] == "$" and j + 1 < n and text[j + 1] == "{":
                    close = next_close.at_or_after(j)
                    j = close + 1 if close < n else j + 2
                    continue
                if text[j] == "\\" and j + 1 < n:
                    j += 2
                    continue
                j += 1
            raw_text = text[i:j]
            templated = _MASK in raw_text
            shown = self.original[i:j] if templated else raw_text
            advance(j - i)
            yield "word", Token(shown, start_line, start_col, templated)


# --------------------------------------------------------------------------- joining files


def assemble(facts: Sequence[Fact | NginxFile]) -> list[Fact]:
    """Follow includes among one host's files and yield the listeners, each file walked once."""
    out: list[Fact] = []
    files: list[NginxFile] = []
    for fact in facts:
        if isinstance(fact, NginxFile):
            files.append(fact)
        else:
            out.append(fact)
    out.extend(_Walker(files).run())  # a bug here is guards.assemble's to report, once
    return out


def _glob_matches(pattern: str, path: str, tail: bool = False) -> bool:
    """glob(3) as nginx calls it: ``*`` and ``?`` never cross a ``/``.

    Component by component with ``fnmatchcase``, which never backtracks exponentially
    (a regex of ``[^/]*a[^/]*a...`` does on a long name). ``tail``: the pattern may match
    the last components of ``path`` (an absolute path inside a root-filesystem tree).
    """
    want = pattern.split("/")
    have = path.split("/")
    if tail:
        have = have[len(have) - len(want) :] if len(want) <= len(have) else []
    return len(want) == len(have) and all(glob_matches(h, w) for h, w in zip(have, want, strict=True))


_PREFIXES = ("/etc/nginx/", "/usr/local/etc/nginx/", "/usr/local/nginx/conf/", "/opt/nginx/conf/")


@dataclass
class _Context:
    """Where a directive sits, and what the walk has learnt so far."""

    block: str  # main, http, http-server, stream, stream-server, mail, mail-server, other
    evidence: tuple[Evidence, ...] = ()
    scope: str = ""
    """The main config the walk started from, or an unincluded fragment's folder."""
    server: Location | None = None
    """The ``server {`` block a listen sits in (nginx's repeat checks are per server)."""


class _Walker:
    def __init__(self, files: list[NginxFile]) -> None:
        self.files = sorted(files, key=lambda f: f.path)
        self.by_path = {f.path: f for f in self.files}
        self.done: set[str] = set()
        self.seen: set[tuple[Location, str, PortRange, str]] = set()
        self.binds: list[Bind] = []

    def run(self) -> list[Fact]:
        """Every file's facts; the listens nginx refuses to repeat marked (``nginx_repeats``)."""
        facts = list(self._walk_all())
        marks = refusals(self.binds)
        return [_marked(f, marks[id(f)]) if id(f) in marks else f for f in facts]

    def _walk_all(self) -> Iterator[Fact]:
        for f in self.files:
            if f.main and f.path not in self.done:
                self.done.add(f.path)
                user = _user_evidence(f.directives)
                yield from self._walk(f, f.directives, _Context("main", user, f.path), (f.path,))
        for f in self.files:
            if f.path not in self.done:
                self.done.add(f.path)
                ctx = _Context(_fragment_context(f), scope=posixpath.dirname(f.path))
                yield from self._walk(f, f.directives, ctx, (f.path,))

    def _walk(
        self, f: NginxFile, directives: Sequence[Directive], ctx: _Context, chain: tuple[str, ...]
    ) -> Iterator[Fact]:
        for d in directives:
            if d.name == "include" and d.block is None:
                yield from self._include(f, d, ctx, chain)
            elif d.block is not None:
                inner = _inner_context(ctx.block, d.name)
                server = d.location if inner.endswith("-server") else ctx.server
                yield from self._walk(f, d.block, replace(ctx, block=inner, server=server), chain)
            elif d.name == "listen" and ctx.block.endswith("-server"):
                yield from self._listen(d, ctx)

    def _include(self, f: NginxFile, d: Directive, ctx: _Context, chain: tuple[str, ...]) -> Iterator[Fact]:
        if len(d.args) != 1 or d.args[0].templated or "$" in d.args[0].text:
            return
        if len(chain) >= MAX_INCLUDE_DEPTH:
            return
        for target in self._resolve(chain[0], f.path, d.args[0].text):
            if target.path in chain:
                continue  # nginx would recurse until it runs out of files; count it once
            self.done.add(target.path)
            here = Evidence(d.location, f"included from {f.path}")
            inner = replace(ctx, evidence=(*ctx.evidence, here))
            yield from self._walk(target, target.directives, inner, (*chain, target.path))

    def _resolve(self, main: str, current: str, pattern: str) -> list[NginxFile]:
        prefix = posixpath.dirname(main)
        candidates: list[str] = []
        if pattern.startswith("/"):
            for known in _PREFIXES:
                if pattern.startswith(known):
                    candidates.append(posixpath.join(prefix, pattern[len(known) :]))
            candidates.append("*" + pattern)  # the same absolute path inside a root-filesystem tree
        else:
            candidates.append(posixpath.join(prefix, pattern))
            if posixpath.dirname(current) != prefix:
                candidates.append(posixpath.join(posixpath.dirname(current), pattern))
        found: list[NginxFile] = []
        for candidate in candidates:
            if candidate.startswith("*"):
                hits = [p for p in self.by_path if _glob_matches(candidate[2:], p, tail=True)]
            else:
                pattern = posixpath.normpath(candidate)
                hits = [p for p in self.by_path if _glob_matches(pattern, posixpath.normpath(p))]
            for path in sorted(hits):
                target = self.by_path[path]
                if target not in found:
                    found.append(target)
            if found:
                break
        return found

    def _listen(self, d: Directive, ctx: _Context) -> Iterator[Fact]:
        block = ctx.block
        if not d.args:
            yield ParseError('nginx: invalid number of arguments in "listen" directive', d.location)
            return
        addr = d.args[0]
        where = Location(d.location.path, d.location.line + addr.line - d.line, addr.column)
        unknown: tuple[str, str] | None = None
        if addr.templated or "$" in addr.text or is_templated(addr.text):
            # ``{{ ansible_host }}:443``: the port is known, the address only on the host (nginx has no $ there)
            unknown = templated_host(addr.text) if "$" not in addr.text else None
            if unknown is None:
                yield Unresolved(addr.text, "nginx listen: value is a template or variable", where)
                return
        if addr.text.startswith("unix:"):
            return
        params = [a.text for a in d.args[1:]]
        host, port_text = _split(addr.text) if unknown is None else (None, unknown[1])
        if port_text is None:
            if block != "http-server":
                yield InvalidPort(
                    addr.text, f"nginx listen: no port in {shown(addr.text)!r}", where, "listen"
                )
                return
            port_text = "80"  # "If only address is given, the port 80 is used."
        port = ascii_int(port_text)
        if port is None:
            yield InvalidPort(addr.text, f"nginx listen: invalid port {shown(port_text)!r}", where, "listen")
            return
        if not 1 <= port <= 65535:
            yield InvalidPort(
                port_text,
                f"nginx listen: invalid port {shown(port_text)} (nginx needs 1-65535)",
                where,
                "listen",
            )
            return
        udp = "udp" in params if block == "stream-server" else "quic" in params and block == "http-server"
        protocol = "udp" if udp else "tcp"
        ipv6only = "on"
        for p in params:
            if p.startswith("ipv6only="):
                ipv6only = p.split("=", 1)[1]
        address = bind_address(host, "ipv4") if unknown is None else unknown_address(unknown[0])
        if address.host is None and address.family == "ipv6" and ipv6only == "off":
            address = BindAddress(None, "dual")
        key = (where, protocol, PortRange.single(port), str(address))
        if key in self.seen:
            return
        self.seen.add(key)
        extra: tuple[Evidence, ...] = ()
        if "reuseport" in params:
            extra = (Evidence(where, "reuseport: one socket per worker, still one service"),)
        listener = Listener(
            service=SERVICE,
            protocol=protocol,
            ports=PortRange.single(port),
            address=address,
            location=where,
            bound_by="root-master",
            source=NAME,
            evidence=(*ctx.evidence, *extra),
        )
        if ctx.server is not None:
            self.binds.append(bind(listener, params, ctx.scope, block, ctx.server))
        yield listener


def _marked(fact: Fact, evidence: tuple[Evidence, ...]) -> Fact:
    """A listener in a repeat nginx refuses, with nginx's message where it is the later one."""
    if not isinstance(fact, Listener):
        return fact
    return replace(fact, refuses_repeat=True, evidence=(*fact.evidence, *evidence))


def _split(text: str) -> tuple[str | None, str | None]:
    """nginx listen address: ``port``, ``addr``, ``addr:port``, ``*:port``, ``[v6]``, ``[v6]:port``."""
    bracketed = split_bracketed(text)
    if bracketed is not None:
        return f"[{bracketed[0]}]", bracketed[1]
    if text.isdigit():  # any digits, even "²0" or "٨٠": a port was meant, and is refused as one
        return None, text
    host, colon, port = text.rpartition(":")
    if not colon:
        return text, None
    return host, port


def _inner_context(outer: str, name: str) -> str:
    if outer in ("main", "fragment") and name in ("http", "stream", "mail"):
        return name
    if name == "server" and outer in ("main", "fragment", "http"):
        return "http-server"
    if name == "server" and outer in ("stream", "mail"):
        return f"{outer}-server"
    return "other"  # location, if, upstream, map, events ...: no listen there


def _fragment_context(f: NginxFile) -> str:
    """The context a file nobody includes was meant for: from its content, its folder on a tie."""
    if f.main:
        return "main"
    if any(d.name == "server" and d.block is not None for d in f.directives):
        return "stream" if _for_stream(f) else "http"
    if any(d.name == "listen" for d in f.directives):  # a listen snippet for server {}
        return "stream-server" if _for_stream(f) else "http-server"
    return "http"


def _for_stream(f: NginxFile) -> bool:
    """A stream fragment: a UDP listen says so; else a folder of it (``stream.d``, ``streams-enabled``)."""
    if any(_udp_listen(d) for d in _walk_directives(f.directives)):
        return True
    return any(d.startswith("stream") for d in (f.rel or f.path).split("/")[:-1])


def _walk_directives(directives: Sequence[Directive], depth: int = 0) -> Iterator[Directive]:
    for d in directives:
        yield d
        if d.block is not None and depth < 4:
            yield from _walk_directives(d.block, depth + 1)


def _udp_listen(d: Directive) -> bool:
    return d.name == "listen" and d.block is None and any(a.text == "udp" for a in d.args[1:])


def _user_evidence(directives: Sequence[Directive]) -> tuple[Evidence, ...]:
    for d in directives:
        if d.name == "user" and d.block is None and d.args:
            return (
                Evidence(
                    d.location,
                    f"user {d.args[0].text}: worker processes run as {d.args[0].text};"
                    " the master binds the sockets as root before starting them",
                ),
            )
    return ()
