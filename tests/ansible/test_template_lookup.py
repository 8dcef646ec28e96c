"""``lookup('template', name)`` applied as a Kubernetes manifest (issue #18, kubespray's DNS).

kubespray pipes its CoreDNS and nodelocaldns manifests to ``kubectl apply -f -`` as
``stdin: "{{ lookup('template', item) }}"``; ``kubernetes.core.k8s`` takes them as
``definition: "{{ lookup('template', ...) | from_yaml }}"`` or ``template:``. Each is rendered
from the role's ``templates/`` with the task's variables, its facts at the template's lines.
A name that is absolute or climbs out with ``..`` is refused and never read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.ansible.loader import Loader
from portpolicy.model import Listener, Unresolved
from portpolicy.pipeline import Report
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nodelocaldns
  namespace: kube-system
spec:
  selector:
    matchLabels:
      k8s-app: nodelocaldns
  template:
    metadata:
      labels:
        k8s-app: nodelocaldns
    spec:
      hostNetwork: true
      dnsPolicy: Default
      containers:
        - name: node-cache
          image: "{{ nodelocaldns_image_repo }}:{{ nodelocaldns_image_tag }}"
          args:
            - -localip
            - "{{ nodelocaldns_ip }}"
          ports:
            - containerPort: 53
              name: dns
              protocol: UDP
            - containerPort: {{ nodelocaldns_health_port }}
              name: metrics
              protocol: TCP
"""
HEALTH_LINE = DAEMONSET.split("\n").index("            - containerPort: {{ nodelocaldns_health_port }}") + 1

DEFAULTS = """\
nodelocaldns_image_repo: registry.k8s.io/dns/k8s-dns-node-cache
nodelocaldns_image_tag: 1.23.1
nodelocaldns_ip: 169.254.25.10
nodelocaldns_health_port: 9254
kubectl: /usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.conf
dns_manifests:
  - nodelocaldns-daemonset.yml.j2
"""


def _tree(task: str, **extra: str) -> dict[str, str]:
    return {
        "inventory.ini": "[kube_control_plane]\ncp1\n",
        "cluster.yml": "- hosts: kube_control_plane\n  roles:\n    - dns\n",
        "roles/dns/defaults/main.yml": DEFAULTS,
        "roles/dns/tasks/main.yml": task,
        "roles/dns/templates/nodelocaldns-daemonset.yml.j2": DAEMONSET,
        **extra,
    }


KUBECTL_STDIN = """\
- name: Kubernetes Apps | nodelocalDNS
  ansible.builtin.command:
    cmd: "{{ kubectl }} apply -f - -n kube-system"
    stdin: "{{ lookup('template', item) }}"
  run_once: true
  loop: "{{ dns_manifests | flatten }}"
  vars:
    nodelocaldns_health_port: 9353
"""
K8S_DEFINITION = """\
- name: nodelocaldns
  kubernetes.core.k8s:
    state: present
    definition: "{{ lookup('template', 'nodelocaldns-daemonset.yml.j2') | from_yaml }}"
"""
K8S_TEMPLATE = """\
- name: nodelocaldns
  kubernetes.core.k8s:
    state: present
    template:
      path: nodelocaldns-daemonset.yml.j2
"""
PATH = "roles/dns/templates/nodelocaldns-daemonset.yml.j2"


def _host_listeners(report: Report) -> list[Listener]:
    return sorted(
        (f for f in report.facts if isinstance(f, Listener) and f.host == "kube_control_plane"),
        key=lambda f: f.location.line,
    )


@pytest.mark.parametrize(
    ("task", "health"),
    [(KUBECTL_STDIN, "9353"), (K8S_DEFINITION, "9254"), (K8S_TEMPLATE, "9254")],
    ids=["kubectl-stdin", "k8s-definition", "k8s-template"],
)
def test_the_manifest_becomes_facts_at_the_template_lines(tmp_path: Path, task: str, health: str) -> None:
    report = scan_tree(write_tree(tmp_path, _tree(task)))
    dns, metrics = _host_listeners(report)
    assert (dns.service, dns.protocol, str(dns.ports)) == ("kube-system/nodelocaldns/node-cache", "udp", "53")
    assert (metrics.protocol, str(metrics.ports)) == ("tcp", health)  # the task's vars rank above defaults
    assert (metrics.location.path, metrics.location.line) == (PATH, HEALTH_LINE)
    assert not [f for f in report.facts if isinstance(f, Unresolved)]


def test_template_vars_rank_above_the_task_s(tmp_path: Path) -> None:
    task = K8S_DEFINITION.replace(
        "'nodelocaldns-daemonset.yml.j2')",
        "'nodelocaldns-daemonset.yml.j2', template_vars={'nodelocaldns_health_port': 9999})",
    )
    report = scan_tree(write_tree(tmp_path, _tree(task)))
    assert [str(f.ports) for f in _host_listeners(report)] == ["53", "9999"]


def test_a_finding_points_at_the_value_and_the_template_line_in_the_cli(tmp_path: Path) -> None:
    """The health port inside the ephemeral range on the node's network namespace: the finding
    is at the line that writes 40000 (the task's vars), the template line that uses it beside."""
    task = KUBECTL_STDIN.replace("nodelocaldns_health_port: 9353", "nodelocaldns_health_port: 40000")
    root = write_tree(tmp_path, _tree(task))
    result = run_cli("check", "-v", ".", cwd=root)
    assert result.returncode == 0, result.stderr  # a warning: not fatal by default
    lines = result.stdout.splitlines()
    assert lines[0].startswith("roles/dns/tasks/main.yml:8:5: PP002 ")
    assert "kube-system/nodelocaldns/node-cache listens on tcp/40000" in lines[0]
    assert f"{PATH}:{HEALTH_LINE}:30: note: the value is used here" in lines[1]


def test_a_command_that_is_not_kubectl_apply_reads_nothing(tmp_path: Path) -> None:
    for cmd in ("{{ kubectl }} delete -f - -n kube-system", "tee /tmp/nodelocaldns.yml"):
        report = scan_tree(
            write_tree(tmp_path, _tree(KUBECTL_STDIN.replace("{{ kubectl }} apply -f - -n kube-system", cmd)))
        )
        assert _host_listeners(report) == [], cmd


def test_an_unknown_template_name_is_counted_with_its_reason(tmp_path: Path) -> None:
    task = (
        "- name: nodelocaldns\n"
        "  vars:\n"
        "    dns_variant: \"{{ lookup('env', 'DNS_VARIANT') }}\"\n"
        "  kubernetes.core.k8s:\n"
        "    state: present\n"
        "    definition: \"{{ lookup('template', dns_variant ~ '-daemonset.yml.j2') | from_yaml }}\"\n"
    )
    report = scan_tree(write_tree(tmp_path, _tree(task)))
    assert _host_listeners(report) == []
    [unresolved] = [f for f in report.facts if isinstance(f, Unresolved)]
    assert unresolved.reason == "manifest not read: a lookup() is only known when the playbook runs"
    assert (unresolved.location.path, unresolved.location.line) == ("roles/dns/tasks/main.yml", 6)


SECRET_MANIFEST = DAEMONSET.replace("nodelocaldns", "stolen").replace(
    "{{ nodelocaldns_health_port }}", "7777"
)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "../../../../../../etc/passwd", "templates/../../../etc/passwd"],
)
@pytest.mark.parametrize(
    "task", [K8S_DEFINITION, K8S_TEMPLATE, KUBECTL_STDIN], ids=["definition", "template", "stdin"]
)
def test_a_template_name_outside_the_role_is_refused_and_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, task: str
) -> None:
    """``../../etc/passwd`` from the role's folder is ``etc/passwd`` of the tree: Ansible would
    read it; the scan refuses the name and reads nothing."""
    task = task.replace("nodelocaldns-daemonset.yml.j2", name).replace(
        "- nodelocaldns-daemonset.yml.j2", f"- {name}"
    )
    read: list[str] = []
    original = Loader.text

    def recording(self: Loader, path: str) -> str | None:
        read.append(path)
        return original(self, path)

    monkeypatch.setattr(Loader, "text", recording)
    tree = _tree(task, **{"etc/passwd": SECRET_MANIFEST})
    tree["roles/dns/defaults/main.yml"] = DEFAULTS.replace("- nodelocaldns-daemonset.yml.j2", f"- {name!r}")
    report = scan_tree(write_tree(tmp_path, tree))
    assert not [p for p in read if p.endswith("passwd")]
    assert _host_listeners(report) == []
    [refused] = [f for f in report.facts if isinstance(f, Unresolved) and f.host == "kube_control_plane"]
    assert "refused, not read" in refused.reason


BOMB = "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{{ b }}\n{% endfor %}{% endfor %}\n"
HOSTILE = {
    "nested-loops": (K8S_DEFINITION, {"roles/dns/templates/nodelocaldns-daemonset.yml.j2": BOMB}),
    "self-lookup": (
        K8S_DEFINITION,
        {
            "roles/dns/templates/nodelocaldns-daemonset.yml.j2": "{{ lookup('template', 'nodelocaldns-daemonset.yml.j2') }}\n"
        },
    ),
    "long-name": (K8S_DEFINITION.replace("nodelocaldns-daemonset.yml.j2", "a/" * 400 + "x.j2"), {}),
    "long-value": (K8S_DEFINITION.replace("| from_yaml", "| from_yaml" + " | trim" * 5000), {}),
    "deep-template-vars": (
        K8S_DEFINITION.replace(
            "'nodelocaldns-daemonset.yml.j2')",
            "'nodelocaldns-daemonset.yml.j2', template_vars=" + "{'a': " * 300 + "1" + "}" * 300 + ")",
        ),
        {},
    ),
    "nul-name": (K8S_TEMPLATE.replace("path: nodelocaldns-daemonset.yml.j2", 'path: "x\\0y.j2"'), {}),
    "template-list": (
        K8S_TEMPLATE.replace(
            "      path: nodelocaldns-daemonset.yml.j2", "".join(f"      - n{i}.j2\n" for i in range(5000))
        ).replace("template:\n", "template:\n", 1),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_lookups_end_bounded_with_a_verdict(tmp_path: Path, case: str) -> None:
    task, extra = HOSTILE[case]
    root = write_tree(tmp_path, _tree(task, **extra))
    run = run_bounded("facts", ".", cwd=root)
    assert not run.crashed, (run.returncode, run.stderr[-2000:])
    assert run.returncode in (0, 1), run.stderr
    # never silent: the manifest is counted unresolved, with its reason
    assert "manifest not read: " in run.stdout or "not fully rendered (" in run.stdout, run.stdout
