"""``when:`` on roles and tasks as Ansible decides it (issue #18, kubespray's CSI drivers).

A role dependency whose ``when:`` is false is not run; one whose ``when:`` does not resolve
may run, and its listeners say so (``Listener.may_run``): PP004 does not pair two listeners
guarded by different unresolved conditions, since nothing says they run together.
"""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy.model import Finding, Listener
from portpolicy.pipeline import Report
from tests.helpers import run_cli, scan_tree, write_tree


def _node_plugin(name: str, driver: str) -> str:
    """A CSI node plugin DaemonSet on the host network, serving its health check on 9808."""
    return f"""\
kind: DaemonSet
apiVersion: apps/v1
metadata:
  name: {name}
  namespace: kube-system
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      containers:
        - name: {driver}
          image: "{{{{ {driver.replace("-", "_")}_image }}}}"
          args:
            - --endpoint=unix:///csi/csi.sock
          ports:
            - containerPort: 9808
              name: healthz
              protocol: TCP
"""


def _csi_role(name: str, driver: str) -> dict[str, str]:
    root = f"roles/apps/csi_driver/{name}"
    return {
        f"{root}/defaults/main.yml": f"{driver.replace('-', '_')}_image: registry.example.org/{driver}:1.30.0\n",
        f"{root}/tasks/main.yml": (
            f"- name: CSI {name} | Generate manifests\n"
            "  ansible.builtin.template:\n"
            f"    src: {name}-csi-nodeplugin.yml.j2\n"
            f'    dest: "{{{{ kube_config_dir }}}}/{name}-csi-nodeplugin.yml"\n'
            "    mode: '0644'\n"
        ),
        f"{root}/templates/{name}-csi-nodeplugin.yml.j2": _node_plugin(f"csi-{name}-nodeplugin", driver),
    }


DEFAULTS = """\
kube_config_dir: /etc/kubernetes
cinder_csi_enabled: false
aws_ebs_csi_enabled: false
"""
TREE = {
    "ansible.cfg": "[defaults]\ninventory = inventory/hosts.ini\n",
    "inventory/hosts.ini": "[kube_control_plane]\ncp1\ncp2\n",
    "cluster.yml": (
        "- name: Install Kubernetes apps\n"
        "  hosts: kube_control_plane\n"
        "  roles:\n"
        "    - { role: cluster_defaults }\n"
        "    - { role: apps, tags: apps }\n"
    ),
    "roles/cluster_defaults/defaults/main.yml": DEFAULTS,
    "roles/apps/meta/main.yml": (
        "---\n"
        "dependencies:\n"
        "  - role: apps/csi_driver/cinder\n"
        "    when:\n"
        "      - cinder_csi_enabled\n"
        "    tags:\n"
        "      - cinder-csi-driver\n"
        "  - role: apps/csi_driver/aws_ebs\n"
        "    when:\n"
        "      - aws_ebs_csi_enabled\n"
        "    tags:\n"
        "      - aws-ebs-csi-driver\n"
    ),
    **_csi_role("cinder", "cinder-csi-plugin"),
    **_csi_role("aws_ebs", "ebs-plugin"),
}
PLAY_HOST = "kube_control_plane"


def _listeners(report: Report, host: str) -> list[Listener]:
    return sorted(
        (f for f in report.facts if isinstance(f, Listener) and f.host == host and "csi" in f.service),
        key=lambda f: f.service,
    )


def _pp004(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.rule == "PP004"]


def test_roles_whose_condition_is_false_do_not_run(tmp_path: Path) -> None:
    """kubespray's defaults disable every CSI driver: Ansible runs neither role, so no conflict."""
    report = scan_tree(write_tree(tmp_path, TREE))
    assert _listeners(report, PLAY_HOST) == []
    assert _pp004(report) == []
    # not deployed by the play: each role is read on its own, as an unused role is
    alone = {f.host for f in report.facts if isinstance(f, Listener)}
    assert alone == {"role:apps/csi_driver/cinder", "role:apps/csi_driver/aws_ebs"}


def test_the_false_condition_is_the_role_scope_s(tmp_path: Path) -> None:
    """A dependency's ``when:`` sees the exported defaults and inventory overrides, per host class."""
    tree = {**TREE, "inventory/hosts.ini": "[kube_control_plane]\ncp1 cinder_csi_enabled=true\ncp2\n"}
    report = scan_tree(write_tree(tmp_path, tree))
    assert [f.host for f in _listeners(report, f"{PLAY_HOST}:cp1")] == [f"{PLAY_HOST}:cp1"]
    assert _listeners(report, f"{PLAY_HOST}:cp2") == []
    assert _pp004(report) == []


UNKNOWN_DEFAULTS = """\
kube_config_dir: /etc/kubernetes
cloud_provider: "{{ lookup('env', 'CLOUD_PROVIDER') }}"
cinder_csi_enabled: "{{ cloud_provider == 'openstack' }}"
aws_ebs_csi_enabled: "{{ cloud_provider == 'aws' }}"
"""


def test_unresolved_different_conditions_may_run_but_are_not_paired(tmp_path: Path) -> None:
    tree = {**TREE, "roles/cluster_defaults/defaults/main.yml": UNKNOWN_DEFAULTS}
    report = scan_tree(write_tree(tmp_path, tree))
    ebs, cinder = _listeners(report, PLAY_HOST)  # by service name
    assert str(cinder.ports) == str(ebs.ports) == "9808"
    assert cinder.may_run.conditions == frozenset({"cinder_csi_enabled"})
    assert ebs.may_run.conditions == frozenset({"aws_ebs_csi_enabled"})
    assert _pp004(report) == []


def test_facts_say_may_run(tmp_path: Path) -> None:
    tree = {**TREE, "roles/cluster_defaults/defaults/main.yml": UNKNOWN_DEFAULTS}
    root = write_tree(tmp_path, tree)
    text = run_cli("facts", ".", cwd=root)
    assert text.returncode == 0, text.stderr
    assert (
        "kube-system/csi-cinder-nodeplugin/cinder-csi-plugin (may run: when cinder_csi_enabled)"
        in text.stdout
    )
    data = json.loads(run_cli("facts", "--format", "json", ".", cwd=root).stdout)
    guarded = {ln["service"]: ln.get("may_run") for ln in data["listeners"] if ln["host"] == PLAY_HOST}
    assert guarded == {
        "kube-system/csi-cinder-nodeplugin/cinder-csi-plugin": "when cinder_csi_enabled",
        "kube-system/csi-aws_ebs-nodeplugin/ebs-plugin": "when aws_ebs_csi_enabled",
    }


def test_both_conditions_true_the_conflict_stands(tmp_path: Path) -> None:
    """The negative twin: both drivers enabled, both DaemonSets bind 9808 on the node."""
    tree = {
        **TREE,
        "inventory/group_vars/kube_control_plane.yml": "cinder_csi_enabled: true\naws_ebs_csi_enabled: true\n",
    }
    root = write_tree(tmp_path, tree)
    report = scan_tree(root)
    assert [f.may_run.conditions for f in _listeners(report, PLAY_HOST)] == [frozenset(), frozenset()]
    [finding] = _pp004(report)
    assert finding.host == PLAY_HOST
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 1
    assert "PP004" in result.stdout and "binds tcp/9808" in result.stdout


def test_one_unresolved_condition_guarding_both_still_conflicts(tmp_path: Path) -> None:
    """Guarded by the same unknown condition, both run or neither: they conflict whenever they run."""
    defaults = UNKNOWN_DEFAULTS.replace("cloud_provider == 'aws'", "cloud_provider == 'openstack'")
    meta = TREE["roles/apps/meta/main.yml"].replace("aws_ebs_csi_enabled", "cinder_csi_enabled")
    tree = {**TREE, "roles/cluster_defaults/defaults/main.yml": defaults, "roles/apps/meta/main.yml": meta}
    report = scan_tree(write_tree(tmp_path, tree))
    assert len(_pp004(report)) == 1


def test_an_unconditional_listener_pairs_with_a_guarded_one(tmp_path: Path) -> None:
    """One surely runs: whenever the guarded one runs too, the port is taken."""
    meta = TREE["roles/apps/meta/main.yml"].replace("    when:\n      - aws_ebs_csi_enabled\n", "")
    tree = {
        **TREE,
        "roles/cluster_defaults/defaults/main.yml": UNKNOWN_DEFAULTS,
        "roles/apps/meta/main.yml": meta,
    }
    report = scan_tree(write_tree(tmp_path, tree))
    assert sorted(str(f.may_run) for f in _listeners(report, PLAY_HOST)) == ["", "cinder_csi_enabled"]
    assert len(_pp004(report)) == 1


def test_a_task_when_that_does_not_resolve_marks_its_listeners(tmp_path: Path) -> None:
    """The same holds for two tasks of one role guarded by different unknown conditions."""
    tasks = (
        "- name: Cinder node plugin\n"
        "  ansible.builtin.template:\n"
        "    src: cinder-csi-nodeplugin.yml.j2\n"
        "    dest: /etc/kubernetes/cinder-csi-nodeplugin.yml\n"
        "  when: ansible_facts['system_vendor'] == 'OpenStack Foundation'\n"
        "- name: EBS node plugin\n"
        "  block:\n"
        "    - name: EBS manifest\n"
        "      ansible.builtin.template:\n"
        "        src: aws_ebs-csi-nodeplugin.yml.j2\n"
        "        dest: /etc/kubernetes/aws_ebs-csi-nodeplugin.yml\n"
        "  when: \"'amazon' in ansible_facts['bios_vendor'] | lower\"\n"
    )
    tree = {
        "inventory.ini": "[nodes]\nn1\n",
        "site.yml": "- hosts: nodes\n  roles:\n    - csi\n",
        "roles/csi/tasks/main.yml": tasks,
        "roles/csi/defaults/main.yml": "cinder_csi_plugin_image: a:1\nebs_plugin_image: b:1\n",
        "roles/csi/templates/cinder-csi-nodeplugin.yml.j2": _node_plugin(
            "csi-cinder-nodeplugin", "cinder-csi-plugin"
        ),
        "roles/csi/templates/aws_ebs-csi-nodeplugin.yml.j2": _node_plugin(
            "csi-aws_ebs-nodeplugin", "ebs-plugin"
        ),
    }
    report = scan_tree(write_tree(tmp_path, tree))
    guards = sorted(str(f.may_run) for f in _listeners(report, "nodes"))
    assert guards == [
        "'amazon' in ansible_facts['bios_vendor'] | lower",
        "ansible_facts['system_vendor'] == 'OpenStack Foundation'",
    ]
    assert _pp004(report) == []
    # a false task condition: the task does not run at all
    false = tasks.replace("ansible_facts['system_vendor'] == 'OpenStack Foundation'", "false")
    report = scan_tree(write_tree(tmp_path, {**tree, "roles/csi/tasks/main.yml": false}))
    assert [f.service for f in _listeners(report, "nodes")] == [
        "kube-system/csi-aws_ebs-nodeplugin/ebs-plugin"
    ]
