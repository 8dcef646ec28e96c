"""Live fact gathering (portpolicy/live.py) and the live audit (portpolicy/live_audit.py, `portpolicy live`)."""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import random
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from portpolicy import engine, live, live_audit
from portpolicy.config import Config
from tests.helpers import FIXTURES, REPO, run_cli

HOST = FIXTURES / "live" / "host"
MODULE_UTILS = REPO / "collections/ansible_collections/portpolicy/audit/plugins/module_utils/live.py"


def test_module_utils_copy_is_identical() -> None:
    """One implementation: the collection ships portpolicy/live.py byte for byte."""
    assert MODULE_UTILS.read_bytes() == (REPO / "portpolicy/live.py").read_bytes(), (
        f"the collection's module_utils copy drifted; run: cp portpolicy/live.py {MODULE_UTILS.relative_to(REPO)}"
    )


def test_live_uses_the_standard_library_only() -> None:
    text = (REPO / "portpolicy/live.py").read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in text.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imports <= {"errno", "ipaddress", "os", "sys", "typing", "pwd"}, imports


@pytest.mark.parametrize(
    ("text", "byteorder", "expected"),
    [
        ("0100007F:1F90", "little", ("127.0.0.1", 8080, "ipv4")),
        ("7F000001:1F90", "big", ("127.0.0.1", 8080, "ipv4")),
        ("00000000:0016", "little", ("0.0.0.0", 22, "ipv4")),
        ("00000000000000000000000001000000:0277", "little", ("::1", 631, "ipv6")),
        ("00000000000000000000000000000001:0277", "big", ("::1", 631, "ipv6")),
        ("0000000000000000FFFF00000100007F:1F90", "little", ("127.0.0.1", 8080, "ipv4")),
        ("000080FE00000000FF27000AA1664EFE:0222", "little", ("fe80::a00:27ff:fe4e:66a1", 546, "ipv6")),
    ],
)
def test_decode_endpoint(text: str, byteorder: str, expected: tuple[str, int, str]) -> None:
    assert live.decode_endpoint(text, byteorder) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["", "0100007F", "0100007F:1F9", "0100007G:1F90", "01007F:1F90", ":", "x" * 500]
)
def test_decode_endpoint_refuses_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        live.decode_endpoint(bad)


def test_gather_crafted_host() -> None:
    facts = live.gather(str(HOST), byteorder="little")
    got = {(x["protocol"], x["family"], x["address"], x["port"]) for x in facts["listeners"]}  # type: ignore[attr-defined]
    assert got == {
        ("tcp", "ipv4", "0.0.0.0", 22),
        ("tcp", "ipv4", "127.0.0.1", 5432),
        ("tcp", "ipv4", "0.0.0.0", 80),
        ("tcp", "ipv4", "0.0.0.0", 45000),
        ("tcp", "ipv6", "::", 22),
        ("tcp", "ipv4", "127.0.0.1", 8080),  # v4-mapped on a tcp6 socket
        ("tcp", "ipv6", "::1", 631),
        ("udp", "ipv4", "0.0.0.0", 68),
        ("udp", "ipv4", "127.0.0.53", 53),
        ("udp", "ipv6", "fe80::a00:27ff:fe4e:66a1", 546),
    }  # not the established SSH session, the TIME_WAIT client, nor the connected UDP client
    assert len(facts["listeners"]) == 11  # type: ignore[arg-type]  # both SO_REUSEPORT sockets on 45000
    assert facts["sysctls"] == {
        "net.ipv4.ip_local_port_range": "32768 60999",
        "net.ipv4.ip_local_reserved_ports": "",
        "net.ipv4.ip_unprivileged_port_start": "1024",
    }
    assert facts["errors"] == []
    sshd = next(x for x in facts["listeners"] if x["port"] == 22)  # type: ignore[attr-defined]
    assert sshd == {
        "protocol": "tcp",
        "family": "ipv4",
        "address": "0.0.0.0",
        "port": 22,
        "uid": 0,
        "user": "root",
        "inode": 18210,
        "pid": None,
        "process": None,
        "source": "/proc/net/tcp",
        "line": 2,
    }


def test_user_names_come_from_the_account_database() -> None:
    facts = live.gather(str(HOST), byteorder="little")
    for item in facts["listeners"]:  # type: ignore[attr-defined]
        try:
            expected = pwd.getpwuid(item["uid"]).pw_name
        except KeyError:
            expected = None
        assert item["user"] == expected


def _with_processes(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    shutil.copytree(HOST, root)
    for pid, comm, targets in [
        (812, "sshd", ["/dev/null", "socket:[18210]", "socket:[18212]", "pipe:[999]"]),
        (1201, "java", ["socket:[41999]", "anon_inode:[eventpoll]", "socket:[notanumber]"]),
        (77, "", []),
    ]:
        fd = root / "proc" / str(pid) / "fd"
        fd.mkdir(parents=True)
        (root / "proc" / str(pid) / "comm").write_text(comm + "\n")
        for i, target in enumerate(targets):
            os.symlink(target, fd / str(i))
    return root


def test_owning_processes_from_fd_links(tmp_path: Path) -> None:
    facts = live.gather(str(_with_processes(tmp_path)), byteorder="little")
    owners = {(x["port"], x["family"], x["inode"]): (x["pid"], x["process"]) for x in facts["listeners"]}  # type: ignore[attr-defined]
    assert owners[(22, "ipv4", 18210)] == (812, "sshd")
    assert owners[(22, "ipv6", 18212)] == (812, "sshd")
    assert owners[(45000, "ipv4", 41999)] == (1201, "java")
    assert owners[(45000, "ipv4", 42000)] == (None, None)
    assert facts["process_scan"] == {"complete": False, "reason": "no visible process holds 8 socket(s)"}


def test_process_scan_can_be_turned_off(tmp_path: Path) -> None:
    facts = live.gather(str(_with_processes(tmp_path)), processes=False, byteorder="little")
    assert all(x["pid"] is None for x in facts["listeners"])  # type: ignore[attr-defined]


def test_missing_ipv6_and_old_kernel_are_not_errors(tmp_path: Path) -> None:
    root = tmp_path / "host"
    shutil.copytree(HOST, root)
    for name in ("tcp6", "udp6"):
        (root / "proc/net" / name).unlink()
    (root / "proc/sys/net/ipv4/ip_unprivileged_port_start").unlink()  # before Linux 4.11
    facts = live.gather(str(root), byteorder="little")
    assert facts["errors"] == []
    assert facts["sysctls"]["net.ipv4.ip_unprivileged_port_start"] is None  # type: ignore[index]
    (root / "proc/net/udp").unlink()
    assert live.gather(str(root))["errors"] == [
        {"path": "/proc/net/udp", "line": 0, "message": "cannot read: No such file or directory"}
    ]


MALFORMED = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18210 1 0 100 0 0 10 0
   1: 0000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   2: 00000000:0016 00000000:0000 0A
   3: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000    -1        0 5 1 0 100 0 0 10 0
   4: 00000000:0018 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 x7 1 0 100 0 0 10 0
garbage line with words only and more words than ten of them here
\x00\x00\xff\xfe
   5: 00000000:0000 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1 0 100 0 0 10 0
   6: 00000000:1F90 00000000:0000 0a 00000000:00000000 00:00000000 00000000     0        0 10 1 0 100 0 0 10 0
"""


def test_malformed_lines_become_errors(tmp_path: Path) -> None:
    errors: list[dict[str, object]] = []
    found = live.parse_proc_net(MALFORMED, "tcp", "/proc/net/tcp", errors, "little")
    assert [(x["port"], x["line"]) for x in found] == [(22, 2), (8080, 10)]  # port 0 is no listener
    assert [e["line"] for e in errors] == [3, 4, 5, 6, 7, 8]


def test_malformed_proc_never_crashes(tmp_path: Path) -> None:
    """Random bytes, truncations and mutations of real content: errors, never an exception."""
    rng = random.Random(6)
    real = (HOST / "proc/net/tcp").read_bytes() + (HOST / "proc/net/udp6").read_bytes()
    root = tmp_path / "host"
    shutil.copytree(HOST, root)
    for _ in range(150):
        data = bytearray(real[: rng.randrange(len(real))])
        for _ in range(rng.randrange(1, 30)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        for name in ("tcp", "tcp6", "udp", "udp6"):
            (root / "proc/net" / name).write_bytes(bytes(data))
        (root / "proc/sys/net/ipv4/ip_local_port_range").write_bytes(bytes(data[:40]))
        facts = live.gather(str(root))
        json.dumps(facts)
        live_audit.audit(facts, "fuzz")  # and the audit takes whatever gather returns


def test_a_directory_where_a_file_belongs_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "host"
    shutil.copytree(HOST, root)
    (root / "proc/net/tcp").unlink()
    (root / "proc/net/tcp").mkdir()
    facts = live.gather(str(root))
    assert [e["path"] for e in facts["errors"]] == ["/proc/net/tcp"]  # type: ignore[attr-defined]


def test_unsupported_reason(tmp_path: Path) -> None:
    assert live.unsupported_reason("/") is None
    assert "is missing" in (live.unsupported_reason(str(tmp_path)) or "")


# --- the live audit -------------------------------------------------------------------------------------


def _audit(facts: dict[str, object], **config: object) -> list[tuple[str, str, int]]:
    report = live_audit.audit(facts, "web1", Config(**config))  # type: ignore[arg-type]
    return [(f.rule, f.location.path, f.location.line) for f in report.findings]


def test_live_audit_of_the_crafted_host() -> None:
    facts = live.gather(str(HOST), byteorder="little")
    # www-data on port 80 is bound, so it was allowed (no PP001); the two SO_REUSEPORT sockets on
    # 45000 are one listener (one PP002, no PP004); sshd on 0.0.0.0:22 and [::]:22 is no conflict.
    assert _audit(facts) == [("PP002", "/proc/net/tcp", 6)]


def test_live_kernel_settings_rules() -> None:
    facts = live.gather(str(HOST), byteorder="little")
    facts["sysctls"] = {
        "net.ipv4.ip_local_port_range": "1000 60000",
        "net.ipv4.ip_local_reserved_ports": "45000",
        "net.ipv4.ip_unprivileged_port_start": "80",
    }
    # The range holds 5432 and 8080 now; 45000 is reserved; the low start is PP008; 1000/60000 same parity.
    report = live_audit.audit(facts, "web1", Config())
    got = sorted((f.rule, f.location.path, f.location.line) for f in report.findings)
    assert got == [
        ("PP002", "/proc/net/tcp", 3),
        ("PP002", "/proc/net/tcp6", 3),
        ("PP008", "/proc/sys/net/ipv4/ip_unprivileged_port_start", 1),
        ("PP009", "/proc/sys/net/ipv4/ip_local_port_range", 1),
    ]
    assert not any(f.rule == "PP006" for f in report.findings)  # live values were all accepted


def test_live_unprivileged_start_above_the_default_range() -> None:
    facts = {
        "version": 1,
        "listeners": [],
        "sysctls": {
            "net.ipv4.ip_local_port_range": "50000 60001",
            "net.ipv4.ip_unprivileged_port_start": "40000",
        },
    }
    assert _audit(facts) == []  # replayed range first: the kernel accepted both, so nothing is refused


def test_live_facts_with_config_files(tmp_path: Path) -> None:
    """Config files of the host are applied on the live kernel settings."""
    unit = tmp_path / "etc/systemd/system/api.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nUser=api\nExecStart=/usr/bin/api --port 8080\n")
    sysctl = tmp_path / "etc/sysctl.d/90-ports.conf"
    sysctl.parent.mkdir(parents=True)
    sysctl.write_text("net.ipv4.ip_local_reserved_ports = 9000\n")
    facts = live.gather(str(HOST), byteorder="little")
    facts["sysctls"] = {"net.ipv4.ip_local_reserved_ports": "45000,50000"}
    report = live_audit.audit(facts, "web1", Config(), [str(tmp_path)])
    rules = sorted((f.rule, Path(f.location.path).name) for f in report.findings)
    # the file's write drops the live reservations 45000 and 50000 (PP007), and 45000 is in the range again
    assert ("PP007", "90-ports.conf") in rules
    assert ("PP002", "tcp") in rules


def test_facts_in_another_format_are_refused() -> None:
    with pytest.raises(live_audit.FactsError):
        live_audit.audit({"listeners": []}, "web1")
    with pytest.raises(live_audit.FactsError):
        live_audit.audit({"version": 1, "listeners": "nope"}, "web1")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"listeners": [{"protocol": "sctp", "port": 80}]},
            "listeners[0].protocol: 'sctp' is not one of tcp, udp",
        ),
        ({"listeners": [{"protocol": "tcp", "port": 0}]}, "listeners[0].port: 0 is outside 1-65535"),
        ({"listeners": [{"protocol": "tcp", "port": "80"}]}, "listeners[0].port: must be int, not '80'"),
        ({"listeners": ["text"]}, "listeners[0] must be a mapping, not str"),
        ({"listeners": [{"port": 80}]}, "listeners[0] has no 'protocol'"),
        (
            {"listeners": [{"protocol": "tcp", "port": 45000, "family": "ipx"}]},
            "listeners[0].family: 'ipx' is not one of ipv4, ipv6",
        ),
        (
            {"listeners": [{"protocol": "tcp", "port": 45000, "uid": "x"}]},
            "listeners[0].uid: must be int or null, not 'x'",
        ),
        (
            {"sysctls": {"net.ipv4.ip_local_port_range": 5}},
            "ip_local_port_range = '5' is not in the format the kernel prints",
        ),
        (
            {"sysctls": {"net.ipv4.ip_local_reserved_ports": "8080,\u0668\u0660"}},
            "ip_local_reserved_ports = '8080,\u0668\u0660' is not in the format the kernel prints",
        ),
        (
            {"errors": [{"path": "/proc/net/tcp", "line": "two", "message": "bad"}]},
            "errors[0].line: must be int or null, not 'two'",
        ),
        ({"process_scan": {"complete": "yes"}}, "process_scan.complete: must be bool, not 'yes'"),
    ],
)
def test_strange_entries_are_refused(entry: dict[str, object], expected: str) -> None:
    """Facts ``portpolicy.live`` never writes are one error naming the field, not skipped in silence."""
    facts = {"version": 1, "listeners": [], "sysctls": {}, "errors": [], **entry}
    with pytest.raises(live_audit.FactsError) as refused:
        live_audit.audit(facts, "web1")
    assert str(refused.value) == expected or expected in str(refused.value), str(refused.value)


def test_minimal_facts_are_audited() -> None:
    """Optional fields may be missing or null, and sysctls the audit does not know are ignored."""
    facts = {
        "version": 1,
        "listeners": [{"protocol": "tcp", "port": 45000, "address": None, "family": None}],
        "sysctls": {"other": "1 2", "net.ipv4.ip_local_reserved_ports": ""},
    }
    report = live_audit.audit(facts, "web1")
    assert [f.rule for f in report.findings] == ["PP002"]


def test_unicode_digits_in_proc_are_errors_not_numbers(tmp_path: Path) -> None:
    """``isdigit()`` says yes to "²" and "٨٠": /proc never holds them, so they are no uid, pid or inode."""
    root = _with_processes(tmp_path)
    tcp = root / "proc/net/tcp"
    lines = tcp.read_text().splitlines()
    sshd, postgres = lines[1].split(), lines[2].split()
    sshd[7] = "\u00b2"  # the uid of sshd on port 22; /proc is read as ASCII, so it arrives as U+FFFD
    postgres[9] = "9" * 5000  # an inode no int() converts
    lines[1:3] = ["   " + " ".join(sshd), "   " + " ".join(postgres)]
    tcp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "proc/sys/net/ipv4/ip_local_port_range").write_text("\u0668\u0660 60999\n", encoding="utf-8")
    (root / "proc/\u00b2/fd").mkdir(parents=True)  # a "pid" that is no number
    os.symlink("socket:[\u0668\u0660]", root / "proc/812/fd/9")
    facts = live.gather(str(root), byteorder="little")
    errors = {(e["path"], e["line"]): e["message"] for e in facts["errors"]}  # type: ignore[attr-defined]
    assert errors[("/proc/net/tcp", 2)] == "uid '\ufffd\ufffd' is not a number"
    assert errors[("/proc/net/tcp", 3)] == f"inode {'9' * 40!r} is not a number"
    assert "is not in the format the kernel prints" in errors[("/proc/sys/net/ipv4/ip_local_port_range", 1)]
    assert facts["sysctls"]["net.ipv4.ip_local_port_range"] is None  # type: ignore[index]
    live_audit.check_facts(facts)  # what gather writes always passes the audit's check


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_live_from_saved_facts(tmp_path: Path) -> None:
    facts = live.gather(str(HOST), byteorder="little")
    saved = tmp_path / "facts.json"
    saved.write_text(json.dumps({"ansible_facts": {"portpolicy_port_facts": facts}}))
    result = run_cli("live", "--from", str(saved), "--host", "web1", "--format", "json", "--no-config")
    assert result.returncode == 0, result.stderr  # one info finding, below the default fail-on error
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["path"], f["line"], f["host"]) for f in doc["findings"]] == [
        ("PP002", "/proc/net/tcp", 6, "web1")
    ]
    assert "a process of user" in doc["findings"][0]["message"]
    # a live socket may hold a port the kernel chose: info, and the message says so
    assert doc["findings"][0]["severity"] == "info" and "automatic port" in doc["findings"][0]["message"]
    assert run_cli("live", "--from", str(saved), "--fail-on", "warning", "--no-config").returncode == 0
    failing = run_cli("live", "--from", str(saved), "--fail-on", "info", "--no-config")
    assert failing.returncode == 1
    assert failing.stdout.startswith("/proc/net/tcp:6:1: PP002 [info] ")


def test_cli_live_bad_facts_file(tmp_path: Path) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text('{"version": 7}')
    result = run_cli("live", "--from", str(bad), "--no-config")
    assert result.returncode == 2
    assert "format version 1" in result.stderr


def _free_port(
    lo: int, hi: int, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    for port in random.Random(os.getpid()).sample(range(lo, hi + 1), min(200, hi - lo + 1)):
        s = socket.socket(family, kind)
        try:
            s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", port))
            return s
        except OSError:
            s.close()
    raise RuntimeError(f"no free port in {lo}-{hi}")


def ephemeral_range() -> tuple[int, int]:
    lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(lo), int(hi)


def test_cli_live_on_this_machine() -> None:
    """A real listener in the ephemeral range, a UDP one over IPv6, and a connected UDP client."""
    lo, hi = ephemeral_range()
    tcp = _free_port(lo, hi)
    tcp.listen()
    udp = _free_port(lo, hi, socket.AF_INET6, socket.SOCK_DGRAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(("127.0.0.1", tcp.getsockname()[1]))
    try:
        result = run_cli("live", "--format", "facts")
        facts = json.loads(result.stdout)
        mine = [x for x in facts["listeners"] if x["pid"] == os.getpid()] if os.geteuid() == 0 else []
        ports = {(x["protocol"], x["address"], x["port"]) for x in facts["listeners"]}
        assert ("tcp", "127.0.0.1", tcp.getsockname()[1]) in ports
        assert ("udp", "::1", udp.getsockname()[1]) in ports
        assert ("udp", "0.0.0.0", client.getsockname()[1]) not in ports  # a connected client
        if os.geteuid() == 0:
            assert {x["port"] for x in mine} == {tcp.getsockname()[1], udp.getsockname()[1]}
            assert all(x["process"] for x in mine)
        report = run_cli("live", "--format", "json", "--no-config", "--select", "PP002")
        messages = [(f["rule"], f["path"], f["message"]) for f in json.loads(report.stdout)["findings"]]
        assert any(
            m[:2] == ("PP002", "/proc/net/tcp") and f"tcp/{tcp.getsockname()[1]}," in m[2] for m in messages
        )
        assert any(
            m[:2] == ("PP002", "/proc/net/udp6") and f"udp/{udp.getsockname()[1]}," in m[2] for m in messages
        )
    finally:
        for s in (tcp, udp, client):
            s.close()


def test_a_rule_bug_in_the_live_audit_is_pp000_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = live.gather(str(HOST), byteorder="little")
    original = engine.select

    def with_failing_pp002(rules: Any, config: Any) -> list[engine.Rule]:
        def fails(fact: Any, binding: Any) -> Any:
            raise RuntimeError("bug in a rule")

        return [
            dataclasses.replace(r, condition=fails) if r.id == "PP002" else r for r in original(rules, config)
        ]

    monkeypatch.setattr(engine, "select", with_failing_pp002)
    report = live_audit.audit(facts, "web1", Config())
    errors = [f for f in report.findings if f.rule == "PP000"]
    assert errors and all("internal error" in f.message and "rule PP002" in f.message for f in errors)
    assert not any(f.rule == "PP002" for f in report.findings)
    assert any("bug in a rule" in trace for trace in report.tracebacks)


def test_root_owned_live_sockets_are_not_root_not_needed(tmp_path: Path) -> None:
    """PP012 judges config files only: a live socket's owner is whoever created it.

    nginx's master creates its sockets as root and its workers serve them as www-data; a unit
    file run as root that binds only 9100 is still reported beside the live sockets.
    """
    unit = tmp_path / "etc/systemd/system/node_exporter.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/local/bin/node_exporter --web.listen-address=:9100\n")
    root = {"family": "ipv4", "address": "0.0.0.0", "uid": 0, "user": "root", "source": "/proc/net/tcp"}
    facts = {
        "version": 1,
        "listeners": [
            {**root, "protocol": "tcp", "port": 8080, "process": "nginx", "pid": 812, "line": 2},
            {**root, "protocol": "tcp", "port": 50123, "line": 3},
        ],
        "sysctls": {"net.ipv4.ip_local_port_range": "32768 60999"},
    }
    assert _audit(facts) == [("PP002", "/proc/net/tcp", 3)]
    report = live_audit.audit(facts, "web1", Config(), [str(tmp_path)])
    got = sorted((f.rule, Path(f.location.path).name, f.location.line) for f in report.findings)
    assert got == [("PP002", "tcp", 3), ("PP012", "node_exporter.service", 2)]
