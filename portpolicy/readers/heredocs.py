"""Files a shell heredoc writes: ``cat > PATH <<'EOF'`` … ``EOF``, as texts to read at ``PATH``.

Provisioning scripts, Debian maintainer scripts and Dockerfile ``RUN`` lines write configs
this way: ``cat > /etc/nginx/conf.d/app.conf <<EOF``, ``cat <<EOF > PATH``, ``cat <<EOF |
sudo tee PATH``, ``tee -a PATH <<EOF``, ``cat >> PATH`` (an append: the appended text is read
alone, as if it were the whole file, and says so in ``how``). ``<<-EOF`` strips leading tabs:
they become blanks here, so columns stay the script's. Only ``cat`` and ``tee`` count (the
body is then the file's text) and only an absolute path with no variable in it (a relative
one depends on the working directory). Each such heredoc becomes a ``Deployed`` record with
its text padded to the script's lines, which ``deployed.read_all`` reads as its destination's
format; a path no reader wants (``/etc/motd``) is simply not read.

Bounds: ``MAX_WRITTEN`` files per script (one PP000 says the rest were not read); a heredoc
with no terminator runs to the end of the file, as the shell reads it, and is one PP000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from portpolicy.model import Location, ParseError
from portpolicy.readers.base import shown
from portpolicy.virtual import WRITTEN, Deployed, embed

MAX_WRITTEN = 200
"""Files written by heredocs read per script or Dockerfile: a real one writes a few, and each
is a second read (``deployed.MAX_READS`` per scan) of a text padded to its lines."""

OPENER = re.compile(r"(?<!<)<<(?!<)(-?)[ \t]*(\\?)(['\"]?)([A-Za-z_][\w.-]*)\3")
"""``<<EOF``, ``<<-EOF``, ``<< 'EOF'``, ``<<"EOF"``, ``<<\\EOF`` (not ``<<<``, a here-string)."""
_END = r"(?=[\s;&|)<>]|$)"
_PATH = r"(/[^\s'\"<>|;&()`$\\]+)"
_REDIRECT = re.compile(rf"(?<![<>&\d])(>>?|>\|)[ \t]*(['\"]?){_PATH}\2{_END}")
_TEE = re.compile(rf"\btee((?:[ \t]+-[-\w]+)*)[ \t]+(['\"]?){_PATH}\2{_END}")
_WRITER = re.compile(r"(?:^|[\s;&|(])(?:\S*/)?(?:cat|tee)(?=[\s<>|;]|$)")


@dataclass(frozen=True)
class Opened:
    """A heredoc opened on a command line: its delimiter and the file the command writes."""

    delimiter: str
    strip_tabs: bool
    column: int
    destination: str | None
    append: bool


def opened(line: str) -> Opened | None:
    """The first heredoc ``line`` opens, with the absolute path it writes (None: no file)."""
    m = OPENER.search(line)
    if m is None:
        return None
    destination, append = _target(line)
    return Opened(m.group(4), m.group(1) == "-", m.start() + 1, destination, append)


def _target(line: str) -> tuple[str | None, bool]:
    """(the file ``cat``/``tee`` writes on this line, appended?): ``tee``'s first, else a redirect."""
    if _WRITER.search(line) is None:
        return None, False
    tee = _TEE.search(line)
    if tee is not None and not tee.group(3).startswith("/dev/"):
        options = tee.group(1).split()
        return tee.group(3), "-a" in options or "--append" in options
    for m in _REDIRECT.finditer(line):
        if not m.group(3).startswith("/dev/"):
            return m.group(3), m.group(1) == ">>"
    return None, False


def body(lines: list[str], start: int, delimiter: str, strip_tabs: bool) -> tuple[list[str], int, bool]:
    """(the body's lines, the index after its terminator, closed?) from ``lines[start]`` on."""
    out: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if line.strip() == delimiter:  # the shell wants it exact; an indented end is closed here too
            return out, i, True
        out.append(untabbed(line) if strip_tabs else line)
    return out, i, False


def untabbed(line: str) -> str:
    """``<<-`` strips leading tabs: blanks instead keep every column the script's."""
    stripped = line.lstrip("\t")
    return " " * (len(line) - len(stripped)) + stripped


def written(
    path: str,
    head: Opened,
    text_lines: list[str],
    first: int,
    location: Location,
    scope: str,
    how: str = "written by a shell heredoc",
) -> Deployed | None:
    """The file a heredoc writes (its body starts on line ``first``), or None when it writes none."""
    if head.destination is None or not any(line.strip() for line in text_lines):
        return None
    text, lines = embed("\n".join(text_lines) + "\n", first - 1, 0)
    if head.append:
        how = f"{how} (appended to {shown(head.destination, 80)}: the appended text is read alone)"
    ident = f"{WRITTEN}{path}:{location.line}"
    return Deployed(path, text, head.destination, first - 1, how, location, ident, lines, scope=scope)


@dataclass
class Writes:
    """The files one outer file's heredocs write, bounded (``MAX_WRITTEN``), and their errors."""

    path: str
    scope: str
    how: str = "written by a shell heredoc"
    found: list[ParseError | Deployed] = field(default_factory=list)
    count: int = 0

    def add(
        self, head: Opened, text: list[str], closed: bool, first: int, where: Location
    ) -> Deployed | None:
        """One heredoc ``head`` (body ``text`` from line ``first``) opened at ``where``: the file it writes."""
        if head.destination is None:
            return None
        if not closed:
            self.found.append(ParseError(f"heredoc <<{shown(head.delimiter, 40)} is never closed", where))
            return None
        self.count += 1
        if self.count > MAX_WRITTEN:
            if self.count == MAX_WRITTEN + 1:
                message = f"more than {MAX_WRITTEN} files written by heredocs; the rest are not read"
                self.found.append(ParseError(message, where))
            return None
        record = written(self.path, head, text, first, where, self.scope, self.how)
        if record is not None:
            self.found.append(record)
        return record

    def script(self, lines: list[str], first: int) -> list[Deployed]:
        """The files a script whose ``lines`` start on line ``first`` (a ``RUN <<EOF``) writes."""
        records: list[Deployed] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            head = opened(line) if "<<" in line and not line.lstrip().startswith("#") else None
            if head is not None:
                text, after, closed = body(lines, i, head.delimiter, head.strip_tabs)
                record = self.add(
                    head, text, closed, first + i, Location(self.path, first + i - 1, head.column)
                )
                records.extend([record] if record is not None else [])
                i = after
        return records
