"""Issue #24, item 4: a listener whose address is a template keeps its known port.

``bind {{ ansible_default_ipv4.address }}:9000`` (rendered by a ``template:`` task, the
expression left as written) is a listener on an address known only on the host
(``BindAddress.unknown``): PP001/PP002 judge its port, PP004 pairs it only with a wildcard
or the same template, and no rule takes it for loopback or for exposed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portpolicy.model import BindAddress, Listener, Unresolved
from portpolicy.readers.base import Source
from portpolicy.readers.haproxy import read as read_haproxy
from portpolicy.readers.netaddr import templated_host, unknown_address
from tests.helpers import FIXTURES, run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

TREES = FIXTURES / "ansible_subjects"
HAPROXY = "roles/edge/templates/haproxy.cfg.j2"
MINIO = "roles/edge/templates/minio.service.j2"


def _report(folder: Path, *extra: str) -> Any:
    done = run_cli("check", ".", "--format", "json", "--fail-on", "never", *extra, cwd=folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_templated_addresses_keep_their_ports_and_rules_judge_them() -> None:
    report = _report(TREES / "unknown_address", "--statistics", "-v")
    ephemeral = sorted(
        (f["path"], f["line"], f["message"].split(",")[0]) for f in report["findings"] if f["rule"] == "PP002"
    )
    assert ephemeral == [
        (HAPROXY, 14, "haproxy listens on tcp/8404"),  # bind {{ inventory_hostname }}:8404
        (HAPROXY, 23, "haproxy listens on tcp/9000"),  # bind {{ ansible_default_ipv4.address }}:9000
        (MINIO, 8, "minio.service listens on tcp/9000"),
        (MINIO, 8, "minio.service listens on tcp/9001"),
    ]
    [conflict] = [f for f in report["findings"] if f["rule"] == "PP004"]
    assert "on *, which haproxy already binds on {{ ansible_default_ipv4.address }}" in conflict["message"]
    assert "an address written as a template is known only on the host" in conflict["message"]
    assert (HAPROXY, 23) in {(r["path"], r["line"]) for r in conflict["related"]}
    unresolved = report["summary"]["statistics"].get("unresolved", [])
    assert not [u for u in unresolved if "HAProxy bind" in u["reason"]]


def test_a_templated_address_on_an_unprivileged_port_outside_the_range_is_fine() -> None:
    report = _report(TREES / "unknown_address_fine")
    assert report["findings"] == []


def test_the_address_stays_unknown_on_every_host(tmp_path: Path) -> None:
    report = scan_tree(TREES / "unknown_address")
    stats = [f for f in report.facts if isinstance(f, Listener) and f.ports.start == 8404]
    assert {f.host.rsplit(":", 1)[-1] for f in stats} == {"edge01", "edge02"}
    assert {(f.address.unknown, str(f.address)) for f in stats} == {(True, "{{ inventory_hostname }}")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ inventory_hostname }}:8404", ("{{ inventory_hostname }}", "8404")),
        ("{{ ip | default('::') }}:80", ("{{ ip | default('::') }}", "80")),
        ("10.0.{{ n }}.1:443", ("10.0.{{ n }}.1", "443")),
        ("${LB_IP}:80", ("${LB_IP}", "80")),
        ("{{ ip }}:{{ port }}", None),  # the port too: unresolved, as before
        ("{{ ip }}:8{{ n }}", None),
        ("{{ ip }}", None),
        ("{{ a }}:{{ b | default(':') }}", None),  # the last colon is inside a template
        ("{{ ip:80", None),
        ("127.0.0.1:80", None),  # not a template at all
    ],
)
def test_templated_host_splits_only_a_template_host_from_a_literal_port(
    text: str, expected: tuple[str, str] | None
) -> None:
    assert templated_host(text) == expected


def test_an_unknown_address_overlaps_only_a_wildcard_or_the_same_template() -> None:
    mine = unknown_address("{{ ansible_host }}")
    assert mine.overlaps(BindAddress.wildcard()) and BindAddress.wildcard("ipv4").overlaps(mine)
    assert mine.overlaps(unknown_address("{{ ansible_host }}"))
    assert not mine.overlaps(unknown_address("{{ ansible_default_ipv4.address }}"))
    assert not mine.overlaps(BindAddress("127.0.0.1", "ipv4")) and not BindAddress(
        "10.0.0.1", "ipv4"
    ).overlaps(mine)
    assert mine.is_loopback is None
    assert str(mine) == "{{ ansible_host }}"  # the user's own template, never a made-up token


def test_readers_keep_the_port_of_a_templated_address(tmp_path: Path) -> None:
    conf = "server {\n    listen {{ ansible_host }}:443 ssl;\n    server_name shop.example.com;\n}\n"
    report = scan_tree(write_tree(tmp_path, {"etc/nginx/conf.d/shop.conf": conf}))
    [listener] = [f for f in report.facts if isinstance(f, Listener)]
    assert (listener.ports.start, listener.address.unknown, listener.location.line) == (443, True, 2)
    haproxy = list(
        read_haproxy(Source("h.cfg", "frontend a\n    bind ipv4@{{ vip }}:8443,{{ a }}:{{ b }}\n"))
    )
    assert sorted((type(f).__name__, getattr(f, "value", "")) for f in haproxy) == [
        ("Listener", ""),
        ("Unresolved", "{{ a }}:{{ b }}"),
    ]
    [vip] = [f for f in haproxy if isinstance(f, Listener)]
    assert (vip.ports.start, str(vip.address)) == (8443, "{{ vip }}")


def test_a_loopback_or_exposure_verdict_is_never_drawn_from_an_unknown_address(tmp_path: Path) -> None:
    """PP013's listener side and PP015 skip loopback listeners: an unknown address may be one."""
    tree = write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "extend-select: [PP013]\n",
            "etc/redis/redis.conf": "bind {{ redis_bind }}\nport 6379\n",
            "etc/haproxy/haproxy.cfg": "frontend db\n    bind {{ db_vip }}:6379\n",
            "etc/ufw/user.rules": "*filter\n:ufw-user-input - [0:0]\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        },
    )
    report = scan_tree(tree)
    unknown = [f for f in report.facts if isinstance(f, Listener) and f.address.unknown]
    assert unknown, [f for f in report.facts if isinstance(f, (Listener, Unresolved))]
    assert not [
        f for f in report.findings if f.rule in ("PP013", "PP015") and f.location.path.endswith("haproxy.cfg")
    ]


@pytest.mark.parametrize(
    "bind",
    [
        "{{ {{ }}:80",
        "{{ " + "x|" * 5000 + "y }}:80",
        "{{ a }}" * 3000 + ":80",
        "{% if x %}{{ a }}{% endif %}:80",
        "{{ a }}:\u0668\u0660",
    ],
)
def test_hostile_templated_binds_end_cleanly(tmp_path: Path, bind: str) -> None:
    (tmp_path / "haproxy.cfg").write_text(f"frontend a\n    bind {bind}\n", encoding="utf-8")
    done = run_bounded("check", ".", "--format", "json", "--fail-on", "never", cwd=tmp_path)
    assert not done.crashed, done.stderr[-2000:]
    assert done.returncode == 0


EXPORTER_COMPOSE = (
    "services:\n  node-exporter:\n    image: quay.io/prometheus/node-exporter:v1.8.2\n"
    '    network_mode: host\n    user: "65534"\n    command:\n'
    '      - "--web.listen-address={{{{ ansible_default_ipv4.address }}}}:{port}"\n'
)


@pytest.mark.parametrize(("port", "expected"), [("910", ["PP001"]), ("9100", [])])
def test_a_templated_address_in_a_compose_command_list_keeps_its_port_for_pp001(
    tmp_path: Path, port: str, expected: list[str]
) -> None:
    """A compose template deployed by Ansible: a non-root exporter on the host network at the
    host's own address; below 1024 it fails with EACCES whatever the address turns out to be."""
    write_tree(
        tmp_path,
        {
            "inventory": "[mon]\nmon1\n",
            "site.yml": "- hosts: mon\n  roles: [exporter]\n",
            "roles/exporter/tasks/main.yml": (
                "- name: compose file\n  ansible.builtin.template:\n"
                "    src: compose.yml.j2\n    dest: /opt/exporter/compose.yml\n"
            ),
            "roles/exporter/templates/compose.yml.j2": EXPORTER_COMPOSE.format(port=port),
        },
    )
    report = scan_tree(tmp_path)
    assert [f.rule for f in report.findings] == expected
    (listener,) = [f for f in report.facts if isinstance(f, Listener)]
    assert listener.address.unknown and str(listener.ports) == port
    assert all(f.location.line == 7 for f in report.findings)
