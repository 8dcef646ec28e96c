"""Image references in every spelling, and the image a listener's process runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.imagerefs import matches, parse
from portpolicy.model import Listener
from portpolicy.pipeline import scan


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("docker.io/library/nginx:1.27-alpine", "docker.io/library/nginx:1.27-alpine"),
        ("index.docker.io/bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
        ("bitnami/redis", "docker.io/bitnami/redis"),
        ("gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12:nonroot"),
        ("localhost:5000/app:1", "localhost:5000/app:1"),
        ("redis@sha256:" + "ab" * 32, "docker.io/library/redis@sha256:" + "ab" * 32),
    ],
)
def test_references_normalise(text: str, normal: str) -> None:
    ref = parse(text)
    assert ref is not None and str(ref) == normal


@pytest.mark.parametrize("text", ["${REGISTRY}/app:1", "{{ image }}", "App:Latest", "", "nginx:", "a" * 600])
def test_variables_and_typos_are_no_reference(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("image", "pattern", "expected"),
    [
        ("nginx:1.27", "nginx", True),
        ("docker.io/library/nginx@sha256:" + "ab" * 32, "nginx", True),
        ("nginxinc/nginx-unprivileged:1.27-alpine", "nginx", False),
        ("nginxinc/nginx-unprivileged:1.27-alpine", "nginxinc/nginx-unprivileged", True),
        ("bitnami/postgresql:16", "bitnami/*", True),
        ("quay.io/bitnami/postgresql:16", "bitnami/*", False),
        ("gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/*:*nonroot*", True),
        ("gcr.io/distroless/static-debian12", "gcr.io/distroless/*:*nonroot*", False),
        ("gcr.io/distroless/base:debug-nonroot", "gcr.io/distroless/*:*nonroot*", True),
    ],
)
def test_table_patterns(image: str, pattern: str, expected: bool) -> None:
    ref = parse(image)
    assert ref is not None and matches(ref, pattern) is expected


def test_listeners_carry_their_image_and_published_target(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        'services:\n  cache:\n    image: redis:7.2\n    ports:\n      - "6380:6379"\n'
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers:\n"
        "    - name: pg\n      image: postgres:16\n      ports:\n        - {containerPort: 5432, hostPort: 15432}\n"
    )
    facts = [f for f in scan([str(tmp_path)]).facts if isinstance(f, Listener)]
    published = {
        (f.ports.start, f.forwards_to.start if f.forwards_to else None, f.image)
        for f in facts
        if f.bound_by == "runtime"
    }
    inside = {(f.ports.start, f.image) for f in facts if f.bound_by == "process"}
    assert published == {(6380, 6379, "redis:7.2"), (15432, 5432, "postgres:16")}
    assert inside == {(6379, "redis:7.2"), (5432, "postgres:16")}
