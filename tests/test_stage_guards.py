"""Every stage after ``read()`` is guarded: a bug costs the files it concerned (PP000), not the scan.

Each test makes one stage raise (a reader's ``assemble``, ``placement.place``,
``Placement.apply``, ``hosts.build``, the Ansible stage, one rule) and asserts the PP000 at
the right file, that the exception's text (which may quote a secret) stays out of the finding
but in ``Report.tracebacks``, and that a finding elsewhere in the tree survives.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from portpolicy import engine, hosts, pipeline, placement
from portpolicy.ansible import project as ansible_project
from portpolicy.errors import UsageError
from portpolicy.model import Finding
from portpolicy.pipeline import Report
from portpolicy.readers import systemd
from tests.helpers import scan_tree, write_tree
from tests.hostile import run_python_bounded

SECRET = "hunter2-do-not-print"

# Two hosts: a compose project with a real conflict (PP004) and a root tree with a unit.
COMPOSE = """\
services:
  app:
    image: ghcr.io/acme/app:1.4
    ports: ["8080:8080"]
  admin:
    image: ghcr.io/acme/admin:2.0
    ports: ["8080:9000"]
"""
UNIT = "[Service]\nUser=app\nExecStart=/usr/bin/app --port 80\n"
SOCKET = "[Socket]\nListenStream=80\n"
DOCKERFILE = "FROM nginx:1.27\nUSER nginx\nEXPOSE 8080\n"
SHOP_COMPOSE = "services:\n  shop:\n    build: .\n    ports: ['8081:8080']\n"


def tree(root: Path) -> Path:
    return write_tree(
        root,
        {
            "proj/compose.yaml": COMPOSE,
            "box/etc/systemd/system/app.service": UNIT,
            "box/etc/systemd/system/app.socket": SOCKET,
            "shop/compose.yaml": SHOP_COMPOSE,
            "shop/Dockerfile": DOCKERFILE,
        },
    )


def boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError(f"bad value {SECRET}")


def internal(report: Report, stage: str) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.rule == "PP000" and f"internal error in the {stage} stage" in f.message
    ]


def assert_reported(report: Report, stage: str, paths: set[str]) -> None:
    """PP000 at exactly ``paths``, no secret in any message, the secret in the traceback."""
    found = internal(report, stage)
    assert {f.location.path for f in found} == paths
    assert all("please report it" in f.message and "RuntimeError at portpolicy/" in f.message for f in found)
    assert not any(SECRET in f.message for f in report.findings)
    assert any(SECRET in trace and "RuntimeError" in trace for trace in report.tracebacks)


def conflict_survives(report: Report) -> None:
    assert [(f.rule, f.location.path) for f in report.findings if f.rule == "PP004"] == [
        ("PP004", "proj/compose.yaml")
    ]


def test_a_clean_scan_records_no_traceback(tmp_path: Path) -> None:
    report = scan_tree(tree(tmp_path))
    assert report.tracebacks == []
    assert not [f for f in report.findings if f.rule == "PP000"]
    conflict_survives(report)


def test_a_reader_assemble_bug_costs_that_readers_files_on_that_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(systemd, "assemble", boom)
    report = scan_tree(tree(tmp_path))
    assert_reported(
        report,
        "systemd assemble",
        {"box/etc/systemd/system/app.service", "box/etc/systemd/system/app.socket"},
    )
    assert not [f for f in report.facts if getattr(f, "source", "") == "systemd"]
    conflict_survives(report)


def test_a_correlation_bug_costs_the_compose_files_and_dockerfiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(placement, "place", boom)
    report = scan_tree(tree(tmp_path))
    # only the files correlation reads lose their facts: proj's services build nothing, mount nothing
    assert_reported(report, "placement", {"shop/compose.yaml", "shop/Dockerfile"})
    assert not [f for f in report.facts if getattr(f, "service", "") == "shop"]
    conflict_survives(report)
    assert [f.service for f in report.facts if getattr(f, "source", "") == "systemd"] == [
        "app.service (app.socket)"
    ]


def test_a_placement_bug_costs_only_the_host_with_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = placement.Placement.apply

    def flaky(self: placement.Placement, host: str, pairs: list[Any]) -> Any:
        if host == "shop":
            boom()
        return original(self, host, pairs)

    monkeypatch.setattr(placement.Placement, "apply", flaky)
    report = scan_tree(tree(tmp_path))
    assert_reported(report, "placement", {"shop/compose.yaml", "shop/Dockerfile"})
    assert all(f.host == "shop" for f in internal(report, "placement"))
    conflict_survives(report)


def test_a_host_build_bug_costs_that_host_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = hosts.build

    def flaky(buckets: Any, config: Any) -> Any:
        buckets = list(buckets)
        if any(b.name == "box" for b in buckets):
            boom()
        return original(buckets, config)

    monkeypatch.setattr(hosts, "build", flaky)
    report = scan_tree(tree(tmp_path))
    assert_reported(
        report,
        "hosts",
        {"box/etc/systemd/system/app.socket"},  # the file the unit's listener came from
    )
    assert sorted(h.name for h in report.hosts) == ["proj", "shop"]
    conflict_survives(report)
    seqs = [f.seq for f in report.facts if hasattr(f, "seq") and f.seq]
    assert seqs == sorted(set(seqs))  # hosts built apart are numbered as one model


def test_a_rule_bug_costs_that_rule_on_that_fact_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"proj2/compose.yaml": COMPOSE})
    original = engine.select

    def with_flaky_pp004(rules: Any, config: Any) -> list[engine.Rule]:
        chosen = original(rules, config)
        out = []
        for rule in chosen:
            if rule.id == "PP004":
                condition = rule.condition

                def flaky(fact: Any, binding: Any, condition: Any = condition) -> Any:
                    if fact.location.path.startswith("proj2/"):
                        boom()
                    return condition(fact, binding)

                rule = dataclasses.replace(rule, condition=flaky)
            out.append(rule)
        return out

    monkeypatch.setattr(engine, "select", with_flaky_pp004)
    report = scan_tree(tree(tmp_path))
    assert_reported(report, "rules", {"proj2/compose.yaml"})
    assert len(internal(report, "rules")) == 1  # one per rule and file, not one per fact
    assert "rule PP004" in internal(report, "rules")[0].message
    conflict_survives(report)  # the same rule on other facts
    assert any(f.rule == "PP000" and f.location.path.startswith("proj2/") for f in report.findings)


def test_an_ansible_stage_bug_is_pp000_at_the_playbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(
        tmp_path,
        {
            "infra/site.yml": "- hosts: web\n  roles: [app]\n",
            "infra/roles/app/tasks/main.yml": "- name: port\n  ansible.builtin.debug: {msg: hi}\n",
        },
    )
    monkeypatch.setattr(ansible_project, "run", boom)
    report = scan_tree(tree(tmp_path))
    assert_reported(report, "ansible", {"infra/site.yml"})
    conflict_survives(report)


def test_an_ansible_stage_bug_in_the_worker_process_is_guarded_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"infra/site.yml": "- hosts: web\n  roles: [app]\n"})
    write_tree(tmp_path, {"infra/roles/app/tasks/main.yml": "- ansible.builtin.debug: {msg: hi}\n"})
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 1)  # a forked worker, when this process may fork
    monkeypatch.setattr(ansible_project, "run", boom)
    report = scan_tree(tree(tmp_path))
    assert_reported(report, "ansible", {"infra/site.yml"})
    conflict_survives(report)


PLAYBOOK = """\
- hosts: web
  tasks:
    - name: ephemeral range
      ansible.posix.sysctl:
        name: net.ipv4.ip_local_port_range
        value: "1024 65000"
"""


def test_an_annotation_bug_costs_the_hosts_ansible_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"infra/site.yml": PLAYBOOK})
    original = ansible_project.Result.annotate

    def flaky(self: ansible_project.Result, host: str, facts: list[Any]) -> Any:
        if host == "infra:web":
            boom()
        return original(self, host, facts)

    monkeypatch.setattr(ansible_project.Result, "annotate", flaky)
    report = scan_tree(tree(tmp_path))
    assert_reported(report, "ansible", {"infra/site.yml"})
    assert not [f for f in report.facts if f.location.path == "infra/site.yml" and f.kind != "parse_error"]
    assert not [f for f in report.findings if f.rule == "PP009"]  # the range's finding went with it
    conflict_survives(report)


def test_scan_never_raises_on_a_bug_outside_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "discover", boom)
    report = scan_tree(tree(tmp_path))
    assert [(f.rule, f.location.path) for f in report.findings] == [("PP000", ".")]
    assert "internal error in the scan stage (RuntimeError at portpolicy/" in report.findings[0].message
    assert "nothing was checked" in report.findings[0].message
    assert SECRET not in report.findings[0].message
    assert SECRET in report.tracebacks[0]
    assert report.rules  # the reporters still have the rule list
    assert report.summary()["findings"] == 1


def test_a_usage_error_still_reaches_the_caller(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        pipeline.scan([str(tmp_path / "missing")])


def test_a_usage_error_inside_a_guarded_stage_is_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any) -> Any:
        raise UsageError("unknown platform 'plan9'")

    monkeypatch.setattr(hosts, "build", refuse)
    with pytest.raises(UsageError, match="plan9"):
        scan_tree(tree(tmp_path))


CLI_WITH_A_BUG = """
import sys
from portpolicy import cli
from portpolicy.readers import systemd

def boom(facts):
    raise RuntimeError("bad value hunter2-do-not-print")

systemd.assemble = boom
sys.exit(cli.main(["check", ".", "--format", "json"]))
"""


def test_the_cli_reports_a_stage_bug_as_a_finding_and_finishes(tmp_path: Path) -> None:
    run = run_python_bounded(CLI_WITH_A_BUG, cwd=tree(tmp_path))
    assert not run.crashed, run.stderr
    assert run.returncode == 1  # the compose conflict still fails the check
    findings = json.loads(run.stdout)["findings"]
    rules = sorted((f["rule"], f["path"]) for f in findings)
    assert ("PP004", "proj/compose.yaml") in rules
    assert ("PP000", "box/etc/systemd/system/app.service") in rules
    assert SECRET not in run.stdout + run.stderr


def test_a_program_config_join_bug_costs_that_hosts_program_configs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portpolicy.apps import join

    monkeypatch.setattr(join, "join", boom)
    root = tree(tmp_path)
    write_tree(
        root,
        {
            "dns/etc/unbound/unbound.conf": "server:\n  interface: 0.0.0.0@53\n",
            "dns/etc/systemd/system/unbound.service": "[Service]\nExecStart=/usr/sbin/unbound -d\nUser=unbound\n",
        },
    )
    report = scan_tree(root)
    assert_reported(
        report,
        "program configs",
        {"dns/etc/unbound/unbound.conf", "dns/etc/systemd/system/unbound.service"},
    )
    conflict_survives(report)
