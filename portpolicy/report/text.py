"""Human output: ``path:line:col: PPnnn [severity] message``, one line per finding, then a summary.

Colour only when writing to a terminal (and never with NO_COLOR set), so logs and pipes
stay plain. With ``show_source`` (the default on a terminal, as ruff does) each finding is
followed by its source line with a caret under the column, and by its related evidence the
same way; otherwise related evidence follows under ``--verbose``. Every path, message and
source line goes through ``escape.display``: a file name cannot send escape sequences.

Source lines are only quoted from files a reader read (``Report.readers``), never for a
PP000 finding (the line did not parse: it may hold anything), read back
through ``safeio`` (inside the scanned roots, regular files only), and only when the file
is UTF-8 text.
"""

from __future__ import annotations

from dataclasses import field

from portpolicy import safeio
from portpolicy.model import Finding, Location
from portpolicy.pipeline import UNREADABLE, Report
from portpolicy.readers.base import LINE_BREAK
from portpolicy.records import record
from portpolicy.report.escape import display

COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
LINE_WINDOW = 200
"""Characters of a long source line shown around the column."""
TAB = "    "


@record(frozen=False)
class _Style:
    colour: bool

    def paint(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text


@record(frozen=False)
class _Sources:
    """The lines of the files findings point at, each file read at most once."""

    readable: set[str]
    roots: tuple[str, ...]
    cache: dict[str, list[str] | None] = field(default_factory=dict)

    def line(self, path: str, number: int) -> str | None:
        if path not in self.readable:
            return None
        if path not in self.cache:
            self.cache[path] = file_lines(path, self.roots)
        lines = self.cache[path]
        return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


def file_lines(path: str, roots: tuple[str, ...] = ()) -> list[str] | None:
    """The lines of a UTF-8 text file inside ``roots``, or None: the one place the renderer reads.

    ``safeio`` refuses links out of the roots, FIFOs, devices and files over the size limit;
    a binary file or one that is not UTF-8 is never quoted either.
    """
    data = safeio.read_bytes(path, roots)
    if isinstance(data, safeio.Refusal) or b"\0" in data:
        return None
    try:
        lines = LINE_BREAK.split(data.decode("utf-8-sig"))  # the readers' line numbers
        return lines[:-1] if lines[-1] == "" else lines  # no line after the last break
    except UnicodeDecodeError:
        return None


def render(
    report: Report,
    colour: bool = False,
    verbose: bool = False,
    show_source: bool = False,
    quiet: bool = False,
) -> str:
    style = _Style(colour)
    # a file no reader could read, or not of the format its name claims ("file"), is never quoted
    readable = {path for path, reader in report.readers.items() if reader != "file"}
    sources = _Sources(readable, report.config.roots) if show_source else None
    lines: list[str] = []
    for f in report.findings:
        lines.append(_headline(f, style))
        if sources is not None:
            lines += _finding_frames(f, sources, style)
        elif verbose:
            lines += [
                style.paint(f"    {_where(r.location)} note: {display(r.message)}", DIM) for r in f.related
            ]
    if not quiet:
        lines.append(summary_line(report))
    return "".join(line + "\n" for line in lines)


def _where(loc: Location) -> str:
    return f"{display(loc.path)}:{loc.line}:{loc.column}:"


def _headline(f: Finding, style: _Style) -> str:
    where = style.paint(_where(f.location), BOLD)
    severity = style.paint(f"[{f.severity}]", COLOURS[f.severity])
    return f"{where} {f.rule} {severity} {display(f.message)}"


def _finding_frames(f: Finding, sources: _Sources, style: _Style) -> list[str]:
    """The finding's own source line, then each piece of related evidence with its line.

    An unreadable-input finding (PP000) has no frame: the line did not parse as the format,
    so it may be anything, a secret included.
    """
    width = max(len(str(loc.line)) for loc in (f.location, *(r.location for r in f.related)))
    lines = [] if f.rule == UNREADABLE else _frame(f.location, sources, style, COLOURS[f.severity], width)
    for r in f.related:
        lines.append(style.paint(f"  note: {_where(r.location)} {display(r.message)}", DIM))
        lines += _frame(r.location, sources, style, BOLD, width)
    if lines:
        lines.append("")
    return lines


def _frame(loc: Location, sources: _Sources, style: _Style, caret_code: str, width: int) -> list[str]:
    text = sources.line(loc.path, loc.line)
    if text is None:
        return []
    shown, indent = _window(text, loc.column)
    number = str(loc.line).rjust(width)
    pad = " " * width
    gutter = style.paint(f"{pad} |", DIM)
    return [
        gutter,
        style.paint(f"{number} |", DIM) + f" {shown}".rstrip(),
        f"{gutter} {' ' * indent}{style.paint('^', caret_code)}",
    ]


def _window(text: str, column: int) -> tuple[str, int]:
    """The line as shown (escaped, tabs expanded, cut around the column) and the caret's offset."""
    at = min(max(column, 1) - 1, len(text))
    start = max(0, at - LINE_WINDOW // 2)
    end = min(len(text), start + LINE_WINDOW)
    head = ("…" if start > 0 else "") + display(text[start:at].replace("\t", TAB))
    tail = display(text[at:end].replace("\t", TAB)) + ("…" if end < len(text) else "")
    return head + tail, len(head)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def summary_line(report: Report) -> str:
    """How many problems in how many files, how many files were checked in all, and how many
    Helm charts could not be (no engine to render them)."""
    checked = _plural(len(report.files), "file")
    unchecked = _charts_not_checked(report)
    if not report.findings:
        return f"No problems found in {checked}.{unchecked}"
    counts = report.counts()
    parts = [_plural(n, sev) for sev, n in counts.items() if n]
    with_problems = _plural(len({f.location.path for f in report.findings}), "file")
    problems = _plural(len(report.findings), "problem")
    return f"Found {problems} ({', '.join(parts)}) in {with_problems} ({checked} checked).{unchecked}"


CHARTS_NOT_CHECKED = "install portpolicy[helm] or put helm on PATH"
"""The skip reason of a Helm chart with no engine to render it (``helm.render.NO_ENGINE``)."""


def _charts_not_checked(report: Report) -> str:
    count = sum(1 for s in report.skipped if s.reason == CHARTS_NOT_CHECKED)
    return f" {_plural(count, 'Helm chart')} not checked: {CHARTS_NOT_CHECKED}." if count else ""
