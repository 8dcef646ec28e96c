"""PP004 on one service binding a port twice: only where the daemon or tool refuses the repeat,
and the Listen lines a distribution's package installs (``data/packaged.yml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import Listener
from tests.helpers import run_cli, scan_tree, write_tree

DEBIAN_MAIN = (
    'ServerRoot "/etc/apache2"\n'
    "User ${APACHE_RUN_USER}\n"
    "IncludeOptional mods-enabled/*.load\n"
    "Include ports.conf\n"
    "IncludeOptional sites-enabled/*.conf\n"
)
DEFAULT_SSL = "<IfModule mod_ssl.c>\nListen 443\n<VirtualHost _default_:443>\n  SSLEngine on\n</VirtualHost>\n</IfModule>\n"
PORTS_CONF = "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n<IfModule mod_gnutls.c>\n\tListen 443\n</IfModule>\n"


def pp004(root: Path) -> list[tuple[str, int, str]]:
    return [
        (f.location.path, f.location.line, f.message) for f in scan_tree(root).findings if f.rule == "PP004"
    ]


def test_a_site_listen_meets_the_packaged_ports_conf(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/apache2/apache2.conf": DEBIAN_MAIN,
            "etc/apache2/sites-enabled/default-ssl.conf": DEFAULT_SSL,
        },
    )
    ((path, line, message),) = pp004(tmp_path)
    assert (path, line) == ("etc/apache2/sites-enabled/default-ssl.conf", 2)
    assert "packaged default the distribution installs" in message
    assert "Cannot define multiple Listeners on the same IP:port" in message
    listeners = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener)]
    packaged = [f for f in listeners if f.location.path == "etc/apache2/apache2.conf"]
    assert {f.location.line for f in packaged} == {4}  # the Include line pulls them in
    assert sorted(f.ports.start for f in packaged) == [80, 443, 443]


def test_a_tree_that_ships_its_own_ports_conf_gets_no_packaged_default(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/apache2/apache2.conf": DEBIAN_MAIN,
            "etc/apache2/ports.conf": "Listen 8080\n",
            "etc/apache2/sites-enabled/default-ssl.conf": DEFAULT_SSL,
        },
    )
    assert pp004(tmp_path) == []
    listeners = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener)]
    assert sorted(f.ports.start for f in listeners) == [443, 8080]


def test_stock_ports_conf_alternatives_are_no_repeat(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/apache2/apache2.conf": DEBIAN_MAIN, "etc/apache2/ports.conf": PORTS_CONF})
    assert pp004(tmp_path) == []


def test_rhel_ssl_conf_is_the_packaged_default_when_absent(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/httpd/conf/httpd.conf": 'ServerRoot "/etc/httpd"\nListen 80\nIncludeOptional conf.d/*.conf\n',
            "etc/httpd/conf.d/app.conf": "Listen 443 https\n<VirtualHost *:443>\n</VirtualHost>\n",
        },
    )
    (finding,) = pp004(tmp_path)
    assert "packaged default" in finding[2]
    write_tree(tmp_path, {"etc/httpd/conf.d/ssl.conf": "Listen 8443 https\n"})
    assert pp004(tmp_path) == []


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ("Listen 443\n", "AH00526"),  # the same address twice: refused while reading the config
        ("Listen 192.0.2.10:443\n", "AH00072"),  # a wildcard and an address: bind() fails
        ("Listen 0.0.0.0:443\n", None),  # httpd skips 0.0.0.0 beside a dual-stack [::]
        ("Listen 8443\n", None),
    ],
)
def test_apache_repeats(tmp_path: Path, second: str, expected: str | None) -> None:
    write_tree(tmp_path, {"etc/httpd/conf/httpd.conf": "Listen 443\n", "etc/httpd/conf.d/more.conf": second})
    found = pp004(tmp_path)
    assert [expected in m for _, _, m in found] == ([True] if expected else [])


def test_haproxy_two_frontends_on_one_address(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "haproxy.cfg": "global\n    user haproxy\n\nfrontend web\n    bind :8080\n\n"
            "frontend admin\n    bind :8080\n\nfrontend tls\n    bind :80\n    bind :443\n"
        },
    )
    ((path, line, message),) = pp004(tmp_path)
    assert (path, line) == ("haproxy.cfg", 8)
    assert "SO_REUSEPORT" in message and "cannot bind socket" in message


def test_haproxy_one_frontend_two_ports_is_no_repeat(tmp_path: Path) -> None:
    write_tree(tmp_path, {"haproxy.cfg": "frontend tls\n    bind :80\n    bind :443\n    bind :80\n"})
    assert pp004(tmp_path) == []


def test_compose_one_service_publishing_a_host_port_twice(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  mq:\n    image: rabbitmq:3\n    ports:\n      - '5672:5672'\n      - '5672:15672'\n"
        },
    )
    ((_, line, message),) = pp004(tmp_path)
    assert line == 6 and "port is already allocated" in message


def test_systemd_two_sockets_on_one_port(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/systemd/system/a.socket": "[Socket]\nListenStream=9000\n",
            "etc/systemd/system/b.socket": "[Socket]\nListenStream=9000\n",
        },
    )
    ((path, _, message),) = pp004(tmp_path)
    assert path == "etc/systemd/system/b.socket" and "Address already in use" in message


def test_nginx_listen_80_in_two_servers_is_no_repeat(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/conf.d/sites.conf": "server { listen 80; server_name a; }\nserver { listen 80; server_name b; }\n"
        },
    )
    assert pp004(tmp_path) == []


def test_cli_reports_the_packaged_repeat(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"etc/apache2/apache2.conf": DEBIAN_MAIN, "etc/apache2/sites-enabled/extra.conf": "Listen 80\n"},
    )
    done = run_cli("check", "--no-config", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "etc/apache2/sites-enabled/extra.conf:1:1: PP004" in done.stdout
    assert "packaged default" in done.stdout
