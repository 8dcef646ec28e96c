"""PP019: a Service's nodePort outside the NodePort range in force for its scope, or on a ClusterIP Service.

The range comes from what was read for the scope (a kubeadm ClusterConfiguration, a kops
Cluster, a kube-apiserver flag), else the 30000-32767 default; the API server's own words
lead the message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli, scan_tree, write_tree

KUBEADM_V1BETA3 = """\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.29.4
apiServer:
  extraArgs:
    service-node-port-range: 30000-40999
"""

KUBEADM_V1BETA4 = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
    - name: service-node-port-range
      value: 20000-22767
"""


def svc(node_port: str, kind: str = "NodePort", name: str = "web") -> str:
    type_line = f"  type: {kind}\n" if kind else ""
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n{type_line}"
        f"  selector:\n    app: {name}\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n"
        f"      nodePort: {node_port}\n"
    )


def pp019(root: Path) -> list[tuple[str, int, str]]:
    report = scan_tree(root, select=["PP019"])
    return [(f.location.path, f.location.line, f.message) for f in report.findings if f.rule == "PP019"]


def test_outside_the_default_range_in_the_api_servers_words(tmp_path: Path) -> None:
    write_tree(tmp_path, {"deploy/web.yaml": svc("40080")})
    assert pp019(tmp_path) == [
        (
            "deploy/web.yaml",
            14,
            "Service shop/web spec.ports[0].nodePort: Invalid value: 40080: provided port is not in the valid"
            " range. The range of valid ports is 30000-32767 (the default: no --service-node-port-range was read"
            " for this scope): the API server refuses the Service; pick a nodePort in that range or leave it out",
        )
    ]


@pytest.mark.parametrize(("port", "found"), [("30000", 0), ("32767", 0), ("32768", 1), ("29999", 1)])
def test_the_default_range_is_inclusive(tmp_path: Path, port: str, found: int) -> None:
    write_tree(tmp_path, {"deploy/web.yaml": svc(port, "LoadBalancer")})
    assert len(pp019(tmp_path)) == found


def test_a_wider_kubeadm_range_in_the_same_scope_accepts_it(tmp_path: Path) -> None:
    write_tree(tmp_path, {"cluster/kubeadm-config.yaml": KUBEADM_V1BETA3, "cluster/web.yaml": svc("40080")})
    assert pp019(tmp_path) == []
    write_tree(tmp_path, {"cluster/web.yaml": svc("41000")})
    [(_, _, message)] = pp019(tmp_path)
    assert "The range of valid ports is 30000-40999: the API server refuses" in message


def test_a_narrower_range_names_where_it_was_set(tmp_path: Path) -> None:
    """kubeadm v1beta4 moves the pool to 20000-22767: the default's 30080 is now refused."""
    write_tree(tmp_path, {"cluster/kubeadm.yaml": KUBEADM_V1BETA4, "cluster/web.yaml": svc("30080")})
    report = scan_tree(tmp_path, select=["PP019"])
    [finding] = report.findings
    assert "The range of valid ports is 20000-22767: the API server" in finding.message
    [related] = finding.related
    assert (related.location.path, related.location.line) == ("cluster/kubeadm.yaml", 6)
    assert related.message == "kubeadm apiServer.extraArgs service-node-port-range sets the NodePort pool"


def test_kops_cluster_range(tmp_path: Path) -> None:
    kops = "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nspec:\n  kubeAPIServer:\n    serviceNodePortRange: 30000-33000\n"
    write_tree(tmp_path, {"k8s/cluster.yaml": kops, "k8s/web.yaml": svc("32900")})
    assert pp019(tmp_path) == []


def test_a_range_read_for_another_scope_does_not_apply(tmp_path: Path) -> None:
    """Scopes are clusters: a kubeadm file in another folder widens nothing here."""
    write_tree(tmp_path, {"cluster/kubeadm-config.yaml": KUBEADM_V1BETA3, "apps/web.yaml": svc("40080")})
    assert [line for _, line, _ in pp019(tmp_path)] == [14]


@pytest.mark.parametrize("kind", ["ClusterIP", ""])
def test_node_port_on_a_cluster_ip_service_is_forbidden(tmp_path: Path, kind: str) -> None:
    write_tree(tmp_path, {"deploy/web.yaml": svc("30080", kind)})
    [(_, _, message)] = pp019(tmp_path)
    assert message.startswith(
        "Service shop/web spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    )


def test_templated_type_or_node_port_gives_no_verdict(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "deploy/a.yaml.j2": svc("40080", "'{{ service_type }}'", "a"),
            "deploy/b.yaml.j2": svc("'{{ node_port }}'", "NodePort", "b"),
        },
    )
    assert pp019(tmp_path) == []


def test_cli_exit_status_and_rule_listing(tmp_path: Path) -> None:
    write_tree(tmp_path, {"deploy/web.yaml": svc("40080")})
    done = run_cli("check", "--select", "PP019", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert (
        "deploy/web.yaml:14:17: PP019 [error] Service shop/web spec.ports[0].nodePort: Invalid value: 40080"
        in (done.stdout)
    )
