"""YAML whose ``services`` cannot be a top-level key is not composed for the compose reader (#13).

The compose sniff said yes to any text holding ``services``, so every GitHub workflow with
job services (``jobs.<id>.services``) was composed only for ``claims`` to say no. A top-level
``services`` key starts its line, except where the top level is a flow mapping, an explicit
``?`` key, indented as a whole, or merges keys from an anchor: those still pass the sniff,
and compose files of every such shape are still read (checked through the command line).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portpolicy import recognise
from portpolicy.signatures.compose import looks
from tests.helpers import write_tree

COMPOSE_SHAPES = {
    "plain.yml": 'services:\n  web:\n    image: nginx\n    ports: ["8001:80"]\n',
    "quoted.yml": '"services":\n  web: {image: nginx, ports: ["8002:80"]}\n',
    "flow.yml": '{services: {web: {image: nginx, ports: ["8003:80"]}}}\n',
    "flow-lines.yml": '{\n  "services": {\n    "web": {"image": "nginx", "ports": ["8004:80"]}\n  }\n}\n',
    "indented.yml": '# a comment\n  services:\n    web:\n      image: nginx\n      ports: ["8005:80"]\n',
    "second-doc.yml": 'x-a: 1\n---\n   services:\n     web: {image: nginx, ports: ["8006:80"]}\n',
    "merged.yml": 'x-base: &base\n  services:\n    web: {image: nginx, ports: ["8007:80"]}\n<<: *base\n',
    "explicit.yml": '? services\n: web: {image: nginx, ports: ["8008:80"]}\n',
    "anchored.yml": '&top services:\n  web: {image: nginx, ports: ["8009:80"]}\n',
    "crlf.yml": 'services:\r\n  web:\r\n    image: nginx\r\n    ports: ["8010:80"]\r\n',
}
NOT_TOP = {
    "workflow.yml": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    services:\n"
    "      pg:\n        image: postgres:16\n        ports: ['5432:5432']\n",
    "playbook.yml": "- hosts: all\n  tasks:\n    - name: services\n      ansible.builtin.service:\n"
    "        name: nginx\n",
    "docs.yml": "title: our services\nitems:\n  - services: 3\n",
}


@pytest.mark.parametrize("name", sorted(COMPOSE_SHAPES))
def test_every_top_level_shape_passes_the_sniff(name: str) -> None:
    text = COMPOSE_SHAPES[name]
    assert looks(text)
    assert recognise.recognise(f"deploy/{name}", text).sniff_yaml


@pytest.mark.parametrize("name", sorted(NOT_TOP))
def test_services_below_the_top_level_is_not_composed(name: str) -> None:
    found = recognise.recognise(f".github/workflows/{name}", NOT_TOP[name])
    assert not looks(NOT_TOP[name])
    assert not found.sniff_yaml and found.reason == recognise.UNRECOGNISED_YAML


def test_compose_files_of_every_shape_are_still_read(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"deploy/{name}": text for name, text in {**COMPOSE_SHAPES, **NOT_TOP}.items()})
    result = subprocess.run(
        [sys.executable, "-m", "portpolicy", "facts", "--no-config", "--format", "json", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listeners = json.loads(result.stdout)["listeners"]
    ports = {(entry["location"].split(":", 1)[0], entry["ports"]) for entry in listeners}
    expected = {(f"deploy/{name}", str(8000 + i)) for i, name in enumerate(COMPOSE_SHAPES, start=1)}
    assert expected <= ports, sorted(ports)
    assert not {p for p, _ in ports if p.endswith(tuple(NOT_TOP))}
