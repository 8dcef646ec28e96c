"""The parser built for one sub-command answers as the full parser does (#13).

``cli.build_parser(argv)`` gives only the sub-command ``argv`` names its arguments; the
others are listed but empty. What a user sees must not change: the parsed arguments, every
help text, and the errors (an unknown command, an unknown option).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import pytest

from portpolicy import cli

ARGVS = [
    ["check"],
    ["check", "etc/sysctl.d/99-ports.conf", "--format", "json", "-o", "r.json", "--fail-on", "never"],
    ["--debug", "check", "-v", "--no-config", "--select", "PP001,PP004", "--jobs", "2", "a", "b"],
    ["check", "--show-source", "--statistics", "--platform", "windows", "--runtime", "podman-rootless"],
    ["facts", "--format", "json", "."],
    ["map", "--format", "svg", "--host", "web1"],
    ["rules", "--format", "json"],
    ["explain", "PP001"],
    ["live", "--from", "facts.json", "--host", "h", "--ignore", "PP012"],
    [],
    ["--debug"],
]


def _outcome(parser_argv: list[str] | None, argv: list[str]) -> tuple[object, str, str]:
    parser = cli.build_parser(parser_argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_one_command_parses_as_the_full_parser(argv: list[str]) -> None:
    assert _outcome(argv, argv) == _outcome(None, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        *([name, "--help"] for name in cli.COMMANDS),
        ["nosuch"],
        ["check", "--nosuch"],
        ["check", "--fail-on", "sometimes"],
        ["explain"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_help_and_errors_are_the_same(argv: list[str]) -> None:
    ours, full = _outcome(argv, argv), _outcome(None, argv)
    assert ours == full
    assert ours[0][0] == "exit"  # type: ignore[index]


def test_only_the_named_command_gets_its_arguments() -> None:
    parser = cli.build_parser(["--debug", "facts"])
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(choices, dict)
    commands: dict[str, argparse.ArgumentParser] = choices
    assert list(commands) == list(cli.COMMANDS)
    filled = {name for name, p in commands.items() if len(p._actions) > 1}
    assert filled == {"facts"}


def test_the_command_line_still_parses_its_own_argv() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "portpolicy", "explain", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "RULE" in result.stdout
