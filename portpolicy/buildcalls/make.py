"""Makefiles and shell scripts: build commands with the variables the same file assigns.

A Makefile's ``VAR = value`` is recursive (expanded when used, so it may name variables
defined later), ``VAR := value`` immediate, ``VAR ?= value`` only when unset, ``VAR +=
value`` appended; a script's ``VAR=value`` holds from its line on. Commands in a Makefile
run in its folder; a script may be run from any folder above its own, so its Dockerfile
is looked for upwards (``Call.search_up``).
"""

from __future__ import annotations

import re
from dataclasses import replace

from portpolicy.buildcalls import commands
from portpolicy.buildcalls.calls import Found
from portpolicy.buildcalls.expand import TooDeep, expand

MAX_ASSIGNMENTS = 4096
"""Variable assignments of one file that are kept."""

_MAKE_ASSIGNMENT = re.compile(
    r"^(?:override[ \t]+|export[ \t]+)*([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*(::=|:=|\?=|\+=|=)[ \t]*(.*?)[ \t]*$"
)
_SHELL_ASSIGNMENT = re.compile(
    r"^[ \t]*(?:export[ \t]+|readonly[ \t]+|local[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)"
)


def makefile(text: str, folder: str) -> Found:
    """The build commands of a Makefile's recipes, its variables filled where literal."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        if raw.startswith("\t") or len(env) >= MAX_ASSIGNMENTS:
            continue
        m = _MAKE_ASSIGNMENT.match(raw.split(" #", 1)[0])
        if m is None:
            continue
        name, op, value = m.groups()
        if op == "?=" and name in env:
            continue
        if op == "+=" and name in env:
            value = f"{env[name]} {value}"
        if op in (":=", "::="):
            value = _immediate(value, env)
        env[name] = value
    return commands.calls(text, env, folder, how="docker build (Makefile)")


def script(text: str, folder: str) -> Found:
    """The build commands of a shell script, with the ``VAR=value`` lines above each."""
    found = Found()
    env: dict[str, str] = {}
    for number, logical in commands.logical_lines(text):
        m = _SHELL_ASSIGNMENT.match(logical)
        if m is not None and len(env) < MAX_ASSIGNMENTS:
            name = m.group(1)
            value = _immediate(_unquoted(m.group(2)), env)
            env.pop(name, None)
            if value is not None and "$" not in value:
                env[name] = value
            continue
        part = commands.calls(logical, env, folder, number - 1, "docker build (script)")
        found.calls.extend(replace(c, search_up=True) for c in part.calls)
        found.notes.extend(part.notes)
    return found


def _immediate(value: str, env: dict[str, str]) -> str:
    """A value expanded now (Make ``:=``, a shell assignment); kept as written when it cannot be."""
    try:
        done = expand(value, env)
    except TooDeep:
        return value
    return value if done is None else done


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
