"""Hostile embedded files: bombs, garbage, no terminator, too many heredocs (issue #23).

Each runs the real CLI in a bounded child (``tests.hostile``): no hang, no traceback, at
most one PP000 for the file, and the reason said.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from portpolicy.readers import heredocs, payloads
from tests.helpers import write_tree
from tests.hostile import ChildRun, run_bounded


def check_json(tmp_path: Path) -> tuple[ChildRun, list[dict[str, object]]]:
    run = run_bounded("check", "--no-config", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    return run, json.loads(run.stdout)["findings"]


def pp000(findings: list[dict[str, object]]) -> list[str]:
    return [str(f["message"]) for f in findings if f["rule"] == "PP000"]


def test_gzip_bomb_in_a_data_url_stops_at_the_cap(tmp_path: Path) -> None:
    bomb = base64.b64encode(gzip.compress(b"\0" * (64 * 1024 * 1024), 9)).decode()
    assert len(bomb) < payloads.MAX_ENCODED
    ign = {"ignition": {"version": "3.3.0"}, "storage": {"files": [
        {"path": "/etc/sysctl.d/90.conf", "contents": {"compression": "gzip", "source": f"data:;base64,{bomb}"}}
    ]}}  # fmt: skip
    write_tree(tmp_path, {"boot.ign": json.dumps(ign)})
    _, findings = check_json(tmp_path)
    assert len(pp000(findings)) == 1
    assert "inflates to more than 1024 KiB" in pp000(findings)[0]


def test_base64_garbage_is_one_error_quoting_nothing(tmp_path: Path) -> None:
    user_data = (
        "#cloud-config\nwrite_files:\n  - path: /etc/sysctl.d/9.conf\n    encoding: b64\n"
        "    content: '!!!not*base64 SECRET-TOKEN'\n"
    )
    write_tree(tmp_path, {"user-data": user_data})
    run, findings = check_json(tmp_path)
    assert pp000(findings) == [
        "cannot read this file: the content written to /etc/sysctl.d/9.conf is not valid base64"
    ]
    assert "SECRET-TOKEN" not in run.stdout


def test_heredoc_with_no_terminator(tmp_path: Path) -> None:
    script = "#!/bin/sh\ncat > /etc/nginx/conf.d/a.conf <<EOF\nserver { listen 80; }\n" + "echo x\n" * 1000
    dockerfile = "FROM nginx\nCOPY <<EOF /etc/nginx/conf.d/a.conf\nserver { listen 80; }\n"
    write_tree(tmp_path, {"a/setup.sh": script, "b/Dockerfile": dockerfile})
    _, findings = check_json(tmp_path)
    assert pp000(findings) == ["cannot read this file: heredoc <<EOF is never closed"] * 2


def test_a_hundred_thousand_heredocs_in_one_script(tmp_path: Path) -> None:
    one = "cat > /etc/nginx/conf.d/x{n}.conf <<EOF\nserver {{ listen 8080; }}\nEOF\n"
    script = "#!/bin/sh\n" + "".join(one.format(n=n) for n in range(100_000))
    write_tree(tmp_path, {"setup.sh": script})
    _, findings = check_json(tmp_path)
    too_many = f"more than {heredocs.MAX_WRITTEN} files written by heredocs; the rest are not read"
    assert pp000(findings) == [f"cannot read this file: {too_many}"]
    # the files read (up to the scan's second-read budget) agree with each other: one port, no findings
    assert [f for f in findings if f["rule"] != "PP000"] == []


def test_undecodable_content_written_where_no_reader_looks_is_no_error(tmp_path: Path) -> None:
    """cloud-init's own documentation truncates a base64 example (``...``) for /etc/sysconfig/selinux."""
    user_data = (
        "#cloud-config\nwrite_files:\n  - path: /etc/sysconfig/selinux\n    encoding: b64\n"
        "    content: CiMgVGhpcyBmaWxlIGNvbnRyb2xz...\n"
        "  - path: /etc/sysctl.d/9.conf\n    encoding: b64\n    content: bmV0Lmlw...\n"
    )
    write_tree(tmp_path, {"user-data": user_data})
    _run, findings = check_json(tmp_path)
    assert [(f["line"], f["rule"]) for f in findings] == [(8, "PP000")]


# The shapes #23 names, once more (data: URL bomb, gzip bomb, no terminator, a million
# heredocs), in the readers they had not reached yet.


def _ignition(source: str) -> str:
    entry = {"path": "/etc/sysctl.d/90.conf", "contents": {"source": source}}
    return json.dumps({"ignition": {"version": "3.3.0"}, "storage": {"files": [entry]}})


def test_a_data_url_over_the_encoded_cap_is_one_error(tmp_path: Path) -> None:
    """Plain base64 and percent-encoding, each over ``MAX_ENCODED``: never decoded, one PP000 each."""
    line = b"net.ipv4.ip_local_port_range = 1024 65000\n"
    plain = base64.b64encode(line * (payloads.MAX_ENCODED // len(line) + 1)).decode()
    write_tree(
        tmp_path,
        {
            "a/boot.ign": _ignition(f"data:;base64,{plain}"),
            "b/boot.ign": _ignition("data:," + "%41" * (payloads.MAX_ENCODED // 3 + 1)),
        },
    )
    _, findings = check_json(tmp_path)
    over = "cannot read this file: the content written to /etc/sysctl.d/90.conf is a data: URL over 4 MiB"
    assert sorted((f["path"], f["message"]) for f in findings) == [("a/boot.ign", over), ("b/boot.ign", over)]


def test_a_gzip_bomb_in_cloud_init_stops_at_the_cap(tmp_path: Path) -> None:
    bomb = base64.b64encode(gzip.compress(b"#" * (64 * 1024 * 1024), 9)).decode()
    user_data = (
        "#cloud-config\nwrite_files:\n  - path: /etc/sysctl.d/9.conf\n    encoding: gz+b64\n"
        f"    content: {bomb}\n"
    )
    write_tree(tmp_path, {"user-data": user_data})
    _, findings = check_json(tmp_path)
    assert [(f["line"], f["message"]) for f in findings] == [
        (
            5,
            "cannot read this file: the content written to /etc/sysctl.d/9.conf inflates to more than 1024 KiB",
        )
    ]


def test_a_million_heredocs_in_a_script_cost_their_size_and_no_error(tmp_path: Path) -> None:
    """Heredocs written nowhere (``:<<E``): linear in the file, no finding; a minute at most."""
    script = "#!/bin/sh\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n" + ":<<E\nE\n" * 1_000_000
    write_tree(tmp_path, {"setup.sh": script})
    run = run_bounded("check", "--no-config", "--format", "json", ".", cwd=tmp_path, timeout=90)
    assert not run.crashed, run.stderr[-2000:]
    assert json.loads(run.stdout)["findings"] == []


def test_dockerfile_heredocs_past_the_line_bound_are_one_error(tmp_path: Path) -> None:
    """A hundred thousand ``COPY <<EOF`` (300,000 lines): the heredoc cut by the line bound is
    closed past it, so no "never closed"; one PP000 says the rest were not read."""
    one = "COPY <<EOF /etc/nginx/conf.d/x{n}.conf\nserver {{ listen 8080; }}\nEOF\n"
    write_tree(tmp_path, {"Dockerfile": "FROM nginx\n" + "".join(one.format(n=n) for n in range(100_000))})
    _, findings = check_json(tmp_path)
    assert pp000(findings) == [
        f"cannot read this file: more than {heredocs.MAX_WRITTEN} files written by heredocs; the rest are not read"
    ]


def test_a_file_written_inside_a_written_file_stops_at_depth_one(tmp_path: Path) -> None:
    """cloud-init writes a script whose heredoc writes an nginx config, and an Ignition file
    writes a cloud-init user-data: the inner files are not read (docs: depth 1), nothing fails."""
    inner = "#!/bin/sh\ncat > /etc/nginx/conf.d/a.conf <<EOF\nserver { listen 80; }\nEOF\n"
    user_data = "#cloud-config\nwrite_files:\n  - path: /usr/local/bin/setup.sh\n    content: |\n"
    user_data += "".join(f"      {line}\n" for line in inner.splitlines())
    seed = (
        "#cloud-config\nwrite_files:\n  - path: /etc/sysctl.d/9.conf\n"
        "    content: 'net.ipv4.ip_unprivileged_port_start = 80'\n"
    )
    encoded = base64.b64encode(seed.encode()).decode()
    ign = {"path": "/var/lib/cloud/seed/nocloud/user-data", "contents": {"source": f"data:;base64,{encoded}"}}
    write_tree(
        tmp_path,
        {
            "a/user-data": user_data,
            "b/boot.ign": json.dumps({"ignition": {"version": "3.3.0"}, "storage": {"files": [ign]}}),
        },
    )
    _run, findings = check_json(tmp_path)
    assert findings == []
    facts = run_bounded("facts", "--no-config", ".", cwd=tmp_path)
    assert not facts.crashed and "ip_unprivileged_port_start = 80" not in facts.stdout
    assert "nginx" not in facts.stdout  # the heredoc inside the written script is not read
