"""Tests for the sysctl.conf / sysctl.d reader: exact keys, values, positions and boot order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from portpolicy.model import Fact, KernelSetting, Location, ParseError, Unresolved
from portpolicy.readers import sysctl
from portpolicy.readers.base import Source
from portpolicy.signatures.sysctl import SIGNATURE

named = SIGNATURE.named

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sysctl"

RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
UNPRIV = "net.ipv4.ip_unprivileged_port_start"


def fixture(rel: str) -> list[Fact]:
    """Read a fixture byte-exact: no newline translation, BOM kept (Path.read_text would drop \\r)."""
    text = (FIXTURES / rel).read_bytes().decode("utf-8")
    return list(sysctl.read(Source(rel, text)))


def parse(text: str, path: str = "etc/sysctl.d/50-test.conf") -> list[Fact]:
    return list(sysctl.read(Source(path, text)))


def settings(facts: list[Fact]) -> list[KernelSetting]:
    return [f for f in facts if isinstance(f, KernelSetting)]


def one(facts: list[Fact]) -> KernelSetting:
    assert len(facts) == 1, facts
    fact = facts[0]
    assert isinstance(fact, KernelSetting), fact
    return fact


# --- matches() ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "sysctl.conf",
        "etc/sysctl.conf",
        "roles/base/templates/sysctl.conf.j2",
        "etc/sysctl.d/99-x.conf",
        "roles/tune/files/sysctl.d/10-ports.conf",
        "usr/lib/sysctl.d/50-default.conf",
        "run/sysctl.d/10-runtime.conf",
        "roles/node_tuning/templates/sysctl.d/50-ports.conf.j2",
        "sysctl.d/60-k8s.conf",
    ],
)
def test_matches_positive(path: str) -> None:
    assert named(path)


@pytest.mark.parametrize(
    "path",
    [
        "sysctl.d/README",
        "etc/sysctl.conf.bak",
        "etc/sysctl.conf.dpkg-old",
        "docs/sysctl.d.md",
        "etc/sysctl.d/99-x.conf.bak",
        "etc/sysctl.d/99-x.conf.j2.orig",
        "etc/sysctl.d/nested/99-x.conf",
        "etc/sysctl.d",
        "etc/sysctl.d/.conf",
        "etc/modprobe.d/blacklist.conf",
        "etc/mysysctl.conf",
        "etc/SYSCTL.CONF",
        "sysctl.d.conf",
    ],
)
def test_matches_negative(path: str) -> None:
    assert not named(path)


def test_name() -> None:
    assert sysctl.NAME == "sysctl"


# --- realistic fixtures ------------------------------------------------------------------


def test_debian_style_file_only_active_port_setting_counts() -> None:
    # Commented-out port settings (lines 18, 21), ";" comments and NFS/sunrpc "port" keys
    # yield nothing; the one active port line does.
    s = one(fixture("etc/sysctl.d/99-sysctl.conf"))
    assert (s.key, s.value) == (UNPRIV, "443")
    assert s.location == Location("etc/sysctl.d/99-sysctl.conf", 34, 37)
    assert s.order == (0, "99-sysctl.conf", 34)
    assert s.file_id == ("99-sysctl.conf", 0)
    assert s.ignore_errors is False
    assert s.netns == "host"


def test_kubernetes_node_reserved_list_and_tabs() -> None:
    facts = fixture("etc/sysctl.d/60-kubernetes-node.conf")
    reserved, port_range = settings(facts)
    assert len(facts) == 2
    assert (reserved.key, reserved.value) == (RESERVED, "10250,10256,30000-32767")
    assert (reserved.location.line, reserved.location.column) == (8, 36)
    # Tabs around "=" are separators; tabs inside the value are kept verbatim.
    assert (port_range.key, port_range.value) == (RANGE, "32768\t60999")
    assert (port_range.location.line, port_range.location.column) == (10, 32)
    assert port_range.order == (0, "60-kubernetes-node.conf", 10)


def test_performance_tuning_keeps_inline_hash_and_dash_prefix() -> None:
    wide, unpriv = settings(fixture("etc/sysctl.d/90-performance-tuning.conf"))
    # sysctl has no inline comments: the text after "#" is part of the value.
    assert (wide.key, wide.value) == (RANGE, "1024 65535   # more source ports")
    assert (wide.location.line, wide.location.column) == (7, 32)
    assert wide.ignore_errors is False
    assert (unpriv.key, unpriv.value, unpriv.ignore_errors) == (UNPRIV, "1024", True)
    assert (unpriv.location.line, unpriv.location.column) == (9, 40)


def test_slash_keys_with_windows_line_endings() -> None:
    rng, reserved = settings(fixture("etc/sysctl.d/10-ports.conf"))
    assert (rng.key, rng.value) == (RANGE, "40000 59999")
    assert (rng.location.line, rng.location.column) == (2, 32)
    assert (reserved.key, reserved.value) == (RESERVED, "49152,49153")
    assert (reserved.location.line, reserved.location.column) == (4, 36)
    assert "\r" not in rng.value + reserved.value


def test_sysctl_conf_orders_last_without_file_id() -> None:
    s = one(fixture("etc/sysctl.conf"))
    assert (s.key, s.value) == (RESERVED, "3306, 5432 ,6379")
    assert s.location == Location("etc/sysctl.conf", 5, 36)
    assert s.order == (1, "", 5)
    assert s.file_id is None


def test_line_without_equals_is_parse_error_and_reading_continues() -> None:
    facts = fixture("etc/sysctl.d/80-broken.conf")
    assert [type(f) for f in facts] == [ParseError, ParseError, KernelSetting]
    first, second, last = facts
    assert isinstance(first, ParseError) and isinstance(second, ParseError)
    assert first.location == Location("etc/sysctl.d/80-broken.conf", 2, 1)
    assert second.location.line == 3
    assert "not an assignment" in second.message
    assert second.message.endswith("'net.ipv4.ip_local_port_range'")  # the key, never its value
    assert isinstance(last, KernelSetting)
    assert (last.key, last.value, last.location.line) == (RESERVED, "9100,9200-9299", 4)


def test_bom_before_a_comment_is_harmless() -> None:
    s = one(fixture("etc/sysctl.d/70-bom-comment.conf"))
    assert (s.key, s.value) == (UNPRIV, "1024")
    assert (s.location.line, s.location.column) == (2, 39)


def test_bom_glued_to_a_port_key_means_the_line_never_applies() -> None:
    # systemd-sysctl and procps do not strip a BOM: the key name starts with it and
    # matches no /proc/sys file, so the write silently does not happen.
    facts = fixture("etc/sysctl.d/71-bom-key.conf")
    assert [type(f) for f in facts] == [ParseError, KernelSetting]
    error, reserved = facts
    assert isinstance(error, ParseError)
    assert error.location == Location("etc/sysctl.d/71-bom-key.conf", 1, 1)
    assert "byte order mark" in error.message and RANGE in error.message
    assert isinstance(reserved, KernelSetting)
    assert (reserved.key, reserved.value, reserved.location.line) == (RESERVED, "8080", 2)


def test_empty_file() -> None:
    assert fixture("etc/sysctl.d/00-empty.conf") == []


def test_distribution_defaults_with_globs_and_exclusions_yield_nothing() -> None:
    # "net.ipv4.conf.*.rp_filter" cannot match a port key; "-net.ipv4.conf.all.rp_filter"
    # without "=" is a glob exclusion (sysctl.d(5)), not a syntax error.
    assert fixture("usr/lib/sysctl.d/50-default.conf") == []


def test_jinja_template_file() -> None:
    path = "roles/node_tuning/templates/sysctl.d/50-ports.conf.j2"
    facts = fixture(path)
    assert [type(f) for f in facts] == [Unresolved, KernelSetting, Unresolved, Unresolved]
    templated_range, fallback, templated_reserved, loop = facts
    assert isinstance(templated_range, Unresolved)
    assert templated_range.value == "{{ node_tuning_port_range }}"
    assert templated_range.location == Location(path, 4, 32)
    # Both branches of {% if %} are read: the reader does not evaluate Jinja.
    assert isinstance(fallback, KernelSetting)
    assert (fallback.key, fallback.value) == (RANGE, "32768 60999")
    assert fallback.location == Location(path, 6, 32)
    assert fallback.order == (0, "50-ports.conf", 6)
    assert fallback.file_id == ("50-ports.conf", 0)
    assert isinstance(templated_reserved, Unresolved)
    assert templated_reserved.value == "{{ node_tuning_reserved | join(',') }}"
    assert templated_reserved.location == Location(path, 8, 36)
    # A loop writing arbitrary keys might write a port key.
    assert isinstance(loop, Unresolved)
    assert loop.location == Location(path, 11, 1)
    assert "{{ key }}" in loop.value


def test_every_fixture_is_matched_by_path() -> None:
    for p in FIXTURES.rglob("*"):
        if p.is_file():
            assert named(p.relative_to(FIXTURES).as_posix()), p


# --- syntax details ----------------------------------------------------------------------


def test_dot_and_slash_keys_normalise_to_dots() -> None:
    facts = parse("net.ipv4.ip_local_port_range = 1 2\nnet/ipv4/ip_local_port_range = 3 4\n")
    assert [(s.key, s.value) for s in settings(facts)] == [(RANGE, "1 2"), (RANGE, "3 4")]


@pytest.mark.parametrize(
    "key",
    [
        "/net/ipv4/ip_local_port_range",  # systemd drops a leading slash
        "net..ipv4.ip_local_port_range",  # repeated separators still name the file
        "net/ipv4//ip_local_port_range",
    ],
)
def test_path_equivalent_key_spellings(key: str) -> None:
    assert one(parse(f"{key} = 1024 65000\n")).key == RANGE


@pytest.mark.parametrize(
    "key",
    [
        # First separator "/": the dot stays a dot -> /proc/sys/net/ipv4.ip_local_port_range.
        "net/ipv4.ip_local_port_range",
        # First separator ".": dots and slashes swap -> same non-existent file.
        "net.ipv4/ip_local_port_range",
    ],
)
def test_mixed_separators_name_another_file(key: str) -> None:
    assert parse(f"{key} = 1024 65000\n") == []


def test_no_spaces_around_equals_and_exact_columns() -> None:
    s = one(parse("net.ipv4.ip_unprivileged_port_start=0\n"))
    assert (s.value, s.location.line, s.location.column) == ("0", 1, 37)


def test_indented_assignment_columns() -> None:
    s = one(parse("\n\t  net.ipv4.ip_local_port_range =   20000 30000  \n"))
    assert s.value == "20000 30000"
    assert (s.location.line, s.location.column) == (2, 37)


def test_first_equals_splits_key_and_value() -> None:
    s = one(parse("net.ipv4.ip_local_reserved_ports = 8080=8081\n"))
    assert s.value == "8080=8081"


def test_empty_value_is_a_write_of_the_empty_string() -> None:
    # Writing "" clears ip_local_reserved_ports; the simulation decides, the reader keeps it.
    s = one(parse("net.ipv4.ip_local_reserved_ports =\n"))
    assert s.value == ""
    assert (s.location.line, s.location.column) == (1, 35)


def test_dash_prefix_sets_ignore_errors() -> None:
    facts = settings(
        parse(
            "-net.ipv4.ip_local_port_range = 30000 40000\n"
            "- net.ipv4.ip_local_reserved_ports = 30080\n"
            "net.ipv4.ip_unprivileged_port_start = 1024\n"
        )
    )
    assert [(s.key, s.ignore_errors) for s in facts] == [(RANGE, True), (RESERVED, True), (UNPRIV, False)]
    assert [s.location.column for s in facts] == [33, 38, 39]


def test_dash_without_equals_is_a_glob_exclusion_not_an_error() -> None:
    assert parse("-net.ipv4.ip_local_port_range\n-net.ipv4.conf.all.rp_filter\n") == []


@pytest.mark.parametrize(
    "line",
    [
        "# net.ipv4.ip_local_port_range = 1024 65535",
        "#net.ipv4.ip_local_port_range=1024 65535",
        "; net.ipv4.ip_local_port_range = 1024 65535",
        "    # net.ipv4.ip_local_port_range = 1024 65535",
        "\t;net.ipv4.ip_unprivileged_port_start = 0",
        "#",
        ";",
        "   ",
        "",
    ],
)
def test_comments_and_blank_lines_yield_nothing(line: str) -> None:
    assert parse(line + "\n") == []


@pytest.mark.parametrize(
    "line",
    [
        "net.ipv4.tcp_fin_timeout = 15",
        "net.ipv4.conf.all.rp_filter = 1",
        "net.ipv4.conf.all.accept_source_route = 0",
        "sunrpc.min_resvport = 665",
        "sunrpc.max_resvport = 1023",
        "fs.nfs.nlm_tcpport = 32803",
        "net.ipv6.ip_local_port_range = 1024 65535",
        "net.ipv4.ip_local_port_ranges = 1024 65535",
        "net.ipv4.ping_group_range = 0 2147483647",
        "net.ipv4.ip_local_port_range.extra = 1",
    ],
)
def test_other_keys_are_ignored(line: str) -> None:
    assert parse(line + "\n") == []


def test_reserved_ports_list_with_ranges_is_kept_verbatim() -> None:
    s = one(parse("net.ipv4.ip_local_reserved_ports = 8080,9000-9100,10250-10250, 49152\n"))
    assert s.value == "8080,9000-9100,10250-10250, 49152"


def test_crlf_and_tabs() -> None:
    text = (
        "# x\r\n"
        "net.ipv4.ip_local_port_range\t=\t1024\t65000\r\n"
        "\r\n"
        "-net/ipv4/ip_unprivileged_port_start=80\r\n"
    )
    facts = settings(parse(text))
    assert [(s.key, s.value, s.location.line, s.location.column) for s in facts] == [
        (RANGE, "1024\t65000", 2, 32),
        (UNPRIV, "80", 4, 38),
    ]
    assert facts[1].ignore_errors is True


def test_repeated_assignment_yields_every_write_in_order() -> None:
    text = "net.ipv4.ip_local_port_range = 1 2\nnet.ipv4.ip_local_port_range = 3 4\n"
    first, second = settings(parse(text))
    assert first.order < second.order
    assert (first.value, second.value) == ("1 2", "3 4")


def test_parse_error_then_more_settings() -> None:
    facts = parse("net.ipv4.ip_local_port_range 1 2\n  oops\nnet.ipv4.ip_local_port_range = 5 6\n")
    assert [type(f) for f in facts] == [ParseError, ParseError, KernelSetting]
    assert facts[1].location == Location("etc/sysctl.d/50-test.conf", 2, 3)
    assert isinstance(facts[2], KernelSetting) and facts[2].value == "5 6"


def test_assignment_without_key_is_a_parse_error() -> None:
    facts = parse("  = 1024\n")
    assert len(facts) == 1 and isinstance(facts[0], ParseError)
    assert facts[0].location == Location("etc/sysctl.d/50-test.conf", 1, 3)


def test_bom_only_affects_the_first_line() -> None:
    assert parse("\ufeff\nnet.ipv4.ip_local_port_range = 1 2\n")[0] == one(
        parse("\nnet.ipv4.ip_local_port_range = 1 2\n")
    )
    assert parse("\ufeffnet.ipv4.tcp_tw_reuse = 1\n") == []


def test_whitespace_only_file() -> None:
    assert parse("\n\n   \n\t\n") == []


# --- templates and globs -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["{{ port_range }}", "${PORT_RANGE}", "1024 {{ high }}", "{% raw %}1 2"])
def test_templated_values_are_unresolved(value: str) -> None:
    facts = parse(f"net.ipv4.ip_local_port_range = {value}\n")
    assert len(facts) == 1 and isinstance(facts[0], Unresolved)
    assert facts[0].value == value
    assert facts[0].location.column == 32
    assert RANGE in facts[0].reason


def test_jinja_blocks_masked_even_without_j2_suffix() -> None:
    text = (
        "{% if wide_range %}\n"
        "net.ipv4.ip_local_port_range = 1024 65535\n"
        "{% endif %}\n"
        "{# comment\n   over two lines #}\n"
        "net.ipv4.ip_local_reserved_ports = {{ reserved }}\n"
    )
    facts = parse(text, "roles/x/templates/sysctl.d/60-x.conf")
    assert [type(f) for f in facts] == [KernelSetting, Unresolved]
    assert facts[0].location.line == 2
    assert facts[1].location == Location("roles/x/templates/sysctl.d/60-x.conf", 6, 36)


@pytest.mark.parametrize(
    "line",
    [
        "{{ ansible_managed | comment }}",  # renders to comment lines
        "{{#values.custom_lines}}{{{values.custom_lines}}}",  # Mustache section
        "${EXTRA_SYSCTL_LINES}",
    ],
)
def test_placeholder_only_lines_are_not_parse_errors(line: str) -> None:
    assert parse(line + "\n", "roles/x/templates/sysctl.conf.j2") == []


@pytest.mark.parametrize(
    "line",
    [
        "{{ item.key }} = {{ item.value }}",
        "net.ipv4.ip_local_{{ which }} = 1024 65535",
        "net/ipv4/{{ k }} = 1",
    ],
)
def test_templated_key_that_may_name_a_port_key(line: str) -> None:
    facts = parse(line + "\n", "templates/sysctl.conf.j2")
    assert len(facts) == 1 and isinstance(facts[0], Unresolved)
    assert facts[0].location.column == 1


@pytest.mark.parametrize(
    "line",
    [
        "net.ipv4.conf.{{ iface }}.rp_filter = 1",
        "net.ipv6.conf.{{ iface }}.accept_ra = 2",
        "kernel.{{ name }} = 1",
    ],
)
def test_templated_key_that_cannot_name_a_port_key(line: str) -> None:
    assert parse(line + "\n", "templates/sysctl.conf.j2") == []


def test_glob_key_that_matches_a_port_key_is_unresolved() -> None:
    facts = parse("net.ipv4.ip_local_* = 1024 65535\n")
    assert len(facts) == 1 and isinstance(facts[0], Unresolved)
    assert RANGE in facts[0].reason and RESERVED in facts[0].reason
    assert facts[0].location.column == 23


@pytest.mark.parametrize("line", ["net.ipv4.conf.*.rp_filter = 2", "net.*.ip_forward = 1", "net.* = 1"])
def test_glob_key_that_cannot_match_a_port_key(line: str) -> None:
    # glob(3) "*" never crosses a "/", so "net.*" only covers /proc/sys/net/<one level>.
    assert parse(line + "\n") == []


# --- order and file_id -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "priority"),
    [
        ("etc/sysctl.d/60-a.conf", 0),
        ("run/sysctl.d/60-a.conf", 1),
        ("usr/local/lib/sysctl.d/60-a.conf", 2),
        ("usr/lib/sysctl.d/60-a.conf", 3),
        ("lib/sysctl.d/60-a.conf", 4),
        ("image/rootfs/usr/lib/sysctl.d/60-a.conf", 3),
        ("roles/tune/files/sysctl.d/60-a.conf", 0),
        ("sysctl.d/60-a.conf", 0),
        ("roles/tune/templates/sysctl.d/60-a.conf.j2", 0),
    ],
)
def test_dropin_file_id_priority(path: str, priority: int) -> None:
    s = one(parse("\n\nnet.ipv4.ip_local_port_range = 1 2\n", path))
    assert s.file_id == ("60-a.conf", priority)
    assert s.order == (0, "60-a.conf", 3)


@pytest.mark.parametrize("path", ["etc/sysctl.conf", "sysctl.conf", "roles/base/templates/sysctl.conf.j2"])
def test_sysctl_conf_order(path: str) -> None:
    s = one(parse("net.ipv4.ip_local_port_range = 1 2\n", path))
    assert s.order == (1, "", 1)
    assert s.file_id is None


@pytest.mark.parametrize(
    "path",
    ["roles/base/files/conf/60-a.conf", "60-a.conf", "cm/kernel/60-a.conf.j2", "sysctl.d.bak/60-a.conf"],
)
def test_a_file_outside_sysctl_d_is_ordered_by_its_name_and_masks_nothing(path: str) -> None:
    """Deployed somewhere we cannot see: boot order by basename, but no id (two roles' files never mask)."""
    s = one(parse("\n\nnet.ipv4.ip_local_port_range = 1 2\n", path))
    assert s.order == (0, "60-a.conf", 3)
    assert s.file_id is None


def test_placement_looks_only_below_the_scanned_root() -> None:
    """A tree scanned as ``usr/lib/sysctl.d`` is the root itself: its files have no directory priority."""
    source = Source("usr/lib/sysctl.d/60-a.conf", "net.ipv4.ip_local_port_range = 1 2\n", "60-a.conf")
    (s,) = settings(list(sysctl.read(source)))
    assert (s.order, s.file_id) == ((0, "60-a.conf", 1), None)
    assert s.location.path == "usr/lib/sysctl.d/60-a.conf"


@pytest.mark.parametrize("path", ["etc/sysctl.d/90-ports.conf.bak", "etc/sysctl.d/90-ports.conf.dpkg-old"])
def test_a_file_sysctl_d_never_loads_sets_nothing(path: str) -> None:
    """Recognised by its content, but systemd-sysctl and procps read only ``*.conf`` there."""
    facts = parse("net.ipv4.ip_unprivileged_port_start = 70000\n", path)
    assert [type(f).__name__ for f in facts] == ["Unresolved"]
    assert isinstance(facts[0], Unresolved) and "never applied" in facts[0].reason


def test_boot_order_across_dirs_then_sysctl_conf() -> None:
    files = {
        "etc/sysctl.conf": "net.ipv4.ip_local_port_range = 5 5\n",
        "usr/lib/sysctl.d/10-vendor.conf": "\nnet.ipv4.ip_local_port_range = 1 1\n",
        "etc/sysctl.d/90-local.conf": "net.ipv4.ip_local_port_range = 4 4\n",
        "run/sysctl.d/50-runtime.conf": "net.ipv4.ip_local_port_range = 3 3\n",
        "etc/sysctl.d/20-site.conf": "net.ipv4.ip_local_port_range = 2 2\n",
    }
    writes = [s for path, text in files.items() for s in settings(parse(text, path))]
    assert [s.value for s in sorted(writes, key=lambda s: s.order)] == ["1 1", "2 2", "3 3", "4 4", "5 5"]


# --- robustness --------------------------------------------------------------------------


def test_never_raises_on_noise() -> None:
    rng = random.Random(1234)
    alphabet = "=-#;./ \t\r\n{}%$*?[]\ufeffabcnet.ipv4.ip_local_port_range0123456789\x00\x0b\u2028"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        for fact in sysctl.read(Source("etc/sysctl.d/99-noise.conf.j2", text)):
            assert fact.location.line >= 1 and fact.location.column >= 1
