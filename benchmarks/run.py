"""Benchmark portpolicy on a synthetic infra monorepo against the floor and start-up costs.

Each step runs as its own child process, so the wall time and peak RSS are that step's
alone (``os.wait4`` gives the child's rusage; ``ru_maxrss`` is KiB on Linux). Linux folds
the *spawning* process's resident set into a child's ``ru_maxrss`` (at ``exec``, the old
address space, a copy or a ``vfork`` share of the parent's, counts), so the steps are not
spawned from this script, which holds far more memory than ``python -c pass`` needs: a
minimal ``python -S`` launcher (about 11 MiB, below every step) spawns each one with
``subprocess.Popen``, reaps it with ``os.wait4`` and hands back the figures.

- ``floor``: ``benchmarks/floor.py`` walks the tree, reads every file and composes the YAML;
- ``check``: ``python -m portpolicy check TREE --format json -o /dev/null --fail-on never``;
- ``no-ansible``: the same check with the Ansible stage switched off
  (``benchmarks/without_ansible.py``): the difference is what variable resolution and
  running the plays cost;
- ``check-jobs1``: ``check`` with ``--jobs 1``: no worker process at all (``check`` itself
  uses the default, one process per CPU);
- ``cache-warm``: ``check --cache DIR`` with the cache filled by an unmeasured run first:
  a repeated run on an unchanged tree;
- ``cache-warm-no-ansible``: the same without the Ansible stage, which the cache does not
  cover: what is left of a warm run besides it;
- ``version``: ``python -m portpolicy --version`` (import and argument parsing only);
- ``one-file``: ``python -m portpolicy check <one compose.yaml> --fail-on never``;
- ``python``: ``python -c pass``, the interpreter's own start-up.

Python bytecode is cached in a temporary ``PYTHONPYCACHEPREFIX`` (and
``PYTHONDONTWRITEBYTECODE`` dropped), as an installed package has its ``.pyc`` files: without
it every run recompiles portpolicy from source, which is not what users pay. The repository
is never written to; ``--no-bytecode-cache`` measures the environment as it is instead.

Steps are interleaved round by round, so drift on a shared machine hits them alike, and
the median of ``--repeat`` rounds is reported. One round of ``check`` writes its JSON
report to a file instead of ``/dev/null``, for the file and finding counts.

Usage: ``python benchmarks/run.py [--files 20000] [--repeat 3] [--keep DIR] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable

# Runs as ``python -S -c LAUNCHER OUT ARGV...``; kept tiny, as its own RSS is a lower bound
# of every figure it reports. Writes "wall cpu maxrss_kib returncode launcher_kib" to OUT.
LAUNCHER = """
import os, subprocess, sys, time
out, argv = sys.argv[1], sys.argv[2:]
try:
    with open("/proc/self/status") as fh:
        own = next((int(x.split()[1]) for x in fh if x.startswith("VmHWM:")), 0)
except OSError:
    own = 0
start = time.perf_counter()
proc = subprocess.Popen(argv)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
proc.returncode = os.waitstatus_to_exitcode(status)
with open(out, "w") as fh:
    fh.write(f"{wall!r} {usage.ru_utime + usage.ru_stime!r} {usage.ru_maxrss} {proc.returncode} {own}")
"""


@dataclass
class Sample:
    """One run of one step."""

    wall: float
    cpu: float
    maxrss_kib: int
    returncode: int
    launcher_kib: int


@dataclass
class Step:
    """A command to measure, and its samples."""

    name: str
    label: str
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(s, attr) for s in self.samples))


def child_env(pycache: str | None) -> dict[str, str]:
    """The steps' environment: portpolicy importable from this checkout, bytecode cached or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def measure(
    argv: list[str], cwd: str, env: dict[str, str], stdout_path: str | None = None
) -> tuple[Sample, str]:
    """Run ``argv`` to completion through the launcher; returns its figures and the step's stderr."""
    fd, figures = tempfile.mkstemp(prefix="portpolicy-bench-")
    os.close(fd)
    try:
        with (
            tempfile.TemporaryFile() as err,
            open(stdout_path or os.devnull, "wb") as out,
        ):
            launcher = [PY, "-S", "-c", LAUNCHER, figures, *argv]
            subprocess.run(
                launcher, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, check=True
            )
            err.seek(0)
            stderr = err.read().decode("utf-8", errors="replace")
        with open(figures, encoding="utf-8") as fh:
            wall, cpu, maxrss, returncode, own = fh.read().split()
    finally:
        os.unlink(figures)
    return Sample(float(wall), float(cpu), int(maxrss), int(returncode), int(own)), stderr


def prepare_tree(args: argparse.Namespace) -> tuple[str, bool]:
    """The tree to scan and whether to delete it afterwards; generates it when needed."""
    if args.keep:
        tree = os.path.abspath(args.keep)
        if os.path.isdir(tree) and os.listdir(tree):
            print(f"reusing {tree}", file=sys.stderr)
            return tree, False
        cleanup = False
    else:
        tree = tempfile.mkdtemp(prefix="portpolicy-bench-")
        os.rmdir(tree)
        cleanup = True
    cmd = [PY, os.path.join(HERE, "generate.py"), tree, "--files", str(args.files), "--seed", str(args.seed)]
    print(f"generating {args.files} files into {tree}", file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return tree, cleanup


def one_compose_file(tree: str) -> str:
    """The first ``services/*/compose.yaml`` in sorted order: a typical single-file check."""
    services = os.path.join(tree, "services")
    for name in sorted(os.listdir(services)):
        path = os.path.join(services, name, "compose.yaml")
        if os.path.isfile(path):
            return path
    raise SystemExit(f"no services/*/compose.yaml in {tree}")


def summarise_report(path: str) -> dict[str, object]:
    """Counts from portpolicy's JSON report, and up to three findings per rule to look at."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    examples: dict[str, list[str]] = {}
    for f in doc["findings"]:
        shown = examples.setdefault(f["rule"], [])
        if len(shown) < 3:
            shown.append(f"{f['path']}:{f['line']}:{f['column']}: {f['rule']} {f['message']}")
    return {"summary": doc["summary"], "examples": examples}


def mib(kib: float) -> float:
    return kib / 1024


def table(steps: list[Step]) -> str:
    head = (
        f"{'step':<11} {'wall median':>11} {'min':>7} {'max':>7} {'CPU median':>10} {'peak RSS':>10}  command"
    )
    lines = [head, "-" * len(head)]
    for s in steps:
        walls = [x.wall for x in s.samples]
        lines.append(
            f"{s.name:<11} {s.median('wall'):>10.3f}s {min(walls):>6.3f}s {max(walls):>6.3f}s "
            f"{s.median('cpu'):>9.3f}s {mib(s.median('maxrss_kib')):>7.1f} MiB  {s.label}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark portpolicy against the floor on a synthetic monorepo."
    )
    parser.add_argument("--files", type=int, default=20000, help="files to generate (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=3, help="measured rounds; the median is reported (default 3)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured rounds first, for caches (default 1)"
    )
    parser.add_argument("--keep", metavar="DIR", help="generate the tree into DIR and keep it, or reuse DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--report", metavar="FILE", help="keep portpolicy's JSON report of the tree here")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="leave PYTHONDONTWRITEBYTECODE/PYTHONPYCACHEPREFIX as they are",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    tree, cleanup = prepare_tree(args)
    report_dir = tempfile.mkdtemp(prefix="portpolicy-bench-report-")
    report_path = os.path.abspath(args.report) if args.report else os.path.join(report_dir, "report.json")
    env = child_env(None if args.no_bytecode_cache else os.path.join(report_dir, "pycache"))
    one = one_compose_file(tree)
    pp = [PY, "-m", "portpolicy"]
    quiet = ["--format", "json", "-o", os.devnull, "--fail-on", "never"]
    cache_dir = os.path.join(report_dir, "cache")
    no_ansible = [PY, os.path.join(HERE, "without_ansible.py")]
    steps = [
        Step("floor", "python benchmarks/floor.py TREE", [PY, os.path.join(HERE, "floor.py"), tree]),
        Step(
            "check",
            "python -m portpolicy check TREE --format json -o /dev/null --fail-on never",
            [*pp, "check", tree, "--format", "json", "-o", os.devnull, "--fail-on", "never"],
        ),
        Step(
            "no-ansible",
            "python benchmarks/without_ansible.py check TREE --format json -o /dev/null --fail-on never",
            [
                PY,
                os.path.join(HERE, "without_ansible.py"),
                "check",
                tree,
                "--format",
                "json",
                "-o",
                os.devnull,
                "--fail-on",
                "never",
            ],
        ),
        Step(
            "check-jobs1",
            "python -m portpolicy check TREE --jobs 1 --format json -o /dev/null --fail-on never",
            [*pp, "check", tree, "--jobs", "1", *quiet],
        ),
        Step(
            "cache-warm",
            "python -m portpolicy check TREE --cache DIR --format json -o /dev/null --fail-on never",
            [*pp, "check", tree, "--cache", cache_dir, *quiet],
        ),
        Step(
            "cache-warm-no-ansible",
            "python benchmarks/without_ansible.py check TREE --cache DIR --format json -o /dev/null ...",
            [*no_ansible, "check", tree, "--cache", cache_dir, *quiet],
        ),
        Step("version", "python -m portpolicy --version", [*pp, "--version"]),
        Step(
            "one-file",
            f"python -m portpolicy check {os.path.relpath(one, tree)} --fail-on never",
            [*pp, "check", one, "--fail-on", "never"],
        ),
        Step("python", "python -c pass", [PY, "-c", "pass"]),
    ]
    floor_counts: dict[str, int] = {}
    try:
        filled, stderr = measure([*pp, "check", tree, "--cache", cache_dir, *quiet], cwd=tree, env=env)
        if filled.returncode != 0:
            print(f"filling the cache exited with {filled.returncode}:\n{stderr}", file=sys.stderr)
            return 1
        for round_no in range(args.warmup + args.repeat):
            measured = round_no >= args.warmup
            for step in steps:
                cmd = list(step.argv)
                capture = None
                if step.name == "check" and round_no == args.warmup:
                    cmd[cmd.index(os.devnull)] = report_path
                if step.name == "floor":
                    capture = os.path.join(report_dir, "floor.json")
                sample, stderr = measure(cmd, cwd=tree, env=env, stdout_path=capture)
                if sample.returncode != 0:
                    print(f"{step.name} exited with {sample.returncode}:\n{stderr}", file=sys.stderr)
                    return 1
                if capture:
                    with open(capture, encoding="utf-8") as fh:
                        floor_counts = json.load(fh)
                if measured:
                    step.samples.append(sample)
                if sample.maxrss_kib <= sample.launcher_kib * 1.05:
                    print(
                        f"warning: {step.name}: peak RSS {sample.maxrss_kib} KiB is not above the launcher's "
                        f"{sample.launcher_kib} KiB, so it may be the launcher's, not the step's",
                        file=sys.stderr,
                    )
            print(f"round {round_no + 1}/{args.warmup + args.repeat} done", file=sys.stderr)
        portpolicy = summarise_report(report_path)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
        if cleanup:
            shutil.rmtree(tree, ignore_errors=True)

    by_name = {s.name: s for s in steps}
    ratio_time = by_name["check"].median("wall") / by_name["floor"].median("wall")
    ratio_mem = by_name["check"].median("maxrss_kib") / by_name["floor"].median("maxrss_kib")
    summary = portpolicy["summary"]
    assert isinstance(summary, dict)
    cache = "off (environment as is)" if args.no_bytecode_cache else "on (temporary PYTHONPYCACHEPREFIX)"
    print(f"python {platform.python_version()} ({PY}), {os.cpu_count()} CPUs, bytecode cache {cache}")
    print(table(steps))
    print()
    print(f"check / floor: wall time x{ratio_time:.2f}, peak RSS x{ratio_mem:.2f}")
    for name in ("check-jobs1", "no-ansible", "cache-warm", "cache-warm-no-ansible"):
        wall = by_name[name].median("wall") / by_name["floor"].median("wall")
        rss = by_name[name].median("maxrss_kib") / by_name["floor"].median("maxrss_kib")
        print(f"{name} / floor: wall time x{wall:.2f}, peak RSS x{rss:.2f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ansible = by_name["check"].median("wall") - by_name["no-ansible"].median("wall")
    print(f"the Ansible stage (plays, roles, variables, templates): {ansible:+.3f}s of check's wall time")
    print(
        f"tree: {floor_counts.get('files')} files, {floor_counts.get('bytes', 0) / 1e6:.1f} MB, "
        f"{floor_counts.get('yaml_files')} .yml/.yaml ({floor_counts.get('yaml_errors')} not valid YAML)"
    )
    print(
        f"portpolicy: {summary['files']} files read, {summary['skipped']} skipped, {summary['hosts']} hosts, "
        f"{summary['findings']} findings {summary['by_rule']}, {summary['unresolved']} unresolved"
    )
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pyyaml": yaml.__version__,
            "libyaml": yaml.__with_libyaml__,
            "launcher_kib": max(x.launcher_kib for s in steps for x in s.samples),
        },
        "files": args.files,
        "seed": args.seed,
        "repeat": args.repeat,
        "bytecode_cache": not args.no_bytecode_cache,
        "steps": {
            s.name: {
                "command": s.label,
                "wall_median_s": s.median("wall"),
                "cpu_median_s": s.median("cpu"),
                "maxrss_median_kib": s.median("maxrss_kib"),
                "samples": [asdict(x) for x in s.samples],
            }
            for s in steps
        },
        "ratio_check_to_floor": {"wall": ratio_time, "maxrss": ratio_mem},
        "ratios_to_floor": {
            s.name: {
                "wall": s.median("wall") / by_name["floor"].median("wall"),
                "maxrss": s.median("maxrss_kib") / by_name["floor"].median("maxrss_kib"),
            }
            for s in steps
        },
        "load_average": os.getloadavg(),
        "ansible_stage_wall": ansible,
        "floor": floor_counts,
        "portpolicy": portpolicy,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
