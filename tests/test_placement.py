"""Tests for placement: images built by compose services, and daemon configs in containers."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from portpolicy import signatures
from portpolicy.model import BindAddress, ContainerLink, Fact, Listener, Mount, PortRange
from portpolicy.pipeline import Report
from portpolicy.readers import compose
from portpolicy.readers.base import Source
from tests.helpers import run_cli, scan_tree, write_tree

# -- a stand-in daemon reader, so correlation is tested apart from any one daemon's syntax ------

_LISTEN = re.compile(r"^listen (\d+)(?: (\S+))?$")


def _fake_read(source: Source) -> Iterator[Fact]:
    """``listen PORT [bound_by]`` per line, as a daemon reader would report it on a host."""
    for n, line in enumerate(source.text.splitlines(), 1):
        m = _LISTEN.match(line.strip())
        if m:
            yield Listener(
                service="fakeD",
                protocol="tcp",
                ports=PortRange.single(int(m.group(1))),
                address=BindAddress.wildcard(),
                location=source.at(n, 8),
                bound_by=m.group(2) or "root-master",
            )


FAKE = types.ModuleType("fake")
FAKE.NAME = "fake"  # type: ignore[attr-defined]
FAKE.read = _fake_read  # type: ignore[attr-defined]
FAKE_SIGNATURE = signatures.Signature(
    "fake",
    "fake_reader",
    "a fake config",
    lambda path: path.endswith(".fakeconf"),
    shaped=lambda _: True,
    role="daemon",
    scope="directory",
)


@pytest.fixture
def fake_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    every = (*signatures.all_signatures(), FAKE_SIGNATURE)
    monkeypatch.setitem(sys.modules, "fake_reader", FAKE)
    monkeypatch.setattr(signatures, "all_signatures", lambda: every)


def scan(tmp_path: Path, files: dict[str, str], runtime: str = "docker-legacy") -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path, runtime=runtime)


def listeners(report: Report) -> list[tuple[str, str, str, str, str | None, str]]:
    """(location, namespace, service, ports, user, bound_by) of every listener."""
    return sorted(
        (
            f"{ln.location.path}:{ln.location.line}",
            ln.namespace.id if ln.namespace else "",
            ln.service,
            f"{ln.protocol}/{ln.ports}",
            ln.run_as.user,
            ln.bound_by,
        )
        for ln in report.facts
        if isinstance(ln, Listener)
    )


def rules(report: Report) -> list[tuple[str, str]]:
    return [(f.rule, f"{f.location.path}:{f.location.line}") for f in report.findings]


# -- the compose reader's links ---------------------------------------------------------------


def test_compose_links_name_build_and_bind_mounts() -> None:
    text = """\
services:
  web:
    build: ./nginx
    volumes:
      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro
      - cache:/var/cache/nginx
      - /etc/localtime:/etc/localtime:ro
      - type: bind
        source: ./certs
        target: /etc/nginx/certs
    configs:
      - source: proxy
        target: /etc/haproxy/haproxy.cfg
  api:
    build:
      context: .
      dockerfile: docker/Dockerfile
      target: prod
    user: ${API_USER}
  worker:
    image: ghcr.io/acme/worker:1
    build:
      context: https://github.com/acme/worker.git
  docs:
    image: nginx:1.27
configs:
  proxy:
    file: ./haproxy/haproxy.cfg
volumes:
  cache: {}
"""
    links = {
        f.service: f
        for f in compose.read(Source("deploy/compose.yaml", text))
        if isinstance(f, ContainerLink)
    }
    # worker builds from a remote context (its Dockerfile unknown); docs runs an image a build call may build
    assert set(links) == {"web", "api", "docs"}
    assert (links["docs"].dockerfile, links["docs"].mounts, links["docs"].image) == (None, (), "nginx:1.27")
    web, api = links["web"], links["api"]
    assert (web.build_context, web.dockerfile, web.target, web.user_set) == (
        "deploy/nginx",
        "deploy/nginx/Dockerfile",
        None,
        False,
    )
    assert [(m.source, m.target, m.how) for m in web.mounts] == [
        ("deploy/nginx/default.conf", "/etc/nginx/conf.d/default.conf", "mounted"),
        ("deploy/certs", "/etc/nginx/certs", "mounted"),
        ("deploy/haproxy/haproxy.cfg", "/etc/haproxy/haproxy.cfg", "config"),
    ]
    assert web.mounts[0] == Mount(
        web.mounts[0].source, web.mounts[0].target, web.mounts[0].location, "mounted"
    )
    assert web.mounts[0].location.line == 5
    assert (api.build_context, api.dockerfile, api.target) == ("deploy", "deploy/docker/Dockerfile", "prod")
    assert api.user_set and api.run_as.user is None  # set, but unknown: the image's USER is hidden


# -- a service inherits its image's user and EXPOSE ports -------------------------------------------

NGINX_DOCKERFILE = """\
FROM nginx:1.27-alpine
RUN chown -R nginx:nginx /var/cache/nginx /var/run /etc/nginx/conf.d
USER nginx
EXPOSE 80
"""


def test_service_built_from_dockerfile_inherits_user_and_exposed_ports(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: ./web\n    ports:\n      - '8080:80'\n",
            "web/Dockerfile": NGINX_DOCKERFILE + "EXPOSE 443\n",
        },
    )
    assert listeners(report) == [
        ("compose.yaml:5", ".", "web", "tcp/8080", None, "runtime"),
        ("compose.yaml:5", ".#container:web", "web", "tcp/80", "nginx", "process"),
        ("web/Dockerfile:5", ".#container:web", "web", "tcp/443", "nginx", "process"),
    ]
    # The image's own (lone) listeners are gone: the image only runs as the service.
    assert rules(report) == [("PP001", "compose.yaml:5"), ("PP001", "web/Dockerfile:5")]
    finding = report.findings[0]
    assert "runtime docker-legacy keeps it" in finding.message
    assert ("web/Dockerfile", 3) in [(r.location.path, r.location.line) for r in finding.related]


def test_service_user_wins_over_the_image(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: ./web\n    user: root\n    expose: ['80']\n",
            "web/Dockerfile": NGINX_DOCKERFILE,
        },
    )
    assert {ln[4] for ln in listeners(report)} == {"root"}
    assert rules(report) == []


def test_unresolved_service_user_hides_the_image_user(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: ./web\n    user: ${RUN_AS}\n    expose: ['80']\n",
            "web/Dockerfile": NGINX_DOCKERFILE,
        },
    )
    assert {ln[4] for ln in listeners(report)} == {None}
    assert rules(report) == []


def test_build_target_picks_the_stage(tmp_path: Path) -> None:
    dockerfile = """\
FROM python:3.12-slim AS base
EXPOSE 8000
FROM base AS dev
EXPOSE 80
FROM base AS prod
USER 10001
EXPOSE 443
"""
    compose_text = """\
services:
  api:
    build:
      context: .
      dockerfile: docker/Dockerfile
      target: prod
"""
    report = scan(tmp_path, {"compose.yaml": compose_text, "docker/Dockerfile": dockerfile})
    assert [(ln[3], ln[4]) for ln in listeners(report)] == [("tcp/8000", "10001"), ("tcp/443", "10001")]
    assert rules(report) == [("PP001", "docker/Dockerfile:7")]


def test_image_without_user_gives_no_verdict(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: .\n    ports: ['80:80']\n",
            "Dockerfile": "FROM registry.example.org/web:1.27\nEXPOSE 80\n",  # no known image
        },
    )
    assert rules(report) == []
    assert [ln[4] for ln in listeners(report)] == [None, None]


def test_dockerfile_in_host_network_is_in_the_host_namespace(tmp_path: Path) -> None:
    """EXPOSE of a host-networked service is a socket on the host: PP002 applies there."""
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  agent:\n    build: ./agent\n    network_mode: host\n",
            "agent/Dockerfile": "FROM alpine:3.20\nUSER agent\nEXPOSE 50000 8080\n",
        },
        runtime="docker",
    )
    assert [ln[1] for ln in listeners(report)] == [".", "."]
    assert rules(report) == [("PP002", "agent/Dockerfile:3")]


def test_invalid_expose_of_a_built_image_is_pp005_once(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    build: ./app\n  b:\n    build: ./app\n",
            "app/Dockerfile": "FROM alpine\nEXPOSE 8080 80800\n",
        },
    )
    assert rules(report) == [("PP005", "app/Dockerfile:2")]
    # one image, two containers: each has the port in its own namespace, so no conflict
    assert [ln[1] for ln in listeners(report)] == [".#container:a", ".#container:b"]


# -- daemon configs mounted or copied into a container (stand-in reader) ------------------------


def test_mounted_config_runs_as_the_image_user(tmp_path: Path, fake_reader: None) -> None:
    files = {
        "compose.yaml": (
            "services:\n  web:\n    build: ./web\n    ports: ['8080:80']\n"
            "    volumes:\n      - ./web/site.fakeconf:/etc/fake/site.conf:ro\n"
        ),
        "web/Dockerfile": NGINX_DOCKERFILE,
        "web/site.fakeconf": "listen 80\n",
    }
    report = scan(tmp_path, files)
    assert listeners(report) == [
        ("compose.yaml:4", ".", "web", "tcp/8080", None, "runtime"),
        # one socket: the daemon's line, not the declarations of compose and EXPOSE
        ("web/site.fakeconf:1", ".#container:web", "web", "tcp/80", "nginx", "process"),
    ]
    (finding,) = report.findings
    assert (finding.rule, finding.location.path) == ("PP001", "web/site.fakeconf")
    assert finding.host == "."
    assert scan_tree(tmp_path, runtime="docker").findings == []


def test_root_container_keeps_the_daemons_model(tmp_path: Path, fake_reader: None) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    user: '0'\n"
            "    volumes: ['./conf:/etc/fake']\n",
            "conf/site.fakeconf": "listen 80\nlisten 81 process\n",
        },
    )
    assert [(ln[3], ln[4], ln[5]) for ln in listeners(report)] == [
        ("tcp/80", None, "root-master"),
        ("tcp/81", None, "process"),
    ]
    assert rules(report) == []


def test_unknown_container_user_gives_no_verdict(tmp_path: Path, fake_reader: None) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: ghcr.io/acme/web:1.27\n"  # no known image
            "    volumes: ['./site.fakeconf:/etc/fake/site.conf']\n",
            "site.fakeconf": "listen 80\n",
        },
    )
    assert [(ln[1], ln[4], ln[5]) for ln in listeners(report)] == [(".#container:web", None, "process")]
    privilege = next(f.privilege for f in report.facts if isinstance(f, Listener))
    assert privilege is not None and not privilege.known


def test_directory_mounts_and_whole_tree_mounts(tmp_path: Path, fake_reader: None) -> None:
    compose_text = """\
services:
  proxy:
    image: ghcr.io/acme/proxy:1
    user: "101"
    volumes:
      - ./proxy:/etc/fake/conf.d:ro
  app:
    image: ghcr.io/acme/app:1
    user: "1000"
    volumes:
      - .:/srv/app
"""
    report = scan(
        tmp_path,
        {
            "compose.yaml": compose_text,
            "proxy/site.fakeconf": "listen 80\n",
            "docs/example.fakeconf": "listen 8443\n",
        },
    )
    # proxy's directory lands in /etc: its config. The app's source mount does not make the
    # example config the app's, so it stays a host file of its own directory.
    assert listeners(report) == [
        ("docs/example.fakeconf:1", "docs", "fakeD", "tcp/8443", None, "root-master"),
        ("proxy/site.fakeconf:1", ".#container:proxy", "proxy", "tcp/80", "101", "process"),
    ]
    assert rules(report) == [("PP001", "proxy/site.fakeconf:1")]


def test_one_config_mounted_into_two_services(tmp_path: Path, fake_reader: None) -> None:
    compose_text = """\
services:
  blue:
    image: ghcr.io/acme/edge:2
    user: "101"
    volumes: ['./edge.fakeconf:/etc/fake/edge.conf']
  green:
    image: ghcr.io/acme/edge:2
    user: "101"
    volumes: ['./edge.fakeconf:/etc/fake/edge.conf']
"""
    report = scan(tmp_path, {"compose.yaml": compose_text, "edge.fakeconf": "listen 8080\n"})
    assert [ln[1] for ln in listeners(report)] == [".#container:blue", ".#container:green"]
    assert not [f for f in report.findings if f.rule == "PP004"]


def test_config_copied_into_a_lone_image(tmp_path: Path, fake_reader: None) -> None:
    report = scan(
        tmp_path,
        {
            "edge/Dockerfile": "FROM ghcr.io/acme/edge:2\nCOPY edge.fakeconf /etc/fake/\nUSER edge\nEXPOSE 80\n",
            "edge/edge.fakeconf": "listen 80\n",
            "other/unrelated.fakeconf": "listen 80\n",
        },
    )
    assert listeners(report) == [
        (
            "edge/edge.fakeconf:1",
            "edge#container:image:Dockerfile",
            "edge/Dockerfile",
            "tcp/80",
            "edge",
            "process",
        ),
        ("other/unrelated.fakeconf:1", "other", "fakeD", "tcp/80", None, "root-master"),
    ]
    assert rules(report) == [("PP001", "edge/edge.fakeconf:1")]


def test_unknown_network_mode_drops_the_daemon_listeners(tmp_path: Path, fake_reader: None) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    user: '101'\n    network_mode: ${NET}\n"
            "    volumes: ['./a.fakeconf:/etc/fake/a.conf']\n",
            "a.fakeconf": "listen 80\n",
        },
    )
    assert listeners(report) == []
    assert rules(report) == []


def test_configs_top_level_file(tmp_path: Path, fake_reader: None) -> None:
    # a target no real format is named for: at haproxy.cfg the file would be read as HAProxy's
    compose_text = """\
services:
  lb:
    image: haproxy:3.0
    user: haproxy
    configs:
      - source: lb
        target: /etc/fake/lb.conf
configs:
  lb:
    file: ./lb.fakeconf
"""
    report = scan(tmp_path, {"compose.yaml": compose_text, "lb.fakeconf": "listen 443\n"})
    assert rules(report) == [("PP001", "lb.fakeconf:1")]


# -- the real case: nginx switched to USER nginx, listen 80 ---------------------------------------

REAL_TREE = {
    "compose.yaml": """\
services:
  web:
    build: ./nginx
    ports:
      - "8080:80"
    volumes:
      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro
    depends_on:
      - app
  app:
    image: ghcr.io/acme/app:2.3
    expose:
      - "9000"
""",
    "nginx/Dockerfile": """\
FROM nginx:1.27-alpine
RUN chown -R nginx:nginx /var/cache/nginx /var/run \\
 && touch /var/run/nginx.pid && chown nginx:nginx /var/run/nginx.pid
USER nginx
EXPOSE 80
""",
    "nginx/default.conf": """\
server {
    listen 80;
    server_name _;

    location / {
        proxy_pass http://app:9000;
    }
}
""",
}


def _nginx_registered() -> bool:
    return signatures.by_name("nginx") is not None


@pytest.fixture
def nginx_reader() -> None:
    """The nginx reader (registered for everyone)."""
    assert _nginx_registered()


def test_nginx_as_user_nginx_listening_on_80(tmp_path: Path, nginx_reader: None) -> None:
    legacy = scan(tmp_path, REAL_TREE, runtime="docker-legacy")
    (finding,) = legacy.findings
    assert (finding.rule, finding.location.path, finding.location.line) == ("PP001", "nginx/default.conf", 2)
    assert "runtime docker-legacy keeps it" in finding.message
    related = {(r.location.path, r.location.line) for r in finding.related}
    assert ("nginx/Dockerfile", 4) in related
    assert scan_tree(tmp_path, runtime="docker").findings == []
    assert [f.rule for f in scan_tree(tmp_path, runtime="cri-o").findings] == ["PP001"]


@pytest.mark.parametrize(("runtime", "expected"), [("docker", 0), ("docker-legacy", 1)])
def test_nginx_as_user_nginx_end_to_end_cli(tmp_path: Path, runtime: str, expected: int) -> None:
    write_tree(tmp_path, REAL_TREE)
    proc = run_cli("check", "--runtime", runtime, "--format", "json", ".", cwd=tmp_path)
    findings = json.loads(proc.stdout)["findings"]
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [("PP001", "nginx/default.conf", 2)][
        :expected
    ]
    if expected:
        assert "docker-legacy" in findings[0]["message"]
        assert {"path": "nginx/Dockerfile", "line": 4} in [
            {"path": r["path"], "line": r["line"]} for r in findings[0]["related"]
        ]
