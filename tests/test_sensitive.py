"""The sensitive-services table (data/sensitive.yml) and how listeners are marked from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portpolicy import imagerefs, sensitive
from portpolicy.model import BindAddress, Listener, Location, PortRange
from tests.helpers import scan_tree, write_tree

AMBIGUOUS_PORTS = {8080, 8088, 8123, 8888, 9000, 9001, 9090, 3000, 80, 443}
"""Ports many programs use: a service on them is known by its image only."""


def _listener(
    port: int, *, image: str = "", forwards_to: int | None = None, protocol: str = "tcp"
) -> Listener:
    return Listener(
        service="svc",
        protocol=protocol,
        ports=PortRange.single(port),
        address=BindAddress.wildcard(),
        location=Location("compose.yaml", 3),
        bound_by="runtime" if forwards_to is not None else "process",
        forwards_to=None if forwards_to is None else PortRange.single(forwards_to),
        image=image,
    )


def test_every_row_is_complete_and_sourced() -> None:
    rows = sensitive.table()
    assert len(rows) >= 20
    names = [e.service for e in rows]
    assert len(names) == len(set(names))
    for entry in rows:
        assert entry.why and entry.fix, entry.service
        assert entry.source.startswith("https://"), entry.service
        assert entry.ports or entry.images, entry.service
        assert all(proto in {"tcp", "udp"} for _, proto in entry.ports), entry.service
        assert not {port for port, _ in entry.ports} & AMBIGUOUS_PORTS, entry.service


def test_every_image_pattern_names_a_parseable_reference() -> None:
    for entry in sensitive.table():
        for pattern in entry.images:
            example = pattern.replace("*", "x").split(":")[0] if "*" in pattern else pattern
            ref = imagerefs.parse(example)
            assert ref is not None and imagerefs.matches(ref, pattern), (entry.service, pattern)


def test_no_port_belongs_to_two_services() -> None:
    seen: dict[tuple[int, str], str] = {}
    for entry in sensitive.table():
        for key in entry.ports:
            assert key not in seen, (key, seen.get(key), entry.service)
            seen[key] = entry.service


@pytest.mark.parametrize(
    ("image", "service"),
    [
        ("redis:7-alpine", "Redis"),
        ("docker.io/library/redis:7.2@sha256:" + "a" * 64, "Redis"),
        ("bitnami/redis:7.2", "Redis"),
        ("redis/redis-stack-server:latest", "Redis"),
        ("valkey/valkey:8", "Redis"),
        ("postgres:16", "PostgreSQL"),
        ("mariadb:11", "MySQL"),
        ("mongo:7", "MongoDB"),
        ("docker.elastic.co/elasticsearch/elasticsearch:8.15.0", "Elasticsearch"),
        ("minio/minio:RELEASE.2024-10-02T17-50-41Z", "MinIO"),
        ("quay.io/jupyter/scipy-notebook:2024-10-07", "Jupyter"),
        ("rabbitmq:3-management", "RabbitMQ"),
    ],
)
def test_known_images(image: str, service: str) -> None:
    entry = sensitive.by_image(image)
    assert entry is not None and entry.service == service


@pytest.mark.parametrize(
    "image",
    ["nginx:1.27", "ghcr.io/acme/redis-proxy:1", "redis-commander/redis-commander", "${REDIS_IMAGE}", ""],
)
def test_other_images_are_not_sensitive(image: str) -> None:
    assert sensitive.by_image(image) is None


def test_the_image_decides_over_the_host_port() -> None:
    marked = sensitive.classify(_listener(8080, image="redis:7", forwards_to=6379))
    assert marked is not None and marked.service == "Redis"
    assert marked.basis == "its image redis:7 runs Redis"


def test_without_an_image_the_container_port_decides() -> None:
    marked = sensitive.classify(_listener(16379, forwards_to=6379))
    assert marked is not None and marked.service == "Redis"
    assert marked.basis == "container port tcp/6379 is Redis's port"
    assert sensitive.classify(_listener(6379, forwards_to=8080)) is None


def test_a_web_server_published_on_a_database_port_is_no_database() -> None:
    assert sensitive.classify(_listener(6379, image="nginx:1.27", forwards_to=80)) is None


def test_a_shared_port_needs_the_image_when_an_image_is_known() -> None:
    """ownCloud Infinite Scale serves 9200 too: a known, unlisted image is not Elasticsearch."""
    assert sensitive.classify(_listener(9200, image="owncloud/ocis:5", forwards_to=9200)) is None
    marked = sensitive.classify(_listener(9200, forwards_to=9200))
    assert marked is not None and marked.service == "Elasticsearch"
    marked = sensitive.classify(_listener(6379, image="ghcr.io/acme/cache:1", forwards_to=6379))
    assert marked is not None and marked.service == "Redis"


def test_a_proxy_on_a_data_store_port_is_the_proxy() -> None:
    """HAProxy's ``bind :6379`` in front of a Redis pool is HAProxy's socket, not Redis."""
    proxy = replace(_listener(6379), source="haproxy")
    assert sensitive.classify(proxy) is None
    assert sensitive.classify(replace(_listener(6379), source="daemons")) is not None  # redis.conf


def test_an_image_names_the_service_on_its_own_ports_only() -> None:
    """``image: rabbitmq`` listening on 80 or ``image: elasticsearch`` on udp/5353 is not the store's API."""
    assert sensitive.classify(_listener(8080, image="rabbitmq:3-management", forwards_to=80)) is None
    assert sensitive.classify(_listener(5353, image="elasticsearch:8.14", protocol="udp")) is None
    marked = sensitive.classify(_listener(15672, image="rabbitmq:3-management", forwards_to=15672))
    assert marked is not None and marked.service == "RabbitMQ"
    marked = sensitive.classify(
        _listener(9001, image="minio/minio", forwards_to=9001)
    )  # known by image alone
    assert marked is not None and marked.service == "MinIO"


def test_protocol_and_ranges() -> None:
    assert sensitive.classify(_listener(11211, protocol="udp")) is not None  # memcached amplification
    assert sensitive.classify(_listener(6379, protocol="udp")) is None
    wide = Listener("svc", "tcp", PortRange(6000, 7000), BindAddress.wildcard(), Location("x", 1))
    assert sensitive.classify(wide) is None


def test_ambiguous_ports_mark_nothing_without_an_image() -> None:
    assert sensitive.classify(_listener(9000, forwards_to=9000)) is None
    marked = sensitive.classify(_listener(9000, image="minio/minio", forwards_to=9000))
    assert marked is not None and marked.service == "MinIO"


def test_the_hosts_stage_marks_listeners_once(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """services:
  cache:
    image: redis:7
    ports: ["8080:6379"]
  web:
    image: nginx:1.27
    ports: ["6379:80"]
"""
        },
    )
    report = scan_tree(tmp_path)
    marks = sorted(
        (f.service, f.bound_by, str(f.ports), f.sensitive.service if f.sensitive else "")
        for f in report.facts
        if isinstance(f, Listener)
    )
    assert marks == [
        ("cache", "process", "6379", "Redis"),
        ("cache", "runtime", "8080", "Redis"),
        ("web", "process", "80", ""),
        ("web", "runtime", "6379", ""),
    ]
