"""The floor for a portpolicy run: the least work any tool reading the same tree must do.

It walks the tree (skipping ``.git``), reads every file once and composes every
``.yml``/``.yaml`` file with libyaml into nodes, fully consumed, and nothing else. A
portpolicy run cannot be faster than this by much, so ``run.py`` reports portpolicy's
time and memory as multiples of it. It prints a JSON line of counts, so the benchmark
can check it saw the same tree.

Usage: ``python benchmarks/floor.py TREE``
"""

from __future__ import annotations

import json
import os
import sys

import yaml

YAML_SUFFIXES = (".yml", ".yaml")


def walk(root: str) -> dict[str, int]:
    """Read and compose as described above; returns counts for the report."""
    counts = {"files": 0, "bytes": 0, "yaml_files": 0, "yaml_documents": 0, "yaml_errors": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                data = fh.read()
            counts["files"] += 1
            counts["bytes"] += len(data)
            if not name.lower().endswith(YAML_SUFFIXES):
                continue
            counts["yaml_files"] += 1
            text = data.decode("utf-8", errors="replace")
            try:
                for _ in yaml.compose_all(text, Loader=yaml.CSafeLoader):
                    counts["yaml_documents"] += 1
            except yaml.YAMLError:
                counts["yaml_errors"] += 1
    return counts


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("usage: python benchmarks/floor.py TREE", file=sys.stderr)
        return 2
    print(json.dumps(walk(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
