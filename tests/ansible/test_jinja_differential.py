"""The Jinja subset against ansible-core's own ``Templar``: it is never wrong.

Every case is rendered by both. The subset must give exactly what ansible-core gives
(value and type), or leave the case unresolved with a reason; a value where ansible-core
fails, or a different value, is a failure. A hypothesis fuzz of small expressions (fixed
seed, bounded examples) runs the same check; the cases it found are in the corpus.

ansible-core is a test extra and installed in CI; without it these tests are skipped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from portpolicy.ansible.jinja import Undefined, Unknown, evaluate, folder_loader, render

try:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
except ImportError:  # pragma: no cover - CI installs ansible-core
    pytest.skip("ansible-core is not installed (pip install ansible-core)", allow_module_level=True)

from hypothesis import given, settings
from hypothesis import strategies as st

VARS: dict[str, Any] = {
    "port": 8080,
    "ports": [80, 443, 8443],
    "name": "Web Server",
    "host": "db01.example.com",
    "addr": "0.0.0.0",
    "ratio": 2.5,
    "flag": True,
    "off": False,
    "empty": "",
    "nothing": None,
    "words": ["b", "A", "c", "a"],
    "svc": {"web": {"port": "8080", "proto": "tcp"}, "db": {"port": 5432}},
    "opts": {"b": 2, "A": 1, "c": 3},
    "users": [{"name": "root", "uid": 0}, {"name": "app", "uid": 1000}, {"name": "db"}],
    "listen": "0.0.0.0:9100",
    "text": "hello world, this is a long sentence",
    "lines": "one\ntwo\n\nthree",
}

TEMPLATES = {
    "macros.j2": (
        "{% set top = 5 %}{% set _private = 1 %}"
        "{% macro show(x, y=port) %}[{{ x }}:{{ y }}:{{ top }}]{% endmacro %}"
        "{% macro listen(p, a='0.0.0.0') %}listen {{ a }}:{{ p }}{% endmacro %}"
    ),
    "base.j2": "head\n{% block body %}default {{ port }}{% endblock %}\ntail {{ v | default('nov') }}\n",
    "middle.j2": "{% extends 'base.j2' %}{% block body %}middle{% endblock %}",
    "loop_a.j2": "{% import 'loop_b.j2' as b %}a",
    "loop_b.j2": "{% import 'loop_a.j2' as a %}b",
}

# Expressions: Jinja's filters and tests, Ansible's, operators, tuples, formatting.
EXPRESSIONS = [
    "port",
    "port + 1",
    "port // 3",
    "port / 2",
    "port % 7",
    "2 ** 10",
    "-port",
    "1e3",
    "2.5e-3",
    "1_000 + 0x1F + 0o17 + 0b11",
    "1E3 + 1",
    "(1, 2)",
    "(1,)",
    "()",
    "(1, 2) + (3,)",
    "(1, 2) * 2",
    "(1, 2) == [1, 2]",
    "1 in (1, 2)",
    "(1, 2, 3)[1:]",
    "(1, 2)[0]",
    "'x' ~ (1, 2)",
    "(1, [2]) | string",
    "[(1, 2)] | string",
    "(1, 2) | join(',')",
    "(2, 1) | sort",
    "(1, 2) | reverse | list",
    "(1, 2) | map('string') | list",
    "[1, (2, 3)] | flatten",
    "(1, 2) | length",
    "(1, 2) | max",
    "(1, 2) | sum",
    "(1, 2) is sequence",
    "'a:b'.partition(':')",
    "'a:b'.partition(':') | string",
    "opts | dictsort",
    "opts | dictsort | string",
    "opts | dictsort(true)",
    "opts | dictsort(by='value', reverse=true)",
    "opts.items() | list",
    "opts.keys() | list",
    "'x' ~ opts.items()",
    "words | sort",
    "words | sort(case_sensitive=true)",
    "words | sort(reverse=true)",
    "users | sort(attribute='name') | map(attribute='name') | list",
    "words | unique",
    "words | min",
    "words | max",
    "'ab' | center(7)",
    "'ab' | center(6)",
    "5 | center(4)",
    "1.5 | center(7)",
    "[1] | center(7)",
    "name | center",
    "text | truncate(9)",
    "text | truncate(9, true)",
    "text | truncate(12, false, '!')",
    "'hello' | truncate(3, end='')",
    "text | truncate(30, leeway=0)",
    "'x' | truncate(0)",
    "lines | indent",
    "lines | indent(2, true)",
    "lines | indent(2, blank=true)",
    "lines | indent('> ', first=true)",
    "'a\\n' | indent(2)",
    "5 | indent",
    "'A b C' | capitalize",
    "name | capitalize",
    "5 | capitalize",
    "nothing is sameas none",
    "flag is sameas true",
    "off is sameas false",
    "port is sameas none",
    "'%-20s|' % name",
    "'%5d|%-5d|%05d' % (port, 1, 42)",
    "'%5.2f' % ratio",
    "'%s:%s' % (addr, port)",
    "'%s' % [1, 2]",
    "'%s' % ((1, 2),)",
    "'%(a)s' % {'a': 1}",
    "'%x %o %e %c %r' % (255, 8, 1234.5, 65, 'q')",
    "'%s %s' % ('a',)",
    "'%-999999999s' % 'x'",
    "'%*d' % (5, 1)",
    "'%s:%d' | format(addr, port)",
    "'%-10s|' | format(name)",
    "'%(x)s' | format(x=1)",
    "'x' | format()",
    "'%d' | format('a')",
    "'{}:{}'.format(addr, port)",
    "'{0}-{0}'.format(port)",
    "'{:>8}|{:<4}|{:^6}'.format('ab', 1, 'c')",
    "'{:,}'.format(1000000)",
    "'{:08.3f}'.format(ratio)",
    "'{x}!'.format(x=port)",
    "'{!r}'.format('q')",
    "'{0}'.format((1, 2))",
    "'{0.real}'.format(1)",
    "'{:{w}}'.format(1, w=5)",
    "'{:999999999}'.format(1)",
    "missing | default(8080)",
    "missing | d('x')",
    "empty | default('fallback')",
    "empty | default('fallback', true)",
    "nothing | default(1)",
    "svc.web.port | int",
    "svc['db'].port + 1",
    "svc | combine({'web': {'port': 9090}})",
    "svc | combine({'web': {'tls': true}}, recursive=true)",
    "svc | dict2items | map(attribute='key') | list",
    "[{'key': 'a', 'value': 1}] | items2dict",
    "'8080/tcp' | regex_replace('/.*', '')",
    "listen | regex_replace('^.*:(\\\\d+)$', '\\\\1') | int",
    "host | regex_search('^[a-z]+')",
    "'a1b22' | regex_findall('\\\\d+')",
    "'a.b' | regex_escape",
    "port | to_json",
    "svc | to_json",
    "[1, 'a', none, true] | to_json",
    "(1, 2) | to_json",
    "'yes' | bool",
    "'off' | bool",
    "'0' | bool",
    "1 | bool",
    "'12' | int",
    "'0x1F' | int(base=16)",
    "'abc' | int",
    "'3.7' | int",
    "'3.7' | float",
    "ratio | round",
    "2.567 | round(1)",
    "-3 | abs",
    "ports | first",
    "ports | last",
    "ports | length",
    "ports | sum",
    "ports | join(',')",
    "ports | map('string') | join(':')",
    "ports | select('gt', 100) | list",
    "ports | reject('eq', 80) | list",
    "users | selectattr('uid', 'defined') | map(attribute='name') | list",
    "users | rejectattr('uid', 'defined') | list",
    "ports | union([1, 80])",
    "ports | difference([80])",
    "ports | intersect([443, 1])",
    "[[1], [2, [3]]] | flatten(levels=1)",
    "range(3) | list",
    "range(1, 10, 3) | list",
    "dict(a=1, b=2)",
    "dict(opts, d=4)",
    "namespace(a=1).a",
    "(port > 1024) | ternary('high', 'low')",
    "nothing | ternary('y', 'n', 'none')",
    "'x' if flag else 'y'",
    "'x' if off else 'y'",
    "port is defined",
    "missing is undefined",
    "port is number",
    "name is string",
    "ports is iterable",
    "svc is mapping",
    "port is divisibleby 8",
    "'2.10' is version('2.9', '>')",
    "'web01' is match('web')",
    "'web01' is search('\\\\d')",
    "name | lower",
    "name | upper",
    "'  x  ' | trim",
    "name | replace(' ', '_')",
    "name.split()",
    "name.split(' ')[1]",
    "addr.startswith('0.')",
    "'a,b' | split(',')",
    "host | basename",
    "'/etc/nginx/nginx.conf' | dirname",
    "'a' 'b'",
    "name[0:3]",
    "ports[-1]",
    "not flag",
    "flag and off",
    "flag or off",
    "empty or 'x'",
    "port ~ '/tcp'",
    "[1, 2] + [3]",
    "{'a': 1}.a",
    "opts.get('b')",
    "opts.get('zz', 7)",
    "'x'.zfill(3)",
    "lookup('env', 'HOME')",
    "now()",
    "port.real",
]

# Templates: loops, macros, blocks, imports, extends, whitespace, output of values.
TEMPLATE_CASES = [
    "x {{ (1, 2) }}\n",
    "x {{ [(1, 2)] }} {{ {'a': (1, 2)} }}\n",
    "x {{ none }}|{{ nothing }}|{{ [none, true] }}\n",
    "x {{ 1e3 }} {{ 1.0 }} {{ 2.5e-3 }} {{ 1e20 }} {{ 12345678901234567.0 }}\n",
    "x {{ opts | dictsort }}\n",
    "x {{ opts.items() }} {{ opts.keys() }}\n",
    "x {{ 'a:b'.partition(':') }}\n",
    "x {{ ports | reverse }}\n",
    "x {{ namespace(a=1) }}\n",
    "{% for h in ([host] if host is string else host) %}server {{ h }}\n{% endfor %}",
    "{% for h in ([ports] if ports is string else ports) %}{{ h }},{% endfor %}\n",
    "{% for k, v in opts | dictsort %}{{ k }}={{ v }}\n{% endfor %}",
    "{% for k, v in opts.items() %}{{ k }}={{ v }};{% endfor %}\n",
    "{% for (a, b) in [(1, 2), (3, 4)] %}{{ a + b }} {% endfor %}\n",
    "{% for p in ports if p > 100 %}{{ loop.index }}:{{ p }}{% if not loop.last %},{% endif %}{% endfor %}\n",
    "{% for p in ports %}{{ loop.previtem | default('-') }}>{{ p }}>{{ loop.nextitem | default('-') }} {% endfor %}\n",
    "{% for p in ports %}{{ loop.revindex }}/{{ loop.length }} {% endfor %}\n",
    "{% for p in [] %}x{% else %}empty{% endfor %}\n",
    "{% for x in 1, 2 %}{{ x }}{% endfor %}\n",
    "{% for c in 'ab' %}{{ c }}-{% endfor %}\n",
    "{% for p in ports %}{% set q = p + 1 %}{{ q }} {% endfor %}{{ q | default('none') }}\n",
    "{% for p in ports %}{{ loop.cycle('a', 'b') }}{% endfor %}\n",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}\n",
    "{% set t = 1, 2 %}{{ t }} {{ 'x' ~ t }}\n",
    "{% set x %}inner {{ port }}{% endset %}[{{ x }}]\n",
    "{% set x | upper %}inner {{ port }}{% endset %}[{{ x }}]\n",
    "{% set ns = namespace(n=0) %}{% for p in ports %}{% set ns.n = ns.n + p %}{% endfor %}{{ ns.n }}\n",
    "{% set d = {} %}{% set d.x = 1 %}{{ d }}\n",
    "{% macro m(a, b=2) %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(3, 4) }}{{ m(b=5, a=6) }}\n",
    "{% macro m(a, b=a * 2) %}[{{ a }}{{ b }}]{% endmacro %}{{ m(4) }}\n",
    "{% macro m(a) %}{{ a | default('none') }}{% endmacro %}{{ m() }}\n",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}\n",
    "{% macro m(a) %}{{ a }}{{ varargs }}{% endmacro %}{{ m(1, 2, 3) }}\n",
    "{% macro m() %}{{ port }}{% endmacro %}{% set port = 1 %}{{ m() }}\n",
    "{% macro m(x) %}<{{ x }}>{% endmacro %}{% for p in ports %}{{ m(p) }}{% endfor %}\n",
    "{% macro m(a) %}{{ a }}:{{ caller() }}{% endmacro %}{% call m(1) %}inner {{ port }}{% endcall %}\n",
    "{% macro m(a) %}{% for i in a %}{{ caller(i) }}{% endfor %}{% endmacro %}"
    "{% call(x) m(ports) %}<{{ x }}>{% endcall %}\n",
    "{% macro m(a) %}{{ a }}{% endmacro %}{% call m(1) %}ignored{% endcall %}\n",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}\n",
    "{% macro m() %}x{% endmacro %}{{ m | string }}\n",
    "{% macro m() %}  indented\n{% endmacro %}{{ m() }}|\n",
    "{% block body %}in block {{ port }}{% endblock %}\n",
    "{% for i in [1] %}{% block x %}{{ i | default('undef') }}{% endblock %}{% endfor %}\n",
    "{% for i in [1] %}{% block x scoped %}{{ i | default('undef') }}{% endblock %}{% endfor %}\n",
    "{% set v = 3 %}{% block b %}{{ v }}{% endblock %}\n",
    "{% with a = 1, b = port %}{{ a }}{{ b }}{% endwith %}{{ a | default('out') }}\n",
    "{% filter upper %}shout {{ name }}{% endfilter %}\n",
    "{% import 'macros.j2' as m %}{{ m.show(1) }}\n",
    "{% import 'macros.j2' as m with context %}{{ m.show(1) }}\n",
    "{% import 'macros.j2' as m %}{{ m.show(1, 2) }} {{ m.top }} {{ m.listen(port) }}\n",
    "{% import 'macros.j2' as m %}{{ m._private | default('hidden') }}\n",
    "{% from 'macros.j2' import show, listen as l %}{{ show(1, 2) }} {{ l(80, a='::') }}\n",
    "{% from 'macros.j2' import nothing_here %}{{ nothing_here | default('absent') }}\n",
    "{% from 'macros.j2' import show with context %}{{ show(1) }}\n",
    "{% extends 'base.j2' %}{% set v = 3 %}{% block body %}child{% endblock %}",
    "{% extends 'base.j2' %}ignored {{ port }}{% block body %}child {{ port }}{% endblock %}",
    "{% extends 'base.j2' %}{% block body %}child {{ super() }}{% endblock %}",
    "{% extends 'middle.j2' %}{% block nothing %}x{% endblock %}",
    "{% extends 'missing.j2' %}",
    "{% import 'loop_a.j2' as a %}{{ a }}\n",
    "{% set t = 'base.j2' %}{% extends t %}",
    "a\n{%- if flag %}\n  yes\n{%- endif %}\nb {#- comment -#}  c\n",
    "{% if port > 1024 %}high{% elif port > 80 %}mid{% else %}low{% endif %}\n",
    "{% raw %}{{ not rendered }}{% endraw %}\n",
    "{{ '%-8s|%5d' % (name[:3], port) }}\n",
    "{{ '{:>6}'.format(port) }}|{{ name | center(14) }}|\n",
    "server {{ host }}:{{ port }} {{ 'backup' if off else '' }}\n",
]


def resolve(name: str) -> Any:
    if name in VARS:
        return VARS[name]
    raise Undefined(f"variable {name!r} is not defined")


@pytest.fixture(scope="module")
def templar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    folder = tmp_path_factory.mktemp("templates")
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text, encoding="utf-8")
    loader = DataLoader()
    loader.set_basedir(str(folder))
    return Templar(loader=loader, variables=dict(VARS)), folder


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types, all the way down (``1 == 1.0 == True`` is not enough)."""
    kinds = (str, list, dict)
    if type(a) is not type(b) and not any(isinstance(a, k) and isinstance(b, k) for k in kinds):
        return False
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _ansible(run: Any) -> tuple[bool, Any]:
    try:
        return True, run()
    except Exception as exc:  # ansible-core's errors: the case fails there
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"


def _check_expression(templar: Any, expr: str) -> str:
    """'equal' or 'unresolved'; an assertion error when the subset is wrong."""
    try:
        mine = evaluate(expr, resolve)
    except Unknown as exc:
        assert exc.reason, expr
        return "unresolved"
    ok, theirs = _ansible(lambda: templar.evaluate_expression(trust_as_template(expr)))
    assert ok, f"{expr!r}: the subset gives {mine!r}, ansible-core fails ({theirs})"
    assert _same(mine, theirs), f"{expr!r}: the subset gives {mine!r}, ansible-core {theirs!r}"
    return "equal"


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_an_expression_is_what_ansible_makes_of_it_or_unresolved(
    templar: tuple[Any, Path], expr: str
) -> None:
    _check_expression(templar[0], expr)


@pytest.mark.parametrize("source", TEMPLATE_CASES)
def test_a_template_renders_as_ansible_renders_it_or_stays_unresolved(
    templar: tuple[Any, Path], source: str
) -> None:
    engine, folder = templar
    files = {str(folder / name) for name in TEMPLATES}
    source += "."  # text at the end: ansible-core renders a string, not the native value of one node
    try:
        mine = render(source, resolve, load=folder_loader(_read, files, [str(folder)]))
    except Unknown as exc:
        assert exc.reason
        return
    if mine.unresolved or mine.skipped:
        reasons = [r for _, _, r in mine.unresolved] + [r for _, r in mine.skipped]
        assert all(reasons), source
        return
    # the template module renders with trim_blocks, as ``render`` does
    ok, theirs = _ansible(lambda: engine.template(trust_as_template(source), overrides={"trim_blocks": True}))
    assert ok, f"{source!r}: the subset renders {mine.text!r}, ansible-core fails ({theirs})"
    assert mine.text == theirs, f"{source!r}: the subset renders {mine.text!r}, ansible-core {theirs!r}"


def _read(path: str) -> str | None:
    return Path(path).read_text(encoding="utf-8")


# Expected to differ: Python 2's dict methods, which Ansible's Jinja rendered on Python 2 and
# roles still carry. ansible-core on Python 3 raises on them ('dict object' has no attribute
# 'iteritems'); the subset evaluates them as Python 2 did (each as its Python 3 counterpart,
# which must equal ansible-core's value of that counterpart) and notes the use for ``-v``.
PY2_ONLY = [
    ("svc.iteritems()", "svc.items()"),
    ("opts.iterkeys() | list", "opts.keys() | list"),
    ("opts.itervalues() | sum", "opts.values() | sum"),
    ("svc.has_key('web')", "'web' in svc"),
    ("opts.has_key('z')", "'z' in opts"),
    ("svc.web.iteritems() | list | length", "svc.web.items() | list | length"),
]


class _Noting:
    def __init__(self) -> None:
        self.notes: dict[str, None] = {}

    def __call__(self, name: str) -> Any:
        return resolve(name)


@pytest.mark.parametrize(("py2", "py3"), PY2_ONLY)
def test_python2_dict_methods_differ_from_ansible_core_as_expected(
    templar: tuple[Any, Path], py2: str, py3: str
) -> None:
    """Expected to differ: ansible-core on Python 3 fails; the subset gives Python 2's value."""
    engine = templar[0]
    failed, why = _ansible(lambda: engine.evaluate_expression(trust_as_template(py2)))
    assert not failed, f"{py2!r}: ansible-core now evaluates it ({why!r}): drop it from PY2_ONLY"
    ok, theirs = _ansible(lambda: engine.evaluate_expression(trust_as_template(py3)))
    assert ok, theirs
    noting = _Noting()
    mine = evaluate(py2, noting)
    assert _same(mine, theirs), f"{py2!r}: the subset gives {mine!r}, ansible-core's {py3!r} {theirs!r}"
    method = py2.split("(")[0].rsplit(".", 1)[1]
    [note] = noting.notes
    assert (
        note.startswith(f"uses {method}(), a Python 2 dict method")
        and "fails on current ansible-core" in note
    )


def test_a_template_with_python2_dict_methods_renders_as_python2_did(templar: tuple[Any, Path]) -> None:
    py2 = "{% for k, v in opts.iteritems() | sort %}{{ k }}={{ v }} {% endfor %}{{ svc.has_key('db') }}."
    py3 = "{% for k, v in opts.items() | sort %}{{ k }}={{ v }} {% endfor %}{{ 'db' in svc }}."
    engine = templar[0]
    failed, _ = _ansible(lambda: engine.template(trust_as_template(py2)))
    assert not failed
    ok, theirs = _ansible(lambda: engine.template(trust_as_template(py3), overrides={"trim_blocks": True}))
    assert ok, theirs
    noting = _Noting()
    mine = render(py2, noting)
    assert not mine.unresolved and not mine.skipped
    assert mine.text == theirs
    assert sorted(n.split("()")[0] for n in noting.notes) == ["uses has_key", "uses iteritems"]


def test_most_of_the_corpus_is_evaluated_not_just_refused(templar: tuple[Any, Path]) -> None:
    """Refusing everything would pass the checks above: most cases must give a value."""
    outcomes = [_check_expression(templar[0], expr) for expr in EXPRESSIONS]
    assert outcomes.count("equal") >= 0.8 * len(outcomes), outcomes.count("equal")


# --------------------------------------------------------------------------- fuzz

_ATOMS = st.sampled_from(
    ["port", "ports", "name", "ratio", "flag", "nothing", "words", "opts", "empty", "0", "1", "-2", "2.5",
     "1e2", "'a'", "'Ab c'", "'%s'", "'{}'", "[]", "[1, 'b']", "(1, 2)", "()", "(3,)", "{'k': 1}", "none",
     "true", "missing"]
)  # fmt: skip
_FILTERS = st.sampled_from(
    ["string", "int", "float", "bool", "length", "list", "first", "last", "lower", "upper", "capitalize",
     "center(5)", "center", "trim", "reverse", "sort", "unique", "min", "max", "sum", "join(',')",
     "dictsort", "truncate(5)", "indent(2)", "default('d')", "d(0, true)", "to_json", "abs", "round",
     "format(1)", "format('x')", "flatten", "map('string') | list", "select | list", "dict2items",
     "replace('a', 'b')", "regex_replace('[a-z]', '_')", "split(',')", "ternary(1, 2)", "items2dict"]
)  # fmt: skip
_BINARY = st.sampled_from(["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "in", "and", "or"])
_TESTS = st.sampled_from(
    ["defined", "undefined", "none", "string", "number", "sequence", "mapping", "sameas none", "sameas true",
     "iterable", "integer", "float", "boolean", "divisibleby 2", "in [1, 2]", "truthy"]
)  # fmt: skip


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, f: f"{a} | {f}", inner, _FILTERS),
            st.builds(lambda a, op, b: f"({a} {op} {b})", inner, _BINARY, inner),
            st.builds(lambda a, t: f"({a} is {t})", inner, _TESTS),
            st.builds(lambda a, b: f"({a}, {b})", inner, inner),
            st.builds(lambda a, b: f"[{a}, {b}]", inner, inner),
            st.builds(lambda a: f"({a})[0]", inner),
            st.builds(lambda a, b, c: f"({a} if {b} else {c})", inner, inner, inner),
        )

    return st.recursive(_ATOMS, extend, max_leaves=4)


FUZZ_SEEN: list[str] = []


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(_expressions())
def test_fuzzed_expressions_are_never_wrong(expr: str) -> None:
    engine = _FUZZ_TEMPLAR[0] if _FUZZ_TEMPLAR else _make_fuzz_templar()
    _check_expression(engine, expr)


_FUZZ_TEMPLAR: list[Any] = []


def _make_fuzz_templar() -> Any:
    engine = Templar(loader=DataLoader(), variables=dict(VARS))
    _FUZZ_TEMPLAR.append(engine)
    return engine
