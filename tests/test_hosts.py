"""Scoping and derived facts: which host a file lands on, namespace settings, privilege verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy import hosts
from portpolicy.config import Config, HostConfig
from portpolicy.model import (
    BindAddress,
    Listener,
    Location,
    Namespace,
    PortRange,
    PortSet,
    RunAs,
    Setting,
)
from portpolicy.platforms import runtimes
from tests.helpers import scan_tree, write_tree


@pytest.mark.parametrize(
    ("path", "reader", "host"),
    [
        ("deploy/web/compose.yaml", "compose", "deploy/web"),
        ("deploy/web/docker-compose.override.yml", "compose", "deploy/web"),
        ("deploy/web/docker-compose.prod.yml", "compose", "deploy/web/docker-compose.prod.yml"),
        ("roles/tune/files/etc/sysctl.d/90.conf", "sysctl", "roles/tune/files"),
        ("etc/systemd/system/a.socket", "systemd", "."),
        ("images/base/usr/lib/systemd/system/a.socket", "systemd", "images/base"),
        ("home/bob/.config/systemd/user/a.socket", "systemd", "home/bob"),
        ("units/a.socket", "systemd", "units"),
        ("sysctl.conf", "sysctl", "."),
        # a role's firewalld tree: zones must find the service files beside them
        ("roles/fw/files/firewalld/zones/public.xml", "firewalld", "roles/fw/files/firewalld"),
        ("roles/fw/files/firewalld/services/app.xml", "firewalld", "roles/fw/files/firewalld"),
        ("srv/etc/firewalld/zones/public.xml", "firewalld", "srv"),
    ],
)
def test_default_scopes(path: str, reader: str, host: str) -> None:
    assert hosts.scope_of(path, reader, Config())[0] == host


def test_config_maps_paths_to_named_hosts(tmp_path: Path) -> None:
    config = Config(
        root=str(tmp_path), hosts=(HostConfig("web01", paths=("roles/web/**", "inventory/web01")),)
    )
    name, reason, hc = hosts.scope_of(str(tmp_path / "roles/web/files/etc/sysctl.d/1.conf"), "sysctl", config)
    assert (name, hc.name if hc else None) == ("web01", "web01")
    assert "config maps 'roles/web/**'" in reason
    assert hosts.scope_of(str(tmp_path / "inventory/web01/x.socket"), "systemd", config)[0] == "web01"


def test_named_host_joins_files_from_different_places(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "hosts:\n  web01:\n    paths: ['roles/**']\n",
            "roles/proxy/files/proxy.socket": "[Socket]\nListenStream=8080\n",
            "roles/app/files/app.socket": "[Socket]\nListenStream=0.0.0.0:8080\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [f.rule for f in report.findings] == ["PP004"]
    assert report.findings[0].host == "web01"
    # without the mapping they are two directories, two hosts, no conflict
    (tmp_path / ".portpolicy.yml").unlink()
    assert scan_tree(tmp_path).findings == []


def test_unrelated_compose_projects_never_conflict(tmp_path: Path) -> None:
    files = {
        f"examples/app{i}/compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['80:80', '8080:8080']\n"
        for i in range(20)
    }
    files.update(
        {
            f"exporters/e{i}/docker-compose.yml": (
                f"services:\n  exporter:\n    image: prom/e{i}\n    user: '65534'\n    network_mode: host\n"
                f"    expose: ['{9100 + i * 35}']\n"
            )
            for i in range(22)
        }
    )
    write_tree(tmp_path, files)
    assert scan_tree(tmp_path).findings == []


def test_masked_sysctl_file_does_not_apply(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "usr/lib/sysctl.d/50-ports.conf": "net.ipv4.ip_local_port_range = 1000 2000\n",
            "etc/sysctl.d/50-ports.conf": "net.ipv4.ip_local_port_range = 40000 60999\n",
        },
    )
    report = scan_tree(tmp_path)
    assert report.findings == []  # the masked /usr/lib file would have been refused (1000 < 1024)
    ns = report.hosts[0].namespaces[0]
    assert ns.ephemeral_range.value == PortRange(40000, 60999)


def test_config_kernel_settings_win_over_files(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "kernel:\n  ip_local_port_range: [10000, 20999]\n",
            "etc/systemd/system/app.socket": "[Socket]\nListenStream=15000\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [f.rule for f in report.findings] == ["PP002"]
    assert "10000-20999 (config " in report.findings[0].message


def test_non_linux_platform_ignores_linux_sysctl_values(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/sysctl.d/1.conf": "net.ipv4.ip_local_port_range = 1024 65535\n",
            "etc/systemd/system/app.socket": "[Socket]\nListenStream=20000\n",
        },
    )
    assert [f.rule for f in scan_tree(tmp_path).findings] == ["PP002"]
    assert scan_tree(tmp_path, platform="windows").findings == []  # 49152-65535 there


NS_HOST = Namespace(
    "h",
    "h",
    "host",
    "linux",
    "docker",
    Setting(1024, "d"),
    Setting(PortRange(32768, 60999), "d"),
    Setting(PortSet(), "d"),
)


def listener(run_as: RunAs, bound_by: str = "process", source: str = "systemd") -> Listener:
    return Listener(
        "svc", "tcp", PortRange(80, 80), BindAddress(), Location("f", 1, 1), run_as, bound_by, source=source
    )


@pytest.mark.parametrize(
    ("run_as", "bound_by", "source", "known", "granted", "why"),
    [
        (RunAs("app"), "systemd", "systemd", True, True, "created by systemd (PID 1"),
        (RunAs("alice"), "systemd-user", "systemd", True, False, "per-user systemd manager"),
        (RunAs(None), "process", "systemd", False, False, "not known"),
        (RunAs("root"), "process", "systemd", True, True, "runs as root"),
        (
            RunAs("root", bounding=frozenset({"CHOWN"})),
            "process",
            "systemd",
            True,
            False,
            "CapabilityBoundingSet",
        ),
        (
            RunAs("app", ambient=frozenset({"NET_BIND_SERVICE"})),
            "process",
            "systemd",
            True,
            True,
            "AmbientCapabilities",
        ),
        (
            RunAs("app", ambient=frozenset({"NET_BIND_SERVICE"}), bounding=frozenset()),
            "process",
            "systemd",
            True,
            False,
            "no AmbientCapabilities",
        ),
        (
            RunAs("app", ambient=frozenset({"NET_BIND_SERVICE"}), private_users=True),
            "process",
            "systemd",
            True,
            False,
            "PrivateUsers=yes",
        ),
        (RunAs("app"), "process", "systemd", True, False, "no AmbientCapabilities"),
        (RunAs("0:0"), "process", "compose", True, True, "default CAP_NET_BIND_SERVICE"),
        (RunAs("root", dropped=frozenset({"ALL"})), "process", "compose", True, False, "cap_drop removes"),
        (
            RunAs("1000", added=frozenset({"NET_BIND_SERVICE"})),
            "process",
            "compose",
            False,
            False,
            "file capabilities",
        ),
        (RunAs("1000"), "process", "compose", True, False, "non-root user '1000'"),
        (RunAs(None), "runtime", "compose", True, True, "root container daemon"),
    ],
)
def test_privilege_matrix(
    run_as: RunAs, bound_by: str, source: str, known: bool, granted: bool, why: str
) -> None:
    verdict = hosts.privilege(listener(run_as, bound_by, source), NS_HOST, runtimes()["docker"])
    assert (verdict.known, verdict.granted) == (known, granted)
    assert why in verdict.reason


def test_rootless_runtime_publish_is_not_privileged() -> None:
    verdict = hosts.privilege(
        listener(RunAs(None), "runtime", "compose"), NS_HOST, runtimes()["podman-rootless"]
    )
    assert verdict.known and not verdict.granted


def test_ephemeral_clash_inside_a_container_needs_a_shared_namespace(tmp_path: Path) -> None:
    alone = "services:\n  app:\n    image: x\n    expose: ['50000']\n"
    write_tree(tmp_path / "alone", {"compose.yaml": alone})
    assert scan_tree(tmp_path / "alone").findings == []
    sidecar = alone + "  proxy:\n    image: envoy\n    network_mode: 'service:app'\n    expose: ['9901']\n"
    write_tree(tmp_path / "sidecar", {"compose.yaml": sidecar})
    report = scan_tree(tmp_path / "sidecar")
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP002", 4)]


def test_a_service_repeated_in_the_override_file_is_not_a_conflict(tmp_path: Path) -> None:
    svc = "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n"
    write_tree(tmp_path, {"compose.yaml": svc, "compose.override.yaml": svc})
    assert scan_tree(tmp_path).findings == []
