"""The static format table (``portpolicy.signatures``) and the readers agree, entry for entry.

A reader that exists without a signature is never chosen; a signature whose module is not
a reader of the same name would fail at the first file it claims. Both are caught here,
not by a user's scan.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import portpolicy
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


def undeclared(signature: signatures.Signature) -> list[str]:
    """What ``signature`` leaves out of what the stages after reading ask of every format."""
    missing = []
    if signature.role not in signatures.ROLES:
        missing.append(f"role (one of {', '.join(signatures.ROLES)})")
    if signature.scope not in signatures.SCOPES:
        missing.append(f"scope (one of {', '.join(signatures.SCOPES)})")
    if (signature.scope == signatures.PROJECT) != bool(signature.project_files):
        missing.append("project_files, exactly when the scope is project")
    if any(not s.startswith(".") or "/" in s for s in signature.drop_in_folders):
        missing.append("drop_in_folders as folder suffixes such as '.service.d'")
    return missing


@pytest.mark.parametrize("signature", signatures.all_signatures(), ids=lambda s: s.name)
def test_signature_declares_what_later_stages_ask(signature: signatures.Signature) -> None:
    """One reader module, one signature, one ORDER entry: nothing else to remember."""
    assert undeclared(signature) == [], f"{signature.name} must declare: {'; '.join(undeclared(signature))}"


def test_a_signature_without_declarations_is_caught() -> None:
    bare = signatures.Signature("x", "portpolicy.readers.x", "an x file", lambda rel: False)
    assert [m.split(" ", 1)[0] for m in undeclared(bare)] == ["role", "scope"]
    project = signatures.Signature(
        "x", "m", "an x file", lambda rel: False, role="containers", scope="project"
    )
    assert undeclared(project) == ["project_files, exactly when the scope is project"]


LATER_STAGES = (
    "hosts",
    "placement",
    "model",
    "engine",
    "pipeline",
    "guards",
    "live_audit",
    "live",
    "suppress",
    "kernel",
)
NOT_A_READER = {
    ("hosts", "firewalld"): "a folder of the firewalld tree layout, which scopes any file in it",
    ("hosts", "systemd"): "a folder of a root filesystem (lib/systemd); the bound_by value (PID 1)",
    ("hosts", "compose"): "a Namespace.runs value: Docker Compose runs the container (not the reader)",
    ("model", "firewalld"): "a FirewallRule's firewall tool (firewall-cmd, Ansible, the XML reader set it)",
}
"""Strings equal to a reader's name that mean something else in a later stage, and why."""


def test_no_stage_after_reading_names_a_reader() -> None:
    """Later stages ask the signatures (``role``, ``scope``), so a new format needs no edit there."""
    import ast

    names = {s.name for s in signatures.all_signatures()}
    found = set()
    package = Path(portpolicy.__file__).parent
    for stage, path in [
        (name, path)
        for name in LATER_STAGES
        for path in (sorted((package / name).rglob("*.py")) or [package / f"{name}.py"])
    ]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings:
                found.add((stage, node.value))
    assert found - NOT_A_READER.keys() == set()
