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


NGINX_SITES = "etc/nginx/conf.d/sites.conf"


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        # nginx merges servers on one address:port; one of them may carry the socket options
        ("server { listen 80 reuseport; server_name a; }\nserver { listen 80; server_name b; }\n", None),
        # ssl on one of them only: nginx warns ("protocol options redefined") and starts
        ("server { listen 443 ssl; server_name a; }\nserver { listen 443; server_name b; }\n", None),
        ("server { listen 80 default_server; }\nserver { listen 127.0.0.1:80 default_server; }\n", None),
        ("server { listen 80 default_server; }\nserver { listen [::]:80 default_server; }\n", None),
        ("server { listen 80 default_server; }\nserver { listen 80 quic default_server; }\n", None),
        (
            "server { listen 80 backlog=511; server_name a; }\nserver { listen 80 backlog=1024; server_name b; }\n",
            "duplicate listen options for 0.0.0.0:80",
        ),
        (
            "server { listen 80 reuseport; server_name a; }\nserver { listen 80 reuseport; server_name b; }\n",
            "duplicate listen options for 0.0.0.0:80",
        ),
        ("server {\n    listen 8080;\n    listen 8080 ssl;\n}\n", "a duplicate listen 0.0.0.0:8080"),
        (
            "server { listen [::]:80 default_server; }\nserver { listen [::]:80 default_server; }\n",
            "a duplicate default server for [::]:80",
        ),
    ],
)
def test_nginx_repeats(tmp_path: Path, sites: str, expected: str | None) -> None:
    write_tree(tmp_path, {NGINX_SITES: sites})
    found = pp004(tmp_path)
    assert [f"[emerg] {expected}" in m for _, _, m in found] == ([True] if expected else [])


def test_nginx_two_default_servers_in_two_files(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/conf.d/a.conf": "server {\n    listen 80 default_server;\n    return 444;\n}\n",
            "etc/nginx/conf.d/b.conf": "server {\n    server_name b.example;\n    listen 80 default_server;\n}\n",
        },
    )
    ((path, line, message),) = pp004(tmp_path)
    assert (path, line) == ("etc/nginx/conf.d/b.conf", 3)
    assert "`[emerg] a duplicate default server for 0.0.0.0:80`" in message
    (listener,) = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener) and f.location.line == 3]
    assert listener.refuses_repeat
    assert any(e.location.path == "etc/nginx/conf.d/a.conf" for e in listener.evidence)


def test_nginx_repeats_through_includes_of_one_main_config(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/nginx.conf": "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n",
            "etc/nginx/sites-enabled/default": "server {\n    listen 80 default_server;\n}\n",
            "etc/nginx/sites-enabled/app": "server {\n    listen 80 default_server;\n    server_name app;\n}\n",
        },
    )
    ((path, line, _),) = pp004(tmp_path)
    assert (path, line) == ("etc/nginx/sites-enabled/default", 2)  # walked second: "app" sorts first


def test_nginx_configs_of_unrelated_folders_are_not_compared(tmp_path: Path) -> None:
    """Two example sites in separate folders that no main config includes together."""
    site = "server {\n    listen 80 default_server;\n}\n"
    write_tree(tmp_path, {"examples/one/site.conf": site, "examples/two/site.conf": site})
    assert pp004(tmp_path) == []


def test_nginx_mail_refuses_any_second_listen(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/nginx/nginx.conf": "events {}\nmail {\n    server { listen 25; protocol smtp; }\n"
            "    server { listen 25; protocol smtp; }\n}\n"
        },
    )
    ((_, line, message),) = pp004(tmp_path)
    assert line == 4 and 'duplicate "0.0.0.0:25" address and port pair' in message


@pytest.mark.parametrize(
    ("socket", "expected"),
    [
        ("ListenStream=9000\nListenStream=9000\n", 1),
        ("ListenStream=9000\nListenStream=[::]:9000\n", 1),  # the same dual-stack wildcard
        ("ListenStream=9000\nListenStream=127.0.0.1:9000\n", 1),  # the wildcard overlaps it
        ("ListenStream=9000\nListenStream=9000\nReusePort=yes\n", 0),  # SO_REUSEPORT, one user
        ("ListenDatagram=9000\nListenDatagram=9000\n", 0),  # UDP with SO_REUSEADDR on both binds
        ("ListenStream=9000\nListenDatagram=9000\n", 0),  # TCP and UDP
        ("BindIPv6Only=ipv6-only\nListenStream=9000\nListenStream=0.0.0.0:9000\n", 0),
        ("ListenStream=9000\nListenStream=\nListenStream=9000\n", 0),  # the empty line resets the list
    ],
)
def test_systemd_one_socket_unit_repeating_a_port(tmp_path: Path, socket: str, expected: int) -> None:
    write_tree(tmp_path, {"etc/systemd/system/app.socket": "[Socket]\n" + socket})
    found = pp004(tmp_path)
    assert len(found) == expected
    assert all("Address already in use" in m and "ReusePort=yes" in m for _, _, m in found)


def test_systemd_two_units_with_reuseport_share_the_port(tmp_path: Path) -> None:
    unit = "[Socket]\nListenStream=9000\nReusePort=yes\n"
    write_tree(tmp_path, {"etc/systemd/system/a.socket": unit, "etc/systemd/system/b.socket": unit})
    assert pp004(tmp_path) == []
    write_tree(tmp_path, {"etc/systemd/system/b.socket": "[Socket]\nListenStream=9000\n"})
    ((path, _, message),) = pp004(tmp_path)  # SO_REUSEPORT must be set on both
    assert path == "etc/systemd/system/b.socket" and "Address already in use" in message


def test_systemd_two_units_on_one_udp_port(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/systemd/system/a.socket": "[Socket]\nListenDatagram=5353\n",
            "etc/systemd/system/b.socket": "[Socket]\nListenDatagram=5353\n",
        },
    )
    ((path, _, message),) = pp004(tmp_path)
    assert path == "etc/systemd/system/b.socket"
    assert "both sockets bind" in message and "EADDRINUSE" not in message
