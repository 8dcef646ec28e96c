"""Build commands in shell text: ``docker build``, ``docker buildx build``, ``podman build``,
``nerdctl build``, ``buildah bud`` and kaniko's ``executor``, read with a tokenizer (never run).

A Makefile recipe, a script, a GitLab ``script:`` entry and a workflow's ``run:`` all hold
such lines. ``-t``/``--tag``, ``-f``/``--file``, ``--target``, ``--build-arg`` and the
context argument are taken; kaniko's ``--destination``, ``--dockerfile`` and ``--context``
likewise. A word with a variable is used only when ``expand`` fills it from literals.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping

from portpolicy.buildcalls.calls import MAX_ARGS, MAX_TAGS, Call, Found
from portpolicy.buildcalls.expand import TooDeep, expand

MAX_WORDS = 256
"""Words of one command that are looked at."""
MAX_LINE = 16 * 1024
"""Characters of one logical line (continuations joined) that are looked at."""

_BUILD = re.compile(
    r"\b(?:(?:docker|podman|nerdctl)[ \t]+(?:buildx[ \t]+|image[ \t]+)?build|buildah[ \t]+(?:bud|build))\b"
    r"|(?:/kaniko/executor|\bexecutor)(?=[ \t]+-)"
)
_STOPS = set(";&|()`")
_VALUE_OPTIONS = frozenset(
    {
        "-t", "--tag", "-f", "--file", "--target", "--build-arg", "--platform", "--label", "--cache-from",
        "--cache-to", "-o", "--output", "--secret", "--ssh", "--network", "--progress", "--iidfile",
        "--builder", "--build-context", "--add-host", "--shm-size", "--ulimit", "--annotation",
        "--metadata-file", "--provenance", "--sbom", "--attest", "--allow", "--cgroup-parent",
        "--isolation", "-m", "--memory", "--memory-swap", "--cpuset-cpus", "--cpu-shares", "--format",
        "--layers", "--jobs", "--authfile", "--creds", "--arch", "--os", "--variant", "--from",
        "-c", "--context", "-d", "--destination", "--dockerfile", "--cache-repo", "--cache-dir",
        "--registry-mirror", "--snapshot-mode", "--tar-path", "--digest-file", "--label-file",
        "--image-name-tag-with-digest-file", "--image-name-with-digest-file", "--ignore-path",
        "--custom-platform", "--kaniko-dir", "--log-format", "--verbosity", "-v",
    }
)  # fmt: skip
_VARIABLE_TAG = re.compile(r"(.+):\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_TAG = {"-t", "--tag", "-d", "--destination"}
_FILE = {"-f", "--file", "--dockerfile"}
_CONTEXT = {"-c", "--context"}


def calls(text: str, env: Mapping[str, str], folder: str, offset: int = 0, how: str = "") -> Found:
    """Every build command of ``text`` (``offset`` added to its line numbers)."""
    found = Found()
    for number, logical in logical_lines(text):
        for m in _BUILD.finditer(logical):
            kaniko = "executor" in m.group(0)
            call = parse(logical[m.end() :], env, folder, number + offset, kaniko, how, found)
            if call is not None:
                found.calls.append(call)
    return found


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined, each with the number of its first line."""
    parts: list[str] = []
    size = 0
    start = 1
    for number, line in enumerate(text.splitlines(), 1):
        if not parts:
            start, size = number, 0
        size += len(line)
        if line.endswith("\\") and size < MAX_LINE:
            parts.append(line[:-1])
            continue
        parts.append(line)
        yield start, " ".join(parts)[:MAX_LINE]
        parts = []
    if parts:
        yield start, " ".join(parts)[:MAX_LINE]


def words(command: str) -> list[str]:
    """Shell words of one command, up to the first operator (``;``, ``&&``, ``|`` ...)."""
    command = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", r"${\1}", command)  # a Make reference, no subshell
    command = re.sub(r"\$\((?:pwd|PWD)\)|\$\{?PWD\}?", ".", command)
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()`")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[str] = []
    try:
        for word in lexer:
            if set(word) <= _STOPS or len(out) >= MAX_WORDS:
                break
            out.append(word)
    except ValueError:  # an unbalanced quote: what was split so far
        pass
    return out


def parse(
    command: str, env: Mapping[str, str], folder: str, line: int, kaniko: bool, how: str, found: Found
) -> Call | None:
    """One build command's call; None when a name it needs is not literal or it tags nothing."""
    tags: list[str] = []
    dockerfile = context = target = None
    args: list[tuple[str, str]] = []
    given = words(command)
    i = 0
    try:
        while i < len(given):
            word = given[i]
            key, eq, inline = word.partition("=")
            if not word.startswith("-") or word == "-":
                if context is None and not kaniko:
                    context = _path(word, env)
                    if context is None:
                        return None
                i += 1
                continue
            if key in ("-t", "-f") or (not key.startswith("--") and len(key) > 2 and key[:2] in ("-t", "-f")):
                key, inline, eq = key[:2], word[2:].lstrip("="), "=" if len(word) > 2 else ""
            takes = key in _VALUE_OPTIONS
            value = inline if eq else (given[i + 1] if takes and i + 1 < len(given) else "")
            i += 1 if eq or not takes else 2
            if key in _TAG:
                tag = _tag(value, env)
                if tag and len(tags) < MAX_TAGS:
                    tags.append(tag)
            elif key in _FILE:
                dockerfile = _path(value, env)
                if dockerfile is None:
                    return None
            elif key in _CONTEXT:
                context = _path(value.removeprefix("dir://"), env)
                if context is None:
                    return None
            elif key == "--target":
                target = expand(value, env)
            elif key == "--build-arg" and len(args) < MAX_ARGS:
                name, _, val = value.partition("=")
                args.append((name, expand(val, env) or ""))
    except TooDeep as exc:
        found.notes.append(
            (line, f"variable {exc.name} nests too deep or refers to itself: the build call is passed over")
        )
        return None
    if not tags:
        return None
    name = how or ("kaniko executor" if kaniko else "docker build")
    return Call(
        tuple(tags),
        dockerfile,
        context or ("." if not kaniko else None),
        folder,
        line,
        name,
        kaniko,
        target,
        tuple(args),
    )


def _tag(word: str, env: Mapping[str, str]) -> str | None:
    """An image reference; a tag that is not literal (``$IMAGE:$CI_COMMIT_SHA``) is dropped, the name kept."""
    name = expand(word, env)
    if name is None and (m := _VARIABLE_TAG.fullmatch(word)) is not None:
        name = expand(m.group(1), env)
    return name


def _path(word: str, env: Mapping[str, str]) -> str | None:
    """A path word with its variables filled (``$CI_PROJECT_DIR``, ``$PWD``: the working folder)."""
    word = re.sub(r"\$\{?(?:CI_PROJECT_DIR|GITHUB_WORKSPACE)\}?", ".", word)
    return expand(word, env)
