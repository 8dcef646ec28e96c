"""Environment variables as port sources: compose, Kubernetes, systemd and Dockerfile ENV."""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import Listener
from tests.helpers import scan_tree, write_tree

COMPOSE_MAP = """\
services:
  api:
    image: registry.example.com/shop/api:2.3
    user: "1000"
    network_mode: host
    environment:
      ASPNETCORE_URLS: "http://+:{port}"
"""

COMPOSE_LIST = """\
services:
  dashboards:
    image: grafana/grafana:11.1.0
    network_mode: host
    environment:
      - GF_SECURITY_ADMIN_USER=admin
      - GF_SERVER_HTTP_PORT={port}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: orders}}
spec:
  selector: {{matchLabels: {{app: orders}}}}
  template:
    metadata: {{labels: {{app: orders}}}}
    spec:
      hostNetwork: true
      securityContext: {{runAsUser: 1000, runAsNonRoot: true}}
      containers:
        - name: orders
          image: registry.example.com/orders:5.1
          command: ["java", "-jar", "/app/orders-spring-boot.jar"]
          env:
            - name: SERVER_PORT
              value: "{port}"
            - name: DB_PASSWORD
              valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
"""

UNIT = """\
[Unit]
Description=Orders API

[Service]
User=orders
Environment="ASPNETCORE_ENVIRONMENT=Production" "ASPNETCORE_HTTP_PORTS={port}"
ExecStart=/usr/bin/dotnet /opt/orders/Orders.Api.dll
Restart=always

[Install]
WantedBy=multi-user.target
"""

DOCKERFILE = """\
FROM mcr.microsoft.com/dotnet/aspnet:8.0
WORKDIR /app
COPY publish/ .
{env}USER app
ENTRYPOINT ["dotnet", "Orders.Api.dll"]
"""


def _ports(root: Path) -> list[tuple[str, int, str]]:
    return [
        (ln.service, ln.ports.start, ln.port_origin)
        for ln in scan_tree(root).facts
        if isinstance(ln, Listener) and ln.port_origin
    ]


def _rules(root: Path) -> list[str]:
    return [f.rule for f in scan_tree(root).findings]


def test_compose_environment_map_form(tmp_path: Path) -> None:
    write_tree(tmp_path / "low", {"compose.yaml": COMPOSE_MAP.format(port=80)})
    write_tree(tmp_path / "high", {"compose.yaml": COMPOSE_MAP.format(port=8080)})
    assert _ports(tmp_path / "low") == [("api", 80, "port 80: ASPNETCORE_URLS in the environment")]
    findings = scan_tree(tmp_path / "low").findings
    assert [f.rule for f in findings] == ["PP001"]
    assert findings[0].location.line == 7  # the variable's line, the line to change
    assert _rules(tmp_path / "high") == []


def test_compose_environment_list_form(tmp_path: Path) -> None:
    write_tree(tmp_path / "low", {"compose.yaml": COMPOSE_LIST.format(port=443)})
    write_tree(tmp_path / "high", {"compose.yaml": COMPOSE_LIST.format(port=3001)})
    assert [p for _, p, _ in _ports(tmp_path / "low")] == [443]
    assert _rules(tmp_path / "low") == ["PP001"]  # grafana/grafana runs as 472
    assert _rules(tmp_path / "high") == []


def test_an_env_file_may_set_the_variable_so_no_default_is_assumed(tmp_path: Path) -> None:
    text = "services:\n  dashboards:\n    image: grafana/grafana:11.1.0\n    env_file: grafana.env\n"
    write_tree(tmp_path, {"compose.yaml": text})
    assert _ports(tmp_path) == []


def test_kubernetes_env_literal_value(tmp_path: Path) -> None:
    write_tree(tmp_path / "low", {"deploy.yaml": DEPLOYMENT.format(port=80)})
    write_tree(tmp_path / "high", {"deploy.yaml": DEPLOYMENT.format(port=8080)})
    assert [p for _, p, _ in _ports(tmp_path / "low")] == [80]
    assert _rules(tmp_path / "low") == ["PP001"]
    assert _rules(tmp_path / "high") == []


def test_systemd_environment(tmp_path: Path) -> None:
    write_tree(tmp_path / "low", {"etc/systemd/system/orders.service": UNIT.format(port=80)})
    write_tree(tmp_path / "high", {"etc/systemd/system/orders.service": UNIT.format(port=5080)})
    assert _ports(tmp_path / "low") == [
        ("orders.service", 80, "port 80: ASPNETCORE_HTTP_PORTS in the environment")
    ]
    assert _rules(tmp_path / "low") == ["PP001"]
    assert _rules(tmp_path / "high") == []
    granted = UNIT.format(port=80).replace(
        "User=orders\n", "User=orders\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"
    )
    write_tree(tmp_path / "granted", {"etc/systemd/system/orders.service": granted})
    assert _rules(tmp_path / "granted") == []


def test_dockerfile_env_and_the_images_own_default(tmp_path: Path) -> None:
    write_tree(tmp_path / "low", {"Dockerfile": DOCKERFILE.format(env="ENV ASPNETCORE_URLS=http://+:80\n")})
    write_tree(tmp_path / "image", {"Dockerfile": DOCKERFILE.format(env="")})
    assert [p for _, p, _ in _ports(tmp_path / "low")] == [80]
    assert _rules(tmp_path / "low") == ["PP001"]
    # no ENV: the .NET 8 image sets ASPNETCORE_HTTP_PORTS=8080 itself
    assert [p for _, p, _ in _ports(tmp_path / "image")] == [8080]
    assert _rules(tmp_path / "image") == []


def test_url_and_address_value_forms() -> None:
    from portpolicy import apps
    from portpolicy.model import Location, RunAs

    where = Location("u.service", 3)

    def ports(name: str, value: str) -> list[tuple[int, str]]:
        start = apps.Start(("dotnet", "App.dll"), where, {name: apps.EnvValue(value, where)})
        facts = apps.listeners(start, apps.Scope("u.service", RunAs(user="u"), "systemd"))
        return [(f.ports.start, str(f.address)) for f in facts if isinstance(f, Listener)]

    assert ports("ASPNETCORE_URLS", "http://+:80;https://+:443") == [(80, "*"), (443, "*")]
    assert ports("ASPNETCORE_URLS", "http://[::]:5000") == [(5000, "[::]")]
    assert ports("ASPNETCORE_URLS", "http://0.0.0.0:5000") == [(5000, "0.0.0.0")]
    assert ports("ASPNETCORE_URLS", "https://api.example.com") == [(443, "api.example.com")]
    assert ports("ASPNETCORE_HTTP_PORTS", "8080;8081") == [(8080, "*"), (8081, "*")]
