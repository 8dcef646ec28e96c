"""``check --fix`` and ``--diff`` as users run them: real child processes on small realistic trees.

Each fix: the diff, the file after ``--fix`` (comments, spacing and line breaks kept), and a
second run with nothing left to fix. Then the writer's refusals: a read-only file or a
symbolic link is an error (exit 2) and no file of the run is written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from portpolicy.fixes.edits import DELETE, Refused, quote_scalar, remove_suppression, replace_range
from tests.helpers import run_cli, write_tree

SYSCTL = (
    "# Tuning for the app servers (ticket OPS-112)\n"
    "net.ipv4.ip_local_port_range = 32768 61000\n"
    "\n"
    "net.core.somaxconn=4096\n"
)
COMPOSE = (
    "services:\n"
    "  git:\n"
    "    image: gitea/gitea:1.22   # pinned\n"
    "    # portpolicy: ignore[PP999] typo of PP001\n"
    "    ports:\n"
    "      - 3000:3000\n"
    "      - 2222:22   # ssh for git push\n"
)


def diff(root: Path) -> tuple[int, str, str]:
    result = run_cli("check", "--diff", ".", cwd=root)
    return result.returncode, result.stdout, result.stderr


def fix(root: Path) -> tuple[int, str, str]:
    result = run_cli("check", "--fix", "--fail-on", "never", ".", cwd=root)
    return result.returncode, result.stdout, result.stderr


def assert_nothing_left(root: Path) -> None:
    code, out, _ = diff(root)
    assert (code, out) == (0, "")


def test_parity_diff_writes_nothing_then_fix_moves_the_end(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/60-ports.conf": SYSCTL})
    conf = tmp_path / "etc/sysctl.d/60-ports.conf"
    code, out, err = diff(tmp_path)
    assert code == 1
    assert out == (
        "--- a/etc/sysctl.d/60-ports.conf\n"
        "+++ b/etc/sysctl.d/60-ports.conf\n"
        "@@ -1,4 +1,4 @@\n"
        " # Tuning for the app servers (ticket OPS-112)\n"
        "-net.ipv4.ip_local_port_range = 32768 61000\n"
        "+net.ipv4.ip_local_port_range = 32768 60999\n"
        " \n"
        " net.core.somaxconn=4096\n"
    )
    assert "would fix 1 finding(s) in 1 file(s)" in err
    assert conf.read_text() == SYSCTL
    code, out, err = fix(tmp_path)
    assert code == 0 and "PP009" not in out
    assert "etc/sysctl.d/60-ports.conf:2:32: PP009 fixed" in err
    assert conf.read_text() == SYSCTL.replace("61000", "60999")
    assert_nothing_left(tmp_path)


def test_inverted_range_is_swapped_but_other_refusals_are_left(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/sysctl.d/90-hardening.conf": "net.ipv4.ip_local_port_range=60999\t32768\n",
            "etc/sysctl.d/95-unpriv.conf": "net.ipv4.ip_unprivileged_port_start = 40000\n",
        },
    )
    _, out, _ = diff(tmp_path)
    assert "+net.ipv4.ip_local_port_range=32768\t60999\n" in out
    assert "95-unpriv" not in out  # above the range start: which to change needs judgement
    fix(tmp_path)
    assert (
        tmp_path / "etc/sysctl.d/90-hardening.conf"
    ).read_text() == "net.ipv4.ip_local_port_range=32768\t60999\n"
    assert (
        tmp_path / "etc/sysctl.d/95-unpriv.conf"
    ).read_text() == "net.ipv4.ip_unprivileged_port_start = 40000\n"
    assert_nothing_left(tmp_path)
    assert "PP006" in run_cli("check", ".", cwd=tmp_path).stdout  # the unfixable one still reported


def test_compose_quotes_base60_and_drops_unknown_suppression_keeping_crlf(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(COMPOSE.replace("\n", "\r\n").encode())
    code, out, _ = diff(tmp_path)
    assert code == 1
    assert "-    # portpolicy: ignore[PP999] typo of PP001\n" in out  # (text mode reads \r\n as \n)
    assert '+      - "2222:22"   # ssh for git push\n' in out
    assert '"3000:3000"' not in out  # its container port is 60 or more: no base-60 number
    fix(tmp_path)
    expected = COMPOSE.replace("    # portpolicy: ignore[PP999] typo of PP001\n", "").replace(
        "- 2222:22", '- "2222:22"'
    )
    assert (tmp_path / "compose.yaml").read_bytes() == expected.replace("\n", "\r\n").encode()
    assert_nothing_left(tmp_path)


def test_one_id_of_a_trailing_comment_is_removed_and_the_rest_kept(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  web:\n    image: nginx:1.27\n    ports:\n"
                '      - "8080:80"  # noqa: PP998, PP999\n'
                '      - "8443:443"  # portpolicy: ignore[PP997] old\n'
            )
        },
    )
    fix(tmp_path)
    assert (tmp_path / "compose.yaml").read_text() == (
        'services:\n  web:\n    image: nginx:1.27\n    ports:\n      - "8080:80"\n      - "8443:443"\n'
    )
    assert_nothing_left(tmp_path)


def test_reserved_ports_are_merged_into_the_list_that_sets_them(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/sysctl.d/30-reserved.conf": "# keep the agent ports\nnet.ipv4.ip_local_reserved_ports = 8080, 9000-9010\n",
            "etc/systemd/system/agent.socket": "[Socket]\nListenStream=50000\n\n[Install]\nWantedBy=sockets.target\n",
            "etc/systemd/system/ui.socket": "[Socket]\nListenStream=50100\n",
        },
    )
    _, out, _ = diff(tmp_path)
    assert "+net.ipv4.ip_local_reserved_ports = 8080,9000-9010,50000,50100\n" in out
    code, _, err = fix(tmp_path)
    assert code == 0
    assert "agent.socket:2:14: PP002 fixed" in err and "ui.socket:2:14: PP002 fixed" in err
    text = (tmp_path / "etc/sysctl.d/30-reserved.conf").read_text()
    assert text == "# keep the agent ports\nnet.ipv4.ip_local_reserved_ports = 8080,9000-9010,50000,50100\n"
    assert_nothing_left(tmp_path)


def test_reserved_ports_go_to_a_new_sysctl_file_shown_first(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": 'services:\n  jenkins:\n    image: jenkins/jenkins:lts\n    ports:\n      - "50000:50000"\n'
        },
    )
    _, out, _ = diff(tmp_path)
    assert out.startswith("--- /dev/null\n+++ b/90-portpolicy-reserved-ports.conf\n")
    assert "+net.ipv4.ip_local_reserved_ports = 50000\n" in out
    assert not (tmp_path / "90-portpolicy-reserved-ports.conf").exists()
    _, _, err = fix(tmp_path)
    assert "(new file 90-portpolicy-reserved-ports.conf)" in err
    assert (
        "net.ipv4.ip_local_reserved_ports = 50000\n"
        in (tmp_path / "90-portpolicy-reserved-ports.conf").read_text()
    )
    assert_nothing_left(tmp_path)


def test_ansible_fix_edits_the_variable_definition(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "inventory.ini": "[web]\nweb1\n",
            "site.yml": (
                "- hosts: web\n  tasks:\n    - name: ephemeral range\n      ansible.posix.sysctl:\n"
                '        name: net.ipv4.ip_local_port_range\n        value: "{{ port_range }}"\n'
            ),
            "group_vars/web.yml": '# kernel tuning\nport_range: "32768 61000"  # wide\n',
        },
    )
    fix(tmp_path)
    assert (
        tmp_path / "group_vars/web.yml"
    ).read_text() == '# kernel tuning\nport_range: "32768 60999"  # wide\n'
    assert "{{ port_range }}" in (tmp_path / "site.yml").read_text()
    assert_nothing_left(tmp_path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_read_only_file_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/60-ports.conf": SYSCTL, "compose.yaml": COMPOSE})
    conf = tmp_path / "etc/sysctl.d/60-ports.conf"
    conf.chmod(0o444)
    try:
        code, _, err = fix(tmp_path)
    finally:
        conf.chmod(0o644)
    assert code == 2
    assert "--fix wrote nothing: etc/sysctl.d/60-ports.conf: the file is read-only" in err
    assert "Traceback" not in err
    assert conf.read_text() == SYSCTL and (tmp_path / "compose.yaml").read_text() == COMPOSE
    assert not [p for p in tmp_path.rglob(".portpolicy-fix-*")]


def test_a_symbolic_link_is_never_written_through(tmp_path: Path) -> None:
    write_tree(tmp_path, {"real/60-ports.conf": SYSCTL})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    (tmp_path / "etc/sysctl.d/60-ports.conf").symlink_to(tmp_path / "real/60-ports.conf")
    code, _, err = fix(tmp_path)
    assert code == 2 and "not a regular file" in err
    assert (tmp_path / "real/60-ports.conf").read_text() == SYSCTL
    assert stat.S_ISLNK(os.lstat(tmp_path / "etc/sysctl.d/60-ports.conf").st_mode)


def test_no_fix_flag_writes_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/60-ports.conf": SYSCTL, "compose.yaml": COMPOSE})
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run_cli("check", ".", cwd=tmp_path)
    assert result.returncode == 0 and "PP009" in result.stdout
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("line", "column", "rule", "expected"),
    [
        ("<!-- portpolicy: ignore[PP999] -->", 1, "PP999", DELETE),
        (
            "<port>80</port> <!-- portpolicy: ignore[PP999] --> <!-- x -->",
            17,
            "PP999",
            "<port>80</port> <!-- x -->",
        ),
        ("; noqa: PP998,PP999", 1, "PP999", "; noqa: PP998"),
        ("# portpolicy: ignore[] nothing", 1, "", DELETE),
    ],
)
def test_remove_suppression_edits(line: str, column: int, rule: str, expected: str) -> None:
    assert remove_suppression(line, column, {"rule": rule}) == expected


def test_edits_refuse_text_that_is_not_what_the_scan_saw() -> None:
    assert isinstance(
        replace_range("x = {{ r }}", 1, {"start": 1, "end": 2, "new_start": 2, "new_end": 1}), Refused
    )
    assert isinstance(quote_scalar('- "2222:22"', 3, {"value": "2222:22"}), Refused)
    assert quote_scalar("ports: [2222:22, 22:22]", 17, {"value": "22:22"}) == 'ports: [2222:22, "22:22"]'
