"""Programs' own config files (issue #25 item 2): read by key path, joined to the process that reads them."""

from __future__ import annotations

from pathlib import Path

from portpolicy.apps import table
from portpolicy.model import Listener
from portpolicy.signatures import appconfig
from tests.helpers import scan_tree, write_tree
from tests.hostile import run_bounded

UNBOUND = "server:\n  interface: 0.0.0.0@53\n  interface: ::1\n  port: 5353\n"
UNIT = "[Service]\nExecStart=/usr/sbin/unbound -d{flag}\nUser=unbound\n{extra}"


def _listeners(root: Path) -> list[Listener]:
    return [f for f in scan_tree(root).facts if isinstance(f, Listener)]


def _rules(root: Path) -> list[tuple[str, str, int]]:
    return [(f.rule, f.location.path, f.location.line) for f in scan_tree(root).findings]


def _unbound_tree(tmp_path: Path, flag: str = "", extra: str = "") -> Path:
    return write_tree(
        tmp_path,
        {
            "etc/unbound/unbound.conf": UNBOUND,
            "etc/systemd/system/unbound.service": UNIT.format(flag=flag, extra=extra),
        },
    )


def test_config_read_by_default_path_runs_as_the_units_user(tmp_path: Path) -> None:
    root = _unbound_tree(tmp_path)
    found = sorted((str(ln.ports), ln.protocol, ln.run_as.user, ln.location.line) for ln in _listeners(root))
    assert found == [
        ("53", "tcp", "unbound", 2),
        ("53", "udp", "unbound", 2),
        ("5353", "tcp", "unbound", 3),
        ("5353", "udp", "unbound", 3),
    ]
    assert ("PP001", "etc/unbound/unbound.conf", 2) in _rules(root)


def test_config_named_by_flag_joins_too(tmp_path: Path) -> None:
    root = _unbound_tree(tmp_path, flag=" -c /etc/unbound/unbound.conf")
    assert {ln.run_as.user for ln in _listeners(root)} == {"unbound"}
    assert ("PP001", "etc/unbound/unbound.conf", 2) in _rules(root)


def test_granted_capability_is_no_finding(tmp_path: Path) -> None:
    root = _unbound_tree(tmp_path, extra="AmbientCapabilities=CAP_NET_BIND_SERVICE\n")
    assert [r for r in _rules(root) if r[0] == "PP001"] == []


def test_root_unit_is_no_finding(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "etc/unbound/unbound.conf": UNBOUND,
            "etc/systemd/system/unbound.service": "[Service]\nExecStart=/usr/sbin/unbound -d\n",
        },
    )
    assert [r for r in _rules(root) if r[0] == "PP001"] == []


def test_the_config_decides_the_default_gives_way(tmp_path: Path) -> None:
    """unbound's built-in 127.0.0.1:53 is not assumed beside the config's sockets."""
    root = _unbound_tree(tmp_path)
    assert not any(ln.port_assumed for ln in _listeners(root))
    assert all("server." in ln.port_origin for ln in _listeners(root))


def test_config_with_no_process_has_no_user_and_no_verdict(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"etc/unbound/unbound.conf": UNBOUND})
    assert {ln.run_as.user for ln in _listeners(root)} == {None}
    assert [r for r in _rules(root) if r[0] == "PP001"] == []


def test_unprivileged_port_in_config_is_no_finding(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "etc/pgbouncer/pgbouncer.ini": "[pgbouncer]\nlisten_addr = *\nlisten_port = 6432\n",
            "etc/systemd/system/pgbouncer.service": (
                "[Service]\nExecStart=/usr/bin/pgbouncer /etc/pgbouncer/pgbouncer.ini\nUser=postgres\n"
            ),
        },
    )
    assert [(str(ln.ports), ln.run_as.user) for ln in _listeners(root)] == [("6432", "postgres")]
    assert [r for r in _rules(root) if r[0] == "PP001"] == []


def test_pgbouncer_without_listen_addr_has_no_tcp_socket(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"etc/pgbouncer/pgbouncer.ini": "[pgbouncer]\nlisten_port = 443\n"})
    assert _listeners(root) == []


def test_formats_and_key_paths(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "a/grafana.ini": "[server]\nhttp_addr = 127.0.0.1\nhttp_port = 80\n",
            "b/traefik.toml": '[entryPoints.web]\naddress = ":80"\n[entryPoints.websecure]\naddress = ":443"\n',
            "c/caddy.json": '{"apps": {"http": {"servers": {"s": {"listen": [":8443"]}}}}}\n',
            "d/appsettings.json": '{"Kestrel": {"Endpoints": {"Http": {"Url": "http://0.0.0.0:81"}}}}\n',
            "e/vault.hcl": 'listener "tcp" {\n  address = "0.0.0.0:8200"\n}\n',
            "f/consul.hcl": "ports {\n  http = 8501\n}\n",
            "g/mongod.conf": "net:\n  port: 27018\n  bindIp: 0.0.0.0\n",
            "h/squid.conf": "http_port 3129 intercept\n",
            "i/application.properties": "server.port=8081\n",
            "j/patroni.yml": "restapi:\n  listen: 0.0.0.0:8008\n",
            "k/envoy.yaml": (
                "static_resources:\n  listeners:\n  - address:\n      socket_address: {address: 0.0.0.0, port_value: 10000}\n"
            ),
            "l/elasticsearch.yml": "http.port: 9201\n",
            "m/etcd.conf.yml": "listen-client-urls: http://0.0.0.0:2379\n",
        },
    )
    found = {(ln.program, str(ln.ports)) for ln in _listeners(root)}
    assert found >= {
        ("grafana", "80"),
        ("traefik", "80"),
        ("traefik", "443"),
        ("caddy", "8443"),
        ("kestrel", "81"),
        ("vault", "8200"),
        ("consul", "8501"),
        ("mongod", "27018"),
        ("squid", "3129"),
        ("spring-boot", "8081"),
        ("patroni", "8008"),
        ("envoy", "10000"),
        ("elasticsearch", "9201"),
        ("etcd", "2379"),
    }


def test_config_copied_into_an_image_is_the_containers(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "dns.conf": "server:\n  interface: 0.0.0.0@53\n",
            "Dockerfile": 'FROM alpine:3.20\nCOPY dns.conf /etc/unbound/unbound.conf\nUSER unbound\nCMD ["unbound", "-d"]\n',
        },
    )
    listeners = [ln for ln in _listeners(root) if ln.program == "unbound"]
    assert {(ln.location.path, str(ln.ports), ln.run_as.user) for ln in listeners} == {
        ("dns.conf", "53", "unbound")
    }
    assert all(ln.netns != "host" for ln in listeners)


def test_names_mirror_the_table() -> None:
    from_table = {name: app.name for app in table().apps for name in app.config_names}
    assert from_table == appconfig.NAMES


def test_hostile_configs_are_bounded(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    write_tree(
        tmp_path,
        {
            "a/appsettings.json": '{"Kestrel": ' + deep + "}",
            "b/traefik.toml": "a = " + deep + "\n",
            "c/grafana.ini": "[server]\n" + "k = v\n" * 200_000,
            "d/caddy.json": "{" * 5000,
        },
    )
    run = run_bounded("check", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed
    for name in ("a/appsettings.json", "b/traefik.toml", "c/grafana.ini"):
        assert run.stdout.count(f'"{name}"') <= 1 or run.stdout.count(name) >= 1
    assert "nested deeper than 64" in run.stdout


def test_appsettings_with_comments_and_trailing_commas_is_read_as_dotnet_reads_it(tmp_path: Path) -> None:
    """.NET's configuration JSON allows ``//``/``/* */`` comments and trailing commas."""
    text = (
        "{\n"
        '  "AllowedHosts": "*", // every host\n'
        "  /* the public endpoint */\n"
        '  "Kestrel": {"Endpoints": {"Http": {"Url": "http://0.0.0.0:81",},},},\n'
        "}\n"
    )
    root = write_tree(tmp_path, {"app/appsettings.json": text})
    assert [(str(ln.ports), ln.location.line) for ln in _listeners(root)] == [("81", 4)]
    assert [r for r in _rules(root) if r[0] == "PP000"] == []
