"""Command line: argument parsing only; every command calls the library (reports: outputs.py).

Exit codes: 0 no finding at or above ``--fail-on``, 1 findings, 2 usage or config error,
3 an internal error (a bug: one line and where to report it; ``--debug`` adds the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from portpolicy import __version__
from portpolicy.outputs import FORMATS, parse_output

PLATFORMS = [
    "linux",
    "linux-legacy",
    "portable",
    "windows",
    "macos",
    "iana",
    "freebsd",
    "openbsd",
    "solaris",
    "aix",
]
RUNTIMES = ["docker", "docker-legacy", "docker-rootless", "podman-rootless", "nerdctl", "containerd", "cri-o"]
ISSUES = "https://github.com/portpolicy/portpolicy/issues"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one clear line, exit 2
        self.exit(2, f"portpolicy: error: {message}\n(run 'portpolicy --help' for usage)\n")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _jobs(value: str) -> int:
    """``--jobs N``: a whole number of processes, at least 1."""
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {value!r}") from None
    if not 1 <= jobs <= 1024:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1024, not {jobs}")
    return jobs


def _scanning(p: argparse.ArgumentParser) -> None:
    """Options of the commands that scan files: how many processes, and the cache."""
    p.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="processes that read files at once on a large tree (default: one per CPU; 1: no workers)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="cache per-file reads in DIR for the next run (default: no cache; see docs/ci.md)",
    )
    p.add_argument("--no-cache", action="store_true", help="ignore cache-dir in the config file")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: nearest .portpolicy.yml or pyproject.toml)",
    )
    p.add_argument("--no-config", action="store_true", help="ignore config files")
    p.add_argument(
        "--no-respect-gitignore",
        dest="respect_gitignore",
        action="store_false",
        default=None,
        help="also scan what .gitignore files ignore",
    )
    p.add_argument("--platform", choices=PLATFORMS, help="platform defaults for the kernel port settings")
    p.add_argument("--runtime", choices=RUNTIMES, help="container runtime (default: rootful docker >= 20.10)")
    p.add_argument(
        "--rules-dir", action="append", default=[], metavar="DIR", help="extra directory of rule files"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the report to FILE instead of standard output"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="also show related evidence and skipped files"
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an internal error (exit 3) and of any recorded as PP000",
    )


def _check(check: argparse.ArgumentParser) -> None:
    check.add_argument("paths", nargs="*", default=[], metavar="PATH")  # none given: "." (see _scan)
    check.add_argument(
        "--format",
        "--output-format",
        dest="outputs",
        action="append",
        type=parse_output,
        metavar="FORMAT[:FILE]",
        help=f"report format, one of {', '.join(FORMATS)} (default: text; github when GITHUB_ACTIONS=true);"
        " repeat with :FILE to write several reports from one scan",
    )
    check.add_argument(
        "--show-source",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show each finding's source line with a caret (default: on a terminal)",
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="print only the findings: no summary, notes or progress"
    )
    check.add_argument(
        "--statistics", action="store_true", help="add counts per rule and file type, files and port values"
    )
    check.add_argument(
        "--baseline", metavar="FILE", help="hide findings recorded in FILE (see --write-baseline)"
    )
    check.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="record the current findings in FILE, then report none of them",
    )
    check.add_argument(
        "--fail-on",
        choices=["error", "warning", "info", "never"],
        help="lowest severity that fails (default: error)",
    )
    check.add_argument(
        "--select", type=_csv, help="rules (or prefixes) to run instead of the defaults, comma-separated"
    )
    check.add_argument("--extend-select", type=_csv, help="rules to run on top of the defaults")
    check.add_argument("--ignore", type=_csv, help="rules (or prefixes) not to run")
    check.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    check.add_argument(
        "--fix", action="store_true", help="apply the safe fixes rules declare, then report what is left"
    )
    check.add_argument(
        "--diff", action="store_true", help="print the safe fixes as a unified diff and write nothing"
    )
    _common(check)
    _scanning(check)


def _facts(facts: argparse.ArgumentParser) -> None:
    facts.add_argument("paths", nargs="*", default=[], metavar="PATH")
    facts.add_argument("--format", choices=["text", "json"], default="text")
    _common(facts)
    _scanning(facts)


def _port_map(port_map: argparse.ArgumentParser) -> None:
    port_map.add_argument("paths", nargs="*", default=[], metavar="PATH")
    port_map.add_argument(
        "--format", choices=["html", "svg"], default="html", help="html: every host; svg: one host"
    )
    port_map.add_argument("--host", help="with --format svg: the host to draw (default: the first)")
    _common(port_map)
    _scanning(port_map)


def _rules_args(rules: argparse.ArgumentParser) -> None:
    rules.add_argument("--format", choices=["text", "json"], default="text")
    _common(rules)


def _explain(explain: argparse.ArgumentParser) -> None:
    explain.add_argument("rule", metavar="RULE", help="rule id (PP001) or name")
    _common(explain)


def _live(live: argparse.ArgumentParser) -> None:
    live.add_argument("paths", nargs="*", metavar="PATH", help="config files of this host to check with it")
    live.add_argument("--format", choices=["text", "json", "facts"], default="text")
    live.add_argument("--fail-on", choices=["error", "warning", "info", "never"])
    live.add_argument("--select", type=_csv, help="rules (or prefixes) to run instead of the defaults")
    live.add_argument("--extend-select", type=_csv, help="rules to run on top of the defaults")
    live.add_argument("--ignore", type=_csv, help="rules (or prefixes) not to run")
    live.add_argument("--from", dest="facts_file", metavar="FILE", help="audit port facts saved as JSON")
    live.add_argument("--host", help="host name shown in findings (default: this machine's name)")
    _common(live)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "check": ("check files for port problems (default: .)", _check),
    "facts": ("show the model as read: hosts, namespaces, listeners, kernel settings", _facts),
    "map": ("draw each host's ports: bands, listeners, firewall openings, findings (HTML or SVG)", _port_map),
    "rules": ("list the rules", _rules_args),
    "explain": ("show a rule's documentation", _explain),
    "live": ("audit this machine's live listeners and kernel port settings", _live),
}
"""Each sub-command: its help line and what adds its arguments."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv``, only the sub-command it names gets its arguments (#13).

    A run uses one sub-command, so building the other five is start-up spent for nothing:
    they are listed (``--help``, an unknown command's choices) but left empty. The command
    is the first argument that is not an option (the top level has flags only).
    """
    wanted = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    parser = _Parser(
        prog="portpolicy",
        description="Audit service configs, firewall definitions and kernel settings for port misuse.",
    )
    parser.add_argument("--version", action="version", version=f"portpolicy {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_line, add_arguments) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line)
        if argv is None or name == wanted:
            add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from portpolicy.errors import UsageError
    from portpolicy.report.escape import display

    _tolerant_streams()
    try:
        return _run(args)
    except UsageError as exc:
        print(f"portpolicy: error: {display(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: exit 3, so CI can tell it from findings (1)
        return _internal_error(exc, args.debug)


def _tolerant_streams() -> None:
    """Whatever the locale, printing a report never fails on a character it cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _internal_error(exc: Exception, debug: bool) -> int:
    """One line naming the error and where to report it; the traceback only with ``--debug``."""
    import traceback

    if debug:
        traceback.print_exc()
    hint = "" if debug else "; run with --debug for the traceback"
    from portpolicy.errors import describe

    what = describe(exc)  # type and our line: the exception's text may quote a scanned file
    print(f"portpolicy: internal error: {what} — please report it at {ISSUES}{hint}", file=sys.stderr)
    return 3


def _config(args: argparse.Namespace, paths: list[str]) -> Any:
    from pathlib import Path

    from portpolicy.config import ConfigError, find_config, load_config

    overrides: dict[str, Any] = {
        "platform": args.platform,
        "runtime": args.runtime,
        "fail-on": getattr(args, "fail_on", None),
        "select": getattr(args, "select", None),
        "ignore": getattr(args, "ignore", None),
        "extend-select": getattr(args, "extend_select", None),
        "respect-gitignore": args.respect_gitignore,
        "jobs": getattr(args, "jobs", None),
        "cache-dir": _cache_option(args),
    }
    if args.no_config:
        path = None
    elif args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"config file {args.config} does not exist")
    else:
        notes: list[str] = []
        path = find_config(paths, notes)
        for note in notes if args.verbose else ():
            print(f"portpolicy: {note}", file=sys.stderr)
    config = load_config(path, overrides)
    if args.rules_dir:
        from dataclasses import replace

        extra = tuple(os.path.abspath(d) for d in args.rules_dir)
        config = replace(config, rules_dirs=(*config.rules_dirs, *extra))
    return config


def _cache_option(args: argparse.Namespace) -> str | None:
    """``--cache DIR`` as an absolute path, ``""`` for ``--no-cache``, None: as the config says."""
    if getattr(args, "cache", None):
        return os.path.abspath(str(args.cache))
    return "" if getattr(args, "no_cache", False) else None


def _emit(text: str, output: str | None) -> None:
    from portpolicy import outputs

    outputs.write(text, output)


def _run(args: argparse.Namespace) -> int:
    paths = list(getattr(args, "paths", ["."]))
    config = _config(args, paths)
    if args.command in {"rules", "explain"}:
        return _rules(args, config)
    if args.command == "live":
        from portpolicy import live_audit

        return live_audit.run(args, config)
    if args.command == "facts":
        from portpolicy.report import facts

        report = _scan(args, paths, config)
        _emit(facts.render_json(report) if args.format == "json" else facts.render_text(report), args.output)
        return 0
    if args.command == "map":
        return _map(args, paths, config)
    from portpolicy import outputs

    options = _check_options(args)  # a wrong --format/-o combination fails before the scan
    if args.diff:
        return _diff(_scan(args, paths, config), args)
    if args.fix:
        return _fix_then_check(args, paths, config, options)
    return outputs.check(_scan(args, paths, config), options, config.fail_on)


def _diff(report: Any, args: argparse.Namespace) -> int:
    """``--diff``: the fixes as a unified diff on standard output (or ``-o``); 1 when there is one."""
    from portpolicy import fixes

    planned = fixes.plan(report)
    _emit(fixes.render_diff(planned), args.output)
    _tell(fixes.refused_lines(planned), args)
    count = len(planned.fixed)
    if not args.quiet:
        files = len(planned.files)
        print(f"portpolicy: would fix {count} finding(s) in {files} file(s)", file=sys.stderr)
    return 1 if planned.files else 0


def _fix_then_check(args: argparse.Namespace, paths: list[str], config: Any, options: Any) -> int:
    """``--fix``: write the fixes (all files or none), say what changed, then report what is left."""
    from portpolicy import fixes, outputs

    report = _scan(args, paths, config)
    planned = fixes.plan(report)
    fixes.apply(planned, report.config.roots)
    _tell(fixes.changed_lines(planned), args)
    _tell(fixes.refused_lines(planned), args)
    if not args.quiet:
        print(
            f"portpolicy: fixed {len(planned.fixed)} finding(s) in {len(planned.files)} file(s)",
            file=sys.stderr,
        )
    if not planned.files:
        return outputs.check(report, options, config.fail_on)
    return outputs.check(_scan(args, paths, config), options, config.fail_on)


def _tell(lines: Any, args: argparse.Namespace) -> None:
    from portpolicy.report.escape import display

    for line in lines if not args.quiet else ():
        print(f"portpolicy: {display(line)}", file=sys.stderr)


def _map(args: argparse.Namespace, paths: list[str], config: Any) -> int:
    """``portpolicy map``: one self-contained HTML page (or one host's SVG) of every host's ports."""
    from portpolicy import mapview

    report = _scan(args, paths, config)
    if args.format == "svg":
        _emit(mapview.render_svg(report, args.host), args.output)
    else:
        _emit(mapview.render_html(report, args.output), args.output)
    return 0


def _scan(args: argparse.Namespace, paths: list[str], config: Any) -> Any:
    """The scan, with a progress line on a terminal; skipped files and tracebacks as asked."""
    from portpolicy.pipeline import scan
    from portpolicy.progress import Progress
    from portpolicy.report.escape import display

    with Progress("checking " + display(" ".join(paths) or "."), enabled=not getattr(args, "quiet", False)):
        report = scan(paths, config)
    if args.verbose:
        _list_skipped(report.skipped)
        for note in getattr(report, "notes", []):
            print(f"portpolicy: {display(note)}", file=sys.stderr)
        _list_tasks(report.ansible_tasks)
    if not report.files:  # a wrong path in CI must not pass as "no problems"
        from portpolicy.discover import nothing_read

        print(f"portpolicy: warning: {display(nothing_read(paths))}", file=sys.stderr)
    if args.debug:
        for trace in getattr(report, "tracebacks", []):
            sys.stderr.write(trace if trace.endswith("\n") else trace + "\n")
    return report


def _list_skipped(skipped: list[Any]) -> None:
    """``-v``: every file not read, one heading per reason with its count, then its paths sorted.

    Each path line keeps its reason, so a ``grep`` of one line still says why.
    """
    from portpolicy.report.escape import display
    from portpolicy.report.statistics import by_reason

    for reason, paths in by_reason(skipped):
        print(f"portpolicy: {len(paths)} not read: {display(reason)}", file=sys.stderr)
        for path in paths:
            print(f"portpolicy:   skipped {display(path)}: {display(reason)}", file=sys.stderr)


def _list_tasks(tasks: list[Any]) -> None:
    """``-v``: each Ansible task portpolicy could not evaluate, with why, and each note (an old form)."""
    from portpolicy.report.escape import display

    for task in tasks:
        if task.bucket == "unresolved":
            print(f"portpolicy: task {display(str(task.where))}: {display(task.reason)}", file=sys.stderr)
        for note in task.notes:
            print(f"portpolicy: task {display(str(task.where))}: note: {display(note)}", file=sys.stderr)


def _check_options(args: argparse.Namespace) -> Any:
    from portpolicy import outputs

    return outputs.CheckOptions(
        outputs=outputs.plan(args.outputs, args.output, outputs.default_format()),
        baseline=args.baseline,
        write_baseline=args.write_baseline,
        statistics=args.statistics,
        verbose=args.verbose,
        quiet=args.quiet,
        color=args.color,
        show_source=args.show_source,
    )


def _rules(args: argparse.Namespace, config: Any) -> int:
    from portpolicy import engine

    rules = engine.load_rules(config.rule_directories())
    if args.command == "explain":
        wanted = args.rule.strip()
        for rule in rules:
            if rule.id.lower() == wanted.lower() or rule.name == wanted:
                from portpolicy import ruledoc

                _emit(_printable_lines(ruledoc.render(rule)), args.output)
                return 0
        from portpolicy.errors import UsageError
        from portpolicy.suggest import hint

        did_you_mean = hint(wanted, [name for r in rules for name in (r.id, r.name)])
        raise UsageError(f"unknown rule {wanted!r}{did_you_mean} (see 'portpolicy rules')")
    if args.format == "json":
        import json

        doc = [
            {
                "id": r.id,
                "name": r.name,
                "severity": r.severity,
                "enabled": r.enabled,
                "summary": r.summary,
                "source": r.source,
            }
            for r in rules
        ]
        _emit(json.dumps(doc, indent=2) + "\n", args.output)
        return 0
    width = max(len(r.name) for r in rules)
    lines = [
        f"{r.id}  {r.name.ljust(width)}  {r.severity:<7}  {'on ' if r.enabled else 'off'}  {r.summary}"
        for r in rules
    ]
    _emit(_printable_lines("\n".join(lines) + "\n"), args.output)
    return 0


def _printable_lines(text: str) -> str:
    """Rule text for a terminal: a custom rule file (from the scanned repository) may hold escapes."""
    from portpolicy.report.escape import display

    return "\n".join(display(line) for line in text.split("\n"))
