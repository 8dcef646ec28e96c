"""Recognition mistakes found by running portpolicy over real public repositories.

Each case is modelled on a file seen in the sweep recorded in
``docs/sweeps/2026-12-recognition.md`` (written here, not copied): a ferm ruleset taken for
nftables (PP000 on a template), a program's log quoting the iptables commands it ran taken
for a firewall script, an Ansible nginx template whose every directive carries a
``{{ value }}`` not recognised at all. Each has a control that must still be read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy import recognise
from tests.helpers import scan_tree, write_tree

FERM = """# {{ ansible_managed }}
{% if masquerade_interfaces %}
domain (ip ip6) table nat {
    chain POSTROUTING {
        outerface ({{ masquerade_interfaces | join(' ') }}) MASQUERADE;
    }
}
{% endif %}
"""
FERM_PLAIN = """table filter {
    chain INPUT {
        policy DROP;
        proto tcp dport (80 443) ACCEPT;
    }
}
"""
NFT_NO_FAMILY = """table nat {
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        oifname "eth0" masquerade
    }
}
table filter {
    chain input {
        type filter hook input priority 0; policy drop;
        tcp dport 40000-45000 accept
        jump ACCEPT_LOG;
    }
}
"""
LOG = """2026-03-01 10:15:02,118 ban.server.jail[2211]: INFO    Jail 'ssh' started
2026-03-01 10:20:40,003 ban.server.actions[2211]: NOTICE  [ssh] Ban 192.0.2.7
iptables -I f2b-ssh 1 -s 192.0.2.7 -j REJECT -- stdout: ''
iptables -I f2b-ssh 1 -s 192.0.2.7 -j REJECT -- returned 0
2026-03-01 10:30:40,011 ban.server.actions[2211]: NOTICE  [ssh] Unban 192.0.2.7
iptables -D f2b-ssh -s 192.0.2.7 -j REJECT -- returned 0
"""
SYSLOG = """Mar  1 10:15:02 gw kernel: [ 1.2] nf_conntrack: default automatic helper assignment off
Mar  1 10:16:10 gw sudo: admin : COMMAND=/usr/sbin/iptables -A INPUT -p tcp --dport 8080 -j ACCEPT
iptables -A INPUT -p tcp --dport 8080 -j ACCEPT
iptables -A INPUT -p udp --dport 40000:45000 -j ACCEPT
"""
SCRIPT = """# opens the media ports; run by the provisioner
iptables -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -p udp --dport 40000:45000 -j ACCEPT
"""
NGINX_TEMPLATE = """server {
    listen {{ web_port }};
    server_name {{ inventory_hostname }};
    location / {
        proxy_pass http://127.0.0.1:{{ app_port }};
    }
}
"""
NGINX_SNIPPET_TEMPLATE = """listen {{ web_port }};
server_name {{ inventory_hostname }};
"""


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("roles/ferm/templates/etc/ferm/ferm.d/masquerade.conf.j2", FERM),
        ("conf/ferm.d/web.conf", FERM_PLAIN),
    ],
    ids=["ferm-template", "ferm-plain"],
)
def test_a_ferm_ruleset_is_not_read_as_nftables(tmp_path: Path, rel: str, text: str) -> None:
    report = scan_tree(write_tree(tmp_path, {rel: text}))
    assert report.readers == {} and report.findings == []
    assert [(s.path, s.reason) for s in report.skipped] == [(rel, "no reader recognises its content")]


def test_an_nft_table_without_a_family_is_still_nftables(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, {"conf/gateway.rules": NFT_NO_FAMILY}))
    assert report.readers == {"conf/gateway.rules": "nftables"}
    assert "PP000" not in {f.rule for f in report.findings}


@pytest.mark.parametrize("text", [LOG, SYSLOG], ids=["timestamped", "syslog"])
def test_a_log_quoting_firewall_commands_is_not_a_script(tmp_path: Path, text: str) -> None:
    rel = "files/logwatch/ban-0.9.log"
    report = scan_tree(write_tree(tmp_path, {rel: text}))
    assert report.readers == {} and report.findings == []
    assert [(s.path, s.reason) for s in report.skipped] == [(rel, "no reader recognises its content")]


def test_a_script_without_an_interpreter_line_is_still_read(tmp_path: Path) -> None:
    report = scan_tree(write_tree(tmp_path, {"provision/open-ports": SCRIPT}))
    assert report.readers == {"provision/open-ports": "shell"}
    assert [(f.rule, f.location.line) for f in report.findings] == [("PP003", 3)]


def test_an_nginx_template_of_templated_values_is_read(tmp_path: Path) -> None:
    rel = "roles/web/templates/site.j2"
    report = scan_tree(write_tree(tmp_path, {rel: NGINX_TEMPLATE}))
    assert report.readers == {rel: "nginx"} and report.findings == []
    assert [(u.location.path, u.location.line) for u in report.unresolved] == [(rel, 2)]


def test_an_nginx_snippet_template_is_recognised() -> None:
    found = recognise.recognise("roles/web/templates/listen.j2", NGINX_SNIPPET_TEMPLATE)
    assert found.signature is not None and found.signature.name == "nginx"


def test_a_templated_key_value_line_is_not_nginx() -> None:
    assert recognise.recognise("conf/app.conf", "port = {{ app_port }};\nhost = {{ h }};\n").signature is None
