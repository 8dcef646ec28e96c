"""Built-in default ports (data/apps.yml): assumed only where the program starts, and only when
nothing on its command line or in its environment names the port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portpolicy import apps
from portpolicy.model import Listener, Location, RunAs
from portpolicy.readers import daemons
from tests.helpers import scan_tree, write_tree

APPS_YML = Path(apps.__file__).parent.parent / "data" / "apps.yml"


def _started(command: str, user: str = "svc") -> list[Listener]:
    facts = daemons.exec_listeners(command, Location("x.service", 5, 11), "x.service", RunAs(user=user), ())
    return [f for f in facts if isinstance(f, Listener)]


def _defaults() -> list[tuple[str, str, int, str]]:
    """(program, ExecStart=, first default port, protocol) for every entry with a default that
    no config reader owns (those are checked through their config file)."""
    rows = []
    for app in apps.table().apps:
        socket = next((s for s in app.sockets if s.default and not s.when), None)
        if socket is None or app.config_read or app.arg_markers:
            continue
        exe, word = app.run[0]
        command = f"/usr/bin/{exe}" + (f" {word}" if word else "")
        port = int(socket.default.rpartition(":")[2])
        rows.append((app.name, command, port, socket.protocols[0]))
    return rows


@pytest.mark.parametrize(("program", "command", "port", "protocol"), _defaults(), ids=lambda v: str(v))
def test_each_program_started_by_a_unit_binds_its_default(
    program: str, command: str, port: int, protocol: str
) -> None:
    found = [(ln.protocol, ln.ports.start, ln.program) for ln in _started(command)]
    assert (protocol, port, program) in found
    origin = next(ln.port_origin for ln in _started(command) if ln.ports.start == port)
    assert origin.startswith(f"port {port}: {program}'s built-in default")


def test_the_table_covers_forty_programs_and_cites_a_source_for_each() -> None:
    text = APPS_YML.read_text(encoding="utf-8")
    body = text[text.index("\napps:\n") :]
    entries = re.split(r"\n[ \t]*\n", body)  # entries are blank-line separated, comments first
    names = re.findall(r"(?m)^  ([A-Za-z0-9_.-]+):$", body)
    assert len(names) >= 40
    for name in names:
        block = next(e for e in entries if re.search(rf"(?m)^  {re.escape(name)}:$", e))
        assert re.search(r"(?m)^  # https?://", block), f"{name} cites no source"


def test_rsync_binds_873_only_as_a_daemon() -> None:
    assert [ln.ports.start for ln in _started("/usr/bin/rsync --daemon --no-detach")] == [873]
    assert _started("/usr/bin/rsync -a /srv/ backup:/srv/") == []


def test_kubelet_and_kube_proxy_defaults_and_addresses() -> None:
    kubelet = {(ln.ports.start, str(ln.address)) for ln in _started("/usr/bin/kubelet --v=2")}
    assert kubelet == {(10250, "*"), (10248, "127.0.0.1")}
    proxy = {(ln.ports.start, str(ln.address)) for ln in _started("/usr/local/bin/kube-proxy --v=2")}
    assert proxy == {(10249, "127.0.0.1"), (10256, "0.0.0.0")}
    # a config file on the command line decides: nothing is assumed
    assert _started("/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml") == []


def test_a_flag_that_names_the_port_replaces_the_default() -> None:
    found = _started("/usr/local/bin/node_exporter --web.listen-address=:9200")
    assert [(ln.ports.start, ln.port_origin) for ln in found] == [
        (9200, "port 9200: --web.listen-address on the command line")
    ]


def test_a_variable_the_scan_cannot_see_may_name_the_port() -> None:
    assert _started("/usr/local/bin/node_exporter $OPTIONS") == []


def test_root_dns_resolver_is_granted_and_a_user_without_capability_is_not(tmp_path: Path) -> None:
    unit = "[Service]\nExecStart=/usr/sbin/unbound -d -p\n"
    write_tree(tmp_path / "root", {"etc/systemd/system/unbound.service": unit})
    assert [f.rule for f in scan_tree(tmp_path / "root").findings] == []
    write_tree(
        tmp_path / "user", {"etc/systemd/system/unbound.service": "[Service]\nUser=unbound\n" + unit[10:]}
    )
    findings = scan_tree(tmp_path / "user").findings
    assert [f.rule for f in findings] == ["PP001"]
    assert "tcp/53" in findings[0].message


def test_a_unit_the_socket_unit_activates_binds_no_default(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/systemd/system/node_exporter.service": (
                "[Service]\nExecStart=/usr/sbin/node_exporter --web.systemd-socket\n"
            ),
            "etc/systemd/system/node_exporter.socket": "[Socket]\nListenStream=9100\n",
        },
    )
    listeners = [f for f in scan_tree(tmp_path, select=["PP012"]).facts if isinstance(f, Listener)]
    assert [(ln.service, ln.bound_by) for ln in listeners] == [
        ("node_exporter.service (node_exporter.socket)", "systemd")
    ]


def test_pp012_says_the_default_and_the_user_to_run_as(tmp_path: Path) -> None:
    unit = "[Service]\nExecStart=/usr/local/bin/node_exporter --collector.systemd\n"
    write_tree(tmp_path, {"etc/systemd/system/node_exporter.service": unit})
    findings = scan_tree(tmp_path).findings
    assert [f.rule for f in findings] == ["PP012"]
    message = findings[0].message
    assert "port 9100: node_exporter's built-in default" in message
    assert "`User=node_exporter`, or `DynamicUser=yes`" in message


def test_an_image_default_runs_its_program_and_a_program_started_nowhere_binds_nothing(
    tmp_path: Path,
) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n"
                "  metrics:\n    image: prom/prometheus:v2.53.0\n    user: nobody\n"
                "  app:\n    image: registry.example.com/app:1\n"
                "  backup:\n    image: instrumentisto/rsync-ssh\n    command: rsync -a /data/ backup:/data/\n"
            )
        },
    )
    listeners = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener)]
    assert [(ln.service, ln.ports.start, ln.program) for ln in listeners] == [("metrics", 9090, "prometheus")]
