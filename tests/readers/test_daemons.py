"""Tests for the table-driven daemon reader and the ExecStart flag table used by systemd."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import InvalidPort, Listener, Unresolved
from portpolicy.readers import daemons
from portpolicy.readers.base import Source
from portpolicy.signatures import daemons as signature
from tests.helpers import FIXTURES, scan_tree, write_tree

DAEMONS = FIXTURES / "daemons"


def listeners(facts: list[object]) -> list[tuple[str, int, str, str | None]]:
    return [
        (f.service, f.ports.start, str(f.address), f.run_as.user) for f in facts if isinstance(f, Listener)
    ]


def read(path: str, text: str) -> list[object]:
    return list(daemons.read(Source(path, text)))


def test_database_tree() -> None:
    report = scan_tree(DAEMONS / "db")
    assert sorted(listeners(report.facts)) == [
        ("cups", 631, "localhost", None),
        ("mysql", 3306, "127.0.0.1", "mysql"),
        ("mysql", 33060, "127.0.0.1", "mysql"),
        ("postgresql", 5433, "192.0.2.5", "postgres"),
        ("postgresql", 5433, "localhost", "postgres"),
        ("redis", 6379, "127.0.0.1", "redis"),
        ("redis", 6379, "[::1]", "redis"),
    ]
    # [client] port 3307 and [mysql] port 4406 are client settings; redis tls-port 0 is off.
    assert [f.rule for f in report.findings] == ["PP002"]  # mysqlx 33060 in the ephemeral range


def test_postgres_on_port_80_is_pp001(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/postgresql/16/main/postgresql.conf": "port = 80\n"})
    findings = scan_tree(tmp_path).findings
    assert [f.rule for f in findings] == ["PP001"]
    assert "postgres" in findings[0].message


def test_redis_port_0_is_no_listener_postgres_port_0_is_invalid() -> None:
    assert read("redis.conf", "port 0\n") == []
    assert [type(f) for f in read("postgresql.conf", "port = 0\n")] == [InvalidPort]
    assert [type(f) for f in read("my.cnf", "[mysqld]\nport = 70000\n")] == [InvalidPort]


def test_last_value_wins_and_comments_are_ignored() -> None:
    text = "port = 5432\n#port = 80\nport = 5433  # restart needed\nlisten_addresses = ''\n"
    assert read("postgresql.conf", text) == []  # listen_addresses '' : no TCP socket at all
    assert listeners(read("postgresql.conf", text.replace("''", "'*'"))) == [
        ("postgresql", 5433, "*", "postgres")
    ]


def test_mysql_sections_user_and_skip_networking() -> None:
    assert listeners(read("my.cnf", "[mysqld]\nuser=root\nport=3306\n")) == [("mysql", 3306, "*", "root")]
    assert read("my.cnf", "[mysqld]\nskip-networking\nport=3306\n") == []
    assert read("my.cnf", "[client]\nport=3306\n[mysqldump]\nport=3307\n") == []
    assert len(listeners(read("etc/mysql/mariadb.conf.d/50-server.cnf", "[mariadb]\nport = 3306\n"))) == 1


def test_templates_are_unresolved() -> None:
    facts = read("templates/redis.conf.j2", "port {{ redis_port }}\n")
    assert [type(f) for f in facts] == [Unresolved]


def test_exporter_flags_in_units() -> None:
    report = scan_tree(DAEMONS / "exporters", select=["PP001", "PP002", "PP004", "PP012"])
    assert sorted(listeners(report.facts)) == [
        ("alertmanager.service", 9093, "127.0.0.1", "alertmanager"),
        ("legacy-exporter.service", 9400, "0.0.0.0", "root"),
        ("node_exporter.service", 9100, "*", "node_exporter"),
    ]
    assert [f.value for f in report.facts if isinstance(f, Unresolved)] == ["${LISTEN}"]
    assert [(f.rule, f.location.path.rsplit("/", 1)[-1]) for f in report.findings] == [
        ("PP012", "legacy-exporter.service")
    ]


def test_flag_value_forms() -> None:
    from portpolicy.model import Location, RunAs

    where = Location("x.service", 3)

    def run(command: str) -> list[object]:
        return list(daemons.exec_listeners(command, where, "x.service", RunAs(user="x"), ()))

    assert [
        str(f.address) for f in run("/bin/x --web.listen-address=[::1]:9100") if isinstance(f, Listener)
    ] == ["[::1]"]
    assert [f.protocol for f in run("/bin/am --cluster.listen-address=0.0.0.0:9094")] == ["tcp", "udp"]
    assert run("/bin/am --cluster.listen-address=''") == []
    assert run("/bin/x --web.listen-address=:0") == []
    assert [type(f) for f in run("/bin/x --web.listen-address=9100")] == [InvalidPort]
    assert [type(f) for f in run("/bin/x --listen-address=%i")] == [Unresolved]
    assert run("/bin/x --web.listen-addresses=:9100 --no-listen-address") == []


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("etc/postgresql/16/main/postgresql.conf", True),
        ("etc/redis/redis.conf", True),
        ("etc/redis/sentinel.conf", True),
        ("etc/mysql/my.cnf", True),
        ("etc/mysql/conf.d/tuning.cnf", True),
        ("etc/cups/cupsd.conf", True),
        ("roles/db/templates/postgresql.conf.j2", True),
        ("etc/cups/printers.conf", False),
        ("home/u/.my.cnf", False),
        ("app/settings.conf", False),
    ],
)
def test_named(path: str, claimed: bool) -> None:
    assert signature.SIGNATURE.named(path) is claimed


@pytest.mark.parametrize(
    ("path", "text", "line", "why"),
    [
        (
            "etc/postgresql/16/main/postgresql.conf",
            "listen_addresses = '*'\nport = '5432\n",
            2,
            "unbalanced quotes",
        ),
        ("etc/redis/redis.conf", 'bind 127.0.0.1\nport "6379\n', 2, "unbalanced quotes"),
        ("etc/mysql/my.cnf", "[client]\nport = 3306\n[mysqld\nport = 3306\n", 3, "never closes"),
    ],
)
def test_malformed_config_is_a_parse_error_never_a_traceback(
    path: str, text: str, line: int, why: str
) -> None:
    from portpolicy.model import ParseError
    from portpolicy.readers import daemons
    from portpolicy.readers.base import Source

    facts = list(daemons.read(Source(path, text)))
    assert [type(f) for f in facts] == [ParseError] and why in facts[0].message
    assert facts[0].location.line == line
