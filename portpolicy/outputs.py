"""Where reports go: one scan, any number of reports, each to standard output or a file.

``--format FORMAT[:FILE]`` (also spelled ``--output-format``) may be repeated, so one scan
writes, say, annotations to the log and SARIF to a file. ``-o FILE`` names the file of the
one report that has none. At most one report goes to standard output and no two to one file.

Writing never follows a symbolic link in the last component of the path (a pull request
could commit ``portpolicy.sarif -> ~/.bashrc`` where CI writes its report), and a path that
cannot be written is a usage error (exit 2, one line), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from collections.abc import Sequence
from typing import Any

from portpolicy.errors import UsageError
from portpolicy.records import record

FORMATS = ("text", "json", "sarif", "junit", "github", "gitlab")
STDOUT = "-"
FINGERPRINTED = frozenset({"sarif", "gitlab"})
RANK = {"info": 0, "warning": 1, "error": 2}


@record
class Output:
    """One report: its format and its destination (None: not given, standard output; ``-``: stdout)."""

    format: str
    path: str | None = None

    @property
    def to_terminal(self) -> bool:
        return self.path in (None, STDOUT) and _isatty(sys.stdout)


def parse_output(value: str) -> Output:
    """``FORMAT`` or ``FORMAT:FILE`` (``FORMAT:-`` is standard output), for argparse."""
    name, sep, path = value.partition(":")
    name = name.strip().lower()
    if name not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {name!r} (choose from {', '.join(FORMATS)})")
    if sep and not path:
        raise argparse.ArgumentTypeError(f"{value!r}: a file name must follow the colon")
    return Output(name, path if sep else None)


def plan(requested: Sequence[Output] | None, output_file: str | None, default: str) -> list[Output]:
    """The reports to write: ``-o`` fills in the one without a file; clashes are usage errors."""
    chosen = list(requested or [Output(default)])
    if output_file is not None and output_file != STDOUT:
        open_ended = [o for o in chosen if o.path is None]
        if len(open_ended) != 1:
            raise UsageError("-o/--output names the file of the one --format without ':FILE'")
        chosen = [Output(o.format, output_file) if o.path is None else o for o in chosen]
    destinations = [os.path.abspath(o.path) if o.path not in (None, STDOUT) else STDOUT for o in chosen]
    for place in set(destinations):
        if destinations.count(place) > 1:
            where = "standard output" if place == STDOUT else place
            raise UsageError(f"two reports would be written to {where}: give each --format its own ':FILE'")
    return chosen


def default_format() -> str:
    """``github`` under GitHub Actions (annotations), otherwise ``text``."""
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


def write(text: str, path: str | None) -> None:
    """``text`` to standard output (``path`` None or ``-``) or to the file ``path``."""
    if path is None or path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = text.encode("utf-8", "backslashreplace")
    fd = _open_for_writing(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _open_for_writing(path: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o666)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {_why_not(path, exc)}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):  # a pipe or /dev/null: writes may block from here on
        os.set_blocking(fd, True)
    return fd


def _why_not(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and os.path.islink(path)):
        return "it is a symbolic link (portpolicy does not write through one)"
    if exc.errno == errno.ENOENT:
        return "its directory does not exist"
    if exc.errno == errno.EISDIR:
        return "it is a directory"
    if exc.errno == errno.ENXIO:
        return "it is a FIFO with no reader"
    return exc.strerror or str(exc)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@record(frozen=False)
class CheckOptions:
    """What ``check`` asked for besides the reports themselves."""

    outputs: list[Output]
    baseline: str | None = None
    write_baseline: str | None = None
    statistics: bool = False
    verbose: bool = False
    quiet: bool = False
    color: str = "auto"
    show_source: bool | None = None


def check(report: Any, options: CheckOptions, fail_on: str) -> int:
    """Apply the baseline, render every report, write them all; the exit code for ``fail_on``."""
    prints = None
    if options.baseline or options.write_baseline or any(o.format in FINGERPRINTED for o in options.outputs):
        from portpolicy import fingerprint

        prints = fingerprint.by_finding(report.findings, report.config.roots)
    if options.baseline or options.write_baseline:
        assert prints is not None
        _apply_baseline(report, prints, options)
    rendered = [(o, render(o, report, prints, options)) for o in options.outputs]
    if options.statistics and not any(o.format in {"text", "json"} for o in options.outputs):
        from portpolicy.report import statistics

        sys.stderr.write(statistics.render_text(report, options.verbose).lstrip("\n"))
    for output, text in rendered:
        write(text, output.path)
    return exit_code(report.findings, fail_on)


def exit_code(findings: Sequence[Any], fail_on: str) -> int:
    """1 when a finding reaches ``fail_on``, else 0."""
    if fail_on == "never":
        return 0
    return 1 if any(RANK[f.severity] >= RANK[fail_on] for f in findings) else 0


def _apply_baseline(report: Any, prints: dict[Any, str], options: CheckOptions) -> None:
    """Write the baseline if asked, then keep only the findings it does not list."""
    from portpolicy import baseline

    where = options.write_baseline or options.baseline
    assert where is not None
    if options.write_baseline:
        write(baseline.text(report.findings, prints), options.write_baseline)  # never through a link
        _note(f"wrote {len(report.findings)} findings to {where}", options)
    known = baseline.load(where)
    report.findings, old, stale = baseline.split(report.findings, prints, known)
    if old:
        _note(f"{len(old)} findings hidden by the baseline {where}", options)
    if stale and options.verbose:
        _note(f"{stale} baseline entries match no finding any more", options)


def _note(message: str, options: CheckOptions) -> None:
    if not options.quiet:
        print(f"portpolicy: {message}", file=sys.stderr)


def render(output: Output, report: Any, prints: Any, options: CheckOptions) -> str:
    """One report in its format."""
    if output.format == "text":
        return _text(output, report, options)
    if output.format == "json":
        return _json(report, options)
    from portpolicy.report import github, gitlab, junit, sarif

    if output.format == "sarif":
        return sarif.render(report, prints)
    if output.format == "gitlab":
        return gitlab.render(report, prints)
    if output.format == "junit":
        return junit.render(report)
    return github.render(report)


def _text(output: Output, report: Any, options: CheckOptions) -> str:
    from portpolicy.report import text

    colour = options.color == "always" or (
        options.color == "auto" and output.to_terminal and not os.environ.get("NO_COLOR")
    )
    show_source = options.show_source if options.show_source is not None else output.to_terminal
    body = text.render(
        report, colour=colour, verbose=options.verbose, show_source=show_source, quiet=options.quiet
    )
    if options.statistics:
        from portpolicy.report import statistics

        body += statistics.render_text(report, options.verbose)
    return body


def _json(report: Any, options: CheckOptions) -> str:
    from portpolicy.report import json as json_report

    if not options.statistics:
        return json_report.render(report)
    import json

    from portpolicy.report import statistics

    doc = json.loads(json_report.render(report))
    doc["summary"]["statistics"] = statistics.collect(report, options.verbose)
    return json.dumps(doc, indent=2) + "\n"
