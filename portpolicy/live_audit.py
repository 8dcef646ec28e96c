"""Audit a live host: its ``port_facts`` (``portpolicy.live``) become model facts for the same engine.

Used by ``portpolicy live`` (this machine) and the Ansible action ``portpolicy.audit.check``
(any managed host). A live state differs from a config in what it proves:

- a socket that is bound proves the bind was permitted, so no listener here is "without
  privilege" (PP001 cannot fire for it);
- two sockets that are both bound coexist by the kernel's consent (SO_REUSEPORT,
  SO_REUSEADDR, v6-only pairs), so live sockets never take part in conflicts (PP004: a rule
  with ``live_sockets: false`` is judged on the config facts alone);
- the sysctl values read are the ones in force, so they are replayed first, as the base
  any config files scanned alongside are applied on (as ``sysctl --system`` or an Ansible
  run would apply them now);
- a port inside the ephemeral range still can be taken by an outgoing connection before
  the next restart (PP002), and a lowered ``ip_unprivileged_port_start`` is still a lowered
  one (PP008).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from portpolicy import engine, hosts, live, safeio
from portpolicy.config import Config
from portpolicy.discover import Skipped, discover
from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    Finding,
    KernelSetting,
    Listener,
    Location,
    ParseError,
    PortRange,
    Privilege,
    RunAs,
)
from portpolicy.pipeline import Report
from portpolicy.readers.base import ascii_int, shown

SOURCE = "live"
ALREADY_BOUND = Privilege(True, True, "it is already bound on the live host: the kernel allowed the bind")
RANK = {"info": 0, "warning": 1, "error": 2}
FACTS_LIMIT = 64 * 1024 * 1024
"""Bytes of a saved facts file: a host with 200,000 sockets writes well under this."""
MAX_DEPTH = 6
"""Nesting of a facts document (host, listeners, entry, value is 3; Ansible adds a wrapper)."""
MAX_TEXT = 4096
"""Characters of any text field: paths, names and messages are shorter."""
_NONE = type(None)
_LISTENER_FIELDS: dict[str, tuple[type, ...]] = {
    "protocol": (str,),
    "port": (int,),
    "family": (str, _NONE),
    "address": (str, _NONE),
    "uid": (int, _NONE),
    "user": (str, _NONE),
    "inode": (int, _NONE),
    "pid": (int, _NONE),
    "process": (str, _NONE),
    "source": (str, _NONE),
    "line": (int, _NONE),
}
_ERROR_FIELDS: dict[str, tuple[type, ...]] = {"path": (str,), "line": (int, _NONE), "message": (str,)}
_SCAN_FIELDS: dict[str, tuple[type, ...]] = {"complete": (bool,), "reason": (str, _NONE)}
_REQUIRED = {"listeners": ("protocol", "port"), "errors": ("path", "message")}
_CHOICES = {"protocol": ("tcp", "udp"), "family": ("ipv4", "ipv6")}


class FactsError(ValueError):
    """Port facts that are not in the format ``portpolicy.live`` writes."""


def check_facts(data: object) -> None:
    """Raise ``FactsError`` naming the first field that ``portpolicy.live`` would never write.

    Saved facts come from anywhere (a file, an Ansible variable): types, ranges and nesting
    are checked before any value is used, so bad input is one clear error, never a traceback.
    """
    if not isinstance(data, Mapping):
        raise FactsError(f"port facts must be a mapping, not {type(data).__name__}")
    if _too_deep(data, MAX_DEPTH):
        raise FactsError(f"nested deeper than port facts ever are ({MAX_DEPTH} levels)")
    version = data.get("version")
    if not _is_a(version, (int,)) or version != live.FORMAT_VERSION:
        raise FactsError(f"port facts of format version {live.FORMAT_VERSION} expected, not {_show(version)}")
    for section in ("listeners", "errors"):
        fields = _LISTENER_FIELDS if section == "listeners" else _ERROR_FIELDS
        for index, entry in enumerate(_section(data, section)):
            _check_entry(entry, fields, _REQUIRED[section], f"{section}[{index}]")
    _check_sysctls(data.get("sysctls"))
    scan = data.get("process_scan")
    if scan is not None:
        if not isinstance(scan, Mapping):
            raise FactsError(f"process_scan must be a mapping, not {type(scan).__name__}")
        _check_entry(scan, _SCAN_FIELDS, (), "process_scan")


def _too_deep(data: object, limit: int) -> bool:
    """True when lists and mappings nest deeper than ``limit`` (a loop, not recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = (
            value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else None
        )
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _section(data: Mapping[str, Any], key: str) -> list[object]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FactsError(f"{key!r} must be a list, not {type(value).__name__}")
    return value


def _check_entry(
    entry: object, fields: Mapping[str, tuple[type, ...]], required: Sequence[str], where: str
) -> None:
    if not isinstance(entry, Mapping):
        raise FactsError(f"{where} must be a mapping, not {type(entry).__name__}")
    for key in required:
        if key not in entry:
            raise FactsError(f"{where} has no {key!r}")
    for key, types in fields.items():
        if key in entry:
            problem = _value_problem(key, entry[key], types)
            if problem:
                raise FactsError(f"{where}.{key}: {problem}")


def _value_problem(key: str, value: object, types: tuple[type, ...]) -> str | None:
    """Why one field's value is not what ``portpolicy.live`` writes, or None."""
    if not _is_a(value, types):
        names = " or ".join("null" if t is _NONE else t.__name__ for t in types)
        return f"must be {names}, not {_show(value)}"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        upper = 65535 if key == "port" else 2**64 - 1
        lower = 1 if key == "port" else 0
        if lower <= value <= upper:
            return None
        return f"{value if value.bit_length() <= 64 else 'a huge number'} is outside {lower}-{upper}"
    assert isinstance(value, str)
    if len(value) > MAX_TEXT:
        return f"text longer than {MAX_TEXT} characters"
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"{_show(value)} is not one of {', '.join(_CHOICES[key])}"
    if key == "address" and value and not _is_ip(value):
        return f"{_show(value)} is not an IP address"
    return None


def _check_sysctls(sysctls: object) -> None:
    if sysctls is None:
        return
    if not isinstance(sysctls, Mapping):
        raise FactsError(f"sysctls must be a mapping, not {type(sysctls).__name__}")
    for key in live.SYSCTLS:
        value = sysctls.get(key)
        if value is None:
            continue
        if not _is_a(value, (str, int)):
            raise FactsError(f"sysctls: {key} must be a string, not {_show(value)}")
        problem = live.sysctl_problem(key, str(value))
        if problem:
            raise FactsError(f"sysctls: {problem}")


def _is_a(value: object, types: tuple[type, ...]) -> bool:
    """``isinstance`` (Ansible hands over subclasses of str and int), but True is no number."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _show(value: object) -> str:
    """A value for an error message, cut short (an attacker chooses it)."""
    if isinstance(value, (list, Mapping)):
        return "a list" if isinstance(value, list) else "a mapping"
    return shown(repr(value))


def facts_from_live(data: Mapping[str, Any]) -> list[Fact]:
    """Model facts for one host's ``port_facts``: listeners, kernel settings, read errors."""
    check_facts(data)
    facts: list[Fact] = []
    seen: set[tuple[str, str, str | None, int]] = set()
    for item in _items(data, "listeners"):
        listener = _listener(item)
        if listener is None:
            continue
        # SO_REUSEPORT groups show one line per socket: one listener is enough for a verdict.
        key = (listener.protocol, listener.address.family, listener.address.host, listener.ports.start)
        if key not in seen:
            seen.add(key)
            facts.append(listener)
    facts.extend(_kernel_settings(data.get("sysctls")))
    for err in _items(data, "errors"):
        line = err.get("line")
        where = Location(str(err.get("path", "/proc")), line if isinstance(line, int) and line > 0 else 1, 1)
        facts.append(ParseError(f"live facts: {err.get('message', 'unreadable')}", where))
    return facts


def _items(data: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    """The entries of a list section (``check_facts`` has made sure they are mappings)."""
    return (v for v in _section(data, key) if isinstance(v, Mapping))


def _listener(item: Mapping[str, Any]) -> Listener | None:
    port, protocol = item.get("port"), item.get("protocol")
    if not isinstance(port, int) or not 0 < port <= 65535 or protocol not in {"tcp", "udp"}:
        return None
    family = str(item.get("family")) if item.get("family") in {"ipv4", "ipv6"} else "dual"
    address = str(item.get("address") or "")
    unspecified = address in {"", "0.0.0.0", "::"}
    uid, user = item.get("uid"), item.get("user")
    name = user if isinstance(user, str) and user else (str(uid) if isinstance(uid, int) else None)
    process, pid = item.get("process"), item.get("pid")
    if isinstance(process, str) and process:
        service = f"{process} (pid {pid})" if isinstance(pid, int) else process
    else:
        service = f"a process of user {name}" if name else "an unknown process"
    line = item.get("line")
    where = Location(
        str(item.get("source") or f"/proc/net/{protocol}"), line if isinstance(line, int) else 1, 1
    )
    return Listener(
        service=service,
        protocol=protocol,
        ports=PortRange.single(port),
        address=BindAddress(None if unspecified else address, family),
        location=where,
        run_as=RunAs(user=name, location=where),
        bound_by="process",
        evidence=(Evidence(where, f"socket inode {item.get('inode')}, owned by uid {uid}"),),
    )


def _kernel_settings(sysctls: object) -> list[KernelSetting]:
    """The live values, in an order in which the kernel accepts each (it accepted them all)."""
    if not isinstance(sysctls, Mapping):
        return []
    values = {k: str(v) for k, v in sysctls.items() if k in live.SYSCTLS and isinstance(v, (str, int))}
    if not values.get("net.ipv4.ip_local_reserved_ports", "x").strip():
        del values["net.ipv4.ip_local_reserved_ports"]  # empty is the default: nothing to point at
    unpriv = values.get("net.ipv4.ip_unprivileged_port_start", "").strip()
    keys = list(live.SYSCTLS)
    # Replayed over Linux defaults (32768-60999, 1024): a start above 32768 must follow the range.
    start = ascii_int(unpriv)
    if start is not None and start <= 32768:
        keys.insert(0, keys.pop(keys.index("net.ipv4.ip_unprivileged_port_start")))
    out = []
    for index, key in enumerate(k for k in keys if k in values):
        where = Location("/proc/sys/" + key.replace(".", "/"), 1, 1)
        out.append(KernelSetting(key, values[key], where, order=(-1, index)))
    return out


def audit(
    data: Mapping[str, Any],
    host: str,
    config: Config | None = None,
    paths: Sequence[str] = (),
) -> Report:
    """Evaluate the selected rules on a host's live facts plus any config files in ``paths``."""
    from portpolicy.pipeline import StageGuard, assemble, build_guarded, evaluate_guarded, read_candidate

    config = replace(
        config or Config(), platform="linux", kernel={}, hosts=(), roots=safeio.scan_roots(paths)
    )
    rules = engine.select(engine.load_rules(config.rule_directories()), config)
    by_reader: dict[str, list[Fact]] = defaultdict(list)
    files: list[str] = []
    skipped: list[Skipped] = []
    readers: dict[str, str] = {}
    if paths:
        candidates, skipped = discover(list(paths), config)
        for candidate in candidates:
            name, facts, *_ = read_candidate(candidate, config.roots)
            if name is None:
                continue
            readers[candidate.path] = name
            files.append(candidate.path)
            by_reader[name].extend(facts)
    guard = StageGuard()
    bucket = hosts.HostBucket(host, "live host", None)
    bucket.facts.extend(assemble(by_reader, guard))
    bucket.facts.extend((SOURCE, f) for f in facts_from_live(data))
    host_list, model = build_guarded([bucket], config, guard)
    model = [
        replace(f, privilege=ALREADY_BOUND) if isinstance(f, Listener) and f.source == SOURCE else f
        for f in model
    ]
    config_only = [f for f in model if not (isinstance(f, Listener) and f.source == SOURCE)]
    model, findings = evaluate_guarded([r for r in rules if r.live_sockets], model, config, guard)
    checked, more = evaluate_guarded([r for r in rules if not r.live_sockets], config_only, config, guard)
    model += checked[len(config_only) :]  # PP000 for a rule that failed on config facts
    findings += more
    findings.sort(key=lambda f: (f.location.path, f.location.line, f.location.column, f.rule))
    read = sorted({str(item.get("source")) for item in _items(data, "listeners")} | _sysctl_paths(data))
    return Report(
        findings,
        model,
        host_list,
        sorted(files) + read,
        skipped,
        rules,
        config,
        readers,
        tracebacks=guard.tracebacks,
    )


def _sysctl_paths(data: Mapping[str, Any]) -> set[str]:
    sysctls = data.get("sysctls")
    if not isinstance(sysctls, Mapping):
        return set()
    return {"/proc/sys/" + k.replace(".", "/") for k, v in sysctls.items() if v is not None}


def failed(findings: Sequence[Finding], fail_on: str) -> bool:
    """True when a finding reaches ``fail_on`` (``never`` never fails)."""
    if fail_on == "never":
        return False
    return any(RANK[f.severity] >= RANK[fail_on] for f in findings)


def run(args: argparse.Namespace, config: Config) -> int:
    """``portpolicy live``: gather (or load) the facts, audit them, print the report."""
    if args.facts_file:
        data = load_facts(args.facts_file)
        if isinstance(data, str):
            print(f"portpolicy: error: {args.facts_file}: {data}", file=sys.stderr)
            return 2
    else:
        reason = live.unsupported_reason()
        if reason:
            print(f"portpolicy: error: {reason}", file=sys.stderr)
            return 2
        data = live.gather()
    try:
        check_facts(data)
    except FactsError as exc:
        print(f"portpolicy: error: {args.facts_file or 'live facts'}: {exc}", file=sys.stderr)
        return 2
    if args.format == "facts":
        _emit(json.dumps(data, indent=2) + "\n", args.output)
        return 0
    report = audit(data, args.host or socket.gethostname(), config, args.paths)
    if args.format == "json":
        from portpolicy.report import json as json_report

        _emit(json_report.render(report), args.output)
    else:
        from portpolicy.report import text

        _emit(text.render(report, verbose=args.verbose), args.output)
    scan = data.get("process_scan") if isinstance(data, dict) else None
    if isinstance(scan, dict) and not scan.get("complete") and args.format == "text":
        print(f"portpolicy: note: owning processes not all known: {scan.get('reason')}", file=sys.stderr)
    return 1 if failed(report.findings, config.fail_on) else 0


def load_facts(path: str) -> Any:
    """The JSON document in a saved facts file (unwrapped from Ansible's output), or why not.

    Only a regular file is read, at most ``FACTS_LIMIT`` bytes; JSON nested too deep for
    the parser is a reason like any other.
    """
    data = safeio.read_bytes(path, limit=FACTS_LIMIT)
    if isinstance(data, safeio.Refusal):
        return f"cannot read facts: {data.reason}"
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return "cannot read facts: not UTF-8 text"
    except ValueError as exc:
        return f"cannot read facts: not JSON ({exc})"
    except RecursionError:
        return "cannot read facts: JSON nested too deeply"
    if isinstance(doc, dict) and isinstance(doc.get("ansible_facts"), dict):
        doc = doc["ansible_facts"].get("portpolicy_port_facts", doc)
    return doc


def _emit(text: str, output: str | None) -> None:
    """Standard output or ``-o FILE``, the way ``check`` writes (an unwritable file: exit 2)."""
    from portpolicy import outputs

    outputs.write(text, output)
