"""Messages quote at most the offending token, and nothing of a file that is not its format (#20).

A pull request can hold a secret in a file named like a config portpolicy reads (a
credentials file saved as ``etc/iptables/rules.v4``, a token after a bad directive). Every
output a CI job may print or upload (text, JSON, SARIF, ``-v --statistics``, ``facts``)
is checked for the secret, once over one tree holding every format twice: ``a/`` with
credentials under each claimed name, ``b/`` with a real file of the format whose one bad
line has the secret after the offending token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portpolicy.readers import dockerfile, nftables, sysctl
from portpolicy.readers.base import Format, Source, first_word, unlike, unlike_file
from portpolicy.yamlnodes import YamlError, _unquoted, compose_documents
from tests.helpers import write_tree
from tests.hostile import ChildRun, run_bounded

SECRET = "FAKE-SECRET-wJalrXUtnFEMIK7MDENGbPxRfiCY"
CREDENTIALS = f"""[default]
aws_access_key_id = AKIAFAKEKEYID0000000
aws_secret_access_key = {SECRET}
password: {SECRET}
-----BEGIN RSA PRIVATE KEY-----
MIIEFAKEpAIBAAKCAQEA7bq98{SECRET}
-----END RSA PRIVATE KEY-----
"""
LEAKS = re.compile(r"FAKE-SECRET|AKIAFAKE|MIIEFAKE|wJalrXUtn")
"""Any piece of the secret text: none may reach any output."""

NOT_THE_FORMAT = {
    "compose.yaml": "a Compose file",
    "etc/kubernetes/manifests/web.yaml": "a Kubernetes manifest",
}
"""YAML under a name that says its format (read by name): one PP000 saying so, quoting nothing."""
LOOK_ALIKES = {
    "etc/sysctl.d/90-x.conf": "a sysctl file",
    "etc/systemd/system/web.service": "a systemd unit",
    "Dockerfile": "a Dockerfile",
    "etc/firewalld/zones/public.xml": "a firewalld",
    "etc/nftables.conf": "an nftables ruleset",
    "etc/iptables/rules.v4": "an iptables-save file",
    "etc/ufw/user.rules": "a ufw",
}
"""Credentials under a name that suggests a format its content is not: skipped with that
reason, never PP000 (#11), so nothing of them is read, let alone quoted."""
PASSED_OVER = (
    "etc/nginx/nginx.conf",  # named like nginx/sshd, content unlike: skipped by recognition (#11)
    "etc/ssh/sshd_config",
    "etc/apache2/ports.conf",
    "etc/haproxy/haproxy.cfg",
    "etc/redis/redis.conf",
    "etc/postgresql/16/main/postgresql.conf",
    "etc/mysql/my.cnf",
    "firewall.sh",
)
"""Readers that read only what they recognise in loosely named files: no finding at all."""

BAD_LINE = {
    "etc/sysctl.d/90-x.conf": (
        f"net.ipv4.ip_forward = 1\nnet.ipv4.tcp_fin_timeout {SECRET}\n",
        "line is not an assignment, sysctl ignores it: 'net.ipv4.tcp_fin_timeout'",
    ),
    "etc/systemd/system/web.service": (
        f"[Unit]\nDescription=web\n[Service {SECRET}\nExecStart=/bin/web\n",
        "invalid section header '[Service'",
    ),
    "Dockerfile": (f"FROM alpine\nEXPOSE 8080\nFORM {SECRET}\n", "unknown instruction 'FORM'"),
    "etc/nginx/nginx.conf": (
        f"events {{}}\nhttp {{\n  server {{\n    listen 8080 {SECRET}\n  }}\n}}\n",
        'unexpected "}" (a directive before it lacks ";")',
    ),
    "etc/apache2/ports.conf": (f"Listen 8080\n</VirtualHost {SECRET}>\n", "httpd: </VirtualHost without"),
    "etc/haproxy/haproxy.cfg": (
        f"global\n  daemon\nfrontend web\n  bind :8080\n  http-request set-header X-Token '{SECRET}\n",
        "unmatched quote",
    ),
    "etc/ssh/sshd_config": (
        f"Port 22\nMatch User bob\n  Port 2222 {SECRET}\n",
        "directive 'Port' is not allowed within a Match block",
    ),
    "etc/redis/redis.conf": (f'port 6379\nrequirepass "{SECRET}\n', "unbalanced quotes in 'requirepass'"),
    "etc/postgresql/16/main/postgresql.conf": (
        f"port = 5432\npassword_encryption = '{SECRET}\n",
        "unbalanced quotes in 'password_encryption'",
    ),
    "etc/mysql/my.cnf": (
        f"[mysqld]\nport = 3306\n[client {SECRET}\n",
        "section header '[client' never closes",
    ),
    "etc/firewalld/zones/public.xml": (
        f'<zone>\n  <port protocol="tcp" port="8080"/>\n  <x>{SECRET} &bogus;</x>\n</zone>\n',
        "malformed XML: undefined entity",
    ),
    "etc/nftables.conf": (
        "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
        f"  }}\n}}\nfrobnicate {SECRET}\n",
        "nft does not know the statement 'frobnicate'",
    ),
    "etc/iptables/rules.v4": (
        f"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n-A INPUT {SECRET}\n",
        "rule outside a table (no '*filter' line before it): '-A'",
    ),
    "etc/ufw/user.rules": (
        f"*filter\n:ufw-user-input - [0:0]\nCOMMIT\n-A ufw-user-input {SECRET}\n",
        "rule outside a table (no '*filter' line before it): '-A'",
    ),
    "firewall.sh": (
        f"#!/bin/sh\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -A INPUT -s '{SECRET}\n",
        "cannot split the command line: No closing quotation",
    ),
    "compose.yaml": (
        f'services:\n  web:\n    image: nginx\n    ports:\n      - "8080:80"\nx-token: "{SECRET}\\q"\n',
        "invalid YAML: found unknown escape character",
    ),
    "etc/kubernetes/manifests/web.yaml": (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations:\n    token: *{SECRET}\n",
        "invalid YAML: found undefined alias",
    ),
    "ansible/group_vars/all.yml": (
        f'http_port: 8080\napi_token: "{SECRET}\\q"\n',
        "YAML does not parse: found unknown escape character",
    ),
}
"""A real file of each format with one bad line holding the secret, and what its PP000 says."""

PLAYBOOK = "- hosts: web\n  tasks:\n    - ansible.builtin.debug:\n        msg: hi\n"


def _tree(root: Path) -> Path:
    files: dict[str, str] = {}
    for name in (*NOT_THE_FORMAT, *LOOK_ALIKES, *PASSED_OVER):
        files[f"a/{name}"] = CREDENTIALS
    files["a/firewall.sh"] = "#!/bin/sh\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n" + CREDENTIALS
    files["a/ansible/group_vars/all.yml"] = CREDENTIALS
    for name, (text, _) in BAD_LINE.items():
        files[f"b/{name}"] = text
    for side in ("a", "b"):
        files[f"{side}/ansible/site.yml"] = PLAYBOOK
        files[f"{side}/ansible/inventory.ini"] = "[web]\nweb01\n"
    return write_tree(root, files)


RUNS = {
    "text": ("check", "--no-config", "."),
    "text-show-source": ("check", "--no-config", "--show-source", "."),
    "json": ("check", "--no-config", "--format", "json", "."),
    "sarif": ("check", "--no-config", "--format", "sarif", "."),
    "verbose-statistics": ("check", "--no-config", "-v", "--statistics", "."),
    "facts": ("facts", "--no-config", "."),
    "facts-json": ("facts", "--no-config", "--format", "json", "."),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ChildRun]:
    root = _tree(tmp_path_factory.mktemp("secrets"))
    return {name: run_bounded(*args, cwd=root) for name, args in RUNS.items()}


@pytest.fixture(scope="module")
def findings(outputs: dict[str, ChildRun]) -> dict[str, list[str]]:
    """PP000 messages per path, from the JSON report."""
    by_path: dict[str, list[str]] = {}
    for f in json.loads(outputs["json"].stdout)["findings"]:
        if f["rule"] == "PP000":
            by_path.setdefault(f["path"], []).append(f["message"])
    return by_path


@pytest.mark.parametrize("run", sorted(RUNS))
def test_no_output_quotes_the_secret(outputs: dict[str, ChildRun], run: str) -> None:
    done = outputs[run]
    assert not done.crashed, done.stderr
    assert done.returncode in (0, 1), done.stderr
    assert "PP000" in done.stdout or "unreadable" in done.stdout or "parse_errors" in done.stdout
    leaked = LEAKS.findall(done.stdout + done.stderr)
    assert not leaked, f"{run} quotes {leaked}"


@pytest.mark.parametrize("path", sorted(NOT_THE_FORMAT))
def test_a_file_unlike_its_claimed_format_is_one_quote_free_finding(
    findings: dict[str, list[str]], path: str
) -> None:
    messages = findings.get(f"a/{path}", [])
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"cannot read this file: does not look like {NOT_THE_FORMAT[path]} (no ")
    assert "'" not in messages[0].split("(no ", 1)[0]


@pytest.mark.parametrize("path", sorted(LOOK_ALIKES))
def test_a_look_alike_under_a_helpful_name_is_skipped_with_its_reason(
    outputs: dict[str, ChildRun], findings: dict[str, list[str]], path: str
) -> None:
    assert f"a/{path}" not in findings
    listed = outputs["verbose-statistics"].stderr + outputs["verbose-statistics"].stdout
    assert f"a/{path}: named like {LOOK_ALIKES[path]}" in listed


@pytest.mark.parametrize("path", PASSED_OVER)
def test_readers_that_pass_over_unknown_lines_say_nothing_of_credentials(
    findings: dict[str, list[str]], path: str
) -> None:
    assert f"a/{path}" not in findings


def test_credentials_as_ansible_variables_are_a_yaml_error_without_quotes(
    findings: dict[str, list[str]],
) -> None:
    assert findings["a/ansible/group_vars/all.yml"] == [
        "cannot read this file: YAML does not parse: did not find expected <document start>"
    ]


@pytest.mark.parametrize("path", sorted(BAD_LINE))
def test_a_bad_line_of_the_format_is_reported_by_its_token(findings: dict[str, list[str]], path: str) -> None:
    expected = BAD_LINE[path][1]
    messages = findings.get(f"b/{path}", [])
    assert any(expected in m for m in messages), messages


def test_show_source_quotes_no_line_that_did_not_parse(outputs: dict[str, ChildRun]) -> None:
    text = outputs["text-show-source"].stdout
    assert "a/Dockerfile" not in text  # a look-alike: skipped, not read
    assert "b/Dockerfile:3:1: PP000 [warning] cannot read this file: unknown instruction 'FORM'" in text
    assert " | " not in text  # no frame: every finding here is PP000


# --------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("  FORM ubuntu FAKE", "FORM"),
        ("API_TOKEN=FAKE-SECRET", "API_TOKEN"),
        ("\"FAKE-SECRET {'", '"'),
        ("password: FAKE", "password:"),
        ("x" * 100, "x" * 40 + "..."),
        ("", ""),
    ],
)
def test_first_word_stops_before_a_value(line: str, word: str) -> None:
    assert first_word(line) == word


def test_an_error_before_any_line_of_the_format_makes_the_file_unlike_it() -> None:
    text = "# comment\nnet.ipv4.ip_forward = 1\nbad line\n"
    assert unlike(sysctl.FORMAT, text, first_error=3) is None
    assert unlike(sysctl.FORMAT, "bad line\nnet.ipv4.ip_forward = 1\n", first_error=1) == (
        "does not look like a sysctl file (no kernel setting before the first error, line 1)"
    )
    # the error on the first line of the format itself keeps its per-line message
    assert unlike(sysctl.FORMAT, "net.ipv4.ip_forward 1\n", first_error=1) is None


def test_content_with_no_line_of_the_format_is_unlike_it_even_without_errors() -> None:
    assert unlike(nftables.FORMAT, "TOKEN=abc\n", first_error=None) == (
        "does not look like an nftables ruleset (no nft statement found)"
    )
    # comments, blank lines and Jinja lines are no content; a template is judged by its errors only
    assert unlike(nftables.FORMAT, "# only a comment\n\n{% if x %}\n", first_error=None) is None
    assert unlike(nftables.FORMAT, "TOKEN=abc\n", first_error=None, template=True) is None


def test_a_format_that_reads_loosely_named_files_is_only_judged_by_errors() -> None:
    loose = Format("a thing", "thing line", re.compile("thing"), whole_file=False)
    assert unlike(loose, "anything else\n", first_error=None) is None
    assert unlike(loose, "anything else\n", first_error=1) is not None


def test_unlike_file_asks_the_reader_and_looks_at_its_errors_only() -> None:
    source = Source("Dockerfile", "TOKEN=abc\nFROM alpine\n")
    errors = list(dockerfile.read(source))
    assert unlike_file(dockerfile, source, errors) == (
        "does not look like a Dockerfile (no Dockerfile instruction before the first error, line 1)"
    )
    fine = Source("Dockerfile", "FROM alpine\nEXPOSE 80\n")
    assert unlike_file(dockerfile, fine, list(dockerfile.read(fine))) is None


def test_yaml_errors_keep_the_problem_and_position_but_cut_quotes() -> None:
    with pytest.raises(YamlError) as raised:
        compose_documents(f"a: b\n  {SECRET}: x\n")
    assert (raised.value.line, raised.value.column) == (2, 43)
    assert SECRET not in str(raised.value)
    # PyYAML's pure-Python parser quotes what it found; only a short piece of it stays
    message = _unquoted(f"found undefined alias '{SECRET * 3}'\n  in \"<unicode string>\", line 1")
    assert message == f"found undefined alias '{(SECRET * 3)[:40]}...'"


def test_a_template_opening_with_a_multi_line_statement_is_still_read(tmp_path: Path) -> None:
    """Raw Jinja at the top of a template is no sign of another format: its listens still count."""
    root = write_tree(
        tmp_path,
        {
            "nginx/site.conf.j2": '{% set names = [ "a",\n    "b" ] %}\nserver {\n    listen 40000;\n}\n',
            "etc/sysctl.d/50-ports.conf.j2": "{% set r = [\n  1 ] %}\nnet.ipv4.ip_local_port_range = 1024 1023\n",
        },
    )
    result = run_bounded("check", "--format", "json", ".", cwd=root)
    got = sorted((f["rule"], f["path"], f["line"]) for f in json.loads(result.stdout)["findings"])
    assert ("PP002", "nginx/site.conf.j2", 4) in got
    assert ("PP006", "etc/sysctl.d/50-ports.conf.j2", 3) in got
    assert not [g for g in got if g[0] == "PP000"]


def test_other_xml_near_firewalld_files_is_passed_over_quietly(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "firewalld/doc/firewalld.zone.xml": '<?xml version="1.0" encoding="utf-8"?>\n'
            '<refentry id="firewalld.zone"><refnamediv><refname>x</refname></refnamediv></refentry>\n',
            "firewalld/zones/public.xml": '<?xml version="1.0"?>\n<zone><port protocol="tcp" port="8080"/></zone>\n',
        },
    )
    result = run_bounded("check", "--format", "json", "--fail-on", "info", ".", cwd=root)
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["findings"] == []
