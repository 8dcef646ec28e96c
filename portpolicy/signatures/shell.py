"""Recognition of shell scripts that run firewall commands (iptables, ufw, firewall-cmd, nft).

A script is claimed by what it runs, not by its name: ``if-up.d/firewall`` has no suffix,
``provision/net-up`` no telling name at all. With an interpreter line of a shell, one
command line of ``iptables``/``ip6tables``/``ufw``/``firewall-cmd``/``nft`` (also behind
``sudo`` or a ``$IPT`` variable assigned the command) claims a file of any name; without
one, two such lines. A ``.sh`` name or a firewall-ish script name (``rc.firewall``) is a
prior: one such command anywhere in command position is then enough. A script that runs
none of these is skipped with that reason: it is not a firewall script. One that writes a
config with a heredoc (``cat > /etc/nginx/conf.d/app.conf <<EOF``, a path another format's
name claims) is read too, for that file, and so is one with a shell's interpreter line that
starts a container (``docker run``/``podman run``/``nerdctl run``, ``readers.containerrun``);
Debian maintainer scripts (``debian/*.postinst``) are scripts by name.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature
from portpolicy.signatures.iptables import stem, unix_lines

TOOL = r"(?:ip6?tables(?:-legacy|-nft)?|ufw|firewall-(?:offline-)?cmd|nft)"
_INVOCATION = (
    r"(?:ip6?tables(?:-legacy|-nft)?[ \t]+-"
    r"|ufw[ \t]+(?:-|(?:allow|deny|reject|limit|default|enable|disable|route|insert|prepend|delete|reset"
    r"|reload|status|logging|app)\b)"
    r"|firewall-(?:offline-)?cmd[ \t]+-"
    r"|nft[ \t]+(?:-|(?:add|insert|create|replace|delete|destroy|flush|list|table|define)\b))"
)
"""A tool's name followed by what its invocations start with: an option or a subcommand
(``iptables iptables-nft libtool`` in a package list is none)."""
_FOUND_BY = r"(?:\$\((?:command[ \t]+-v|which)[ \t]+|`(?:command[ \t]+-v|which)[ \t]+)"
"""``IPT="$(command -v iptables-legacy)"``: the tool's path as the shell finds it."""
_SUDO = r"(?:sudo[ \t]+(?:-\S+[ \t]+)*)?"
_PATH = r"(?:/[\w.-]+)*/"
_LINE_COMMAND = lazy(rf"^[ \t]*{_SUDO}(?:{_PATH})?{_INVOCATION}", re.M)
_ANY_COMMAND = lazy(rf"(?:^|[;&|(`{{]|\$\(|\bthen|\bdo|\belse)[ \t]*{_SUDO}(?:{_PATH})?{_INVOCATION}", re.M)
_ASSIGN = lazy(
    rf"^[ \t]*(?:export[ \t]+|readonly[ \t]+|local[ \t]+)?([A-Za-z_]\w*)=[\"']?{_FOUND_BY}?(?:{_PATH})?{TOOL}\b",
    re.M,
)
_CONTAINER_RUN = lazy(
    rf"(?:^|[;&|(`{{]|\$\(|\bthen|\bdo|\belse)[ \t]*{_SUDO}(?:{_PATH})?(?:docker|podman|nerdctl)"
    r"[ \t]+(?:container[ \t]+)?(?:run|create)[ \t]",
    re.M,
)
"""A container started in command position (``docker run ...``): ``readers.containerrun`` reads it."""
_MARKUP = lazy(r"[ \t]*[<{\[]")
"""A first line of XML, HTML, JSON or an INI section: a document that quotes commands, not a script."""
_LOG_LINE = lazy(r"[ \t]*\[?(?:\d{4}-\d\d-\d\d[ T]|[A-Z][a-z]{2} [ \d]\d )\d\d:\d\d:\d\d")
"""A first line stamped ``2014-08-08 14:59:35`` or ``Aug  8 14:59:35``: a log that quotes the
commands a program ran (fail2ban's own log), not a script."""
_SHELL = lazy(r"\A#![ \t]*(?:/[\w.-]+)*/(?:env[ \t]+)?(?:(?:ba|da|k|z|a|mk)?sh|busybox[ \t]+sh)\b")
_SUFFIXES = (".sh", ".bash", ".ksh", ".zsh")
_SCRIPT_NAMES = frozenset(
    {"firewall", "rc.firewall", "iptables", "ip6tables", "firewall.sh", "fw", "rc.local"}
)
_FIREWALL_WORD = lazy(r"firewall|iptables|ip6tables|ufw|nftables", re.I)
_IFUPDOWN = frozenset({"if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"})
_MAX_VARIABLES = 32
_MAINTAINER_SCRIPTS = frozenset({"postinst", "preinst", "postrm", "prerm", "config"})
_WRITER = lazy(r"(?:^|[\s;&|(/])(?:cat|tee)(?=[\s<>|;]|$)")
_OPENER = lazy(r"(?<!<)<<(?!<)-?[ \t]*\\?['\"]?[A-Za-z_]")
_DESTINATION = lazy(r"(?:>>?|\btee(?:[ \t]+-[-\w]+)*)[ \t]*['\"]?(/[\w./@+-]+)")
_MAX_WRITES = 64
"""Heredoc lines whose destinations recognition looks at (the head of the file holds them)."""


def writes_config(text: str) -> bool:
    """A ``cat``/``tee`` heredoc writes a file at a path some other format's name claims
    (``cat > /etc/nginx/conf.d/app.conf <<EOF``): the script carries a config (``heredocs``)."""
    from portpolicy.signatures import all_signatures  # the package, loaded by now

    others = [s for s in all_signatures() if s.name != "shell" and not s.yaml]
    seen = 0
    for line in text.split("\n"):
        if "<<" not in line or _OPENER.search(line) is None or _WRITER.search(line) is None:
            continue
        seen += 1
        if seen > _MAX_WRITES:
            return False
        for m in _DESTINATION.finditer(line):
            path = m.group(1).lstrip("/")
            if path and not m.group(1).startswith("/dev/") and any(s.named(path) for s in others):
                return True
    return False


def named(rel: str) -> bool:
    """``*.sh``/``*.bash``, firewall script names, firewall-named templates, ifupdown hooks,
    Debian maintainer scripts (``debian/<pkg>.postinst``)."""
    name, parent = stem(rel)
    if name.endswith(_SUFFIXES) or name in _SCRIPT_NAMES:
        return True
    if parent == "debian" and name.rpartition(".")[2] in _MAINTAINER_SCRIPTS:
        return True
    if name != rel.rsplit("/", 1)[-1] and "." not in name and _FIREWALL_WORD.search(name):
        return True  # roles/fw/templates/firewall.j2
    return parent in _IFUPDOWN and "." not in name


def _variable_commands(text: str) -> int:
    """Lines that run a firewall tool through a variable assigned it (``IPT=/sbin/iptables``)."""
    names = list(dict.fromkeys(_ASSIGN.findall(text)))[:_MAX_VARIABLES]
    if not names:
        return 0
    used = re.compile(rf"^[ \t]*{_SUDO}\$\{{?(?:{'|'.join(names)})\}}?[ \t]+-", re.M)
    return len(used.findall(text))


def command_lines(text: str) -> int:
    """Lines that start with a firewall command, directly or through a variable."""
    return len(_LINE_COMMAND.findall(text)) + _variable_commands(text)


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line
    return ""


def _quotes_commands(first_line: str) -> bool:
    """The file is a document or a log that quotes commands (by its first line), not a script."""
    return _MARKUP.match(first_line) is not None or _LOG_LINE.match(first_line) is not None


def looks(text: str) -> bool:
    text = unix_lines(text)
    if _SHELL.match(text):
        return command_lines(text) >= 1 or writes_config(text) or _CONTAINER_RUN.search(text) is not None
    return not _quotes_commands(_first_line(text)) and command_lines(text) >= 2


def shaped(text: str) -> bool:
    """Some firewall command in command position (after ``;``, ``&&``, ``then``...), or through a variable."""
    text = unix_lines(text)
    if _quotes_commands(_first_line(text)):
        return False
    return (
        _ANY_COMMAND.search(text) is not None
        or _variable_commands(text) > 0
        or writes_config(text)
        or _CONTAINER_RUN.search(text) is not None
    )


SIGNATURE = Signature(
    "shell",
    "portpolicy.readers.shell",
    "a shell script that runs firewall commands",
    named,
    looks,
    shaped,
    empty_by_name=False,
    role="host",
    scope="directory",
)
