"""``portpolicy check`` with the Ansible stage switched off: the benchmark's measure of its cost.

The difference between this step and ``check`` is what evaluating the tree's plays, roles,
variables and templates costs (the issue asks for the cost of variable resolution to be
measured). Everything else runs as in ``check``; the Ansible files are then read by the
per-file readers, as they would be without the stage.

Usage: ``python benchmarks/without_ansible.py PORTPOLICY-CHECK-ARGS...``
"""

from __future__ import annotations

import sys

from portpolicy import cli
from portpolicy.ansible import project


def _no_stage(paths: object, config: object) -> project.Result:
    return project.Result()


if __name__ == "__main__":
    project.run = _no_stage  # type: ignore[assignment]
    sys.exit(cli.main(sys.argv[1:]))
