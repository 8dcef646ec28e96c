"""Where the user stands changes no verdict: the same tree from inside, from its parent, renamed.

Host scoping, like recognition, may look only at paths below the scanned root. A checkout
under ``~/src/etc/`` or a clone named ``firewalld`` once made the whole tree one
root-filesystem host, and two unrelated sockets conflicted.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from portpolicy import hosts
from portpolicy.config import Config
from tests.helpers import run_cli, write_tree

TREE = {
    # a root filesystem: kernel settings, units and nginx of one machine
    "etc/sysctl.d/60-ports.conf": (
        "# keep the exporter's port out of the ephemeral range\n"
        "net.ipv4.ip_local_port_range = 32768 60999\n"
        "net.ipv4.ip_local_reserved_ports = 9100\n"
    ),
    "etc/systemd/system/app.service": (
        "[Unit]\nDescription=app\n\n[Service]\nUser=app\nExecStart=/usr/bin/app --web.listen-address=:443\n"
    ),
    "etc/systemd/system/status.socket": "[Socket]\nListenStream=80\n",
    "etc/nginx/nginx.conf": "user nginx;\nevents {}\nhttp {\n    include conf.d/*.conf;\n}\n",
    "etc/nginx/conf.d/api.conf": "server {\n    listen 80;\n    listen 45000;\n}\n",
    # a compose project whose web image copies an nginx site in
    "stack/compose.yaml": (
        "services:\n"
        "  web:\n    build: .\n    ports:\n      - '8080:80'\n"
        "  cache:\n    image: redis\n    ports:\n      - '40000:6379'\n"
    ),
    "stack/Dockerfile": (
        "FROM nginx:1.27\nUSER nginx\nCOPY site.conf /etc/nginx/conf.d/default.conf\nEXPOSE 80\n"
    ),
    "stack/site.conf": "server {\n    listen 80;\n}\n",
    # a role's firewalld tree: the zone finds the service beside it
    "gateway/firewalld/zones/public.xml": (
        '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <service name="app"/>\n'
        '  <port port="50000" protocol="tcp"/>\n</zone>\n'
    ),
    "gateway/firewalld/services/app.xml": (
        '<?xml version="1.0" encoding="utf-8"?>\n<service>\n  <short>app</short>\n'
        '  <port port="70000" protocol="tcp"/>\n</service>\n'
    ),
    # a folder of units of another machine: under a parent named firewalld it was a
    # "firewalld tree", under etc part of the root filesystem, and 80 conflicted with nginx
    "services/metrics.socket": "[Socket]\nListenStream=80\n",
    "Dockerfile": "FROM alpine:3.20\nUSER 1000\nEXPOSE 8443\n",
}

# PP001 twice: app.service (error) and, at info, the web image's nginx on 80 as user nginx (the
# site.conf its Dockerfile copies in; works only where the runtime lowers the limit); PP015: the
# redis cache published on every address of a host with no firewall read
EXPECTED_RULES = ["PP001", "PP001", "PP002", "PP002", "PP004", "PP005", "PP015"]
RENAMED = ("etc", "nginx", "firewalld", "sysctl.d", "haproxy")


def _normalised(text: str, prefix: str, host: str, norm_host: str) -> str:
    """A message with the scanned root's shown prefix removed from paths and host names."""
    if host != norm_host:
        text = text.replace(f"({host})", f"({norm_host})").replace(f"{host}#", f"{norm_host}#")
    if prefix:
        text = re.sub(r"(?<![\w./-])" + re.escape(prefix + "/"), "", text)
    return text


def _host(host: str, prefix: str) -> str:
    if not prefix:
        return host
    if host == prefix:
        return "."
    return host.removeprefix(prefix + "/")


def _path(path: str, prefix: str) -> str:
    return path.removeprefix(prefix + "/") if prefix else path


def _findings(doc: dict[str, Any], prefix: str) -> list[tuple[Any, ...]]:
    out = []
    for f in doc["findings"]:
        host = _host(f["host"], prefix)
        related = tuple(
            (_path(r["path"], prefix), r["line"], _normalised(r["message"], prefix, f["host"], host))
            for r in f["related"]
        )
        out.append(
            (
                f["rule"],
                _path(f["path"], prefix),
                f["line"],
                f["column"],
                _normalised(f["message"], prefix, f["host"], host),
                host,
                related,
            )
        )
    return sorted(out)


def _model(doc: dict[str, Any], prefix: str) -> list[tuple[str, ...]]:
    """Each listener's place in the model: where it was read, its host, its privilege verdict."""
    return sorted(
        (
            _path(ln["location"], prefix),
            _host(ln["host"], prefix),
            ln["ports"],
            ln["privilege"]["reason"] if ln["privilege"] else "",
        )
        for ln in doc["listeners"]
    )


def _run(cwd: Path, arg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    check = run_cli("check", "--no-config", "--format", "json", arg, cwd=cwd)
    assert check.returncode == 1, check.stderr
    facts = run_cli("facts", "--no-config", "--format", "json", arg, cwd=cwd)
    assert facts.returncode == 0, facts.stderr
    return json.loads(check.stdout), json.loads(facts.stdout)


@pytest.fixture(scope="module")
def inside(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[Any, ...]], list[tuple[str, ...]]]:
    """The tree scanned from inside (``portpolicy check .``), as every other run must see it."""
    root = write_tree(tmp_path_factory.mktemp("inside") / "repo", TREE)
    check, facts = _run(root, ".")
    return _findings(check, ""), _model(facts, "")


def test_the_tree_has_findings_that_depend_on_scoping(
    inside: tuple[list[tuple[Any, ...]], list[tuple[str, ...]]],
) -> None:
    findings, _ = inside
    assert sorted(f[0] for f in findings) == EXPECTED_RULES
    portable = next(f for f in findings if f[0] == "PP001" and f[1] == "stack/site.conf")
    assert "web binds tcp/80 as user nginx" in portable[4] and portable[5] == "stack"
    conflict = next(f for f in findings if f[0] == "PP004")
    assert conflict[1] == "etc/systemd/system/status.socket" and conflict[5] == "."
    assert all(f[1] != "services/metrics.socket" for f in findings)


@pytest.mark.parametrize("where", ["parent/repo", *RENAMED, "src/etc/repo", "firewalld/repo"])
def test_same_findings_from_anywhere(
    tmp_path: Path, where: str, inside: tuple[list[tuple[Any, ...]], list[tuple[str, ...]]]
) -> None:
    """From the parent (``check repo``), renamed (``check etc``), or deeper (``check src/etc/repo``)."""
    parent, _, name = where.rpartition("/")
    write_tree(tmp_path / where, TREE)
    cwd, prefix = tmp_path / parent, name
    if where.startswith(("src/", "firewalld/")):  # scanned from the top: the prefix is the whole path
        cwd, prefix = tmp_path, where
    check, facts = _run(cwd, prefix)
    assert (_findings(check, prefix), _model(facts, prefix)) == inside


def test_two_roots_under_a_folder_named_etc_keep_their_own_hosts(tmp_path: Path) -> None:
    """``check etc/a etc/b``: two copies, two sets of hosts named by their shown paths, no cross-talk."""
    write_tree(tmp_path / "etc/a", TREE)
    shutil.copytree(tmp_path / "etc/a", tmp_path / "etc/b")
    result = run_cli("check", "--no-config", "--format", "json", "etc/a", "etc/b", cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert sorted(f["rule"] for f in doc["findings"]) == sorted(EXPECTED_RULES * 2)
    assert {f["host"] for f in doc["findings"] if f["rule"] == "PP004"} == {"etc/a", "etc/b"}


@pytest.mark.parametrize(
    ("path", "rel", "reader", "host"),
    [
        ("etc/repo/services/x.socket", "services/x.socket", "systemd", "etc/repo/services"),
        ("etc/repo/etc/systemd/system/a.socket", "etc/systemd/system/a.socket", "systemd", "etc/repo"),
        ("firewalld/services/x.socket", "services/x.socket", "systemd", "firewalld/services"),
        ("firewalld/zones/public.xml", "zones/public.xml", "firewalld", "firewalld/zones"),
        ("r/fw/firewalld/zones/public.xml", "fw/firewalld/zones/public.xml", "firewalld", "r/fw/firewalld"),
        ("repo/compose.yaml", "compose.yaml", "compose", "repo"),
        ("repo/ops/compose.yaml", "ops/compose.yaml", "compose", "repo/ops"),
        ("/srv/etc/x.conf", "etc/x.conf", "sysctl", "/srv"),
        ("/etc/x.conf", "etc/x.conf", "sysctl", "/"),
        ("units/a.socket", "units/a.socket", "systemd", "units"),
        ("a.socket", "a.socket", "systemd", "."),
        # a rel that is not the tail of the shown path: the shown path decides, as before
        ("etc/x.socket", "other/x.socket", "systemd", "."),
    ],
)
def test_scope_decides_on_the_path_below_the_root(path: str, rel: str, reader: str, host: str) -> None:
    assert hosts.scope_of(path, reader, Config(), rel)[0] == host
