"""One object of a manifest, read as its ``kind`` says (the items of a ``List`` too).

Workloads (``Pod``, ``Deployment``, ``CronJob``... and OpenShift's and Argo's) hold a pod spec
at a known path; ``Service``, ``ConfigMap``, kubeadm's ``ClusterConfiguration`` and kops'
``Cluster`` have their own readers, and so do a ``NetworkPolicy`` and a
``KubeProxyConfiguration`` (what keeps strangers off pods and node ports); other kinds open
no port.
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.readers.kubernetes.configmaps import read_config_map
from portpolicy.readers.kubernetes.exposure import read_kube_proxy, read_network_policy
from portpolicy.readers.kubernetes.manifest import Manifest, Record, is_object
from portpolicy.readers.kubernetes.pods import read_workload
from portpolicy.readers.kubernetes.services import pool, read_kubeadm, read_service
from portpolicy.yamlnodes import MappingNode, Node, get, scalar, seq

# Where each workload kind keeps its pod spec (CronJob nests a Job template).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "DeploymentConfig": ("spec", "template", "spec"),  # OpenShift
    "Rollout": ("spec", "template", "spec"),  # Argo Rollouts
}


def read_object(m: Manifest, doc: Node, depth: int = 0) -> Iterator[Record]:
    """One object (or the items of a ``List``)."""
    if not isinstance(doc, MappingNode) or not is_object(doc):
        return
    kind = scalar(get(doc, "kind")) or ""
    api = scalar(get(doc, "apiVersion")) or ""
    if kind.endswith("List") and depth < 4:
        for item in seq(get(doc, "items")):
            yield from read_object(m, item, depth + 1)
        return
    if kind in POD_SPEC_PATHS:
        spec_path = POD_SPEC_PATHS[kind]
        labels = m.path(doc, (*spec_path[:-1], "metadata", "labels"))
        yield from read_workload(m, doc, kind, m.path(doc, spec_path), labels)
    elif kind == "Service":
        yield from read_service(m, doc)
    elif kind == "NetworkPolicy" and api.startswith("networking.k8s.io/"):
        yield from read_network_policy(m, doc)
    elif kind == "KubeProxyConfiguration" and api.startswith("kubeproxy.config.k8s.io/"):
        yield from read_kube_proxy(m, doc)
    elif kind == "ConfigMap":
        yield from read_config_map(m, doc)
    elif kind == "ClusterConfiguration" and api.startswith("kubeadm.k8s.io/"):
        yield from read_kubeadm(m, doc)
    elif kind == "Cluster" and api.startswith("kops.k8s.io/"):
        node = m.path(doc, ("spec", "kubeAPIServer", "serviceNodePortRange"))
        yield from pool(m, node, "kops spec.kubeAPIServer.serviceNodePortRange")
