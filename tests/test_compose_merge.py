"""Compose files merged as Compose merges them, checked against the examples of its documentation.

docs.docker.com/reference/compose-file/merge/ ("Merge Compose files"):

* Mapping: "A YAML mapping gets merged by adding missing entries and merging the conflicting
  ones" (``services.foo`` with ``key1``/``key2`` and ``key2``/``key3`` gives all three, ``key2``
  from the later file);
* Sequence: "A YAML sequence is merged by appending values from the overriding Compose file
  to the previous one" (``DNS: [1.1.1.1]`` then ``[8.8.8.8]`` gives both);
* Shell commands: ``command``, ``entrypoint`` and ``healthcheck: test`` are "overridden by the
  latest Compose file, and not appended";
* Unique resources: ``ports`` entries share a unique key ``{ip, target, published,
  protocol}``; "Compose appends new entries that do not violate a uniqueness constraint and
  merge entries that share a unique key";
* Reset value: ``!reset`` removes the value the earlier file set; ``!override`` replaces it
  whole instead of merging.

And docs.docker.com/compose/how-tos/multiple-compose-files/: "By default, Compose reads two
files, a compose.yaml and an optional compose.override.yaml file".
"""

from __future__ import annotations

from pathlib import Path

from portpolicy.model import Listener, ParseError
from portpolicy.pipeline import Report
from portpolicy.readers.compose.merge import merge
from portpolicy.yamlnodes import MappingNode, Node, compose_documents, items, scalar, seq
from tests.helpers import scan_tree, write_tree


def doc(text: str) -> Node:
    return compose_documents(text)[0]


def plain(node: Node | None) -> object:
    """A merged node tree as plain Python values, to compare with the documented result."""
    if isinstance(node, MappingNode):
        return {k: plain(v) for k, _, v in items(node)}
    if scalar(node) is not None:
        return scalar(node)
    return [plain(n) for n in seq(node)]


def test_mappings_merge_as_the_documentation_example() -> None:
    merged = merge(
        doc("services:\n  foo:\n    key1: value1\n    key2: value2\n"),
        doc("services:\n  foo:\n    key2: VALUE\n    key3: value3\n"),
        (),
    )
    assert plain(merged) == {"services": {"foo": {"key1": "value1", "key2": "VALUE", "key3": "value3"}}}


def test_sequences_append_as_the_documentation_example() -> None:
    merged = merge(
        doc("services:\n  foo:\n    DNS:\n      - 1.1.1.1\n"),
        doc("services:\n  foo:\n    DNS:\n      - 8.8.8.8\n"),
        (),
    )
    assert plain(merged) == {"services": {"foo": {"DNS": ["1.1.1.1", "8.8.8.8"]}}}


def test_shell_commands_are_overridden_as_the_documentation_example() -> None:
    merged = merge(
        doc('services:\n  foo:\n    command: ["echo", "foo"]\n    healthcheck: {test: [a]}\n'),
        doc('services:\n  foo:\n    command: ["echo", "bar"]\n    healthcheck: {test: [b]}\n'),
        (),
    )
    assert plain(merged) == {
        "services": {"foo": {"command": ["echo", "bar"], "healthcheck": {"test": ["b"]}}}
    }


def test_reset_removes_and_override_replaces() -> None:
    base = doc('services:\n  foo:\n    ports: ["8080:80", "443:443"]\n    dns: [1.1.1.1]\n')
    merged = merge(base, doc("services:\n  foo:\n    ports: !reset []\n    dns: !override [9.9.9.9]\n"), ())
    assert plain(merged) == {"services": {"foo": {"dns": ["9.9.9.9"]}}}


def test_a_port_written_alike_in_both_files_is_one_entry() -> None:
    merged = merge(
        doc('services:\n  foo:\n    ports: ["80:80"]\n'),
        doc('services:\n  foo:\n    ports: ["80:80", "81:81"]\n'),
        (),
    )
    assert plain(merged) == {"services": {"foo": {"ports": ["80:80", "81:81"]}}}


# -- whole scans ------------------------------------------------------------------------------

BASE = 'services:\n  registry:\n    image: registry:2\n    ports:\n      - "127.0.0.1:5000:5000"\n'
OVERLAY = 'services:\n  registry:\n    ports:\n      - "5000:5000"\n'


def scan(tmp_path: Path, files: dict[str, str]) -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path)


def findings(report: Report) -> list[tuple[str, str]]:
    return [(f.rule, f"{f.location.path}:{f.location.line}") for f in report.findings]


def test_a_host_port_published_in_the_base_and_again_in_the_overlay_is_refused(tmp_path: Path) -> None:
    """Appended ``ports``: the service publishes 5000 twice (on 127.0.0.1 and on every address)."""
    report = scan(tmp_path, {"compose.yaml": BASE, "compose.override.yaml": OVERLAY})
    assert [r for r, _ in findings(report)] == ["PP004"]
    published = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    assert sorted((f.location.path, str(f.address)) for f in published) == [
        ("compose.override.yaml", "*"),
        ("compose.yaml", "127.0.0.1"),
    ]
    assert {f.service for f in published} == {"registry"}
    assert len({f.namespace.id for f in published if f.namespace}) == 1
    assert all(f.refuses_repeat for f in published)


def test_override_on_the_overlay_ports_leaves_one_binding(tmp_path: Path) -> None:
    overlay = OVERLAY.replace("ports:", "ports: !override")
    report = scan(tmp_path, {"compose.yaml": BASE, "compose.override.yaml": overlay})
    assert findings(report) == []
    published = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    assert [(f.location.path, str(f.address)) for f in published] == [("compose.override.yaml", "*")]


def test_reset_on_the_overlay_ports_publishes_nothing(tmp_path: Path) -> None:
    report = scan(
        tmp_path,
        {
            "compose.yaml": BASE,
            "compose.override.yaml": OVERLAY.replace('ports:\n      - "5000:5000"', "ports: !reset []"),
        },
    )
    assert [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"] == []


def test_an_overlay_service_without_an_image_is_part_of_the_base_service(tmp_path: Path) -> None:
    """Before merging, the overlay's ``registry`` was a service of its own (with no image)."""
    report = scan(
        tmp_path, {"compose.yaml": BASE, "compose.override.yaml": 'services:\n  registry:\n    user: "0"\n'}
    )
    runtime = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "process"]
    assert [(f.service, f.run_as.user) for f in runtime] == [("registry", "0")]


def test_extends_from_another_file(tmp_path: Path) -> None:
    files = {
        "common.yml": 'services:\n  base:\n    image: acme/web\n    ports: ["8080:80"]\n',
        "compose.yaml": "services:\n  web:\n    extends:\n      file: common.yml\n      service: base\n"
        '    ports: ["8080:8080"]\n',
    }
    report = scan(tmp_path, files)
    web = sorted(
        f"{f.location.path}:{f.location.line}"
        for f in report.facts
        if isinstance(f, Listener) and f.bound_by == "runtime" and f.service == "web"
    )
    assert web == ["common.yml:4", "compose.yaml:6"]
    assert ("PP004", "compose.yaml:6") in findings(report) or ("PP004", "common.yml:4") in findings(report)


def test_include_adds_the_services_of_another_project(tmp_path: Path) -> None:
    files = {
        "db/compose.yaml": 'services:\n  db:\n    image: postgres\n    ports: ["8000:5432"]\n',
        "compose.yaml": 'include:\n  - db/compose.yaml\nservices:\n  web:\n    image: acme/web\n    ports: ["8000:80"]\n',
    }
    report = scan(tmp_path, files)
    conflict = [f for f in report.findings if f.rule == "PP004"]
    assert [f.location.path for f in conflict] == ["db/compose.yaml"]
    assert "which web already binds" in conflict[0].message


def test_a_service_defined_by_the_project_and_an_include_is_refused(tmp_path: Path) -> None:
    files = {
        "lib.yml": "services:\n  web:\n    image: a\n",
        "compose.yaml": "include: [lib.yml]\nservices:\n  web:\n    image: b\n",
    }
    report = scan(tmp_path, files)
    errors = [f for f in report.facts if isinstance(f, ParseError)]
    assert [(e.location.path, e.location.line) for e in errors] == [("compose.yaml", 1)]
    assert "defined here and by an included project" in errors[0].message
