"""No input makes portpolicy raise: every bad file ends as PP000 or is skipped with a reason."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from portpolicy import reading, recognise, signatures
from portpolicy.readers.base import Source
from tests.helpers import run_cli, scan_tree, write_tree

NAMED = [
    "etc/sysctl.d/90-x.conf",
    "etc/sysctl.conf",
    "etc/systemd/system/x.service",
    "etc/systemd/system/x.socket",
    "etc/systemd/system/x.service.d/override.conf",
    "compose.yaml",
    "docker-compose.prod.yml",
]


def _bytes(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    alphabet = b"[]{}:-=#;\"' \n\t\\%@/.0123456789abcdefListenStream=User=ports:services:&*!<<"
    return bytes(rng.choice(alphabet) for _ in range(size))


@pytest.mark.parametrize("name", NAMED)
def test_random_text_never_raises(tmp_path: Path, name: str) -> None:
    for seed in range(40):
        path = tmp_path / str(seed) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_bytes(seed, 400))
    report = scan_tree(tmp_path)
    # random bytes under a helpful name are mostly not of the format: read or skipped, never lost
    assert len(report.files) + len(report.skipped) == 40
    assert all(s.reason.startswith(("named like", "YAML")) for s in report.skipped)
    assert not [f for f in report.findings if "internal error" in f.message]
    # and the reader itself survives each of them, recognised or not
    reader = signatures.reader(recognise.named(name)[0])
    for seed in range(40):
        text = _bytes(seed, 400).decode()
        if reader.NAME in ("compose", "kubernetes"):
            continue  # YAML readers: the scan above read every one by name
        list(reader.read(Source(name, text)))


@pytest.mark.parametrize("name", NAMED)
def test_binary_file_is_skipped_not_pp000(tmp_path: Path, name: str) -> None:
    """A binary file is not of the format its name suggests: skipped with the reason, never PP000."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert [(s.path.rsplit("/", 1)[-1], s.reason) for s in report.skipped] == [
        (name.rsplit("/", 1)[-1], "binary content")
    ]


def test_invalid_utf8_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "etc/sysctl.d/10-x.conf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"# caf\xe9\nnet.ipv4.ip_local_port_range = 32768 61000\n")
    report = scan_tree(tmp_path)
    rules = sorted(f.rule for f in report.findings)
    assert rules == ["PP000", "PP009"]
    assert "not valid UTF-8 (first bad byte at offset 5)" in report.findings[0].message


def test_huge_named_file_is_pp000_and_huge_yaml_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_BYTES", 1000)
    write_tree(
        tmp_path, {"compose.yaml": "services:\n" + "#" * 2000 + "\n", "big.yaml": "a: 1\n" + "#" * 2000}
    )
    report = scan_tree(tmp_path)
    assert [f.rule for f in report.findings] == ["PP000"]
    assert "over the 0 MiB limit" in report.findings[0].message or "limit" in report.findings[0].message
    assert [s.path for s in report.skipped] == ["big.yaml"]


def test_deep_nesting_and_alias_bombs_are_refused_quickly(tmp_path: Path) -> None:
    bomb = "x-a: &a [" + ",".join(['"lol"'] * 9) + "]\n"
    prev = "a"
    for name in "bcdefghi":
        bomb += f"x-{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    write_tree(
        tmp_path,
        {
            "deep/compose.yaml": "services: " + "[" * 60000 + "\n",
            "bomb/compose.yaml": bomb + "services:\n  web: {image: nginx}\n",
        },
    )
    report = scan_tree(tmp_path)
    messages = sorted(f.message for f in report.findings)
    assert [f.rule for f in report.findings] == ["PP000", "PP000"]
    assert any("alias bomb" in m for m in messages) and any("nesting deeper than 200" in m for m in messages)


def test_unreadable_file_is_pp000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated (the tests run as root): scanned files are opened by portpolicy.safeio with os.open."""
    import os

    write_tree(tmp_path, {"compose.yaml": "services: {}\n"})
    real_open = os.open

    def denied(path: str, flags: int, *args: int, **kwargs: object) -> int:
        if str(path).endswith("compose.yaml"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)
    report = scan_tree(tmp_path)
    assert [(f.rule, f.message) for f in report.findings] == [
        ("PP000", "cannot read this file: cannot read: Permission denied")
    ]


def test_fifo_and_broken_link_are_skipped_not_read(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "compose.yaml")
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    (tmp_path / "etc/sysctl.d/10.conf").symlink_to(tmp_path / "missing.conf")
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert sorted((s.path, s.reason) for s in report.skipped) == [
        ("compose.yaml", "not a regular file"),
        ("etc/sysctl.d/10.conf", "broken symbolic link"),
    ]


def test_empty_files_give_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, dict.fromkeys(NAMED, ""))
    report = scan_tree(tmp_path)
    assert report.findings == [] and len(report.files) == len(NAMED)


def test_cli_never_prints_a_traceback_on_garbage(tmp_path: Path) -> None:
    for seed, name in enumerate(NAMED):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_bytes(seed + 1000, 3000))
    result = run_cli("check", "--fail-on", "never", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_a_template_whose_raw_text_does_not_parse_is_unresolved_not_pp000(tmp_path: Path) -> None:
    """Jinja inheritance makes a raw template unparsable while every rendered file is fine."""
    write_tree(
        tmp_path,
        {
            "templates/vhost.j2": "server {\n    listen 80;\n    {% block server_end %}{% endblock %}\n"
            "{% if extra is defined %}\n    {{ extra|indent(4) }}\n{% endif %}\n}\n",
            "etc/nginx/conf.d/broken.conf": "server {\n    listen 80\n}\n",
        },
    )
    report = scan_tree(tmp_path)
    assert [(f.rule, f.location.path) for f in report.findings] == [("PP000", "etc/nginx/conf.d/broken.conf")]
    assert any(
        "raw text does not parse" in u.reason
        for u in report.unresolved
        if u.location.path == "templates/vhost.j2"
    )


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_cr_crlf_and_lf_files_give_the_same_line_numbers(tmp_path: Path, newline: str) -> None:
    """Lines end at CR, CRLF or LF in every reader, as suppressions and code frames count them."""
    files = {
        "etc/sysctl.d/50-ports.conf": ["# ports", "", "net.ipv4.ip_local_port_range = 1024 1023"],
        "etc/ufw/user.rules": [
            "*filter",
            ":ufw-user-input - [0:0]",
            "",
            "-A ufw-user-input -p tcp --dport 0 -j ACCEPT",
        ],
        "etc/iptables/rules.v4": ["*filter", "", "-A INPUT -p tcp --dport 0 -j ACCEPT", "COMMIT"],
    }
    for rel, lines in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(newline.join(lines).encode() + newline.encode())
    report = scan_tree(tmp_path)
    got = sorted((f.location.path, f.location.line, f.rule) for f in report.findings)
    assert got == [
        ("etc/iptables/rules.v4", 3, "PP005"),
        ("etc/sysctl.d/50-ports.conf", 3, "PP006"),
        ("etc/ufw/user.rules", 4, "PP005"),
    ]
