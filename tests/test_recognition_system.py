"""sysctl files, systemd units and Dockerfiles are read by what they hold, wherever they lie.

Trees modelled on real repositories: a role's ``files/conf/hardening.conf``, a
config-management tree's ``99-reserved-ports.conf``, units kept as ``deploy/units/webapp``
with no unit suffix, ``Dockerfile-prod``. Look-alikes under helpful names (an INI file in a
``sysctl.d`` folder, a supervisord program named ``web.service``, a REUSE
``Containerfile.license``) are skipped with a reason, never PP000. And the same tree gives
the same findings from inside, from its parent and under a parent named ``etc`` or
``sysctl.d``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from portpolicy.model import Listener
from portpolicy.signatures import dockerfile, sysctl, systemd
from tests.helpers import run_cli, scan_tree, write_tree

WEBAPP_UNIT = (
    "[Unit]\nDescription=Web app\nAfter=network.target\n\n"
    "[Service]\nUser=app\nExecStart=/usr/bin/webapp --web.listen-address=:80\nRestart=always\n\n"
    "[Install]\nWantedBy=multi-user.target\n"
)

TREE = {
    # a role's hardening file: the range is written backwards (the kernel refuses it)
    "roles/base/files/conf/hardening.conf": (
        "# kernel hardening\n"
        "kernel.kptr_restrict = 2\n"
        "net.ipv4.ip_local_port_range = 60999 32768\n"
        "net.ipv4.tcp_syncookies = 1\n"
    ),
    # a config-management tree: a lower range first, then a start above it (by basename order)
    # (its line comes after the start's line: files apply by name, not line by line)
    "cm/kernel/10-range.conf": "# wide range for the proxy\n#\nnet.ipv4.ip_local_port_range = 1024 64999\n",
    "cm/kernel/99-reserved-ports.conf": (
        "net.ipv4.ip_local_reserved_ports = 9100\nnet.ipv4.ip_unprivileged_port_start = 2048\n"
    ),
    # units without a unit suffix: a service and a socket, read as their sections say
    "deploy/units/webapp": WEBAPP_UNIT,
    "deploy/units/api-listener": "[Socket]\nListenStream=50000\n\n[Install]\nWantedBy=sockets.target\n",
    "build/Dockerfile-prod": (
        "# syntax=docker/dockerfile:1\nARG PY=3.12\nFROM python:${PY}-slim\n"
        'RUN useradd app\nUSER app\nEXPOSE 80\nEXPOSE 70000\nCMD ["app"]\n'
    ),
}

READ = {
    "roles/base/files/conf/hardening.conf": "sysctl",
    "cm/kernel/10-range.conf": "sysctl",
    "cm/kernel/99-reserved-ports.conf": "sysctl",
    "deploy/units/webapp": "systemd",
    "deploy/units/api-listener": "systemd",
    "build/Dockerfile-prod": "dockerfile",
}

FINDINGS = [
    # USER app EXPOSE 80: works only where the runtime lowers the limit (no runtime configured)
    ("PP001", "build/Dockerfile-prod", 6),
    ("PP001", "deploy/units/webapp", 7),  # User=app binds 80 with no capability
    ("PP002", "deploy/units/api-listener", 2),  # 50000 in the ephemeral range
    ("PP005", "build/Dockerfile-prod", 7),  # EXPOSE 70000
    ("PP006", "cm/kernel/99-reserved-ports.conf", 2),  # 2048 above the range start 1024
    ("PP006", "roles/base/files/conf/hardening.conf", 3),  # start above end
]


def test_each_format_under_an_unhelpful_name_is_read_and_judged(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, TREE))
    assert {p: r for p, r in report.readers.items()} == READ
    found = sorted((f.rule, f.location.path, f.location.line) for f in report.findings)
    assert found == FINDINGS
    unprivileged = next(f for f in report.findings if f.location.path.startswith("cm/"))
    assert "above the ephemeral range start 1024" in unprivileged.message


def test_dockerfile_prod_as_non_root_exposing_80_is_read_with_a_portability_verdict(
    tmp_path: Path,
) -> None:
    """Inside its own network namespace Docker lowers the privileged-port limit to 0: no error.

    With no runtime configured, an image may run where the limit stays 1024: a PP001 warning
    naming where it works; with ``runtime: docker`` configured, no PP001 at all.
    """
    files = {"build/Dockerfile-prod": TREE["build/Dockerfile-prod"]}
    report = scan_tree(write_tree(tmp_path, files))
    listeners = [f for f in report.facts if isinstance(f, Listener)]
    assert [(str(ln.ports), ln.run_as.user) for ln in listeners] == [("80", "app")]
    assert [(f.rule, f.severity) for f in report.findings] == [("PP001", "warning"), ("PP005", "error")]
    assert "works on Docker >= 20.10" in report.findings[0].message
    configured = scan_tree(write_tree(tmp_path, {**files, ".portpolicy.yml": "runtime: docker\n"}))
    assert [f.rule for f in configured.findings] == ["PP005"]


def test_a_dropin_beside_a_suffixless_unit_joins_it(tmp_path: Path) -> None:
    """``webapp.service.d/override.conf`` grants the capability to the unit kept as ``webapp``."""
    files = {
        "deploy/units/webapp": WEBAPP_UNIT,
        "deploy/units/webapp.service.d/override.conf": "[Service]\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
    }
    report = scan_tree(write_tree(tmp_path, files))
    assert sorted(report.readers.values()) == ["systemd", "systemd"]
    assert report.findings == []


@pytest.mark.parametrize(
    "name",
    [
        "Dockerfile-prod",
        "prod.dockerfile",
        "Dockerfile_dev",
        "docker/app/Dockerfile.j2",
        "build/Containerfile.alpine",
    ],
)
def test_dockerfile_names_are_read(tmp_path: Path, name: str) -> None:
    text = "FROM alpine:3.20\nUSER 1000\nEXPOSE 99999\n"
    report = scan_tree(write_tree(tmp_path, {name: text}))
    assert report.readers == {name: "dockerfile"}
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP005", 3)]


def test_a_dockerfile_with_no_dockerfile_name_is_read_by_content(tmp_path: Path) -> None:
    text = "ARG BASE=alpine:3.20\nFROM ${BASE}\nUSER 1000\nEXPOSE 99999\n"
    report = scan_tree(write_tree(tmp_path, {"images/api-image": text}))
    assert report.readers == {"images/api-image": "dockerfile"}
    assert [f.rule for f in report.findings] == ["PP005"]


LOOKALIKES = {
    # an application's INI file in a sysctl.d folder
    "ops/sysctl.d/90-app.conf": (
        "[app]\nport = 8080\nname = demo\n",
        "named like a sysctl file, but its content is not",
    ),
    # a supervisord program and a fail2ban filter named like units
    "units/web.service": (
        "[program:web]\ncommand=/usr/bin/web --port 80\nuser=app\n",
        "named like a systemd unit, but its content is not",
    ),
    "units/ssh.socket": (
        "[Definition]\nfailregex = ^Failed password for .* from <HOST>\nignoreregex =\n",
        "named like a systemd unit, but its content is not",
    ),
    # a Dockerfile that is prose, REUSE sidecars, docs and an ignore file
    "docs/Dockerfile": (
        "This folder used to hold the Dockerfile; it moved to build/.\n",
        "named like a Dockerfile, but its content is not",
    ),
    "docker/Containerfile.license": (
        "SPDX-FileCopyrightText: 2024 Example\nSPDX-License-Identifier: CC0-1.0\n",
        "not a configuration file, by its type",
    ),
    "Dockerfile.license": ("SPDX-License-Identifier: MIT\n", "not a configuration file, by its type"),
    "Dockerfile.md": ("# Dockerfile\n\nFROM alpine\nRUN echo\n", "not a configuration file, by its type"),
    ".dockerignore": ("node_modules\n*.log\n", "no reader recognises its content"),
}


def test_lookalikes_under_helpful_names_are_skipped_with_a_reason(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, {p: text for p, (text, _) in LOOKALIKES.items()}))
    assert report.files == []
    assert report.findings == []
    assert {s.path: s.reason for s in report.skipped} == {p: why for p, (_, why) in LOOKALIKES.items()}


NOT_MINE = {
    "java properties": "server.port=8080\nserver.address=0.0.0.0\nuser.name=demo\nuser.home=/srv\n",
    "ini file": "[database]\nhost = localhost\nport = 5432\n[cache]\nkernel.size = 1\n",
    "systemd unit": WEBAPP_UNIT,
    "desktop entry": "[Desktop Entry]\nName=Demo\nExec=demo --port 80\nType=Application\n",
    "supervisord": "[supervisord]\nnodaemon=true\n\n[program:web]\ncommand=/usr/bin/web\nautostart=true\n",
    "fail2ban jail": "[DEFAULT]\nbantime = 1h\n\n[sshd]\nenabled = true\nport = ssh\n",
    "python script": "#!/usr/bin/env python3\nfrom os import path\nfrom sys import argv\nprint(path, argv)\n",
    "shell heredoc": (
        "#!/bin/sh\ncat > /etc/systemd/system/web.service <<EOF\n[Unit]\nDescription=x\n"
        "[Service]\nExecStart=/usr/bin/web\nEOF\nsysctl -w net.ipv4.ip_forward=1\n"
    ),
    "sql": "SELECT id\nFROM users\nWHERE id = 1;\n",
    "debug and dev settings": "debug.enabled=true\ndev.server=localhost\n",
}


@pytest.mark.parametrize("kind", sorted(NOT_MINE))
def test_other_formats_are_not_claimed_by_content(kind: str) -> None:
    text = NOT_MINE[kind]
    claimed = [s.SIGNATURE.name for s in (sysctl, systemd, dockerfile) if s.SIGNATURE.looks(text)]
    assert claimed == (["systemd"] if kind == "systemd unit" else [])


@pytest.mark.parametrize(
    ("signature", "text"),
    [
        (sysctl.SIGNATURE, "-net.ipv4.conf.*.rp_filter\nnet.ipv4.conf.all.rp_filter = 1\n"),
        (sysctl.SIGNATURE, "net/ipv4/ip_local_port_range = 32768 60999\r\nvm.swappiness = 10\r\n"),
        (sysctl.SIGNATURE, "; comment\nuser.max_user_namespaces = 0\nfs.file-max = 100000\n"),
        (systemd.SIGNATURE, "# managed\n[Socket]\nListenStream=443\n"),
        (systemd.SIGNATURE, "[Service]\nExecStart=\nExecStart=/usr/bin/x\n"),
        (
            dockerfile.SIGNATURE,
            "# escape=`\nARG A\nARG B=1\nFROM --platform=$BUILDPLATFORM golang:1.22 AS b\nRUN go build\n",
        ),
    ],
)
def test_formats_are_claimed_by_content(signature: Any, text: str) -> None:
    assert signature.looks(text)


# --------------------------------------------------------------------------- where the user stands


def _normalised(doc: dict[str, Any], prefix: str) -> list[tuple[Any, ...]]:
    """Findings with the scanned root's shown prefix removed from paths, hosts and messages."""

    def strip(text: str) -> str:
        return re.sub(r"(?<![\w./-])" + re.escape(prefix + "/"), "", text) if prefix else text

    def host(name: str) -> str:
        return "." if prefix and name == prefix else strip(name)

    return sorted(
        (
            f["rule"],
            strip(f["path"]),
            f["line"],
            f["column"],
            strip(f["message"]),
            host(f["host"]),
        )
        for f in doc["findings"]
    )


def _check(cwd: Path, arg: str) -> dict[str, Any]:
    result = run_cli("check", "--no-config", "--format", "json", arg, cwd=cwd)
    assert result.returncode == 1, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture(scope="module")
def inside(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    root = write_tree(tmp_path_factory.mktemp("inside") / "repo", TREE)
    return _normalised(_check(root, "."), "")


def test_inside_run_finds_every_problem(inside: list[tuple[Any, ...]]) -> None:
    assert [(rule, path, line) for rule, path, line, *_ in inside] == FINDINGS


@pytest.mark.parametrize(
    "where", ["parent/repo", "etc", "sysctl.d", "etc/sysctl.d", "home/u/.config/systemd/user"]
)
def test_same_findings_from_the_parent_and_under_renamed_parents(
    tmp_path: Path, where: str, inside: list[tuple[Any, ...]]
) -> None:
    """``check repo`` from its parent; the tree itself named ``etc`` or ``sysctl.d``; scanned from the top."""
    write_tree(tmp_path / where, TREE)
    parent, _, name = where.rpartition("/")
    cwd, prefix = (tmp_path / parent, name) if where == "parent/repo" else (tmp_path, where)
    assert _normalised(_check(cwd, prefix), prefix) == inside
