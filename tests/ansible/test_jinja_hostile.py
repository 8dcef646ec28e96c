"""Hostile Jinja in Ansible content: each attack ends unresolved, with a reason, and quickly.

Every case once raised a traceback, ran for minutes or took gigabytes, from a few
characters in a role default or a template. Each runs in a child with a memory cap and a
timeout (``tests/hostile.py``) and must give a concrete outcome: a value, or an unknown
one whose reason says why ("exceeds evaluation budget" when a limit stopped it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write_tree
from tests.hostile import run_bounded, run_python_bounded

BUDGET = "exceeds evaluation budget"
SECONDS = 5.0
"""Wall time one evaluation may take in the child (the real figures are milliseconds)."""

CHILD = """
import json, sys, time
from portpolicy.ansible.jinja import TemplateSyntaxError, Undefined, Unknown, evaluate, render

VARS = {
    "big": "a" * 60000,
    "text4k": "a" * 4096,
    "long": list(range(64000)),
    "lists": [[i] for i in range(65536)],
    "words": ["w" * 1000] * 100,
    "bigdict": {str(i): i for i in range(60000)},
    "bigint": 10 ** 4000,
}

def resolve(name):
    if name in VARS:
        return VARS[name]
    raise Undefined(name)

def outcome(source, template):
    try:
        if template:
            done = render(source, resolve)
            return {"text": done.text[:200], "unresolved": [r for _, _, r in done.unresolved],
                    "skipped": [r for _, r in done.skipped]}
        return {"value": evaluate(source, resolve)}
    except TemplateSyntaxError as exc:
        return {"syntax": str(exc)}
    except Unknown as exc:
        return {"reason": exc.reason}

results = []
with open(sys.argv[1] if len(sys.argv) > 1 else CASES) as fh:
    for source, template in json.load(fh):
        start = time.monotonic()
        found = outcome(source, template)
        found["seconds"] = time.monotonic() - start
        results.append(found)
print(json.dumps(results, default=repr))
"""


def _outcome(directory: Path, source: str, template: bool = False) -> dict[str, Any]:
    return _outcomes([(source, template)], directory)[0]


def _outcomes(cases: list[tuple[str, bool]], directory: Path) -> list[dict[str, Any]]:
    """Evaluate each (source, is a template) in one bounded child, each timed on its own."""
    path = directory / "cases.json"
    path.write_text(json.dumps(cases), encoding="utf-8")
    run = run_python_bounded(f"CASES = {str(path)!r}\n" + CHILD)
    assert not run.crashed, run.stderr[-2000:]
    outcomes: list[dict[str, Any]] = json.loads(run.stdout)
    for case, found in zip(cases, outcomes, strict=True):
        assert found["seconds"] < SECONDS, (case[0][:80], found)
    return outcomes


REFUSED = [
    # tracebacks
    ("{[1]: 2}", "cannot be a mapping key"),
    ("{ {}: 1 }", "cannot be a mapping key"),
    ("{'a': 1}[[1]]", "cannot be a mapping key"),
    ("[1] in {'a': 1}", "cannot be a mapping key"),
    ("(10 ** 5000) | string", BUDGET),
    ("(10 ** 5000) ~ ''", BUDGET),
    ("'%d' | format(10 ** 5000)", BUDGET),
    ("bigint ~ ''", BUDGET),
    ("bigint | string", BUDGET),
    ("'%s' | format(bigint)", BUDGET),
    ("1" * 5000, BUDGET),
    ("1" * 5000 + " | string", "integer literal"),
    ("range(0, 5, 0)", "step 0"),
    ("range(10 ** 30)", BUDGET),
    ("'x' | round(10 ** 9)", "round needs"),
    ("1.5 | round(-10 ** 9)", "round needs"),
    # unbounded work
    ("big | replace('', 'x')", BUDGET),
    ("big.replace('', big)", BUDGET),
    ("bigint * bigint", BUDGET),
    ("2 ** 64 ** 2 ** 2 ** 2 ** 2 ** 2", BUDGET),
    ("(2 ** 1000) * (2 ** 1000)", BUDGET),
    ("2 ** 100000", BUDGET),
    ("long | unique", BUDGET),
    ("lists | sum(start=[])", BUDGET),
    ("long | sum", BUDGET),
    ("'a' * 10 ** 9", BUDGET),
    ("[1] * 10 ** 9", BUDGET),
    ("[big] * 100", BUDGET),
    ("words | join(',')", BUDGET),
    ("words | join(',', attribute='x')", "has no attribute"),
    ("'%999999999d' | format(1)", BUDGET),
    ("'%-999999999s' % 'x'", BUDGET),
    ("'%.999999999f' % 1.5", BUDGET),
    ("'{:999999999}'.format(1)", BUDGET),
    ("'{:>{w}}'.format(1, w=10 ** 9)", "not evaluated statically"),
    ("'%s' % bigint", BUDGET),
    ("'{}'.format(bigint)", BUDGET),
    ("'%s%s' % (big, big)", BUDGET),
    ("'x' | center(10 ** 9)", BUDGET),
    ("'x' | indent(10 ** 9)", BUDGET),
    ("big | indent(60000)", BUDGET),
    ("'%s%s' | format(big, big)", BUDGET),
    ("'x' | center(10 ** 9)", BUDGET),
    ("big ~ big", BUDGET),
    ("bigdict | dict2items", BUDGET),
    ("bigdict.items()", BUDGET),
    ("long | map('string') | list", BUDGET),
    ("long | select('odd') | list", BUDGET),
    ("long | flatten", BUDGET),
    ("(" * 10_000 + "1" + ")" * 10_000, BUDGET),
    ("[" * 10_000 + "]" * 10_000, BUDGET),
    ("not " * 10_000 + "1", BUDGET),
    ("-" * 10_000 + "1", BUDGET),
    ("1" + " | string" * 10_000, BUDGET),
    ("1" + " + 1" * 30_000, BUDGET),
    ("'a' * 2000 | regex_search('a' * 2000)", "longer than 1000 characters"),
    ("'xx' | regex_replace('(x)\\\\1', '')", "linear-time engine"),
    ("'ax' | regex_search('(?<=a)x')", "linear-time engine"),
    # not part of the subset: refused, never run
    ("big | wordwrap(1)", "not evaluated statically"),
    ("big | b64decode", "not evaluated statically"),
    ("long | batch(3)", "not evaluated statically"),
    ("long | slice(3)", "not evaluated statically"),
    ("[1, 2] | product([3])", "not evaluated statically"),
    ("[1, 2, 3] | permutations", "not evaluated statically"),
    ("bigdict | to_json", BUDGET),
    ("bigint | to_json", BUDGET),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    cases = [(source, False) for source, _ in REFUSED]
    return dict(
        zip((s for s, _ in REFUSED), _outcomes(cases, tmp_path_factory.mktemp("refused")), strict=True)
    )


@pytest.mark.parametrize(("source", "reason"), REFUSED, ids=[s[:40] for s, _ in REFUSED])
def test_hostile_expression_is_unknown_with_a_reason(
    refused: dict[str, dict[str, Any]], source: str, reason: str
) -> None:
    outcome = refused[source]
    assert reason in outcome.get("reason", ""), outcome


EVALUATED = [
    ("'ab' | replace('a', 'b', 10 ** 30)", "bb"),
    ("2 ** 2 ** 2 ** 2 ** 2", 65536),
    ("text4k | regex_search('[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*!')", None),
    ("text4k | regex_search('(a+)+!')", None),
    ("text4k | regex_replace('(a|aa)*!', '') | length", 4096),
    ("text4k | regex_findall('(a|aa)*?b') | length", 0),
    ("text4k is match('(a*)*!')", False),
    ("big | length", 60000),
    ("big | truncate(10 ** 9) | length", 60000),
    ("1e999999999 | string", "inf"),
    ("('9' * 5000) | float | string", "inf"),
    ("('1' * 5000) | length", 5000),
]


@pytest.mark.parametrize(("source", "value"), EVALUATED, ids=[s[:40] for s, _ in EVALUATED])
def test_what_was_slow_is_now_evaluated_quickly(tmp_path: Path, source: str, value: Any) -> None:
    """Linear-time regexes give the real answer, not a refusal."""
    outcome = _outcome(tmp_path, source)
    assert "value" in outcome and outcome["value"] == value, outcome


LOOPS = "{% for a in range(2000) %}{% for b in range(2000) %}{% for c in range(2000) %}{% endfor %}{% endfor %}{% endfor %}"


def test_nested_loops_stop_at_the_template_budget(tmp_path: Path) -> None:
    assert BUDGET in _outcome(tmp_path, LOOPS, template=True)["reason"]


def test_squaring_in_a_loop_stops_at_the_integer_limit(tmp_path: Path) -> None:
    source = (
        "{% set ns = namespace(x=2 ** 64) %}{% for i in range(100) %}"
        "{% set ns.x = ns.x * ns.x %}{% endfor %}port={{ ns.x }}"
    )
    outcome = _outcome(tmp_path, source, template=True)
    assert outcome["text"] == "port={{ ns.x }}"
    assert BUDGET in outcome["unresolved"][0]


def test_a_set_chain_that_doubles_stops_at_the_size_limit(tmp_path: Path) -> None:
    source = "{% set a = 'ab' %}" + "{% set a = a ~ a ~ a ~ a %}" * 40 + "{{ a }}"
    outcome = _outcome(tmp_path, source, template=True)
    assert outcome["text"] == "{{ a }}"
    assert BUDGET in outcome["unresolved"][0]


def test_blocks_nested_ten_thousand_deep_are_refused(tmp_path: Path) -> None:
    source = "{% if true %}" * 10_000 + "x" + "{% endif %}" * 10_000
    assert BUDGET in _outcome(tmp_path, source, template=True)["syntax"]


def test_a_macro_calling_itself_stops_at_the_call_depth(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path, "{% macro m(n) %}{{ m(n) }}{% endmacro %}x={{ m(1) }}", template=True)
    assert outcome["text"] == "x={{ m(1) }}"
    assert "nested deeper than 20 levels" in outcome["unresolved"][0], outcome


def test_a_macro_that_doubles_its_calls_stops_at_the_template_budget(tmp_path: Path) -> None:
    source = "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}x{% endmacro %}{{ m(19) }}"
    outcome = _outcome(tmp_path, source, template=True)
    assert BUDGET in outcome.get("reason", "") or BUDGET in outcome["unresolved"][0], outcome


def test_templates_importing_each_other_are_unresolved_not_endless(tmp_path: Path) -> None:
    """A cycle of imports, and an extends chain, through the same loader ``deploy`` uses."""
    code = """
import json
from portpolicy.ansible.jinja import Undefined, Unknown, folder_loader, render
files = {'t/a.j2': "{% import 'b.j2' as b %}a", 't/b.j2': "{% import 'a.j2' as a %}b",
         't/self.j2': "{% extends 'self.j2' %}"}
load = folder_loader(files.get, set(files), ['t'])
def resolve(name):
    raise Undefined(name)
def reason(source):
    try:
        render(source, resolve, load=load)
    except Unknown as exc:
        return exc.reason
    return "rendered"
cycle = reason("{% import 'a.j2' as a %}{{ a.x }}")
extended = reason("{% extends 'self.j2' %}")
print(json.dumps([cycle, extended]))
"""
    run = run_python_bounded(code)
    assert not run.crashed, run.stderr[-2000:]
    cycle, extended = json.loads(run.stdout)
    assert "cycle" in cycle, cycle
    assert "cycle" in extended, extended


def test_a_loop_over_too_many_items_is_skipped_with_the_reason(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path, "{% for i in long %}{{ i }}{% endfor %}after", template=True)
    assert outcome["text"] == "after"
    assert BUDGET in outcome["skipped"][0]


# --------------------------------------------------------------------------- through the CLI

TASK = """- name: open the port
  ansible.posix.firewalld:
    port: "{{ app_port }}/tcp"
    state: enabled
"""


def _facts(tmp_path: Path, files: dict[str, str]) -> dict[str, Any]:
    write_tree(
        tmp_path, {"site.yml": "- hosts: app\n  roles: [app]\n", "roles/app/tasks/main.yml": TASK, **files}
    )
    run = run_bounded("facts", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    assert run.returncode == 0, run.stderr
    facts: dict[str, Any] = json.loads(run.stdout)
    return facts


def _unresolved_reason(facts: dict[str, Any]) -> str:
    [port] = [u for u in facts["unresolved"] if u["location"] == "roles/app/tasks/main.yml:3:11"]
    return str(port["reason"])


ROLE_DEFAULTS = [
    ('app_port: "{{ (10 ** 5000) | string }}"\n', BUDGET),
    ('blob: "' + "a" * 60_000 + '"\napp_port: "{{ blob | replace(\'\', blob) }}"\n', BUDGET),
    ('app_port: "{{ {[1]: 2} }}"\n', "cannot be a mapping key"),
    ('app_port: "{{ range(0, 5, 0) | first }}"\n', "step 0"),
    ('app_port: "{{ ' + "(" * 10_000 + "1" + ")" * 10_000 + ' }}"\n', BUDGET),
    ("app_port: \"{{ 'xx' | regex_replace('(x)\\\\1', '') }}\"\n", "linear-time engine"),
    (
        'app_port: "{{ v0 }}"\n'
        + "".join(f'v{i}: "{{{{ v{i + 1} }}}}"\n' for i in range(3000))
        + "v3000: 80\n",
        BUDGET,
    ),
]


@pytest.mark.parametrize(("defaults", "reason"), ROLE_DEFAULTS, ids=[d[:30] for d, _ in ROLE_DEFAULTS])
def test_a_hostile_role_default_leaves_the_port_unresolved(
    tmp_path: Path, defaults: str, reason: str
) -> None:
    facts = _facts(tmp_path, {"roles/app/defaults/main.yml": defaults})
    assert reason in _unresolved_reason(facts)
    assert not facts["firewall_rules"]


def test_a_five_thousand_digit_port_is_an_invalid_port_quoted_short(tmp_path: Path) -> None:
    """YAML cannot make it an integer (Python refuses 4,300 digits): it stays text, and is no port."""
    _facts(tmp_path, {"roles/app/defaults/main.yml": "app_port: " + "9" * 5000 + "0\n"})
    run = run_bounded("check", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed and run.returncode == 1, run.stderr
    [finding] = json.loads(run.stdout)["findings"]
    assert (finding["rule"], finding["path"], finding["line"]) == ("PP005", "roles/app/tasks/main.yml", 3)
    assert "99999" in finding["message"] and len(finding["message"]) < 200


def test_a_catastrophic_regex_in_a_role_default_resolves_in_linear_time(tmp_path: Path) -> None:
    defaults = "app_port: \"{{ ('a' * 4096) | regex_search('(a|aa)*!') | default(8080, true) }}\"\n"
    facts = _facts(tmp_path, {"roles/app/defaults/main.yml": defaults})
    assert [(r["ports"], r["location"]) for r in facts["firewall_rules"]] == [
        ("8080", "roles/app/tasks/main.yml:3:11")
    ]


SSHD_TASK = """- ansible.builtin.template:
    src: sshd_config.j2
    dest: /etc/ssh/sshd_config
"""


def test_a_template_that_exhausts_its_budget_is_read_raw_with_the_reason(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        {
            "roles/app/tasks/main.yml": SSHD_TASK,
            "roles/app/defaults/main.yml": "ssh_port: 2222\n",
            "roles/app/templates/sshd_config.j2": LOOPS + "\nPort {{ ssh_port }}\n",
        },
    )
    [port] = [
        u for u in facts["unresolved"] if u["location"].startswith("roles/app/templates/sshd_config.j2:2")
    ]
    assert "template not rendered" in port["reason"] and BUDGET in port["reason"]


def test_unclosed_statements_in_a_template_are_masked_in_linear_time(tmp_path: Path) -> None:
    """Read raw after it fails to parse: the statement mask once took quadratic time."""
    facts = _facts(
        tmp_path,
        {
            "roles/app/tasks/main.yml": SSHD_TASK,
            "roles/app/templates/sshd_config.j2": "Port 2200\n" + "{%\n" * 200_000,
        },
    )
    assert [(listener["ports"], listener["location"]) for listener in facts["listeners"]] == [
        ("2200", "roles/app/templates/sshd_config.j2:1:6")
    ]


# --------------------------------------------------------------------------- inventories and module arguments


def _check(tmp_path: Path, files: dict[str, str]) -> dict[str, Any]:
    write_tree(tmp_path, {"ansible.cfg": "[defaults]\ninventory = inventory\n", **files})
    run = run_bounded("facts", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    facts: dict[str, Any] = json.loads(run.stdout)
    return facts


PLAY = """- hosts: web
  tasks:
    - ansible.posix.firewalld: {port: "{{ web_port }}/tcp", state: enabled}
"""


def test_diamond_shaped_group_children_are_walked_once(tmp_path: Path) -> None:
    """40 levels of two groups, each a child of both above: 2**40 paths, once a hang."""
    lines = [f"[{a}{i}:children]\na{i + 1}\nb{i + 1}" for i in range(40) for a in "ab"]
    inventory = "\n".join(lines) + "\n[a40]\nh1\n[web:children]\na0\n[a39:vars]\nweb_port=8080\n"
    facts = _check(tmp_path, {"inventory": inventory, "site.yml": PLAY})
    assert [rule["ports"] for rule in facts["firewall_rules"]] == ["8080"]


def test_a_megabyte_inventory_line_is_split_without_shlex(tmp_path: Path) -> None:
    """``shlex`` takes minutes on a megabyte; such a line is split on whitespace."""
    host_line = "h1 web_port=8081 " + "x" * 1_000_000
    comment = "[web:vars]\nother=a" + " " * 100_000 + "b ;c\n"
    facts = _check(tmp_path, {"inventory": f"[web]\n{host_line}\n{comment}", "site.yml": PLAY})
    assert [rule["ports"] for rule in facts["firewall_rules"]] == ["8081"]


def test_a_megabyte_free_form_argument_is_taken_as_written(tmp_path: Path) -> None:
    play = (
        "- hosts: web\n  tasks:\n    - community.general.ufw: rule=allow port="
        + "'8"
        + "0" * 1_000_000
        + "'\n"
    )
    facts = _check(tmp_path, {"inventory": "[web]\nh1\n", "site.yml": play})
    [invalid] = facts["invalid_ports"]
    assert invalid["location"].startswith("site.yml:3:")


def test_variables_that_refer_to_each_other_in_a_template_are_unresolved(tmp_path: Path) -> None:
    """Explaining where a value came from followed the cycle until the stack ran out."""
    facts = _facts(
        tmp_path,
        {
            "roles/app/tasks/main.yml": SSHD_TASK,
            "roles/app/defaults/main.yml": 'v1: "{{ v2 }}"\nv2: "{{ v1 }}"\n',
            "roles/app/templates/sshd_config.j2": "Port {{ v1 }}\n",
        },
    )
    assert not facts["parse_errors"]
    [port] = facts["unresolved"]
    assert port["location"] == "roles/app/templates/sshd_config.j2:1:6"
    assert "refers to itself" in port["reason"]
