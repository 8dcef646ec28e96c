"""Apache httpd configuration: ``Listen`` lines, with ``User`` as evidence.

httpd's parent process starts as root, opens every ``Listen`` socket and keeps running as
root; only the children switch to ``User``/``Group``. So each listener is
``bound_by="root-master"`` with ``service="httpd"``; the compose/Dockerfile correlation
step may override ``bound_by`` and ``run_as`` when the config runs in a container whose
process is not root.

Decisions:

* ``<VirtualHost *:80>`` is not a listener: it only selects a virtual host for
  connections that a ``Listen`` socket accepted (httpd warns when none matches).
* Sections (``<IfModule>``, ``<IfDefine>``, ``<IfVersion>``) are read as active: the
  stock configs put ``Listen 443`` inside ``<IfModule ssl_module>``, and a module that is
  not loaded cannot be told from the files alone.
* ``Define NAME value`` in the same file is substituted into ``${NAME}``; other variables
  (Debian's ``${APACHE_RUN_USER}`` and friends come from ``envvars``) stay unresolved.
* ``Include``/``IncludeOptional`` are not followed: ``Listen`` is only valid in the server
  config, every file of the tree is read anyway, and each one once. They are kept for
  ``assemble``, which adds the ``Listen`` lines of a distribution's packaged file the tree
  includes but does not ship (``portpolicy.packaged``, ``data/packaged.yml``).
* httpd refuses a second ``Listen`` of one address (``alloc_listener``) and fails to bind an
  overlapping one (``make_sock``): ``assemble`` sets ``refuses_repeat`` on each ``Listen``
  that another one of the host may meet, i.e. unless both sit in sections that cannot be
  told to hold together (``<IfModule ssl_module>`` beside ``<IfModule mod_gnutls.c>``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from portpolicy import packaged
from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import LINE_BREAK, Format, Source, ascii_int, is_templated, shown
from portpolicy.readers.lexing import ForwardFinder
from portpolicy.readers.netaddr import bind_address, split_bracketed

NAME = "apache"

FORMAT = Format(
    "an Apache httpd config",
    "httpd directive",
    re.compile(r"[ \t]*(?:</?[A-Za-z]\w*|[A-Z][A-Za-z0-9]*[ \t]+\S)"),
    whole_file=False,
)
SERVICE = "httpd"

_MAIN_NAMES = ("httpd.conf", "apache2.conf", "apache.conf")
_SNIFF = re.compile(
    r"^[ \t]*(?:Listen[ \t]|<VirtualHost\b|<IfModule\b|ServerRoot\b|LoadModule\b)", re.M | re.I
)
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_CONDITIONS = frozenset({"ifmodule", "ifdefine"})
MAX_PAIRED = 256
"""Listen lines of one port compared pairwise; past that, every one may meet another."""


@dataclass(frozen=True)
class ApacheFile:
    """What ``assemble`` needs of one file: its includes and the sections its ``Listen`` lines sit in."""

    path: str
    rel: str
    includes: tuple[packaged.Include, ...]
    conditions: tuple[tuple[Location, frozenset[str]], ...]
    location: Location
    kind: str = field(default="apache_file", init=False)


def read(source: Source) -> Iterator[Fact | ApacheFile]:
    """One file's ``Listen`` lines; a file with no httpd directive that matters yields nothing.

    Which files are httpd's is decided by ``portpolicy.signatures.apache``; a main config
    name (``httpd.conf``) still counts here when nothing in the file does.
    """
    name = source.rendered_path.rsplit("/", 1)[-1]
    if name not in _MAIN_NAMES and not _SNIFF.search(source.text):
        return
    text = source.masked
    defines: dict[str, str] = {}
    user: Evidence | None = None
    listens: list[tuple[list[str], int, int, frozenset[str]]] = []
    includes: list[packaged.Include] = []
    depth: list[tuple[str, str, int]] = []
    for number, column, words in _lines(text):
        head = words[0]
        lower = head.lower()
        if lower.startswith("</"):
            if depth:
                depth.pop()
            else:
                yield ParseError(
                    f"httpd: {shown(head)} without matching section start", source.at(number, column)
                )
            continue
        if lower.startswith("<"):
            depth.append((lower.strip("<>"), words[1].rstrip(">") if len(words) > 1 else "", number))
            continue
        if lower == "define" and len(words) >= 2:
            defines[words[1]] = words[2] if len(words) > 2 else ""
        elif lower == "user" and len(words) >= 2 and not depth:
            user = Evidence(
                source.at(number, column),
                f"User {shown(words[1])}: child processes run as it; the parent binds as root",
            )
        elif lower == "listen":
            listens.append((words[1:], number, column, _conditions(depth)))
        elif lower in ("include", "includeoptional") and len(words) >= 2:
            includes.append(packaged.Include(words[1], source.at(number, column)))
    for section, _, line in depth:
        yield ParseError(f"httpd: <{shown(section)}> is never closed", source.at(line))
    conditional: list[tuple[Location, frozenset[str]]] = []
    for args, number, column, conditions in listens:
        for fact in _listen(source, args, number, column, defines, user):
            if isinstance(fact, Listener) and conditions:
                conditional.append((fact.location, conditions))
            yield fact
    if includes or conditional:
        yield ApacheFile(source.path, source.name_path, tuple(includes), tuple(conditional), source.at(1))


def _conditions(depth: list[tuple[str, str, int]]) -> frozenset[str]:
    """The ``<IfModule>``/``<IfDefine>`` conditions around a line (other sections hold always)."""
    return packaged.module_conditions((kind, arg) for kind, arg, _ in depth if kind in _CONDITIONS)


def _lines(text: str) -> Iterator[tuple[int, int, list[str]]]:
    """(line, column, words) per logical line: ``#`` lines skipped, ``\\`` continues a line."""
    pending = ""
    start = 0
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        if not pending:
            stripped = raw.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            start = number
            column = len(raw) - len(stripped) + 1
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = pending + raw
        pending = ""
        words = _words(line)
        if words:
            yield start, column, words
    if pending and _words(pending):
        yield start, 1, _words(pending)


def _words(line: str) -> list[str]:
    """httpd's ap_getword_conf(): blanks split words, double or single quotes group them."""
    out: list[str] = []
    i, n = 0, len(line)
    closer = ForwardFinder(line, "}}")  # each "}}" looked for once, however many "{{" are open
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        if line[i] in "\"'":
            quote = line[i]
            j = line.find(quote, i + 1)
            j = n if j < 0 else j
            out.append(line[i + 1 : j])
            i = j + 1
        else:
            j = i
            while j < n and line[j] not in " \t":
                if line.startswith("{{", j) and closer.at_or_after(j) < n:
                    j = closer.at_or_after(j) + 2  # a Jinja expression is one piece of the word
                    continue
                j += 1
            out.append(line[i:j])
            i = j
    return out


def _listen(
    source: Source, args: list[str], line: int, column: int, defines: dict[str, str], user: Evidence | None
) -> Iterator[Fact]:
    where = source.at(line, column)
    if not args:
        yield ParseError("httpd: Listen requires at least one argument", where)
        return
    raw = args[0]
    value = _VAR.sub(lambda m: defines.get(m.group(1), m.group(0)), raw)
    if is_templated(value) or "$" in value:
        yield Unresolved(raw, "httpd Listen: value is a template or variable", where)
        return
    bracketed = split_bracketed(value)
    if bracketed is not None:
        host, port_text = bracketed
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
    else:
        host, port_text = None, value
    port = ascii_int(port_text or "")
    if not port_text or port == 0:
        yield InvalidPort(raw, f"httpd Listen {shown(raw)}: port must be specified", where, "Listen")
        return
    if port is None or not 1 <= port <= 65535:
        yield InvalidPort(raw, f"httpd Listen {shown(raw)}: invalid address or port", where, "Listen")
        return
    evidence = (user,) if user else ()
    yield Listener(
        service=SERVICE,
        protocol="tcp",
        ports=PortRange.single(port),
        address=bind_address(host),
        location=where,
        bound_by="root-master",
        source=NAME,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- one host's files


def assemble(facts: Sequence[Fact | ApacheFile]) -> list[Fact]:
    """One host's ``Listen`` lines, the packaged defaults its layout implies first, repeats marked."""
    files = [f for f in facts if isinstance(f, ApacheFile)]
    rest: list[Fact] = [f for f in facts if not isinstance(f, ApacheFile)]
    conditions = {loc: when for f in files for loc, when in f.conditions}
    read = {_rel(f) for f in rest} - {""}
    added = [_packaged_listener(p) for p in _packaged(files, read)]
    own = [(f, conditions.get(f.location, frozenset())) for f in rest if isinstance(f, Listener)]
    marked = _mark_repeats([*added, *own])
    return [*marked, *(f for f in rest if not isinstance(f, Listener))]


def _packaged(files: Sequence[ApacheFile], read: set[str]) -> list[packaged.PackagedListen]:
    """The packaged Listen lines ``files`` pull in; ``read``: further files of the tree (they ship)."""
    config = [packaged.ConfigFile(f.rel or f.path, f.includes) for f in files]
    config += [packaged.ConfigFile(path) for path in sorted(read - {c.rel for c in config})]
    return packaged.packaged_listens("apache", config)


def _rel(fact: Fact) -> str:
    """The path a fact was read from (below the scanned root, as ``ApacheFile.rel`` when both are known)."""
    location = getattr(fact, "location", None)
    return location.path if isinstance(location, Location) else ""


def _packaged_listener(p: packaged.PackagedListen) -> tuple[Listener, frozenset[str]]:
    why = (
        f"packaged default: Listen {p.port} of {p.file}, which {p.package} installs; the tree does not"
        " ship that file, so httpd reads the package's copy here"
    )
    listener = Listener(
        service=SERVICE,
        protocol="tcp",
        ports=PortRange.single(p.port),
        address=bind_address(None),
        location=p.location,
        bound_by="root-master",
        source=NAME,
        evidence=(Evidence(p.location, why),),
    )
    return listener, p.when


def _mark_repeats(listens: list[tuple[Listener, frozenset[str]]]) -> list[Listener]:
    """Set ``refuses_repeat`` on the ``Listen`` lines of a port that can hold together with another.

    Two lines meet unless both sit in sections that need not hold together: one's conditions
    must include the other's (a line outside any section meets every line of its port). The
    marked lines of a port are chosen in file order so that every two of them meet (PP004
    pairs any two): of ``<IfModule ssl_module>`` and ``<IfModule mod_gnutls.c>`` alternatives,
    the first one stands for both.
    """
    listeners = [listener for listener, _ in listens]
    by_port: dict[tuple[str, PortRange], list[int]] = defaultdict(list)
    for i, listener in enumerate(listeners):
        by_port[(listener.protocol, listener.ports)].append(i)
    marked: set[int] = set()
    for group in by_port.values():
        if len(group) > MAX_PAIRED:
            marked.update(group)
            continue
        group.sort(key=lambda i: listeners[i].location)
        when = {i: listens[i][1] for i in group}
        chosen: list[int] = []
        for a in group:
            partner = any(b != a and _meet(when[a], when[b]) for b in group)
            if partner and all(_meet(when[a], when[c]) for c in chosen):
                chosen.append(a)
        marked.update(chosen if len(chosen) > 1 else ())
    return [replace(lst, refuses_repeat=i in marked) for i, lst in enumerate(listeners)]


def _meet(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two lines under these conditions can both be read: one's conditions include the other's."""
    return a <= b or b <= a
