"""Which compose files are one project: ``-f`` lists in scripts, ``COMPOSE_FILE``, devcontainers, defaults.

Compose merges "in the order they're specified on the command line", takes the list from
``-f`` or "the pre-defined COMPOSE_FILE environment variable" (docs.docker.com/compose/how-tos/
multiple-compose-files/merge/), separated by ``COMPOSE_PATH_SEPARATOR`` (``:`` on Linux,
docs.docker.com/compose/how-tos/environment-variables/envvars/), and by default reads
``compose.yaml`` with ``compose.override.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import Listener, Unresolved
from portpolicy.pipeline import Report
from portpolicy.readers.compose import sets
from tests.helpers import scan_tree, write_tree
from tests.hostile import run_bounded

BASE = 'services:\n  web:\n    image: acme/web\n    ports: ["127.0.0.1:8080:80"]\n'
DEV = 'services:\n  web:\n    ports: ["8080:80"]\n'
PROD = 'services:\n  web:\n    ports: !override ["443:443"]\n'


def scan(tmp_path: Path, files: dict[str, str]) -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path)


def conflicts(report: Report) -> list[str]:
    return sorted(f"{f.location.path}:{f.location.line}" for f in report.findings if f.rule == "PP004")


def test_a_makefile_f_list_with_a_literal_variable_is_one_project(tmp_path: Path) -> None:
    makefile = (
        "DEV := docker/compose.dev.yml\nup:\n\tdocker compose -f docker/compose.yml \\\n\t  -f $(DEV) up -d\n"
    )
    report = scan(tmp_path, {"docker/compose.yml": BASE, "docker/compose.dev.yml": DEV, "Makefile": makefile})
    assert conflicts(report) != []


def test_a_variable_set_elsewhere_is_not_guessed(tmp_path: Path) -> None:
    makefile = "up:\n\tdocker compose -f docker/compose.yml -f $(OVERLAY) up -d\n"
    report = scan(tmp_path, {"docker/compose.yml": BASE, "docker/compose.dev.yml": DEV, "Makefile": makefile})
    assert conflicts(report) == []


def test_files_never_combined_stay_separate_projects(tmp_path: Path) -> None:
    report = scan(tmp_path, {"compose.yml": BASE, "compose.dev.yml": DEV})
    assert conflicts(report) == []
    hosts = {f.host for f in report.facts if isinstance(f, Listener)}
    assert hosts == {".", "compose.dev.yml"}


def test_compose_file_in_env(tmp_path: Path) -> None:
    env = "COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE=compose.yml;compose.dev.yml\n"
    report = scan(tmp_path, {"compose.yml": BASE, "compose.dev.yml": DEV, ".env": env})
    assert conflicts(report) != []


def test_a_devcontainer_compose_list(tmp_path: Path) -> None:
    devcontainer = '{\n  // JSONC\n  "name": "dev",\n  "dockerComposeFile": ["../compose.yml", "../compose.dev.yml"],\n}\n'
    files = {"compose.yml": BASE, "compose.dev.yml": DEV, ".devcontainer/devcontainer.json": devcontainer}
    report = scan(tmp_path, files)
    assert conflicts(report) != []


def test_a_base_in_two_sets_gives_two_projects_that_never_conflict(tmp_path: Path) -> None:
    """``-f base -f dev`` and ``-f base -f prod`` are alternatives: dev's repeat stands, prod is clean."""
    makefile = (
        "dev:\n\tdocker compose -f compose.yml -f compose.dev.yml up\n"
        "prod:\n\tdocker compose -f compose.yml -f compose.prod.yml up\n"
    )
    files = {"compose.yml": BASE, "compose.dev.yml": DEV, "compose.prod.yml": PROD, "Makefile": makefile}
    report = scan(tmp_path, files)
    assert len(conflicts(report)) == 1
    published = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    spaces = {f.namespace.id for f in published if f.namespace}
    assert any("compose.yml + compose.prod.yml from Makefile:4" in s for s in spaces)
    assert any("compose.yml + compose.dev.yml from Makefile:2" in s for s in spaces)


def test_a_workflow_runs_at_the_repository_root(tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: docker-compose -f compose.yml -f compose.dev.yml up -d\n"
    )
    files = {"compose.yml": BASE, "compose.dev.yml": DEV, ".github/workflows/ci.yml": workflow}
    assert conflicts(scan(tmp_path, files)) != []


def test_the_command_tokenizer() -> None:
    assert sets._options(" -f a.yml --file=b.yml --profile x up -d -f c.yml", {}) == (
        ["a.yml", "b.yml"],
        [["x"]],
        "",
    )
    assert sets._options(' -f "$A" up', {"A": ["a.yml"]}) == (["a.yml"], [], "")
    assert sets._options(" -f ${B} up", {}) is None
    assert sets._options(" --project-directory deploy -f a.yml && rm -rf /", {}) == (
        ["a.yml"],
        [],
        "deploy",
    )
    # a variable set in two branches: the file takes the last value, a profile either
    assigned = {"F": ["a.yml", "b.yml"], "P": ["api", "worker"]}
    assert sets._options(" -f $F --profile $P --profile db up", assigned) == (
        ["b.yml"],
        [["api", "worker"], ["db"]],
        "",
    )
    assert list(sets._combinations([["api", "worker"], ["db"]])) == [{"api", "db"}, {"worker", "db"}]


# -- hostile input -----------------------------------------------------------------------------


def test_a_list_of_ten_thousand_files_is_not_merged(tmp_path: Path) -> None:
    names = " ".join(f"-f f{i}.yml" for i in range(10_000))
    write_tree(tmp_path, {"compose.yml": BASE, "run.sh": f"docker compose -f compose.yml {names} up\n"})
    run = run_bounded("facts", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    assert "they are not merged" in run.stdout


def test_a_set_naming_itself_is_read_once(tmp_path: Path) -> None:
    report = scan(
        tmp_path, {"compose.yml": BASE, "run.sh": "docker compose -f compose.yml -f ./compose.yml up\n"}
    )
    assert conflicts(report) == []
    published = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    assert len(published) == 1


def test_include_cycles_are_refused_with_a_message(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "include: [a.yml]\nservices:\n  web:\n    image: x\n",
        "a.yml": "include: [compose.yaml]\nservices:\n  a:\n    image: x\n",
    }
    write_tree(tmp_path, files)
    run = run_bounded("check", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    assert "PP000" in run.stdout and "include cycle (compose.yaml -> a.yml -> compose.yaml)" in run.stdout


def test_extends_cycles_across_files_are_refused_with_a_message(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    extends: {file: b.yml, service: b}\n",
        "b.yml": "services:\n  b:\n    image: x\n    extends: {file: compose.yaml, service: web}\n",
    }
    write_tree(tmp_path, files)
    run = run_bounded("check", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    assert "PP000" in run.stdout and "extends cycle" in run.stdout


def test_an_include_outside_the_scan_is_unresolved(tmp_path: Path) -> None:
    report = scan(
        tmp_path, {"compose.yaml": "include: [/etc/compose.yml]\nservices:\n  web:\n    image: x\n"}
    )
    assert [u.reason for u in report.facts if isinstance(u, Unresolved)] == [
        "include: a path that is not literal or lies outside the project is not followed"
    ]
