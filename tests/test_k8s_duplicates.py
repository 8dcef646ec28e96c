"""PP018: list keys Kubernetes refuses to see twice, with the API server's rejection, never EADDRINUSE.

Service ``spec.ports`` is keyed by (port, protocol) and (nodePort, protocol) and names are
unique; a container's ``ports`` is keyed by (containerPort, protocol) under server-side
apply, names unique. The protocol defaults to TCP.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import scan_tree, write_tree


def svc(ports: str, kind: str = "ClusterIP") -> str:
    body = "".join(f"    - {p}\n" for p in ports.strip().split("\n"))
    head = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n"
    return f"{head}  type: {kind}\n  selector:\n    app: web\n  ports:\n{body}"


def workload(*containers: str) -> str:
    """A Deployment whose containers are given as flow mappings."""
    listed = "".join(f"        - {c}\n" for c in containers)
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n"
        "    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n"
        f"      containers:\n{listed}"
    )


def pp018(root: Path, files: dict[str, str]) -> list[tuple[int, str]]:
    write_tree(root, files)
    report = scan_tree(root, select=["PP018"])
    assert all(f.rule == "PP018" for f in report.findings)
    return [(f.location.line, f.message) for f in report.findings]


def test_service_repeating_a_port_with_the_default_protocol(tmp_path: Path) -> None:
    ports = "{name: http, port: 80, targetPort: 8080}\n{name: web, port: 80, protocol: TCP, targetPort: 8081}"
    assert pp018(tmp_path, {"k8s/web.yaml": svc(ports)}) == [
        (
            11,
            "Service web spec.ports[1]: Duplicate value: {port: 80, protocol: TCP} (spec.ports[0] has the same key):"
            " the API server refuses the Service; remove one entry",
        )
    ]


def test_same_port_number_on_tcp_and_udp_is_two_keys(tmp_path: Path) -> None:
    ports = "{name: dns-udp, port: 53, protocol: UDP}\n{name: dns-tcp, port: 53, protocol: TCP}"
    assert pp018(tmp_path, {"k8s/dns.yaml": svc(ports)}) == []


def test_service_repeating_a_node_port(tmp_path: Path) -> None:
    ports = "{name: http, port: 80, nodePort: 30080}\n{name: https, port: 443, nodePort: 30080}"
    [(line, message)] = pp018(tmp_path, {"k8s/web.yaml": svc(ports, "NodePort")})
    assert line == 11
    assert message.startswith(
        "Service web spec.ports[1].nodePort: Duplicate value: 30080 (spec.ports[0] asks"
    )


def test_service_repeating_a_port_name(tmp_path: Path) -> None:
    ports = "{name: http, port: 80}\n{name: http, port: 8080}"
    [(_, message)] = pp018(tmp_path, {"k8s/web.yaml": svc(ports)})
    assert message.startswith('Service web spec.ports[1].name: Duplicate value: "http"')


def test_container_repeating_a_container_port(tmp_path: Path) -> None:
    """Two real charts shipped this; server-side apply refuses, client-side apply keeps one."""
    ports = "[{name: http, containerPort: 80}, {name: alt, containerPort: 80, protocol: TCP}]"
    container = f"{{name: api, image: ghcr.io/acme/api:2, ports: {ports}}}"
    [(line, message)] = pp018(tmp_path, {"k8s/api.yaml": workload(container)})
    assert line == 13
    assert message == (
        "container api of api lists containerPort 80/TCP twice (ports[0] and ports[1]): server-side apply refuses"
        ' it (duplicate entries for key [containerPort=80,protocol="TCP"]) and client-side apply silently keeps'
        " one; remove one entry"
    )


def test_container_repeating_a_port_name(tmp_path: Path) -> None:
    ports = "[{name: http, containerPort: 80}, {name: http, containerPort: 8080}]"
    container = f"{{name: api, image: ghcr.io/acme/api:2, ports: {ports}}}"
    [(_, message)] = pp018(tmp_path, {"k8s/api.yaml": workload(container)})
    assert message.startswith('container api of api ports[1].name: Duplicate value: "http"')


def test_distinct_keys_and_other_containers_are_no_repeat(tmp_path: Path) -> None:
    """The same port in two containers of one pod is two lists (PP004's business), and 80/UDP is another key."""
    first = "{name: a, image: nginx:1.27, ports: [{containerPort: 80}, {containerPort: 80, protocol: UDP}]}"
    second = "{name: b, image: ghcr.io/acme/b:1, ports: [{containerPort: 80}]}"
    assert pp018(tmp_path, {"k8s/api.yaml": workload(first, second)}) == []


def test_two_files_with_the_same_service_are_alternatives(tmp_path: Path) -> None:
    one = svc("{name: http, port: 80}")
    assert pp018(tmp_path, {"k8s/web.yaml": one, "k8s/web-copy.yaml": one}) == []


def test_template_branches_are_alternatives_not_repeats(tmp_path: Path) -> None:
    template = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n"
        "{% if tls %}\n    - {name: https, port: 443, targetPort: 8443}\n{% else %}\n"
        "    - {name: https, port: 443, targetPort: 8080}\n{% endif %}\n"
    )
    assert pp018(tmp_path, {"k8s/web.yaml.j2": template}) == []
