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
  config, every file of the tree is read anyway, and each one once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from portpolicy.model import Evidence, Fact, InvalidPort, Listener, ParseError, PortRange, Unresolved
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


def read(source: Source) -> Iterator[Fact]:
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
    listens: list[tuple[str, list[str], int, int]] = []
    depth: list[tuple[str, int]] = []
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
            depth.append((lower.strip("<>"), number))
            continue
        if lower == "define" and len(words) >= 2:
            defines[words[1]] = words[2] if len(words) > 2 else ""
        elif lower == "user" and len(words) >= 2 and not depth:
            user = Evidence(
                source.at(number, column),
                f"User {shown(words[1])}: child processes run as it; the parent binds as root",
            )
        elif lower == "listen":
            listens.append((head, words[1:], number, column))
    for section, line in depth:
        yield ParseError(f"httpd: <{shown(section)}> is never closed", source.at(line))
    for _, args, number, column in listens:
        yield from _listen(source, args, number, column, defines, user)


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
