"""Read ``sysctl.conf``, ``sysctl.d`` drop-ins and sysctl files kept anywhere for the three kernel port settings.

The syntax is the one systemd-sysctl and procps ``sysctl --system`` share: ``key = value``
lines, ``#``/``;`` comment lines, ``.`` or ``/`` separators, a leading ``-`` that makes a
failed write harmless. Only ``net.ipv4.ip_local_port_range``, ``ip_local_reserved_ports``
and ``ip_unprivileged_port_start`` become facts; values stay verbatim because the kernel
simulation (not this reader) decides what the kernel would accept.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from portpolicy.model import Fact, KernelSetting, Location, ParseError, Unresolved
from portpolicy.readers.base import (
    LINE_BREAK,
    Format,
    Source,
    first_word,
    is_templated,
    shown,
    strip_template,
)
from portpolicy.readers.lexing import glob_matches

NAME = "sysctl"

FORMAT = Format(
    "a sysctl file",
    "kernel setting",
    re.compile(r"[ \t]*-?[\w*-]+(?:[./][\w*-]+)+[ \t]*(?:=|[ \t]\S|$)"),
    comments=("#", ";"),
)

SYSCTL_CONF = "sysctl.conf"

PORT_KEYS: tuple[str, ...] = (
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
)
# /proc/sys path (relative, "/"-separated) -> the dotted name facts carry.
_BY_PROC_PATH = {key.replace(".", "/"): key for key in PORT_KEYS}

# systemd-sysctl strips exactly these around keys and values (strstrip's WHITESPACE).
_WS = " \t\r\n"
_GLOB_CHARS = "*?["
_SWAP_SEPARATORS = str.maketrans("./", "/.")
# A placeholder in a key; an unclosed one runs to the end of the text.
_PLACEHOLDER = re.compile(r"\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|\$\{[^}]*(?:\}|$)")

# Directory (the components just above "sysctl.d") -> masking priority, lower wins.
# Longer suffixes first: "usr/local/lib" and "usr/lib" both end in "lib".
_DIR_PRIORITY: tuple[tuple[tuple[str, ...], int], ...] = (
    (("usr", "local", "lib"), 2),
    (("usr", "lib"), 3),
    (("lib",), 4),
    (("run",), 1),
    (("etc",), 0),
)


def read(source: Source) -> Iterator[Fact]:
    """Yield one ``KernelSetting`` per assignment of a port key, in file order.

    Lines sysctl would refuse become ``ParseError`` and reading goes on, as sysctl does;
    template placeholders become ``Unresolved`` because their value is unknown here.
    """
    if _never_loaded(source.name_path):
        yield Unresolved(
            posixpath.basename(source.name_path),
            "sysctl loads only *.conf files from a sysctl.d folder: this one is never applied",
            source.at(1),
        )
        return
    text = source.masked
    has_bom = text.startswith("\ufeff")
    if has_bom:
        text = text[1:]
    basename, file_id = _placement(source.name_path)

    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        body = line.strip(_WS)
        if not body or body[0] in "#;":
            continue
        indent = len(line) - len(line.lstrip(_WS))
        equals = body.find("=")
        if equals < 0:
            # "-key" without "=" only excludes the key from glob assignments (sysctl.d(5));
            # a placeholder line such as "{{ ansible_managed | comment }}" is template markup.
            if not body.startswith("-") and not is_templated(body):
                yield ParseError(
                    f"line is not an assignment, sysctl ignores it: {first_word(body)!r}",
                    source.at(number, indent + 1),
                )
            continue

        head, tail = body[:equals], body[equals + 1 :]
        ignore_errors = head.startswith("-")
        if ignore_errors:
            head = head[1:]
        key_text = head.strip(_WS)
        key_column = indent + (1 if ignore_errors else 0) + (len(head) - len(head.lstrip(_WS))) + 1
        value = tail.strip(_WS)
        value_column = indent + equals + 1 + (len(tail) - len(tail.lstrip(_WS))) + 1
        value_at = source.at(number, value_column)

        if not key_text:
            yield ParseError(
                "assignment without a key name, sysctl cannot apply it",
                source.at(number, indent + 1),
            )
            continue
        if is_templated(key_text):
            if _template_may_name_port_key(key_text):
                yield Unresolved(
                    f"{shown(key_text)} = {shown(value)}",
                    "sysctl key is a template and may name a port setting",
                    source.at(number, key_column),
                )
            continue
        proc_path = _proc_path(key_text)
        if any(c in key_text for c in _GLOB_CHARS):
            hit = [key for key in PORT_KEYS if _glob_matches(proc_path, key)]
            if hit:
                yield Unresolved(
                    value,
                    f"glob {shown(key_text)!r} also sets {', '.join(hit)} unless a file sets it explicitly",
                    value_at,
                )
            continue
        key = _BY_PROC_PATH.get(proc_path)
        if key is None:
            continue
        if has_bom and number == 1:
            yield ParseError(
                f"a UTF-8 byte order mark precedes {key}: sysctl reads it as part of the key name, "
                "so this line is never applied",
                source.at(number, indent + 1),
            )
            continue
        if is_templated(value):
            yield Unresolved(value, f"{key}: value is a template or variable", value_at)
            continue
        yield KernelSetting(
            key=key,
            value=value,
            location=value_at,
            netns="host",
            ignore_errors=ignore_errors,
            order=_order(basename, value_at),
            file_id=file_id,
        )


def _never_loaded(path: str) -> bool:
    """A file in a ``sysctl.d`` folder that is not ``*.conf`` (``99-x.conf.bak``, ``README``): never applied."""
    parts = path.split("/")
    name = strip_template(parts[-1])
    return len(parts) >= 2 and parts[-2] == "sysctl.d" and not (name.endswith(".conf") and name != ".conf")


def _placement(path: str) -> tuple[str, tuple[str, int] | None]:
    """(basename without ``.j2``, file id) of a file, from its path below the scanned root.

    Every file but ``sysctl.conf`` is ordered as a drop-in, by its basename: that is how the
    boot applies ``sysctl.d`` files, and a ``99-reserved-ports.conf`` kept in a role's
    ``files/`` lands in one. Only a file inside a ``sysctl.d`` folder has an id (basename,
    directory priority), so the same name in ``/etc`` masks it in ``/usr/lib``: two roles'
    ``files/hardening.conf`` do not mask each other.
    """
    parts = path.split("/")
    basename = strip_template(parts[-1])
    if len(parts) < 2 or parts[-2] != "sysctl.d":
        return basename, None
    above = tuple(parts[:-2])
    for suffix, priority in _DIR_PRIORITY:
        if above[-len(suffix) :] == suffix:
            return basename, (basename, priority)
    return basename, (basename, 0)


def _order(basename: str, at: Location) -> tuple[object, ...]:
    """Boot order: drop-ins by basename across all dirs, then ``sysctl.conf`` (procps ``--system``)."""
    return (1, "", at.line) if basename == SYSCTL_CONF else (0, basename, at.line)


def _proc_path(key: str) -> str:
    """The ``/proc/sys`` path a key names, as systemd's ``sysctl_normalize`` computes it.

    If the first separator is a dot, dots and slashes swap; otherwise the key is already
    a path. Empty and ``.`` components vanish like in any path lookup, so ``net//ipv4``
    and a leading ``/`` still name the same file.
    """
    first = next((c for c in key if c in "./"), "")
    if first == ".":
        key = key.translate(_SWAP_SEPARATORS)
    return "/".join(part for part in key.split("/") if part not in ("", "."))


def _glob_matches(pattern_path: str, key: str) -> bool:
    """glob(3) semantics: each path component matched on its own, ``*`` never crosses ``/``."""
    pattern = pattern_path.split("/")
    target = key.split(".")
    if len(pattern) != len(target):
        return False
    return all(glob_matches(t, p) for t, p in zip(target, pattern, strict=True))


def _template_may_name_port_key(key_text: str) -> bool:
    """Could some rendering of this templated key be one of the port keys?

    Placeholders match anything; literal separators match either ``.`` or ``/``. So
    ``{{ item.key }}`` may, ``net.ipv4.conf.{{ iface }}.rp_filter`` may not. Matched as a
    glob, whose ``*`` never backtracks exponentially (a regex of many ``.*`` does).
    """
    pieces: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(key_text):
        pieces.append(_literal(key_text[last : m.start()]))
        if not pieces[-1] and len(pieces) > 1:  # placeholders side by side: one "*" is enough
            pieces.pop()
        else:
            pieces.append("*")
        last = m.end()
    pieces.append(_literal(key_text[last:]))
    pattern = "".join(pieces)
    return any(glob_matches(key, pattern) for key in PORT_KEYS)


def _literal(text: str) -> str:
    """Glob for literal key text where ``.`` and ``/`` are interchangeable."""
    return "".join("[./]" if c in "./" else f"[{c}]" if c in "*?[" else c for c in text)
