"""The Ansible collection portpolicy.audit: built, installed, and run by a real ansible-playbook on localhost.

Every run sets HOME/ANSIBLE_HOME to a temporary directory, the interpreter explicitly
(interpreter discovery can pick a Python that cannot run), and the collections path to the
collection installed from the built tarball. The controller imports this checkout's
portpolicy (PYTHONPATH), as ``pip install 'portpolicy[ansible]'`` would provide it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO

COLLECTION = REPO / "collections/ansible_collections/portpolicy/audit"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is part of the test extras: pip install '.[test]'")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Build the collection tarball, install it, and return the environment to run Ansible in."""
    base = tmp_path_factory.mktemp("ansible")
    env = {
        **os.environ,
        "HOME": str(base),
        "ANSIBLE_HOME": str(base / "ansible-home"),
        "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONPATH": str(REPO),
    }
    build = subprocess.run(
        [
            _tool("ansible-galaxy"),
            "collection",
            "build",
            str(COLLECTION),
            "--output-path",
            str(base / "dist"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = base / "dist/portpolicy-audit-0.1.0.tar.gz"
    install = subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", str(tarball), "-p", str(base / "collections")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    root = base / "collections/ansible_collections/portpolicy/audit"
    assert (root / "plugins/module_utils/live.py").read_bytes() == (REPO / "portpolicy/live.py").read_bytes()
    assert not (root / "tests/output").exists()
    yield env


def playbook(
    env: dict[str, str], text: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    directory = cwd or Path(env["HOME"])
    path = directory / "playbook.yml"
    path.write_text(text)
    return subprocess.run(
        [
            _tool("ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *args,
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=directory,
    )


def _bind(lo: int, hi: int) -> socket.socket | None:
    for port in range(lo, hi + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen()
        return s
    return None


def _ephemeral() -> tuple[int, int]:
    lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(lo), int(hi)


def test_docs_playbook_runs_as_documented(installed: dict[str, str]) -> None:
    """The audit playbook in docs/audit-hosts.md, extracted as is, runs and shows a planted finding."""
    docs = (COLLECTION / "docs/audit-hosts.md").read_text()
    text = next(b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "hosts: all" in b)
    lo, hi = _ephemeral()
    listener = _bind(lo + (hi - lo) // 2, hi)
    assert listener is not None
    try:
        result = playbook(installed, text)
    finally:
        port = listener.getsockname()[1]
        listener.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"info PP002 \S+ \(pid {os.getpid()}\) listens on tcp/{port},", result.stdout) or (
        os.geteuid() != 0 and f"listens on tcp/{port}," in result.stdout
    ), result.stdout
    assert "failed=0" in result.stdout


AUDIT = """
- name: Audit the test's listeners
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather live port facts
      portpolicy.audit.port_facts:

    - name: The facts hold the test's listeners
      ansible.builtin.assert:
        that:
          - high | int in tcp_ports
          - low | int == 0 or low | int in tcp_ports
          - ansible_facts.portpolicy_port_facts.sysctls['net.ipv4.ip_local_port_range'] == range_text
      vars:
        tcp_ports: "{{ ansible_facts.portpolicy_port_facts.listeners | selectattr('protocol', 'eq', 'tcp')
                       | map(attribute='port') | list }}"

    - name: Audit, report only
      portpolicy.audit.check:
        fail_on: never
      register: audit

    - name: PP002 for the listener in the ephemeral range, and no PP001 for the low port (it is bound)
      ansible.builtin.assert:
        that:
          - mine | length == 1
          - mine[0].rule == 'PP002'
          - mine[0].path in ['/proc/net/tcp', '/proc/net/tcp6']
          - mine[0].host == 'localhost'
          - audit.findings | selectattr('rule', 'eq', 'PP001') | list | length == 0
          - audit.findings | selectattr('rule', 'eq', 'PP004') | list | length == 0
          - audit.summary.by_rule.PP002 >= 1
          - audit is not failed
      vars:
        mine: "{{ audit.findings | selectattr('message', 'search', 'tcp/' ~ high ~ ',') | list }}"

    - name: Fail at info (a live PP002 is info)
      portpolicy.audit.check:
        fail_on: info
      register: strict
      ignore_errors: true

    - name: The strict audit failed, naming the level
      ansible.builtin.assert:
        that:
          - strict is failed
          - "'at or above info' in strict.msg"

    - name: Facts passed in, nothing gathered
      portpolicy.audit.check:
        facts:
          version: 1
          listeners:
            - {protocol: tcp, family: ipv4, address: 0.0.0.0, port: 50123, uid: 0, user: root,
               source: /proc/net/tcp, line: 7}
          sysctls: {net.ipv4.ip_local_port_range: "32768 60999"}
        fail_on: never
      register: given

    - name: Audited the given facts only
      ansible.builtin.assert:
        that:
          - given.findings | map(attribute='line') | list == [7]
"""


def test_playbook_audits_real_listeners(installed: dict[str, str]) -> None:
    lo, hi = _ephemeral()
    high = _bind(lo + (hi - lo) // 3, hi)
    assert high is not None
    # Below 1024 needs root (or a lowered ip_unprivileged_port_start); the sandbox and CI run as root.
    unpriv = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    low = _bind(600, min(1023, unpriv - 1)) if os.geteuid() == 0 or unpriv < 1024 else None
    if os.geteuid() == 0:
        assert low is not None, "root could not bind any port in 600-1023"
    extra = [
        "-e",
        f"high={high.getsockname()[1]}",
        "-e",
        f"low={low.getsockname()[1] if low else 0}",
        "-e",
        f"range_text='{lo} {hi}'",
    ]
    try:
        result = playbook(installed, AUDIT, *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "failed=0" in result.stdout and "ignored=1" in result.stdout
        checked = playbook(installed, AUDIT, "--check", *extra)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "changed=0" in checked.stdout
    finally:
        high.close()
        if low:
            low.close()


def test_paths_are_read_on_the_controller(installed: dict[str, str], tmp_path: Path) -> None:
    unit = tmp_path / "host_files/etc/systemd/system/api.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\nDescription=API\n\n[Service]\nUser=api\nExecStart=/usr/bin/api\n")
    socket_unit = unit.with_name("api.socket")
    socket_unit.write_text("[Socket]\nListenStream=0.0.0.0:45100\n\n[Install]\nWantedBy=sockets.target\n")
    text = """
- name: Config files with live kernel settings
  hosts: all
  gather_facts: false
  tasks:
    - name: Check the files we deploy
      portpolicy.audit.check:
        paths: [host_files]
        live: false
        fail_on: warning
      register: files
      ignore_errors: true

    - name: The socket unit's port is in the (default) ephemeral range
      ansible.builtin.assert:
        that:
          - files is failed
          - files.findings | map(attribute='rule') | list == ['PP002']
          - files.findings[0].path is search('api.socket$')
          - files.findings[0].line == 2

    - name: With a live listener too (a live PP002 is info), only the warning fails the task
      portpolicy.audit.check:
        paths: [host_files]
        facts:
          version: 1
          listeners:
            - {protocol: tcp, family: ipv4, address: 0.0.0.0, port: 50123, uid: 0, user: root,
               source: /proc/net/tcp, line: 7}
          sysctls: {net.ipv4.ip_local_port_range: "32768 60999"}
        fail_on: warning
      register: mixed
      ignore_errors: true

    - name: The message counts only what is at or above warning
      ansible.builtin.assert:
        that:
          - mixed is failed
          - mixed.findings | map(attribute='severity') | sort | list == ['info', 'warning']
          - "'found 1 problem(s) at or above warning; 1 more below warning' in mixed.msg"
"""
    result = playbook(installed, text, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_clear_error_without_portpolicy_on_the_controller(installed: dict[str, str], tmp_path: Path) -> None:
    shadow = tmp_path / "shadow/portpolicy"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named portpolicy (simulated)')\n")
    env = {**installed, "PYTHONPATH": str(tmp_path / "shadow")}
    text = "- hosts: all\n  gather_facts: false\n  tasks:\n    - portpolicy.audit.check:\n"
    result = playbook(env, text, cwd=tmp_path)
    assert result.returncode == 2
    assert "needs the portpolicy Python package on the controller" in result.stdout
    assert "install it from a clone: pip install './portpolicy[ansible]'" in result.stdout


def test_module_fails_clearly_off_linux(installed: dict[str, str], tmp_path: Path) -> None:
    """Run the installed module's code with a platform that is not Linux."""
    env = {**installed, "PYTHONPATH": installed["ANSIBLE_COLLECTIONS_PATH"]}
    code = (
        "import sys; sys.platform = 'freebsd14'\n"
        "from ansible_collections.portpolicy.audit.plugins.module_utils.live import unsupported_reason\n"
        "print(unsupported_reason())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "port facts need Linux's /proc/net; this host runs freebsd14", (
        result.stderr
    )


GET_PIP = """import ensurepip, os, subprocess, sys
ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null, hiding the index settings
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
"""


@pytest.mark.slow
def test_ansible_test_sanity_and_units(tmp_path: Path) -> None:
    """ansible-test sanity (all tests) and units pass; its pip bootstrap is served offline.

    ansible-test needs the ansible_collections/<ns>/<name> path shape and no symlink, so the
    collection is copied. About a minute the first time (it builds its venvs), seconds later.
    """
    home = Path(os.environ.get("PORTPOLICY_ANSIBLE_TEST_HOME", tmp_path / "home"))
    cache = home / ".ansible/test/cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "get_pip_24_2.py").write_text(GET_PIP)
    work = tmp_path / "ansible_collections/portpolicy/audit"
    shutil.copytree(COLLECTION, work, ignore=shutil.ignore_patterns("tests/output", "__pycache__"))
    env = {**os.environ, "HOME": str(home), "ANSIBLE_HOME": str(home / ".ansible")}
    env.pop("PYTHONPATH", None)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    for command in (["sanity"], ["units"]):
        result = subprocess.run(
            [_tool("ansible-test"), *command, "--python", py, "--requirements"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
