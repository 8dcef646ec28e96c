"""The Kubernetes reader: pods, their namespaces and users, Services, the NodePort pool, templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import (
    BindAddress,
    Fact,
    InvalidPort,
    KernelSetting,
    Listener,
    NetnsDecl,
    ParseError,
    PodTemplate,
    PortPool,
    PortRange,
    Unresolved,
)
from portpolicy.readers import kubernetes
from portpolicy.readers.base import Source
from portpolicy.registry import PATH_READERS, YAML_READERS
from portpolicy.signatures.kubernetes import SIGNATURE
from portpolicy.yamlnodes import compose_documents
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree

K8S = FIXTURES / "kubernetes"


def read_text(text: str, path: str = "deploy/app.yaml") -> list[Fact]:
    """Read as the pipeline does: by name for templates and static pods, else by content."""
    if SIGNATURE.named(path):
        return list(kubernetes.read(Source(path, text)))
    docs = compose_documents(text)
    assert kubernetes.sniff(text) and kubernetes.claims(docs)
    return list(kubernetes.read_yaml(Source(path, text), docs))


def read_fixture(rel: str) -> list[Fact]:
    return read_text((K8S / rel).read_text(encoding="utf-8"), f"tests/fixtures/kubernetes/{rel}")


def listeners(facts: list[Fact]) -> list[Listener]:
    return [f for f in facts if isinstance(f, Listener)]


def by_port(facts: list[Fact], port: int, netns: str | None = None) -> Listener:
    found = [ln for ln in listeners(facts) if ln.ports.start == port and (netns is None or ln.netns == netns)]
    assert len(found) == 1, found
    return found[0]


def pod(spec: str, kind: str = "Pod", name: str = "web", pod_sc: str = "", extra_meta: str = "") -> str:
    """A manifest of ``kind`` whose pod spec holds ``spec`` (indented to the pod spec level)."""
    body = "\n".join("    " + line if line else line for line in spec.strip("\n").split("\n"))
    security = f"    securityContext:\n{pod_sc}" if pod_sc else ""
    if kind == "Pod":
        return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{extra_meta}spec:\n{security}{body}\n"
    nested = "\n".join("    " + line if line else line for line in (security + body).split("\n"))
    return (
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n{extra_meta}spec:\n"
        f"  template:\n    spec:\n{nested}\n"
    )


# -- workloads, namespaces, ports -------------------------------------------------------------


def test_deployment_and_statefulset_with_sidecar() -> None:
    facts = read_fixture("shop/storefront.yaml")
    decls = {f.netns for f in facts if isinstance(f, NetnsDecl)}
    assert decls == {"pod:shop/storefront", "pod:shop/payments"}
    nginx = by_port(facts, 8080)
    assert nginx.netns == "pod:shop/storefront" and nginx.service == "shop/storefront/nginx"
    assert nginx.run_as.user == "101" and nginx.run_as.no_new_privileges
    assert nginx.run_as.dropped == frozenset({"ALL"}) and nginx.bound_by == "process"
    assert nginx.address == BindAddress.wildcard() and nginx.location.line == 29
    api = by_port(facts, 40000)
    assert api.run_as.user == "1000" and api.netns == "pod:shop/payments"
    udp = by_port(facts, 9125)
    # no securityContext: the image decides, and data/images.yml knows prom/* runs as nobody
    assert udp.protocol == "udp" and udp.run_as.user == "nobody"
    assert "prom/statsd-exporter" in udp.run_as.origin
    # The Service's port 80 is a cluster-IP port, not a socket; targetPort names a container port.
    assert not [ln for ln in listeners(facts) if ln.ports.start == 80]
    assert not [f for f in facts if isinstance(f, (InvalidPort, Unresolved, ParseError, PortPool))]


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"]
)
def test_every_workload_kind_with_a_pod_template(kind: str) -> None:
    text = pod(
        "containers:\n  - name: app\n    image: app:1\n    ports:\n      - containerPort: 8080\n", kind
    )
    (ln,) = listeners(read_text(text))
    assert ln.netns == "pod:default/web" and ln.ports == PortRange.single(8080)


def test_cronjob_sysctls_native_sidecar_and_init_container() -> None:
    facts = read_fixture("jobs/batch.yaml")
    ports = sorted(ln.ports.start for ln in listeners(facts))
    assert ports == [80, 2020]  # the plain init container's 7000 runs before the app: not a listener
    settings = [f for f in facts if isinstance(f, KernelSetting)]
    assert [(s.key, s.value, s.netns) for s in settings] == [
        ("net.ipv4.ip_unprivileged_port_start", "80", "pod:batch/report"),
        ("net.ipv4.ip_local_port_range", "40000 60999", "pod:batch/report"),
    ]  # net.core.somaxconn is no port setting


def test_host_network_hostport_and_host_ip() -> None:
    facts = read_fixture("monitoring/node-exporter.yaml")
    (ln,) = listeners(facts)  # hostPort equals containerPort: one socket, the process's, on the node
    assert ln.netns == "host" and ln.bound_by == "process" and ln.run_as.user == "65534"
    assert not [f for f in facts if isinstance(f, NetnsDecl)]
    assert "hostNetwork: true" in ln.evidence[0].message
    facts = read_fixture("list/kubectl-get.yaml")
    forwarded = by_port(facts, 11211, "host")
    assert forwarded.bound_by == "runtime" and forwarded.address == BindAddress("127.0.0.1", "ipv4")
    assert by_port(facts, 11211, "pod:cache/memcached").bound_by == "process"
    assert by_port(facts, 6379).netns == "pod:cache/redis-0"  # a `kind: List` item


def test_run_as_rules() -> None:
    spec = (
        "containers:\n  - name: a\n    image: a:1\n    ports: [{containerPort: 80}]\n"
        "  - name: b\n    image: b:1\n    securityContext: {runAsUser: 0}\n    ports: [{containerPort: 81}]\n"
        "  - name: c\n    image: c:1\n    securityContext: {privileged: true}\n    ports: [{containerPort: 82}]\n"
    )
    facts = read_text(pod(spec, pod_sc="      runAsNonRoot: true\n"))
    assert by_port(facts, 80).run_as.user == kubernetes.NON_ROOT  # kubelet refuses root: non-root
    assert by_port(facts, 81).run_as.user == "0"  # the container's runAsUser overrides the pod's
    assert "ALL" in by_port(facts, 82).run_as.added
    facts = read_text(pod(spec, pod_sc="      runAsUser: 1000\n"))
    assert by_port(facts, 80).run_as.user == "1000"
    windows = read_text(pod("os: {name: windows}\n" + spec, pod_sc="      runAsUser: 1000\n"))
    assert by_port(windows, 80).run_as.user is None  # no privileged ports to speak of


def test_invalid_ports() -> None:
    facts = read_fixture("invalid/bad-ports.yaml")
    invalid = {(f.location.line, f.value) for f in facts if isinstance(f, InvalidPort)}
    assert invalid == {
        (10, "0"),
        (11, "65536"),
        (13, "70000"),
        (15, "tcp"),
        (16, "http"),
        (17, ""),
        (26, "0"),
        (27, "99999"),
        (28, "300000"),
        (41, "9090"),
    }
    # Only the valid container port of an entry with a bad hostPort is left as a socket.
    assert [ln.ports.start for ln in listeners(facts)] == [8080]


def test_hostport_zero_means_none_and_yaml11_integers() -> None:
    text = pod("containers:\n  - name: a\n    ports:\n      - {containerPort: 0x50, hostPort: 0}\n")
    facts = read_text(text)
    assert [(ln.ports.start, ln.netns) for ln in listeners(facts)] == [(80, "pod:default/web")]


def test_structure_errors_are_parse_errors() -> None:
    facts = read_text(pod("containers:\n  name: a\n"))
    assert [type(f).__name__ for f in facts if not isinstance(f, (NetnsDecl, PodTemplate))] == ["ParseError"]


def test_alternative_manifests_in_two_files_get_their_own_namespaces() -> None:
    a = read_text(pod("containers: [{name: a, ports: [{containerPort: 80}]}]"), "x/one.yaml")
    b = read_text(pod("containers: [{name: b, ports: [{containerPort: 80}]}]"), "x/two.yaml")
    merged = kubernetes.assemble(a + b)
    assert sorted(ln.netns for ln in listeners(merged)) == ["pod:default/web", "pod:default/web@x/two.yaml"]


# -- the NodePort pool ----------------------------------------------------------------------------


def test_node_port_range_flag_forms() -> None:
    static = read_fixture("node/etc/kubernetes/manifests/kube-apiserver.yaml")
    assert [(p.ports, p.default) for p in static if isinstance(p, PortPool)] == [
        (PortRange(30000, 32767), False)
    ]
    v1beta3 = read_fixture("kubeadm/cluster-v1beta3.yaml")
    assert [p.ports for p in v1beta3 if isinstance(p, PortPool)] == [PortRange(30000, 40000)]
    v1beta4 = read_fixture("kubeadm/cluster-v1beta4.yaml")
    assert [p.ports for p in v1beta4 if isinstance(p, PortPool)] == [PortRange(20000, 22767)]
    inline = pod(
        "containers: [{name: api, command: [sh, -c, 'kube-apiserver --service-node-port-range=80-32767']}]"
    )
    assert [p.ports for p in read_text(inline) if isinstance(p, PortPool)] == [PortRange(80, 32767)]
    kops = "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nspec:\n  kubeAPIServer:\n    serviceNodePortRange: 30000-33000\n"
    assert [p.ports for p in read_text(kops) if isinstance(p, PortPool)] == [PortRange(30000, 33000)]
    bad = read_text(pod("containers: [{name: api, args: [--service-node-port-range=32767-30000]}]"))
    assert [type(f).__name__ for f in bad if not isinstance(f, (NetnsDecl, PodTemplate))] == ["InvalidPort"]


def test_default_pool_only_without_a_flag_and_once() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {{name: {0}}}\nspec:\n  type: {1}\n  ports: [{{port: 80}}]\n"
    facts = read_text(svc.format("a", "NodePort")) + read_text(
        svc.format("b", "LoadBalancer"), "deploy/b.yaml"
    )
    facts += read_text(svc.format("c", "ClusterIP"))
    pools = [f for f in kubernetes.assemble(facts) if isinstance(f, PortPool)]
    assert [(p.ports, p.default, len(p.evidence)) for p in pools] == [(kubernetes.NODEPORT_DEFAULT, True, 2)]
    flagged = kubernetes.assemble(facts + read_fixture("kubeadm/cluster-v1beta4.yaml"))
    assert [p.default for p in flagged if isinstance(p, PortPool)] == [False]
    no_alloc = svc.format("d", "LoadBalancer") + "  allocateLoadBalancerNodePorts: false\n"
    assert not [f for f in read_text(no_alloc) if isinstance(f, PortPool)]


# -- templates ----------------------------------------------------------------------------------


def test_helm_template_that_parses_gives_unresolved_values() -> None:
    facts = read_fixture("helm/shop/templates/metrics.yaml")
    assert [ln.ports.start for ln in listeners(facts)] == [9102]
    (unresolved,) = [f for f in facts if isinstance(f, Unresolved)]
    assert unresolved.value == "{{ .Values.metricsPort }}"


def test_jinja_template_is_masked_and_conditionals_are_not_certain() -> None:
    facts = read_fixture("ansible-role/templates/echo-deployment.yaml.j2")
    (ln,) = listeners(facts)
    assert ln.ports.start == 5678 and ln.netns.startswith("pod:")  # hostNetwork only under {% if %}
    assert ln.run_as.user == "10001"
    values = sorted(f.value for f in facts if isinstance(f, Unresolved))
    assert values == ["true", "{{ echo_admin_port }}", "{{ port }}"]


def test_template_that_does_not_parse_is_unresolved_not_an_error() -> None:
    facts = read_fixture("ansible-role/templates/broken-job.yaml.j2")
    assert [type(f).__name__ for f in facts] == ["Unresolved"]


def test_static_pod_that_does_not_parse_is_an_error() -> None:
    facts = read_fixture("broken/etc/kubernetes/manifests/etcd.yaml")
    assert [type(f).__name__ for f in facts] == ["ParseError"]


def test_registry_order_keeps_compose_files_compose() -> None:
    assert PATH_READERS.index(kubernetes) > [m.NAME for m in PATH_READERS].index("compose")
    assert YAML_READERS[0].NAME == "compose" and kubernetes in YAML_READERS
    assert not SIGNATURE.named("roles/app/templates/docker-compose.yml")
    assert SIGNATURE.named("roles/echo/templates/echo-deployment.yaml.j2")
    assert SIGNATURE.named("node/etc/kubernetes/manifests/kube-apiserver.yaml")
    compose_doc = compose_documents("services:\n  web:\n    image: nginx\n")
    assert not kubernetes.claims(compose_doc)


# -- whole runs: rules on these facts ------------------------------------------------------------


def rules_of(root: Path, **overrides: object) -> list[tuple[str, str]]:
    report = scan_tree(root, **overrides)
    return [(f.rule, f"{f.location.path}:{f.location.line}") for f in report.findings]


def test_fixture_tree_findings(tmp_path: Path) -> None:
    """Every finding the fixtures give, and nothing from Helm templates or unrelated pods."""
    report = scan_tree(K8S)
    got = sorted((f.rule, f"{f.location.path}:{f.location.line}") for f in report.findings)
    invalid = [("PP005", f"invalid/bad-ports.yaml:{n}") for n in (10, 11, 13, 15, 16, 17, 26, 27, 28, 41)]
    assert got == sorted(
        [
            ("PP000", "broken/etc/kubernetes/manifests/etcd.yaml:13"),
            ("PP010", "kubeadm/cluster-v1beta3.yaml:15"),
            ("PP010", "node/etc/kubernetes/manifests/kube-apiserver.yaml:21"),
            ("PP002", "shop/storefront.yaml:68"),
            *invalid,
        ]
    )
    helm = [f for f in report.findings if "helm/" in f.location.path]
    assert not helm
    # a chart's files are the Helm stage's (portpolicy.helm), never read as raw manifests
    assert report.readers.get("helm/shop/templates/deployment.yaml") in {"helm", None}


def test_runtime_decides_a_non_root_pod_on_port_80(tmp_path: Path) -> None:
    text = pod(
        "containers:\n  - name: web\n    image: nginx:1.27\n    ports: [{containerPort: 80}]\n",
        "Deployment",
        pod_sc="      runAsUser: 101\n",
    )
    write_tree(tmp_path, {"k8s/web.yaml": text})
    # containerd 2.x, assumed: ip_unprivileged_port_start=0 in pods, but not on CRI-O or containerd 1.x
    assumed = scan_tree(tmp_path).findings
    assert [(f.rule, f.severity) for f in assumed] == [("PP001", "warning")]
    assert "fails with EACCES" in assumed[0].message and "CRI-O" in assumed[0].message
    report = scan_tree(tmp_path, runtime="cri-o")
    (finding,) = report.findings
    assert finding.rule == "PP001" and "runtime cri-o keeps it" in finding.message
    assert rules_of(tmp_path, runtime="containerd") == []


def test_non_root_added_bind_capability(tmp_path: Path) -> None:
    """No ambient capabilities in Kubernetes: only file caps could help, and no_new_privs stops those."""
    spec = (
        "hostNetwork: true\ncontainers:\n  - name: proxy\n    image: envoy:1\n"
        "    securityContext:\n      runAsUser: 1000\n      allowPrivilegeEscalation: {ape}\n"
        "      capabilities: {{add: [NET_BIND_SERVICE], drop: [ALL]}}\n    ports: [{{containerPort: 443}}]\n"
    )
    write_tree(tmp_path, {"k8s/proxy.yaml": pod(spec.format(ape="false"), "DaemonSet")})
    report = scan_tree(tmp_path)
    assert [f.rule for f in report.findings] == ["PP001"]
    assert "no ambient capabilities" in report.findings[0].message
    write_tree(tmp_path, {"k8s/proxy.yaml": pod(spec.format(ape="true"), "DaemonSet")})
    assert rules_of(tmp_path) == []  # a setcap'd binary may bind it: not known


def test_conflicts_only_where_namespaces_are_shared(tmp_path: Path) -> None:
    files = {
        f"examples/app{i}.yaml": pod(
            "containers: [{name: web, image: 'nginx:1.27', ports: [{containerPort: 80}]}]",
            "Deployment",
            name=f"app{i}",
        )
        for i in range(5)
    }
    files["examples/hostports.yaml"] = (
        pod(
            "containers: [{name: a, ports: [{containerPort: 8080, hostPort: 8080}]}]",
            "Deployment",
            name="one",
        )
        + "---\n"
        + pod(
            "containers: [{name: b, ports: [{containerPort: 9090, hostPort: 8080}]}]",
            "Deployment",
            name="two",
        )
    )
    write_tree(tmp_path, files)
    assert rules_of(tmp_path) == []  # separate pods; the scheduler keeps hostPort users apart
    ds = "hostNetwork: true\ncontainers: [{{name: {0}, image: '{0}:1', ports: [{{containerPort: 9100}}]}}]\n"
    write_tree(
        tmp_path,
        {
            "node/node-exporter.yaml": pod(ds.format("node-exporter"), "DaemonSet", name="node-exporter"),
            "node/custom-exporter.yaml": pod(ds.format("custom"), "DaemonSet", name="custom-exporter"),
        },
    )
    assert [r for r, _ in rules_of(tmp_path)] == ["PP004"]


def test_hostport_and_a_host_daemon_clash(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "hosts:\n  node1:\n    paths: ['rootfs/**', 'k8s/**']\n",
            "rootfs/etc/systemd/system/metrics-proxy.socket": "[Socket]\nListenStream=9100\n",
            "k8s/exporter.yaml": pod(
                "containers: [{name: exporter, ports: [{containerPort: 9100, hostPort: 9100}]}]", "Deployment"
            ),
        },
    )
    assert [r for r, _ in rules_of(tmp_path)] == ["PP004"]


def test_sidecar_makes_the_pod_namespace_shared(tmp_path: Path) -> None:
    one = pod("containers: [{name: app, ports: [{containerPort: 40000}]}]", "Deployment")
    write_tree(tmp_path, {"k8s/app.yaml": one})
    assert rules_of(tmp_path) == []
    two = pod(
        "containers: [{name: app, ports: [{containerPort: 40000}]}, {name: proxy, ports: [{containerPort: 15001}]}]",
        "Deployment",
    )
    write_tree(tmp_path, {"k8s/app.yaml": two})
    assert [r for r, _ in rules_of(tmp_path)] == ["PP002"]


def test_cli_on_the_node_tree() -> None:
    result = run_cli("check", "--select", "PP010", str(K8S / "node"), cwd=K8S.parent.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr  # a warning does not fail by default
    assert "PP010" in result.stdout and "10240-65535" in result.stdout
    assert "99-k8s-general.conf" in result.stdout


def test_hostport_in_the_ephemeral_range_is_not_a_socket(tmp_path: Path) -> None:
    """CNI portmap DNATs a hostPort: no socket exists, so no outgoing connection can take it (no PP002)."""
    write_tree(
        tmp_path,
        {
            "k8s/agent.yaml": pod(
                "containers: [{name: agent, ports: [{containerPort: 8080, hostPort: 40000}]}]", "DaemonSet"
            )
        },
    )
    assert rules_of(tmp_path) == []
    write_tree(
        tmp_path,
        {
            "k8s/agent.yaml": pod(
                "hostNetwork: true\ncontainers: [{name: agent, ports: [{containerPort: 40000}]}]", "DaemonSet"
            )
        },
    )
    assert [r for r, _ in rules_of(tmp_path)] == ["PP002"]


def test_node_port_pool_needs_its_whole_overlap_reserved(tmp_path: Path) -> None:
    flag = "containers: [{name: kube-apiserver, command: [kube-apiserver, --service-node-port-range=30000-40000]}]"
    for reserved, expected in (("32768-40000", []), ("32768-39999", ["PP010"]), ("30000-40000", [])):
        write_tree(
            tmp_path,
            {
                "etc/sysctl.d/90-k8s.conf": f"net.ipv4.ip_local_reserved_ports = {reserved}\n",
                "etc/kubernetes/manifests/kube-apiserver.yaml": pod(flag, "Pod"),
            },
        )
        assert [r for r, _ in rules_of(tmp_path)] == expected, reserved


@pytest.mark.parametrize(
    ("port", "reason"),
    [
        ("\u0668\u0660", "containerPort: '\u0668\u0660' is not a port number"),  # not 80
        ("0x" + "F" * 30, "is not a port number"),  # no int64 the API server takes
        ("9" * 5000, f"containerPort: '{'9' * 40}...' is not a port number"),
    ],
    ids=["arabic-indic", "long-hex", "huge"],
)
def test_container_ports_are_ascii_yaml_integers(port: str, reason: str) -> None:
    facts = read_text(
        pod(f"containers:\n  - name: web\n    image: web\n    ports:\n      - containerPort: {port}\n")
    )
    bad = [f for f in facts if isinstance(f, InvalidPort)]
    assert len(bad) == 1 and reason in bad[0].reason, bad
    assert listeners(facts) == []


def test_yaml_hex_ports_still_read() -> None:
    facts = read_text(
        pod("containers:\n  - name: web\n    image: web\n    ports:\n      - containerPort: 0x1F90\n")
    )
    assert [ln.ports.start for ln in listeners(facts)] == [8080]


def test_node_port_range_in_unicode_digits_is_invalid() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n"
        "  containers:\n    - name: kube-apiserver\n      image: registry.k8s.io/kube-apiserver:v1.30.0\n"
        "      command:\n        - kube-apiserver\n"
        "        - --service-node-port-range=\u0663\u0660\u0660\u0660\u0660-\u0663\u0662\u0667\u0666\u0667\n"
    )
    facts = read_text(text, "etc/kubernetes/manifests/kube-apiserver.yaml")
    (bad,) = [f for f in facts if isinstance(f, InvalidPort)]
    assert "is not a port range" in bad.reason


# -- ConfigMap keys and the pods that mount them ------------------------------------------------

CONFIGMAP_AND_POD = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: proxy
  namespace: edge
data:
  nginx.conf: |
    events {}
    http {
      server { listen 80; }
    }
  motd: "hello"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: edge
spec:
  template:
    spec:
      securityContext:
        runAsUser: 101
      containers:
        - name: nginx
          image: nginx:1.27
          volumeMounts:
            - name: conf
              mountPath: /etc/nginx/nginx.conf
              subPath: nginx.conf
            - name: all
              mountPath: /etc/proxy
            - name: picked
              mountPath: /etc/picked/
            - name: data
              mountPath: /var/lib/data
      volumes:
        - name: conf
          configMap:
            name: proxy
        - name: all
          projected:
            sources:
              - configMap:
                  name: proxy
        - name: picked
          configMap:
            name: proxy
            items:
              - key: nginx.conf
                path: sites/main.conf
        - name: data
          emptyDir: {}
"""


def test_configmap_keys_are_embedded_files_at_the_lines_they_are_written() -> None:
    from portpolicy.virtual import Embedded

    keys = {f.name: f for f in read_text(CONFIGMAP_AND_POD) if isinstance(f, Embedded)}
    assert set(keys) == {"nginx.conf", "motd"}
    conf = keys["nginx.conf"]
    assert (conf.owner, conf.lines, conf.location.line) == ("configmap:edge/proxy", (8, 11), 7)
    # padded to the manifest: line 10 of the text is line 10 of the manifest, same columns
    lines = conf.text.split("\n")
    assert lines[9] == "      server { listen 80; }" and lines[9] == CONFIGMAP_AND_POD.split("\n")[9]
    assert keys["motd"].text.split("\n")[11] == "hello" and keys["motd"].lines == (12, 12)


def test_pod_mounts_name_the_configmap_and_key_they_take() -> None:
    from portpolicy.model import ContainerLink

    links = [f for f in read_text(CONFIGMAP_AND_POD) if isinstance(f, ContainerLink)]
    assert len(links) == 1
    link = links[0]
    assert (link.service, link.netns, link.run_as.user) == ("edge/web/nginx", "pod:edge/web", "101")
    assert [(m.source, m.target, m.location.line) for m in link.mounts] == [
        ("configmap:edge/proxy:nginx.conf", "/etc/nginx/nginx.conf", 29),  # subPath: one key, one file
        ("configmap:edge/proxy", "/etc/proxy/", 32),  # a folder: every key
        ("configmap:edge/proxy:nginx.conf", "/etc/picked/sites/main.conf", 34),  # items: path per key
    ]


def test_a_pod_without_configmap_mounts_gives_no_link() -> None:
    from portpolicy.model import ContainerLink

    text = """\
apiVersion: v1
kind: Pod
metadata: {name: cache}
spec:
  containers:
    - name: redis
      image: redis:7
      volumeMounts:
        - {name: data, mountPath: /data}
        - {name: tls, mountPath: /etc/redis/tls}
        - {name: missing, mountPath: /etc/redis/redis.conf}
  volumes:
    - {name: data, emptyDir: {}}
    - {name: tls, secret: {secretName: redis-tls}}
"""
    facts = read_text(text)
    links = [f for f in facts if isinstance(f, ContainerLink)]
    assert [(f.mounts, f.image) for f in links] == [((), "redis:7")]  # its image only, for build calls (#23)
