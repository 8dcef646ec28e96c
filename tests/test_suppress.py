"""Inline suppressions in each format's comment syntax, and PP014 for unknown or unused ones."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from portpolicy import engine, suppress
from portpolicy.config import Config
from portpolicy.pipeline import Report, scan
from tests.helpers import run_cli, scan_tree, write_tree

PRIVILEGED_COMPOSE = """\
services:
  status:
    image: nginx:1.27
    user: "101"
    network_mode: host
    expose:
{lines}
"""


def _compose(*lines: str) -> dict[str, str]:
    return {"compose.yaml": PRIVILEGED_COMPOSE.format(lines="\n".join(lines))}


def _rules(tmp: Path, **overrides: object) -> list[tuple[str, int]]:
    return [(f.rule, f.location.line) for f in scan_tree(tmp, **overrides).findings]


def test_unsuppressed_baseline_of_the_fixture(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"'))
    assert _rules(tmp_path) == [("PP001", 7)]


def test_trailing_comment_on_the_finding_line(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP001] entrypoint binds as root first'))
    assert _rules(tmp_path) == []


def test_own_line_comment_applies_to_the_next_code_line(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        _compose("      # portpolicy: ignore[PP001]", "      # a second comment line", "", '      - "80"'),
    )
    assert _rules(tmp_path) == []


def test_noqa_spellings_and_comma_lists(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"  # noqa: PP002, PP001'))
    assert _rules(tmp_path) == [("PP014", 7)]  # PP002 is unused on that line
    write_tree(tmp_path, _compose('      - "80"  # noqa PP001'))
    assert _rules(tmp_path) == []


def test_other_tools_noqa_is_not_ours(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"  # noqa: yaml[line-length], E501'))
    assert _rules(tmp_path) == [("PP001", 7)]


def test_wrong_rule_does_not_suppress_and_is_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP002]'))
    found = scan_tree(tmp_path).findings
    assert [(f.rule, f.severity) for f in found] == [("PP001", "error"), ("PP014", "info")]
    assert "unused suppression: PP002" in found[1].message
    assert (found[1].location.line, found[1].location.column) == (7, 15)  # the comment leader


def test_unknown_rule_and_empty_list_are_reported(tmp_path: Path) -> None:
    write_tree(
        tmp_path, _compose('      - "80"  # portpolicy: ignore[PP001,PP10]', "      # portpolicy: ignore[]")
    )
    messages = [f.message for f in scan_tree(tmp_path).findings]
    assert len(messages) == 2
    assert "unknown rule PP10" in messages[0] and "names no rule" in messages[1]


def test_each_id_of_one_comment_is_its_own_verdict_in_the_order_written(tmp_path: Path) -> None:
    """PP014 is judged by the engine over suppression facts: ids of one comment share its location."""
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP002,PP999,PP001,PP003]'))
    found = [f for f in scan_tree(tmp_path, severity={"PP014": "warning"}).findings if f.rule == "PP014"]
    assert [f.message.split(":")[0].split(" rule")[0] for f in found] == [
        "unused suppression",
        "suppression names unknown",
        "unused suppression",
    ]
    assert "PP002" in found[0].message and "PP003" in found[2].message
    assert {(f.location.line, f.location.column, f.severity) for f in found} == {(7, 15, "warning")}


def test_suppression_of_a_rule_that_did_not_run_gets_no_verdict(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP001]'))
    assert _rules(tmp_path, select=["PP002", "PP014"]) == []
    assert _rules(tmp_path, ignore=["PP014"]) == []


def test_systemd_needs_the_comment_on_the_line_above(tmp_path: Path) -> None:
    user_socket = ".config/systemd/user/proxy.socket"
    write_tree(
        tmp_path,
        {
            user_socket: "[Socket]\n# portpolicy: ignore[PP001] reverse-proxied by the system unit\nListenStream=443\n",
            ".config/systemd/user/proxy.service": "[Service]\nExecStart=/usr/bin/proxy\n",
        },
    )
    assert _rules(tmp_path) == []
    write_tree(tmp_path, {user_socket: "[Socket]\n; portpolicy: ignore[PP001]\nListenStream=443\n"})
    assert _rules(tmp_path) == []
    write_tree(tmp_path, {user_socket: "[Socket]\nListenStream=443\n"})
    assert _rules(tmp_path) == [("PP001", 2)]


def test_sysctl_semicolon_comment(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "etc/sysctl.d/60-range.conf": (
                "; portpolicy: ignore[PP009] vendor-tuned value, reviewed\n"
                "net.ipv4.ip_local_port_range = 1024 65534\n"
            )
        },
    )
    assert _rules(tmp_path) == []
    write_tree(tmp_path, {"etc/sysctl.d/60-range.conf": "net.ipv4.ip_local_port_range = 1024 65534\n"})
    assert _rules(tmp_path) == [("PP009", 1)]


def test_parse_xml_and_nginx_comments() -> None:
    xml = '<zone>\n  <!-- portpolicy: ignore[PP003] lab network -->\n  <port port="1024-65535" protocol="tcp"/>\n</zone>\n'
    [s] = suppress.parse("zone.xml", xml)
    assert (s.rule, s.location.line, s.target, s.spelling) == ("PP003", 2, 3, "ignore")
    nginx = "server {\n    listen 80;  # portpolicy: ignore[PP001] master runs as root\n}\n"
    [t] = suppress.parse("site.conf", nginx)
    assert (t.rule, t.target) == ("PP001", 2)
    shell = "-A INPUT -p tcp --dport 1024:65535 -j ACCEPT # noqa: PP003\n"
    [u] = suppress.parse("rules.v4", shell)
    assert (u.rule, u.target, u.spelling) == ("PP003", 1, "noqa")


def test_marker_outside_a_comment_is_text() -> None:
    assert suppress.parse("a.yml", "description: 'portpolicy: ignore[PP001]'\n") == []


def test_cli_exit_code_counts_only_unsuppressed_findings(tmp_path: Path) -> None:
    write_tree(tmp_path, _compose('      - "80"'))
    assert run_cli("check", cwd=tmp_path).returncode == 1
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP001]'))
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "No problems found in 1 file.\n"
    write_tree(tmp_path, _compose('      - "80"  # portpolicy: ignore[PP001,PP002]'))
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0 and "PP014 [info] unused suppression: PP002" in result.stdout
    assert run_cli("check", "--fail-on", "info", cwd=tmp_path).returncode == 1


def test_per_file_ignores_still_apply(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {**_compose('      - "80"'), ".portpolicy.yml": "per-file-ignores:\n  compose.yaml: [PP001]\n"},
    )
    assert _rules(tmp_path) == []


def test_noqa_where_the_value_is_used_silences_a_finding_moved_to_where_it_is_written(tmp_path: Path) -> None:
    """An ansible-lint user writes ``# noqa`` on the task; the finding points at the variable."""
    write_tree(
        tmp_path,
        {
            "inventory": "[edge]\nedge1\n",
            "site.yml": """- hosts: edge
  vars:
    relay_ports: "1024:65535"
  tasks:
    - name: Open the relay range
      community.general.ufw:
        rule: allow
        port: "{{ relay_ports }}"  # noqa: PP003 the relay needs every port
        proto: udp
""",
        },
    )
    assert [f.rule for f in scan_tree(tmp_path).findings] == []
    (tmp_path / "site.yml").write_text(
        (tmp_path / "site.yml").read_text().replace("  # noqa: PP003 the relay needs every port", "")
    )
    assert [(f.rule, f.location.line) for f in scan_tree(tmp_path).findings] == [("PP003", 3)]


def test_scans_in_two_threads_each_judge_by_their_own_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ansible-lint and action plugins scan in threaded hosts: no scan may see, or clear,
    another's suppressions. Both scans finish reading before either evaluates, and the files
    then lose their comments: each verdict must still come from the text that was read."""
    trees = {
        "a": _compose('      - "80"  # portpolicy: ignore[PP001] proxied'),
        "b": _compose("      # noqa: PP001, PP002", '      - "443"'),
    }
    for name, files in trees.items():
        write_tree(tmp_path / name, files)

    def strip_comments() -> None:
        for name in trees:
            write_tree(tmp_path / name, _compose('      - "80"'))

    both_read = threading.Barrier(2, action=strip_comments, timeout=60)
    waited: set[int] = set()
    evaluate = engine.evaluate

    def evaluate_after_both_read(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_read.wait()
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", evaluate_after_both_read)
    reports: dict[str, Report] = {}

    def run(name: str) -> None:
        reports[name] = scan([str(tmp_path / name)], Config())

    threads = [threading.Thread(target=run, args=(name,)) for name in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    a, b = str(tmp_path / "a" / "compose.yaml"), str(tmp_path / "b" / "compose.yaml")
    assert [(s.location.path, s.rule, s.target, s.used) for s in reports["a"].suppressions] == [
        (a, "PP001", 7, True)
    ]
    assert [(s.location.path, s.rule, s.target, s.used) for s in reports["b"].suppressions] == [
        (b, "PP001", 8, True),
        (b, "PP002", 8, False),
    ]
    assert [(f.rule, f.location.path) for f in reports["a"].findings] == []
    assert [(f.rule, f.location.path, f.location.line) for f in reports["b"].findings] == [("PP014", b, 7)]
