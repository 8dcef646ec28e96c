"""Tests for the HAProxy reader: bind address lists, ranges, prefixes, sections."""

from __future__ import annotations

import pytest

from portpolicy.model import InvalidPort, Listener, Unresolved
from portpolicy.readers import haproxy
from portpolicy.readers.base import Source
from portpolicy.signatures import haproxy as signature
from tests.helpers import FIXTURES, scan_tree


def test_bind_forms() -> None:
    report = scan_tree(FIXTURES / "haproxy" / "lb")
    got = [(f.protocol, str(f.ports), str(f.address)) for f in report.facts if isinstance(f, Listener)]
    assert got == [
        ("tcp", "9999", "127.0.0.1"),  # stats socket ipv4@...
        ("tcp", "80", "0.0.0.0"),
        ("tcp", "443", "0.0.0.0"),
        ("tcp", "8080", "*"),  # :::80 v4v6
        ("tcp", "8081", "0.0.0.0"),
        ("tcp", "10080", "10.0.0.1"),
        ("tcp", "10443", "10.0.0.1"),
        ("tcp", "2000-2100", "127.0.0.1"),
        ("udp", "443", "0.0.0.0"),  # quic4@
        ("tcp", "9000", "${FRONT_ADDR}"),  # an address HAProxy takes from its environment: port known
    ]
    assert [f.value for f in report.facts if isinstance(f, Unresolved)] == []
    assert [f.value for f in report.facts if isinstance(f, InvalidPort)] == ["70000"]
    assert [f.rule for f in report.findings] == ["PP005"]
    listener = next(f for f in report.facts if isinstance(f, Listener))
    assert listener.bound_by == "root-master" and "user haproxy" in listener.evidence[0].message


def test_backend_servers_and_commented_binds_are_not_listeners() -> None:
    text = "frontend f\n  # bind :81\n  default_backend b\nbackend b\n  server s1 10.0.0.1:80\n  bind :82\n"
    assert list(haproxy.read(Source("haproxy.cfg", text))) == []


def test_ipv6_only_and_missing_port() -> None:
    facts = list(haproxy.read(Source("haproxy.cfg", "listen l\n  bind :::443 v6only\n  bind 10.0.0.1\n")))
    assert [str(f.address) for f in facts if isinstance(f, Listener)] == ["[::]"]
    assert [type(f) for f in facts if not isinstance(f, Listener)] == [InvalidPort]


def test_named_and_non_haproxy_cfg() -> None:
    assert signature.SIGNATURE.named("etc/haproxy/haproxy.cfg")
    assert signature.SIGNATURE.named("roles/lb/templates/haproxy.cfg.j2")
    assert not signature.SIGNATURE.named("setup.cfg")
    assert list(haproxy.read(Source("haproxy/tox.cfg", "[tox]\nenvlist = py3\n"))) == []


def test_jinja_expression_is_one_unresolved_value() -> None:
    text = "frontend f\n  bind {{ lb_address }}:{{ lb_port }} ssl\n"
    facts = list(haproxy.read(Source("templates/haproxy.cfg.j2", text)))
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["{{ lb_address }}:{{ lb_port }}"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("frontend web\n    bind\n", "'bind' without an address"),
        ('frontend web\n    bind "*:80\n    default_backend app\n', "unmatched quote"),
    ],
)
def test_malformed_config_is_a_parse_error_never_a_traceback(text: str, why: str) -> None:
    from portpolicy.model import ParseError
    from portpolicy.readers import haproxy
    from portpolicy.readers.base import Source

    facts = list(haproxy.read(Source("etc/haproxy/haproxy.cfg", "global\n    user haproxy\n" + text)))
    assert [type(f) for f in facts] == [ParseError] and why in facts[0].message
    assert facts[0].location.line == 4
