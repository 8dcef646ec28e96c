"""Audit a live host: its ``port_facts`` (``portpolicy.live``) become model facts for the same engine.

Used by ``portpolicy live`` (this machine) and the Ansible action ``portpolicy.audit.check``
(any managed host). A live state differs from a config in what it proves:

- a socket that is bound proves the bind was permitted, so no listener here is "without
  privilege" (PP001 cannot fire for it);
- two sockets that are both bound coexist by the kernel's consent (SO_REUSEPORT,
  SO_REUSEADDR, v6-only pairs), so live sockets never take part in conflicts (PP004);
- the sysctl values read are the ones in force, so they are replayed first, as the base
  any config files scanned alongside are applied on (as ``sysctl --system`` or an Ansible
  run would apply them now);
- a port inside the ephemeral range still can be taken by an outgoing connection before
  the next restart (PP002), and a lowered ``ip_unprivileged_port_start`` is still a lowered
  one (PP008).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from portpolicy import engine, hosts, live
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

SOURCE = "live"
NOT_FOR_LIVE_SOCKETS = frozenset({"PP004"})
"""Rules whose verdict a live socket disproves by existing (see the module docstring)."""
ALREADY_BOUND = Privilege(True, True, "it is already bound on the live host: the kernel allowed the bind")
RANK = {"info": 0, "warning": 1, "error": 2}


class FactsError(ValueError):
    """Port facts that are not in the format ``portpolicy.live`` writes."""


def facts_from_live(data: Mapping[str, Any]) -> list[Fact]:
    """Model facts for one host's ``port_facts``: listeners, kernel settings, read errors."""
    if not isinstance(data, Mapping) or data.get("version") != live.FORMAT_VERSION:
        raise FactsError(f"port facts of format version {live.FORMAT_VERSION} expected")
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


def _items(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise FactsError(f"{key!r} must be a list")
    return [v for v in value if isinstance(v, Mapping)]


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
    if unpriv.isdigit() and int(unpriv) <= 32768:
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
    from portpolicy.pipeline import assemble, read_candidate

    config = replace(config or Config(), platform="linux", kernel={}, hosts=())
    rules = engine.select(engine.load_rules(config.rule_directories()), config)
    by_reader: dict[str, list[Fact]] = defaultdict(list)
    files: list[str] = []
    skipped: list[Skipped] = []
    readers: dict[str, str] = {}
    if paths:
        candidates, skipped = discover(list(paths), config)
        for candidate in candidates:
            name, facts, _reason = read_candidate(candidate)
            if name is None:
                continue
            readers[candidate.path] = name
            files.append(candidate.path)
            by_reader[name].extend(facts)
    bucket = hosts.HostBucket(host, "live host", None)
    bucket.facts.extend(assemble(by_reader))
    bucket.facts.extend((SOURCE, f) for f in facts_from_live(data))
    host_list, model = hosts.build([bucket], config)
    model = [
        replace(f, privilege=ALREADY_BOUND) if isinstance(f, Listener) and f.source == SOURCE else f
        for f in model
    ]
    config_only = [f for f in model if not (isinstance(f, Listener) and f.source == SOURCE)]
    findings = engine.evaluate([r for r in rules if r.id not in NOT_FOR_LIVE_SOCKETS], model, config.severity)
    findings += engine.evaluate(
        [r for r in rules if r.id in NOT_FOR_LIVE_SOCKETS], config_only, config.severity
    )
    findings.sort(key=lambda f: (f.location.path, f.location.line, f.location.column, f.rule))
    read = sorted({str(item.get("source")) for item in _items(data, "listeners")} | _sysctl_paths(data))
    return Report(findings, model, host_list, sorted(files) + read, skipped, rules, config, readers)


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
        try:
            with open(args.facts_file, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            print(f"portpolicy: error: cannot read facts from {args.facts_file}: {exc}", file=sys.stderr)
            return 2
        if isinstance(data, dict) and isinstance(data.get("ansible_facts"), dict):
            data = data["ansible_facts"].get("portpolicy_port_facts", data)
    else:
        reason = live.unsupported_reason()
        if reason:
            print(f"portpolicy: error: {reason}", file=sys.stderr)
            return 2
        data = live.gather()
    if args.format == "facts":
        _emit(json.dumps(data, indent=2) + "\n", args.output)
        return 0
    try:
        report = audit(data, args.host or socket.gethostname(), config, args.paths)
    except FactsError as exc:
        print(f"portpolicy: error: {args.facts_file}: {exc}", file=sys.stderr)
        return 2
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


def _emit(text: str, output: str | None) -> None:
    """Standard output or ``-o FILE``, the way ``check`` writes (an unwritable file: exit 2)."""
    from portpolicy import outputs

    outputs.write(text, output)
