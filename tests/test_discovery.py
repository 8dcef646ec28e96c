"""Discovery and config discovery (issues #14 and #20): named paths, .gitignore, globs, configs.

Trees are written in ``tmp_path``; a ``.git`` folder makes one a repository, which is all
portpolicy (like git's own discovery) looks for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from portpolicy.config import find_config
from tests.helpers import REPO, run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

PP001_COMPOSE = "services:\n  web: {image: nginx, user: '101', network_mode: host, ports: ['80:80']}\n"
CLEAN_COMPOSE = "services:\n  web: {image: nginx, ports: ['8080:80']}\n"


def _rules(stdout: str) -> list[tuple[str, str]]:
    return sorted((f["rule"], f["path"]) for f in json.loads(stdout)["findings"])


# --- named paths -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "facts"])
def test_a_missing_path_is_exit_2_with_one_line(tmp_path: Path, command: str) -> None:
    write_tree(tmp_path, {"compose.yaml": CLEAN_COMPOSE})
    result = run_cli(command, ".", "typo/path", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "portpolicy: error: no such file or directory: typo/path\n"


def test_a_named_folder_with_nothing_to_read_is_exit_2(tmp_path: Path) -> None:
    write_tree(tmp_path, {"docs/README.md": "# docs\n", "compose.yaml": CLEAN_COMPOSE})
    result = run_cli("check", "docs", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "portpolicy: error: no file portpolicy can read under docs\n",
    )


def test_no_path_given_and_nothing_to_read_warns_and_passes_like_ruff(tmp_path: Path) -> None:
    write_tree(tmp_path, {"README.md": "# nothing here\n"})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr == "portpolicy: warning: no file portpolicy can read in .\n"


def test_only_files_named_and_none_readable_warns_for_pre_commit(tmp_path: Path) -> None:
    """pre-commit's ``portpolicy-files`` hook passes whatever matched its filter (pyproject.toml)."""
    write_tree(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n"})
    result = run_cli("check", "pyproject.toml", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr == "portpolicy: warning: no file portpolicy can read in pyproject.toml\n"


# --- .gitignore ----------------------------------------------------------------------------


def _ignoring_repo(tmp_path: Path) -> Path:
    write_tree(
        tmp_path,
        {
            ".git/info/exclude": "local-compose.yaml\n",
            ".gitignore": "build/\n*.generated.yaml\n!keep.generated.yaml\n",
            "compose.yaml": CLEAN_COMPOSE,
            "build/compose.yaml": PP001_COMPOSE,
            "a.generated.yaml": PP001_COMPOSE,
            "keep.generated.yaml": CLEAN_COMPOSE,
            "local-compose.yaml": PP001_COMPOSE,
            "sub/.gitignore": "compose.override.yaml\n",
            "sub/compose.yaml": CLEAN_COMPOSE,
            "sub/compose.override.yaml": PP001_COMPOSE,
            "other/compose.override.yaml": CLEAN_COMPOSE,
        },
    )
    return tmp_path


def test_gitignore_files_apply_to_their_own_subtree_like_git(tmp_path: Path) -> None:
    report = scan_tree(_ignoring_repo(tmp_path))
    assert sorted(report.files) == [
        "compose.yaml",
        "keep.generated.yaml",
        "other/compose.override.yaml",
        "sub/compose.yaml",
    ]
    assert report.findings == []
    assert ("build", "ignored by .gitignore") in {(s.path, s.reason) for s in report.skipped}


def test_gitignore_applies_when_a_subfolder_is_scanned(tmp_path: Path) -> None:
    _ignoring_repo(tmp_path)
    write_tree(tmp_path, {"sub/deep/x.generated.yaml": PP001_COMPOSE, "sub/deep/compose.yaml": CLEAN_COMPOSE})
    result = run_cli("check", "--format", "json", "sub/deep", cwd=tmp_path)
    assert result.returncode == 0 and _rules(result.stdout) == []


def test_no_respect_gitignore_scans_everything(tmp_path: Path) -> None:
    _ignoring_repo(tmp_path)
    result = run_cli("check", "--format", "json", "--no-respect-gitignore", cwd=tmp_path)
    assert result.returncode == 1
    # sub/compose.override.yaml (ignored by sub/.gitignore) is read: Compose merges it into
    # sub/compose.yaml (the default pair), whose port 80 its host network and user 101 meet
    assert {p for _, p in _rules(result.stdout)} == {
        "a.generated.yaml",
        "build/compose.yaml",
        "local-compose.yaml",
        "sub/compose.yaml",
    }
    assert json.loads(result.stdout)["summary"]["files"] == 8  # every compose file, ignored ones too
    write_tree(tmp_path, {".portpolicy.yml": "respect-gitignore: false\n"})
    assert run_cli("check", cwd=tmp_path).returncode == 1


def test_gitignore_outside_a_repository_is_not_applied(tmp_path: Path) -> None:
    write_tree(tmp_path, {".gitignore": "compose.yaml\n", "compose.yaml": PP001_COMPOSE})
    assert [f.rule for f in scan_tree(tmp_path).findings] == ["PP001"]


def test_a_named_file_is_scanned_even_when_gitignored(tmp_path: Path) -> None:
    _ignoring_repo(tmp_path)
    result = run_cli("check", "--format", "json", "build/compose.yaml", cwd=tmp_path)
    assert _rules(result.stdout) == [("PP001", "build/compose.yaml")]


def test_a_hostile_gitignore_pattern_runs_in_linear_time(tmp_path: Path) -> None:
    """``*a*a*a…b`` backtracks exponentially in Python's re; the patterns run on RE2."""
    name = "a" * 60 + ".yaml"
    write_tree(
        tmp_path, {".git/HEAD": "ref: x\n", ".gitignore": "*a" * 30 + "b\n[\n!\n", name: CLEAN_COMPOSE}
    )
    report = scan_tree(tmp_path)
    assert report.files == [name]


# --- exclude / per-file-ignores ----------------------------------------------------------


def test_exclude_star_stays_within_one_folder(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "exclude: ['a/*.yaml', 'generated.yaml']\n",
            "a/compose.yaml": PP001_COMPOSE,
            "a/b/compose.yaml": PP001_COMPOSE,
            "x/y/generated.yaml": PP001_COMPOSE,
        },
    )
    report = scan_tree(tmp_path)
    assert report.files == ["a/b/compose.yaml"]
    assert {(s.path, s.reason) for s in report.skipped} == {
        ("a/compose.yaml", "excluded by config"),
        ("x/y/generated.yaml", "excluded by config"),
        (".portpolicy.yml", "portpolicy configuration"),
    }


def test_per_file_ignores_use_the_same_globs(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "per-file-ignores:\n  'a/*.yaml': [PP001]\n",
            "a/compose.yaml": PP001_COMPOSE,
            "a/b/compose.yaml": PP001_COMPOSE,
        },
    )
    assert [f.location.path for f in scan_tree(tmp_path).findings] == ["a/b/compose.yaml"]


def test_exclude_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": "exclude: [deploy/old/]\n",
            "deploy/old/compose.yaml": PP001_COMPOSE,
            "deploy/new/compose.yaml": CLEAN_COMPOSE,
        },
    )
    result = run_cli("check", "--format", "json", ".", cwd=tmp_path / "deploy")
    assert result.returncode == 0 and _rules(result.stdout) == []


def test_a_bad_exclude_pattern_is_exit_2(tmp_path: Path) -> None:
    write_tree(tmp_path, {".portpolicy.yml": "exclude: ['!']\n", "compose.yaml": CLEAN_COMPOSE})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(
        f"portpolicy: error: {tmp_path / '.portpolicy.yml'}: exclude: "
    )


# --- config discovery --------------------------------------------------------------------


def test_config_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write_tree(tmp_path, {".portpolicy.yml": "ignore: [PP001]\n", "repo/compose.yaml": PP001_COMPOSE})
    assert run_cli("check", cwd=tmp_path / "repo").returncode == 0  # the control: found above
    (tmp_path / "repo/.git").mkdir()
    result = run_cli("check", cwd=tmp_path / "repo")
    assert result.returncode == 1 and "PP001" in result.stdout


def test_config_in_the_repository_root_is_used(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {".git/HEAD": "", ".portpolicy.yml": "ignore: [PP001]\n", "a/b/compose.yaml": PP001_COMPOSE}
    )
    assert find_config([str(tmp_path / "a/b")]) == tmp_path / ".portpolicy.yml"
    assert run_cli("check", "a/b", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("folder_mode", "file_mode", "why"),
    [
        (0o777, 0o644, "its folder {folder} is writable by others than its owner"),
        (0o1777, 0o644, "its folder {folder} is writable by others than its owner"),  # /tmp
        (0o755, 0o666, "the file is writable by others than its owner"),
    ],
)
def test_a_config_others_may_write_is_ignored_and_said_under_verbose(
    tmp_path: Path, folder_mode: int, file_mode: int, why: str
) -> None:
    shared = tmp_path / "shared"
    write_tree(shared, {".portpolicy.yml": "ignore: [PP001]\n", "repo/compose.yaml": PP001_COMPOSE})
    (shared / ".portpolicy.yml").chmod(file_mode)
    shared.chmod(folder_mode)
    try:
        result = run_cli("check", "-v", cwd=shared / "repo")
    finally:
        shared.chmod(0o755)
    assert result.returncode == 1 and "PP001" in result.stdout
    note = f"portpolicy: ignored config {shared / '.portpolicy.yml'}: {why.format(folder=shared)}"
    assert note in result.stderr.splitlines()


def test_find_config_reports_what_it_passed_over(tmp_path: Path) -> None:
    write_tree(tmp_path, {".portpolicy.yml": "ignore: [PP001]\n", "repo/x.txt": ""})
    (tmp_path / ".portpolicy.yml").chmod(0o646)
    notes: list[str] = []
    assert find_config([str(tmp_path / "repo")], notes) is None
    assert notes[0] == (
        f"ignored config {tmp_path / '.portpolicy.yml'}: the file is writable by others than its owner"
    )


def test_a_config_that_is_a_symbolic_link_is_ignored(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"elsewhere/cfg.yml": "ignore: [PP001]\n", "repo/.git/HEAD": "", "repo/compose.yaml": PP001_COMPOSE},
    )
    (tmp_path / "repo/.portpolicy.yml").symlink_to(tmp_path / "elsewhere/cfg.yml")
    result = run_cli("check", "-v", cwd=tmp_path / "repo")
    assert result.returncode == 1
    assert "it is a symbolic link (a config found by searching must be a regular file)" in result.stderr


def test_a_group_writable_config_of_the_owners_private_group_is_trusted(tmp_path: Path) -> None:
    """``umask 002`` (Debian, Ubuntu): the group is the owner's own; root's group here."""
    import grp
    import pwd

    owner = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid())
    if group.gr_name != owner or set(group.gr_mem) - {owner}:
        pytest.skip("this user's primary group is not a private group")
    write_tree(
        tmp_path, {".git/HEAD": "", ".portpolicy.yml": "ignore: [PP001]\n", "compose.yaml": PP001_COMPOSE}
    )
    (tmp_path / ".portpolicy.yml").chmod(0o664)
    tmp_path.chmod(0o775)
    assert run_cli("check", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("pyproject.toml", "[tool.portpolicy\nignore = ['PP001']\n", "pyproject.toml:1: invalid TOML: "),
        (".portpolicy.yml", "ignore: [PP001\nexclude: []\n", ".portpolicy.yml:2: config is not valid YAML: "),
        (
            ".portpolicy.yml",
            "platform: linux\nexlude: [a]\n",
            ".portpolicy.yml:2: unknown config key 'exlude' (did you mean 'exclude'?)",
        ),
        (
            "pyproject.toml",
            "[tool.ruff]\nexclude = []\n[tool.portpolicy]\nexlude = ['a']\n",
            "pyproject.toml:4: unknown config key 'exlude' (did you mean 'exclude'?)",
        ),
        (
            "pyproject.toml",
            "[tool]\nportpolicy = 3\n",
            "pyproject.toml: [tool.portpolicy] must be a table of settings",
        ),
    ],
)
def test_a_broken_config_is_exit_2_naming_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    write_tree(tmp_path, {name: text, "compose.yaml": PP001_COMPOSE})
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"portpolicy: error: {tmp_path}/{message}"), result.stderr


def test_a_config_alias_bomb_is_exit_2_not_a_hang(tmp_path: Path) -> None:
    lines = ["x: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    write_tree(tmp_path, {".portpolicy.yml": "\n".join(lines) + "\n", "compose.yaml": CLEAN_COMPOSE})
    result = run_bounded("check", cwd=tmp_path, timeout=30)
    assert not result.crashed and result.returncode == 2
    assert result.stderr.endswith("config expands to more than 100000 values (YAML aliases?)\n")


def test_a_pyproject_without_a_portpolicy_section_is_passed_over(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n", "compose.yaml": PP001_COMPOSE})
    assert run_cli("check", cwd=tmp_path).returncode == 1


# --- this repository ---------------------------------------------------------------------


def test_this_repository_checks_clean_and_its_examples_still_show_their_problems() -> None:
    """The root .portpolicy.yml excludes the fixtures and examples; each has its own config."""
    own = run_cli("check", cwd=REPO)
    assert own.returncode == 0, own.stdout[-2000:]
    examples = run_cli("check", "--format", "json", "examples", cwd=REPO)
    assert examples.returncode == 1 and len(json.loads(examples.stdout)["findings"]) == 16
    fixtures = run_cli("check", "--format", "json", "tests/fixtures/nginx", cwd=REPO)
    assert json.loads(fixtures.stdout)["findings"]


COMPOSE_CONFLICT = "services:\n  a:\n    image: x/a:1\n    ports: ['8080:80']\n  b:\n    image: x/b:1\n    ports: ['8080:81']\n"


@pytest.mark.parametrize("mark", ["modules.txt", "autoload.php"])
def test_a_dependency_managers_vendor_folder_is_passed_over(tmp_path: Path, mark: str) -> None:
    """Go's ``go mod vendor`` and Composer copy other projects (compose-go's test fixtures) into vendor/."""
    write_tree(tmp_path, {f"vendor/{mark}": "", "vendor/github.com/x/y/full-example.yml": COMPOSE_CONFLICT})
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert any(s.path.endswith("vendor") and "dependency" in s.reason for s in report.skipped)


def test_a_vendor_folder_of_configs_is_scanned(tmp_path: Path) -> None:
    write_tree(tmp_path, {"deploy/vendor/compose.yaml": COMPOSE_CONFLICT})
    assert [f.rule for f in scan_tree(tmp_path).findings] == ["PP004"]
