"""Replays kernel port-setting writes the way the kernel validates them.

Each write is checked against the values in force at that moment (a range whose start is
below ``ip_unprivileged_port_start`` is refused, and the reverse), exactly as
``net/ipv4/sysctl_net_ipv4.c`` does; a refused write changes nothing. The result marks
every write accepted or not (with the kernel's reason) and gives the final values.
"""

from __future__ import annotations

from dataclasses import replace

from portpolicy.model import KernelSetting, Location, PortRange, PortSet, Setting
from portpolicy.readers.base import TOO_LARGE, ascii_int, shown
from portpolicy.records import record

RANGE = "net.ipv4.ip_local_port_range"
RESERVED = "net.ipv4.ip_local_reserved_ports"
UNPRIV = "net.ipv4.ip_unprivileged_port_start"
PORT_KEYS = (RANGE, RESERVED, UNPRIV)


@record(frozen=False)
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
        start, end = ascii_int(lo.strip()), ascii_int(hi.strip()) if sep else ascii_int(lo.strip())
        if start is None or end is None:
            return f"{shown(token)!r} is not a port or port range"
        if end > 65535:
            return f"{shown((hi if sep else lo).strip())} is above 65535"
        if start > end:
            return f"range {shown(token)} starts after it ends"
        ranges.append(PortRange(start, end))
    return PortSet.of(ranges)


def parse_override(key: str, value: str) -> PortRange | PortSet | int | str:
    """A ``kernel:`` config value (short key) as the setting it stands for, or why it is none.

    The range may be written ``A B`` or ``A-B``; one number is a one-port range.
    """
    full = f"net.ipv4.{key}"
    if full == RESERVED:
        return parse_reserved(value)
    if full == UNPRIV:
        number = ascii_int(value.strip())
        if number is None:
            return f"{shown(value.strip())!r} is not a number"
        return number if number <= 65535 else f"{shown(value.strip())} is above 65535"
    if full != RANGE:
        return f"{shown(key)!r} is no kernel port setting"
    text = value.replace("-", " ")
    if len(text.split()) > 2:
        return f"{shown(value.strip())!r} is not two port numbers"
    parsed = parse_range(text, current_end=0)
    if isinstance(parsed, str):
        return parsed
    start, end = parsed if len(text.split()) > 1 else (parsed[0], parsed[0])
    return PortRange(start, end) if start <= end else f"the range start {start} is above its end {end}"


def apply(state: State, write: KernelSetting) -> KernelSetting:
    """Apply one write to ``state``; return the write annotated with the kernel's verdict."""
    where = Location(write.location.path, write.location.line, write.location.column)
    source = f"{where.path}:{where.line}"
    if write.key == RANGE:
        return _apply_range(state, write, source, where)
    if write.key == RESERVED:
        parsed = parse_reserved(write.value)
        if isinstance(parsed, str):
            return _refused(write, parsed)
        state.reserved = Setting(parsed, source, where)
        return replace(write, accepted=True, ports=parsed)
    if write.key == UNPRIV:
        return _apply_unprivileged(state, write, source, where)
    return write


def parse_range(value: str, current_end: int) -> tuple[int, int] | str:
    """``start [end]`` as written (one number keeps the current end), or why it is no two numbers.

    Only ASCII digits count, and a number too long for the kernel's buffer is too large
    rather than converted.
    """
    tokens = value.split()[:2]
    numbers = [n for token in tokens if (n := ascii_int(token)) is not None]
    if not tokens or len(numbers) != len(tokens):
        return f"{shown(value.strip())!r} is not two port numbers"
    for n, token in zip(numbers, tokens, strict=True):
        if not 1 <= n <= 65535:
            return f"{shown(token)} is outside 1-65535"
    return numbers[0], numbers[1] if len(numbers) > 1 else current_end


def _apply_range(state: State, write: KernelSetting, source: str, where: Location) -> KernelSetting:
    current = state.ephemeral.value
    assert isinstance(current, PortRange)
    parsed = parse_range(write.value, current.end)
    if isinstance(parsed, str):
        return _refused(write, parsed, range_=_written_range(write.value))
    start, end = parsed
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


def _apply_unprivileged(state: State, write: KernelSetting, source: str, where: Location) -> KernelSetting:
    text = write.value.strip()
    value = ascii_int(text)
    if value is None:
        return _refused(write, f"{shown(text)!r} is not a number")
    shown_number = value if value < TOO_LARGE else None
    if value > 65535:
        return _refused(write, f"{shown(text)} is above 65535", number=shown_number)
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


def _written_range(value: str) -> PortRange | None:
    """Two out-of-range numbers as written (for the parity hint), when both are real numbers."""
    numbers = [ascii_int(token) for token in value.split()[:2]]
    if len(numbers) != 2 or None in numbers:
        return None
    start, end = (n for n in numbers if n is not None)
    return PortRange(start, end) if max(start, end) < TOO_LARGE else None


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
        result.append(
            replace(
                w,
                effective=effective,
                dropped=dropped,
                seq=i + 1,
                reserved_union=_keeping(w.ports, dropped),
                same_parity=None if w.range is None else _same_parity(w.range),
                parity_fixed=_parity_fixed(w.range),
            )
        )
    return result


def _keeping(ports: PortSet | None, dropped: PortSet | None) -> PortSet | None:
    """A reserved list plus what its write dropped: the one write that keeps every reservation."""
    if ports is None:
        return None
    return ports.union(dropped) if dropped else ports


def _same_parity(r: PortRange) -> bool:
    return r.start % 2 == r.end % 2


def _parity_fixed(r: PortRange | None) -> PortRange | None:
    """The nearest range whose start and end differ in parity (the kernel prefers it); None if they do."""
    if r is None or not _same_parity(r):
        return None
    return PortRange(r.start, r.end - 1 if r.end > r.start else r.end + 1)
