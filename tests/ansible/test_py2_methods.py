"""Issue #24, item 6: Python 2 dict methods in templates, as Ansible on Python 2 rendered them.

A role written for Ansible 2.x on Python 2 loops over ``sites.iteritems()`` and asks
``site.has_key('root')``; ansible-core on Python 3 refuses both. The subset evaluates them as
Python 2 did, so the template's listeners are read, and ``-v`` says, at the task, that they
fail on current Ansible.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from portpolicy.model import Listener
from tests.helpers import FIXTURES, run_cli, scan_tree

TREES = FIXTURES / "ansible_subjects"
TEMPLATE = "roles/nginx_sites/templates/sites.conf.j2"
TASK = "roles/nginx_sites/tasks/main.yml:1:3"


def _notes(stderr: str) -> list[str]:
    return [line.split(": note: ", 1)[1].split("()")[0] for line in stderr.splitlines() if ": note: " in line]


def test_a_python2_template_renders_and_its_listener_is_judged() -> None:
    done = run_cli("check", ".", "-v", "--format", "json", "--fail-on", "never", cwd=TREES / "py2_methods")
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [("PP002", TEMPLATE, 3)]
    assert "tcp/50080" in findings[0]["message"]
    assert f"task {TASK}: note: uses iteritems(), a Python 2 dict method" in done.stderr
    assert "it fails on current ansible-core (Python 3)" in done.stderr
    assert sorted(_notes(done.stderr)) == ["uses has_key", "uses iteritems"]


def test_the_negative_twin_is_fine_and_still_noted() -> None:
    done = run_cli("check", ".", "-v", cwd=TREES / "py2_methods_fine")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No problems found" in done.stdout
    assert sorted(_notes(done.stderr)) == ["uses has_key", "uses iteritems"]


def test_the_python3_spelling_gives_the_same_listeners_without_a_note(tmp_path: Path) -> None:
    tree = tmp_path / "py3"
    shutil.copytree(TREES / "py2_methods", tree)
    template = tree / TEMPLATE
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace(".iteritems()", ".items()").replace("site.has_key('root')", "'root' in site")
    )
    listeners = {
        (f.host, str(f.ports), f.location.line)
        for f in scan_tree(TREES / "py2_methods").facts
        if isinstance(f, Listener)
    }
    assert {(str(p), line) for _, p, line in listeners} == {("8080", 3), ("50080", 3)}
    assert listeners == {(h.replace("py3", "py2_methods"), p, ln) for h, p, ln in _listeners(tree)}
    done = run_cli("check", ".", "-v", cwd=tree)
    assert _notes(done.stderr) == []


def _listeners(tree: Path) -> set[tuple[str, str, int]]:
    return {(f.host, str(f.ports), f.location.line) for f in scan_tree(tree).facts if isinstance(f, Listener)}
