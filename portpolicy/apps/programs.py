"""Which programs of the table a start runs: by its executable, its image or its environment."""

from __future__ import annotations

from collections.abc import Mapping

from portpolicy import imagerefs
from portpolicy.apps.commands import EnvValue, Start, basename
from portpolicy.apps.table import App, table
from portpolicy.records import record


@record
class Run:
    app: App
    args: tuple[str, ...]
    by_image: bool
    by_env: bool = False
    """Known only by a variable of its own (ASPNETCORE_URLS): its port is that variable's, no default."""


def _image_apps(image: str) -> tuple[App, ...]:
    ref = imagerefs.parse(image) if image else None
    if ref is None:
        return ()
    return tuple(a for a in table().apps if any(imagerefs.matches(ref, p) for p in a.images))


def runs_of(start: Start, env: Mapping[str, EnvValue], words: tuple[str, ...]) -> list[Run]:
    """The table's programs this start runs, each with its arguments; else those its environment names."""
    runs = _started(start, env, words)
    if runs or not env:
        return runs
    return [Run(app, (), False, True) for app in table().apps if any(n in env for n in _port_markers(app))]


def _port_markers(app: App) -> tuple[str, ...]:
    """The app's marker variables that are also its port variables (SERVER_PORT, ASPNETCORE_URLS)."""
    names = {n for s in app.sockets for n in s.env}
    return tuple(n for n in app.env_markers if n in names)


def _started(start: Start, env: Mapping[str, EnvValue], words: tuple[str, ...]) -> list[Run]:
    if not words or start.words_are_args:
        by_image = _image_apps(start.image)
        if by_image and start.words_are_args and words and basename(words[0]) in table().by_executable:
            pass  # a command that names its own program replaces the image's
        else:
            return [Run(app, words, True) for app in by_image]
    exe = basename(words[0])
    args = words[1:]
    runs: list[Run] = []
    for app in table().by_executable.get(exe, ()):
        needs = [word for name, word in app.run if name == exe]
        if None not in needs and not any(w in args for w in needs if w):
            continue  # e.g. rsync without --daemon, consul without agent
        if (app.arg_markers or app.env_markers) and not _marked(app, args, env):
            continue
        runs.append(Run(app, args, False))
    return runs


def _marked(app: App, args: tuple[str, ...], env: Mapping[str, EnvValue]) -> bool:
    if any(name in env for name in app.env_markers):
        return True
    return any(m.search(a) for m in app.arg_markers for a in args[:64])
