"""A process start as readers hand it over: its words, environment and where it is written."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field

from portpolicy.model import Location, PortSet
from portpolicy.records import record

MAX_WORDS = 2048
"""Words of one command line that are read; a longer one is cut and reported once."""
MAX_COMMAND = 256 * 1024
"""Characters of one command line that are split into words."""
_WRAPPERS = frozenset({"exec", "nohup", "nice", "tini", "dumb-init", "catatonit", "setpriv", "chpst"})
_USER_WRAPPERS = frozenset({"gosu", "su-exec"})
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_PYTHONS = re.compile(r"python(?:[0-9.]*)\Z")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)


@record
class EnvValue:
    """One environment variable as the start sets it: None when its value is not known."""

    value: str | None
    location: Location


@record
class Start:
    """One process start as a reader sees it.

    ``words`` is the argv (entrypoint then command); empty when the image's own command runs.
    ``where`` is the line that starts it (ExecStart=, command:, CMD, image:). ``declared``
    holds ports the same scope already declares (compose ``ports``/``expose``, ``EXPOSE``,
    ``containerPort``): a socket on one of them is that listener, not a second one.
    """

    words: tuple[str, ...]
    where: Location
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    image: str = ""
    image_location: Location | None = None
    truncated: bool = False
    declared: Mapping[str, PortSet] = field(default_factory=dict)
    words_are_args: bool = False
    """``words`` are arguments to the image's entrypoint (compose ``command:`` without ``entrypoint:``)."""
    no_defaults: bool = False
    """The ports are handed over (a systemd socket unit activates it): no default is assumed."""
    env_unknown: bool = False
    """Variables come from a file the scan does not read (``EnvironmentFile=``, ``env_file:``):
    no default is assumed for a socket a variable may name."""


def split_command(text: str) -> tuple[tuple[str, ...], bool]:
    """A command line as words (shell-style quotes), at most ``MAX_WORDS``; True when cut."""
    text = text[:MAX_COMMAND]
    words: list[str] = []
    current: list[str] = []
    quote = ""
    started = False
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote, started = char, True
        elif char.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
                if len(words) >= MAX_WORDS:
                    return tuple(words), True
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return tuple(words[:MAX_WORDS]), len(words) > MAX_WORDS


def bounded(words: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """At most ``MAX_WORDS`` of ``words``, and whether any were cut."""
    return tuple(words[:MAX_WORDS]), len(words) > MAX_WORDS


def parse_environment(value: str) -> list[tuple[str, str]]:
    """A systemd ``Environment=`` value: space-separated ``NAME=value`` words, quotes allowed."""
    words, _ = split_command(value)
    out: list[tuple[str, str]] = []
    for word in words:
        match = _ASSIGNMENT.match(word)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)\Z")


def expand(words: tuple[str, ...], env: Mapping[str, EnvValue]) -> tuple[str, ...]:
    """systemd's ``${NAME}`` and whole-word ``$NAME`` from the unit's environment; unknown ones stay."""

    def value(match: re.Match[str]) -> str:
        found = env.get(match.group(1) or match.group(2))
        return found.value if found is not None and found.value is not None else match.group(0)

    if not env:
        return words
    out: list[str] = []
    for word in words:
        if "$" not in word:
            out.append(word)
            continue
        whole = _VARIABLE.fullmatch(word)
        if whole and whole.group(2):
            out.extend(split_command(value(whole))[0])  # $NAME alone splits at blanks
        else:
            out.append(_VARIABLE.sub(value, word))
    return tuple(out[:MAX_WORDS])


def basename(word: str) -> str:
    return word.lstrip("-@:+!").rsplit("/", 1)[-1]


def unwrap(words: tuple[str, ...], env: dict[str, EnvValue], where: Location) -> tuple[str, ...]:
    """The program's own argv: past ``sh -c``, ``exec``, ``env X=1``, ``gosu user``, ``python -m``."""
    for _ in range(8):  # wrappers nest a few levels at most
        if not words:
            return words
        exe = basename(words[0])
        if exe in _SHELLS and len(words) >= 3 and words[1] == "-c":
            inner, _cut = split_command(words[2])
            words = inner
        elif exe in _WRAPPERS:
            rest = words[1:]
            words = rest[1:] if rest[:1] == ("--",) else rest
        elif exe in _USER_WRAPPERS and len(words) >= 2:
            words = words[2:]
        elif exe == "env":
            words = _env_assignments(words[1:], env, where)
        elif _PYTHONS.match(exe) and len(words) >= 3 and words[1] == "-m":
            words = words[2:]
        else:
            return words
    return words


def _env_assignments(words: tuple[str, ...], env: dict[str, EnvValue], where: Location) -> tuple[str, ...]:
    """``env [-i] NAME=value ... program``: the variables into ``env``, the program's argv back."""
    i = 0
    while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
        match = _ASSIGNMENT.match(words[i])
        if match:
            env[match.group(1)] = EnvValue(match.group(2), where)
        i += 1
    return words[i:]
