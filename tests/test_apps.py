"""Flag spellings, HAProxy peers, hostile command lines and the table's lazy load (data/apps.yml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portpolicy.model import Listener, Location, ParseError, RunAs
from portpolicy.readers import daemons, haproxy
from portpolicy.readers.base import Source
from tests.helpers import scan_tree, write_tree
from tests.hostile import run_bounded
from tests.test_startup_imports import SYSCTL, modules_of_check


def _ports(command: str) -> list[tuple[str, int]]:
    facts = daemons.exec_listeners(command, Location("x.service", 5, 11), "x.service", RunAs(user="x"), ())
    return [(f.protocol, f.ports.start) for f in facts if isinstance(f, Listener)]


@pytest.mark.parametrize(
    "command",
    [
        "/usr/bin/node_exporter --web.listen-address=:9101",
        "/usr/bin/node_exporter --web.listen-address :9101",
        "/usr/bin/node_exporter -web.listen-address=:9101",
        "/usr/bin/node_exporter -web.listen-address :9101",
        "/usr/bin/node_exporter '--web.listen-address=0.0.0.0:9101'",
    ],
)
def test_go_flag_spellings(command: str) -> None:
    assert _ports(command) == [("tcp", 9101)]


@pytest.mark.parametrize(
    "command",
    [
        "/usr/bin/memcached --port=11311",
        "/usr/bin/memcached --port 11311",
        "/usr/bin/memcached -p 11311",
        "/usr/bin/memcached -p11311 -u memcache",
    ],
)
def test_port_flag_spellings(command: str) -> None:
    assert _ports(command) == [("tcp", 11311)]


def test_jvm_system_properties() -> None:
    jmx = (
        "/usr/bin/java -Dcom.sun.management.jmxremote.port=9010"
        " -Dcom.sun.management.jmxremote.rmi.port=9011 -jar /opt/kafka-ui.jar"
    )
    assert _ports(jmx) == [("tcp", 9010), ("tcp", 9011)]
    spring = "/usr/bin/java -Dserver.port=80 -jar /opt/shop/shop-spring-boot.jar"
    assert _ports(spring) == [("tcp", 80)]
    # a jar that shows no sign of Spring Boot is not given Spring's default
    assert _ports("/usr/bin/java -jar /opt/tool/tool.jar") == []
    assert _ports("/usr/bin/java -jar /opt/shop/shop-spring-boot.jar") == [("tcp", 8080)]


def test_jvm_flag_in_a_unit_is_a_privileged_port_for_its_user(tmp_path: Path) -> None:
    unit = "[Service]\nUser=shop\nExecStart=/usr/bin/java -Dserver.port={port} -jar /opt/shop/shop-spring-boot.jar\n"
    write_tree(tmp_path / "low", {"etc/systemd/system/shop.service": unit.format(port=443)})
    write_tree(tmp_path / "high", {"etc/systemd/system/shop.service": unit.format(port=8443)})
    findings = scan_tree(tmp_path / "low").findings
    assert [f.rule for f in findings] == ["PP001"] and "tcp/443" in findings[0].message
    assert scan_tree(tmp_path / "high").findings == []


HAPROXY = """\
global
    user haproxy
{localpeer}
peers cluster
    peer lb1 10.0.0.1:{port1}
    peer lb2 10.0.0.2:{port2}

frontend web
    bind :8080
"""


def _haproxy(localpeer: str = "", port1: int = 10000, port2: int = 10000) -> list[tuple[int, str, int]]:
    text = HAPROXY.format(localpeer=localpeer, port1=port1, port2=port2)
    facts = haproxy.read(Source("etc/haproxy/haproxy.cfg", text))
    return [(f.ports.start, str(f.address), f.location.line) for f in facts if isinstance(f, Listener)]


def test_haproxy_binds_the_local_peer_line() -> None:
    assert _haproxy("    localpeer lb2", 10000, 10001) == [(8080, "0.0.0.0", 9), (10001, "10.0.0.2", 6)]
    # no localpeer: the host name decides which line; the shared port is bound either way
    assert _haproxy() == [(8080, "0.0.0.0", 9), (10000, "0.0.0.0", 5)]
    # no localpeer and different ports: which one is not known
    assert _haproxy("", 10000, 10001) == [(8080, "0.0.0.0", 9)]


def test_haproxy_peer_on_an_ephemeral_port_is_pp002(tmp_path: Path) -> None:
    text = HAPROXY.format(localpeer="    localpeer lb1", port1=40000, port2=40000)
    write_tree(tmp_path, {"etc/haproxy/haproxy.cfg": text})
    assert [(f.rule, f.location.line) for f in scan_tree(tmp_path).findings] == [("PP002", 5)]


def test_ten_thousand_flags_are_bounded_and_said_once(tmp_path: Path) -> None:
    flags = " ".join(f"--collector.c{i}" for i in range(10_000))
    env = " ".join(f'"V{i}=x"' for i in range(10_000))
    unit = f"[Service]\nEnvironment={env}\nExecStart=/usr/local/bin/node_exporter {flags} --web.listen-address=:9100\n"
    compose = (
        "services:\n  exp:\n    image: prom/node-exporter\n    command: ["
        + ", ".join(f'"--c{i}"' for i in range(10_000))
        + "]\n"
    )
    write_tree(tmp_path, {"etc/systemd/system/node_exporter.service": unit, "compose.yaml": compose})
    run = run_bounded("check", "--no-config", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr
    findings = json.loads(run.stdout)["findings"]
    # one PP000 per file (the unit, the compose file); nothing assumed past the cut
    assert sorted((f["rule"], f["path"]) for f in findings) == [
        ("PP000", "compose.yaml"),
        ("PP000", "etc/systemd/system/node_exporter.service"),
    ]
    assert all("more than 2048 words" in f["message"] for f in findings)


def test_a_long_command_line_cut_keeps_what_was_read() -> None:
    flags = " ".join(f"--c{i}" for i in range(5000))
    facts = list(
        daemons.exec_listeners(
            f"/usr/bin/node_exporter --web.listen-address=:9101 {flags}",
            Location("x.service", 2),
            "x.service",
            RunAs(user="x"),
            (),
        )
    )
    assert [type(f) for f in facts].count(ParseError) == 1
    assert [f.ports.start for f in facts if isinstance(f, Listener)] == [9101]


def test_a_sysctl_check_never_loads_the_table(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/99-ports.conf": SYSCTL})
    assert "portpolicy.apps" not in modules_of_check(tmp_path, "etc/sysctl.d/99-ports.conf")


def test_a_compose_service_with_nothing_to_run_never_loads_the_table(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": 'services:\n  web:\n    build: .\n    ports: ["8080:8080"]\n'})
    assert "portpolicy.apps" not in modules_of_check(tmp_path, "compose.yaml")
