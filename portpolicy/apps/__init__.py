"""Which ports a started program binds: its flags, its environment, its built-in defaults and
its own config file.

Readers that see a process start (a systemd ``ExecStart=``, a compose service's ``command:``/
``entrypoint:``/``image:``, a pod container's ``command``/``args``/``image``, a Dockerfile's
``CMD``/``ENTRYPOINT``, a ``docker run`` line) hand it here as a ``Start``; ``listeners``
answers with one ``Listener`` per socket, each saying where its port came from
(``Listener.port_origin``): a flag, an environment variable, or the program's built-in
default (``data/apps.yml``).

A default is assumed only for a program this start runs (by its executable, or by its image
when the command is the image's own) and only when no flag or variable names that socket;
when the command line names a config file that may set the port, nothing is assumed (the
file decides), and when the program reads one by default the listener is marked
``port_assumed``. The table is loaded on first use, never at import.

The package splits the job: ``table`` (the data), ``commands`` (a start's words and
environment), ``programs`` (which programs a start runs), ``flags``, ``values`` (a value in
its form), ``listeners`` (the facts) and ``configs`` (the keys of a program's own config file).

Hostile input: words and variables are counted, not trusted; a command line beyond
``MAX_WORDS`` words is read up to that point and reported once as a ``ParseError``.
"""

from __future__ import annotations

from portpolicy.apps.commands import (
    MAX_COMMAND,
    MAX_WORDS,
    EnvValue,
    Start,
    bounded,
    expand,
    parse_environment,
    split_command,
)
from portpolicy.apps.listeners import Scope, listeners, run_address
from portpolicy.apps.table import App, Socket, Table, table

__all__ = [
    "MAX_COMMAND",
    "MAX_WORDS",
    "App",
    "EnvValue",
    "Scope",
    "Socket",
    "Start",
    "Table",
    "bounded",
    "expand",
    "listeners",
    "parse_environment",
    "run_address",
    "split_command",
    "table",
]
