"""Tests for the nginx reader: listen forms, contexts, includes, templates, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import BindAddress, InvalidPort, Listener, ParseError, PortRange, Unresolved
from portpolicy.readers import nginx
from portpolicy.readers.base import Source
from portpolicy.signatures import nginx as signature
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree

NGINX = FIXTURES / "nginx"


def read(text: str, path: str = "etc/nginx/nginx.conf") -> list[object]:
    return list(nginx.assemble(list(nginx.read(Source(path, text)))))  # type: ignore[arg-type]


def listeners(facts: list[object]) -> list[tuple[str, int, str]]:
    return [(f.protocol, f.ports.start, str(f.address)) for f in facts if isinstance(f, Listener)]


def server(*lines: str) -> str:
    return "events {}\nhttp {\n  server {\n" + "".join(f"    {line}\n" for line in lines) + "  }\n}\n"


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("listen 80;", ("tcp", 80, "0.0.0.0")),
        ("listen 127.0.0.1:8000;", ("tcp", 8000, "127.0.0.1")),
        ("listen 127.0.0.1;", ("tcp", 80, "127.0.0.1")),
        ("listen *:8000;", ("tcp", 8000, "0.0.0.0")),
        ("listen localhost:8000;", ("tcp", 8000, "localhost")),
        ("listen [::]:80 ipv6only=on;", ("tcp", 80, "[::]")),
        ("listen [::]:80 ipv6only=off;", ("tcp", 80, "*")),
        ("listen [::1];", ("tcp", 80, "[::1]")),
        ("listen 443 ssl http2 default_server proxy_protocol backlog=511;", ("tcp", 443, "0.0.0.0")),
        ("listen 443 quic reuseport;", ("udp", 443, "0.0.0.0")),
        ("listen '8080';", ("tcp", 8080, "0.0.0.0")),
    ],
)
def test_listen_forms(listen: str, expected: tuple[str, int, str]) -> None:
    assert listeners(read(server(listen))) == [expected]


def test_listener_is_bound_by_the_root_master_with_user_as_evidence() -> None:
    facts = read("user www-data www-data;\nevents {}\nhttp { server { listen 80; } }\n")
    (listener,) = [f for f in facts if isinstance(f, Listener)]
    assert listener.service == "nginx"
    assert listener.bound_by == "root-master"
    assert listener.run_as.user is None  # the user directive names workers, not the binder
    assert listener.evidence[0].location.line == 1
    assert "www-data" in listener.evidence[0].message


def test_unix_socket_comment_and_upstream_are_no_listeners() -> None:
    text = (
        server(
            "listen unix:/run/nginx.sock;",
            "# listen 8888;",
            "location / { proxy_pass http://127.0.0.1:9000; }",
        )
        + "http { upstream app { server 127.0.0.1:9001; } }\n"
    )
    assert listeners(read(text)) == []


def test_stream_udp_and_mail_contexts() -> None:
    text = (
        "events {}\n"
        "stream { server { listen 53 udp; listen 127.0.0.1:12345; } }\n"
        "mail { server { listen 25; protocol smtp; } }\n"
    )
    assert listeners(read(text)) == [
        ("udp", 53, "0.0.0.0"),
        ("tcp", 12345, "127.0.0.1"),
        ("tcp", 25, "0.0.0.0"),
    ]


def test_stream_listen_needs_a_port() -> None:
    facts = read("stream { server { listen 127.0.0.1; } }\n")
    (bad,) = [f for f in facts if isinstance(f, InvalidPort)]
    assert "no port" in bad.reason


@pytest.mark.parametrize("value", ["70000", "0", "127.0.0.1:99999"])
def test_invalid_ports(value: str) -> None:
    facts = read(server(f"listen {value};"))
    assert [type(f) for f in facts] == [InvalidPort]


def test_variables_are_unresolved() -> None:
    facts = read(server("listen $port;", "listen ${NGINX_PORT} ssl;"))
    assert [type(f) for f in facts] == [Unresolved, Unresolved]


def test_two_virtual_hosts_on_one_port_are_not_a_conflict(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/sites-enabled/default": "server { listen 80; server_name a; }\n"
            "server { listen 80; server_name b; }\n",
            "etc/nginx/sites-enabled/other": "server { listen 80; server_name c; }\n",
            "etc/ssh/sshd_config": "Port 2222\nPermitRootLogin no\n",
        },
    )
    report = scan_tree(tmp_path)
    assert len([f for f in report.facts if isinstance(f, Listener)]) == 4
    assert report.findings == []


def test_nginx_and_another_daemon_on_one_port_conflict(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/sites-enabled/default": "server { listen 80; }\n",
            "etc/apache2/ports.conf": "Listen 80\n",
        },
    )
    assert [f.rule for f in scan_tree(tmp_path).findings] == ["PP004"]


def test_debian_tree_follows_includes_once_each() -> None:
    report = scan_tree(NGINX / "debian")
    got = sorted(
        (f.location.path, f.location.line, f.protocol, f.ports.start, str(f.address))
        for f in report.facts
        if isinstance(f, Listener)
    )
    assert got == [
        ("etc/nginx/conf.d/status.conf", 2, "tcp", 8081, "127.0.0.1"),
        ("etc/nginx/conf.d/status.conf", 3, "tcp", 8082, "localhost"),
        ("etc/nginx/nginx.conf", 28, "tcp", 1143, "127.0.0.1"),
        ("etc/nginx/sites-available/default", 2, "tcp", 80, "0.0.0.0"),
        ("etc/nginx/sites-enabled/default", 3, "tcp", 80, "0.0.0.0"),
        ("etc/nginx/sites-enabled/default", 4, "tcp", 80, "[::]"),
        ("etc/nginx/snippets/tls-listen.conf", 1, "tcp", 443, "0.0.0.0"),
        ("etc/nginx/snippets/tls-listen.conf", 2, "tcp", 443, "*"),
        ("etc/nginx/snippets/tls-listen.conf", 3, "udp", 443, "0.0.0.0"),
        ("etc/nginx/stream.d/dns.conf", 2, "udp", 53, "0.0.0.0"),
        ("etc/nginx/stream.d/dns.conf", 3, "tcp", 5353, "127.0.0.1"),
    ]
    snippet = next(f for f in report.facts if isinstance(f, Listener) and f.location.line == 1)
    messages = [e.message for e in snippet.evidence]
    assert any("www-data" in m for m in messages)
    assert "included from etc/nginx/sites-enabled/default" in messages
    assert report.findings == []


def test_include_cycle_is_bounded() -> None:
    a = nginx.read(Source("etc/nginx/nginx.conf", "events {}\nhttp { include conf.d/*.conf; }\n"))
    b = nginx.read(Source("etc/nginx/conf.d/a.conf", "include conf.d/*.conf;\nserver { listen 81; }\n"))
    facts = nginx.assemble([*a, *b])
    assert listeners(facts) == [("tcp", 81, "0.0.0.0")]


def test_ansible_template_and_envsubst_template() -> None:
    role = scan_tree(NGINX / "role")
    assert listeners(role.facts) == [("tcp", 8443, "0.0.0.0")]
    assert [f.value for f in role.unresolved] == ["{{ site.port | default(80) }}"]
    image = scan_tree(NGINX / "image")
    assert listeners(image.facts) == [("tcp", 8080, "[::]")]
    assert [f.value for f in image.unresolved] == ["${NGINX_PORT}"]


def test_broken_file_is_pp000_and_keeps_what_it_read() -> None:
    report = scan_tree(NGINX / "broken")
    assert [f.rule for f in report.findings] == ["PP000"]
    assert "unexpected end of file" in report.findings[0].message
    assert listeners(report.facts) == [("tcp", 8080, "0.0.0.0")]


@pytest.mark.parametrize(
    "text", ["}", "server { listen 80", 'server { listen "80 ; }', "events {}\n{ ; }", "a" * 5000 + "{" * 200]
)
def test_malformed_input_is_a_parse_error(text: str) -> None:
    facts = read(text, "nginx.conf")
    assert any(isinstance(f, ParseError) for f in facts)


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("etc/nginx/nginx.conf", True),
        ("docker/nginx/default.conf", True),
        ("etc/nginx/sites-enabled/example.org", True),
        ("roles/web/templates/nginx.conf.j2", True),
        ("nginx/templates/default.conf.template", True),
        ("etc/apache2/sites-enabled/000-default.conf", False),
        ("etc/systemd/system/nginx.service.d/override.conf", False),
        ("etc/redis/redis.conf", False),
    ],
)
def test_named(path: str, claimed: bool) -> None:
    assert signature.SIGNATURE.named(path) is claimed


def test_generic_conf_under_nginx_dir_that_is_not_nginx_yields_nothing(tmp_path: Path) -> None:
    assert list(nginx.read(Source("roles/nginx/files/php-fpm.conf", "[www]\nlisten = 9000\n"))) == []
    write_tree(tmp_path, {"roles/nginx/files/php-fpm.conf": "[www]\nlisten = 9000\n"})
    report = scan_tree(tmp_path)
    assert report.findings == [] and report.facts == []


def test_apache_content_in_sites_enabled_is_read_as_apache(tmp_path: Path) -> None:
    write_tree(tmp_path, {"sites-enabled/site.conf": "Listen 8080\n<VirtualHost *:8080>\n</VirtualHost>\n"})
    facts = scan_tree(tmp_path).facts
    (listener,) = [f for f in facts if isinstance(f, Listener)]
    assert isinstance(listener, Listener)
    assert (listener.service, listener.ports, listener.address) == (
        "httpd",
        PortRange(8080, 8080),
        BindAddress(),
    )


def test_cli_facts_shows_nginx_listeners() -> None:
    result = run_cli("facts", str(NGINX / "debian"))
    assert result.returncode == 0, result.stderr
    assert "nginx" in result.stdout and "root-master" in result.stdout


def test_openresty_lua_blocks_are_lua_not_nginx_syntax(tmp_path: Path) -> None:
    """``*_by_lua_block`` bodies are read by ngx_lua's own lexer: braces in Lua strings,
    long brackets and comments are not nginx blocks (ingress-nginx's e2e echo server)."""
    conf = """http {
    init_by_lua_block {
        local template = require "resty.template"
        tmpl = template.compile([[
Hostname: {*os.getenv("HOSTNAME") or "N/A"*}
{% if os.getenv("POD_NAME") then %}
    pod name: {*os.getenv("POD_NAME")*}
{% end %}
]])
        -- a comment with a } brace
        local t = { "}", '{', [=[ } ]=] }
    }
    server {
        listen 8080;
        location / {
            content_by_lua_block {
                ngx.say(tmpl({ os = os }))
            }
        }
    }
}
"""
    write_tree(tmp_path, {"etc/nginx/nginx.conf": conf})
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert [(f.ports.start, f.location.line) for f in report.facts if isinstance(f, Listener)] == [(8080, 14)]
