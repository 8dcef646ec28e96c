"""Command line: argument parsing only; every command calls the library.

Exit codes: 0 no finding at or above ``--fail-on``, 1 findings, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from portpolicy import __version__

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
RANK = {"info": 0, "warning": 1, "error": 2}
FORMATS = ["text", "json", "sarif", "junit", "github", "gitlab"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one clear line, exit 2
        self.exit(2, f"portpolicy: error: {message}\n(run 'portpolicy --help' for usage)\n")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="portpolicy",
        description="Audit service configs, firewall definitions and kernel settings for port misuse.",
    )
    parser.add_argument("--version", action="version", version=f"portpolicy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            metavar="FILE",
            help="config file (default: nearest .portpolicy.yml or pyproject.toml)",
        )
        p.add_argument("--no-config", action="store_true", help="ignore config files")
        p.add_argument("--platform", choices=PLATFORMS, help="platform defaults for the kernel port settings")
        p.add_argument(
            "--runtime", choices=RUNTIMES, help="container runtime (default: rootful docker >= 20.10)"
        )
        p.add_argument(
            "--rules-dir", action="append", default=[], metavar="DIR", help="extra directory of rule files"
        )
        p.add_argument(
            "-o", "--output", metavar="FILE", help="write the report to FILE instead of standard output"
        )
        p.add_argument(
            "-v", "--verbose", action="store_true", help="also show related evidence and skipped files"
        )

    check = sub.add_parser("check", help="check files for port problems (default: .)")
    check.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    check.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: text; github when GITHUB_ACTIONS=true)",
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
    common(check)

    facts = sub.add_parser(
        "facts", help="show the model as read: hosts, namespaces, listeners, kernel settings"
    )
    facts.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    facts.add_argument("--format", choices=["text", "json"], default="text")
    common(facts)

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=["text", "json"], default="text")
    common(rules)

    explain = sub.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("rule", metavar="RULE", help="rule id (PP001) or name")
    common(explain)

    live = sub.add_parser("live", help="audit this machine's live listeners and kernel port settings")
    live.add_argument("paths", nargs="*", metavar="PATH", help="config files of this host to check with it")
    live.add_argument("--format", choices=["text", "json", "facts"], default="text")
    live.add_argument("--fail-on", choices=["error", "warning", "info", "never"])
    live.add_argument("--select", type=_csv, help="rules (or prefixes) to run instead of the defaults")
    live.add_argument("--extend-select", type=_csv, help="rules to run on top of the defaults")
    live.add_argument("--ignore", type=_csv, help="rules (or prefixes) not to run")
    live.add_argument("--from", dest="facts_file", metavar="FILE", help="audit port facts saved as JSON")
    live.add_argument("--host", help="host name shown in findings (default: this machine's name)")
    common(live)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from portpolicy.errors import UsageError

    try:
        return _run(args)
    except UsageError as exc:
        print(f"portpolicy: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


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
    }
    if args.no_config:
        path = None
    elif args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"config file {args.config} does not exist")
    else:
        path = find_config(paths)
    config = load_config(path, overrides)
    if args.rules_dir:
        from dataclasses import replace

        extra = tuple(os.path.abspath(d) for d in args.rules_dir)
        config = replace(config, rules_dirs=(*config.rules_dirs, *extra))
    return config


def _emit(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


def _run(args: argparse.Namespace) -> int:
    paths = list(getattr(args, "paths", ["."]))
    config = _config(args, paths)
    if args.command in {"rules", "explain"}:
        return _rules(args, config)
    if args.command == "live":
        from portpolicy import live_audit

        return live_audit.run(args, config)
    from portpolicy.pipeline import scan

    report = scan(paths, config)
    if args.verbose:
        for s in report.skipped:
            print(f"portpolicy: skipped {s.path}: {s.reason}", file=sys.stderr)
    if args.command == "facts":
        from portpolicy.report import facts

        _emit(facts.render_json(report) if args.format == "json" else facts.render_text(report), args.output)
        return 0
    _check_output(args, report)
    if config.fail_on == "never":
        return 0
    threshold = RANK[config.fail_on]
    return 1 if any(RANK[f.severity] >= threshold for f in report.findings) else 0


def _check_output(args: argparse.Namespace, report: Any) -> None:
    """Baseline, then the report in the chosen format (report.findings keeps only what is shown)."""
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    prints = None
    if args.baseline or args.write_baseline or fmt in {"sarif", "gitlab"}:
        from portpolicy import fingerprint

        prints = fingerprint.by_finding(report.findings)
    if args.write_baseline or args.baseline:
        from portpolicy import baseline

        assert prints is not None
        if args.write_baseline:
            baseline.write(args.write_baseline, report.findings, prints)
            print(
                f"portpolicy: wrote {len(report.findings)} findings to {args.write_baseline}", file=sys.stderr
            )
        known = baseline.load(args.write_baseline or args.baseline)
        report.findings, old, stale = baseline.split(report.findings, prints, known)
        if old:
            where = args.write_baseline or args.baseline
            print(f"portpolicy: {len(old)} findings hidden by the baseline {where}", file=sys.stderr)
        if stale and args.verbose:
            print(f"portpolicy: {stale} baseline entries match no finding any more", file=sys.stderr)
    statistics = ""
    if args.statistics:
        from portpolicy.report import statistics as stats

        statistics = stats.render_text(report, args.verbose)
    if fmt == "json":
        import json

        from portpolicy.report import json as json_report

        text_out = json_report.render(report)
        if args.statistics:
            doc = json.loads(text_out)
            doc["summary"]["statistics"] = stats.collect(report, args.verbose)
            text_out = json.dumps(doc, indent=2) + "\n"
        _emit(text_out, args.output)
        return
    if fmt == "text":
        from portpolicy.report import text

        colour = args.color == "always" or (
            args.color == "auto"
            and not args.output
            and sys.stdout.isatty()
            and not os.environ.get("NO_COLOR")
        )
        _emit(text.render(report, colour=colour, verbose=args.verbose) + statistics, args.output)
        return
    from portpolicy.report import github, gitlab, junit, sarif

    if fmt == "sarif":
        _emit(sarif.render(report, prints), args.output)
    elif fmt == "gitlab":
        _emit(gitlab.render(report, prints), args.output)
    elif fmt == "junit":
        _emit(junit.render(report), args.output)
    else:
        _emit(github.render(report), args.output)
    if statistics:
        sys.stderr.write(statistics.lstrip("\n"))


def _rules(args: argparse.Namespace, config: Any) -> int:
    from portpolicy import engine

    rules = engine.load_rules(config.rule_directories())
    if args.command == "explain":
        wanted = args.rule.strip()
        for rule in rules:
            if rule.id.lower() == wanted.lower() or rule.name == wanted:
                from portpolicy import ruledoc

                _emit(ruledoc.render(rule), args.output)
                return 0
        print(f"portpolicy: error: unknown rule {wanted!r} (see 'portpolicy rules')", file=sys.stderr)
        return 2
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
    _emit("\n".join(lines) + "\n", args.output)
    return 0
