"""Every tokenizer advances on every character it can meet, and the linear scanners agree
with what they replace.

Each format gets a small valid file with one character of a Unicode general category
inserted at several places (inside words, values, quotes, comments and templates), one
file per character, all scanned by one bounded child run of the CLI: a tokenizer that
stops advancing hangs the child or runs it out of memory, a reader that trips raises an
internal error. The scanners of ``portpolicy.readers.lexing`` are checked against
``shlex`` and the lazy regexes they replace on generated input.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portpolicy.readers.lexing import JINJA_TAGS, split_shell, template_spans
from tests.hostile import run_bounded

MARK = "¤"
"""Where the character under test goes in a sample."""

SAMPLES: dict[str, dict[str, str]] = {
    "sysctl": {
        "etc/sysctl.d/10-x.conf": "# c¤ portpolicy: ignore[PP009] r¤\n"
        "net.ipv4.ip_local_port_range = 32768 ¤60999¤\n¤net.ipv4.ip_unprivileged_port_start=¤1024\n",
    },
    "systemd": {
        "etc/systemd/system/x.service": "[Unit]\nDescription=x¤\n[Service]¤\nUser=¤nobody\n"
        'ExecStart=/usr/bin/x --listen¤ :80 ¤"a¤"\n',
        "etc/systemd/system/x.socket": "[Socket]¤\nListenStream=¤80¤\n# noqa: PP001¤\n",
    },
    "compose": {
        "compose.yaml": 'services:\n  web:¤\n    image: nginx¤\n    user: "101¤"\n    ports:\n'
        '      - "80:80¤"\n      - 8080¤:80\n      - "{{ p¤ }}:81"\n',
    },
    "dockerfile": {
        "Dockerfile": "# syntax=¤docker/dockerfile:1\nFROM nginx¤ AS b\nUSER 101¤\nENV P=80¤\n"
        'EXPOSE 80¤ $P 443\\\n ¤ 444\nCMD ["x¤", ¤"y"]\n',
    },
    "kubernetes": {
        "etc/kubernetes/manifests/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p¤\nspec:\n"
        '  containers:\n    - name: c¤\n      image: x¤\n      args: ["--port=80¤"]\n'
        "      ports:\n        - containerPort: 80\n          hostPort: 80¤\n",
    },
    "sshd": {"etc/ssh/sshd_config": "Port 22¤\nListenAddress 0.0.0.0:¤2222\n# c¤\nListenAddress {{ a¤ }}\n"},
    "apache": {
        "etc/apache2/ports.conf": 'Listen 80¤\n<IfModule ssl_module>¤\n  Listen ¤443 "h¤"\n</IfModule>\n# c¤\\\n x\n',
    },
    "nginx": {
        "etc/nginx/conf.d/x.conf": "server {¤\n  listen 80¤;\n  server_name ¤x '¤y' \"z¤\" {{ a¤ }};\n"
        "  # c¤\n  location ~ ^/¤a { return 200; }\n}\n",
    },
    "haproxy": {
        "etc/haproxy/haproxy.cfg": "global\n  user haproxy¤\nfrontend www¤\n  bind :80¤,:443 \"¤\" '¤'\n"
        "  default_backend b¤ # c¤\n",
    },
    "daemons": {
        "etc/redis/redis.conf": 'port 6379¤\nbind 127.0.0.1 ¤"x¤"\n',
        "etc/postgresql/16/main/postgresql.conf": "port = 5432¤ # c¤\nlisten_addresses = '*¤'\n",
        "etc/mysql/my.cnf": "[mysqld]¤\nport = 3306¤\n!include ¤x\n",
        "etc/cups/cupsd.conf": "Listen localhost:631¤\nPort 631¤\n",
    },
    "nftables": {
        "etc/nftables.conf": "#!/usr/sbin/nft -f\ndefine P¤ = { 22, 80¤ }\ntable inet filter {¤\n"
        "  chain input {\n    type filter hook input priority 0; policy drop;¤\n"
        '    tcp dport $P¤ accept # c¤\n    tcp dport 443 ¤ counter accept comment "x¤"\n  }\n}\n',
    },
    "iptables-save": {
        "etc/iptables/rules.v4": "*filter¤\n:INPUT DROP [0:0]¤\n-A INPUT -p tcp --dport 22¤ -j ACCEPT\n"
        '-A INPUT -m comment --comment "c¤" -p udp --dport 53 -j ACCEPT¤\nCOMMIT\n',
    },
    "iptables-script": {
        "firewall.sh": "#!/bin/sh\nIPT=/sbin/iptables¤\n$IPT -A INPUT -p tcp --dport 80¤ -j ACCEPT\n"
        "iptables -A INPUT -p tcp -m multiport --dports 81,82¤ -m comment --comment 'a¤ b' -j ACCEPT # c¤\n",
    },
    "ufw-script": {
        "setup-firewall.sh": "ufw allow 8080/tcp¤\nufw allow proto tcp from 10.0.0.0/8 to any port 22¤ comment 'x¤'\n"
        "ufw default deny¤ incoming\n",
    },
    "ufw-rules": {
        "etc/ufw/user.rules": "*filter\n:ufw-user-input - [0:0]\n### tuple ### allow tcp 22¤ 0.0.0.0/0 any 0.0.0.0/0 in¤\n"
        "-A ufw-user-input -p tcp --dport 22¤ -j ACCEPT\nCOMMIT\n",
        "etc/default/ufw": 'DEFAULT_INPUT_POLICY="DROP¤"\nIPV6=yes¤\n',
    },
    "firewall-cmd": {
        "provision.sh": "firewall-cmd --permanent --add-port=8080/tcp¤\n"
        'firewall-cmd --add-rich-rule=\'rule family="ipv4" port port="1024¤" protocol="tcp" accept¤\'\n',
    },
    "firewalld": {
        "etc/firewalld/zones/public.xml": '<?xml version="1.0"?>\n<zone>\n  <short>x¤</short>\n'
        '  <port protocol="tcp" port="80¤"/>\n  <service name="ssh¤"/>\n'
        '  <rule><port protocol="tcp" port="81"/><accept/></rule>\n</zone>\n',
        "etc/firewalld/firewalld.conf": "DefaultZone=public¤\n# c¤\n",
    },
    "ansible": {
        "site.yml": "- hosts: web¤\n  vars:\n    p: 80¤\n  tasks:\n    - name: x¤\n      ansible.posix.firewalld:\n"
        '        port: "{{ p ¤}}/tcp¤"\n        state: enabled\n    - ansible.builtin.template:\n'
        "        src: nginx.conf.j2\n        dest: /etc/nginx/conf.d/x.conf\n",
        "inventory/hosts": "[web]¤\nweb01 ansible_host=1.2.3.4 http_port=80¤ x='¤'\n",
        "templates/nginx.conf.j2": "{# c¤ #}\nserver {\n  listen {{ p¤ }};¤\n  {% if p¤ %}listen 81;{% endif %}\n}\n",
        "group_vars/web.yml": 'q: "{{ p ¤| int }}"\n',
    },
}

CATEGORIES: dict[str, str] = {
    "Lu": "AÄ",
    "Ll": "zß",
    "Lt": "ǅ",
    "Lm": "ʰ",
    "Lo": "あ",
    "Mn": "\u0301",
    "Mc": "\u0903",
    "Me": "\u20dd",
    "Nd": "7٣７",
    "Nl": "Ⅻ",
    "No": "²½",
    "Pc": "_‿",
    "Pd": "-–",
    "Ps": "([{「",
    "Pe": ")]}」",
    "Pi": "«",
    "Pf": "»",
    "Po": "!\"#%&'*,./:;?@\\",
    "Sm": "+<=>|~",
    "Sc": "$€",
    "Sk": "^`",
    "So": "©",
    "Zs": " \u00a0\u3000",
    "Zl": "\u2028",
    "Zp": "\u2029",
    "Cc": "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x7f\x85\x01",
    "Cf": "\u00ad\u200b\ufeff\u202e",
    "Co": "\ue000",
    "Cn": "\u0378\uffff",
}
"""Characters of each general category; ASCII ones first, then the tricky ones (blanks
that ``str.split`` and ``\\s`` know but a hand-written tokenizer may not, digits that
``str.isdigit`` accepts and ``int`` refuses, line separators ``splitlines`` breaks at)."""
SURROGATES = (b"\xed\xa0\x80", b"\xff")
"""Category Cs cannot be written as UTF-8: a lone surrogate's bytes and an invalid byte."""


def test_every_general_category_is_tried() -> None:
    assert set(CATEGORIES) | {"Cs"} == {
        "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
        "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn",
    }  # fmt: skip
    assert all(unicodedata.category(c) == cat for cat, chars in CATEGORIES.items() for c in chars)
    assert all(MARK in text for files in SAMPLES.values() for text in files.values())


def _variants() -> list[tuple[str, bytes]]:
    out = [(f"{cat}{i}", c.encode()) for cat, chars in CATEGORIES.items() for i, c in enumerate(chars)]
    return out + [(f"Cs{i}", raw) for i, raw in enumerate(SURROGATES)]


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_every_character_class_is_tokenized_without_a_hang_or_an_internal_error(
    tmp_path: Path, fmt: str
) -> None:
    written = 0
    variants = _variants()
    for name, raw in variants:
        for rel, text in SAMPLES[fmt].items():
            path = tmp_path / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode().replace(MARK.encode(), raw))
            written += 1
    run = run_bounded("check", "--format", "json", "--fail-on", "never", "--no-config", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    report = json.loads(run.stdout)
    internal = [(f["path"], f["message"]) for f in report["findings"] if "internal error" in f["message"]]
    assert internal == []
    assert report["summary"]["files"] + report["summary"]["skipped"] <= written
    # each variant's sample was read, except where a line break in the middle of a line makes
    # it another text (a Dockerfile whose first line is no longer FROM): that one is skipped
    reshaping = [name for name, raw in variants if raw in (b"\n", b"\r")]
    assert report["summary"]["files"] >= len(variants) - len(reshaping)


# --- the linear scanners agree with what they replace -------------------------------------------

_SHELL_TEXT = st.text(alphabet="ab -=\"'\\#;&|() \t\n\r\xa0é{}$`", max_size=16)


def _outcome(split: object, *args: object) -> tuple[str, object]:
    try:
        return "words", split(*args)  # type: ignore[operator]
    except ValueError as exc:
        return "error", str(exc)


def _shlex_with_punctuation(text: str, comments: bool) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = "#" if comments else ""
    return list(lexer)


@settings(max_examples=600, deadline=None)
@given(_SHELL_TEXT, st.booleans())
def test_split_shell_gives_shlex_words_and_errors(text: str, comments: bool) -> None:
    assert _outcome(split_shell, text, "", comments) == _outcome(shlex.split, text, comments)
    assert _outcome(split_shell, text, ";&|()", comments) == _outcome(_shlex_with_punctuation, text, comments)


def test_split_shell_on_a_real_command_line() -> None:
    line = """sudo iptables -A INPUT -p tcp --dport 22 -m comment --comment "ssh \\"admin\\"" -j ACCEPT && echo 'ok';# done"""
    assert split_shell(line, ";&|()", comments=True) == [
        "sudo", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-m", "comment",
        "--comment", 'ssh "admin"', "-j", "ACCEPT", "&&", "echo", "ok", ";",
    ]  # fmt: skip


_LAZY = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
_LAZY_ACROSS_LINES = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="{}%#\n a", max_size=20))
def test_template_spans_are_the_lazy_regex_matches(text: str) -> None:
    assert list(template_spans(text, JINJA_TAGS)) == [m.span() for m in _LAZY.finditer(text)]
    assert list(template_spans(text, JINJA_TAGS, across_lines=True)) == [
        m.span() for m in _LAZY_ACROSS_LINES.finditer(text)
    ]
