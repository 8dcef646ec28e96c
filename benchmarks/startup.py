"""Start-up: a one-file check against ``python -c "import yaml"`` in the same run (#13).

A pre-commit hook checks one or two files per commit, so what it costs is mostly start-up.
The floor is the interpreter starting and importing PyYAML, which every YAML tool pays.
Three steps, interleaved round by round so that a slow spell of a shared machine hits them
alike, each run through ``run.py``'s launcher (a fresh interpreter per run):

- ``yaml``: ``python -c "import yaml"``;
- ``sysctl``: ``python -m portpolicy check etc/sysctl.d/99-ports.conf``;
- ``compose``: ``python -m portpolicy check compose.yaml``.

The best of ``--repeat`` wall times is reported for each, and each check's ratio to the
floor; the best CPU times too, steadier where other work loads the machine. Bytecode is
cached in a temporary ``PYTHONPYCACHEPREFIX``, as an installed package has its ``.pyc``
files (``--no-bytecode-cache`` measures the environment as it is). The files are written
to a temporary directory; nothing else is written.

``--against DIR`` adds the two checks run with another checkout of portpolicy (a ``git
worktree`` of an earlier commit) in the same rounds, so a change is measured before and
after against one floor, on a machine whose load moves.

Usage: ``python benchmarks/startup.py [--repeat 20] [--json FILE] [--against DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import date

from run import PY, child_env, measure

SYSCTL = "net.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.ip_unprivileged_port_start = 1024\n"
COMPOSE = (
    'services:\n  web:\n    image: nginx:1.25\n    ports:\n      - "8080:80"\n  db:\n    image: postgres:16\n'
)
FILES = {"etc/sysctl.d/99-ports.conf": SYSCTL, "compose.yaml": COMPOSE}
STEPS = {
    "yaml": [PY, "-c", "import yaml"],
    "sysctl": [PY, "-m", "portpolicy", "check", "--no-config", "etc/sysctl.d/99-ports.conf"],
    "compose": [PY, "-m", "portpolicy", "check", "--no-config", "compose.yaml"],
}


def write_files(root: str) -> None:
    for rel, text in FILES.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def best_walls(
    root: str, env: dict[str, str], repeat: int, against: dict[str, str] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """The best wall time of each step over ``repeat`` interleaved rounds (one warm-up first).

    With ``against`` (another checkout's environment), its sysctl and compose checks run
    in the same rounds, as ``sysctl@against`` and ``compose@against``. Also the best CPU time
    (user + system) of each step: on a machine other work loads, the steadier figure.
    """
    steps = [(name, argv, env) for name, argv in STEPS.items()]
    if against is not None:
        steps += [(f"{name}@against", STEPS[name], against) for name in ("sysctl", "compose")]
    best = {name: float("inf") for name, _, _ in steps}
    cpu = dict(best)
    for round_ in range(repeat + 1):
        for name, argv, step_env in steps:
            sample, stderr = measure(argv, root, step_env)
            if sample.returncode != 0:
                raise SystemExit(f"{name} exited {sample.returncode}: {stderr}")
            if round_:  # the first round fills the bytecode cache
                best[name] = min(best[name], sample.wall)
                cpu[name] = min(cpu[name], sample.cpu)
    return best, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds (default 20); the best is kept")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="measure without cached .pyc")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="also time the checks with the portpolicy checkout in DIR (same rounds)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portpolicy-startup-") as root:
        write_files(root)
        pycache = None if args.no_bytecode_cache else os.path.join(root, ".pycache")
        env = child_env(pycache)
        against = None
        if args.against:
            against = dict(env, PYTHONPATH=os.path.abspath(args.against))
        best, cpu = best_walls(root, env, args.repeat, against)
    floor = best["yaml"]
    result = {
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": args.repeat,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "against": os.path.abspath(args.against) if args.against else None,
        "best_ms": {name: round(wall * 1000, 1) for name, wall in best.items()},
        "ratio": {name: round(wall / floor, 2) for name, wall in best.items() if name != "yaml"},
        "best_cpu_ms": {name: round(t * 1000, 1) for name, t in cpu.items()},
        "cpu_ratio": {name: round(t / cpu["yaml"], 2) for name, t in cpu.items() if name != "yaml"},
    }
    width = max(len(name) for name in best)
    print(f"{'step':<{width}} {'best ms':>8} {'x floor':>8} {'CPU ms':>8} {'x floor':>8}")
    for name, wall in best.items():
        print(
            f"{name:<{width}} {wall * 1000:8.1f} {wall / floor:8.2f} {cpu[name] * 1000:8.1f} {cpu[name] / cpu['yaml']:8.2f}"
        )
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
