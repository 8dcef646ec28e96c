"""Both cores (``--jobs``): reports byte-identical to a one-process run, and no file lost.

The CLI runs in a child process (``RUNNER``) with the worker thresholds lowered, so the small
fixture trees are read by forked workers too, in chunks of a few files; the child counts its
forks, so a test that expects workers knows they ran.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portpolicy import pipeline, reading, safeio, workers
from portpolicy.config import Config
from portpolicy.discover import discover
from tests.helpers import FIXTURES, REPO, generate_tree, run_cli

RUNNER = """
import os, sys
from portpolicy import pipeline, workers
workers.READ_MIN_FILES = 1
workers.CHUNK_FILES = int(os.environ.get("PP_TEST_CHUNK", "3"))
pipeline.PARALLEL_MIN_FILES = 1
main = os.getpid()
forks = []
os.register_at_fork(before=lambda: forks.append(1))
exec(os.environ.get("PP_TEST_PRELUDE", ""))
from portpolicy import cli
try:
    code = cli.main(sys.argv[1:])
finally:
    if os.getpid() == main:
        sys.stderr.write(f"forks={len(forks)}\\n")
sys.exit(code)
"""


def run(folder: Path, *args: str, prelude: str = "") -> tuple[str, int, str]:
    """``portpolicy ARGS`` in ``folder`` with workers forced: (stdout, forks, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "PP_TEST_PRELUDE": prelude}
    env.pop("GITHUB_ACTIONS", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    forks = int(done.stderr.rsplit("forks=", 1)[1].split()[0])
    return done.stdout, forks, done.stderr


CHECK = ("check", ".", "--format", "json", "--statistics", "--fail-on", "never")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_tree(tmp_path_factory.mktemp("generated") / "tree", 600)


def trees(generated: Path) -> dict[str, Path]:
    return {"examples": REPO / "examples", "fixtures": FIXTURES, "generated": generated}


@pytest.mark.parametrize("name", ["examples", "fixtures", "generated"])
def test_reports_are_byte_identical_with_one_and_two_processes(name: str, generated: Path) -> None:
    folder = trees(generated)[name]
    alone, forks_alone, _ = run(folder, *CHECK, "--jobs", "1")
    both, forks_both, _ = run(folder, *CHECK, "--jobs", "2")
    assert forks_alone == 0  # --jobs 1: no worker, not even the Ansible stage's
    assert forks_both == 1  # one worker beside this process, forked once
    assert json.loads(alone)["summary"]["files"] > 10
    assert both == alone
    three, forks_three, _ = run(folder, *CHECK, "--jobs", "3")
    assert forks_three == 2 and three == alone


def test_the_facts_command_is_identical_too(generated: Path) -> None:
    alone, _, _ = run(generated, "facts", ".", "--format", "json", "--jobs", "1")
    both, forks, _ = run(generated, "facts", ".", "--format", "json", "--jobs", "2")
    assert forks == 1 and both == alone


def test_a_small_tree_never_forks_with_the_real_thresholds(tmp_path: Path) -> None:
    """A one-file check (pre-commit) must not pay for a worker: the real CLI, real thresholds."""
    (tmp_path / "sysctl.conf").write_text("net.ipv4.ip_local_port_range = 1024 65000\n")
    code = (
        "import os, sys\nforks = []\nos.register_at_fork(before=lambda: forks.append(1))\n"
        "from portpolicy import cli\ncode = cli.main(['check', 'sysctl.conf', '--jobs', '8'])\n"
        "print('forks', len(forks))\nsys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "forks 0" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", ""])
def test_a_bad_jobs_value_is_a_usage_error(value: str) -> None:
    done = run_cli("check", str(REPO / "examples"), "--jobs", value)
    assert done.returncode == 2
    assert "--jobs" in done.stderr and "Traceback" not in done.stderr


def test_jobs_in_the_config_file(tmp_path: Path, generated: Path) -> None:
    (tmp_path / ".portpolicy.yml").write_text("jobs: 0\n")
    (tmp_path / "sysctl.conf").write_text("net.ipv4.ip_local_port_range = 1024 65000\n")
    done = run_cli("check", ".", cwd=tmp_path)
    assert done.returncode == 2 and "jobs" in done.stderr
    config = generated / ".portpolicy.yml"
    config.write_text("jobs: 1\n")
    try:
        _, forks, _ = run(generated, *CHECK)
        assert forks == 0
        config.write_text("jobs: 2\n")
        _, forks, _ = run(generated, *CHECK)
        assert forks == 1
        _, forks, _ = run(generated, *CHECK, "--jobs", "1")  # the command line wins
        assert forks == 0
    finally:
        config.unlink()


KILL_ONE = """
import signal
from portpolicy import reading
_real = reading.read_loaded
def read_loaded(candidate, data):
    if os.getpid() != main and candidate.path.endswith(os.environ["PP_TEST_VICTIM"]):
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return _real(candidate, data)
reading.read_loaded = read_loaded
"""


def test_a_killed_worker_loses_no_file(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk of a worker killed mid-read is read again here: the same report."""
    alone, _, _ = run(generated, *CHECK, "--jobs", "1")
    files = json.loads(alone)["summary"]["files"]
    victim = "compose.yaml"  # the generated tree has one per service: several chunks hold one
    monkeypatch.setenv("PP_TEST_VICTIM", victim)
    both, forks, _ = run(generated, *CHECK, "--jobs", "3", prelude=KILL_ONE)
    assert forks == 2
    assert json.loads(both)["summary"]["files"] == files
    assert both == alone


UNPICKLABLE = """
from portpolicy import reading
_real = reading.read_loaded
class Odd:
    kind = "odd"
    def __reduce__(self):
        raise TypeError("cannot pickle this")
def read_loaded(candidate, data):
    read = _real(candidate, data)
    if os.getpid() != main and read.reader is not None:
        read.facts.append(Odd())  # unpicklable, and no fact class: the main process drops nothing
    return read
reading.read_loaded = read_loaded
"""


def test_a_result_that_does_not_pickle_is_read_again_here(generated: Path) -> None:
    alone, _, _ = run(generated, *CHECK, "--jobs", "1")
    both, forks, _ = run(generated, *CHECK, "--jobs", "2", prelude=UNPICKLABLE)
    assert forks == 1
    assert both == alone  # every worker result refused to pickle: each file read again here


def test_a_failing_ansible_stage_in_the_worker_runs_again_here(tmp_path: Path) -> None:
    """The Ansible stage in a worker that dies: the stage runs in this process, same report."""
    site = REPO / "tests" / "fixtures" / "ansible"
    alone, _, _ = run(site, *CHECK, "--jobs", "1")
    prelude = (
        "from portpolicy.ansible import project\n_run = project.run\n"
        "def run(paths, config):\n"
        "    if os.getpid() != main:\n        os._exit(9)\n"
        "    return _run(paths, config)\n"
        "project.run = run\n"
    )
    both, forks, _ = run(site, *CHECK, "--jobs", "2", prelude=prelude)
    assert forks == 1 and both == alone


THREADED = """
import os, sys, threading
from portpolicy import pipeline, workers
from portpolicy.config import Config
workers.READ_MIN_FILES = 1
pipeline.PARALLEL_MIN_FILES = 1
forks = []
os.register_at_fork(before=lambda: forks.append(1))
result = {}
def scan():
    result["report"] = pipeline.scan(["."], Config(jobs=4))
if sys.argv[1] == "thread":
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    worker = threading.Thread(target=scan)
    worker.start()
    worker.join()
    release.set()
    other.join()
else:
    scan()
print("forks", len(forks), "files", len(result["report"].files))
"""


@pytest.mark.parametrize("where", ["thread", "main"])
def test_a_threaded_caller_never_forks(where: str, generated: Path) -> None:
    """``pipeline.scan`` from a thread while another runs (the Ansible plugin, ansible-lint):
    no fork at all; from the main thread of a lone process, workers (the same code can fork)."""
    done = subprocess.run(
        [sys.executable, "-c", THREADED, where],
        cwd=generated,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    forks, files = done.stdout.split()[1], int(done.stdout.split()[3])
    assert files > 100
    assert (forks == "0") if where == "thread" else (int(forks) == 3)


def test_may_fork_is_the_one_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ansible stage's own worker asks the same question as the reading workers."""
    monkeypatch.setattr(workers, "may_fork", lambda: False)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_FILES", 1)
    assert workers.Pool.start(2) is None
    site = FIXTURES / "ansible"
    paths = [str(p) for p in site.rglob("*") if p.is_file()]
    assert pipeline._start_ansible_stage(paths, Config()) is None
    assert pipeline._start_pool(paths, Config(jobs=2)) is None


def reads(folder: Path) -> list[tuple[Any, reading.FileRead, str | None]]:
    config = Config(roots=safeio.scan_roots([str(folder)]))
    candidates, _ = discover([str(folder)], config)
    out = []
    for candidate in candidates:
        read, text = workers.read_one(candidate, config.roots, None, None)
        out.append((candidate, read, text))
    return out


def nodes(node: Any) -> Any:
    """A composed YAML node as plain data, marks included (nodes have no ``==`` of their own)."""
    if isinstance(node, list):
        return [nodes(n) for n in node]
    value = node.value
    if isinstance(value, list):
        value = [nodes(v) if not isinstance(v, tuple) else (nodes(v[0]), nodes(v[1])) for v in value]
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    return (type(node).__name__, node.tag, value, marks, getattr(node, "style", None))


@pytest.mark.parametrize("name", ["examples", "fixtures", "generated"])
def test_every_read_pickles_and_comes_back_equal(name: str, generated: Path) -> None:
    """Every fact class survives the trip from a worker; a compose file's documents are composed
    again here and equal the ones the worker composed."""
    found = reads(trees(generated)[name])
    own = {i: (c, t) for i, (c, _, t) in enumerate(found) if t is not None}
    batch = [(i, read) for i, (_, read, _) in enumerate(found)]
    back = dict(workers._unpickled(workers._pickled(batch, own)))
    pending = 0
    for index, read in batch:
        again = back[index]
        assert (again.reader, again.skip, again.suppressions) == (read.reader, read.skip, read.suppressions)
        assert len(again.facts) == len(read.facts)
        for before, after in zip(read.facts, again.facts, strict=True):
            if reading.is_pending(before):
                pending += 1
                assert vars(after).keys() == vars(before).keys()
                assert nodes(after.docs) == nodes(before.docs)
                assert after.source == before.source and after.names == before.names
            else:
                assert after == before
    assert pending > 0 or name == "examples"
    # a plain pickle of everything works too (the Ansible stage's results go that way)
    assert len(pickle.loads(pickle.dumps([r for _, r in batch]))) == len(batch)
