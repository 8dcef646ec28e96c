"""Configs written inside other files (issue #23 item 1): heredocs, Dockerfile heredocs,
cloud-init ``write_files``, Ignition/Butane/MachineConfig ``storage.files``.

Each fixture tree under ``tests/fixtures/embedded/`` carries a real finding inside an
embedded file; the finding lands on the outer file's line (the line of the encoded value for
base64, gzip and ``data:`` URLs). The ``negative`` tree writes only paths no reader wants.
"""

from __future__ import annotations

import base64
import gzip
import shutil
from pathlib import Path

import pytest

from portpolicy.model import Finding, Listener, ParseError
from tests.helpers import REPO, scan_tree, write_tree
from tests.hostile import run_bounded

FIXTURES = REPO / "tests" / "fixtures" / "embedded"


def where(f: Finding) -> tuple[str, str, int]:
    return f.rule, f.location.path, f.location.line


def scan_fixture(tmp_path: Path, name: str, runtime: str = "docker") -> list[tuple[str, str, int]]:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    report = scan_tree(tmp_path / name, runtime=runtime)
    return sorted(where(f) for f in report.findings)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # data: URLs, percent-encoded (HAProxy) and ;base64 (sysctl): each fact on its value's line
        ("ignition", [("PP002", "bootstrap.ign", 12), ("PP006", "bootstrap.ign", 19)]),
        # Butane inline literal block: the line inside the block
        ("butane", [("PP002", "web.bu", 13)]),
        # MachineConfig, gzip + base64: the line of the source value
        ("machineconfig", [("PP006", "99-worker-ports.yaml", 18)]),
        # cloud-init: a literal block (its own line) and a b64 value (the value's line)
        ("cloud-init", [("PP002", "user-data", 11), ("PP006", "user-data", 16)]),
        # a provisioning script's heredoc
        ("shell", [("PP002", "provision.sh", 10)]),
        # a Debian maintainer script appends with <<-EOF (tabs stripped)
        ("debian", [("PP006", "gateway.postinst", 8)]),
    ],
)
def test_each_embedding_reports_on_the_outer_line(
    tmp_path: Path, name: str, expected: list[tuple[str, str, int]]
) -> None:
    assert scan_fixture(tmp_path, name) == sorted(expected)


def test_dockerfile_heredoc_lands_in_the_image_container(tmp_path: Path) -> None:
    """``COPY <<EOF`` reaches the image's container like a copied file: its USER binds port 80."""
    shutil.copytree(FIXTURES / "dockerfile", tmp_path / "d")
    legacy = scan_tree(tmp_path / "d", runtime="docker-legacy")
    assert [where(f) for f in legacy.findings] == [("PP001", "Dockerfile", 6)]
    assert "non-root user 'nginx'" in legacy.findings[0].message
    assert scan_tree(tmp_path / "d", runtime="docker").findings == []  # Docker >= 20.10 lets it bind
    listeners = sorted((ln.location.line, str(ln.ports), ln.netns) for ln in _listeners(legacy.facts))
    # RUN <<EOT's script writes status.conf too: the image's listener, not a host's
    assert [(line, ports) for line, ports, _ in listeners] == [(6, "80"), (15, "42000")]
    assert all(ns.endswith("container:image:Dockerfile") for _, _, ns in listeners), listeners


def _listeners(facts: list[object]) -> list[Listener]:
    return [f for f in facts if isinstance(f, Listener)]


def test_paths_no_reader_wants_are_neither_findings_nor_errors(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "negative", tmp_path / "n")
    report = scan_tree(tmp_path / "n")
    assert report.findings == []
    assert [f for f in report.facts if isinstance(f, ParseError)] == []
    # a script that writes only /etc/motd and /etc/issue is no script of ours, as before
    assert report.readers.get("setup.sh") is None


def test_suppression_on_the_outer_line(tmp_path: Path) -> None:
    data = base64.b64encode(gzip.compress(b"net.ipv4.ip_local_port_range = 61000 32768\n")).decode()
    machine = (
        "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata:\n  name: x\n"
        "spec:\n  config:\n    ignition:\n      version: 3.2.0\n    storage:\n      files:\n"
        "        - path: /etc/sysctl.d/90.conf\n          contents:\n            compression: gzip\n"
        "            # portpolicy: ignore[PP006] the pool overrides it\n"
        f"            source: data:;base64,{data}\n"
    )
    script = (
        "#!/bin/sh\ncat > /etc/nginx/conf.d/a.conf <<'EOF'\nserver {\n"
        "    listen 44000;  # portpolicy: ignore[PP002] reserved by the image\n}\nEOF\n"
    )
    write_tree(tmp_path, {"mc/99-x.yaml": machine, "prov/setup.sh": script})
    report = scan_tree(tmp_path)
    assert report.findings == []
    unsuppressed = machine.replace("            # portpolicy: ignore[PP006] the pool overrides it\n", "")
    write_tree(tmp_path, {"mc/99-x.yaml": unsuppressed})
    assert [where(f) for f in scan_tree(tmp_path).findings] == [("PP006", "mc/99-x.yaml", 14)]


def test_each_ignition_or_cloud_init_file_is_its_own_host(tmp_path: Path) -> None:
    """Two machines' configs in one folder do not share a host (no port conflict between them)."""
    nginx = "#cloud-config\nwrite_files:\n  - path: /etc/nginx/conf.d/a.conf\n    content: |\n"
    body = "      server {\n          listen 8080;\n      }\n"
    write_tree(tmp_path, {"nodes/web-1.yaml": nginx + body, "nodes/web-2.yaml": nginx + body})
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert sorted({ln.host for ln in _listeners(report.facts)}) == ["nodes/web-1.yaml", "nodes/web-2.yaml"]


def test_cli_reports_the_fixture_findings(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "embedded")
    run = run_bounded("check", "--no-config", "--format", "text", "embedded", cwd=tmp_path)
    assert not run.crashed, run.stderr
    assert run.returncode == 1
    assert "embedded/ignition/bootstrap.ign:12:21: PP002" in run.stdout
    assert "embedded/machineconfig/99-worker-ports.yaml:18:21: PP006" in run.stdout
    assert "negative" not in run.stdout


def test_a_tree_without_such_files_imports_none_of_their_modules(tmp_path: Path) -> None:
    from tests.test_startup_imports import modules_of_check

    write_tree(tmp_path, {"sysctl.d/99-ports.conf": "net.ipv4.ip_local_port_range = 32768 60999\n"})
    modules = modules_of_check(tmp_path, "sysctl.d/99-ports.conf")
    new = {"portpolicy.readers.heredocs", "portpolicy.readers.payloads"}
    new |= {"portpolicy.readers.ignition", "portpolicy.readers.cloudinit"}
    assert not modules & new
    assert "portpolicy.readers.sysctl" in modules
