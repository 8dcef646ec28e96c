"""What a one-file check imports: the reader of that file and nothing it does not use (#13).

A pre-commit run is mostly start-up, so a check pays only for what it reads: the format
table (``portpolicy.signatures``) decides without importing readers, the Ansible stage
loads only for a tree that may hold a project, and report formats, the config schema and
jsonschema only when asked for. Each check runs in a fresh interpreter, so the modules
listed are exactly the ones that run imported (times are measured by ``benchmarks/``, never
here).
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import portpolicy.report
from portpolicy import engine, signatures
from portpolicy.pipeline import may_hold_ansible
from tests.helpers import REPO, write_tree

READERS = frozenset(s.module for s in signatures.all_signatures())
"""Every format's reader module."""
REPORT_FORMATS = frozenset(
    f"portpolicy.report.{m.name}"
    for m in pkgutil.iter_modules(portpolicy.report.__path__)
    if m.name not in {"text", "escape"}
)
"""Report modules a default (text) check must not load."""

CHILD = """
import json, sys
from portpolicy.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

SYSCTL = "net.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.ip_unprivileged_port_start = 1024\n"
COMPOSE = 'services:\n  web:\n    image: nginx:1.25\n    ports:\n      - "8080:80"\n'


def modules_of_check(root: Path, *args: str) -> set[str]:
    """The modules a ``portpolicy check`` imported, run in a fresh interpreter in ``root``."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "check", "--no-config", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = result.stdout.strip().splitlines()[-1]
    found = json.loads(last)
    assert found["code"] == 0, result.stdout + result.stderr
    return set(found["modules"])


def test_a_one_file_sysctl_check_imports_the_sysctl_reader_and_no_other(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/99-ports.conf": SYSCTL})
    modules = modules_of_check(tmp_path, "etc/sysctl.d/99-ports.conf")
    assert modules & READERS == {"portpolicy.readers.sysctl"}
    assert not {m for m in modules if m == "portpolicy.ansible" or m.startswith("portpolicy.ansible.")}
    assert not modules & REPORT_FORMATS
    assert "portpolicy.report.text" in modules
    assert not modules & {"jsonschema", "portpolicy.schemas", "portpolicy.registry", "multiprocessing"}
    # no other format's helpers, no program table, no YAML-only stage
    assert {m for m in modules if m.startswith("portpolicy.readers.")} <= {
        "portpolicy.readers.base",
        "portpolicy.readers.lexing",
        "portpolicy.readers.sysctl",
    }
    assert not {
        m for m in modules if m == "portpolicy.apps" or m.startswith(("portpolicy.apps.", "portpolicy.helm"))
    }


def test_a_one_file_compose_check_imports_the_compose_reader_and_not_the_ansible_stage(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE})
    modules = modules_of_check(tmp_path, "compose.yaml")
    # compose reads its folder's .env through the dotenv reader; nothing else reads this file
    assert modules & READERS == {"portpolicy.readers.compose", "portpolicy.readers.dotenv"}
    # YAML near the top is offered to the Ansible project finder, which finds no playbook here
    assert not modules & {
        "portpolicy.ansible.project",
        "portpolicy.ansible.tasks",
        "portpolicy.ansible.jinja",
    }
    assert not modules & REPORT_FORMATS
    assert not modules & {"jsonschema", "portpolicy.schemas", "portpolicy.registry"}
    # the compose reader's own package and the helpers it reads with, nothing of another format
    helpers = {"base", "lexing", "dotenv", "interpolate", "netaddr"}
    for module in (m for m in modules if m.startswith("portpolicy.readers.")):
        assert module.startswith("portpolicy.readers.compose") or module.rsplit(".", 1)[1] in helpers, module
    assert not {m for m in modules if m.startswith("portpolicy.helm")}


def test_a_one_file_check_builds_the_parser_of_check_alone() -> None:
    """``cli.build_parser`` fills only the sub-command a run names (the others are listed, empty)."""
    from portpolicy import cli

    parser = cli.build_parser(["check", "compose.yaml"])
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(choices, dict)
    assert {name for name, sub in choices.items() if len(sub._actions) > 1} == {"check"}


def test_a_playbook_still_runs_the_ansible_stage(tmp_path: Path) -> None:
    write_tree(tmp_path, {"site.yml": "- hosts: web\n  tasks:\n    - ansible.builtin.ping:\n"})
    assert "portpolicy.ansible.project" in modules_of_check(tmp_path, "site.yml")


def test_sarif_output_and_a_config_file_load_what_they_need(tmp_path: Path) -> None:
    write_tree(tmp_path, {"etc/sysctl.d/99-ports.conf": SYSCTL, ".portpolicy.yml": "platform: linux\n"})
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "check", "--format", "sarif", "etc/sysctl.d/99-ports.conf"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = set(json.loads(result.stdout.strip().splitlines()[-1])["modules"])
    assert {"portpolicy.report.sarif", "jsonschema", "portpolicy.schemas"} <= modules


def test_the_ansible_gate_never_turns_away_a_tree_the_project_finder_would_take(tmp_path: Path) -> None:
    """``may_hold_ansible`` says no only where ``ansible.locate`` finds nothing either."""
    from portpolicy.ansible import locate

    write_tree(tmp_path, {"ops/ansible.cfg": "[defaults]\n", "ops/sysctl.conf": SYSCTL})
    trees = [
        ["etc/sysctl.d/99-ports.conf", "etc/nginx/nginx.conf", "Dockerfile"],
        ["roles/web/templates/nginx.conf.j2"],
        ["inventories/prod/group_vars/all"],
        ["host_vars/web1"],
        ["site.yml"],
        [str(tmp_path / "ops/sysctl.conf")],
    ]
    for paths in trees:
        finds = bool(locate.find_projects(paths)) or any(p.endswith((".yml", ".yaml")) for p in paths)
        assert may_hold_ansible(paths) or not finds, paths
    assert not may_hold_ansible(trees[0])
    assert may_hold_ansible(trees[-1])  # the ansible.cfg beside it makes ops/ a project


def test_the_rule_bundle_is_current() -> None:
    """``rules/bundle.json`` matches the rule files (else: ``python scripts/bundle_rules.py``)."""
    spec = importlib.util.spec_from_file_location("bundle_rules", REPO / "scripts" / "bundle_rules.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    directory = engine.builtin_rules_dir()
    committed = (directory / engine.BUNDLE).read_text(encoding="utf-8")
    assert committed == script.text(directory), "stale: run python scripts/bundle_rules.py"
    assert sorted(json.loads(committed)) == sorted(p.name for p in directory.glob("*.yml"))


def test_an_edited_rule_is_read_from_its_yaml_not_from_the_bundle(tmp_path: Path) -> None:
    shutil.copytree(engine.builtin_rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "PP001.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("summary: ", "summary: EDITED ", 1))
    bundle = json.loads((tmp_path / "rules" / engine.BUNDLE).read_text(encoding="utf-8"))
    assert bundle["PP001.yml"]["stamp"] != engine.stamp(path.read_bytes())
    assert engine._load(path, validate=False, bundle=bundle).summary.startswith("EDITED")
    unchanged = tmp_path / "rules" / "PP002.yml"
    bundle["PP002.yml"]["rule"]["summary"] = "from the bundle"
    assert engine._load(unchanged, validate=False, bundle=bundle).summary == "from the bundle"
