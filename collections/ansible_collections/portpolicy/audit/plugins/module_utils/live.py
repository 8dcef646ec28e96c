# Copyright: (c) 2026, portpolicy authors
# Apache License 2.0 (see the portpolicy project's LICENSE)
"""Live port facts of a Linux host, read from ``/proc``: the one implementation.

This file is shipped twice, byte for byte: as ``portpolicy.live`` (used by ``portpolicy
live`` and the Ansible action plugin on the controller) and as the collection's
``plugins/module_utils/live.py`` (used by the ``port_facts`` module on managed hosts).
``tests/test_live.py`` fails when the two drift; after an edit here, copy this file over
the collection's (the test prints the command).

So it uses the standard library only, keeps to Python 3.8 syntax at run time, reads only
the files it needs (``/proc/net/{tcp,tcp6,udp,udp6}``, three sysctls, and for owners
``/proc/<pid>/fd`` links and ``/proc/<pid>/comm``; never ``cmdline``, which can carry
secrets), writes nothing, bounds its work, and turns malformed content into ``errors``
entries instead of exceptions.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import sys
from typing import Literal

FORMAT_VERSION = 1
PROC_NET = ("tcp", "tcp6", "udp", "udp6")
SYSCTLS = (
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
)
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"  # TCP_CLOSE: the state the kernel shows for a UDP socket with no peer
MAX_LINES = 200000  # sockets per /proc/net file
MAX_BYTES = 64 * 1024 * 1024
MAX_PIDS = 65536
MAX_FDS = 1000000  # fd links examined in total while looking for socket owners
MAX_SYSCTL_BYTES = 65536
MAX_DIGITS = 20  # a uid or an inode has at most 20 digits (2**64); longer text is no number


def gather(
    root: str = "/", processes: bool = True, byteorder: Literal["little", "big"] = sys.byteorder
) -> dict[str, object]:
    """Listeners, their owners and the port sysctls of the host whose ``/proc`` is under ``root``.

    ``root`` is for tests (a crafted tree); ``byteorder`` is the kernel's, for decoding
    addresses (``/proc/net`` prints each 32-bit word of an address in host order).
    """
    errors: list[dict[str, object]] = []
    listeners: list[dict[str, object]] = []
    for name in PROC_NET:
        path = os.path.join(root, "proc", "net", name)
        text = _read(path, MAX_BYTES, errors, optional=name.endswith("6"))
        if text is not None:
            listeners.extend(parse_proc_net(text, name, "/proc/net/" + name, errors, byteorder))
    users: dict[int, str | None] = {}
    for item in listeners:
        uid = item["uid"]
        if isinstance(uid, int):
            if uid not in users:
                users[uid] = user_name(uid)
            item["user"] = users[uid]
    scan: dict[str, object] = {"complete": False, "reason": "not asked for"}
    if processes:
        scan = attach_processes(listeners, os.path.join(root, "proc"))
    sysctls: dict[str, str | None] = {}
    for key in SYSCTLS:
        path = os.path.join(root, "proc", "sys", *key.split("."))
        # ip_unprivileged_port_start first appeared in Linux 4.11; before, the limit is a fixed 1024.
        raw = _read(path, MAX_SYSCTL_BYTES, errors, optional=key.endswith("unprivileged_port_start"))
        value = " ".join(raw.split()) if raw is not None else None
        problem = sysctl_problem(key, value) if value is not None else None
        if problem:
            errors.append({"path": _shown(path), "line": 1, "message": problem})
            value = None
        sysctls[key] = value
    return {
        "version": FORMAT_VERSION,
        "listeners": listeners,
        "sysctls": sysctls,
        "process_scan": scan,
        "errors": errors,
    }


def parse_proc_net(
    text: str,
    name: str,
    shown_path: str,
    errors: list[dict[str, object]],
    byteorder: Literal["little", "big"] = sys.byteorder,
) -> list[dict[str, object]]:
    """The listening sockets in one ``/proc/net/{tcp,tcp6,udp,udp6}`` text.

    TCP counts in state LISTEN (0A). UDP counts when it is bound to a port and has no peer
    (state 07, remote address and port zero), which is what ``ss -lu`` shows; a connected
    UDP socket is a client.
    """
    protocol = "udp" if name.startswith("udp") else "tcp"
    found: list[dict[str, object]] = []
    lines = text.split("\n")
    for number, line in enumerate(lines[:MAX_LINES], start=1):
        fields = line.split()
        if not fields or (number == 1 and fields[0] == "sl"):
            continue
        try:
            item = _socket(fields, protocol, byteorder)
        except ValueError as exc:
            errors.append({"path": shown_path, "line": number, "message": str(exc)})
            continue
        if item is not None:
            item["source"] = shown_path
            item["line"] = number
            found.append(item)
    if len(lines) > MAX_LINES:
        errors.append(
            {"path": shown_path, "line": MAX_LINES, "message": "too many lines; the rest was not read"}
        )
    return found


def _socket(
    fields: list[str], protocol: str, byteorder: Literal["little", "big"]
) -> dict[str, object] | None:
    if len(fields) < 10 or not fields[0].endswith(":"):
        raise ValueError("not a socket line (expected at least 10 fields after 'sl:')")
    local, remote, state = fields[1], fields[2], fields[3].upper()
    address, port, family = decode_endpoint(local, byteorder)
    if protocol == "tcp":
        if state != TCP_LISTEN:
            return None
    else:
        peer, peer_port, _peer_family = decode_endpoint(remote, byteorder)
        if state != UDP_UNCONNECTED or peer_port != 0 or not ipaddress.ip_address(peer).is_unspecified:
            return None
    if port == 0:
        return None
    uid, inode = _number(fields[7], "uid"), _number(fields[9], "inode")
    return {
        "protocol": protocol,
        "family": family,
        "address": address,
        "port": port,
        "uid": uid,
        "user": None,
        "inode": inode,
        "pid": None,
        "process": None,
    }


def _number(text: str, what: str) -> int:
    if not is_decimal(text, MAX_DIGITS):
        raise ValueError(f"{what} {text[:40]!r} is not a number")
    return int(text)


def is_decimal(text: str, max_digits: int) -> bool:
    """ASCII digits only, at most ``max_digits`` of them (``isdigit`` alone also takes "²" and "٨")."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def sysctl_problem(key: str, value: str) -> str | None:
    """Why ``value`` is not how the kernel prints ``key`` (one of ``SYSCTLS``), or None.

    The range is two ports, the reserved list ``N`` or ``A-B`` items joined by commas (or
    empty), the unprivileged start one number: ASCII digits, five at most.
    """
    if key.endswith("ip_local_port_range"):
        parts = value.split()
        ok = len(parts) == 2 and all(is_decimal(p, 5) for p in parts)
    elif key.endswith("ip_local_reserved_ports"):
        items = value.split(",") if value else []
        ok = all(is_decimal(b, 5) for item in items for b in item.split("-", 1))
    else:
        ok = is_decimal(value, 5)
    return None if ok else f"{key} = {value[:40]!r} is not in the format the kernel prints"


def decode_endpoint(text: str, byteorder: Literal["little", "big"] = sys.byteorder) -> tuple[str, int, str]:
    """``0100007F:1F90`` -> ("127.0.0.1", 8080, "ipv4"); v4-mapped IPv6 comes back as IPv4."""
    host, sep, port_hex = text.partition(":")
    if (
        not sep
        or len(port_hex) != 4
        or not _is_hex(port_hex)
        or len(host) not in (8, 32)
        or not _is_hex(host)
    ):
        raise ValueError(f"malformed address {text[:60]!r}")
    raw = b"".join(int(host[i : i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(host), 8))
    port = int(port_hex, 16)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw)), port, "ipv4"
    v6 = ipaddress.IPv6Address(raw)
    if v6.ipv4_mapped is not None:
        return str(v6.ipv4_mapped), port, "ipv4"
    return str(v6), port, "ipv6"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def user_name(uid: int) -> str | None:
    """The account name for ``uid``, or None when the host has none (a container's uid)."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError, OverflowError):
        return None


def attach_processes(listeners: list[dict[str, object]], proc: str) -> dict[str, object]:
    """Fill ``pid``/``process`` of each listener whose socket inode a visible process holds.

    Only the owner's (or root's) ``/proc/<pid>/fd`` is readable, so a non-root run finds
    its own processes only; the scan stops when every socket is placed or a bound is hit.
    """
    wanted: dict[int, list[dict[str, object]]] = {}
    for item in listeners:
        inode = item.get("inode")
        if isinstance(inode, int) and inode > 0:
            wanted.setdefault(inode, []).append(item)
    if not wanted:
        return {"complete": True, "reason": "no socket to place"}
    try:
        pids = sorted(int(e) for e in os.listdir(proc) if is_decimal(e, MAX_DIGITS))
    except OSError as exc:
        return {"complete": False, "reason": f"cannot list {proc}: {exc.strerror}"}
    denied = 0
    budget = MAX_FDS
    reason = ""
    for count, pid in enumerate(pids):
        if not wanted:
            break
        if count >= MAX_PIDS or budget <= 0:
            reason = f"stopped after {count} processes and {MAX_FDS - budget} file descriptors"
            break
        fd_dir = os.path.join(proc, str(pid), "fd")
        try:
            entries = os.listdir(fd_dir)
        except OSError:
            denied += 1
            continue
        for entry in entries[:budget]:
            budget -= 1
            try:
                target = os.readlink(os.path.join(fd_dir, entry))
            except OSError:
                continue
            if not (target.startswith("socket:[") and target.endswith("]")):
                continue
            inode_text = target[8:-1]
            if not is_decimal(inode_text, MAX_DIGITS) or int(inode_text) not in wanted:
                continue
            comm = _comm(os.path.join(proc, str(pid), "comm"))
            for item in wanted.pop(int(inode_text)):
                item["pid"], item["process"] = pid, comm
    if wanted and not reason:
        reason = f"no visible process holds {len(wanted)} socket(s)"
        if denied:
            reason += f"; {denied} process(es) could not be inspected (only root sees every process)"
    return {"complete": not wanted, "reason": reason or "every socket placed"}


def _comm(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(64).decode("utf-8", "replace").strip() or None
    except OSError:
        return None


def _read(path: str, limit: int, errors: list[dict[str, object]], optional: bool = False) -> str | None:
    """A /proc file's text (bounded), or None with an ``errors`` entry (none for a missing optional file)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        if not (optional and exc.errno == errno.ENOENT):
            errors.append({"path": _shown(path), "line": 0, "message": f"cannot read: {exc.strerror or exc}"})
        return None
    if len(data) > limit:
        errors.append({"path": _shown(path), "line": 0, "message": f"larger than {limit} bytes; cut there"})
        data = data[:limit]
    return data.decode("ascii", "replace")


def _shown(path: str) -> str:
    index = path.find("/proc/")
    return path[index:] if index >= 0 else path


def unsupported_reason(root: str = "/") -> str | None:
    """Why this host cannot be read (not Linux, no /proc/net), or None."""
    if not sys.platform.startswith("linux"):
        return f"port facts need Linux's /proc/net; this host runs {sys.platform}"
    if not os.path.exists(os.path.join(root, "proc", "net", "tcp")):
        return f"{os.path.join(root, 'proc', 'net', 'tcp')} is missing: is /proc mounted?"
    return None
