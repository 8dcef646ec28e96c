"""Later stages ask declarations, never reader names: a format's signature and a rule's file say
everything the hosts stage, the placement stage and the live audit need of them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portpolicy import hosts, live, live_audit, signatures
from portpolicy.config import Config
from tests.helpers import FIXTURES

LIVE_HOST = FIXTURES / "live" / "host"


def _with(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """Every signature, the systemd one declared otherwise."""
    every = tuple(
        replace(s, **changes) if s.name == "systemd" else s  # type: ignore[arg-type]
        for s in signatures.all_signatures()
    )
    monkeypatch.setattr(signatures, "all_signatures", lambda: every)


def test_scope_follows_the_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hosts.scope_of("units/web.service.d/x.conf", "systemd", Config())[0] == "units"
    assert hosts.scope_of("units/app.socket", "systemd", Config())[0] == "units"
    _with(monkeypatch, drop_in_folders=(), scope="project", project_files=frozenset({"app.socket"}))
    assert hosts.scope_of("units/web.service.d/x.conf", "systemd", Config())[0] == (
        "units/web.service.d/x.conf"
    )
    name, reason, _ = hosts.scope_of("units/app.socket", "systemd", Config())
    assert (name, reason) == ("units", "systemd project in units")


def _live_rule(tmp_path: Path, live_sockets: bool) -> Config:
    """A rule on the live host's SO_REUSEPORT socket (port 45000), judging live sockets or not."""
    (tmp_path / "ACME001.yml").write_text(
        f"""id: ACME001
name: port-45000
severity: warning
summary: Port 45000.
rationale: A test.
remediation: None.
live_sockets: {str(live_sockets).lower()}
match:
  fact: listener
  where: {{field: ports, op: overlaps, value: 45000}}
report:
  message: "{{service}} listens on 45000"
"""
    )
    return Config(rules_dirs=(str(tmp_path),), select=("ACME",))


@pytest.mark.parametrize("live_sockets", [True, False])
def test_a_rule_says_whether_live_sockets_count(tmp_path: Path, live_sockets: bool) -> None:
    facts = live.gather(str(LIVE_HOST), byteorder="little")
    report = live_audit.audit(facts, "web1", _live_rule(tmp_path, live_sockets))
    assert [f.rule for f in report.findings] == (["ACME001"] if live_sockets else [])


def test_only_conflicts_and_root_not_needed_ignore_live_sockets() -> None:
    """PP004: bound sockets coexist; PP012: a socket's owner created it, it need not serve it."""
    from portpolicy import engine

    assert [r.id for r in engine.load_rules() if not r.live_sockets] == ["PP004", "PP012"]
