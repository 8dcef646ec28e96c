"""The kernel replay must refuse exactly what net/ipv4/sysctl_net_ipv4.c refuses, in boot order."""

from __future__ import annotations

from portpolicy import kernel
from portpolicy.model import KernelSetting, Location, PortRange, PortSet, Setting


def state(start: int = 1024, rng: tuple[int, int] = (32768, 60999)) -> kernel.State:
    return kernel.State(
        Setting(PortRange(*rng), "default"), Setting(PortSet(), "default"), Setting(start, "default")
    )


def write(key: str, value: str, line: int = 1) -> KernelSetting:
    return KernelSetting(f"net.ipv4.{key}", value, Location("etc/sysctl.d/90.conf", line, 1))


def test_valid_range_applies_and_parity_is_derived() -> None:
    s = state()
    done = kernel.replay(s, [write("ip_local_port_range", "32768 61000")])
    assert done[0].accepted and done[0].effective
    assert s.ephemeral.value == PortRange(32768, 61000)
    assert done[0].same_parity is True
    assert done[0].parity_fixed == PortRange(32768, 60999)


def test_tabs_and_equal_bounds_are_accepted() -> None:
    done = kernel.replay(state(), [write("ip_local_port_range", "40000\t40000")])
    assert done[0].accepted and done[0].range == PortRange(40000, 40000)


def test_range_refusals() -> None:
    cases = {
        "0 60999": "outside 1-65535",
        "1024 65536": "outside 1-65535",
        "61000 32768": "above its end",
        "abc 60999": "not two port numbers",
        "": "not two port numbers",
        "1000 60999": "below net.ipv4.ip_unprivileged_port_start=1024",
    }
    for value, reason in cases.items():
        s = state()
        done = kernel.replay(s, [write("ip_local_port_range", value)])
        assert not done[0].accepted, value
        assert reason in done[0].reject_reason, (value, done[0].reject_reason)
        assert s.ephemeral.value == PortRange(32768, 60999), "a refused write changes nothing"


def test_single_number_sets_only_the_start() -> None:
    s = state()
    done = kernel.replay(s, [write("ip_local_port_range", "40000")])
    assert done[0].accepted and s.ephemeral.value == PortRange(40000, 60999)


def test_order_matters_range_then_unprivileged_start() -> None:
    s = state()
    done = kernel.replay(
        s, [write("ip_local_port_range", "1024 65535", 1), write("ip_unprivileged_port_start", "2048", 2)]
    )
    assert done[0].accepted
    assert not done[1].accepted and "above the ephemeral range start 1024" in done[1].reject_reason
    assert s.unprivileged.value == 1024


def test_order_matters_unprivileged_start_then_range() -> None:
    s = state()
    done = kernel.replay(
        s, [write("ip_unprivileged_port_start", "2048", 1), write("ip_local_port_range", "1024 65535", 2)]
    )
    assert done[0].accepted and not done[1].accepted
    assert "below net.ipv4.ip_unprivileged_port_start=2048" in done[1].reject_reason


def test_lowering_the_start_first_lets_a_low_range_apply() -> None:
    s = state()
    done = kernel.replay(
        s, [write("ip_unprivileged_port_start", "0"), write("ip_local_port_range", "512 60999", 2)]
    )
    assert all(w.accepted for w in done)
    assert s.ephemeral.value == PortRange(512, 60999) and s.unprivileged.value == 0


def test_unprivileged_start_bounds() -> None:
    for value, ok in (
        ("0", True),
        ("32768", True),
        ("32769", False),
        ("70000", False),
        ("-1", False),
        ("x", False),
    ):
        done = kernel.replay(state(), [write("ip_unprivileged_port_start", value)])
        assert done[0].accepted is ok, value


def test_reserved_ports_parse() -> None:
    assert kernel.parse_reserved("1,2-4,10-10") == PortSet.of([PortRange(1, 4), PortRange(10, 10)])
    assert kernel.parse_reserved(" 8080, 9148 ") == PortSet.of([PortRange(8080, 8080), PortRange(9148, 9148)])
    assert kernel.parse_reserved("") == PortSet()
    assert kernel.parse_reserved("70000") == "70000 is above 65535"
    assert "starts after it ends" in str(kernel.parse_reserved("9000-8000"))
    assert "not a port" in str(kernel.parse_reserved("8080;9000"))


def test_reserved_overwrite_is_tracked_on_the_effective_write() -> None:
    done = kernel.replay(
        state(),
        [
            write("ip_local_reserved_ports", "30000-32767", 1),
            write("ip_local_reserved_ports", "50000", 2),
        ],
    )
    first, last = done
    assert not first.effective and last.effective
    assert last.dropped == PortSet.of([PortRange(30000, 32767)])
    assert str(last.reserved_union) == "30000-32767,50000"
    assert [w.seq for w in done] == [1, 2]


def test_reserved_superset_drops_nothing() -> None:
    done = kernel.replay(
        state(),
        [write("ip_local_reserved_ports", "8080", 1), write("ip_local_reserved_ports", "8080,9000", 2)],
    )
    assert done[1].effective and not done[1].dropped
