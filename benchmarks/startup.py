"""Start-up: a one-file check against ``python -c "import yaml"`` in the same run (#13).

A pre-commit hook checks one or two files per commit, so what it costs is mostly start-up.
The floor is the interpreter starting and importing PyYAML, which every YAML tool pays.
Three steps, interleaved round by round so that a slow spell of a shared machine hits them
alike, each run through ``run.py``'s launcher (a fresh interpreter per run):

- ``yaml``: ``python -c "import yaml"``;
- ``sysctl``: ``python -m portpolicy check etc/sysctl.d/99-ports.conf``;
- ``compose``: ``python -m portpolicy check compose.yaml``.

The best of ``--repeat`` wall times is reported for each, and each check's ratio to the
floor. Bytecode is cached in a temporary ``PYTHONPYCACHEPREFIX``, as an installed package
has its ``.pyc`` files (``--no-bytecode-cache`` measures the environment as it is). The
files are written to a temporary directory; nothing else is written.

Usage: ``python benchmarks/startup.py [--repeat 20] [--json FILE]``
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


def best_walls(root: str, env: dict[str, str], repeat: int) -> dict[str, float]:
    """The best wall time of each step over ``repeat`` interleaved rounds (one warm-up first)."""
    best = dict.fromkeys(STEPS, float("inf"))
    for round_ in range(repeat + 1):
        for name, argv in STEPS.items():
            sample, stderr = measure(argv, root, env)
            if sample.returncode != 0:
                raise SystemExit(f"{name} exited {sample.returncode}: {stderr}")
            if round_:  # the first round fills the bytecode cache
                best[name] = min(best[name], sample.wall)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds (default 20); the best is kept")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="measure without cached .pyc")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portpolicy-startup-") as root:
        write_files(root)
        pycache = None if args.no_bytecode_cache else os.path.join(root, ".pycache")
        best = best_walls(root, child_env(pycache), args.repeat)
    floor = best["yaml"]
    result = {
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": args.repeat,
        "best_ms": {name: round(wall * 1000, 1) for name, wall in best.items()},
        "ratio": {name: round(wall / floor, 2) for name, wall in best.items() if name != "yaml"},
    }
    print(f"{'step':<8} {'best ms':>8} {'x floor':>8}")
    for name, wall in best.items():
        print(f"{name:<8} {wall * 1000:8.1f} {wall / floor:8.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
