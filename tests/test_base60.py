"""PP020: unquoted compose port mappings that YAML 1.1 reads as base-60 integers.

PyYAML is the YAML 1.1 loader the issue names (and Compose v1's), so it is the oracle for
the reading the message quotes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from portpolicy.model import Listener, YamlAmbiguity
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded


def compose(ports: str, expose: str = "") -> str:
    text = f"services:\n  git:\n    image: gitea/gitea:1.22\n    ports:\n{ports}"
    return text + (f"    expose:\n{expose}" if expose else "")


def pp020(root: Path) -> list[tuple[int, str]]:
    return [(f.location.line, f.message) for f in scan_tree(root).findings if f.rule == "PP020"]


@pytest.mark.parametrize("entry", ["2222:22", "22:22", "1:2:3", "+1_0:59", "10:05", "190:0"])
def test_the_yaml11_reading_is_pyyamls(tmp_path: Path, entry: str) -> None:
    write_tree(tmp_path, {"compose.yaml": compose(f"      - {entry}\n")})
    ((line, message),) = pp020(tmp_path)
    reading = yaml.safe_load(entry)
    assert isinstance(reading, int)
    assert line == 5
    assert f"base-60 integer {reading};" in message
    assert f'the string "{entry}"' in message and f'quote it: "{entry}"' in message


@pytest.mark.parametrize(
    "entry",
    [
        '"2222:22"',  # quoted: a string everywhere
        "'2222:22'",
        "!!str 2222:22",  # an explicit tag decides
        "8080:80",  # 80 is no base-60 digit: a string in YAML 1.1 too
        "3000:3000",
        "127.0.0.1:2222:22",
        "53:53/udp",
        "2222",
        "0:22",  # a leading 0 is no base-60 number
        "${SSH_PORT:-2222}:22",
    ],
)
def test_what_every_loader_reads_alike(tmp_path: Path, entry: str) -> None:
    write_tree(tmp_path, {"compose.yaml": compose(f"      - {entry}\n")})
    assert pp020(tmp_path) == []
    reading = yaml.safe_load(entry.replace("${SSH_PORT:-2222}", "x"))
    assert not isinstance(reading, int) or str(reading) == entry  # a number reads as written


def test_expose_and_long_syntax(tmp_path: Path) -> None:
    text = compose("      - target: 22\n        published: 2222\n", expose="      - 1:30\n")
    write_tree(tmp_path, {"compose.yaml": text})
    ((line, message),) = pp020(tmp_path)
    assert line == 8 and "services.git.expose" in message and "base-60 integer 90;" in message


def test_the_listeners_stay_compose_v2s(tmp_path: Path) -> None:
    """Compose v2 publishes host port 2222 to container port 22: the fact is a note beside it."""
    write_tree(tmp_path, {"compose.yaml": compose("      - 2222:22\n")})
    facts = scan_tree(tmp_path).facts
    published = [f for f in facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    assert [(f.ports.start, f.forwards_to and f.forwards_to.start) for f in published] == [(2222, 22)]
    (note,) = [f for f in facts if isinstance(f, YamlAmbiguity)]
    assert (note.value, note.yaml11_reading, note.context) == ("2222:22", "133342", "services.git.ports")


def test_cli_reports_it_at_info(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": compose("      - 2222:22\n")})
    done = run_cli("check", "--no-config", "--format", "json", ".", cwd=tmp_path)
    assert '"PP020"' in done.stdout, done.stderr
    assert '"severity": "info"' in done.stdout


def test_a_huge_base60_scalar_is_left_alone(tmp_path: Path) -> None:
    """A hostile 100,000-digit scalar: no conversion (Python refuses int() past 4300 digits)."""
    write_tree(tmp_path, {"compose.yaml": compose(f"      - {'1' * 100_000}:22\n      - 2222:22\n")})
    run = run_bounded("check", "--no-config", ".", cwd=tmp_path)
    assert not run.crashed
    assert run.stdout.count("PP020") == 1 and "133342" in run.stdout
