"""One namespace's port map as an SVG string: the 1-65535 axis and a zoom on 1-1024.

Drawn from data (``Lane``/``Mark`` values built by ``model.py``), with the standard library
only: every piece of scanned text goes through ``text`` (XML-escaped, controls shown as
``\\xNN``), every link through ``href`` (a relative path, percent-encoded, so a file name
can never become a ``javascript:`` URL).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from portpolicy.report.escape import xml_text

WIDTH = 1200
LEFT = 24
AXIS_W = WIDTH - 2 * LEFT
FULL = (1, 65535)
ZOOM = (1, 1024)
LANE_H = 15
MAX_LANES = 8
COLORS = {
    "privileged": "#f4c7c3",
    "ephemeral": "#c6dbef",
    "reserved": "#b7e1b0",
    "nodeport": "#dcc6ef",
    "granted": "#2e7d32",
    "refused": "#c62828",
    "unknown": "#616161",
    "firewall": "#ef6c00",
    "error": "#c62828",
    "warning": "#ef6c00",
    "info": "#1565c0",
}


@dataclass(frozen=True)
class Band:
    """A range of ports the kernel or a component treats specially, drawn behind the axis."""

    kind: str
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Mark:
    """A listener or a firewall opening: where, its label, its colour and its worst finding."""

    kind: str  # "listener" or "firewall"
    start: int
    end: int
    label: str
    tooltip: str
    color: str
    severity: str = ""
    link: str = ""


def text(value: object) -> str:
    """Scanned text made safe for XML and HTML."""
    return html.escape(xml_text(str(value)), quote=True)


def href(path: str, line: int = 0) -> str:
    """A relative link to a scanned file's line (percent-encoded: never a scheme)."""
    target = quote(path.replace("\\", "/"), safe="/._-")
    if target.startswith("/"):
        target = "file://" + target
    return text(target + (f"#L{line}" if line else ""))


def render(title: str, bands: Sequence[Band], marks: Sequence[Mark], standalone: bool = False) -> str:
    """The map of one namespace: a full axis, a zoomed axis, the legend."""
    parts: list[str] = []
    y = 22
    parts.append(f'<text x="{LEFT}" y="16" class="title">{text(title)}</text>')
    for span, name in ((FULL, "ports 1-65535"), (ZOOM, "zoom: ports 1-1024")):
        height, body = _axis(span, name, bands, marks, y)
        parts.append(body)
        y += height + 10
    y += _legend(parts, y)
    xmlns = ' xmlns="http://www.w3.org/2000/svg"'
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    style = f"<style>{STYLE}</style>" if standalone else ""
    return (
        f'{head}<svg{xmlns} class="portmap" width="{WIDTH}" height="{y}" viewBox="0 0 {WIDTH} {y}"'
        f' role="img" aria-label="{text(title)}">{style}{"".join(parts)}</svg>'
    )


STYLE = (
    "svg.portmap{font-family:sans-serif;font-size:11px;background:#fff}"
    ".title{font-weight:bold;font-size:13px}.tick{fill:#444}.lbl{fill:#111}"
    ".band-label{fill:#333;font-size:10px}.axis{stroke:#333;stroke-width:1}"
)


def _x(port: int, span: tuple[int, int]) -> float:
    lo, hi = span
    port = min(max(port, lo), hi)
    return LEFT + (port - lo) / (hi - lo) * AXIS_W


def _axis(
    span: tuple[int, int], name: str, bands: Sequence[Band], marks: Sequence[Mark], top: int
) -> tuple[int, str]:
    """One axis with its bands behind, listeners above and firewall openings below."""
    shown = [m for m in marks if m.start <= span[1]]
    listeners = [m for m in shown if m.kind == "listener"]
    openings = [m for m in shown if m.kind == "firewall"]
    up = _lanes(listeners, span)
    down = _lanes(openings, span)
    lanes_up = max((lane for lane, _ in up), default=-1) + 1
    axis_y = top + 16 + lanes_up * LANE_H + 8
    out = [f'<text x="{LEFT}" y="{top + 10}" class="band-label">{text(name)}</text>']
    out += _bands(bands, span, axis_y)
    out.append(f'<line class="axis" x1="{LEFT}" y1="{axis_y}" x2="{LEFT + AXIS_W}" y2="{axis_y}"/>')
    out += _ticks(span, axis_y)
    out += [_mark(m, lane, span, axis_y, -1) for lane, m in up]
    out += [_mark(m, lane, span, axis_y + 20, 1) for lane, m in down]
    lanes_down = max((lane for lane, _ in down), default=-1) + 1
    bottom = axis_y + 22 + lanes_down * LANE_H
    return bottom - top, "".join(out)


def _lanes(marks: Iterable[Mark], span: tuple[int, int]) -> list[tuple[int, Mark]]:
    """Each mark's row: the first whose last label ends left of it (at most ``MAX_LANES``)."""
    ends: list[float] = []
    out: list[tuple[int, Mark]] = []
    for mark in sorted(marks, key=lambda m: (m.start, m.end, m.label)):
        x = _x(mark.start, span)
        width = 6.2 * len(mark.label) + 12
        lane = next((i for i, end in enumerate(ends) if end < x), len(ends))
        if lane >= MAX_LANES:
            lane = MAX_LANES - 1
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = x + width
        out.append((lane, mark))
    return out


def _bands(bands: Sequence[Band], span: tuple[int, int], axis_y: int) -> list[str]:
    out = []
    for band in bands:
        if band.start > span[1] or band.end < span[0]:
            continue
        x1, x2 = _x(band.start, span), _x(band.end, span)
        color = COLORS.get(band.kind, "#eee")
        out.append(
            f'<rect class="band band-{text(band.kind)}" x="{x1:.1f}" y="{axis_y - 6}" width="{max(x2 - x1, 1.5):.1f}"'
            f' height="12" fill="{color}"><title>{text(band.label)}</title></rect>'
        )
    return out


def _ticks(span: tuple[int, int], axis_y: int) -> list[str]:
    step = 8192 if span == FULL else 128
    values = [span[0], *range(step, span[1], step), span[1]]
    return [
        f'<text class="tick" x="{_x(v, span):.1f}" y="{axis_y + 16}" text-anchor="middle">{v}</text>'
        for v in values
    ]


def _mark(mark: Mark, lane: int, span: tuple[int, int], base: int, direction: int) -> str:
    x1, x2 = _x(mark.start, span), _x(mark.end, span)
    y = base + direction * (lane * LANE_H + 12)
    color = COLORS.get(mark.severity, "") if mark.severity else mark.color
    shape = (
        f'<line x1="{x1:.1f}" y1="{base}" x2="{x1:.1f}" y2="{y}" stroke="{mark.color}" stroke-width="1.5"/>'
        if x2 - x1 < 2
        else f'<rect x="{x1:.1f}" y="{min(base, y) - 2}" width="{x2 - x1:.1f}" height="4" fill="{mark.color}"/>'
    )
    flag = (
        f'<circle class="finding finding-{text(mark.severity)}" cx="{x1:.1f}" cy="{y - direction * 0}" r="4"'
        f' fill="{color}"/>'
        if mark.severity
        else f'<circle cx="{x1:.1f}" cy="{y}" r="2.5" fill="{mark.color}"/>'
    )
    label = f'<text class="lbl" x="{x1 + 6:.1f}" y="{y + 4}">{text(mark.label)}</text>'
    body = f"<title>{text(mark.tooltip)}</title>{shape}{flag}{label}"
    klass = f"mark {text(mark.kind)}"
    if mark.link:
        return f'<a class="{klass}" href="{mark.link}"><g>{body}</g></a>'
    return f'<g class="{klass}">{body}</g>'


def _legend(parts: list[str], y: int) -> int:
    items = [
        ("privileged", "below ip_unprivileged_port_start"),
        ("ephemeral", "ephemeral range"),
        ("reserved", "reserved ports"),
        ("nodeport", "NodePort pool"),
        ("granted", "listener: may bind"),
        ("refused", "listener: not allowed"),
        ("unknown", "listener: not known"),
        ("firewall", "firewall opening (below the axis)"),
    ]
    x = LEFT
    for kind, words in items:
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLORS[kind]}"/>'
            f'<text class="lbl" x="{x + 14}" y="{y + 9}">{text(words)}</text>'
        )
        x += 22 + int(5.6 * len(words))
    return 18
