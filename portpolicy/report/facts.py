"""``portpolicy facts``: the model as read, the first thing to look at when a verdict surprises.

Shows every host (and why files landed on it), its namespaces with each kernel setting and
where it came from, every listener with its privilege verdict, every kernel-setting write
with the kernel's verdict, and the values that could not be resolved.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from portpolicy.model import (
    FirewallRule,
    ImageBuild,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    Namespace,
    ParseError,
    PortPool,
    ServicePort,
    Setting,
    Unresolved,
)
from portpolicy.pipeline import Report
from portpolicy.readers.base import shown
from portpolicy.report.escape import deep, display, unicode_text


def _loc(loc: Location | None) -> str | None:
    return f"{loc.path}:{loc.line}:{loc.column}" if loc else None


def _setting(s: Setting) -> dict[str, Any]:
    return {
        "value": None if s.value is None else str(s.value),
        "source": s.source,
        "location": _loc(s.location),
    }


def _namespace(ns: Namespace) -> dict[str, Any]:
    return {
        "id": ns.id,
        "kind": ns.kind,
        "shared": ns.shared,
        "platform": ns.platform,
        "runtime": ns.runtime,
        "ip_unprivileged_port_start": _setting(ns.unprivileged_port_start),
        "ip_local_port_range": _setting(ns.ephemeral_range),
        "ip_local_reserved_ports": _setting(ns.reserved_ports),
        "inbound_policy": _setting(ns.inbound_policy),
        "runtime_firewall": _setting(ns.runtime_firewall),
        "node_ports": _setting(ns.node_ports),
    }


def _listener(ln: Listener) -> dict[str, Any]:
    return {
        "service": ln.service,
        "protocol": ln.protocol,
        "ports": str(ln.ports),
        "address": str(ln.address),
        "location": _loc(ln.location),
        "host": ln.host,
        "namespace": ln.namespace.id if ln.namespace else None,
        "user": ln.run_as.user,
        "user_location": _loc(ln.run_as.location),
        "bound_by": ln.bound_by,
        "privilege": None
        if ln.privilege is None
        else {"known": ln.privilege.known, "granted": ln.privilege.granted, "reason": ln.privilege.reason},
        "source": ln.source,
        **({"port_origin": ln.port_origin} if ln.port_origin else {}),
        **({"may_run": f"when {shown(str(ln.may_run), 160)}"} if ln.may_run else {}),
    }


def _setting_write(k: KernelSetting) -> dict[str, Any]:
    return {
        "key": k.key,
        "value": k.value,
        "location": _loc(k.location),
        "host": k.host,
        "namespace": k.namespace.id if k.namespace else None,
        "accepted": k.accepted,
        "effective": k.effective,
        "reject_reason": k.reject_reason or None,
    }


def _firewall_rule(r: FirewallRule) -> dict[str, Any]:
    return {
        "firewall": r.firewall,
        "location": _loc(r.location),
        "host": r.host,
        "namespace": r.namespace.id if r.namespace else None,
        "chain": r.chain,
        "direction": r.direction,
        "action": r.action,
        "protocol": r.protocol,
        "ports": None if r.ports is None else str(r.ports),
        "source_ports": None if r.source_ports is None else str(r.source_ports),
        "sources": list(r.sources),
        "family": r.family,
        "stateful": r.stateful,
        "ruleset_stateful": r.ruleset_stateful,
        "interface": r.interface or None,
        "service": r.service or None,
        "wide": r.wide,
    }


def _port_pool(p: PortPool) -> dict[str, Any]:
    return {
        "name": p.name,
        "ports": str(p.ports),
        "default": p.default,
        "location": _loc(p.location),
        "host": p.host,
        "namespace": p.namespace.id if p.namespace else None,
    }


def _service_port(p: ServicePort) -> dict[str, Any]:
    """A Kubernetes Service port and its join: the workloads its selector picks, where it leads."""
    target = p.target_name or (str(p.target_port) if p.target_port is not None else p.target)
    return {
        "service": p.service,
        "namespace": p.k8s_namespace,
        "port": f"{p.protocol}/{p.port}",
        "name": p.name or None,
        "type": p.service_type or None,
        "node_port": None if p.node_port is None else str(p.node_port),
        "target": target or None,
        "selects": list(p.selects),
        "reaches": list(p.reaches),
        "join": p.join,
        "join_reason": p.join_reason or None,
        "location": _loc(p.location),
        "host": p.host,
    }


def as_dict(report: Report) -> dict[str, Any]:
    facts = report.facts
    return {
        "version": 1,
        "hosts": [
            {
                "name": h.name,
                "reason": h.reason,
                "platform": h.platform,
                "runtime": h.runtime,
                "namespaces": [_namespace(ns) for ns in h.namespaces],
            }
            for h in report.hosts
        ],
        "listeners": [_listener(f) for f in facts if isinstance(f, Listener)],
        "kernel_settings": [_setting_write(f) for f in facts if isinstance(f, KernelSetting)],
        "firewall_rules": [_firewall_rule(f) for f in facts if isinstance(f, FirewallRule)],
        "port_pools": [_port_pool(f) for f in facts if isinstance(f, PortPool)],
        "service_ports": [_service_port(f) for f in facts if isinstance(f, ServicePort)],
        "image_builds": [
            {
                "link": f.text,
                "names": list(f.names),
                "dockerfile": f.dockerfile,
                "context": f.context,
                "target": f.target,
                "location": _loc(f.location),
            }
            for f in facts
            if isinstance(f, ImageBuild)
        ],
        "invalid_ports": [
            {"value": f.value, "reason": f.reason, "location": _loc(f.location)}
            for f in facts
            if isinstance(f, InvalidPort)
        ],
        "unresolved": [
            {"value": f.value, "reason": f.reason, "location": _loc(f.location)}
            for f in facts
            if isinstance(f, Unresolved)
        ],
        "parse_errors": [
            {"message": f.message, "location": _loc(f.location)} for f in facts if isinstance(f, ParseError)
        ],
        "files": [{"path": p, "reader": report.readers[p]} for p in report.files],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }


def render_json(report: Report) -> str:
    return json.dumps(deep(as_dict(report), unicode_text), indent=2) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def render_text(report: Report) -> str:
    d = deep(as_dict(report), display)
    lines: list[str] = []
    for h in d["hosts"]:
        lines.append(f"host {h['name']}  ({h['reason']}; platform {h['platform']}, runtime {h['runtime']})")
        for ns in h["namespaces"]:
            shared = "shared" if ns["shared"] else "one service"
            lines.append(f"  namespace {ns['id']} [{ns['kind']}, {shared}]")
            posture = ("inbound_policy", "runtime_firewall", "node_ports") if ns["kind"] == "host" else ()
            for key in (
                "ip_unprivileged_port_start",
                "ip_local_port_range",
                "ip_local_reserved_ports",
                *posture,
            ):
                s = ns[key]
                where = (
                    f" at {s['location']}"
                    if s["location"] and not s["location"].startswith(s["source"])
                    else ""
                )
                value = (
                    s["value"]
                    if s["value"] not in (None, "")
                    else "(none)"
                    if s["value"] == ""
                    else "unknown"
                )
                lines.append(f"    {key} = {value}  ({s['source']}{where})")
    lines.append("")
    lines.append("listeners:")
    lines += _table(
        ["location", "namespace", "service", "proto", "address", "ports", "user", "bound by", "privilege"],
        [
            [
                ln["location"],
                ln["namespace"] or "",
                ln["service"] + (f" (may run: {ln['may_run']})" if ln.get("may_run") else ""),
                ln["protocol"],
                ln["address"],
                ln["ports"],
                ln["user"] or "?",
                ln["bound_by"],
                (
                    "granted: "
                    if ln["privilege"]["granted"]
                    else "not granted: "
                    if ln["privilege"]["known"]
                    else "unknown: "
                )
                + ln["privilege"]["reason"],
            ]
            for ln in d["listeners"]
        ],
    )
    lines.append("")
    lines.append("kernel settings (in the order the kernel applies them per namespace):")
    lines += _table(
        ["location", "namespace", "key", "value", "verdict"],
        [
            [
                k["location"],
                k["namespace"] or "",
                k["key"],
                k["value"],
                ("in force" if k["effective"] else "applied, later replaced")
                if k["accepted"]
                else f"refused: {k['reject_reason']}",
            ]
            for k in d["kernel_settings"]
        ],
    )
    if d["firewall_rules"]:
        lines.append("")
        lines.append("firewall rules:")
        lines += _table(
            ["location", "host", "firewall", "chain", "dir", "action", "proto", "ports", "source", "state"],
            [
                [
                    r["location"],
                    r["host"],
                    r["firewall"],
                    r["chain"],
                    r["direction"],
                    r["action"],
                    r["protocol"],
                    (r["ports"] or "all")
                    + (f" (sport {r['source_ports']})" if r["source_ports"] else "")
                    + (f" [{r['service']}]" if r["service"] else ""),
                    (",".join(r["sources"]) or "any") + (f" on {r['interface']}" if r["interface"] else ""),
                    "match" if r["stateful"] else "ruleset" if r["ruleset_stateful"] else "none",
                ]
                for r in d["firewall_rules"]
            ],
        )
    if d["port_pools"]:
        lines.append("")
        lines.append("port pools:")
        lines += _table(
            ["location", "host", "pool", "ports"],
            [
                [p["location"], p["host"], p["name"], p["ports"] + (" (default)" if p["default"] else "")]
                for p in d["port_pools"]
            ],
        )
    if d["service_ports"]:
        lines.append("")
        lines.append("Kubernetes Service ports (the pods each selector picks, the port it reaches):")
        lines += _table(
            ["location", "service", "port", "target", "selects", "reaches"],
            [
                [
                    p["location"],
                    p["service"],
                    p["port"] + (f" ({p['name']})" if p["name"] else ""),
                    p["target"] or p["port"],
                    ", ".join(p["selects"]) or "-",
                    ", ".join(p["reaches"]) if p["join"] == "reached" else f"{p['join']}: {p['join_reason']}",
                ]
                for p in d["service_ports"]
            ],
        )
    if d["image_builds"]:
        lines.append("")
        lines.append(
            "images built in the repository (build calls; a workload naming the image runs its Dockerfile):"
        )
        lines += [f"  {b['link']}" for b in d["image_builds"]]
    for title, key in (("invalid ports", "invalid_ports"), ("unresolved values", "unresolved")):
        if d[key]:
            lines.append("")
            lines.append(f"{title}:")
            lines += _table(
                ["location", "value", "reason"], [[u["location"], u["value"], u["reason"]] for u in d[key]]
            )
    if d["parse_errors"]:
        lines.append("")
        lines.append("unreadable files:")
        lines += _table(["location", "problem"], [[p["location"], p["message"]] for p in d["parse_errors"]])
    lines.append("")
    lines += _coverage(d["files"], d["skipped"])
    return "\n".join(lines) + "\n"


def _coverage(files: list[dict[str, str]], skipped: list[dict[str, str]]) -> list[str]:
    """Files read per reader, and files not read per reason: a quiet model can be told from a blind one."""
    read = Counter(f["reader"] for f in files)
    per_reader = ", ".join(f"{n} {reader}" for reader, n in sorted(read.items(), key=lambda i: (-i[1], i[0])))
    n = len(files)
    lines = [f"{n} file{'s' if n != 1 else ''} read" + (f" ({per_reader})" if per_reader else "")]
    if not skipped:
        return lines
    lines.append(f"{len(skipped)} not read (--verbose lists them):")
    reasons = Counter(s["reason"] for s in skipped)
    lines += [f"  {n:>6}  {reason}" for reason, n in sorted(reasons.items(), key=lambda i: (-i[1], i[0]))]
    return lines
