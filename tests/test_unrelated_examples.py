"""A repository of unrelated examples must give no false conflict and no false privileged-port finding.

This is the shape of awesome-compose, of a monitoring role collection, of a chart repository:
many projects that each publish 80 or 8080 and many exporters on 9100-9835, none of which
ever share a network namespace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import scan_tree, write_tree


def compose(service: str, ports: list[str], user: str | None = None) -> str:
    lines = ["services:", f"  {service}:", f"    image: example/{service}:1.0"]
    if user:
        lines.append(f'    user: "{user}"')
    lines.append("    ports:")
    lines += [f'      - "{p}"' for p in ports]
    return "\n".join(lines) + "\n"


def exporter_unit(name: str, port: int) -> str:
    return (
        f"[Unit]\nDescription=Prometheus {name}\n\n[Service]\nUser={name}\nGroup={name}\n"
        f"ExecStart=/usr/local/bin/{name} \\\n    --web.listen-address=:{port}\nRestart=always\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def exporter_pod(name: str, port: int) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n"
        "      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65534\n"
        f"      containers:\n        - name: {name}\n          image: quay.io/prometheus/{name}:latest\n"
        f"          ports:\n            - containerPort: {port}\n"
    )


EXPORTERS = {
    "node_exporter": 9100,
    "blackbox_exporter": 9115,
    "snmp_exporter": 9116,
    "mysqld_exporter": 9104,
    "postgres_exporter": 9187,
    "redis_exporter": 9121,
    "nginx_exporter": 9113,
    "haproxy_exporter": 9101,
    "smartctl_exporter": 9633,
    "ipmi_exporter": 9290,
    "bind_exporter": 9119,
    "systemd_exporter": 9558,
    "process_exporter": 9256,
    "ebpf_exporter": 9435,
    "pve_exporter": 9221,
    "nvidia_gpu_exporter": 9835,
}


def test_many_projects_publishing_80_and_8080_and_exporters_on_9100_9835(tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for i, app in enumerate(
        ["wordpress", "ghost", "gitea", "nextcloud", "grafana", "drone", "matomo", "wiki"]
    ):
        files[f"{app}/compose.yaml"] = compose(app, ["80:80"] if i % 2 else ["8080:8080", "443:443"])
        files[f"{app}/nginx/default.conf"] = "server {\n    listen 80;\n    server_name _;\n}\n"
    # alternatives in one directory are not merged: each is its own project
    files["traefik/docker-compose.dev.yml"] = compose("traefik", ["80:80", "8080:8080"])
    files["traefik/docker-compose.prod.yml"] = compose("traefik", ["80:80", "443:443"])
    # a non-root user inside the container's own namespace on 80: fine under Docker >= 20.10
    files["unprivileged/compose.yaml"] = compose("web", ["8081:80"], user="101:101")
    for name, port in EXPORTERS.items():
        files[f"roles/{name}/templates/{name}.service.j2"] = exporter_unit(name, port)
        files[f"charts/{name}/templates/deployment.yaml"] = exporter_pod(name, port)
    files["nginx-examples/site-a/nginx.conf"] = "events {}\nhttp {\n  server { listen 80; }\n}\n"
    files["nginx-examples/site-b/nginx.conf"] = "events {}\nhttp {\n  server { listen 80; }\n}\n"
    write_tree(tmp_path, files)
    report = scan_tree(tmp_path, runtime="docker")  # unprivileged/: 101 binds 80 where Docker sets 0
    assert report.findings == []
    listeners = [f for f in report.facts if f.kind == "listener"]
    assert len(listeners) >= 8 * 2 + 2 * 2 + 2 * len(EXPORTERS)  # everything was read, nothing skipped
    assert not [f for f in report.facts if f.kind == "parse_error"]


@pytest.mark.parametrize(
    ("files", "why"),
    [
        (
            {"app.service": "[Service]\nUser=app\nExecStart=/usr/bin/app --port 80\n"},
            "a non-root service whose port comes from an unknown flag: provenance unknown",
        ),
        (
            {
                "web/Dockerfile": "FROM example/base:1.0\nEXPOSE 80\n",
                "web/compose.yaml": compose("web", ["80:80"]),
            },
            "an image with no USER: the base image decides, which the files cannot show",
        ),
        (
            # the server on loopback: on every address (mysqld's default) it would be PP015
            {"etc/mysql/my.cnf": "[client]\nport = 80\n\n[mysqld]\nport = 3306\nbind-address = 127.0.0.1\n"},
            "a client-side port is not a listener",
        ),
        ({"etc/ssh/ssh_config": "Host bastion\n    Port 80\n"}, "the ssh client's Port is not sshd's"),
        (
            {"etc/redis/redis.conf": "port 0\nunixsocket /run/redis/redis.sock\n"},
            "port 0 means no TCP listener",
        ),
        ({"compose.yaml": compose("web", ["0:8080"])}, "host port 0 means any free port"),
    ],
)
def test_no_verdict_without_evidence(tmp_path: Path, files: dict[str, str], why: str) -> None:
    write_tree(tmp_path, files)
    assert scan_tree(tmp_path, runtime="docker-legacy").findings == [], why
