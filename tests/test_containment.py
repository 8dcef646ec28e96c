"""Containment of reads (issue #20): nothing outside the scanned roots is read or quoted.

Every tree here holds a fake secret *outside* the scanned tree, written in the format of
the file that links to it, so that a read would show: a Dockerfile reader quotes an invalid
``EXPOSE`` token, a playbook prints a variable's value in ``portpolicy facts``. Each test
also checks its control (the same content inside the tree does show), so it can fail.
Unreadable files and folders are tested as the user ``nobody`` in a child (the tests run as
root, who can read anything), and with a patched ``os.scandir`` for the library path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from portpolicy import safeio
from portpolicy.pipeline import scan
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import ChildRun, run_bounded, run_python_bounded

SECRET = "AKIAFAKESECRET4242"
SECRET_DOCKERFILE = f"FROM alpine\nEXPOSE {SECRET}\n"
SECRET_RULES = f"*filter\n-A INPUT -p tcp --dport {SECRET} -j ACCEPT\nCOMMIT\n"
OUTPUTS = [
    ("check", "--format", "text"),
    ("check", "--format", "json"),
    ("check", "--format", "sarif"),
    ("check", "--format", "junit"),
    ("check", "--format", "github"),
    ("check", "--format", "gitlab"),
    ("facts",),
    ("facts", "--format", "json"),
]


def _secret_tree(tmp_path: Path) -> Path:
    """``tree/`` with links of every kind to ``outside/``, plus one real finding."""
    outside = write_tree(
        tmp_path / "outside",
        {"Dockerfile": SECRET_DOCKERFILE, "rules.v4": SECRET_RULES, "conf/compose.yaml": SECRET_DOCKERFILE},
    )
    tree = write_tree(
        tmp_path / "tree",
        {
            "compose.yaml": "services:\n  web: {image: nginx, user: '101', network_mode: host, ports: ['80:80']}\n",
            ".git/config": f"[http]\n\textraheader = AUTHORIZATION: basic {SECRET}\n",
        },
    )
    (tree / "Dockerfile").symlink_to(outside / "Dockerfile")  # absolute
    (tree / "etc/iptables").mkdir(parents=True)
    (tree / "etc/iptables/rules.v4").symlink_to("../../../outside/rules.v4")  # relative
    (tree / "conf").symlink_to(outside / "conf")  # folder, absolute
    (tree / "conf2").symlink_to("../outside/conf")  # folder, relative
    (tree / "app").mkdir()
    (tree / "app/Dockerfile").symlink_to("../.git/config")  # inside the tree, but into .git
    return tree


def test_secret_tree_control_shows_the_token_when_it_is_inside(tmp_path: Path) -> None:
    """The control: the same files, not linked, are read and the token is quoted."""
    write_tree(tmp_path, {"Dockerfile": SECRET_DOCKERFILE, "etc/iptables/rules.v4": SECRET_RULES})
    result = run_cli("check", "--format", "json", cwd=tmp_path)
    assert SECRET in result.stdout


@pytest.mark.parametrize("args", OUTPUTS, ids=lambda a: "-".join(a))
def test_links_out_of_the_tree_are_never_read_in_any_format(tmp_path: Path, args: tuple[str, ...]) -> None:
    tree = _secret_tree(tmp_path)
    extra = ("--statistics",) if args[0] == "check" else ()
    result = run_bounded(*args, "-v", *extra, cwd=tree)
    assert not result.crashed and result.returncode in (0, 1)
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "skipped Dockerfile: symbolic link to outside the scanned tree" in result.stderr
    assert "skipped etc/iptables/rules.v4: symbolic link to outside the scanned tree" in result.stderr
    assert "skipped conf: symbolic link to outside the scanned tree" in result.stderr
    assert "skipped conf2: symbolic link to outside the scanned tree" in result.stderr
    assert "skipped app/Dockerfile: symbolic link into a version-control folder" in result.stderr


def test_link_out_of_the_tree_is_skipped_by_the_library(tmp_path: Path) -> None:
    tree = _secret_tree(tmp_path)
    report = scan_tree(tree)
    assert report.files == ["compose.yaml"]
    assert [f.rule for f in report.findings] == ["PP001"]
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["Dockerfile"] == safeio.OUTSIDE and reasons["conf2"] == safeio.OUTSIDE


def test_link_to_a_file_inside_the_tree_is_read(tmp_path: Path) -> None:
    """``sites-enabled/default -> ../sites-available/default`` is how nginx trees look."""
    write_tree(tmp_path, {"etc/nginx/sites-available/default": "server {\n  listen 99999;\n}\n"})
    (tmp_path / "etc/nginx/sites-enabled").mkdir()
    (tmp_path / "etc/nginx/sites-enabled/default").symlink_to("../sites-available/default")
    report = scan_tree(tmp_path)
    assert "etc/nginx/sites-enabled/default" in report.files
    assert {(f.rule, f.location.path) for f in report.findings} >= {
        ("PP005", "etc/nginx/sites-enabled/default")
    }


def test_link_to_a_folder_inside_the_tree_is_not_followed_twice(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"releases/v2/compose.yaml": "services:\n  web: {image: nginx, ports: ['8080:80']}\n"}
    )
    (tmp_path / "current").symlink_to("releases/v2")
    report = scan_tree(tmp_path)
    assert report.files == ["releases/v2/compose.yaml"]
    assert (
        "current",
        "symbolic link to a folder (not followed: a target inside the scanned tree is scanned where it lies)",
    ) in {(s.path, s.reason) for s in report.skipped}


@pytest.mark.parametrize("name", ["Dockerfile", "conf"])
def test_a_named_link_out_of_the_tree_is_refused_with_exit_2(tmp_path: Path, name: str) -> None:
    tree = _secret_tree(tmp_path)
    result = run_bounded("check", name, cwd=tree)
    assert result.returncode == 2 and not result.crashed
    assert result.stderr == (
        f"portpolicy: error: refusing to read {name}: it is a symbolic link to outside the paths given"
        " (name its target instead)\n"
    )
    assert SECRET not in result.stdout + result.stderr


def test_fifo_in_the_tree_is_skipped_and_a_named_fifo_is_exit_2(tmp_path: Path) -> None:
    write_tree(tmp_path, {"ok/compose.yaml": "services: {}\n"})
    os.mkfifo(tmp_path / "compose.yaml")
    walked = run_bounded("check", "-v", cwd=tmp_path)
    assert not walked.crashed and walked.returncode == 0
    assert "skipped compose.yaml: not a regular file" in walked.stderr
    named = run_bounded("check", "compose.yaml", cwd=tmp_path)
    assert not named.crashed
    assert (named.returncode, named.stderr) == (
        2,
        "portpolicy: error: not a regular file or folder: compose.yaml\n",
    )


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("compose.yaml", "/dev/zero"),
        ("etc/sysctl.conf", "/dev/urandom"),
        ("etc/sysctl.d/99-proc.conf", "/proc/self/status"),
        ("etc/nftables.conf", "/proc/kmsg"),
    ],
)
def test_links_to_devices_and_proc_never_block(tmp_path: Path, name: str, target: str) -> None:
    write_tree(tmp_path, {"ok/compose.yaml": "services: {}\n"})
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).symlink_to(target)
    result = run_bounded("check", "-v", cwd=tmp_path, timeout=20)
    assert not result.crashed, result.stderr
    assert f"skipped {name}: symbolic link to outside the scanned tree" in result.stderr


def test_safeio_refuses_special_and_unbounded_files_without_roots() -> None:
    """With no roots (a library caller), the file checks still hold: bounded in a child."""
    code = (
        "import os, tempfile\n"
        "from portpolicy import safeio\n"
        "d = tempfile.mkdtemp(); fifo = os.path.join(d, 'f'); os.mkfifo(fifo)\n"
        "print(safeio.read_bytes(fifo).kind)\n"
        "print(safeio.read_bytes('/dev/zero').kind)\n"
        "print(safeio.read_bytes('/proc/self/status', limit=16).kind)\n"
        "print(len(safeio.read_bytes('/proc/self/status')) > 16)\n"
        "os.unlink(fifo); os.rmdir(d)\n"
    )
    result = run_python_bounded(code, timeout=20)
    assert not result.crashed, result.stderr
    assert result.stdout.split() == ["special", "special", "too-large", "True"]


ANSIBLE_PLAY = """\
- hosts: web
  vars_files:
    - ../outside/ports.yml
    - vars/linked.yml
    - vars/inside.yml
  tasks:
    - name: reserve the escaped value
      ansible.posix.sysctl: {name: net.ipv4.ip_local_reserved_ports, value: "{{ escaped_port | default('1') }}"}
    - name: reserve the linked value
      ansible.posix.sysctl: {name: net.ipv4.ip_local_reserved_ports, value: "{{ linked_port | default('2') }}"}
    - name: reserve the inside value
      ansible.posix.sysctl: {name: net.ipv4.ip_local_reserved_ports, value: "{{ inside_port }}"}
    - name: include the linked variables
      ansible.builtin.include_vars: vars/included.yml
    - name: template from outside
      ansible.builtin.template: {src: ../outside/site.conf.j2, dest: /etc/nginx/conf.d/out.conf}
    - name: template linked out
      ansible.builtin.template: {src: linked.conf.j2, dest: /etc/nginx/conf.d/linked.conf}
"""


def test_ansible_vars_files_include_vars_and_templates_stay_inside(tmp_path: Path) -> None:
    outside = write_tree(
        tmp_path / "outside",
        {
            "ports.yml": "escaped_port: '41111'\n",
            "linked.yml": "linked_port: '42222'\n",
            "included.yml": "included_port: '43333'\n",
            "site.conf.j2": "server {\n  listen 44444;\n}\n",
            "ansible.cfg": "[defaults]\ninventory = /etc/secret-inventory\n",
        },
    )
    project = write_tree(
        tmp_path / "project",
        {
            "site.yml": ANSIBLE_PLAY,
            "vars/inside.yml": "inside_port: '45555'\n",
            "inventory": "[web]\nweb01\n",
        },
    )
    (project / "vars/linked.yml").symlink_to(outside / "linked.yml")
    (project / "vars/included.yml").symlink_to("../../outside/included.yml")
    (project / "templates").mkdir()
    (project / "templates/linked.conf.j2").symlink_to(outside / "site.conf.j2")
    (project / "ansible.cfg").symlink_to(outside / "ansible.cfg")
    result = run_bounded("facts", "--format", "json", cwd=project)
    assert not result.crashed and result.returncode == 0, result.stderr
    assert "45555" in result.stdout  # the control: a vars file inside the tree is read
    for value in ("41111", "42222", "43333", "44444", "secret-inventory"):
        assert value not in result.stdout + result.stderr


def test_nginx_and_nftables_includes_resolve_among_scanned_files_only(tmp_path: Path) -> None:
    write_tree(tmp_path / "outside", {"extra.conf": "server {\n  listen 46666;\n}\n"})
    tree = write_tree(
        tmp_path / "tree",
        {
            "etc/nginx/nginx.conf": "http {\n  include ../../../outside/extra.conf;\n"
            f"  include {tmp_path}/outside/extra.conf;\n  server {{ listen 8080; }}\n}}\n",
            "etc/nftables.conf": f'include "{tmp_path}/outside/extra.conf"\ninclude "../../outside/*"\n',
        },
    )
    doc = json.loads(run_cli("facts", "--format", "json", cwd=tree).stdout)
    assert "46666" not in json.dumps(doc)
    assert [ln["ports"] for ln in doc["listeners"]] == ["8080"]


def test_unlistable_folder_met_while_walking_is_pp000(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated (root can list anything): ``os.scandir`` refuses one folder."""
    write_tree(tmp_path, {"locked/compose.yaml": "services: {}\n", "compose.yaml": "services: {}\n"})
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.path, f.message) for f in report.findings] == [
        ("PP000", "locked", "cannot read this file: cannot list this folder: Permission denied")
    ]


def _as_nobody(tree: Path, *args: str) -> ChildRun:
    """The CLI as user nobody: every module is imported first (Python lives under /root)."""
    code = (
        "import importlib, os, pkgutil, sys, grp, pwd, jsonschema, pathspec, re2, unicodedata\n"
        "import encodings.utf_8_sig, encodings.ascii, encodings.latin_1\n"
        "import multiprocessing, threading, concurrent.futures, traceback, locale, gettext, argparse\n"
        "import contextlib, io\n"
        "import portpolicy\n"
        "for m in pkgutil.walk_packages(portpolicy.__path__, 'portpolicy.'):\n"
        "    if 'ansiblelint' not in m.name and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from portpolicy.cli import main\n"
        # One run as root first: whatever the CLI imports lazily (argparse's gettext, say) is loaded.
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    main({list(args)!r})\n"
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    return run_python_bounded(code, cwd=tree)


def test_unreadable_paths_as_an_unprivileged_user(tmp_path: Path) -> None:
    """Real permissions: a named unreadable file or folder is exit 2, one met while walking is PP000."""
    tree = write_tree(
        tmp_path / "tree",
        {"compose.yaml": "services: {}\n", "locked/compose.yaml": "services: {}\n", "secret.yaml": "a: 1\n"},
    )
    for path in (tree, tree / "compose.yaml"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (tree / "locked").chmod(0o700)
    (tree / "secret.yaml").chmod(0o600)
    walked = _as_nobody(tree, "check", "--format", "json", ".")
    assert not walked.crashed, walked.stderr
    found = {(f["rule"], f["path"], f["message"]) for f in json.loads(walked.stdout)["findings"]}
    assert found == {
        ("PP000", "locked", "cannot read this file: cannot list this folder: Permission denied"),
        ("PP000", "secret.yaml", "cannot read this file: cannot read: Permission denied"),
    }
    named_dir = _as_nobody(tree, "check", "locked")
    assert (named_dir.returncode, named_dir.stderr) == (
        2,
        "portpolicy: error: cannot read folder locked: Permission denied\n",
    )
    named_file = _as_nobody(tree, "check", "secret.yaml")
    assert (named_file.returncode, named_file.stderr) == (
        2,
        "portpolicy: error: cannot read secret.yaml: Permission denied\n",
    )


def test_roots_do_not_follow_a_named_link() -> None:
    assert safeio.root_of("/") == "/"
    assert safeio.within("/a/b", ("/a",)) and not safeio.within("/ab", ("/a",))
    assert safeio.within("/x", ("/",))


def test_scan_sets_the_roots_on_the_report_config(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    report = scan([str(tmp_path)])
    assert report.config.roots == (os.path.realpath(tmp_path),)
