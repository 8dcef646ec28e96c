"""The known-images table (data/images.yml): each entry lends its user to a container whose files set
none, located at the line naming the image; tag and digest forms match; an unknown image lends nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portpolicy import images
from portpolicy.model import Listener, Location
from tests.helpers import scan_tree, write_tree

ENTRIES = [pytest.param(entry, pattern, id=pattern) for entry in images.table() for pattern in entry.patterns]


def example_of(pattern: str) -> str:
    """A concrete reference the pattern names: ``[0-3]`` is its first character, ``*`` a word."""
    return re.sub(r"\[(.)[^\]]*\]", r"\1", pattern).replace("*", "x")


def listeners(root: Path, **overrides: object) -> list[Listener]:
    return [f for f in scan_tree(root, **overrides).facts if isinstance(f, Listener)]


def test_the_table_is_large_and_sourced() -> None:
    text = (Path(images.__file__).parent / "data" / images.TABLE).read_text(encoding="utf-8")
    assert len(images.table()) >= 25
    # every entry is preceded by the comment naming its source
    for block in re.split(r"\n\n+", text.split("\n- image:", 1)[1]):
        if "image:" in block:
            assert "https://" in block, block


@pytest.mark.parametrize(("entry", "pattern"), ENTRIES)
def test_each_entry_lends_its_user_on_a_compose_image_line(
    tmp_path: Path, entry: images.KnownImage, pattern: str
) -> None:
    ref = example_of(pattern)
    write_tree(tmp_path, {"compose.yaml": f"services:\n  app:\n    image: {ref}\n    expose: ['8080']\n"})
    (listener,) = [ln for ln in listeners(tmp_path) if ln.location.line == 4]  # the expose line
    assert images.lookup(ref) is entry
    assert listener.run_as.user == entry.binds_as
    assert listener.run_as.location == Location("compose.yaml", 3, 12)
    assert listener.run_as.origin.startswith(f"the image's default user ({ref} ")
    assert listener.run_as.origin.endswith(": data/images.yml)")


@pytest.mark.parametrize(
    ("ref", "user"),
    [
        ("nginxinc/nginx-unprivileged", "101"),
        ("nginxinc/nginx-unprivileged:1.27.3-alpine-slim", "101"),
        ("docker.io/nginxinc/nginx-unprivileged:stable", "101"),
        ("index.docker.io/nginxinc/nginx-unprivileged:mainline", "101"),
        ("nginxinc/nginx-unprivileged@sha256:" + "0123456789abcdef" * 4, "101"),
        ("nginxinc/nginx-unprivileged:1.27@sha256:" + "0123456789abcdef" * 4, "101"),
        ("docker.io/library/nginx:1.27", "root"),
        ("haproxy:2.3", "root"),
        ("haproxy:2.2.33-alpine", "root"),
        ("haproxy:2.4", "haproxy"),
        ("haproxy:3.0-alpine", "haproxy"),
        ("haproxy", "haproxy"),
        ("gcr.io/distroless/static-debian12:nonroot", "65532"),
        ("gcr.io/distroless/static-debian12:debug-nonroot", "65532"),
        ("gcr.io/distroless/static-debian12", "root"),
        ("gitea/gitea:1.22-rootless", "1000:1000"),
        ("postgres:16-alpine", "postgres"),
        ("quay.io/prometheus/node-exporter:v1.8.2", "nobody"),
        ("bitnami/minideb:bookworm", "root"),
        ("bitnami/postgresql:16", "1001"),
    ],
)
def test_tag_digest_and_registry_forms(ref: str, user: str) -> None:
    known = images.default_user(ref, Location("compose.yaml", 3, 12))
    assert known is not None and known.user == user


@pytest.mark.parametrize(
    "ref",
    ["gitea/gitea:1.22", "ghcr.io/acme/web:1", "nginx-unprivileged", "${REGISTRY}/nginx", "{{ image }}", ""],
)
def test_unknown_images_lend_nothing(tmp_path: Path, ref: str) -> None:
    assert images.default_user(ref, None) is None
    write_tree(tmp_path, {"compose.yaml": f"services:\n  app:\n    image: '{ref}'\n    expose: ['80']\n"})
    assert [ln.run_as.user for ln in listeners(tmp_path)] == [None]
    assert not scan_tree(tmp_path, runtime="cri-o").findings


def test_a_written_user_or_a_build_wins_over_the_table(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "a/compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    user: '101'\n    expose: ['8080']\n",
            "b/compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    user: ${APP_UID}\n    expose: ['8080']\n",
            "c/compose.yaml": "services:\n  web:\n    image: bitnami/nginx\n    build: .\n    expose: ['8080']\n",
            "c/Dockerfile": "FROM registry.example.org/base:1\nEXPOSE 8080\n",
        },
    )
    users = {ln.location.path: (ln.run_as.user, ln.run_as.origin) for ln in listeners(tmp_path)}
    assert users["a/compose.yaml"] == ("101", "")
    assert users["b/compose.yaml"] == (None, "")  # an unresolved user: still not the image's
    assert users["c/compose.yaml"] == (None, "")  # builds its own image, whose base is unknown


def test_dockerfile_from_chain_lends_the_root_images_user(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Dockerfile": (
                "FROM golang:1.23 AS build\nRUN go build -o /out/app .\n"
                "FROM gcr.io/distroless/static-debian12:nonroot AS base\n"
                "FROM base\nCOPY --from=build /out/app /app\nEXPOSE 8443\n"
            )
        },
    )
    (listener,) = listeners(tmp_path)
    assert listener.run_as.user == "65532" and listener.run_as.location == Location("Dockerfile", 3, 1)
    assert listener.image == "gcr.io/distroless/static-debian12:nonroot"


def test_compose_building_a_known_base_inherits_its_user(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    build: .\n    ports: ['80:8080']\n",
            "Dockerfile": "FROM nginxinc/nginx-unprivileged:1.27\nCOPY default.conf /etc/nginx/conf.d/\n",
            "default.conf": "server {\n    listen 80;\n}\n",
        },
    )
    report = scan_tree(tmp_path)
    inside = [f for f in report.facts if isinstance(f, Listener) and f.location.path == "default.conf"]
    assert [(ln.run_as.user, ln.image, ln.netns) for ln in inside] == [
        ("101", "nginxinc/nginx-unprivileged:1.27", "container:web")
    ]
    assert [(f.rule, f.severity) for f in report.findings] == [("PP001", "info")]


def test_mounted_config_runs_as_the_images_user(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  proxy:\n    image: bitnami/nginx:1.27\n"
                "    volumes: ['./site.conf:/opt/bitnami/nginx/conf/server_blocks/site.conf:ro']\n"
            ),
            "site.conf": "server {\n    listen 443;\n}\n",
        },
    )
    report = scan_tree(tmp_path, runtime="cri-o")
    (finding,) = [f for f in report.findings if f.rule == "PP001"]
    assert finding.severity == "error" and finding.location == Location("site.conf", 2, 12)
    assert "bitnami/nginx:1.27 runs as 1001: data/images.yml" in finding.message


def test_pod_container_without_run_as_user(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n{sc}  containers:\n"
        "    - name: web\n      image: {image}\n      ports: [{{containerPort: 8080}}]\n"
    )
    write_tree(tmp_path, {"pod.yaml": pod.format(sc="", image="grafana/grafana:11.2.0")})
    (ln,) = [ln for ln in listeners(tmp_path) if ln.location.line == 8]  # containerPort
    assert ln.run_as.user == "472" and ln.run_as.location == Location("pod.yaml", 7, 14)
    write_tree(
        tmp_path,
        {"pod.yaml": pod.format(sc="  securityContext: {runAsUser: 1234}\n", image="grafana/grafana")},
    )
    assert {ln.run_as.user for ln in listeners(tmp_path)} == {"1234"}
    # runAsNonRoot with an image the table says is root: the kubelet's non-root user stands
    write_tree(
        tmp_path, {"pod.yaml": pod.format(sc="  securityContext: {runAsNonRoot: true}\n", image="nginx")}
    )
    assert {ln.run_as.user for ln in listeners(tmp_path)} == {"non-root (runAsNonRoot)"}


def test_entrypoint_drop_binds_as_the_service_user(tmp_path: Path) -> None:
    """postgres starts as root, but gosu drops to postgres before the server binds: a low port fails."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  db:\n    image: postgres:16\n    command: postgres -p 543\n    expose: ['543']\n"
        },
    )
    (finding,) = scan_tree(tmp_path, runtime="cri-o").findings
    assert finding.rule == "PP001" and "drops to postgres (gosu) before the server binds" in finding.message
