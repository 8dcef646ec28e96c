"""Kubernetes exposure (issue #16): PP015 for a NodePort or LoadBalancer Service in front of a
data store, known through the Service-to-pod join, and PP016 for node ports and hostPorts on a
node whose firewall denies inbound traffic, with the traps that must stay quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portpolicy.model import Finding, ServicePort
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

CACHE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  namespace: shop
spec:
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache, tier: data}
    spec:
      containers:
        - name: redis
          image: redis:7.2-alpine
          ports:
            - name: redis
              containerPort: 6379
        - name: exporter
          image: oliver006/redis_exporter:v1.62.0
          ports:
            - name: metrics
              containerPort: 9121
"""


def service(
    kind: str = "LoadBalancer", extra_spec: str = "", annotations: str = "", node_port: str = ""
) -> str:
    meta = f"  annotations:\n{annotations}" if annotations else ""
    type_line = f"  type: {kind}\n" if kind else ""
    node = f"      nodePort: {node_port}\n" if node_port else ""
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: cache\n  namespace: shop\n{meta}spec:\n{type_line}"
        f"{extra_spec}  selector: {{app: cache}}\n  ports:\n    - name: redis\n      port: 6379\n"
        f"      targetPort: redis\n{node}    - name: metrics\n      port: 9121\n      targetPort: metrics\n"
    )


def findings(root: Path, files: dict[str, str], rule: str, **config: object) -> list[Finding]:
    write_tree(root, files)
    return [f for f in scan_tree(root, select=[rule], **config).findings if f.rule == rule]


def pp015(root: Path, files: dict[str, str]) -> list[Finding]:
    return findings(root, files, "PP015")


# PP015: a Service in front of a data store


def test_load_balancer_in_front_of_redis_pods_is_a_warning(tmp_path: Path) -> None:
    [finding] = pp015(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service()})
    assert finding.severity == "warning"
    assert (finding.location.path, finding.location.line) == ("deploy/cache.yaml", 34)
    assert finding.message.startswith(
        "Redis is reachable from outside the cluster through Service shop/cache (type LoadBalancer: a load "
        "balancer on a public address, and a node port on every node), port tcp/6379;"
    )
    assert (
        "the Service reaches shop/cache/redis TCP/6379 (redis), and its image redis:7.2-alpine runs Redis"
        in (finding.message)
    )
    assert "`loadBalancerSourceRanges`" in finding.message and "`type: ClusterIP`" in finding.message


def test_the_exporter_port_of_the_same_service_is_no_data_store(tmp_path: Path) -> None:
    found = pp015(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service("NodePort")})
    assert [f.location.line for f in found] == [34]
    assert "type NodePort: a node port from 30000-32767 on every node" in found[0].message


def test_node_port_written_is_named(tmp_path: Path) -> None:
    [finding] = pp015(
        tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service("NodePort", node_port="30379")}
    )
    assert "type NodePort: node port 30379 on every node" in finding.message


def test_an_unknown_image_is_known_by_its_container_port(tmp_path: Path) -> None:
    cache = CACHE.replace("redis:7.2-alpine", "registry.example.com/acme/cache:3.1")
    [finding] = pp015(tmp_path, {"deploy/cache.yaml": cache + "---\n" + service()})
    assert "container port tcp/6379 is Redis's port" in finding.message


def test_pods_outside_the_scope_leave_the_target_port(tmp_path: Path) -> None:
    """The chart's pods live elsewhere: the Service's own target port still names the store."""
    svc = service().replace("targetPort: redis", "targetPort: 6379")
    [finding] = pp015(tmp_path, {"deploy/cache-svc.yaml": svc})
    assert "(target port tcp/6379 is Redis's port)" in finding.message


def test_a_web_server_behind_a_load_balancer_is_quiet(tmp_path: Path) -> None:
    web = CACHE.replace("redis:7.2-alpine", "nginx:1.27").replace(
        "containerPort: 6379", "containerPort: 8080"
    )
    svc = service().replace("port: 6379", "port: 80")
    assert pp015(tmp_path, {"deploy/web.yaml": web + "---\n" + svc}) == []


@pytest.mark.parametrize(
    ("kind", "extra_spec", "annotations"),
    [
        ("", "", ""),  # ClusterIP, the default
        ("ClusterIP", "", ""),
        ("ClusterIP", "  clusterIP: None\n", ""),  # headless
        ("LoadBalancer", "  loadBalancerSourceRanges:\n    - 10.0.0.0/8\n    - 192.168.0.0/16\n", ""),
        ("LoadBalancer", "  loadBalancerSourceRanges: [203.0.113.0/24]\n", ""),
        ("LoadBalancer", "", '    networking.gke.io/load-balancer-type: "Internal"\n'),
        ("LoadBalancer", "", "    service.beta.kubernetes.io/aws-load-balancer-scheme: internal\n"),
        ("LoadBalancer", "", '    service.beta.kubernetes.io/azure-load-balancer-internal: "true"\n'),
        ("LoadBalancer", "", '    service.beta.kubernetes.io/load-balancer-source-ranges: "10.1.0.0/16"\n'),
    ],
)
def test_traps_are_quiet(tmp_path: Path, kind: str, extra_spec: str, annotations: str) -> None:
    files = {"deploy/cache.yaml": CACHE + "---\n" + service(kind, extra_spec, annotations)}
    assert pp015(tmp_path, files) == []


@pytest.mark.parametrize(
    "extra_spec",
    [
        "  externalTrafficPolicy: Local\n",  # keeps the client address, limits nothing
        "  loadBalancerSourceRanges: [0.0.0.0/0]\n",
        "  loadBalancerSourceRanges: []\n",
    ],
)
def test_what_does_not_restrict_keeps_the_warning(tmp_path: Path, extra_spec: str) -> None:
    [finding] = pp015(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(extra_spec=extra_spec)})
    assert finding.severity == "warning"


def test_a_false_internal_annotation_keeps_the_warning(tmp_path: Path) -> None:
    ann = '    service.beta.kubernetes.io/azure-load-balancer-internal: "false"\n'
    assert len(pp015(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(annotations=ann)})) == 1


POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: cache-from-api
  namespace: {namespace}
spec:
  podSelector:
    matchLabels: {{tier: data}}
  policyTypes: [Ingress]
  ingress:
{rules}"""
FROM_API = "    - from:\n        - podSelector:\n            matchLabels: {app: api}\n      ports:\n        - port: 6379\n"


def test_a_network_policy_limiting_sources_makes_it_info(tmp_path: Path) -> None:
    policy = POLICY.format(namespace="shop", rules=FROM_API)
    [finding] = pp015(
        tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(), "deploy/policy.yaml": policy}
    )
    assert finding.severity == "info"
    assert "though NetworkPolicy shop/cache-from-api limits which sources reach its pods" in finding.message


@pytest.mark.parametrize(
    ("namespace", "rules"),
    [
        ("payments", FROM_API),  # another namespace's policy
        ("shop", FROM_API + "    - ports:\n        - port: 9121\n"),  # one rule open to every source
        ("shop", "    - from:\n        - ipBlock:\n            cidr: 0.0.0.0/0\n"),
    ],
)
def test_a_policy_that_does_not_limit_keeps_the_warning(tmp_path: Path, namespace: str, rules: str) -> None:
    policy = POLICY.format(namespace=namespace, rules=rules)
    [finding] = pp015(
        tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(), "deploy/policy.yaml": policy}
    )
    assert finding.severity == "warning"


OPEN_METRICS = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: scrape-anything
  namespace: shop
spec:
  podSelector:
    {selector}
  ingress:
    - {{}}
"""


@pytest.mark.parametrize(
    "selector",
    ["matchLabels: {app: cache}", "matchExpressions: [{key: tier, operator: In, values: [data]}]"],
)
def test_policies_add_up_so_an_open_one_beside_keeps_the_warning(tmp_path: Path, selector: str) -> None:
    """Another policy that selects (or may select) the pods and admits everyone opens them."""
    files = {
        "deploy/cache.yaml": CACHE + "---\n" + service(),
        "deploy/policy.yaml": POLICY.format(namespace="shop", rules=FROM_API),
        "deploy/open.yaml": OPEN_METRICS.format(selector=selector),
    }
    [finding] = pp015(tmp_path, files)
    assert finding.severity == "warning"


def test_an_egress_only_policy_beside_the_limit_changes_nothing(tmp_path: Path) -> None:
    egress = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: egress\n  namespace: shop\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n    - {}\n"
    )
    files = {
        "deploy/cache.yaml": CACHE + "---\n" + service(),
        "deploy/policy.yaml": POLICY.format(namespace="shop", rules=FROM_API),
        "deploy/egress.yaml": egress,
    }
    [finding] = pp015(tmp_path, files)
    assert finding.severity == "info"


def test_a_default_deny_policy_for_every_pod_makes_it_info(tmp_path: Path) -> None:
    deny = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n"
        "  namespace: shop\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    )
    [finding] = pp015(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(), "deploy/deny.yaml": deny})
    assert finding.severity == "info"


def test_cli_reports_the_service_in_json(tmp_path: Path) -> None:
    write_tree(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service()})
    run = run_cli("check", "--select", "PP015", "--format", "json", "--fail-on", "warning", ".", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    found = json.loads(run.stdout)["findings"]
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in found] == [
        ("PP015", "warning", "deploy/cache.yaml", 34)
    ]


# PP016: node ports and hostPorts on a node whose firewall denies inbound traffic

UFW = {
    "etc/default/ufw": 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\n',
    "etc/ufw/user.rules": "*filter\n:ufw-user-input - [0:0]\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
    "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
}
K3S = "var/lib/rancher/k3s/server/manifests/"


def pp016(root: Path, files: dict[str, str], **config: object) -> list[Finding]:
    return findings(root, files, "PP016", **config)


def test_k3s_auto_deployed_node_port_beside_ufw(tmp_path: Path) -> None:
    files = {**UFW, K3S + "cache.yaml": CACHE + "---\n" + service("NodePort", node_port="30379")}
    found = pp016(tmp_path, files)
    assert [(f.location.path, f.location.line) for f in found] == [
        (K3S + "cache.yaml", 37),  # the nodePort line
        (K3S + "cache.yaml", 38),  # the metrics port: a node port the API server picks
    ]
    assert found[0].message.startswith(
        "Service shop/cache (type NodePort) opens node port 30379 on every node for its port tcp/6379, and the "
        "host firewall denies new inbound traffic (ufw default incoming drop), yet the node port is reachable from "
        "anywhere: kube-proxy DNATs node ports in nat PREROUTING"
    )
    assert "a node port the API server picks from 30000-32767 (no nodePort is written; the default range" in (
        found[1].message
    )
    assert found[0].host == "."


def test_load_balancer_node_ports_count_unless_not_allocated(tmp_path: Path) -> None:
    svc = service("LoadBalancer", "  loadBalancerSourceRanges: [10.0.0.0/8]\n")
    assert len(pp016(tmp_path / "lb", {**UFW, K3S + "cache.yaml": svc})) == 2
    off = service("LoadBalancer", "  allocateLoadBalancerNodePorts: false\n")
    assert pp016(tmp_path / "off", {**UFW, K3S + "cache.yaml": off}) == []
    assert pp016(tmp_path / "cip", {**UFW, K3S + "cache.yaml": service("ClusterIP")}) == []


def test_a_firewall_open_on_the_node_port_range_bypasses_nothing(tmp_path: Path) -> None:
    rules = UFW["etc/ufw/user.rules"].replace(
        "COMMIT", "-A ufw-user-input -p tcp --dport 30379 -j ACCEPT\nCOMMIT"
    )
    one = pp016(
        tmp_path / "one",
        {**UFW, "etc/ufw/user.rules": rules, K3S + "c.yaml": service("NodePort", node_port="30379")},
    )
    assert [f.location.line for f in one] == [14]  # the port the API server picks may be any other
    everything = rules.replace("--dport 30379", "--dport 30000:32767")
    files = {**UFW, "etc/ufw/user.rules": everything, K3S + "c.yaml": service("NodePort", node_port="30379")}
    assert pp016(tmp_path / "all", files) == []


@pytest.mark.parametrize(
    ("addresses", "found"),
    [("[10.0.0.0/8]", 0), ("[127.0.0.0/8]", 0), ("[0.0.0.0/0]", 2), ("[primary]", 2)],
)
def test_kube_proxy_node_port_addresses(tmp_path: Path, addresses: str, found: int) -> None:
    config = (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n"
        f"nodePortAddresses: {addresses}\n"
    )
    files = {**UFW, K3S + "cache.yaml": service("NodePort"), K3S + "kube-proxy.yaml": config}
    assert len(pp016(tmp_path, files)) == found


def test_kube_proxy_flag_in_its_daemon_set(tmp_path: Path) -> None:
    proxy = (
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\nspec:\n"
        "  selector:\n    matchLabels: {k8s-app: kube-proxy}\n  template:\n    metadata:\n"
        "      labels: {k8s-app: kube-proxy}\n    spec:\n      hostNetwork: true\n      containers:\n"
        "        - name: kube-proxy\n          image: registry.k8s.io/kube-proxy:v1.31.1\n"
        "          command: [/usr/local/bin/kube-proxy, --nodeport-addresses=192.168.10.0/24]\n"
    )
    files = {**UFW, K3S + "cache.yaml": service("NodePort"), K3S + "kube-proxy.yaml": proxy}
    assert pp016(tmp_path, files) == []


def test_a_service_in_another_scope_is_another_host_unless_mapped(tmp_path: Path) -> None:
    files = {
        "firewall/nftables.conf": (
            "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
            "    tcp dport 22 accept\n  }\n}\n"
        ),
        "k8s/cache.yaml": service("NodePort"),
    }
    assert pp016(tmp_path / "apart", files) == []
    mapped = {**files, ".portpolicy.yml": "hosts:\n  node1:\n    paths: [firewall/**, k8s/**]\n"}
    found = pp016(tmp_path / "mapped", mapped)
    assert [(f.host, f.location.line) for f in found] == [("node1", 10), ("node1", 13)]
    assert "nftables chain input policy drop" in found[0].message


def test_host_port_bypasses_whatever_dockers_settings_say(tmp_path: Path) -> None:
    """``"iptables": false`` turns off Docker's rules, not the CNI portmap plugin's."""
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cache\n  namespace: kube-system\nspec:\n  containers:\n"
        "    - name: redis\n      image: redis:7\n      ports:\n        - containerPort: 6379\n"
        "          hostPort: 6379\n"
    )
    files = {
        **UFW,
        "etc/docker/daemon.json": '{"iptables": false}\n',
        "etc/kubernetes/manifests/cache.yaml": pod,
    }
    [finding] = pp016(tmp_path, files)
    assert "it is a pod's hostPort, which the CNI portmap plugin DNATs in nat PREROUTING" in finding.message
    assert "Drop the hostPort" in finding.message and "DOCKER-USER" not in finding.message
    [info] = findings(tmp_path, {}, "PP015")
    assert info.severity == "info"  # the policy would limit 6379, but the DNAT comes first
    assert (
        "but not this hostPort (the CNI portmap plugin DNATs it in nat PREROUTING before INPUT)"
        in info.message
    )


def test_ansible_play_with_ufw_and_a_k8s_service(tmp_path: Path) -> None:
    play = """- hosts: nodes
  become: true
  tasks:
    - name: Deny incoming
      community.general.ufw:
        default: deny
        direction: incoming
    - name: SSH
      community.general.ufw: {rule: allow, port: "22", proto: tcp}
    - name: Expose the cache
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: v1
          kind: Service
          metadata:
            name: cache
            namespace: shop
          spec:
            type: NodePort
            selector: {app: cache}
            ports:
              - port: 6379
                nodePort: 30379
"""
    found = pp016(tmp_path, {"inventory": "[nodes]\nnode1\n", "site.yml": play})
    assert [(f.location.path, f.location.line) for f in found] == [("site.yml", 24)]
    assert "opens node port 30379" in found[0].message and "ufw default incoming drop" in found[0].message


def test_the_join_records_the_store_and_the_policy(tmp_path: Path) -> None:
    policy = POLICY.format(namespace="shop", rules=FROM_API)
    write_tree(tmp_path, {"deploy/cache.yaml": CACHE + "---\n" + service(), "deploy/policy.yaml": policy})
    ports = [f for f in scan_tree(tmp_path).facts if isinstance(f, ServicePort)]
    assert [(p.port, p.sensitive.service if p.sensitive else None, p.ingress_limit) for p in ports] == [
        (6379, "Redis", "shop/cache-from-api"),
        (9121, None, "shop/cache-from-api"),
    ]
    assert all(p.node_port_open and p.outside_limit == "" for p in ports)


HOSTILE_SHAPES = [
    "kind: Service\napiVersion: v1\nmetadata: {annotations: [1, 2]}\nspec: {type: LoadBalancer, "
    "loadBalancerSourceRanges: {a: b}, ports: [{port: 6379}]}\n",
    "kind: Service\napiVersion: v1\nmetadata:\n  annotations:\n    networking.gke.io/load-balancer-type: [x]\n"
    "spec: {type: LoadBalancer, loadBalancerSourceRanges: [[1], '::/0', 'not a cidr'], ports: [{port: 5432}]}\n",
    "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x}\nspec: {podSelector: [1], "
    "ingress: {from: 1}, policyTypes: x}\n",
    "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: y}\nspec: {podSelector: {matchLabels: 3}, "
    "ingress: [1, {from: [1, {ipBlock: 3}]}]}\n",
    "kind: KubeProxyConfiguration\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nnodePortAddresses: [[], 300.1.1.1/8, 1]\n",
    "kind: KubeProxyConfiguration\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nnodePortAddresses: "
    + "["
    + ", ".join(f"10.{i % 250}.0.0/16" for i in range(5000))
    + "]\n",
]


@pytest.mark.parametrize("text", HOSTILE_SHAPES)
def test_hostile_shapes_give_no_traceback(tmp_path: Path, text: str) -> None:
    write_tree(tmp_path, {**UFW, K3S + "bad.yaml": text, K3S + "cache.yaml": CACHE + "---\n" + service()})
    run = run_bounded("check", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr
    assert run.returncode in (0, 1), run.stderr
    messages = [f["message"] for f in json.loads(run.stdout)["findings"]]
    assert not [m for m in messages if "internal error" in m]
    assert any(m.startswith("Redis is reachable from outside the cluster") for m in messages)


def test_many_policies_and_pods_stay_bounded(tmp_path: Path) -> None:
    """Thousands of policies that select nothing and one Service over thousands of pods."""
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: shop, labels: {{app: cache}}}}\n"
        f"spec: {{containers: [{{name: r, image: 'redis:7', ports: [{{containerPort: 6379}}]}}]}}\n"
        for i in range(2000)
    )
    policies = "".join(
        f"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: n{i}, namespace: shop}}\n"
        f"spec: {{podSelector: {{matchLabels: {{app: other{i}}}}}, ingress: [{{from: [{{podSelector: {{}}}}]}}]}}\n"
        for i in range(2000)
    )
    svc = service().replace("targetPort: redis", "targetPort: 6379")
    write_tree(tmp_path, {"deploy/pods.yaml": pods, "deploy/policies.yaml": policies, "deploy/svc.yaml": svc})
    run = run_bounded("check", "--select", "PP015", "--format", "json", ".", cwd=tmp_path, timeout=60)
    assert not run.crashed, run.stderr
    found = json.loads(run.stdout)["findings"]
    assert [(f["rule"], f["severity"]) for f in found] == [("PP015", "warning")]  # no policy picks app: cache


def test_ansible_play_applying_a_load_balancer_in_front_of_mongodb(tmp_path: Path) -> None:
    play = """- hosts: localhost
  tasks:
    - name: MongoDB
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: apps/v1
          kind: StatefulSet
          metadata: {name: mongo, namespace: data}
          spec:
            serviceName: mongo
            selector: {matchLabels: {app: mongo}}
            template:
              metadata: {labels: {app: mongo}}
              spec:
                containers:
                  - name: mongo
                    image: mongo:7
                    ports: [{name: mongo, containerPort: 27017}]
    - name: Expose it
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: v1
          kind: Service
          metadata: {name: mongo-public, namespace: data}
          spec:
            type: LoadBalancer
            selector: {app: mongo}
            ports: [{port: 27017, targetPort: mongo}]
"""
    [finding] = pp015(tmp_path, {"site.yml": play})
    assert (finding.location.path, finding.severity) == ("site.yml", "warning")
    assert (
        "MongoDB is reachable from outside the cluster through Service data/mongo-public" in finding.message
    )
    assert "its image mongo:7 runs MongoDB" in finding.message


def test_facts_show_how_node_ports_meet_the_host_firewall(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {**UFW, K3S + "cache.yaml": CACHE + "---\n" + service("NodePort", node_port="30379")}
    )
    shown = run_cli("facts", ".", "--no-config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    (line,) = [ln for ln in shown.stdout.splitlines() if "node_ports =" in ln]
    assert "bypasses" in line and "kube-proxy" in line
    data = json.loads(run_cli("facts", ".", "--no-config", "--format", "json", cwd=tmp_path).stdout)
    (host,) = [h for h in data["hosts"] if h["name"] == "."]
    (namespace,) = [ns for ns in host["namespaces"] if ns["kind"] == "host"]
    assert namespace["node_ports"]["value"] == "bypasses"
