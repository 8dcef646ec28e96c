"""The static format table (``portpolicy.signatures``) and the readers agree, entry for entry.

A reader that exists without a signature is never chosen; a signature whose module is not
a reader of the same name would fail at the first file it claims. Both are caught here,
not by a user's scan.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import portpolicy.readers
from portpolicy import recognise, signatures

READER_MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(portpolicy.readers.__path__)
    if hasattr(importlib.import_module(f"portpolicy.readers.{m.name}"), "NAME")
    and hasattr(importlib.import_module(f"portpolicy.readers.{m.name}"), "read")
)


def test_every_reader_has_exactly_one_signature() -> None:
    modules = [s.module for s in signatures.all_signatures()]
    assert len(modules) == len(set(modules))
    assert sorted(m.rsplit(".", 1)[-1] for m in modules) == READER_MODULES


def test_order_names_every_signature_module() -> None:
    found = sorted(m.name for m in pkgutil.iter_modules(signatures.__path__))
    assert sorted(signatures.ORDER) == found


@pytest.mark.parametrize("signature", signatures.all_signatures(), ids=lambda s: s.name)
def test_signature_matches_its_reader(signature: signatures.Signature) -> None:
    reader = signatures.reader(signature)
    assert signature.name == reader.NAME
    assert callable(reader.read)
    if signature.yaml:
        assert callable(reader.claims) and callable(reader.read_yaml)
    assert signature.title.startswith(("a ", "an "))


def test_never_config_types_are_not_opened() -> None:
    assert recognise.never_config("src/app.py")
    assert recognise.never_config("docs/README.md")
    assert recognise.never_config("LICENSES/Containerfile.license")
    assert not recognise.never_config("conf/site.conf")
    assert not recognise.never_config("Dockerfile")
    assert not recognise.never_config(".env")
    assert not recognise.never_config("roles/web/templates/vhost.j2")
