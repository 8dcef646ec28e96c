"""The compose reader: every port syntax of the Compose specification, who binds what where."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portpolicy.model import (
    BindAddress,
    ContainerLink,
    Evidence,
    Fact,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    NetnsDecl,
    ParseError,
    PortRange,
    ProgramStart,
    RunAs,
    Unresolved,
    YamlAmbiguity,
)
from portpolicy.readers import compose
from portpolicy.readers.base import Source
from portpolicy.readers.compose import _interpolate
from portpolicy.yamlnodes import compose_documents

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compose"
P = "docker-compose.yml"
ANY = BindAddress()
V4_LOOPBACK = BindAddress("127.0.0.1", "ipv4")
V6_LOOPBACK = BindAddress("::1", "ipv6")
NO_USER = RunAs()


def at(line: int, column: int, path: str = P) -> Location:
    return Location(path, line, column)


def r(start: int, end: int | None = None) -> PortRange:
    return PortRange(start, start if end is None else end)


def read_text(text: str, path: str = P) -> list[Fact]:
    """The facts rules see; the ContainerLink facts for placement are tested in test_placement.

    Every file also gives a ``Pending`` record for ``join`` (tested below), and a service
    running a program of data/apps.yml a ``ProgramStart`` for ``apps.join`` (tested below).
    The image a listener runs and a published port's target are tested in test_imagerefs; the
    user a known image lends a service without ``user:`` (``RunAs.origin``) in test_images.
    """
    return [
        replace(f, image="", forwards_to=None, run_as=_written(f.run_as)) if isinstance(f, Listener) else f
        for f in compose.read(Source(path, text))
        if not isinstance(f, compose.Pending) and f.kind not in ("container_link", "program_start")
    ]


def _written(run_as: RunAs) -> RunAs:
    """The user as the compose file writes it: none where only data/images.yml names one."""
    return replace(run_as, user=None, location=None, origin="") if run_as.origin else run_as


def read_fixture(rel: str) -> tuple[str, list[Fact]]:
    path = f"tests/fixtures/compose/{rel}"
    return path, read_text((FIXTURES / rel).read_text(encoding="utf-8"), path)


def listeners(facts: list[Fact]) -> list[Listener]:
    return [f for f in facts if isinstance(f, Listener)]


def problems(facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if isinstance(f, (InvalidPort, Unresolved, ParseError))]


def published(
    ports: PortRange,
    loc: Location,
    address: BindAddress = ANY,
    protocol: str = "tcp",
    service: str = "web",
) -> Listener:
    """The host side of a published port: the container runtime binds it in the host namespace."""
    return Listener(
        service=service,
        protocol=protocol,
        ports=ports,
        address=address,
        location=loc,
        bound_by="runtime",
        netns="host",
        source=f"services.{service}.ports",
        refuses_repeat=True,
    )


def inside(
    ports: PortRange,
    loc: Location,
    protocol: str = "tcp",
    service: str = "web",
    run_as: RunAs = NO_USER,
    netns: str | None = None,
    key: str = "ports",
    evidence: tuple[Evidence, ...] = (),
) -> Listener:
    """The container side: the service's own process binds it."""
    return Listener(
        service=service,
        protocol=protocol,
        ports=ports,
        address=ANY,
        location=loc,
        run_as=run_as,
        bound_by="process",
        netns=netns or f"container:{service}",
        source=f"services.{service}.{key}",
        evidence=evidence,
    )


def one_port(entry: str) -> str:
    """A one-service file whose single ``ports`` entry sits at line 5, column 9."""
    return f"services:\n  web:\n    image: nginx\n    ports:\n      - {entry}\n"


# -- short syntax: every example of the Compose specification -------------------------------

L5 = at(5, 9)

SHORT_SYNTAX = [
    # Only the container port: the runtime picks an ephemeral host port by design.
    ('"3000"', [inside(r(3000), L5)]),
    ('"3000-3005"', [inside(r(3000, 3005), L5)]),
    ('"8000:8000"', [published(r(8000), L5), inside(r(8000), L5)]),
    ('"9090-9091:8080-8081"', [published(r(9090, 9091), L5), inside(r(8080, 8081), L5)]),
    ('"49100:22"', [published(r(49100), L5), inside(r(22), L5)]),
    # A host range for one container port: any free host port of the range.
    ('"8000-9000:80"', [inside(r(80), L5)]),
    ('"127.0.0.1:8001:8001"', [published(r(8001), L5, V4_LOOPBACK), inside(r(8001), L5)]),
    (
        '"127.0.0.1:5000-5010:5000-5010"',
        [published(r(5000, 5010), L5, V4_LOOPBACK), inside(r(5000, 5010), L5)],
    ),
    ('"::1:6000:6000"', [published(r(6000), L5, V6_LOOPBACK), inside(r(6000), L5)]),
    ('"[::1]:6001:6001"', [published(r(6001), L5, V6_LOOPBACK), inside(r(6001), L5)]),
    ('"6060:6060/udp"', [published(r(6060), L5, protocol="udp"), inside(r(6060), L5, "udp")]),
]


@pytest.mark.parametrize(("entry", "expected"), SHORT_SYNTAX, ids=[e for e, _ in SHORT_SYNTAX])
def test_short_syntax_examples_of_the_spec(entry: str, expected: list[Listener]) -> None:
    facts = read_text(one_port(entry))
    assert facts == [NetnsDecl("container:web", "container", at(2, 3)), *expected]


MORE_SHORT_SYNTAX = [
    # Unquoted: Docker reads YAML 1.2, so 22:22 is the string "22:22", not base-60 1342
    # (which YAML 1.1 loaders read: noted for PP020).
    (
        "22:22",
        [
            YamlAmbiguity("22:22", "1342", L5, "services.web.ports"),
            published(r(22), L5),
            inside(r(22), L5),
        ],
    ),
    ("8080", [inside(r(8080), L5)]),
    # YAML 1.2 hexadecimal integer, as Compose's parser reads it.
    ("0x50", [inside(r(80), L5)]),
    # An IP with an automatic host port.
    ('"127.0.0.1::80"', [inside(r(80), L5)]),
    ('"0.0.0.0:80:80"', [published(r(80), L5, BindAddress(None, "ipv4")), inside(r(80), L5)]),
    ('"[::]:80:80"', [published(r(80), L5, BindAddress(None, "ipv6")), inside(r(80), L5)]),
    (
        '"2001:db8::10:443:8443"',
        [published(r(443), L5, BindAddress("2001:db8::10", "ipv6")), inside(r(8443), L5)],
    ),
    ('"5000:5000/SCTP"', [published(r(5000), L5, protocol="sctp"), inside(r(5000), L5, "sctp")]),
    ('"53:53/udp"', [published(r(53), L5, protocol="udp"), inside(r(53), L5, "udp")]),
    # Port 0 means automatic: no listener, no invalid port.
    ('"0"', []),
    ('"0:80"', [inside(r(80), L5)]),
    ('"8080:0"', []),
]


@pytest.mark.parametrize(("entry", "expected"), MORE_SHORT_SYNTAX, ids=[e for e, _ in MORE_SHORT_SYNTAX])
def test_more_short_syntax(entry: str, expected: list[Listener]) -> None:
    facts = read_text(one_port(entry))
    assert facts == [NetnsDecl("container:web", "container", at(2, 3)), *expected]


# -- invalid ports -------------------------------------------------------------------------------

INVALID = [
    (
        '"70000:80"',
        InvalidPort(
            "70000:80",
            "port mapping '70000:80': host port: port 70000 is outside 1-65535",
            L5,
            "port mapping '70000:80': host port",
        ),
    ),
    (
        '"8080:70000"',
        InvalidPort(
            "8080:70000",
            "port mapping '8080:70000': container port: port 70000 is outside 1-65535",
            L5,
            "port mapping '8080:70000': container port",
        ),
    ),
    (
        '"abc"',
        InvalidPort(
            "abc",
            "port mapping 'abc': container port: 'abc' is not a port number",
            L5,
            "port mapping 'abc': container port",
        ),
    ),
    (
        '"9000-8000:80"',
        InvalidPort(
            "9000-8000:80",
            "port mapping '9000-8000:80': host port: range 9000-8000 starts after it ends",
            L5,
            "port mapping '9000-8000:80': host port",
        ),
    ),
    (
        '"9090-9092:8080-8081"',
        InvalidPort(
            "9090-9092:8080-8081",
            "port mapping '9090-9092:8080-8081': host range 9090-9092 and container range 8080-8081"
            " differ in length",
            L5,
            "port mapping '9090-9092:8080-8081'",
        ),
    ),
    (
        '"8080:80/icmp"',
        InvalidPort(
            "8080:80/icmp", "port mapping '8080:80/icmp': unknown protocol 'icmp' (tcp, udp or sctp)", L5
        ),
    ),
    ('"1.2.3:80:80"', InvalidPort("1.2.3:80:80", "port mapping '1.2.3:80:80': '1.2.3' is no IP address", L5)),
    ('"8080:"', InvalidPort("8080:", "port mapping '8080:': no container port", L5)),
    (
        '"127.0.0.1:3001"',
        InvalidPort(
            "127.0.0.1:3001",
            "port mapping '127.0.0.1:3001': host port: '127.0.0.1' is not a port number"
            " (an IP needs IP:HOST:CONTAINER, e.g. '127.0.0.1::3001')",
            L5,
            "port mapping '127.0.0.1:3001': host port",
        ),
    ),
    ("[80, 80]", InvalidPort("", "ports: an entry must be a port string, a number or a mapping", L5)),
    ("null", InvalidPort("", "ports: an entry must be a port string, a number or a mapping", L5)),
    ("", InvalidPort("", "ports: an entry must be a port string, a number or a mapping", at(5, 8))),
]


@pytest.mark.parametrize(("entry", "expected"), INVALID, ids=[e for e, _ in INVALID])
def test_invalid_ports_give_invalid_port_and_no_listener(entry: str, expected: InvalidPort) -> None:
    facts = read_text(one_port(entry))
    assert facts == [NetnsDecl("container:web", "container", at(2, 3)), expected]


def test_invalid_long_syntax_and_expose() -> None:
    text = """\
services:
  web:
    image: nginx
    ports:
      - target: 70000
        published: 8080
      - target: 80
        published: abc
      - target: 81
        protocol: icmp
      - target: 82
        host_ip: localhost
        published: 8082
      - published: 8083
      - target: 84-85
    expose:
      - abc
      - 80/icmp
      - "70000"
"""
    facts = read_text(text)
    assert problems(facts) == [
        InvalidPort(
            "70000",
            "port target '70000': port 70000 is outside 1-65535",
            at(5, 17),
            "port target '70000'",
        ),
        InvalidPort(
            "abc",
            "published port 'abc': host port: 'abc' is not a port number",
            at(8, 20),
            "published port 'abc': host port",
        ),
        InvalidPort("icmp", "port protocol 'icmp' is not tcp, udp or sctp", at(10, 19)),
        InvalidPort("localhost", "port host_ip 'localhost' is no IP address", at(12, 18)),
        InvalidPort("", "long-syntax port without a 'target' container port", at(14, 9)),
        InvalidPort(
            "84-85",
            "port target '84-85': the target must be one port, not a range",
            at(15, 17),
            "port target '84-85'",
        ),
        InvalidPort("abc", "exposed port 'abc': 'abc' is not a port number", at(17, 9), "exposed port 'abc'"),
        InvalidPort(
            "80/icmp",
            "exposed port '80/icmp': unknown protocol 'icmp' (tcp, udp or sctp)",
            at(18, 9),
            "exposed port '80/icmp'",
        ),
        InvalidPort(
            "70000",
            "exposed port '70000': port 70000 is outside 1-65535",
            at(19, 9),
            "exposed port '70000'",
        ),
    ]
    assert listeners(facts) == []


# -- long syntax, expose, zero -------------------------------------------------------------------


def test_long_syntax() -> None:
    text = """\
services:
  web:
    image: nginx
    ports:
      - name: web
        target: 80
        host_ip: 127.0.0.1
        published: "8080"
        protocol: tcp
        app_protocol: http
        mode: host
      - name: web-secured
        target: 443
        host_ip: "::1"
        published: 8443
      - target: 53
        protocol: udp
        published: "5300-5301"
      - target: 9000
        published: 0
      - target: 0
        published: 9001
      - target: "8125"
        protocol: UDP
        published: "${STATSD_PORT:-8125}"
"""
    assert listeners(read_text(text)) == [
        published(r(8080), at(8, 20), V4_LOOPBACK),
        inside(r(80), at(6, 17)),
        published(r(8443), at(15, 20), V6_LOOPBACK),
        inside(r(443), at(13, 17)),
        # A published range for one target: any free port of the range, the runtime's choice.
        inside(r(53), at(16, 17), "udp"),
        # Published 0: automatic.
        inside(r(9000), at(19, 17)),
        published(r(8125), at(25, 20), protocol="udp"),
        inside(r(8125), at(23, 17), "udp"),
    ]


def test_expose_gives_container_side_listeners_only() -> None:
    text = """\
services:
  api:
    image: node:22
    user: node
    expose:
      - "3000"
      - 8000
      - "8080-8085/tcp"
      - "5353/udp"
      - 0
"""
    run_as = RunAs(user="node", location=at(4, 11))
    assert listeners(read_text(text)) == [
        inside(r(3000), at(6, 9), service="api", run_as=run_as, key="expose"),
        inside(r(8000), at(7, 9), service="api", run_as=run_as, key="expose"),
        inside(r(8080, 8085), at(8, 9), service="api", run_as=run_as, key="expose"),
        inside(r(5353), at(9, 9), "udp", service="api", run_as=run_as, key="expose"),
    ]


def test_one_container_port_declared_twice_is_one_socket() -> None:
    """``ports`` and ``expose`` naming the same container port describe one socket, not a conflict."""
    text = """\
services:
  web:
    image: nginx
    ports:
      - "80:80"
      - "127.0.0.1:8080:80"
      - "8000-8010:8000-8010"
    expose:
      - "80"
      - "8005-8020"
"""
    assert listeners(read_text(text)) == [
        published(r(80), at(5, 9)),
        inside(r(80), at(5, 9)),
        published(r(8080), at(6, 9), V4_LOOPBACK),
        published(r(8000, 8010), at(7, 9)),
        inside(r(8000, 8010), at(7, 9)),
        inside(r(8011, 8020), at(10, 9), key="expose"),
    ]


# -- interpolation ---------------------------------------------------------------------------------


INTERPOLATED = [
    ('"${WEB_PORT:-8080}:80"', [published(r(8080), L5), inside(r(80), L5)]),
    ('"${WEB_PORT-8080}:80"', [published(r(8080), L5), inside(r(80), L5)]),
    ('"${WEB_PORT:-${FALLBACK:-8081}}:80"', [published(r(8081), L5), inside(r(80), L5)]),
    ('"${BIND:-127.0.0.1}:8080:80"', [published(r(8080), L5, V4_LOOPBACK), inside(r(80), L5)]),
    ("${PORT:-8443}:443", [published(r(8443), L5), inside(r(443), L5)]),
]


@pytest.mark.parametrize(("entry", "expected"), INTERPOLATED, ids=[e for e, _ in INTERPOLATED])
def test_interpolation_takes_the_default(entry: str, expected: list[Listener]) -> None:
    facts = read_text(one_port(entry))
    assert problems(facts) == []
    assert listeners(facts) == expected


UNKNOWN_HOST = "port mapping: the host side holds a variable without a default"


@pytest.mark.parametrize("entry", ["${WEB_PORT}:80", "$WEB_PORT:80", "${WEB_PORT:+8080}:80"])
def test_unknown_host_port_is_unresolved_but_the_container_port_is_known(entry: str) -> None:
    facts = read_text(one_port(f'"{entry}"'))
    assert problems(facts) == [Unresolved(entry, UNKNOWN_HOST, L5)]
    assert listeners(facts) == [inside(r(80), L5)]


def test_a_required_variable_says_so_with_the_files_own_message() -> None:
    """Compose docs: "${VAR:?error} -> value of VAR if set and non-empty, otherwise exit with error"."""
    entry = "${WEB_PORT:?set WEB_PORT}:80"
    facts = read_text(one_port(f'"{entry}"'))
    why = "port mapping: the host side requires WEB_PORT, which is not set (Compose stops: 'set WEB_PORT')"
    assert problems(facts) == [Unresolved(entry, why, L5)]
    assert listeners(facts) == [inside(r(80), L5)]


def test_unknown_container_port_gives_no_listener() -> None:
    facts = read_text(one_port('"8080:${TARGET_PORT}"'))
    assert problems(facts) == [
        Unresolved(
            "8080:${TARGET_PORT}", "port mapping: the container port holds a variable without a default", L5
        )
    ]
    assert listeners(facts) == []


def test_unknown_long_syntax_and_expose_values() -> None:
    text = """\
services:
  web:
    image: nginx
    ports:
      - target: ${TARGET}
        published: 80
      - target: 81
        protocol: ${PROTO}
      - target: 82
        host_ip: ${BIND_IP}
        published: 8082
    expose:
      - ${METRICS_PORT}
"""
    facts = read_text(text)
    assert problems(facts) == [
        Unresolved("${TARGET}", "port target holds a variable without a default", at(5, 17)),
        Unresolved("${PROTO}", "port protocol holds a variable without a default", at(8, 19)),
        Unresolved("${BIND_IP}", "port host_ip holds a variable without a default", at(10, 18)),
        Unresolved("${METRICS_PORT}", "exposed port holds a variable without a default", at(13, 9)),
    ]
    assert listeners(facts) == [inside(r(82), at(9, 17))]


def test_jinja_in_a_plain_compose_file_is_unresolved() -> None:
    facts = read_text(one_port('"{{ http_port }}:80"'))
    assert problems(facts) == [
        Unresolved("{{ http_port }}:80", "port mapping: the host side is a Jinja template", L5)
    ]
    assert listeners(facts) == [inside(r(80), L5)]


@pytest.mark.parametrize(
    ("text", "value", "problem"),
    [
        ("8080", "8080", None),
        ("a$$b", "a$b", None),
        ("$${NOT_A_VAR}", "${NOT_A_VAR}", None),
        ("$$${PORT:-80}", "$80", None),
        ("${PORT:-80}", "80", None),
        ("${PORT-80}", "80", None),
        ("${PORT:-}", "", None),
        ("${A:-${B:-${C:-7}}}0", "70", None),
        ("cost $5", "cost $5", None),  # a '$' that starts no variable stays as it is
        ("${PORT}", "\x00", None),
        ("$PORT", "\x00", None),
        ("${PORT:?needed}", "\x00", "requires PORT, which is not set (Compose stops: 'needed')"),
        ("${PORT?needed}", "\x00", "requires PORT, which is not set (Compose stops: 'needed')"),
        ("${PORT:?}", "\x00", "requires PORT, which is not set"),
        ("${PORT:+1}", "\x00", None),
        ("${PORT+1}", "\x00", None),
        ("${1}", "\x00", "is an invalid interpolation '${1}'"),
        ("${PORT", "\x00", "is an invalid interpolation ('${' without '}')"),
        ("${PORT:x}", "\x00", "is an invalid interpolation '${PORT:x}'"),
    ],
)
def test_interpolation_rules(text: str, value: str, problem: str | None) -> None:
    assert _interpolate(text) == (value, problem)


# -- who runs it ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ('"1000"', "1000"),
        ("1000", "1000"),
        ('"1000:1000"', "1000:1000"),
        ("app", "app"),
        ("app:app", "app:app"),
        ("root", "root"),
        ('"${UID:-1000}:${GID:-1000}"', "1000:1000"),
        ('"${UID}:${GID}"', None),  # unknown: no verdict
    ],
)
def test_user_is_kept_as_written(user: str, expected: str | None) -> None:
    text = f'services:\n  web:\n    image: nginx\n    user: {user}\n    expose: ["8080"]\n'
    [listener] = listeners(read_text(text))
    assert listener.run_as == RunAs(user=expected, location=at(4, 11))


def test_no_user_means_the_image_decides() -> None:
    [listener] = listeners(read_text('services:\n  web:\n    image: nginx\n    expose: ["80"]\n'))
    assert listener.run_as == RunAs()
    assert listener.run_as.is_root is None


def test_capabilities_privileged_and_no_new_privileges() -> None:
    text = """\
services:
  proxy:
    image: haproxy:3.0
    user: haproxy
    cap_add:
      - CAP_NET_BIND_SERVICE
      - net_admin
    cap_drop: [ALL]
    security_opt:
      - no-new-privileges=true
    expose: ["443"]
  dind:
    image: docker:dind
    privileged: true
    expose: ["2376"]
  legacy:
    image: app
    cap_drop: [cap_chown]
    security_opt: ["no-new-privileges:false", "label:disable"]
    expose: ["80"]
"""
    proxy, dind, legacy = listeners(read_text(text))
    assert proxy.run_as == RunAs(
        user="haproxy",
        location=at(4, 11),
        added=frozenset({"NET_BIND_SERVICE", "NET_ADMIN"}),
        dropped=frozenset({"ALL"}),
        no_new_privileges=True,
        capability_location=at(5, 5),
    )
    assert dind.run_as == RunAs(added=frozenset({"ALL"}), capability_location=at(14, 5))
    assert legacy.run_as == RunAs(dropped=frozenset({"CHOWN"}), capability_location=at(18, 5))


# -- sysctls -------------------------------------------------------------------------------------------


def test_sysctls_list_form() -> None:
    text = """\
services:
  vpn:
    image: linuxserver/wireguard
    cap_add: [NET_ADMIN]
    sysctls:
      - net.ipv4.conf.all.src_valid_mark=1
      - net.ipv4.ip_local_port_range=20000 29999
      - net.ipv4.ip_local_reserved_ports=51820
      - net/ipv4/ip_unprivileged_port_start=${UNPRIVILEGED_START:-443}
      - net.ipv4.ip_local_reserved_ports=${RESERVED}
      - net.core.somaxconn
"""
    facts = read_text(text)
    ns = "container:vpn"
    assert facts == [
        NetnsDecl(ns, "container", at(2, 3)),
        KernelSetting("net.ipv4.ip_local_port_range", "20000 29999", at(7, 9), netns=ns, order=(0, "", 7)),
        KernelSetting("net.ipv4.ip_local_reserved_ports", "51820", at(8, 9), netns=ns, order=(0, "", 8)),
        KernelSetting("net.ipv4.ip_unprivileged_port_start", "443", at(9, 9), netns=ns, order=(0, "", 9)),
        Unresolved(
            "${RESERVED}",
            "sysctl net.ipv4.ip_local_reserved_ports holds a variable without a default",
            at(10, 9),
        ),
    ]


def test_sysctls_map_form_and_not_in_host_networking() -> None:
    text = """\
services:
  app:
    image: app
    sysctls:
      net.ipv4.ip_unprivileged_port_start: 1024
      net.core.somaxconn: 4096
      net.ipv4.ip_local_port_range: "1024 65000"
  edge:
    image: envoy
    network_mode: host
    sysctls:
      net.ipv4.ip_local_port_range: "1024 65000"
"""
    facts = read_text(text)
    ns = "container:app"
    # Docker refuses net.* sysctls in the host's namespace, so the host-network one is no setting.
    assert [f for f in facts if isinstance(f, KernelSetting)] == [
        KernelSetting("net.ipv4.ip_unprivileged_port_start", "1024", at(5, 7), netns=ns, order=(0, "", 5)),
        KernelSetting("net.ipv4.ip_local_port_range", "1024 65000", at(7, 7), netns=ns, order=(0, "", 7)),
    ]


# -- network modes ---------------------------------------------------------------------------------------


def test_monitoring_stack_with_host_networking() -> None:
    path, facts = read_fixture("monitoring/compose.yaml")

    def loc(line: int, col: int) -> Location:
        return at(line, col, path)

    nobody = RunAs(user="nobody", location=loc(27, 11))
    host_mode = (Evidence(loc(25, 19), "network_mode: host: the process binds in the host's namespace"),)
    prom = RunAs(user="65534:65534", location=loc(6, 11))
    assert facts == [
        NetnsDecl("container:prometheus", "container", loc(4, 3)),
        published(r(9090), loc(8, 9), service="prometheus"),
        inside(r(9090), loc(8, 9), service="prometheus", run_as=prom),
        NetnsDecl("container:grafana", "container", loc(12, 3)),
        published(r(3000), loc(16, 20), service="grafana"),
        inside(r(3000), loc(15, 17), service="grafana"),
        # Host networking: no published port, the container port is a host listener of the process.
        inside(r(9100), loc(29, 9), service="node-exporter", run_as=nobody, netns="host", evidence=host_mode),
        inside(
            r(9115),
            loc(39, 9),
            service="blackbox",
            run_as=RunAs(
                user="nobody",
                location=loc(36, 11),
                added=frozenset({"NET_RAW", "NET_BIND_SERVICE"}),
                capability_location=loc(37, 5),
            ),
            netns="host",
            key="expose",
            evidence=(
                Evidence(loc(35, 19), "network_mode: host: the process binds in the host's namespace"),
            ),
        ),
        inside(
            r(25),
            loc(46, 9),
            service="smtp-relay",
            run_as=RunAs(user="100", location=loc(44, 11)),
            netns="host",
            key="expose",
            evidence=(
                Evidence(loc(43, 19), "network_mode: host: the process binds in the host's namespace"),
            ),
        ),
        # service:prometheus joins prometheus' namespace.
        inside(
            r(9080),
            loc(52, 9),
            service="promtail",
            netns="container:prometheus",
            key="expose",
            evidence=(
                Evidence(
                    loc(50, 19),
                    "network_mode: service:prometheus: the process binds in the namespace container:prometheus",
                ),
            ),
        ),
        # network_mode none: a namespace of its own with only loopback, and no listener.
        NetnsDecl("container:backup", "container", loc(54, 3)),
    ]


def test_a_service_running_a_table_program_gives_its_start_for_the_config_join() -> None:
    """grafana/grafana reads grafana.ini: the start ``apps.join`` gives a config file's listeners to.

    It carries the image's default user and the service's namespace; prometheus, with no
    config port in data/apps.yml, gives none.
    """
    path = "tests/fixtures/compose/monitoring/compose.yaml"
    text = (FIXTURES / "monitoring/compose.yaml").read_text(encoding="utf-8")
    starts = [f for f in compose.read(Source(path, text)) if isinstance(f, ProgramStart)]
    origin = "the image's default user (grafana/grafana:11.1.0 runs as 472: data/images.yml)"
    assert starts == [
        ProgramStart(
            program="grafana",
            service="grafana",
            configs=("/etc/grafana/grafana.ini", "/usr/share/grafana/conf/defaults.ini"),
            named=False,
            location=at(13, 12, path),
            run_as=RunAs(user="472", location=at(13, 12, path), origin=origin),
            netns="container:grafana",
            image="grafana/grafana:11.1.0",
        )
    ]


def test_jenkins_controller_and_container_network_mode() -> None:
    path, facts = read_fixture("jenkins/docker-compose.yml")

    def loc(line: int, col: int) -> Location:
        return at(line, col, path)

    jenkins = RunAs(user="jenkins", location=loc(7, 11))
    assert facts == [
        NetnsDecl("container:jenkins", "container", loc(4, 3)),
        published(r(8080), loc(10, 9), service="jenkins"),
        inside(r(8080), loc(10, 9), service="jenkins", run_as=jenkins),
        published(r(50000), loc(11, 9), service="jenkins"),
        inside(r(50000), loc(11, 9), service="jenkins", run_as=jenkins),
        NetnsDecl("container:ssh-agent", "container", loc(15, 3)),
        published(r(2222), loc(18, 9), service="ssh-agent"),
        inside(r(22), loc(18, 9), service="ssh-agent"),
        # container:jenkins names the container_name of the jenkins service: one namespace.
        inside(
            r(2376),
            loc(27, 9),
            service="dind",
            run_as=RunAs(added=frozenset({"ALL"}), capability_location=loc(24, 5)),
            netns="container:jenkins",
            key="expose",
            evidence=(
                Evidence(
                    loc(25, 19),
                    "network_mode: container:jenkins: the process binds in the namespace container:jenkins",
                ),
            ),
        ),
    ]


def test_network_mode_chains_variables_and_none() -> None:
    text = """\
services:
  vpn:
    image: gluetun
    network_mode: host
  torrent:
    image: qbittorrent
    network_mode: service:vpn
    ports:
      - "8080:8080"
    expose: ["6881/udp"]
  elsewhere:
    image: app
    network_mode: container:some-external-container
    expose: ["9000"]
  dynamic:
    image: app
    network_mode: ${NETWORK_MODE}
    ports: ["80:80"]
  defaulted:
    image: app
    network_mode: ${NETWORK_MODE:-host}
    expose: ["81"]
  isolated:
    image: app
    network_mode: none
    expose: ["82"]
  bridged:
    image: app
    network_mode: bridge
    expose: ["83"]
"""
    facts = read_text(text)
    assert [f for f in facts if isinstance(f, NetnsDecl)] == [
        NetnsDecl("container:isolated", "container", at(23, 3)),
        NetnsDecl("container:bridged", "container", at(27, 3)),
    ]
    refused = [f for f in problems(facts) if isinstance(f, InvalidPort)]
    # Docker refuses to create a container that joins another's namespace and publishes ports
    # (the gluetun mistake: publish on the VPN container instead), so torrent has no listener.
    assert [(f.value, f.location) for f in refused] == [("8080", at(9, 9))]
    assert "conflicting options: port publishing and the container type network mode" in refused[0].reason
    assert [f for f in problems(facts) if not isinstance(f, InvalidPort)] == [
        Unresolved("${NETWORK_MODE}", "network_mode holds a variable without a default", at(17, 19))
    ]
    assert [(x.service, x.netns, x.bound_by, x.protocol, x.ports) for x in listeners(facts)] == [
        ("elsewhere", "container:some-external-container", "process", "tcp", r(9000)),
        ("defaulted", "host", "process", "tcp", r(81)),
        ("bridged", "container:bridged", "process", "tcp", r(83)),
    ]


# -- merge keys, anchors, extends, legacy format --------------------------------------------------------


def test_web_app_with_merge_keys_and_extension_fields() -> None:
    path, facts = read_fixture("webapp/docker-compose.yml")

    def loc(line: int, col: int) -> Location:
        return at(line, col, path)

    app = RunAs(
        user="1000:1000",
        location=loc(7, 9),  # merged from x-app-defaults
        dropped=frozenset({"ALL"}),
        no_new_privileges=True,
        capability_location=loc(8, 3),
    )
    assert facts == [
        NetnsDecl("container:nginx", "container", loc(14, 3)),
        published(r(80), loc(17, 9), service="nginx"),
        inside(r(80), loc(17, 9), service="nginx"),
        published(r(443), loc(18, 9), service="nginx"),
        inside(r(443), loc(18, 9), service="nginx"),
        published(r(443), loc(19, 9), protocol="udp", service="nginx"),
        inside(r(443), loc(19, 9), "udp", service="nginx"),
        NetnsDecl("container:app", "container", loc(26, 3)),
        # app joins only the internal backend network: Docker publishes nothing (PP015 reads it)
        replace(published(r(8001), loc(31, 9), V4_LOOPBACK, service="app"), internal_only=True),
        inside(r(8000), loc(31, 9), service="app", run_as=app),  # expose 8000 is the same socket
        NetnsDecl("container:db", "container", loc(38, 3)),
        Unresolved("${DB_PORT}", "published port holds a variable without a default", loc(43, 20)),
        inside(r(5432), loc(42, 17), service="db", run_as=RunAs(user="postgres", location=loc(40, 11))),
        NetnsDecl("container:redis", "container", loc(49, 3)),
        KernelSetting(
            "net.ipv4.ip_local_port_range",
            "40000 60999",
            loc(55, 7),
            netns="container:redis",
            order=(0, "", 55),
        ),
        inside(r(6380), loc(52, 14), service="redis", key="expose"),
    ]


def test_anchored_port_list_and_same_file_extends() -> None:
    text = """\
x-web-ports: &web-ports
  - "8080:80"
services:
  base:
    image: nginx
    user: "101"
    ports: *web-ports
  blue:
    extends: base
    ports:
      - "8081:80"
  green:
    extends:
      service: blue
    user: root
  remote:
    extends:
      file: common.yml
      service: web
    expose: ["9000"]
"""
    facts = read_text(text)
    base_user = RunAs(user="101", location=at(6, 11))
    assert listeners(facts) == [
        published(r(8080), at(2, 5), service="base"),
        inside(r(80), at(2, 5), service="base", run_as=base_user),
        # extends appends the base's ports and inherits its user.
        published(r(8080), at(2, 5), service="blue"),
        inside(r(80), at(2, 5), service="blue", run_as=base_user),
        published(r(8081), at(11, 9), service="blue"),
        published(r(8080), at(2, 5), service="green"),
        inside(r(80), at(2, 5), service="green", run_as=RunAs(user="root", location=at(15, 11))),
        published(r(8081), at(11, 9), service="green"),
        # A base in another file is not seen: only this file's own settings.
        inside(r(9000), at(20, 14), service="remote", key="expose"),
    ]


def test_legacy_version_1_file_without_services_key() -> None:
    text = 'web:\n  image: nginx\n  ports:\n    - "80:80"\nredis:\n  image: redis\n  net: host\n  expose: ["6379"]\n'
    assert listeners(read_text(text)) == [
        published(r(80), at(4, 7)),
        inside(r(80), at(4, 7)),
        inside(
            r(6379),
            at(8, 12),
            service="redis",
            netns="host",
            key="expose",
            evidence=(Evidence(at(7, 8), "network_mode: host: the process binds in the host's namespace"),),
        ),
    ]


# -- templates and malformed files ------------------------------------------------------------------------


def test_jinja_template_of_a_compose_file() -> None:
    path, facts = read_fixture("gitea-role/templates/docker-compose.yml.j2")

    def loc(line: int, col: int) -> Location:
        return at(line, col, path)

    gitea = RunAs(user=None, location=loc(5, 11))  # "{{ gitea_uid }}:{{ gitea_gid }}": unknown
    assert facts == [
        NetnsDecl("container:gitea", "container", loc(3, 3)),
        Unresolved(
            "{{ gitea_unprivileged_port_start }}",
            "sysctl net.ipv4.ip_unprivileged_port_start is a Jinja template",
            loc(17, 44),
        ),
        Unresolved(
            "{{ gitea_http_port }}:3000", "port mapping: the host side is a Jinja template", loc(9, 9)
        ),
        Unresolved("{{ gitea_ssh_port }}:22", "port mapping: the host side is a Jinja template", loc(10, 9)),
        inside(r(3000), loc(9, 9), service="gitea", run_as=gitea),
        inside(r(22), loc(10, 9), service="gitea", run_as=gitea),
        # A line between {% if %} and {% endif %} is read: what a reviewer sees.
        published(r(9102), loc(12, 9), V4_LOOPBACK, service="gitea"),
        inside(r(9102), loc(12, 9), service="gitea", run_as=gitea),
        published(r(8443), loc(14, 9), service="gitea"),
        inside(r(3443), loc(14, 9), service="gitea", run_as=gitea),
    ]


def test_jinja_expression_alone_on_a_line_is_masked() -> None:
    text = "services:\n  web:\n    image: nginx\n    ports:\n{{ extra_ports | to_nice_yaml | indent(6) }}\n      - 80\n"
    assert read_text(text, "docker-compose.yml.j2") == [
        NetnsDecl("container:web", "container", at(2, 3, "docker-compose.yml.j2")),
        inside(r(80), at(6, 9, "docker-compose.yml.j2")),
    ]


def test_malformed_yaml_is_a_parse_error_at_the_right_line() -> None:
    path, facts = read_fixture("broken/docker-compose.yml")
    assert facts == [ParseError("invalid YAML: did not find expected key", at(6, 6, path))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- web\n- db\n", [ParseError("a compose file must be a mapping at the top level", at(1, 1))]),
        ("services: [web, db]\n", [ParseError("'services' must be a mapping of service names", at(1, 11))]),
        ("services:\n  web: nginx\n", [ParseError("service 'web' must be a mapping", at(2, 8))]),
        (
            'services:\n  web:\n    image: nginx\n    ports: "80:80"\n',
            [
                NetnsDecl("container:web", "container", at(2, 3)),
                ParseError("service 'web': 'ports' must be a list", at(4, 12)),
            ],
        ),
        ("", []),
        ("---\n...\n", []),
        ("services:\n", []),
        ("services:\n  override-only:\n", []),
        # No services key and no version-1 services: nothing to read.
        ("version: '3'\nnetworks:\n  default:\n", []),
        ("web:\n  image: nginx\nlabel: x\n", []),
        ("web:\n  foo: 1\n", []),
    ],
)
def test_structural_problems(text: str, expected: list[Fact]) -> None:
    assert read_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "services: {web: {ports: [null, [], {}, {target: x}, {target: 80, published: [1]}, ~]}}",
        "services: {web: {expose: [{a: 1}, null, '80/']}}",
        "services: {web: {network_mode: 'service:web', expose: ['80']}}",
        "services: {a: {network_mode: 'service:b'}, b: {network_mode: 'service:a', expose: [1]}}",
        "services: {a: {extends: b, ports: ['1:1']}, b: {extends: a, ports: ['2:2']}}",
        "services: {a: {extends: {service: [x]}}, b: {extends: [1]}}",
        "services: {web: {user: [1], cap_add: [{x: 1}], sysctls: 5, privileged: {a: b}}}",
        "services: {web: {sysctls: [[], '=', 'net.ipv4.ip_local_port_range'], security_opt: [1]}}",
        "services: {web: {ports: ['${', '$', '${A:-${B', '::::', '[::1', '[::1]:80', ':', '/udp']}}",
        "x: &a {<<: *a}\nservices: {web: {<<: [*a, *a], image: n}}",
        "services: !!map {web: !custom {ports: !reset [], expose: !override ['80']}}",
    ],
)
def test_never_raises_on_odd_input(text: str) -> None:
    facts = read_text(text)
    assert not any(isinstance(f, ParseError) and "reader failed" in f.message for f in facts)


# -- claims and matches -------------------------------------------------------------------------------------


def docs_of(rel: str) -> list[object]:
    return list(compose_documents((FIXTURES / rel).read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("swarm/stack.yml", True),
        ("webapp/docker-compose.yml", True),
        ("monitoring/compose.yaml", True),
        ("jenkins/docker-compose.yml", True),
        ("not-compose/site.yml", False),
        ("not-compose/deployment.yaml", False),
        ("not-compose/github-workflow.yml", False),
    ],
)
def test_claims_fixtures(rel: str, expected: bool) -> None:
    assert compose.claims(compose_documents((FIXTURES / rel).read_text(encoding="utf-8"))) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services:\n  web:\n    image: nginx\n", True),
        ("name: x\nx-common: &c {restart: always}\nservices:\n  a:\n  b:\n    build: .\n", True),
        ("include: [other.yml]\nservices:\n  a:\n    depends_on: [b]\n", True),
        ("services: {}\n", False),
        ("services:\n  a:\n    foo: 1\n", False),
        ("services: [a, b]\n", False),
        ("services:\n  a: nginx\n  b:\n    image: nginx\n", False),
        ("services:\n  web:\n    image: nginx\ntasks: []\n", False),
        ("apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: 80\n", False),
        ("---\napiVersion: v1\nkind: ConfigMap\n---\napiVersion: apps/v1\nkind: Deployment\n", False),
        ("{}\n", False),
        ("- hosts: all\n  tasks: []\n", False),
        ("", False),
    ],
)
def test_claims_inline(text: str, expected: bool) -> None:
    assert compose.claims(compose_documents(text)) is expected


def test_read_yaml_of_a_claimed_stack_file() -> None:
    path = "tests/fixtures/compose/swarm/stack.yml"
    text = (FIXTURES / "swarm/stack.yml").read_text(encoding="utf-8")
    facts = [
        replace(f, image="", forwards_to=None, run_as=_written(f.run_as)) if isinstance(f, Listener) else f
        for f in compose.read_yaml(Source(path, text), compose_documents(text))
        if not isinstance(f, compose.Pending)  # kept for ``join`` (its .env, the files merged with it)
        and not isinstance(f, ProgramStart)  # kept for ``apps.join`` (tested below)
        and not isinstance(f, ContainerLink)  # for ``placement`` (an image a build call may build)
    ]
    assert facts == [
        NetnsDecl("container:traefik", "container", at(8, 3, path)),
        published(r(80), at(12, 20, path), service="traefik"),
        inside(r(80), at(11, 17, path), service="traefik"),
        published(r(443), at(15, 20, path), service="traefik"),
        inside(r(443), at(14, 17, path), service="traefik"),
        NetnsDecl("container:whoami", "container", at(19, 3, path)),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "compose.yaml",
        "compose.yml",
        "compose.override.yaml",
        "compose.override.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
        "docker-compose.override.yml",
        "docker-compose.prod.yml",
        "docker-compose-dev.yaml",
        "deploy/docker-compose.yml",
        "roles/gitea/templates/docker-compose.yml.j2",
        "templates/compose.yaml.j2",
        "templates/docker-compose.j2",
    ],
)
def test_matches_compose_file_names(path: str) -> None:
    assert compose.matches(path)


@pytest.mark.parametrize(
    "path",
    [
        "compose.json",
        "compose.prod.yaml",  # not a default name: left to claims()
        "my-compose.yml",
        "docker-compose.yml.bak",
        "docker-compose.yml/README.md",
        "kustomization.yaml",
        "composer.json",
        "Dockerfile",
        "playbooks/site.yml",
    ],
)
def test_matches_rejects_other_names(path: str) -> None:
    assert not compose.matches(path)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("0x1F90", None),  # YAML 1.2 hex, as Compose reads it: 8080
        ("0x" + "f" * 5000, "is not a port number"),  # too long to be a port: never converted
        ("\u0668\u0660", "'\u0668\u0660' is not a port number"),  # not 80
    ],
    ids=["hex", "huge-hex", "arabic-indic"],
)
def test_long_syntax_target_numbers(target: str, reason: str | None) -> None:
    facts = read_text(f"services:\n  web:\n    image: web\n    ports:\n      - target: {target}\n")
    bad = [f for f in facts if isinstance(f, InvalidPort)]
    if reason is None:
        assert not bad and [ln.ports.start for ln in listeners(facts)] == [8080]
    else:
        assert len(bad) == 1 and reason in bad[0].reason and len(bad[0].reason) < 160, bad
