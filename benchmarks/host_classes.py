"""Give some inventory hosts of a generated tree their own values, so plays split into host classes.

``generate.py``'s inventories are uniform: every host of a group shares its group's values,
so each play runs once. This script adds ``host_vars/<host>.yml`` files in each
``ansible/inventories/<env>/`` of such a tree: for the first ``--per-group`` hosts of every
group, each role's ``<role>_port`` set to a value of that host's own. A play over the group
then runs once per class of hosts that agree (``ansible/project.py``'s ``_host_classes``):
``--per-group`` overridden hosts plus the rest, at most ``ansible-host-classes`` (8).

The benchmark of issue #18 compares ``check`` on the same tree before and after this, and
with the commit before per-host classes (which ran each play once whatever the hosts said).

Usage: ``python benchmarks/host_classes.py TREE [--per-group 2]`` (deterministic; rewrites
the same files when run again).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

_HOST = re.compile(r"^ {8}([\w.-]+):\s*$", re.M)
_ROLE_PORT = re.compile(r"^(\w+)_port:", re.M)


def role_port_names(tree: str) -> list[str]:
    """Every ``<role>_port`` a role's defaults define, sorted."""
    roles = os.path.join(tree, "ansible", "roles")
    names: set[str] = set()
    for role in sorted(os.listdir(roles)) if os.path.isdir(roles) else ():
        path = os.path.join(roles, role, "defaults", "main.yml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                names.update(f"{m.group(1)}_port" for m in _ROLE_PORT.finditer(fh.read()))
    return sorted(names)


def group_hosts(inventory: str) -> dict[str, list[str]]:
    """Each group's hosts, in the order ``generate.py`` writes them (``all: children: G: hosts:``)."""
    with open(inventory, encoding="utf-8") as fh:
        text = fh.read()
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("    ") and not line.startswith("     ") and line.strip().endswith(":"):
            current = line.strip()[:-1]
            groups[current] = []
        else:
            m = _HOST.match(line)
            if m and current is not None:
                groups[current].append(m.group(1))
    return groups


def add_overrides(tree: str, per_group: int) -> int:
    """Write the host_vars files; returns how many."""
    ports = role_port_names(tree)
    inventories = os.path.join(tree, "ansible", "inventories")
    written = 0
    for env in sorted(os.listdir(inventories)):
        inventory = os.path.join(inventories, env, "hosts.yml")
        if not os.path.isfile(inventory):
            continue
        host_vars = os.path.join(inventories, env, "host_vars")
        os.makedirs(host_vars, exist_ok=True)
        for group, hosts in sorted(group_hosts(inventory).items()):
            for n, host in enumerate(hosts[:per_group], start=1):
                lines = "".join(f"{name}: {20000 + 100 * n + i % 100}\n" for i, name in enumerate(ports))
                with open(os.path.join(host_vars, f"{host}.yml"), "w", encoding="utf-8") as fh:
                    fh.write(f"---\n# {host}: its own ports ({group})\n{lines}")
                written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("tree", help="a tree written by benchmarks/generate.py")
    parser.add_argument(
        "--per-group", type=int, default=2, help="hosts per group with their own values (default 2)"
    )
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.tree, "ansible", "inventories")):
        parser.error(f"{args.tree} has no ansible/inventories/ (generate it with benchmarks/generate.py)")
    count = add_overrides(args.tree, args.per_group)
    print(f"{count} host_vars files written under {args.tree}/ansible/inventories", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
