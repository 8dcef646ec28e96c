"""Replays kernel port-setting writes the way the kernel validates them.

Each write is checked against the values in force at that moment (a range whose start is
below ``ip_unprivileged_port_start`` is refused, and the reverse), exactly as
``net/ipv4/sysctl_net_ipv4.c`` does; a refused write changes nothing. The result marks
every write accepted or not (with the kernel's reason) and gives the final values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from portpolicy.model import KernelSetting, Location, PortRange, PortSet, Setting

RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
UNPRIV = "net.ipv4.ip_unprivileged_port_start"
PORT_KEYS = (RANGE, RESERVED, UNPRIV)


@dataclass
class State:
    """The values in force in one network namespace while writes are replayed."""

    ephemeral: Setting
    reserved: Setting
    unprivileged: Setting


def parse_reserved(value: str) -> PortSet | str:
    """``1,2-4,10-10`` as the kernel's large-bitmap parser reads it, or the reason it refuses."""
    text = value.strip()
    if not text:
        return PortSet()
    ranges = []
    for token in text.split(","):
        token = token.strip()
        lo, sep, hi = token.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            return f"{token!r} is not a port or port range"
        start, end = int(lo), int(hi) if sep else int(lo)
        if end > 65535:
            return f"{end} is above 65535"
        if start > end:
            return f"range {token} starts after it ends"
        ranges.append(PortRange(start, end))
    return PortSet.of(ranges)


def apply(state: State, write: KernelSetting) -> KernelSetting:
    """Apply one write to ``state``; return the write annotated with the kernel's verdict."""
    where = Location(write.location.path, write.location.line, write.location.column)
    source = f"{where.path}:{where.line}"
    if write.key == RANGE:
        tokens = write.value.split()
        numbers = [int(t) for t in tokens[:2] if t.isdigit()]
        current = state.ephemeral.value
        assert isinstance(current, PortRange)
        if not tokens or len(numbers) != min(len(tokens), 2):
            return _refused(write, f"{write.value!r} is not two port numbers")
        start, end = numbers[0], numbers[1] if len(numbers) > 1 else current.end
        for n in (start, end):
            if not 1 <= n <= 65535:
                return _refused(write, f"{n} is outside 1-65535", range_=PortRange(start, end))
        if start > end:
            return _refused(
                write, f"the range start {start} is above its end {end}", range_=PortRange(start, end)
            )
        unpriv = state.unprivileged.value
        if isinstance(unpriv, int) and start < unpriv:
            return _refused(
                write,
                f"the range start {start} is below net.ipv4.ip_unprivileged_port_start={unpriv} "
                f"({state.unprivileged.source})",
                range_=PortRange(start, end),
            )
        state.ephemeral = Setting(PortRange(start, end), source, where)
        return replace(write, accepted=True, range=PortRange(start, end))
    if write.key == RESERVED:
        parsed = parse_reserved(write.value)
        if isinstance(parsed, str):
            return _refused(write, parsed)
        state.reserved = Setting(parsed, source, where)
        return replace(write, accepted=True, ports=parsed)
    if write.key == UNPRIV:
        text = write.value.strip()
        if not text.isdigit():
            return _refused(write, f"{text!r} is not a number")
        value = int(text)
        if value > 65535:
            return _refused(write, f"{value} is above 65535", number=value)
        current = state.ephemeral.value
        assert isinstance(current, PortRange)
        if value > current.start:
            return _refused(
                write,
                f"{value} is above the ephemeral range start {current.start} ({state.ephemeral.source})",
                number=value,
            )
        state.unprivileged = Setting(value, source, where)
        return replace(write, accepted=True, number=value)
    return write


def _refused(
    write: KernelSetting, reason: str, range_: PortRange | None = None, number: int | None = None
) -> KernelSetting:
    return replace(write, accepted=False, reject_reason=reason, range=range_, number=number)


def replay(state: State, writes: list[KernelSetting]) -> list[KernelSetting]:
    """Apply writes in boot order; number them (``seq``) and mark the last accepted write of each key."""
    done = [apply(state, w) for w in writes]
    last: dict[str, int] = {}
    for i, w in enumerate(done):
        if w.accepted:
            last[w.key] = i
    earlier_reserved = PortSet()
    result = []
    for i, w in enumerate(done):
        effective = last.get(w.key) == i
        dropped = None
        if w.key == RESERVED and w.accepted and w.ports is not None:
            if effective:
                dropped = earlier_reserved.minus(w.ports)
            earlier_reserved = earlier_reserved.union(w.ports)
        result.append(replace(w, effective=effective, dropped=dropped, seq=i + 1))
    return result
