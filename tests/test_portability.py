"""PP001's portability levels: a non-root bind below 1024 that works only where the assumed runtime
lowers ip_unprivileged_port_start (info for compose, warning for images and pods), and the verdicts a
configured runtime, host networking and a granted capability give."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import Listener
from tests.helpers import run_cli, scan_tree, write_tree

COMPOSE_101_ON_80 = """\
services:
  web:
    image: nginx:1.27-alpine
    user: "101:101"
    ports:
      - "8080:80"
"""

DOCKERFILE_USER_EXPOSE_80 = """\
FROM nginx:1.27-alpine
COPY site/ /usr/share/nginx/html/
USER nginx
EXPOSE 80
"""

DEPLOYMENT_101_ON_80 = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext:
        runAsUser: 101
      containers:
        - name: nginx
          image: nginx:1.27
          ports:
            - containerPort: 80
"""

UNPRIVILEGED_WITH_LISTEN_80 = {
    "web/Dockerfile": (
        "FROM nginxinc/nginx-unprivileged:1.27-alpine\n"
        "COPY nginx/default.conf /etc/nginx/conf.d/default.conf\n"
        "COPY dist/ /usr/share/nginx/html/\n"
    ),
    "web/nginx/default.conf": (
        "server {\n    listen 80;\n    server_name _;\n    root /usr/share/nginx/html;\n}\n"
    ),
}

RUNTIMES_NAMED = (
    "Docker >= 20.10",
    "containerd >= 2.0",
    "CRI-O/OpenShift",
    "containerd < 2.0",
    "kernels < 4.11",
)


def pp001(root: Path, **overrides: object) -> list[tuple[str, str, int]]:
    report = scan_tree(root, **overrides)
    return [(f.severity, f.location.path, f.location.line) for f in report.findings if f.rule == "PP001"]


def messages(root: Path, **overrides: object) -> list[str]:
    return [f.message for f in scan_tree(root, **overrides).findings if f.rule == "PP001"]


@pytest.mark.parametrize(
    ("files", "severity", "where"),
    [
        ({"compose.yaml": COMPOSE_101_ON_80}, "info", ("compose.yaml", 6)),
        ({"Dockerfile": DOCKERFILE_USER_EXPOSE_80}, "warning", ("Dockerfile", 4)),
        ({"k8s/deploy.yaml": DEPLOYMENT_101_ON_80}, "warning", ("k8s/deploy.yaml", 18)),
        (UNPRIVILEGED_WITH_LISTEN_80, "warning", ("web/nginx/default.conf", 2)),
    ],
    ids=["compose-info", "dockerfile-warning", "deployment-warning", "unprivileged-image-listen-80"],
)
def test_no_runtime_configured_reports_where_it_fails(
    tmp_path: Path, files: dict[str, str], severity: str, where: tuple[str, int]
) -> None:
    write_tree(tmp_path, files)
    assert pp001(tmp_path) == [(severity, *where)]
    (message,) = messages(tmp_path)
    assert "binds tcp/80 as user" in message and "fails with EACCES" in message
    assert all(name in message for name in RUNTIMES_NAMED), message
    assert "set `runtime:` to decide, or listen on 8080" in message


@pytest.mark.parametrize(
    "files",
    [
        {"compose.yaml": COMPOSE_101_ON_80},
        {"Dockerfile": DOCKERFILE_USER_EXPOSE_80},
        {"k8s/deploy.yaml": DEPLOYMENT_101_ON_80},
        UNPRIVILEGED_WITH_LISTEN_80,
    ],
    ids=["compose", "dockerfile", "deployment", "unprivileged-image"],
)
def test_runtime_docker_configured_decides_nothing_is_wrong(tmp_path: Path, files: dict[str, str]) -> None:
    write_tree(tmp_path, {**files, ".portpolicy.yml": "runtime: docker\n"})
    assert pp001(tmp_path) == []
    assert pp001(tmp_path, runtime="containerd") == []


@pytest.mark.parametrize(
    ("files", "where"),
    [
        ({"compose.yaml": COMPOSE_101_ON_80}, ("compose.yaml", 6)),
        ({"Dockerfile": DOCKERFILE_USER_EXPOSE_80}, ("Dockerfile", 4)),
        ({"k8s/deploy.yaml": DEPLOYMENT_101_ON_80}, ("k8s/deploy.yaml", 18)),
        (UNPRIVILEGED_WITH_LISTEN_80, ("web/nginx/default.conf", 2)),
    ],
    ids=["compose", "dockerfile", "deployment", "unprivileged-image"],
)
def test_runtime_cri_o_configured_is_an_error(
    tmp_path: Path, files: dict[str, str], where: tuple[str, int]
) -> None:
    write_tree(tmp_path, {**files, ".portpolicy.yml": "runtime: cri-o\n"})
    assert pp001(tmp_path) == [("error", *where)]
    (message,) = messages(tmp_path)
    assert "runtime cri-o keeps it" in message and "bind() fails with EACCES" in message


def test_per_host_runtime_counts_as_configured(tmp_path: Path) -> None:
    config = "hosts:\n  edge:\n    paths: ['edge']\n    runtime: docker\n"
    write_tree(tmp_path, {"edge/compose.yaml": COMPOSE_101_ON_80, "lab/compose.yaml": COMPOSE_101_ON_80})
    write_tree(tmp_path, {".portpolicy.yml": config})
    assert pp001(tmp_path) == [("info", "lab/compose.yaml", 6)]  # edge's runtime is known, lab's assumed


@pytest.mark.parametrize("runtime", [None, "docker", "containerd", "cri-o"])
def test_host_networking_is_an_error_under_every_runtime(tmp_path: Path, runtime: str | None) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  web:\n    image: nginx:1.27\n    user: '101:101'\n"
                "    network_mode: host\n    expose: ['80']\n"
            )
        },
    )
    overrides = {"runtime": runtime} if runtime else {}
    assert pp001(tmp_path, **overrides) == [("error", "compose.yaml", 6)]


@pytest.mark.parametrize(
    ("service", "why"),
    [
        # root with the runtime's default capability set: granted everywhere
        ("    user: root\n    cap_drop: [ALL]\n    cap_add: [NET_BIND_SERVICE]\n", "granted"),
        # an added capability reaches a non-root process only through file capabilities: not known
        ("    user: '101'\n    cap_add: [NET_BIND_SERVICE]\n", "not known"),
    ],
)
def test_net_bind_service_granted_gives_no_finding(tmp_path: Path, service: str, why: str) -> None:
    compose = f"services:\n  web:\n    image: registry.example.org/web:1\n{service}    expose: ['80']\n"
    write_tree(tmp_path, {"compose.yaml": compose})
    assert pp001(tmp_path) == [] and pp001(tmp_path, runtime="cri-o") == []
    (listener,) = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener)]
    assert listener.privilege is not None
    assert (
        (listener.privilege.known and listener.privilege.granted)
        if why == "granted"
        else not listener.privilege.known
    )


def test_a_sysctl_the_files_set_holds_on_every_runtime(tmp_path: Path) -> None:
    compose = COMPOSE_101_ON_80 + "    sysctls:\n      net.ipv4.ip_unprivileged_port_start: 0\n"
    write_tree(tmp_path, {"compose.yaml": compose})
    assert pp001(tmp_path) == [] and pp001(tmp_path, runtime="cri-o") == []


def test_unprivileged_image_on_its_own_port_is_clean(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "web/Dockerfile": "FROM nginxinc/nginx-unprivileged:1.27-alpine\nCOPY default.conf /etc/nginx/conf.d/default.conf\n",
            "web/default.conf": "server {\n    listen 8080;\n}\n",
        },
    )
    assert pp001(tmp_path) == [] and pp001(tmp_path, runtime="cri-o") == []
    (listener,) = [f for f in scan_tree(tmp_path).facts if isinstance(f, Listener)]
    assert listener.run_as.user == "101" and listener.image == "nginxinc/nginx-unprivileged:1.27-alpine"


def test_the_namespace_says_what_is_assumed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE_101_ON_80})
    (listener,) = [
        f for f in scan_tree(tmp_path).facts if isinstance(f, Listener) and f.netns == "container:web"
    ]
    ns = listener.namespace
    assert ns is not None and ns.runs == "compose" and ns.runtime_assumed
    assert ns.unprivileged_port_start.value == 0 and "assumed" in ns.unprivileged_port_start.source
    assert (
        ns.portable_unprivileged_port_start is not None and ns.portable_unprivileged_port_start.value == 1024
    )
    configured = [
        f
        for f in scan_tree(tmp_path, runtime="docker").facts
        if isinstance(f, Listener) and f.netns == "container:web"
    ]
    assert (
        configured[0].namespace is not None
        and configured[0].namespace.portable_unprivileged_port_start is None
    )


def test_cli_levels_and_exit_codes(tmp_path: Path) -> None:
    """The compose info does not fail a default run (--fail-on error); the image's warning is shown."""
    write_tree(tmp_path, {"app/compose.yaml": COMPOSE_101_ON_80, "img/Dockerfile": DOCKERFILE_USER_EXPOSE_80})
    result = run_cli("check", "--fail-on", "error", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "app/compose.yaml:6:9: PP001 [info] web binds tcp/80 as user 101:101" in result.stdout
    assert "img/Dockerfile:4:8: PP001 [warning]" in result.stdout
    assert run_cli("check", "--runtime", "cri-o", ".", cwd=tmp_path).returncode == 1
