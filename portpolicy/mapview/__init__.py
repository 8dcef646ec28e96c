"""``portpolicy map``: each host's ports on one screen, as a self-contained HTML page or an SVG.

Per host and namespace: the 1-65535 axis and a zoom on 1-1024 with the bands that matter
(below ``ip_unprivileged_port_start``, the ephemeral range, the reserved ports, NodePort
pools), every listener above the axis (coloured by its privilege verdict) and every firewall
opening below it, findings marked on them and linked to their entry, which links to the
file and line. Standard library only, no script, no network: the page carries a
Content-Security-Policy that forbids loading anything, so even a hostile file name cannot
make it fetch or run code.
"""

from __future__ import annotations

import os
from typing import Any

from portpolicy.errors import UsageError
from portpolicy.mapview import svg
from portpolicy.mapview.layout import NamespaceMap, maps, reason, verdict
from portpolicy.mapview.svg import href, text
from portpolicy.model import Finding

__all__ = ["render_html", "render_svg"]

CSP = "default-src 'none'; style-src 'unsafe-inline'"
PAGE_STYLE = (
    "body{font-family:sans-serif;margin:16px;color:#111;background:#fff}"
    "h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}"
    "h3{font-size:14px;margin:14px 0 4px}table{border-collapse:collapse;margin:6px 0 12px;font-size:12px}"
    "td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}"
    ".sev-error{color:#c62828;font-weight:bold}.sev-warning{color:#ef6c00;font-weight:bold}"
    ".sev-info{color:#1565c0}.settings{font-size:12px;color:#333}.empty{color:#777;font-size:12px}"
    ":target{background:#fff59d}" + svg.STYLE
)


def render_html(report: Any, output: str | None = None) -> str:
    """The page: a summary, then one section per host with a map per namespace and its tables."""
    base = os.path.dirname(os.path.abspath(output)) if output and output != "-" else os.getcwd()
    anchors = {f: f"finding-{i}" for i, f in enumerate(report.findings, start=1)}
    sections = _by_host(maps(report, anchors))
    body = [
        "<h1>portpolicy port map</h1>",
        f'<p class="settings">{len(report.hosts)} host(s), {len(report.files)} file(s) read,'
        f" {len(report.findings)} finding(s).</p>",
        "<ul>"
        + "".join(f'<li><a href="#host-{i}">{text(name)}</a></li>' for i, name in enumerate(sections))
        + "</ul>",
    ]
    for i, (name, host_maps) in enumerate(sections.items()):
        body.append(_host_section(i, name, host_maps, report.findings, anchors, base))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<title>portpolicy port map</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def render_svg(report: Any, host: str | None = None) -> str:
    """One host's namespaces stacked in one SVG document (for a README or a pull-request comment)."""
    anchors = {f: f"finding-{i}" for i, f in enumerate(report.findings, start=1)}
    sections = _by_host(maps(report, anchors))
    if not sections:
        raise UsageError("no host to draw: the scan read no file")
    name = host if host is not None else next(iter(sections))
    if name not in sections:
        raise UsageError(f"no host {name!r} (hosts: {', '.join(sections)})")
    drawn = [m for m in sections[name] if not m.empty] or sections[name][:1]
    pieces = [svg.render(m.title, m.bands, _unlinked(m), standalone=False) for m in drawn]
    height = 0
    stacked = []
    for piece in pieces:
        stacked.append(f'<g transform="translate(0,{height})">{piece}</g>')
        height += int(piece.split('height="', 1)[1].split('"', 1)[0]) + 8
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg.WIDTH}" height="{height}"'
        f' viewBox="0 0 {svg.WIDTH} {height}"><style>{svg.STYLE}</style>{"".join(stacked)}</svg>\n'
    )


def _unlinked(m: NamespaceMap) -> list[svg.Mark]:
    """A lone SVG has no finding list to link to."""
    from dataclasses import replace

    return [replace(mark, link="") for mark in m.marks]


def _by_host(all_maps: list[NamespaceMap]) -> dict[str, list[NamespaceMap]]:
    out: dict[str, list[NamespaceMap]] = {}
    for m in all_maps:
        out.setdefault(m.host.name, []).append(m)
    return out


def _host_section(
    i: int,
    name: str,
    host_maps: list[NamespaceMap],
    findings: list[Finding],
    anchors: dict[Finding, str],
    base: str,
) -> str:
    host = host_maps[0].host
    parts = [
        f'<section class="host" id="host-{i}"><h2>{text(name)}</h2>',
        f'<p class="settings">{text(host.reason)}</p>',
    ]
    quiet: list[str] = []
    for m in host_maps:
        if m.empty:
            quiet.append(m.namespace.id)
            continue
        parts.append(f"<h3>{text(m.namespace.id)}</h3>")
        parts.append(_settings(m))
        parts.append(svg.render(m.title, m.bands, m.marks))
        parts.append(_listeners_table(m, base))
        parts.append(_openings_table(m, base))
    if quiet:
        parts.append(f'<p class="empty">no listener, opening or pool in: {text(", ".join(quiet))}</p>')
    parts.append(_findings_table([f for f in findings if f.host == name], anchors, base))
    parts.append("</section>")
    return "".join(parts)


def _settings(m: NamespaceMap) -> str:
    ns = m.namespace
    rows = [
        ("ip_unprivileged_port_start", ns.unprivileged_port_start),
        ("ip_local_port_range", ns.ephemeral_range),
        ("ip_local_reserved_ports", ns.reserved_ports),
        ("inbound policy", ns.inbound_policy),
    ]
    items = "; ".join(
        f"{key} = {value.value if value.value not in (None, '') else '-'} ({value.source})"
        for key, value in rows
    )
    return f'<p class="settings">{text(items)}</p>'


def _where(path: str, line: int, column: int, base: str) -> str:
    shown = f"{path}:{line}:{column}"
    relative = os.path.relpath(os.path.abspath(path), base) if path else ""
    return f'<a href="{href(relative, line)}">{text(shown)}</a>'


def _listeners_table(m: NamespaceMap, base: str) -> str:
    if not m.listeners:
        return ""
    rows = []
    for ln in sorted(m.listeners, key=lambda x: (x.ports, x.service)):
        words = {"granted": "may bind", "refused": "not allowed", "unknown": "not known"}[verdict(ln)]
        words += f": {reason(ln)}"
        rows.append(
            "<tr>"
            f"<td>{text(ln.service)}</td><td>{text(ln.protocol)}/{text(ln.ports)}</td><td>{text(ln.address)}</td>"
            f"<td>{text(ln.run_as.user or 'unknown')}</td><td>{text(words)}</td>"
            f"<td>{_where(ln.location.path, ln.location.line, ln.location.column, base)}</td></tr>"
        )
    head = "<tr><th>listener</th><th>port</th><th>address</th><th>runs as</th><th>privilege</th><th>where</th></tr>"
    return f'<table class="listeners">{head}{"".join(rows)}</table>'


def _openings_table(m: NamespaceMap, base: str) -> str:
    if not m.openings:
        return ""
    rows = [
        "<tr>"
        f"<td>{text(fw.firewall)}</td><td>{text(fw.protocol)}/{text(fw.port_text)}</td>"
        f"<td>{text(', '.join(fw.sources) or 'any')}</td>"
        f"<td>{_where(fw.location.path, fw.location.line, fw.location.column, base)}</td></tr>"
        for fw in m.openings
    ]
    head = "<tr><th>firewall</th><th>opens</th><th>from</th><th>where</th></tr>"
    return f'<table class="openings">{head}{"".join(rows)}</table>'


def _findings_table(findings: list[Finding], anchors: dict[Finding, str], base: str) -> str:
    if not findings:
        return '<p class="empty">no findings on this host</p>'
    rows = [
        f'<tr id="{anchors[f]}" class="finding-row"><td class="sev-{text(f.severity)}">{text(f.severity)}</td>'
        f"<td>{text(f.rule)}</td><td>{_where(f.location.path, f.location.line, f.location.column, base)}</td>"
        f"<td>{text(f.message)}</td></tr>"
        for f in findings
    ]
    head = "<tr><th>severity</th><th>rule</th><th>where</th><th>message</th></tr>"
    return f'<table class="findings">{head}{"".join(rows)}</table>'
