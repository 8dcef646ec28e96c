"""Profiles as partitions: services in profiles no command starts together are separate conflict scopes.

The false positive of issue #26: two services in disjoint profiles, which the project's own
script starts on different servers (``docker compose --profile api up``), were reported as a
PP004 conflict. Compose starts a service with ``profiles:`` only when one of them is enabled
(docs.docker.com/compose/how-tos/profiles/: "Services without a profiles attribute are always
enabled"), so each profile group, with the services that have none, is a world of its own.
"""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import Listener
from portpolicy.pipeline import Report
from tests.helpers import run_cli, scan_tree, write_tree

COMPOSE = """\
services:
  api:
    image: ghcr.io/acme/api:1.2
    profiles: [api]
    ports: ["8000:8000"]
  worker:
    image: ghcr.io/acme/worker:1.2
    profiles: [worker]
    ports: ["8000:8000"]
  db:
    image: postgres:16
    ports: ["5432:5432"]
"""
APART = """\
#!/bin/sh
set -e
ssh api.example.org 'cd /srv/app && docker compose --profile api up -d'
ssh worker.example.org 'cd /srv/app && docker compose --profile worker up -d'
"""
TOGETHER = "#!/bin/sh\ndocker compose --profile api --profile worker up -d\n"


def scan(tmp_path: Path, files: dict[str, str]) -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path)


def conflicts(report: Report) -> list[str]:
    return [f"{f.location.path}:{f.location.line}" for f in report.findings if f.rule == "PP004"]


def test_profiles_started_on_different_servers_do_not_conflict(tmp_path: Path) -> None:
    report = scan(tmp_path, {"compose.yaml": COMPOSE, "deploy.sh": APART})
    assert conflicts(report) == []
    spaces = {f.service: set() for f in report.facts if isinstance(f, Listener)}
    for f in report.facts:
        if isinstance(f, Listener) and f.bound_by == "runtime" and f.namespace is not None:
            spaces[f.service].add(f.namespace.id)
    assert len(spaces["api"]) == len(spaces["worker"]) == 1
    assert spaces["api"] != spaces["worker"]
    assert spaces["db"] == spaces["api"] | spaces["worker"]  # no profile: in every scope


def test_profiles_a_script_starts_together_keep_the_conflict(tmp_path: Path) -> None:
    report = scan(tmp_path, {"compose.yaml": COMPOSE, "deploy.sh": TOGETHER})
    assert conflicts(report) == ["compose.yaml:9"]


def test_compose_profiles_in_env_starts_them_together(tmp_path: Path) -> None:
    report = scan(tmp_path, {"compose.yaml": COMPOSE, ".env": "COMPOSE_PROFILES=api,worker\n"})
    assert conflicts(report) == ["compose.yaml:9"]


def test_a_service_without_profile_conflicts_in_every_scope(tmp_path: Path) -> None:
    compose = COMPOSE.replace('"5432:5432"', '"8000:5432"')
    report = scan(tmp_path, {"compose.yaml": compose, "deploy.sh": APART})
    assert sorted(conflicts(report)) == ["compose.yaml:12"]


def test_facts_say_which_profiles_were_combined_and_why(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": COMPOSE, "deploy.sh": APART})
    out = run_cli("facts", ".", cwd=tmp_path).stdout
    assert "profile api: started without the other profiles by deploy.sh:3 (--profile api)" in out
    assert "profile worker: started without the other profiles by deploy.sh:4 (--profile worker)" in out
    write_tree(tmp_path, {"deploy.sh": TOGETHER})
    out = run_cli("facts", ".", cwd=tmp_path).stdout
    assert "profile api" not in out  # started together: one scope, the project's own


def test_thousands_of_profiles_are_not_split(tmp_path: Path) -> None:
    from tests.hostile import run_bounded

    services = "".join(
        f"  s{i}:\n    image: x\n    profiles: [p{i}]\n    ports: ['{20000 + i % 2}:80']\n"
        for i in range(3000)
    )
    write_tree(tmp_path, {"compose.yaml": "services:\n" + services})
    run = run_bounded("check", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    assert '"PP004"' in run.stdout  # not split: every service taken to run together
    facts = run_bounded("facts", ".", cwd=tmp_path)
    assert "not split into conflict scopes: 3000 profiles (over 1024)" in facts.stdout


# A base service kept out of every start by a profile nothing enables, extended by the
# services that are started (the shape of nextcloud/all-in-one's php/tests/compose.yaml).
# Compose appends the base's ``profiles`` to each child's through ``extends:`` (sequences are
# appended: docs.docker.com/reference/compose-file/merge/; TryGhost/Ghost#23171 met it), so the
# ``never`` profile holds every variant at once; the repository's script starts ``released``
# or ``workspace``, never ``never``, so ``never`` is no conflict scope of its own.

EXTENDS = Path(__file__).parent / "fixtures" / "profiles-extends"


def _copy(tmp_path: Path, drop: tuple[str, ...] = (), add: dict[str, str] | None = None) -> Path:
    root = tmp_path / "shop"
    for path in EXTENDS.rglob("*"):
        rel = path.relative_to(EXTENDS).as_posix()
        if path.is_file() and rel not in drop:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return write_tree(root, add or {})


def _pp004(stdout: str) -> list[str]:
    return [line.split(" PP004")[0].rstrip(":") for line in stdout.splitlines() if " PP004 " in line]


def test_a_profile_no_script_starts_is_no_scope_when_scripts_start_others(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    inside = run_cli("check", "--no-config", ".", cwd=root)
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert _pp004(inside.stdout) == []
    above = run_cli("check", "--no-config", "shop", cwd=tmp_path)  # from the parent: the same
    assert above.returncode == 0 and _pp004(above.stdout) == []
    facts = run_cli("facts", "--no-config", ".", cwd=root).stdout
    assert (
        "profile never: no script starts it (the tree starts its profiles by e2e/run-e2e.sh:14 and 1 more),"
        " so it is no conflict scope of its own; not checked: browser-base, shop-base, which only it starts"
    ) in facts
    for variant in ("released", "workspace"):
        assert f"[profile {variant}: started without the other profiles by e2e/run-e2e.sh:14" in facts


def test_a_script_that_starts_the_base_profile_keeps_the_conflict(tmp_path: Path) -> None:
    """The negative twin: a Makefile target does start ``never``, so Compose runs the base and
    both variants together there: each variant's published port is taken twice."""
    make = "debug-all:\n\tdocker compose -f e2e/compose.yaml --profile never up\n"
    root = _copy(tmp_path, add={"Makefile": make})
    result = run_cli("check", "--no-config", ".", cwd=root)
    assert sorted(_pp004(result.stdout)) == ["e2e/compose.yaml:11:9", "e2e/compose.yaml:37:9"]
    assert "profile never: started without the other profiles by Makefile:2" in result.stdout


def test_without_any_start_in_the_tree_each_profile_stays_a_scope(tmp_path: Path) -> None:
    """No script says how the project runs: nothing says ``never`` is never used, so its scope
    (the base with both variants) is kept, and so are its two conflicts."""
    root = _copy(tmp_path, drop=("e2e/run-e2e.sh",))
    result = run_cli("check", "--no-config", ".", cwd=root)
    assert sorted(_pp004(result.stdout)) == ["e2e/compose.yaml:11:9", "e2e/compose.yaml:37:9"]
    assert "no script starts it" not in run_cli("facts", "--no-config", ".", cwd=root).stdout


def test_a_script_starting_compose_through_a_variable_names_each_profile_it_may_start(
    tmp_path: Path,
) -> None:
    """``DC="docker compose -f ..."`` then ``$DC --profile $mode up``, ``mode`` set per branch."""
    script = (
        "#!/bin/sh\nDC='docker compose -f deploy/compose.yaml'\n"
        'if [ "$1" = api ]; then\n  mode=api\nelse\n  mode=worker\nfi\n$DC --profile $mode up -d\n'
    )
    report = scan(tmp_path, {"deploy/compose.yaml": COMPOSE, "deploy/tools/up.sh": script})
    assert conflicts(report) == []
    labels = {f.namespace.id for f in report.facts if isinstance(f, Listener) and f.namespace is not None}
    assert any("profile api: started without the other profiles by deploy/tools/up.sh:8" in x for x in labels)
    assert any(
        "profile worker: started without the other profiles by deploy/tools/up.sh:8" in x for x in labels
    )
