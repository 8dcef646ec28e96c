"""Tests for the Apache httpd reader: Listen forms, sections, Define, VirtualHost is no listener."""

from __future__ import annotations

import pytest

from portpolicy.model import InvalidPort, Listener, ParseError, Unresolved
from portpolicy.readers import apache
from portpolicy.readers.base import Source
from portpolicy.signatures import apache as signature
from tests.helpers import FIXTURES, scan_tree

APACHE = FIXTURES / "apache"


def listeners(facts: list[object]) -> list[tuple[int, str]]:
    return [(f.ports.start, str(f.address)) for f in facts if isinstance(f, Listener)]


def test_debian_ports_conf_and_virtual_hosts() -> None:
    report = scan_tree(APACHE / "debian")
    # Listen 80 plus Listen 443 inside <IfModule>; <VirtualHost *:80> adds nothing.
    assert listeners(report.facts) == [(80, "*"), (443, "*"), (443, "*")]
    assert all(
        f.bound_by == "root-master" and f.service == "httpd" for f in report.facts if isinstance(f, Listener)
    )
    assert report.findings == []


def test_rhel_forms_defines_and_errors() -> None:
    report = scan_tree(APACHE / "rhel")
    assert listeners(report.facts) == [
        (8080, "192.0.2.1"),
        (80, "[2001:db8::a00:20ff:fea7:ccea]"),
        (8443, "*"),
        (8081, "127.0.0.1"),
    ]
    assert [f.value for f in report.facts if isinstance(f, Unresolved)] == ["${UNDEFINED_PORT}"]
    assert sorted(f.rule for f in report.findings) == ["PP000", "PP005", "PP005"]
    (listener,) = [f for f in report.facts if isinstance(f, Listener) and f.ports.start == 8081]
    assert "User apache" in listener.evidence[0].message


@pytest.mark.parametrize(
    ("value", "kind"), [("70000", InvalidPort), ("0", InvalidPort), ("${PORT}", Unresolved)]
)
def test_bad_listen_values(value: str, kind: type) -> None:
    facts = list(apache.read(Source("httpd.conf", f"Listen {value}\n")))
    assert [type(f) for f in facts] == [kind]


def test_unbalanced_sections_are_parse_errors() -> None:
    facts = list(apache.read(Source("httpd.conf", "</IfModule>\n<VirtualHost *:80>\nListen 8080\n")))
    assert [type(f) for f in facts] == [ParseError, ParseError, Listener]


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("etc/httpd/conf/httpd.conf", True),
        ("etc/apache2/ports.conf", True),
        ("etc/apache2/sites-available/example.conf", True),
        ("etc/httpd/conf.d/ssl.conf", True),
        ("roles/apache/templates/vhost.conf.j2", True),
        ("etc/nginx/conf.d/default.conf", False),
    ],
)
def test_named(path: str, claimed: bool) -> None:
    assert signature.SIGNATURE.named(path) is claimed


def test_jinja_expression_is_one_unresolved_value() -> None:
    facts = list(apache.read(Source("templates/ports.conf.j2", "Listen {{ ip }}:{{ port }}\n")))
    assert [f.value for f in facts if isinstance(f, Unresolved)] == ["{{ ip }}:{{ port }}"]
