"""Two compose projects on one host keep their containers apart (Compose names them per project)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

APP1 = """\
services:
  web:
    image: ghcr.io/acme/web:2
    expose: ["8080"]
  sidecar:
    image: ghcr.io/acme/sidecar:1
    network_mode: "service:web"
    expose: ["8080"]
"""
APP2 = """\
services:
  web:
    image: ghcr.io/acme/shop:3
    expose: ["8080"]
"""


def _tree(root: Path, second: str = "app2") -> Path:
    (root / "etc/ufw").mkdir(parents=True)
    (root / "etc/ufw/ufw.conf").write_text("ENABLED=yes\n")
    for name, text in (("app1", APP1), (second, APP2)):
        folder = root / "opt" / name if "/" not in name else root / name
        folder.mkdir(parents=True)
        (folder / "compose.yaml").write_text(text)
    return root


def _findings(root: Path) -> list[tuple[str, str, str]]:
    run = subprocess.run(
        [sys.executable, "-m", "portpolicy", "check", ".", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return [(f["rule"], f["path"], f["message"]) for f in json.loads(run.stdout)["findings"]]


def test_a_conflict_stays_inside_its_own_project(tmp_path: Path) -> None:
    findings = _findings(_tree(tmp_path))
    assert [(rule, path) for rule, path, _ in findings] == [("PP004", "opt/app1/compose.yaml")]
    assert "container:app1/web" in findings[0][2]


def test_projects_whose_folders_share_a_name_are_told_apart_by_path(tmp_path: Path) -> None:
    findings = _findings(_tree(tmp_path, second="srv/app1"))
    assert [(rule, path) for rule, path, _ in findings] == [("PP004", "opt/app1/compose.yaml")]
    assert "container:opt/app1/web" in findings[0][2]


def test_one_project_keeps_the_short_names(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(APP1)
    findings = _findings(tmp_path)
    assert len(findings) == 1 and "#container:web)" in findings[0][2]
