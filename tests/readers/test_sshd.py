"""Tests for the sshd reader: Port, ListenAddress forms, Match, defaults; ssh_config is never read."""

from __future__ import annotations

import pytest

from portpolicy.model import InvalidPort, Listener, ParseError, Unresolved
from portpolicy.readers import sshd
from portpolicy.readers.base import Source
from portpolicy.signatures import sshd as signature
from tests.helpers import FIXTURES, scan_tree

SSHD = FIXTURES / "sshd"


def listeners(facts: list[object]) -> list[tuple[int, str]]:
    return [(f.ports.start, str(f.address)) for f in facts if isinstance(f, Listener)]


def read(text: str, path: str = "etc/ssh/sshd_config") -> list[object]:
    return list(sshd.read(Source(path, text + "PermitRootLogin no\n")))


def test_hardened_tree() -> None:
    report = scan_tree(SSHD / "hardened")
    assert listeners(report.facts) == [
        (22, "0.0.0.0"),
        (2222, "0.0.0.0"),
        (2200, "[::1]"),
        (22022, "192.0.2.10"),
        (8022, "*"),
    ]
    assert [f.rule for f in report.findings] == ["PP000"]  # Port inside Match: sshd refuses to start
    assert all(f.bound_by == "root-master" for f in report.facts if isinstance(f, Listener))


def test_client_config_is_never_read() -> None:
    assert not signature.SIGNATURE.named("etc/ssh/ssh_config")
    assert scan_tree(SSHD / "client").facts == []


def test_default_port_22_only_without_includes() -> None:
    assert listeners(read("")) == [(22, "*")]
    assert listeners(read("Include /etc/ssh/sshd_config.d/*.conf\n")) == []
    assert listeners(read("ListenAddress 10.0.0.1\nPort 2222\n")) == [(2222, "10.0.0.1")]


@pytest.mark.parametrize("value", ["0", "70000", "ssh"])
def test_bad_ports_are_pp005(value: str) -> None:
    assert [type(f) for f in read(f"Port {value}\n")] == [InvalidPort]


def test_keyword_forms_and_templates() -> None:
    assert listeners(read("port=2022\nLISTENADDRESS [::]:2023\n")) == [(2023, "[::]")]
    facts = read("Port {{ ssh_port }}\n", "templates/sshd_config.j2")
    assert [type(f) for f in facts] == [Unresolved]
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["{{ ssh_port }}"]


def test_match_all_is_silent_other_match_is_an_error() -> None:
    assert [type(f) for f in read("Port 22\nMatch all\nPort 23\n")] == [Listener]
    assert [type(f) for f in read("Port 22\nMatch User git\nPort 23\n")] == [ParseError, Listener]


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("etc/ssh/sshd_config", True),
        ("etc/ssh/sshd_config.d/50-cloud-init.conf", True),
        ("roles/ssh/templates/opensshd.conf.j2", True),
        ("etc/ssh/ssh_config", False),
        ("etc/ssh/ssh_config.d/10-proxy.conf", False),
        ("etc/fail2ban/jail.d/sshd.local", False),
    ],
)
def test_named(path: str, claimed: bool) -> None:
    assert signature.SIGNATURE.named(path) is claimed


def test_fail2ban_sshd_conf_is_not_read_as_sshd() -> None:
    assert read_raw("etc/fail2ban/filter.d/sshd.conf", "[Definition]\nport = ssh\n") == []


def read_raw(path: str, text: str) -> list[object]:
    return list(sshd.read(Source(path, text)))


@pytest.mark.parametrize("value", ["<ssh-port>", "__SSH_PORT__", "@SSH_PORT@"])
def test_placeholders_left_for_a_human_or_sed_are_unresolved_not_invalid(value: str) -> None:
    from portpolicy.model import InvalidPort, Unresolved
    from portpolicy.readers import sshd
    from portpolicy.readers.base import Source

    facts = list(sshd.read(Source("etc/ssh/sshd_config", f"Port {value}\n")))
    assert not [f for f in facts if isinstance(f, InvalidPort)]
    assert [f.value for f in facts if isinstance(f, Unresolved)] == [value]


def test_erb_template_values_are_unresolved_not_invalid() -> None:
    """Chef's ``opensshd.conf.erb`` (dev-sec/chef-ssh-hardening): ``Port <%= ssh_port %>`` is no bad port."""
    facts = list(
        sshd.read(Source("templates/default/opensshd.conf.erb", "Port <%= ssh_port %>\nPermitRootLogin no\n"))
    )
    assert [type(f) for f in facts] == [Unresolved]
