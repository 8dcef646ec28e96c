"""Tests for the systemd reader: unit-file syntax, drop-in merging and socket/service pairing."""

from __future__ import annotations

import pickle
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from portpolicy.model import (
    BindAddress,
    Evidence,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers import systemd
from portpolicy.readers.base import Source
from portpolicy.readers.systemd import ALL_CAPABILITIES, Directive, UnitFragment
from portpolicy.signatures.systemd import SIGNATURE

named = SIGNATURE.named

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "systemd"
ETC = "etc/systemd/system"


def read_all(files: dict[str, str]) -> list[object]:
    facts: list[object] = []
    for path, text in files.items():
        assert named(path), path
        facts.extend(systemd.read(Source(path, text)))
    return facts


def scan(files: dict[str, str]) -> list[object]:
    """Read every file, then assemble them as one host, as the pipeline does."""
    return list(systemd.assemble(read_all(files)))  # type: ignore[arg-type]


def scan_tree(root: Path) -> list[object]:
    files = {
        p.relative_to(FIXTURES).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and named(p.relative_to(root).as_posix())
    }
    return scan(files)


def only(facts: Sequence[object], kind: type[T]) -> list[T]:
    return [f for f in facts if isinstance(f, kind)]


def listeners(facts: Sequence[object]) -> list[Listener]:
    return only(facts, Listener)


def fragment(path: str, text: str) -> UnitFragment:
    frags = [f for f in systemd.read(Source(path, text)) if isinstance(f, UnitFragment)]
    assert len(frags) == 1
    return frags[0]


def socket(body: str, name: str = "app.socket", **extra: str) -> list[object]:
    return scan({f"{ETC}/{name}": body, **{f"{ETC}/{k}": v for k, v in extra.items()}})


@pytest.fixture(scope="module")
def server() -> dict[str, list[Listener]]:
    """The realistic server tree, listeners grouped by socket unit name."""
    facts = scan_tree(FIXTURES / "server")
    assert not only(facts, ParseError)
    grouped: dict[str, list[Listener]] = {}
    for lst in listeners(facts):
        grouped.setdefault(lst.service.split("(")[1].rstrip(")"), []).append(lst)
    return grouped


# --------------------------------------------------------------------------- the name prior


@pytest.mark.parametrize(
    "path",
    [
        "web.socket",
        "etc/systemd/system/web.socket",
        "usr/lib/systemd/system/sshd@.service",
        "roles/app/templates/app.socket.j2",
        "roles/app/templates/app.service.j2",
        "etc/systemd/system/web.socket.d/10-listen.conf",
        "etc/systemd/system/web.service.d/override.conf.j2",
        "etc/systemd/system/getty@.service.d/autologin.conf",
        "etc/systemd/system/foo-.service.d/10-common.conf",
        "usr/lib/systemd/system/service.d/10-timeout-abort.conf",
        "home/alice/.config/systemd/user/devserver.socket",
    ],
)
def test_matches_unit_files_and_dropins(path: str) -> None:
    assert named(path)


@pytest.mark.parametrize(
    "path",
    [
        "etc/systemd/system/backup.timer",
        "etc/systemd/system/web.socket.bak",
        "units/sshd.service.in",
        "etc/systemd/system/web.socket.d/notes.txt",
        "etc/systemd/system/web.socket.d/10-listen.conf.bak",
        "etc/systemd/system/web.conf",
        "etc/systemd/system/.service",
        "docs/services.md",
        "etc/sysctl.d/10-ports.conf",
        "etc/systemd/system/web.target.d/override.conf",
        "etc/systemd/network/10-eth0.network",
    ],
)
def test_matches_rejects_other_files(path: str) -> None:
    assert not named(path)


# --------------------------------------------------------------------------- read(): syntax


def test_fragment_records_unit_identity_and_value_locations() -> None:
    frag = fragment(
        "etc/systemd/system/web.socket",
        "[Unit]\nDescription=Web\n\n[Socket]\nListenStream =  8080\n",
    )
    assert frag.unit == "web.socket"
    assert not frag.dropin and frag.dropin_name == ""
    assert not frag.user_unit
    assert frag.directives == (
        Directive("Unit", "Description", "Web", Location("etc/systemd/system/web.socket", 2, 13)),
        Directive("Socket", "ListenStream", "8080", Location("etc/systemd/system/web.socket", 5, 17)),
    )


def test_dropin_identity_comes_from_its_directory() -> None:
    frag = fragment("roles/web/templates/web.socket.d/10-public.conf.j2", "[Socket]\nListenStream=80\n")
    assert frag.unit == "web.socket"
    assert frag.dropin
    assert frag.dropin_name == "10-public.conf"


@pytest.mark.parametrize(
    ("path", "text", "unit"),
    [
        ("deploy/units/webapp", "[Service]\nExecStart=/usr/bin/webapp\n", "webapp.service"),
        ("deploy/units/web.conf", "[Unit]\nDescription=x\n[Socket]\nListenStream=80\n", "web.socket"),
        ("roles/web/templates/web-unit.j2", "[Service]\nExecStart=/x\n", "web-unit.service"),
        ("units/sshd.service.in", "[Service]\nExecStart=/usr/sbin/sshd -D\n", "sshd.service"),
        ("units/backup.timer", "[Timer]\nOnCalendar=daily\n", "backup.timer"),
        ("conf.d/app.conf", "[Service]\nUser=app\n", "app.service"),
    ],
)
def test_a_unit_without_a_unit_suffix_is_what_its_sections_say(path: str, text: str, unit: str) -> None:
    frag = fragment(path, text)
    assert (frag.unit, frag.dropin) == (unit, False)


@pytest.mark.parametrize(
    "path", ["etc/systemd/system/web.socket.bak", "etc/systemd/system/web.socket.dpkg-old"]
)
def test_a_left_over_copy_of_a_unit_is_never_loaded(path: str) -> None:
    facts = list(systemd.read(Source(path, "[Socket]\nListenStream=80\n")))
    assert [type(f).__name__ for f in facts] == ["Unresolved"]
    assert isinstance(facts[0], Unresolved) and "never loads" in facts[0].reason


def test_user_unit_and_search_path_come_from_the_path_below_the_scanned_root() -> None:
    """A checkout under ``~/.config/systemd/user`` holds system units: only ``rel`` is looked at."""
    source = Source(
        "home/u/.config/systemd/user/repo/web.socket", "[Socket]\nListenStream=80\n", "web.socket"
    )
    frag = next(f for f in systemd.read(source) if isinstance(f, UnitFragment))
    assert not frag.user_unit and frag.priority == 0
    assert frag.path == "home/u/.config/systemd/user/repo/web.socket"


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("home/alice/.config/systemd/user/dev.socket", True),
        ("etc/systemd/user/dev.socket", True),
        ("usr/lib/systemd/user/dev.socket.d/x.conf", True),
        ("etc/systemd/system/dev.socket", False),
        ("roles/dev/files/dev.socket", False),
    ],
)
def test_user_units_are_recognised_by_path(path: str, user: bool) -> None:
    assert fragment(path, "[Socket]\nListenStream=8000\n").user_unit is user


def test_fragment_is_picklable() -> None:
    frag = fragment(f"{ETC}/web.socket", "[Socket]\nListenStream=80\n")
    assert pickle.loads(pickle.dumps(frag)) == frag


def test_comments_are_skipped_including_indented_and_semicolon() -> None:
    frag = fragment(
        f"{ETC}/web.socket",
        "# header comment\n[Socket]\n; ListenStream=1\n   # ListenStream=2\nListenStream=3 # not a comment\n",
    )
    assert [(d.key, d.value) for d in frag.directives] == [("ListenStream", "3 # not a comment")]


def test_continuation_lines_join_with_a_space_and_point_at_the_first_line() -> None:
    text = (
        "[Service]\n"
        "ExecStart=/usr/bin/server \\\n"
        "# a comment inside a continuation is dropped, as systemd does\n"
        "    --port 8080 \\\n"
        "    --verbose\n"
        "User=web\n"
    )
    frag = fragment(f"{ETC}/web.service", text)
    exec_start, user = frag.directives
    assert exec_start.value == "/usr/bin/server      --port 8080      --verbose"
    assert exec_start.location == Location(f"{ETC}/web.service", 2, 11)
    assert user == Directive("Service", "User", "web", Location(f"{ETC}/web.service", 6, 6))


def test_escaped_backslash_is_not_a_continuation() -> None:
    frag = fragment(f"{ETC}/web.service", "[Service]\nEnvironment=A=x\\\\\nUser=web\n")
    assert [d.key for d in frag.directives] == ["Environment", "User"]


def test_continuation_at_end_of_file_is_still_parsed() -> None:
    frag = fragment(f"{ETC}/web.socket", "[Socket]\nListenStream=\\\n  8080\\")
    assert frag.directives[0].value == "8080"
    assert frag.directives[0].location == Location(f"{ETC}/web.socket", 3, 3)


def test_line_without_assignment_is_a_parse_error_and_reading_continues() -> None:
    facts = list(
        systemd.read(Source(f"{ETC}/web.socket", "[Socket]\nListenStream 80\n=80\nListenStream=8080\n"))
    )
    errors = only(facts, ParseError)
    assert [(e.location.line, "missing" in e.message) for e in errors] == [(2, True), (3, True)]
    assert "key name" in errors[1].message
    frag = only(facts, UnitFragment)[0]
    assert [d.value for d in frag.directives] == ["8080"]


def test_file_without_any_section_is_a_parse_error() -> None:
    facts = list(systemd.read(Source(f"{ETC}/web.socket", "\n# comment\nListenStream=80\n")))
    (error,) = only(facts, ParseError)
    assert "no [Section] header" in error.message
    assert error.location == Location(f"{ETC}/web.socket", 3, 1)
    assert only(facts, UnitFragment)[0].directives == ()


def test_assignments_before_first_section_are_reported_once() -> None:
    facts = list(systemd.read(Source(f"{ETC}/web.socket", "A=1\nB=2\n[Socket]\nListenStream=80\n")))
    (error,) = only(facts, ParseError)
    assert error.message.startswith("2 line(s) before the first [Section]")
    assert [d.key for d in only(facts, UnitFragment)[0].directives] == ["ListenStream"]


def test_broken_section_header_makes_systemd_refuse_the_unit() -> None:
    files = {
        f"{ETC}/web.socket": "[Socket]\nListenStream=80\n[Install # wrong\nWantedBy=sockets.target\n",
    }
    facts = read_all(files)
    (error,) = only(facts, ParseError)
    assert "refuses to load" in error.message and error.location.line == 3
    frag = only(facts, UnitFragment)[0]
    assert frag.failed
    assert not listeners(scan(files))


def test_overlong_line_is_refused_like_systemd_and_stays_cheap() -> None:
    text = "[Socket]\nListenStream=80\nExecStartPre=/bin/true " + "x \\\n" * 600_000 + "end\n"
    facts = list(systemd.read(Source(f"{ETC}/web.socket", text)))
    (error,) = only(facts, ParseError)
    assert "1 MiB" in error.message and error.location.line == 3
    assert only(facts, UnitFragment)[0].failed


def test_crlf_line_endings() -> None:
    frag = fragment(f"{ETC}/web.socket", "[Socket]\r\nListenStream=80\r\nBindIPv6Only=both\r\n")
    assert [(d.value, d.location.line, d.location.column) for d in frag.directives] == [
        ("80", 2, 14),
        ("both", 3, 14),
    ]
    (lst,) = listeners(scan({f"{ETC}/web.socket": "[Socket]\r\nListenStream=80\r\n"}))
    assert lst.ports == PortRange(80, 80)


def test_byte_order_mark_is_ignored() -> None:
    frag = fragment(f"{ETC}/web.socket", "\ufeff[Socket]\nListenStream=80\n")
    assert frag.directives[0].section == "Socket"


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02[Socket\x00]\nListenStream=\x00\n",
        "\udcff\udcfe garbage \\",
        "[\n]\n[[]]\n=\n==\n\\\n\\\\\n%%%\n",
        "[Socket]\nListenStream=[\nListenStream=[]:\nListenStream=[::]\nListenStream=:80\nListenStream=%\n",
        "[Socket]\nListenStream=0x\nListenStream=0b\nListenStream=+\nListenStream=99999999999999999999\n",
        "[Socket]\nAccept=maybe\nBindIPv6Only=sometimes\nService=x\n[Service]\nUser=\nDynamicUser=??\n",
    ],
)
def test_garbage_never_raises(text: str) -> None:
    facts = scan({f"{ETC}/junk.socket": text, f"{ETC}/junk.service": text})
    assert all(not isinstance(f, Listener) or 1 <= f.ports.start <= 65535 for f in facts)


def test_random_text_never_raises() -> None:
    rng = random.Random(4242)
    alphabet = "[]=\\#;%@:./ \t\r\n0123456789abcxyzListenStreamSocketService{}~\x00\u00e9"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        scan({f"{ETC}/fuzz.socket": "[Socket]\n" + text, f"{ETC}/fuzz.service": text})


# --------------------------------------------------------------------------- listen values


@pytest.mark.parametrize(
    ("value", "settings", "address", "port"),
    [
        ("80", "", BindAddress(None, "dual"), 80),
        ("80", "BindIPv6Only=ipv6-only\n", BindAddress(None, "ipv6"), 80),
        ("80", "BindIPv6Only=yes\n", BindAddress(None, "ipv6"), 80),
        ("80", "BindIPv6Only=both\n", BindAddress(None, "dual"), 80),
        ("0.0.0.0:8080", "", BindAddress(None, "ipv4"), 8080),
        ("127.0.0.1:8080", "", BindAddress("127.0.0.1", "ipv4"), 8080),
        ("[::]:443", "", BindAddress(None, "dual"), 443),
        ("[::]:443", "BindIPv6Only=ipv6-only\n", BindAddress(None, "ipv6"), 443),
        ("[2001:db8::10]:443", "", BindAddress("2001:db8::10", "ipv6"), 443),
        ("[0:0:0:0:0:0:0:1]:8443", "", BindAddress("::1", "ipv6"), 8443),
        ("[fe80::1]:8080%eth0", "", BindAddress("fe80::1", "ipv6"), 8080),
        ("[fe80::1]:8080%%eth0", "", BindAddress("fe80::1", "ipv6"), 8080),
        ("0x50", "", BindAddress(None, "dual"), 80),  # strtoul(..., 0), as systemd parses ports
    ],
)
def test_address_forms(value: str, settings: str, address: BindAddress, port: int) -> None:
    (lst,) = listeners(socket(f"[Socket]\nListenStream={value}\n{settings}"))
    assert lst.address == address
    assert lst.ports == PortRange(port, port)
    assert lst.protocol == "tcp"
    assert lst.location == Location(f"{ETC}/app.socket", 2, 14)


def test_datagram_and_protocol_variants() -> None:
    facts = socket("[Socket]\nListenDatagram=5353\nSocketProtocol=udplite\n")
    assert [(lst.protocol, lst.ports.start) for lst in listeners(facts)] == [("udp", 5353)]
    facts = socket("[Socket]\nListenStream=3868\nSocketProtocol=sctp\n")
    assert [(lst.protocol, lst.ports.start) for lst in listeners(facts)] == [("sctp", 3868)]


@pytest.mark.parametrize(
    "value",
    [
        "/run/app/app.sock",
        "@app-abstract",
        "vsock::9999",
        "vsock:2:1234",
        "%t/app.sock",
        "%h/.app.sock",
        "/run/app/%i.sock",
        "/run/{{ app_name }}.sock",
    ],
)
def test_non_ip_sockets_yield_nothing(value: str) -> None:
    assert socket(f"[Socket]\nListenStream={value}\nListenDatagram={value}\n") == []


def test_other_listen_types_yield_nothing() -> None:
    body = (
        "[Socket]\nListenSequentialPacket=/run/app.seq\nListenNetlink=audit 1\n"
        "ListenFIFO=/run/app.fifo\nListenSpecial=/dev/app\nListenMessageQueue=/app\n"
    )
    assert socket(body) == []


def test_sequential_packet_on_a_port_is_reported_not_listened() -> None:
    facts = socket("[Socket]\nListenSequentialPacket=5000\n")
    (error,) = only(facts, ParseError)
    assert "AF_UNIX only" in error.message
    assert not listeners(facts)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("70000", "outside 1-65535"),
        ("0", "not accepted"),
        ("-1", "outside 1-65535"),
        ("0.0.0.0:0", "not accepted"),
        ("[::1]:65536", "outside 1-65535"),
        ("localhost:8080", "host names"),
        ("::1", "has no port"),
        ("127.0.0.1", "neither a port"),
        ("http", "neither a port"),
        ("127.0.0.1:http", "not a port number"),
        ("08", "leading 0 means octal"),
        ('"8080"', "neither a port"),  # systemd does not unquote listen addresses
    ],
)
def test_invalid_ports(value: str, reason: str) -> None:
    facts = socket(f"[Socket]\nListenStream={value}\nListenStream=8080\n")
    (bad,) = only(facts, InvalidPort)
    assert reason in bad.reason
    assert bad.value == value
    assert bad.location == Location(f"{ETC}/app.socket", 2, 14)
    assert [lst.ports.start for lst in listeners(facts)] == [8080]


@pytest.mark.parametrize("value", ["{{ app_port }}", "0.0.0.0:{{ app_port }}", "${PORT}", "%i", "[::]:%i"])
def test_templated_values_are_unresolved(value: str) -> None:
    facts = socket(f"[Socket]\nListenStream={value}\n", name="app@.socket")
    (unresolved,) = only(facts, Unresolved)
    assert unresolved.value == value
    assert unresolved.location == Location(f"{ETC}/app@.socket", 2, 14)
    assert not listeners(facts)


def test_template_instance_resolves_instance_specifier() -> None:
    template = "[Socket]\nListenStream=127.0.0.1:%i\n"
    facts = scan(
        {
            f"{ETC}/echo@.socket": template,
            f"{ETC}/sockets.target.wants/echo@7777.socket": template,
        }
    )
    assert not only(facts, Unresolved)
    (lst,) = listeners(facts)
    assert lst.service == "echo@7777.service (echo@7777.socket)"
    assert (lst.address, lst.ports) == (BindAddress("127.0.0.1", "ipv4"), PortRange(7777, 7777))


def test_empty_listen_assignment_drops_every_earlier_entry_of_any_type() -> None:
    facts = socket("[Socket]\nListenStream=80\nListenStream=70000\nListenDatagram=\nListenDatagram=53\n")
    assert [(lst.protocol, lst.ports.start) for lst in listeners(facts)] == [("udp", 53)]
    # systemd already warned about the invalid line while parsing; a later reset does not undo that
    assert len(only(facts, InvalidPort)) == 1


# --------------------------------------------------------------------------- pairing and privilege


def test_socket_paired_with_service_of_the_same_name(server: dict[str, list[Listener]]) -> None:
    (lst,) = server["node_exporter.socket"]
    assert lst.service == "node_exporter.service (node_exporter.socket)"
    assert lst.bound_by == "systemd" and lst.source == "systemd"
    assert lst.ports == PortRange(9100, 9100) and lst.address == BindAddress(None, "dual")
    user_line = Location("server/etc/systemd/system/node_exporter.service", 7, 6)
    assert lst.run_as.user == "node_exporter"
    assert lst.run_as.location == user_line
    assert lst.run_as.no_new_privileges
    assert lst.run_as.is_root is False
    assert Evidence(user_line, "User=node_exporter") in lst.evidence
    assert (
        Evidence(
            Location("server/etc/systemd/system/node_exporter.service"),
            "paired service unit node_exporter.service",
        )
        in lst.evidence
    )


def test_service_setting_and_dropins(server: dict[str, list[Listener]]) -> None:
    """web.socket: Service=frontend.service; a drop-in resets ListenStream=, another overrides User=."""
    found = server["web.socket"]
    assert [(lst.ports.start, lst.address) for lst in found] == [
        (80, BindAddress(None, "ipv4")),
        (443, BindAddress(None, "ipv6")),  # BindIPv6Only=ipv6-only from the drop-in
    ]
    dropin = "server/etc/systemd/system/web.socket.d/10-public.conf"
    assert [lst.location for lst in found] == [Location(dropin, 4, 14), Location(dropin, 5, 14)]
    lst = found[0]
    assert lst.service == "frontend.service (web.socket)"
    assert lst.run_as.user == "frontend"  # frontend.service.d/50-user.conf wins over User=nobody
    assert lst.run_as.location == Location("server/etc/systemd/system/frontend.service.d/50-user.conf", 2, 6)
    # AmbientCapabilities= accumulates across the main file and the drop-in
    assert lst.run_as.ambient == frozenset({"NET_RAW", "NET_BIND_SERVICE"})
    assert any(e.message == "Service=frontend.service" for e in lst.evidence)


def test_accept_yes_pairs_with_the_template_service(server: dict[str, list[Listener]]) -> None:
    (lst,) = server["sshd.socket"]  # the sockets.target.wants copy does not double it
    assert lst.service == "sshd@.service (sshd.socket)"
    assert lst.location == Location("server/usr/lib/systemd/system/sshd.socket", 7, 14)
    assert lst.run_as.user == "root"  # a system service without User= runs as root
    assert lst.run_as.location is None


def test_socket_without_service_file_has_unknown_user(server: dict[str, list[Listener]]) -> None:
    (lst,) = server["cockpit.socket"]
    assert lst.service == "cockpit.service (cockpit.socket)"
    assert lst.ports == PortRange(9090, 9090)
    assert lst.run_as.user is None
    assert lst.evidence == ()


def test_dynamic_user(server: dict[str, list[Listener]]) -> None:
    found = server["dns-cache.socket"]
    assert [(lst.protocol, lst.address, lst.ports.start) for lst in found] == [
        ("udp", BindAddress("127.0.0.53", "ipv4"), 53),
        ("tcp", BindAddress("127.0.0.53", "ipv4"), 53),
    ]
    run_as = found[0].run_as
    assert run_as.user == "dynamic user"
    assert run_as.is_root is False
    assert run_as.no_new_privileges
    assert run_as.location == Location("server/etc/systemd/system/dns-cache.service", 5, 13)


def test_private_users_and_capability_sets(server: dict[str, list[Listener]]) -> None:
    (lst,) = server["gitdaemon.socket"]
    assert lst.run_as.user == "git"
    assert lst.run_as.private_users
    assert lst.run_as.ambient == frozenset({"NET_BIND_SERVICE"})
    assert lst.run_as.bounding == frozenset({"NET_BIND_SERVICE"})  # second line removes SETUID
    assert lst.run_as.capability_location == Location("server/etc/systemd/system/gitdaemon.service", 7, 21)


def test_non_ports_in_the_server_tree_are_skipped(server: dict[str, list[Listener]]) -> None:
    assert "journal-upload.socket" not in server


def test_user_unit_is_bound_by_the_user_manager() -> None:
    facts = scan_tree(FIXTURES / "home")
    found = listeners(facts)
    assert [(lst.ports.start, lst.address) for lst in found] == [
        (8000, BindAddress("127.0.0.1", "ipv4")),
        (80, BindAddress(None, "dual")),
    ]
    for lst in found:
        assert lst.bound_by == "systemd-user"
        assert lst.run_as.user == "systemd user manager"
        assert lst.service == "devserver.service (devserver.socket)"


def test_jinja_template_unit() -> None:
    facts = scan_tree(FIXTURES / "roles")
    assert not only(facts, ParseError)  # {% %} lines, {# #} blocks and a bare {{ }} line are tolerated
    unresolved = only(facts, Unresolved)
    assert [(u.value, u.location.line) for u in unresolved] == [
        ("0.0.0.0:{{ app_port }}", 7),
        ("{{ app_port }}", 9),
    ]
    (lst,) = listeners(facts)
    assert lst.location == Location("roles/app/templates/app.socket.j2", 15, 14)
    assert lst.address == BindAddress("127.0.0.1", "ipv4") and lst.ports == PortRange(9464, 9464)
    assert lst.service == "app.service (app.socket)"
    assert lst.run_as.user is None  # User={{ app_user }}: unknown, never guessed


def test_jinja_in_a_unit_file_without_j2_suffix_is_tolerated() -> None:
    """Ansible's template module renders any file name; systemd's own *.in files use Jinja too."""
    service = (
        "[Service]\nExecStart=/usr/bin/app\n{{SERVICE_WATCHDOG}}\n\n"
        "{# keep these policies in sync with\n # the other unit #}\nUser=app\n"
    )
    facts = socket("[Socket]\nListenStream=8080\n", **{"app.service": service})
    assert not only(facts, ParseError)
    assert listeners(facts)[0].run_as.location == Location(f"{ETC}/app.service", 7, 6)


def test_system_service_without_user_runs_as_root_and_capabilities_invert() -> None:
    facts = socket(
        "[Socket]\nListenStream=8080\n",
        **{"app.service": "[Service]\nAmbientCapabilities=~CAP_SYS_ADMIN\nCapabilityBoundingSet=~\n"},
    )
    (lst,) = listeners(facts)
    assert lst.run_as.user == "root"
    assert lst.run_as.ambient == frozenset(ALL_CAPABILITIES) - {"SYS_ADMIN"}
    assert lst.run_as.bounding == frozenset({"ALL"})


def test_empty_assignment_resets_capabilities_and_user() -> None:
    service = "[Service]\nUser=web\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"
    facts = socket(
        "[Socket]\nListenStream=80\n",
        **{"app.service": service, "app.service.d/reset.conf": "[Service]\nUser=\nAmbientCapabilities=\n"},
    )
    (lst,) = listeners(facts)
    assert lst.run_as.user == "root"
    assert lst.run_as.ambient == frozenset()


def test_user_in_socket_section_is_not_the_service_user() -> None:
    facts = socket("[Socket]\nListenStream=80\nUser=sockowner\n", **{"app.service": "[Service]\nUser=web\n"})
    assert listeners(facts)[0].run_as.user == "web"


def test_dropins_apply_in_basename_order_and_etc_masks_usr_lib() -> None:
    facts = scan(
        {
            "usr/lib/systemd/system/app.socket": "[Socket]\nListenStream=80\n",
            "usr/lib/systemd/system/app.service": "[Service]\nUser=a\n",
            "usr/lib/systemd/system/app.service.d/30-c.conf": "[Service]\nUser=c\n",
            "etc/systemd/system/app.service.d/20-b.conf": "[Service]\nUser=b\n",
            "etc/systemd/system/app.service.d/30-c.conf": "[Service]\nUser=etc-c\n",
            "etc/systemd/system/app.service.d/10-a.conf": "[Service]\nUser=x\n",
        }
    )
    assert listeners(facts)[0].run_as.user == "etc-c"


def test_template_dropin_applies_to_accepted_connections() -> None:
    facts = scan(
        {
            f"{ETC}/echo.socket": "[Socket]\nListenStream=7\nAccept=yes\n",
            f"{ETC}/echo@.service": "[Service]\nExecStart=/usr/bin/cat\n",
            f"{ETC}/echo@.service.d/user.conf": "[Service]\nUser=echo\n",
        }
    )
    (lst,) = listeners(facts)
    assert lst.service == "echo@.service (echo.socket)"
    assert lst.run_as.user == "echo"


def test_dropin_without_main_file_is_still_used() -> None:
    facts = scan({f"{ETC}/extra.socket.d/listen.conf": "[Socket]\nListenStream=8125\n"})
    (lst,) = listeners(facts)
    assert lst.service == "extra.service (extra.socket)"
    assert lst.run_as.user is None


def test_prefix_and_type_wide_dropins() -> None:
    facts = scan(
        {
            f"{ETC}/app-web.socket": "[Socket]\nListenStream=8080\n",
            f"{ETC}/app-.socket.d/10-bind.conf": "[Socket]\nBindIPv6Only=ipv6-only\n",
            f"{ETC}/socket.d/20-extra.conf": "[Socket]\nListenStream=9000\n",
        }
    )
    assert [(lst.ports.start, lst.address.family) for lst in listeners(facts)] == [
        (8080, "ipv6"),
        (9000, "ipv6"),
    ]


def test_empty_main_file_masks_the_unit() -> None:
    facts = scan(
        {
            "usr/lib/systemd/system/cockpit.socket": "[Socket]\nListenStream=9090\n",
            "etc/systemd/system/cockpit.socket": "",
        }
    )
    assert not listeners(facts)


def test_accept_with_service_or_datagram_is_refused() -> None:
    facts = socket("[Socket]\nListenStream=80\nAccept=yes\nService=web.service\n")
    assert not listeners(facts)
    assert "refuses" in only(facts, ParseError)[0].message
    facts = socket("[Socket]\nListenDatagram=69\nAccept=yes\n")
    assert not listeners(facts)
    assert "cannot accept" in only(facts, ParseError)[0].message


def test_user_and_system_units_do_not_pair_across_managers() -> None:
    facts = scan(
        {
            "home/bob/.config/systemd/user/app.socket": "[Socket]\nListenStream=8080\n",
            f"{ETC}/app.service": "[Service]\nUser=root\n",
        }
    )
    (lst,) = listeners(facts)
    assert lst.bound_by == "systemd-user" and lst.evidence == ()


def test_assemble_passes_other_facts_through() -> None:
    other = ParseError("unreadable", Location("x"))
    facts = systemd.assemble([other, *systemd.read(Source(f"{ETC}/a.socket", "[Socket]\nListenStream=1\n"))])
    assert facts[0] is other
    assert [type(f) for f in facts] == [ParseError, Listener]


def test_service_units_alone_yield_nothing() -> None:
    assert scan({f"{ETC}/web.service": "[Service]\nUser=web\nExecStart=/bin/web --port 80\n"}) == []


def test_jinja_statement_inside_a_continued_exec_start_keeps_the_continuation() -> None:
    """An ``{% if %}`` line between continued ExecStart= lines vanishes when Ansible renders the unit."""
    service = (
        "[Service]\n"
        "User=prometheus\n"
        "ExecStart=/usr/local/bin/node_exporter \\\n"
        "{% if node_exporter_textfile_dir %}\n"
        "    --collector.textfile.directory={{ node_exporter_textfile_dir }} \\\n"
        "{% endif %}\n"
        "    --web.listen-address=:9100\n"
        "Restart=always\n"
    )
    facts = scan({"roles/ne/templates/node_exporter.service.j2": service})
    assert not only(facts, ParseError)
    (lst,) = listeners(facts)
    assert lst.ports == PortRange(9100, 9100) and lst.run_as.user == "prometheus"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\u0668\u0660", "'\u0668\u0660' is neither a port nor an address with a port"),  # not 80
        ("\u00b20000", "'\u00b20000' is neither a port nor an address with a port"),
        ("127.0.0.1:\u0668\u0660", "'\u0668\u0660' is not a port number"),
        ("9" * 5000, f"port {'9' * 40}... is outside 1-65535"),
        ("0x" + "f" * 5000, "is outside 1-65535"),  # hex and octal are bounded before int() too
        ("0" + "7" * 5000, "is outside 1-65535"),
        ("0b" + "1" * 5000, "is outside 1-65535"),
    ],
    ids=[
        "arabic-indic",
        "superscript",
        "address-arabic-indic",
        "huge",
        "huge-hex",
        "huge-octal",
        "huge-binary",
    ],
)
def test_numbers_are_ascii_and_bounded(value: str, reason: str) -> None:
    facts = socket(f"[Socket]\nListenStream={value}\nListenStream=0x1F90\n")
    (bad,) = only(facts, InvalidPort)
    assert reason in bad.reason and len(bad.reason) < 160, bad.reason
    assert [lst.ports.start for lst in listeners(facts)] == [8080]
