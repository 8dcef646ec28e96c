"""``portpolicy map``: the HTML page and the SVG parsed, and the page drawn by a real headless browser.

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it). Without it the test
fails, naming what to install, unless PORTPOLICY_SKIP_BROWSER=1 says to skip it on purpose.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli, write_tree

SVG = "{http://www.w3.org/2000/svg}"
TREE = {
    "etc/sysctl.d/60-ports.conf": "net.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.ip_local_reserved_ports = 8080\n",
    "etc/nftables.conf": (
        "table inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n"
        "    tcp dport { 22, 443 } accept\n  }\n}\n"
    ),
    "etc/systemd/system/agent.socket": "[Socket]\nListenStream=50000\n",
    "etc/systemd/system/web.service": "[Service]\nUser=www\nExecStart=/usr/sbin/nginx\n",
    "etc/systemd/system/web.socket": "[Socket]\nListenStream=443\n",
}


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def html_map(root: Path) -> str:
    result = run_cli("map", ".", "-o", "map.html", cwd=root)
    assert result.returncode == 0, result.stderr
    return (root / "map.html").read_text(encoding="utf-8")


def test_page_shows_bands_listeners_openings_and_linked_findings(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    page = parse_html(html_map(tmp_path))
    classes = [attrs.get("class", "") for _, attrs in page.tags]
    assert "band band-ephemeral" in classes and "band band-reserved" in classes
    assert "band band-privileged" in classes
    assert classes.count("mark listener") == 3  # agent and web on the full axis, web (443) again in the zoom
    assert "mark firewall" in classes
    rows = {attrs["id"] for tag, attrs in page.tags if tag == "tr" and attrs.get("class") == "finding-row"}
    links = {
        attrs["href"] for tag, attrs in page.tags if tag == "a" and attrs.get("class", "").startswith("mark")
    }
    assert rows and {link.lstrip("#") for link in links} <= rows
    assert any(a.get("href") == "etc/systemd/system/agent.socket#L2" for t, a in page.tags if t == "a")
    text = " ".join(page.text)
    assert "PP002" in text and "agent" in text and "www" in text
    assert not [t for t, _ in page.tags if t in {"script", "link", "img", "iframe"}]
    csp = [
        a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'"]


def test_each_inline_svg_is_well_formed_xml(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    page = html_map(tmp_path)
    pieces = page.split("<svg")[1:]
    assert pieces
    for piece in pieces:
        root = ET.fromstring("<svg" + piece.split("</svg>")[0] + "</svg>")
        assert root.tag == f"{SVG}svg"


def test_svg_format_draws_one_host_as_a_standalone_document(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    result = run_cli("map", "--format", "svg", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout.encode())
    titles = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")]
    assert any("agent.service (agent.socket) tcp/50000" in t and "PP002" in t for t in titles)
    assert any(t.startswith("ephemeral range 32768-60999") for t in titles)
    assert root.iter(f"{SVG}a") and not list(root.iter(f"{SVG}a"))  # no page to link into
    wrong = run_cli("map", "--format", "svg", "--host", "nope", ".", cwd=tmp_path)
    assert wrong.returncode == 2 and "no host 'nope'" in wrong.stderr


def test_hostile_names_and_values_stay_text(tmp_path: Path) -> None:
    name = 'x"><script>alert(1)<'
    write_tree(
        tmp_path,
        {
            f"{name}/compose.yaml": 'services:\n  "a<b>\\u001b[31m":\n    image: nginx:1.27\n    ports:\n      - "50000:80"\n'
        },
    )
    page = html_map(tmp_path)
    parsed = parse_html(page)
    assert not [t for t, _ in parsed.tags if t == "script"]
    assert "\x1b" not in page and "<b>" not in page
    for piece in page.split("<svg")[1:]:
        ET.fromstring("<svg" + piece.split("</svg>")[0] + "</svg>")
    hrefs = [a["href"] for t, a in parsed.tags if t == "a" and "compose.yaml" in a.get("href", "")]
    assert hrefs and all(h.startswith("x%22%3E%3Cscript%3E") for h in hrefs)


def test_a_tree_with_no_config_is_an_error_not_an_empty_map(tmp_path: Path) -> None:
    write_tree(tmp_path, {"notes.txt": "nothing to see\n"})
    for fmt in ("html", "svg"):
        result = run_cli("map", "--format", fmt, ".", cwd=tmp_path)
        assert result.returncode == 2 and "no file portpolicy can read" in result.stderr
        assert result.stdout == ""


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB/RGBA PNG (what chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = [0, a, b, (a + b) // 2, a if pa <= pb and pa <= pc else (b if pb <= pc else c)][kind]
            line[i] = (line[i] + pred) & 0xFF
        rows.append(
            bytes(line if bpp == 3 else b"".join(bytes(line[i : i + 3]) for i in range(0, stride, 4)))
        )
        prev = line
    return width, height, rows


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("PORTPOLICY_SKIP_BROWSER") == "1":
            pytest.skip("PORTPOLICY_SKIP_BROWSER=1")
        pytest.fail("the map's browser test needs chromium: apt-get install -y chromium (see .ci/run)")
    return found


def _browser(*args: str, profile: Path) -> subprocess.CompletedProcess[bytes]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, timeout=120, check=False)


def test_headless_browser_draws_the_examples_map(tmp_path: Path) -> None:
    page = tmp_path / "map.html"
    result = run_cli("map", str(REPO / "examples"), "-o", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shot = tmp_path / "map.png"
    _browser(f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri(), profile=tmp_path / "p1")
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1400, 1000)
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), 3)]
    inked = sum(1 for p in pixels if p != b"\xff\xff\xff")
    assert inked > 0.02 * len(pixels)  # not a blank page
    assert pixels.count(bytes.fromhex("c6dbef")) > 500  # the ephemeral band is on screen
    dom = _browser("--dump-dom", page.as_uri(), profile=tmp_path / "p2").stdout.decode()
    assert dom.count('class="portmap"') >= 9  # a map per host at least
    for seen in (
        'class="band band-ephemeral"',
        'class="mark listener"',
        'class="mark firewall"',
        "finding-row",
    ):
        assert seen in dom
