"""The sandboxed Jinja subset: what it evaluates, what it refuses, and that it stays bounded."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from portpolicy.ansible import jinja
from portpolicy.ansible.jinja import OMIT, Undefined, Unknown, UnknownValue, evaluate, render, template_string

VARS: dict[str, Any] = {
    "port": 9100,
    "addr": "0.0.0.0",
    "ports": [80, 443],
    "svc": {"web": {"port": "8080"}},
    "range": "1024 65535",
    "flag": True,
    "secret": UnknownValue("the value is vault-encrypted"),
}


def resolve(name: str) -> Any:
    if name in VARS:
        return VARS[name]
    raise Undefined(f"variable {name!r} is not defined")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("port", 9100),
        ("port + 1", 9101),
        ("port // 2 * 2 - 100", 9000),
        ("addr ~ ':' ~ port", "0.0.0.0:9100"),
        ("addr + ':' + port | string", "0.0.0.0:9100"),
        ("ports | join(',')", "80,443"),
        ("missing | default(8080)", 8080),
        ("missing | d(1) | int * 2", 2),
        ("'' | default(8080, true)", 8080),
        ("svc.web.port | int", 8080),
        ("svc['web']['port']", "8080"),
        ("range.split()[0] | int", 1024),
        ("range | split(' ') | map('int') | list", [1024, 65535]),
        ("(port > 1024) | ternary('high', 'low')", "high"),
        ("'x' if port == 9100 else 'y'", "x"),
        ("port is defined", True),
        ("missing is defined", False),
        ("missing is not defined", True),
        ("secret is defined", True),
        ("80 in ports", True),
        ("8080 not in ports", True),
        ("not flag", False),
        ("ports | first", 80),
        ("ports[1:]", [443]),
        ("ports | max", 443),
        ("'%s:%d' | format(addr, port)", "0.0.0.0:9100"),
        ("{'a': 1}.a", 1),
        ("'8080/tcp'.split('/')[0] | int", 8080),
        ("'abc' | int", 0),
        ("'60000:61000' | replace(':', '-')", "60000-61000"),
        ("range(3) | list", [0, 1, 2]),
        ("'ns.coll.role' | regex_replace('ns.coll' ~ '.', '')", "role"),
        ("'1.8.2' is version('1.5.0', '>=')", True),
        ("'1.4' is version('1.5.0', 'lt')", True),
        ("svc | dict2items | map(attribute='key') | list", ["web"]),
        ("ansible.builtin.default(omit)" if False else "missing | default(omit)", OMIT),
    ],
)
def test_evaluates(expr: str, expected: Any) -> None:
    assert evaluate(expr, resolve) == expected


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("lookup('env', 'PORT')", "lookup"),
        ("query('inventory_hostnames', 'all')", "query"),
        ("secret", "vault"),
        ("port | to_yaml", "not evaluated"),
        ("'aaaa' | regex_replace('(a)\\1', '')", "linear-time engine"),
        ("'aaaa' | regex_replace('a(?=a)', '')", "linear-time engine"),
        ("'aaaa' | regex_replace('a', '\\1')", "no group 1"),
        ("'aaaa' | regex_replace('a', '\\q')", "escape"),
        ("'aaaa' | regex_search('a', 'x')", "group references"),
        ("'aaaa' | regex_search('a', dotall=true)", "dotall"),
        ("'aaaa' | regex_replace('b', '', mandatory_count=1)", "mandatory_count"),
        ("''.__class__", "sandbox"),
        ("svc.__class__.__mro__", "sandbox"),
        ("svc['__dict__']", "sandbox"),
        ("addr.zfill(3)", "not evaluated statically"),
        ("addr.nothing", "has no attribute"),
        ("'a' * 10 ** 9", "repetition"),
        ("'a' * 100000", "repetition"),
        ("2 ** 100000", "exponent"),
        ("9 ** 9 ** 9 ** 9", "exponent"),
        ("range(10 ** 8)", "range"),
        ("'%*d' % (5, port)", "width taken from the values"),
        ("'%-999999999s' % port", "exceeds evaluation budget"),
        ("'{0.real}'.format(port)", "attribute"),
        ("port is sameas port", "sameas"),
        ("['b', 'a'] | union(['c'])", "hash seed"),
        ("port +", "not understood"),
        ("missing", "not defined"),
    ],
)
def test_refuses_without_guessing(expr: str, reason: str) -> None:
    with pytest.raises(Unknown) as exc:
        evaluate(expr, resolve)
    assert reason in exc.value.reason


def test_undefined_is_distinguished_from_unknown() -> None:
    with pytest.raises(Undefined):
        evaluate("missing", resolve)
    with pytest.raises(Unknown) as exc:
        evaluate("secret", resolve)
    assert not isinstance(exc.value, Undefined)
    # default() replaces an undefined value, never an unknown one
    assert evaluate("missing | default(1)", resolve) == 1
    with pytest.raises(Unknown):
        evaluate("secret | default(1)", resolve)


def test_step_budget_bounds_work() -> None:
    expr = " + ".join(["port"] * 30_000)
    start = time.monotonic()
    with pytest.raises(Unknown):
        evaluate(expr, resolve)
    assert time.monotonic() - start < 5


def test_the_budget_counts_nodes_loop_iterations_and_items() -> None:
    """Each evaluation spends from its own budget; running out is unknown, with the reason."""
    assert evaluate("[" + ", ".join(["port"] * 40) + "] | length", resolve, jinja.Budget(100)) == 40
    with pytest.raises(jinja.BudgetExceeded, match="more than 100 evaluation steps"):
        evaluate("[" + ", ".join(["port"] * 120) + "] | length", resolve, jinja.Budget(100))
    with pytest.raises(jinja.BudgetExceeded, match="more than 200 evaluation steps"):
        render("{% for i in range(300) %}{% endfor %}", resolve, budget=jinja.Budget(200))
    with pytest.raises(jinja.BudgetExceeded, match="more than 200 evaluation steps"):
        render("{% for i in range(100) %}{{ i + i + i }}{% endfor %}", resolve, budget=jinja.Budget(200))
    assert (
        render("{% for i in range(60) %}{% endfor %}done", resolve, budget=jinja.Budget(200)).text == "done"
    )
    with pytest.raises(jinja.BudgetExceeded):
        evaluate("range(1000) | map('string') | list | length", resolve, jinja.Budget(500))


def test_deep_nesting_is_unknown_not_a_crash() -> None:
    with pytest.raises(Unknown):
        evaluate("(" * 5000 + "1" + ")" * 5000, resolve)


def test_template_string_keeps_type_of_a_single_expression() -> None:
    assert template_string("{{ port }}", resolve) == 9100
    assert template_string("{{ port }}/tcp", resolve) == "9100/tcp"
    assert template_string("no template", resolve) == "no template"
    with pytest.raises(Unknown):
        template_string("{{ missing }}/tcp", resolve)


UNIT = """{{ ansible_managed | comment }}
[Service]
{% if port < 1024 %}
User=root
{% else %}
User=exporter
{% endif %}
ExecStart=/usr/bin/exporter \\
    --web.listen-address={{ addr }}:{{ port }}
{# a comment #}
{% for p in ports %}
Listen={{ p }}
{% endfor %}
{% if unknown_flag %}
Listen=81
{% endif %}
Extra={{ missing }}
"""


def test_render_keeps_a_line_map_and_leaves_unknowns_visible() -> None:
    out = render(UNIT, resolve)
    lines = out.text.split("\n")
    by_text = {line: out.lines[i] for i, line in enumerate(lines)}
    assert by_text["User=exporter"] == 6
    assert by_text["    --web.listen-address=0.0.0.0:9100"] == 9
    assert by_text["Listen=80"] == 12 and by_text["Listen=443"] == 12
    assert "User=root" not in lines
    # the unresolved branch is left out, and says why
    assert "Listen=81" not in lines
    assert out.skipped_ranges == [(14, 16)]
    assert "unknown_flag" in out.skipped[0][1]
    # an unresolved expression stays as written, for the reader to report
    assert "Extra={{ missing }}" in lines
    assert out.unresolved[-1][0] == 17
    assert "ansible_managed" in out.unresolved[0][1]


def test_render_whitespace_control_and_set() -> None:
    text = "a\n{%- set x = port + 1 -%}\n{{ x }}\n{% set y %}inner{% endset %}{{ y }}\n"
    out = render(text, resolve)
    assert out.text == "a9101\ninner\n"


@pytest.mark.parametrize(
    "text",
    [
        "{% macro m() %}x",
        "{% if port %}no end",
        "{{ unclosed",
        "{% include 'x.j2' %}",
        "{% for in ports %}{% endfor %}",
        "{% from 'x.j2' import _hidden %}",
    ],
)
def test_render_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(jinja.TemplateSyntaxError):
        render(text, resolve)


def test_render_output_is_bounded() -> None:
    with pytest.raises(Unknown):
        render(
            "{% for i in range(2000) %}{% for j in range(2000) %}xxxxxxxxxx{% endfor %}{% endfor %}", resolve
        )


REGEX_CASES = [
    ("8080/tcp", r"(\d+)/(\w+)", r"\2:\1"),
    ("a.b.c", r"\.", "-"),
    ("axbc", "x*", "-"),
    ("Port=80 port=81", r"(?i)port=(?P<n>\d+)", r"[\g<n>]"),
    ("line1\nline2", r"^line(\d)$", r"L\1"),
    ("ünïcödé 443", r"(\S+) (\d+)", r"\2 \1"),
    ("listen 443 ssl", r"(\w+) (\d+)", r"\2 \1"),
    ("tabs", "t", r"\t"),
    ("aaa", "", "|"),
    ("0.0.0.0:9100", r"^(.*):(\d+)$", r"\g<2> on \g<1>"),
]


@pytest.mark.parametrize(("text", "pattern", "replacement"), REGEX_CASES)
def test_regex_filters_agree_with_python_re(text: str, pattern: str, replacement: str) -> None:
    """RE2 runs them, with the results Ansible (Python's re) gives on ordinary patterns."""
    values = {"text": text, "pattern": pattern, "replacement": replacement}

    def lookup(name: str) -> Any:
        return values[name]

    assert evaluate("text | regex_replace(pattern, replacement)", lookup) == re.sub(
        pattern, replacement, text
    )
    found = re.search(pattern, text)
    assert evaluate("text | regex_search(pattern)", lookup) == (found.group(0) if found else None)
    assert evaluate("text | regex_findall(pattern)", lookup) == [
        list(f) if isinstance(f, tuple) else f for f in re.findall(pattern, text)
    ]
    assert evaluate("text is search(pattern)", lookup) is bool(found)
    assert evaluate("text is match(pattern)", lookup) is bool(re.match(pattern, text))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("'8080/tcp' | regex_search('(\\\\d+)/(\\\\w+)', '\\\\2', '\\\\1')", ["tcp", "8080"]),
        ("'8080/tcp' | regex_search('(?P<port>\\\\d+)', '\\\\g<port>')", ["8080"]),
        ("'PORT=1' | regex_search('port=\\\\d', ignorecase=true)", "PORT=1"),
        ("'a\\nb=2' | regex_replace('^b', 'c', multiline=true)", "a\nc=2"),
        ("'aaa' | regex_replace('a', 'b', count=2)", "bba"),
        ("'a.b*c' | regex_escape", re.escape("a.b*c")),
        ("'Web' is regex('web', ignorecase=true, match_type='match')", True),
        ("'web01' is regex('\\\\d+$')", True),
        ("'web' is regex('e', match_type='fullmatch')", False),
        ("['web1', 'db1', 'web2'] | select('match', 'web') | list", ["web1", "web2"]),
    ],
)
def test_regex_filter_options(expr: str, expected: Any) -> None:
    assert evaluate(expr, resolve) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("[1, 1.0, True, [1], [1], {'a': 1}, {'a': 1}, 'x', 'x'] | unique", [1, [1], {"a": 1}, "x"]),
        ("[3, 1, 3, 2] | union([2, 4])", [1, 2, 3, 4]),  # a Python set's order, as in Ansible
        ("[[1], 2, [1], 3] | difference([[1]])", [2, 3]),
        ("[[1], 2, 3] | intersect([3, [1]])", [[1], 3]),
        ("[[1, 2], [3], []] | sum(start=[])", [1, 2, 3]),
        ("ports | sum", 523),
        ("[1, [2, [3, [4]]]] | flatten", [1, 2, 3, 4]),
        ("[1, [2, [3, [4]]]] | flatten(levels=1)", [1, 2, [3, [4]]]),
        ("'ab' | center(6)", "  ab  "),
        ("2.567 | round(1)", 2.6),
        ("2.51 | round(0, 'floor')", 2.0),
        ("'ab' | replace('a', 'b', count=10 ** 30)", "bb"),
        ("'a,b,c'.replace(',', ';', 1)", "a;b,c"),
        ("2 ** 2 ** 2 ** 2 ** 2", 65536),
        ("2 ** 1000 > 10 ** 300", True),
    ],
)
def test_bounded_filters_keep_their_meaning(expr: str, expected: Any) -> None:
    assert evaluate(expr, resolve) == expected


def test_an_exception_escaping_a_filter_is_unknown_naming_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one guarded entry point: a bug in a filter leaves the value unresolved, with the type."""

    def broken(_: Any, value: Any) -> Any:
        raise RuntimeError("secret-value-123")

    monkeypatch.setitem(jinja.FILTERS, "broken", broken)
    with pytest.raises(Unknown) as exc:
        evaluate("port | broken", resolve)
    assert "RuntimeError" in exc.value.reason
    assert "secret-value-123" not in exc.value.reason
    rendered = render("a={{ port | broken }}\n", resolve)
    assert rendered.text == "a={{ port | broken }}\n"
    assert "RuntimeError" in rendered.unresolved[0][2]


def test_a_namespace_value_that_did_not_resolve_stays_unknown() -> None:
    out = render(
        "{% set ns = namespace(x=2 ** 64) %}{% for i in range(30) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}",
        resolve,
    )
    assert out.text == "{{ ns.x }}"
    assert "exceeds evaluation budget" in out.unresolved[0][2]


def test_a_refused_pattern_is_quoted_cut_short() -> None:
    """RE2's 'missing )' error repeats the whole pattern: the reason keeps only a short piece."""
    secret = "TOKEN" + "A" * 300
    with pytest.raises(Unknown) as exc:
        evaluate(f"port | regex_replace('({secret}', '')", resolve)
    reason = exc.value.reason
    assert "linear-time engine" in reason and "missing )" in reason, reason
    assert secret not in reason and len(reason) < 250


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1e3", 1000.0),
        ("2.5E-1 + 0x10 + 0o7 + 0b1 + 1_000", 1024.25),
        ("(1, 2)", [1, 2]),  # ansible-core hands tuples back as lists
        ("'x' ~ (1, 2)", "x(1, 2)"),  # but prints them as Python does
        ("(80,) + (443,)", [80, 443]),
        ("{'b': 1, 'a': 2} | dictsort | string", "[('a', 2), ('b', 1)]"),
        ("'a:b'.partition(':') | string", "('a', ':', 'b')"),
        ("-3 | abs", 3),  # the filter applies to -3, as in Jinja
        ("'ab' | center(7)", "   ab  "),
        ("5 | center(4)", " 5  "),
        ("'hello world foo' | truncate(9)", "hello..."),
        ("'a\\nb' | indent(2, true)", "  a\n  b"),
        ("'aB c' | capitalize", "Ab c"),
        ("none is sameas none", True),
        ("'%-6s|%5d' % ('ab', port)", "ab    | 9100"),
        ("'%s:%s' | format(addr, port)", "0.0.0.0:9100"),
        ("'{}:{:>6}'.format(addr, port)", "0.0.0.0:  9100"),
        ("['b', 'A', 'a'] | unique", ["b", "A"]),
        ("['b', 'A', 'a'] | sort", ["A", "a", "b"]),
        ("port | to_json", "9100"),
    ],
)
def test_jinja_as_ansible_core_runs_it(expr: str, expected: Any) -> None:
    assert evaluate(expr, resolve) == expected


def test_a_for_tag_is_read_by_the_expression_parser() -> None:
    """Once read by a regular expression, which skipped this loop."""
    source = "{% for h in ([addr] if addr is string else addr) %}server {{ h }}\n{% endfor %}"
    assert render(source, resolve).text == "server 0.0.0.0\n"
    looped = render("{% for p in ports if p > 100 %}{{ loop.index }}:{{ p }}{% endfor %}", resolve)
    assert looped.text == "1:443"


def test_macros_calls_and_blocks_render() -> None:
    source = (
        "{% macro listen(p, a=addr) %}listen {{ a }}:{{ p }}{% endmacro %}"
        "{% for p in ports %}{{ listen(p) }}\n{% endfor %}"
        "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}{{ port }}{% endcall %}\n"
        "{% block extra %}in block {{ port }}{% endblock %}\n"
    )
    out = render(source, resolve)
    assert out.text == "listen 0.0.0.0:80\nlisten 0.0.0.0:443\n<9100>in block 9100"  # trim_blocks
    assert out.lines == [1, 1, 2]
    # a macro called wrongly is unresolved, not a guess
    wrong = render("{% macro m(a) %}{{ a }}{% endmacro %}x={{ m(1, 2) }}", resolve)
    assert wrong.text == "x={{ m(1, 2) }}"
    assert "more arguments" in wrong.unresolved[0][2]


def test_import_from_and_extends_read_the_role_templates(tmp_path: Any) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "macros.j2").write_text("{% macro listen(p) %}listen {{ p }}{% endmacro %}\n")
    (folder / "base.j2").write_text("[server]\n{% block body %}listen 80{% endblock %}\n")
    files = {str(folder / "macros.j2"), str(folder / "base.j2")}
    load = jinja.folder_loader(lambda path: Path(path).read_text(encoding="utf-8"), files, [str(folder)])
    imported = render("{% import 'macros.j2' as m %}{{ m.listen(port) }}\n", resolve, load=load)
    assert imported.text == "listen 9100\n"
    chosen = render("{% from 'macros.j2' import listen %}{{ listen(1) }}\n", resolve, load=load)
    assert chosen.text == "listen 1\n"
    child = render(
        "{% extends 'base.j2' %}\n{% block body %}listen {{ port }}{% endblock %}\n", resolve, load=load
    )
    assert child.text == "[server]\nlisten 9100"
    assert child.lines == [1, 2]  # the parent's lines point at the extends tag, the block at its own
    with pytest.raises(Unknown, match="not found"):
        render("{% extends 'other.j2' %}", resolve, load=load)
    with pytest.raises(Unknown, match="outside"):
        render("{% extends '../secret.j2' %}", resolve, load=load)
    with pytest.raises(Unknown, match="not a literal"):
        render("{% extends addr %}", resolve, load=load)
    unread = render("{% import 'macros.j2' as m %}{{ m.listen(1) }}", resolve)
    assert "not read here" in unread.unresolved[0][2]
