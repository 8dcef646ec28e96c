"""Web and daemon configs are recognised by content, whatever their name or folder (#11).

Each case is a realistic file under a name and folder that say nothing (an nginx server
in ``conf/app.conf``, an HAProxy config as ``services/web.cfg``, ``sshd_config`` content
as ``roles/ssh/files/hardened``, a Redis config as ``cache.conf``): it is read and gives
its finding. Each has a look-alike of another program under a name that suggests the
format (a fail2ban filter named ``nginx-auth.conf``, ``supervisord.conf`` in ``apache/``,
``setup.cfg`` in ``haproxy/``, an ssh client config as an ``sshd_config.d`` drop-in): it is
skipped with that reason and gives no PP000. The whole tree gives the same findings from
inside, from its parent, and under a parent named like one of the formats.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from portpolicy.model import Listener
from portpolicy.recognise import recognise
from tests.helpers import REPO, run_cli, scan_tree, write_tree

NAMED_BUT_NOT = "named like {title}, but its content is not"


@dataclass(frozen=True)
class Case:
    """A file read by content (and its finding), and a look-alike skipped despite its name."""

    format: str
    path: str
    text: str
    finding: tuple[str, int]
    lookalike: str
    lookalike_text: str
    title: str


NGINX_SITE = """upstream app {
    server 127.0.0.1:9000;
}
server {
    listen 40000;
    server_name shop.example.org;
    location / {
        proxy_pass http://app;
    }
}
"""
FAIL2BAN_FILTER = """[INCLUDES]
before = common.conf

[Definition]
failregex = ^ \\[error\\] \\d+#\\d+: \\*\\d+ user "(?:[^"]+|.*?)":? (?:password mismatch|was not found),
            client: <HOST>, server: \\S*
ignoreregex =
"""
HAPROXY = """global
    daemon
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 50s

frontend web
    bind :40001
    default_backend app

backend app
    balance roundrobin
    server app1 10.0.0.11:8080 check
"""
SETUP_CFG = """[metadata]
name = haproxy-exporter-tools
version = 1.0

[options]
packages = find:
"""
APACHE_SITE = """Listen 40002
<VirtualHost *:40002>
    ServerName shop.example.org
    DocumentRoot /var/www/shop
    <Directory /var/www/shop>
        AllowOverride None
    </Directory>
</VirtualHost>
"""
SUPERVISORD = """[supervisord]
nodaemon=true

[program:apache2]
command=/usr/sbin/apache2ctl -D FOREGROUND
autorestart=true
"""
HARDENED_SSHD = """# Hardened sshd configuration
Port 40022
PermitRootLogin no
PasswordAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
"""
SSH_CLIENT = """Host bastion
    HostName 192.0.2.7
    Port 22
    User admin
    IdentityFile ~/.ssh/id_ed25519
"""
REDIS = """bind 127.0.0.1 -::1
protected-mode yes
port 40379
maxmemory 256mb
maxmemory-policy allkeys-lru
appendonly no
"""
SUPERVISORD_REDIS = """[supervisord]
nodaemon=true

[program:redis]
command=redis-server /etc/redis/redis.conf
"""

CASES = [
    Case(
        "nginx",
        "conf/app.conf",
        NGINX_SITE,
        ("PP002", 5),
        "fail2ban/filter.d/nginx-http-auth.conf",
        FAIL2BAN_FILTER,
        "an nginx config",
    ),
    Case(
        "haproxy",
        "services/web.cfg",
        HAPROXY,
        ("PP002", 11),
        "haproxy/setup.cfg",
        SETUP_CFG,
        "an HAProxy config",
    ),
    Case(
        "apache",
        "conf/shop.conf",
        APACHE_SITE,
        ("PP002", 1),
        "docker/apache/supervisord.conf",
        SUPERVISORD,
        "an Apache httpd config",
    ),
    Case(
        "sshd",
        "roles/ssh/files/hardened",
        HARDENED_SSHD,
        ("PP002", 2),
        "etc/ssh/sshd_config.d/bastion.conf",
        SSH_CLIENT,
        "an sshd config",
    ),
    Case(
        "daemons",
        "app/cache.conf",
        REDIS,
        ("PP002", 3),
        "docker/redis/supervisord.conf",
        SUPERVISORD_REDIS,
        "a daemon config",
    ),
]


def tree_of(cases: list[Case]) -> dict[str, str]:
    files: dict[str, str] = {}
    for case in cases:
        files[case.path] = case.text
        files[case.lookalike] = case.lookalike_text
    return files


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.format)
def test_a_config_under_an_unhelpful_name_is_read(tmp_path: Path, case: Case) -> None:
    write_tree(tmp_path, {case.path: case.text})
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.path, f.location.line) for f in report.findings] == [
        (case.finding[0], case.path, case.finding[1])
    ]
    assert report.files == [case.path]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.format)
def test_a_lookalike_under_a_helpful_name_is_skipped_with_its_reason(tmp_path: Path, case: Case) -> None:
    write_tree(tmp_path, {case.lookalike: case.lookalike_text})
    report = scan_tree(tmp_path)
    assert report.findings == [] and report.facts == []
    assert [(s.path, s.reason) for s in report.skipped] == [
        (case.lookalike, NAMED_BUT_NOT.format(title=case.title))
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("nginx/filter.d/nginx-auth.conf", FAIL2BAN_FILTER),
        ("etc/nginx/conf.d/php-fpm.conf", "[www]\nlisten = 9000\npm = dynamic\n"),
        ("apache/supervisord.conf", SUPERVISORD),
        ("haproxy/tox.cfg", "[tox]\nenvlist = py311\n\n[testenv]\ncommands = pytest\n"),
        ("home/alice/.ssh/config", SSH_CLIENT),
        ("etc/mysql/conf.d/client.cnf", "[client]\nport = 3306\nuser = app\n"),
    ],
)
def test_other_programs_files_claim_no_format(path: str, text: str) -> None:
    found = recognise(path, text)
    assert found.signature is None, found.how
    assert found.reason


@pytest.mark.parametrize(
    ("path", "text", "service", "port"),
    [
        ("site/conf/shop.conf", NGINX_SITE, "nginx", 40000),
        ("snippets/listen.conf", "listen 8443 ssl;\nssl_certificate /etc/ssl/shop.pem;\n", "nginx", 8443),
        ("deploy/ports.conf.gen", "Listen 8080\n", "httpd", 8080),
        ("apache_ssl.conf", "<IfModule mod_ssl.c>\n    Listen 8443\n</IfModule>\n", "httpd", 8443),
        ("conf/wiki.conf", APACHE_SITE, "httpd", 40002),
        ("lb/web.cfg", HAPROXY, "haproxy", 40001),
        ("roles/ssh/files/hardened", HARDENED_SSHD, "sshd", 40022),
        ("app/cache.conf", REDIS, "redis", 40379),
        ("db/server.cnf", "[mysqld]\nport = 3307\nbind-address = 127.0.0.1\n", "mysql", 3307),
        (
            "pg/main.conf",
            "listen_addresses = '*'\nport = 5433\nmax_connections = 100\nshared_buffers = 128MB\n",
            "postgresql",
            5433,
        ),
        (
            "redis/tuning.conf",  # named like Redis, written for PostgreSQL: the content decides
            "port = 5434\nshared_buffers = 1GB\nwal_level = replica\n",
            "postgresql",
            5434,
        ),
        (
            "printing/print-server.conf",
            "Listen localhost:631\nBrowsing Off\nDefaultAuthType Basic\n<Location />\n  Order allow,deny\n</Location>\n",
            "cups",
            631,
        ),
    ],
)
def test_each_config_is_read_by_its_own_reader(
    tmp_path: Path, path: str, text: str, service: str, port: int
) -> None:
    write_tree(tmp_path, {path: text})
    report = scan_tree(tmp_path)
    assert report.files == [path]
    assert {(f.service, f.ports.start) for f in report.facts if isinstance(f, Listener)} == {(service, port)}


def test_nginx_snippet_folders_outside_any_nginx_folder_are_read(tmp_path: Path) -> None:
    """A server-config collection: ``conf/``, ``snippets/``, ``h5bp/location/``, none under ``nginx/``."""
    files = {
        "conf/example.com.conf": NGINX_SITE.replace(
            "listen 40000;", "listen 443 ssl;\n    include h5bp/basic.conf;"
        ),
        "snippets/ssl.conf": "ssl_protocols TLSv1.2 TLSv1.3;\nssl_prefer_server_ciphers on;\n",
        "h5bp/basic.conf": "include h5bp/location/security_file_access.conf;\ninclude h5bp/security/x-frame-options.conf;\n",
        "h5bp/location/security_file_access.conf": "location ~* /\\.(?!well-known\\/) {\n  deny all;\n}\n",
        "h5bp/security/x-frame-options.conf": "add_header X-Frame-Options $x_frame_options always;\n",
        "README": "Server configs for nginx.\n",
    }
    write_tree(tmp_path, files)
    report = scan_tree(tmp_path)
    assert sorted(report.files) == sorted(p for p in files if p != "README")
    assert [(f.service, f.ports.start) for f in report.facts if isinstance(f, Listener)] == [("nginx", 443)]
    assert report.findings == []


def test_an_haproxy_config_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    write_tree(tmp_path, {"configs/payments.cfg": HAPROXY})
    result = run_cli("check", "--no-config", "configs/payments.cfg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "configs/payments.cfg:11:10: PP002" in result.stdout


def _findings(run: subprocess.CompletedProcess[str], prefix: str) -> list[tuple[object, ...]]:
    """(rule, path, line, column, message) with the scanned folder's own path taken out."""
    assert run.returncode in (0, 1), run.stderr
    out = []
    for f in json.loads(run.stdout)["findings"]:
        path = f["path"].removeprefix(prefix)
        out.append((f["rule"], path, f["line"], f["column"], f["message"].replace(prefix, "")))
    return sorted(out)


@pytest.mark.parametrize("parent", ["site", "nginx", "haproxy"])
def test_same_findings_from_inside_from_the_parent_and_under_a_renamed_parent(
    tmp_path: Path, parent: str
) -> None:
    root = write_tree(tmp_path / parent, tree_of(CASES))
    inside = _findings(run_cli("check", "--no-config", "--format", "json", ".", cwd=root), "")
    outside = _findings(
        run_cli("check", "--no-config", "--format", "json", parent, cwd=tmp_path), f"{parent}/"
    )
    assert inside == outside
    assert [(rule, path, line) for rule, path, line, _, _ in inside] == sorted(
        (c.finding[0], c.path, c.finding[1]) for c in CASES
    )


def test_signatures_do_not_import_their_readers() -> None:
    code = (
        "import sys\n"
        "from portpolicy.signatures import apache, daemons, haproxy, nginx, sshd\n"
        f"texts = {[c.text for c in CASES]!r}\n"
        "for sig in (apache, daemons, haproxy, nginx, sshd):\n"
        "    for t in texts:\n"
        "        sig.SIGNATURE.named('etc/x/y.conf'); sig.SIGNATURE.looks(t); sig.SIGNATURE.shaped(t)\n"
        "print(sorted(m for m in sys.modules if m.startswith('portpolicy.readers')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
