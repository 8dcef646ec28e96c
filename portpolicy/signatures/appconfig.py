"""Recognition of programs' own config files (``data/apps.yml``, ``config.names``): by name.

These files have no content distinctive enough to claim a file of any name (a ``port: 53``
line is in a thousand YAML files), so a file is one of them only by its name or by the
path it is deployed to (``COPY x /etc/unbound/unbound.conf``, an Ansible template's
``dest``), and then only when it holds a setting. ``NAMES`` mirrors the table's
``config.names`` (``tests/test_app_configs.py`` keeps them equal) so that recognising a
file never loads the table. JSON is skipped by suffix; the JSON names here are let through
(``recognise.never_config`` asks ``skipped_type_named``), HCL too, as Docker's ``daemon.json`` is.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature, glob_test

NAMES: dict[str, str] = {
    "grafana.ini": "grafana",
    "consul.hcl": "consul",
    "consul.json": "consul",
    "consul.d/*.hcl": "consul",
    "consul.d/*.json": "consul",
    "vault.hcl": "vault",
    "vault.d/*.hcl": "vault",
    "vault.json": "vault",
    "etcd.conf.yml": "etcd",
    "etcd.conf.yaml": "etcd",
    "etcd.yml": "etcd",
    "etcd.yaml": "etcd",
    "unbound.conf": "unbound",
    "unbound.conf.d/*.conf": "unbound",
    "chrony.conf": "chronyd",
    "mongod.conf": "mongod",
    "mongod.yml": "mongod",
    "mongod.yaml": "mongod",
    "elasticsearch.yml": "elasticsearch",
    "opensearch.yml": "opensearch",
    "traefik.yml": "traefik",
    "traefik.yaml": "traefik",
    "traefik.toml": "traefik",
    "caddy.json": "caddy",
    "squid.conf": "squid",
    "appsettings.json": "kestrel",
    "appsettings.*.json": "kestrel",
    "application.properties": "spring-boot",
    "application.yml": "spring-boot",
    "application.yaml": "spring-boot",
    "patroni.yml": "patroni",
    "patroni.yaml": "patroni",
    "pgbouncer.ini": "pgbouncer",
    "envoy.yaml": "envoy",
    "envoy.yml": "envoy",
    "envoy.json": "envoy",
}
"""File name globs (``folder/name`` when the folder says it) -> the program that reads the file."""

_PATTERNS = tuple((glob_test(glob), "/" in glob, program) for glob, program in NAMES.items())
_CONTENT = lazy(r"^[ \t]*(?![#;/])\S", re.M)


def program_of(rel: str) -> str | None:
    """The program whose config ``rel`` is by its name (a ``.j2`` template counts), else None."""
    parts = rel.split("/")
    name = parts[-1].removesuffix(".j2")
    folder_name = "/".join([*parts[-2:-1], name])
    for matches, with_folder, program in _PATTERNS:
        if matches(folder_name if with_folder else name):
            return program
    return None


def named(rel: str) -> bool:
    return program_of(rel) is not None


def skipped_type_named(rel: str) -> bool:
    """A ``.json`` or ``.hcl`` file this format reads (both are otherwise skipped by their suffix)."""
    return rel.removesuffix(".j2").endswith((".json", ".hcl")) and named(rel)


def shaped(text: str) -> bool:
    """Some setting: a line that is not blank or a comment (the reader reads only the table's keys)."""
    return _CONTENT.search(text, 0, 65536) is not None


SIGNATURE = Signature(
    "appconfig",
    "portpolicy.readers.appconfig",
    "a program's own config file",
    named,
    shaped=shaped,
    yaml=True,
    comments=("#", ";", "//"),
    role="daemon",
    scope="directory",
)
