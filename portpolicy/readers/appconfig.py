"""Programs' own config files (``data/apps.yml`` ``config``): the keys that set their ports.

Which program reads a file is its name's (``signatures.appconfig``: the name it is deployed
under counts, so ``COPY dns.conf /etc/unbound/unbound.conf`` is Unbound's); its format is the
table's, or its suffix's where the program reads several (Traefik's YAML or TOML). The
keys, forms and bounds are ``portpolicy.apps.configs``'; the listeners it yields carry the
program but no user: ``apps.join`` gives them the process that reads the file, on the host
or in the container the file is deployed to (``placement``: role ``daemon``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from portpolicy.model import Fact
from portpolicy.readers.base import Source
from portpolicy.signatures import appconfig as signature

NAME = "appconfig"


def read(source: Source) -> Iterator[Fact]:
    """The sockets one program config file opens; never raises."""
    from portpolicy.apps import configs, table

    program = signature.program_of(source.name_path)
    app = next((a for a in table().apps if a.name == program), None)
    if app is None:
        return
    yield from configs.config_listeners(app, source, configs.format_of(app, source.name_path))


def claims(docs: list[Any]) -> bool:
    """Never by content alone: a YAML file is a program's config by its name (``signatures.appconfig``)."""
    return False


def read_yaml(source: Source, docs: list[Any]) -> Iterator[Fact]:
    """A YAML file claimed by its name: read as text (the table's keys, not the composed documents)."""
    return read(source)
