"""A seeded mutation fuzzer for every reader, the Jinja subset and live facts.

portpolicy runs on strangers' pull requests, so no input may make it raise, hang or grow
without bound. The fuzzer mutates the project's own fixtures (files each reader already
understands, so mutations land deep in the parsers) with byte, line and token operations
and a table of hostile tokens, writes each mutated input under a file name its reader
claims, and runs batches of inputs in child processes with ``RLIMIT_AS`` and a time bound.

A batch fails on: an exception that escaped (``exception``), a reader or stage that caught
its own bug (``internal-error``, PP000 "internal error" or exit code 3), a run past the
time bound (``timeout``; the child dumps its stack first), a memory error (``memory``), a
child killed by a signal (``crash``), a file written into the scanned tree (``write``),
an exit code other than 0/1 (``exit-code``) or raw control characters in the CLI's
output (``unsafe-output``). A failure the child cannot pin on one input is bisected; each
single failing input is shrunk (lines, then bytes) for local runs and saved with its
traceback.

Inputs are reproducible: input ``i`` of format ``F`` with seed ``S`` is always the same
bytes (``python -m tests.fuzz --format F --seed S --show i`` prints it).

    python -m tests.fuzz --minutes 10 [--format nginx ...] [--seed 1] [--out DIR] [--jobs 2]

``tests/test_fuzz.py`` runs a few hundred inputs per format with a fixed seed in CI.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import copy
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

MEMORY_LIMIT = 1024 * 1024 * 1024
"""Address space of each child: a batch of small inputs needs well under 300 MiB."""
BATCH_BASE_SECONDS = 8.0
"""CPU seconds for a child's start-up (imports, rule loading: about 0.7 s)."""
SECONDS_PER_INPUT = {
    "tree": 0.25,
    "ansible": 0.6,
    "expr": 0.1,
    "render": 0.1,
    "facts": 0.2,
    "proc": 0.1,
    "selftest": 0.1,
    "selftest-batch": 0.1,
}
"""CPU seconds per input on top of the base: about 10x what a healthy input takes."""
WALL_FACTOR = 4
WALL_SLACK = 30.0
"""Wall clock = 4 x the CPU bound + 30 s: only for a child that waits (a blocked read) instead of working."""
SHRINK_TIMEOUT = 6.0
"""While shrinking a hang: one input that takes this much CPU still hangs (a healthy one: < 1.5 s)."""
INPUT_SECONDS = 2.0
SECONDS_PER_KIB = 0.05
"""One expression, template or facts document evaluated in the child: at most 2 s plus 0.05 s per
KiB (linear work on a 100 KiB input takes about 1 s on a busy machine; quadratic work, minutes)."""
MAX_INPUT = 256 * 1024
"""Bytes per mutated file: large enough for long runs and deep nesting, small enough to be fast."""
CLI_MAIN = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGXCPU, all_threads=True); "
    "from portpolicy.cli import main; sys.exit(main())"
)
"""``python -m portpolicy``, plus a stack dump when the CPU time bound is reached."""
CLI_FORMATS = ("json", "text", "sarif", "github", "gitlab", "junit")

CLASSES = (
    "exception",
    "internal-error",
    "timeout",
    "memory",
    "crash",
    "write",
    "exit-code",
    "unsafe-output",
)

# --------------------------------------------------------------------------- hostile tokens

_DIGIT_TOKENS = [
    "9" * 40,
    "99999999999999999999",
    "1" + "0" * 5000,  # past Python's int() digit limit (4300)
    "-1",
    "0",
    "65535",
    "65536",
    "4294967376",  # 80 + 2**32
    "0x50",
    "0o120",
    "0120",
    "1e308",
    "1_000",
    "+80",
    "80.0",
    "nan",
    "inf",
    "²",
    "٨٠",  # Arabic-Indic 80
    "۸۰",  # Extended Arabic-Indic 80
    "८०",  # Devanagari 80
    "８０",  # fullwidth 80
    "𝟠𝟘",  # mathematical double-struck 80
    "½",
    "Ⅻ",
]
_WHITESPACE_TOKENS = [
    "\f",
    "\v",
    "\u00a0",
    "\u2028",
    "\u2029",
    "\u0085",
    "\r",
    "\r\n",
    "\ufeff",
    "\u200b",
    "\t",
]
_JINJA_TOKENS = [
    "{{",
    "}}",
    "{#",
    "#}",
    "{%",
    "%}",
    "{{ x }}",
    "{{ port }}",
    "{% if x %}",
    "{% endif %}",
    "{% for i in range(100000) %}",
    "{% endfor %}",
    "{% raw %}",
    "{% set x = 'a' * 60000 %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ lookup('pipe', 'id') }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ (((((((((( 1 )))))))))) }}",
    "{%- ",
    " -%}",
]
_SHELL_TOKENS = ['"', "'", "`", "\\", "\\\n", "${", "${X:-", "${X:-${Y:-", "$(", "$$", "$x", "$(id)", "\\x00"]
_YAML_TOKENS = [
    "&a ",
    "*a",
    "<<: *a",
    "!!python/object/apply:os.system ['id']",
    "!!binary AAAA",
    "!!int",
    "? ",
    "--- ",
    "...",
    "%YAML 1.1\n",
    "- &x [*x]",
    ": ",
    "- ",
    "|-\n",
    ">+\n",
]
_XML_TOKENS = [
    '<!DOCTYPE z [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE z [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    "&e;",
    "&#x30;",
    "&#0;",
    "<![CDATA[",
    "]]>",
    '<?xml version="1.0" encoding="UTF-16"?>',
    "<port/>",
    '<port port="80" protocol="tcp"/>',
    "</zone>",
]
_PATH_TOKENS = [
    "include /etc/*;",
    "include ../../../../../../etc/passwd;",
    "/dev/zero",
    "/proc/self/environ",
    "../../../../etc/shadow",
    "*/*/*/*/*/*/*/*",
    "[a-",
]
_WORD_TOKENS = [
    "listen",
    "Port",
    "ListenStream=",
    "ports:",
    "hostPort:",
    "EXPOSE",
    "bind",
    "Listen",
    "dport",
    "USER",
]

_TEXT_TOKENS = (
    _DIGIT_TOKENS
    + _WHITESPACE_TOKENS
    + _JINJA_TOKENS
    + _SHELL_TOKENS
    + _YAML_TOKENS
    + _XML_TOKENS
    + _PATH_TOKENS
    + _WORD_TOKENS
)
INTERESTING: tuple[bytes, ...] = (
    *(t.encode("utf-8") for t in _TEXT_TOKENS),
    *(b"\0", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x1b[31m", b"\x07", b"\x7f"),
)
"""Swapped in for a token or inserted anywhere; bytes, so invalid UTF-8 and NUL are included."""

EXPR_TOKENS: tuple[bytes, ...] = (
    tuple(
        t.encode("utf-8")
        for t in [
            "port",
            "ports",
            "svc",
            "missing",
            "secret",
            "|int",
            "| string",
            "|default(8080)",
            "| map('int') | list",
            "| join(',')",
            "| regex_replace('(a+)+$', '')",
            "| regex_search('x{1000}{1000}')",
            "| format(port)",
            "| flatten",
            "| combine({'a': 1}, recursive=True)",
            "| dictsort",
            "| sort",
            "| unique",
            "| select('equalto', 1)",
            "is version('1.0', '>=')",
            "is defined",
            " if port else ",
            "~",
            "+",
            "*",
            "**",
            "//",
            "%",
            "[0]",
            "[1:]",
            "[::-1]",
            ".split(':')",
            ".__class__",
            "['__dict__']",
            "range(10 ** 8)",
            "'a' * 65536",
            "[1] * 65536",
            "9 ** 9 ** 9",
            "2 ** 128",
            "lookup('env', 'HOME')",
            "query('pipe', 'id')",
            "'%s %d' % (1, 2)",
            "{'a': [1, {'b': 2}]}",
            "(",
            ")",
            "[",
            "]",
            "'",
            '"',
            "\\",
            "\\u00e9",
            "1e308",
            "1_0",
            "٣",
            "²",
            "omit",
            "none",
            "None",
            "true",
        ]
    )
    + INTERESTING[:40]
)


# --------------------------------------------------------------------------- formats and seeds


@dataclass(frozen=True)
class Seed:
    """A small tree; ``focus`` lists the files a mutation may change."""

    files: dict[str, bytes]
    focus: tuple[str, ...]


@dataclass
class Format:
    """One fuzzed input kind: its seeds, the lines and tokens its mutations draw on, how it runs."""

    name: str
    kind: str  # tree, ansible (both scanned), expr, render, facts, proc (evaluated in the child)
    seeds: list[Seed]
    lines: list[bytes] = field(default_factory=list)
    tokens: tuple[bytes, ...] = INTERESTING
    cli: bool = True

    @property
    def scanned(self) -> bool:
        return self.kind in ("tree", "ansible")


FIXTURE_FORMATS = (
    "apache",
    "compose",
    "daemons",
    "dockerfile",
    "firewall_cmd",
    "firewalld",
    "haproxy",
    "iptables",
    "kubernetes",
    "nftables",
    "nginx",
    "sshd",
    "sysctl",
    "systemd",
    "ufw",
)
"""Formats whose seeds are ``tests/fixtures/<format>/`` and strings in ``tests/readers/test_<format>.py``."""

SNIPPET_PATHS: dict[str, tuple[str, ...]] = {
    "apache": ("etc/apache2/apache2.conf", "etc/httpd/conf/httpd.conf"),
    "compose": ("compose.yaml", "docker-compose.yml"),
    "daemons": (
        "etc/redis/redis.conf",
        "etc/postgresql/16/main/postgresql.conf",
        "etc/mysql/my.cnf",
        "etc/cups/cupsd.conf",
    ),
    "dockerfile": ("Dockerfile", "app/Containerfile"),
    "firewall_cmd": ("provision/firewall.sh",),
    "firewalld": ("etc/firewalld/zones/public.xml", "etc/firewalld/services/svc.xml"),
    "haproxy": ("etc/haproxy/haproxy.cfg",),
    "iptables": ("etc/iptables/rules.v4", "scripts/firewall.sh"),
    "kubernetes": ("k8s/app.yaml", "etc/kubernetes/manifests/kube-apiserver.yaml"),
    "nftables": ("etc/nftables.conf", "etc/nftables.d/50-x.nft"),
    "nginx": ("etc/nginx/nginx.conf", "etc/nginx/conf.d/site.conf"),
    "sshd": ("etc/ssh/sshd_config",),
    "sysctl": ("etc/sysctl.d/90-x.conf", "etc/sysctl.conf"),
    "systemd": ("etc/systemd/system/x.service", "etc/systemd/system/x.socket"),
    "ufw": ("etc/ufw/user.rules", "setup-ufw.sh"),
}
"""Where a code snippet from a reader's tests is written: names that reader claims."""

ROLE_TREE: dict[str, str] = {
    "site.yml": "- hosts: all\n  roles: [web]\n",
    "roles/web/defaults/main.yml": (
        "http_port: 80\nports: [80, 443]\nsvc: {web: {port: '8080'}}\nnames: [a, b]\nflag: true\n"
    ),
    "roles/web/tasks/main.yml": (
        "- name: site\n  ansible.builtin.template:\n    src: site.conf.j2\n"
        "    dest: /etc/nginx/conf.d/site.conf\n"
        "- name: unit\n  ansible.builtin.template:\n    src: app.service.j2\n"
        "    dest: /etc/systemd/system/app.service\n"
    ),
    "roles/web/templates/app.service.j2": (
        "[Service]\nUser={{ 'www' }}\nExecStart=/bin/app --web.listen-address=:{{ http_port + 8000 }}\n"
    ),
}
"""A tiny playbook and role: a fuzzed template is deployed as ``site.conf.j2`` (an nginx file)."""
TEMPLATE_PATH = "roles/web/templates/site.conf.j2"

EXPR_SEEDS = [
    "port",
    "port + 1",
    "ports | join(',')",
    "svc.web.port | int",
    "svc['web']['port']",
    "range.split()[0] | int",
    "(port > 1024) | ternary('high', 'low')",
    "'x' if port == 9100 else 'y'",
    "missing | default(8080)",
    "'%s:%d' | format(addr, port)",
    "ports | map('int') | list",
    "{'a': 1}.a",
    "ports[1:]",
]
TEMPLATE_SEEDS = [
    "server {\n{% for p in ports %}\n  listen {{ p }};\n{% endfor %}\n  listen {{ http_port + 1 }};\n}\n",
    "{% set base = 8000 %}{% for i in range(3) %}listen {{ base + i }};\n{% endfor %}",
    "{# comment #}\n{% if flag %}listen {{ svc.web.port | int }};{% else %}listen 81;{% endif %}\n",
    "{% macro l(p) %}listen {{ p }};{% endmacro %}\n{{ l(80) }}\n{{ l(port) }}\n",
    "{% raw %}{{ not a var }}{% endraw %}\nlisten {{ ports | first }};\n",
]


def load_formats() -> dict[str, Format]:
    """Every fuzzed format with its seeds, read from the fixtures and the readers' tests."""
    formats = {name: _fixture_format(name) for name in FIXTURE_FORMATS}
    formats["ansible"] = _ansible_format()
    formats["jinja-template"] = _role_template_format()
    formats["jinja-expr"] = Format(
        "jinja-expr", "expr", [_text_seed(e) for e in _jinja_expressions()], tokens=EXPR_TOKENS, cli=False
    )
    formats["jinja-render"] = Format(
        "jinja-render", "render", [_text_seed(t) for t in _jinja_templates()], cli=False
    )
    formats["live-facts"] = Format("live-facts", "facts", [_text_seed(_live_facts_seed())], cli=False)
    formats["proc-net"] = Format("proc-net", "proc", _proc_seeds(), cli=False)
    for fmt in formats.values():
        fmt.lines = _line_pool(fmt)
    return formats


def _fixture_format(name: str) -> Format:
    from portpolicy.recognise import claims

    seeds: list[Seed] = []
    root = FIXTURES / name
    for scenario in sorted(p for p in root.iterdir() if p.is_dir()):
        files = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(scenario.rglob("*")) if p.is_file()
        }
        focus = tuple(path for path, data in files.items() if claims(path, data.decode("utf-8", "replace")))
        if not focus:
            continue
        seeds.append(Seed(files, focus))
        seeds.extend(Seed({path: files[path]}, (path,)) for path in focus if len(files) > 1)
    paths = SNIPPET_PATHS[name]
    for index, text in enumerate(
        _test_strings(REPO / "tests" / "readers" / f"test_{name}.py", multiline=True)
    ):
        path = paths[index % len(paths)]
        seeds.append(Seed({path: text.encode("utf-8", "surrogatepass")}, (path,)))
    return Format(name, "tree", seeds)


def _ansible_format() -> Format:
    root = FIXTURES / "ansible" / "site"
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    seed = Seed(files, tuple(files))
    role = {path: text.encode("utf-8") for path, text in ROLE_TREE.items()}
    role[TEMPLATE_PATH] = TEMPLATE_SEEDS[0].encode("utf-8")
    return Format("ansible", "ansible", [seed, Seed(role, tuple(role))])


def _role_template_format() -> Format:
    base = {path: text.encode("utf-8") for path, text in ROLE_TREE.items()}
    seeds = [
        Seed({**base, TEMPLATE_PATH: text.encode("utf-8", "surrogatepass")}, (TEMPLATE_PATH,))
        for text in _jinja_templates()
    ]
    return Format("jinja-template", "ansible", seeds)


def _text_seed(text: str) -> Seed:
    return Seed({"input": text.encode("utf-8", "surrogatepass")}, ("input",))


def _jinja_expressions() -> list[str]:
    found = _test_strings(REPO / "tests" / "ansible" / "test_jinja.py", multiline=False)
    return EXPR_SEEDS + [s for s in found if len(s) < 200 and "\n" not in s]


def _jinja_templates() -> list[str]:
    found = [
        t for t in _test_strings(REPO / "tests" / "ansible" / "test_jinja.py", multiline=True) if "{" in t
    ]
    j2 = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.j2"))]
    return TEMPLATE_SEEDS + found + j2


def _live_facts_seed() -> str:
    from portpolicy import live

    data = live.gather(str(FIXTURES / "live" / "host"), processes=False, byteorder="little")
    return json.dumps(data, indent=1)


def _proc_seeds() -> list[Seed]:
    root = FIXTURES / "live" / "host" / "proc" / "net"
    return [Seed({p.name: p.read_bytes()}, (p.name,)) for p in sorted(root.iterdir())]


def _test_strings(path: Path, multiline: bool) -> list[str]:
    """String literals of a test module: multi-line ones are file contents, short ones lines."""
    if not path.exists():
        return []
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, str) and len(value) >= 3 and ("\n" in value.strip("\n")) == multiline:
            out.append(value)
    return list(dict.fromkeys(out))


def _line_pool(fmt: Format) -> list[bytes]:
    """Lines an ``insert`` mutation may add: every seed line of the format, plus short test strings."""
    lines: set[bytes] = set()
    for seed in fmt.seeds:
        for path in seed.focus:
            lines.update(line for line in seed.files[path].splitlines(keepends=True) if line.strip())
    if fmt.name in FIXTURE_FORMATS:
        test = REPO / "tests" / "readers" / f"test_{fmt.name}.py"
        lines.update(
            (s + "\n").encode("utf-8", "surrogatepass")
            for s in _test_strings(test, multiline=False)
            if len(s) < 200
        )
    return sorted(lines)


# --------------------------------------------------------------------------- mutations

Mutator = Callable[[random.Random, bytes, Format], bytes]
_TOKEN = re.compile(rb"[A-Za-z0-9_.\-]+|[^\sA-Za-z0-9_.\-]")
_DIGITS = re.compile(rb"[0-9]+")


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def _m_insert_line(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    lines = _lines(data)
    line = rng.choice(fmt.lines) if fmt.lines else b"\n"
    lines.insert(rng.randrange(len(lines) + 1), line if line.endswith(b"\n") else line + b"\n")
    return b"".join(lines)


def _m_delete_lines(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    lines = _lines(data)
    start = rng.randrange(len(lines))
    del lines[start : start + rng.choice((1, 1, 2, 5))]
    return b"".join(lines)


def _m_duplicate_line(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    lines[at:at] = [lines[at]] * rng.choice((1, 2, 10, 1000))
    return b"".join(lines)


def _m_swap_lines(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    lines = _lines(data)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return b"".join(lines)


def _m_splice(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    """The head of this input and the tail of another seed of the same format."""
    other = rng.choice(fmt.seeds)
    donor = _lines(other.files[rng.choice(other.focus)])
    lines = _lines(data)
    return b"".join(lines[: rng.randrange(len(lines) + 1)] + donor[rng.randrange(len(donor)) :])


def _m_replace_token(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    spans = [m.span() for m in _TOKEN.finditer(data)]
    if not spans:
        return _m_insert_token(rng, data, fmt)
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(fmt.tokens) + data[end:]


def _m_insert_token(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(fmt.tokens) + data[at:]


def _m_replace_number(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    spans = [m.span() for m in _DIGITS.finditer(data)]
    if not spans:
        return _m_insert_token(rng, data, fmt)
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(_DIGIT_TOKENS).encode("utf-8") + data[end:]


def _m_whitespace(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    spans = [m.span() for m in re.finditer(rb"[ \t\n]", data)]
    if not spans:
        return _m_insert_token(rng, data, fmt)
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(_WHITESPACE_TOKENS).encode("utf-8") + data[end:]


def _m_long_run(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    at = rng.randrange(len(data) + 1)
    run = bytes([rng.choice(b"a 0{[(-\\\"'#\t\n:;=$%<")]) * rng.choice((100, 1000, 10_000, 100_000))
    return data[:at] + run + data[at:]


def _m_nesting(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    depth = rng.choice((50, 500, 5000))
    opener, closer = rng.choice(((b"[", b"]"), (b"{", b"}"), (b"(", b")"), (b"<a>", b"</a>"), (b"{{", b"}}")))
    body = opener * depth + (closer * depth if rng.random() < 0.5 else b"")
    if rng.random() < 0.3:  # YAML block nesting
        body = b"".join(b" " * i + b"- x:\n" for i in range(0, depth, 2))
    at = rng.randrange(len(data) + 1)
    return data[:at] + body + data[at:]


def _m_alias_bomb(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    bomb = b'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        bomb += f"x-{name}: &{name} [".encode() + b",".join([f"*{prev}".encode()] * 9) + b"]\n"
    return bomb + data if rng.random() < 0.5 else data + b"\n" + bomb


def _m_entity_bomb(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    doctype = rng.choice(_XML_TOKENS[:2]).encode("utf-8")
    head = b'<?xml version="1.0"?>\n' if data.startswith(b"<?xml") else b""
    body = data.split(b"?>", 1)[1] if head else data
    return head + doctype + b"\n" + body.replace(b'"80"', b'"&e;"', 1)


def _m_flip_bytes(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 8))):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _m_truncate(rng: random.Random, data: bytes, fmt: Format) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


MUTATORS: tuple[tuple[Mutator, int], ...] = (
    (_m_insert_line, 6),
    (_m_delete_lines, 4),
    (_m_duplicate_line, 3),
    (_m_swap_lines, 2),
    (_m_splice, 3),
    (_m_replace_token, 10),
    (_m_insert_token, 8),
    (_m_replace_number, 6),
    (_m_whitespace, 3),
    (_m_long_run, 2),
    (_m_nesting, 2),
    (_m_alias_bomb, 1),
    (_m_entity_bomb, 1),
    (_m_flip_bytes, 3),
    (_m_truncate, 1),
)
"""Mutation operators and their weights."""


def mutate(rng: random.Random, data: bytes, fmt: Format) -> tuple[bytes, list[str]]:
    """One to five stacked mutations; returns the bytes and the operators applied."""
    ops, weights = zip(*MUTATORS, strict=True)
    applied: list[str] = []
    for _ in range(1 + min(4, int(rng.expovariate(0.9)))):
        op = rng.choices(ops, weights)[0]
        data = op(rng, data, fmt)[:MAX_INPUT]
        applied.append(op.__name__.removeprefix("_m_"))
    return data, applied


def mutate_facts(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """Live facts: mostly structure-aware (swap a JSON value), sometimes bytes."""
    try:
        doc = json.loads(data)
    except ValueError:
        return data, []
    applied = []
    for _ in range(rng.randint(1, 3)):
        doc = _mutate_json(rng, doc)
        applied.append("json-value")
    return json.dumps(doc).encode("utf-8"), applied


_JSON_VALUES: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    65536,
    10**30,
    1.5,
    "",
    "80",
    "٨٠",
    "1024 65535",
    "x" * 10_000,
    "\x1b[31mred\x1b[0m",
    "\u2028",
    [],
    {},
    [[[[[[[[[[1]]]]]]]]]],
    {"port": "80"},
    list(range(2000)),
)


def _mutate_json(rng: random.Random, doc: Any) -> Any:
    """Replace, drop or retype one value somewhere in the document."""
    if isinstance(doc, dict) and doc and rng.random() < 0.8:
        key = rng.choice(sorted(doc, key=str))
        choice = rng.random()
        if choice < 0.15:
            del doc[key]
        elif choice < 0.5:
            doc[key] = copy.deepcopy(rng.choice(_JSON_VALUES))
        else:
            doc[key] = _mutate_json(rng, doc[key])
        return doc
    if isinstance(doc, list) and doc and rng.random() < 0.8:
        at = rng.randrange(len(doc))
        if rng.random() < 0.2:
            doc.extend(copy.deepcopy([doc[at]] * rng.choice((1, 10, 1000))))
        else:
            doc[at] = _mutate_json(rng, doc[at])
        return doc
    return copy.deepcopy(rng.choice(_JSON_VALUES))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Input:
    """One fuzzed input: a tree (scanned formats) or one text (evaluated formats)."""

    format: str
    seed: int
    index: int
    files: dict[str, bytes]
    mutated: str
    operators: tuple[str, ...]

    @property
    def ident(self) -> str:
        return f"{self.index:06d}"

    @property
    def data(self) -> bytes:
        return self.files[self.mutated]


def make_input(fmt: Format, seed: int, index: int) -> Input:
    """Input ``index`` of ``fmt`` for ``seed``: always the same bytes, whatever ran before."""
    rng = random.Random(f"{seed}:{fmt.name}:{index}")
    base = rng.choice(fmt.seeds)
    path = rng.choice(base.focus)
    if fmt.kind == "facts" and rng.random() < 0.8:
        data, ops = mutate_facts(rng, base.files[path])
    else:
        data, ops = mutate(rng, base.files[path], fmt)
    return Input(fmt.name, seed, index, {**base.files, path: data}, path, tuple(ops))


def inputs(fmt: Format, seed: int, start: int, count: int) -> list[Input]:
    return [make_input(fmt, seed, i) for i in range(start, start + count)]


# --------------------------------------------------------------------------- running a batch


@dataclass
class Failure:
    """What went wrong, on which input (None: not yet pinned on one), and where in the code."""

    cls: str
    format: str
    input: Input | None
    detail: str
    trace: str = ""
    via: str = "library"
    hint: Input | None = None
    """The input a scan was reading when it stopped: tried alone first when pinning."""

    @property
    def signature(self) -> str:
        """Two failures with the same signature are the same bug (class, exception, innermost frame).

        A hang is caught at whatever line its loop was on, so only its function counts.
        """
        if self.cls == "timeout":
            return f"timeout in {innermost_frame(self.trace, with_line=False)}"
        return f"{self.cls} {exception_name(self.detail, self.trace)} at {innermost_frame(self.trace)}"


@dataclass
class BatchResult:
    failures: list[Failure]
    seconds: float
    peak_rss_kib: int = 0


def innermost_frame(trace: str, with_line: bool = True) -> str:
    """``file:line function`` of the deepest portpolicy frame in a traceback or stack dump.

    A traceback lists the innermost frame last, a faulthandler dump (a hang) first.
    """
    frames = re.findall(r'File "([^"]+)", line (\d+),? in (\S+)', trace)
    ours = [f for f in frames if "/portpolicy/" in f[0]] or frames
    if not ours:
        return "?"
    path, line, func = ours[-1] if "Traceback" in trace else ours[0]
    short = path.split("/portpolicy/", 1)[-1] if "/portpolicy/" in path else Path(path).name
    return f"{short}:{line} {func}" if with_line else f"{short} {func}"


def exception_name(detail: str, trace: str) -> str:
    lines = [line for line in trace.strip().splitlines() if line and not line.startswith(" ")]
    if lines and "Traceback" in trace:
        return lines[-1].split(":", 1)[0]
    m = re.search(r"\((\w+(?:Error|Exception|Exit|Interrupt)\w*)", detail)
    return m.group(1) if m else "-"


def time_bound(kind: str, count: int) -> float:
    return BATCH_BASE_SECONDS + SECONDS_PER_INPUT[kind] * count


def run_batch(
    fmt: Format, batch: Sequence[Input], workdir: Path, via: str = "library", limit: float | None = None
) -> BatchResult:
    """Write ``batch`` under ``workdir``, run it in a bounded child, classify what happened."""
    root = Path(tempfile.mkdtemp(prefix=f"{fmt.name}-", dir=workdir))
    try:
        by_id = {item.ident: item for item in batch}
        for item in batch:
            for rel, data in item.files.items():
                target = root / item.ident / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        before = _tree_state(root)
        limit = limit or time_bound(fmt.kind, len(batch))
        run = _run_library_child if via == "library" else _run_cli_child
        result = run(fmt, root, by_id, limit, via)
        if fmt.scanned and _tree_state(root) != before:
            result.failures.append(Failure("write", fmt.name, None, "the scanned tree changed", via=via))
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_dir() or p.is_symlink()
    }


def _limits(memory: int, cpu_seconds: float) -> Callable[[], None]:
    """Address space, CPU time (SIGXCPU at the bound, which dumps the stack; SIGKILL a second later), no core."""
    cpu = max(1, int(cpu_seconds + 0.999))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _child_env() -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if k not in {"GITHUB_ACTIONS", "GITLAB_CI", "FORCE_COLOR"}
    }
    return {**inherited, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"}


@dataclass
class _Done:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


def _spawn(cmd: list[str], cwd: Path, limit: float) -> _Done:
    """Run ``cmd`` with ``limit`` CPU seconds and a generous wall clock (a blocked read uses no CPU).

    CPU time, not wall time, decides: the bound must hold on a busy CI machine. Past the wall
    clock the child gets SIGABRT, so faulthandler prints where it was, then SIGKILL.
    """
    start = time.monotonic()
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limits(MEMORY_LIMIT, limit),
    ) as proc:
        timed_out = False
        try:
            out, err = proc.communicate(timeout=WALL_FACTOR * limit + WALL_SLACK)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGABRT)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
    return _Done(proc.returncode, _text(out), _text(err), timed_out, time.monotonic() - start)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def _run_library_child(
    fmt: Format, root: Path, by_id: dict[str, Input], limit: float, via: str
) -> BatchResult:
    # The child dumps its stack shortly before the parent would kill it: a hang shows where it hangs.
    cmd = [sys.executable, "-m", "tests.fuzz", "--child", fmt.kind, str(root)]
    done = _spawn(cmd, root, limit)
    report = _last_json(done.stdout)
    failures: list[Failure] = []
    current = _in_progress(done.stderr)
    for item in report.get("failures", []):
        failures.append(
            Failure(
                item["class"],
                fmt.name,
                by_id.get(item.get("input") or ""),
                item["detail"],
                item.get("trace", ""),
            )
        )
    left = root / f".trace-{current}"
    if not report and not fmt.scanned and left.exists() and "Timeout (" in left.read_text(errors="replace"):
        done.stderr += "\n" + left.read_text(
            errors="replace"
        )  # where the input was when its own bound passed
    if not report:
        died = _died(fmt, done, by_id.get(current or "") if not fmt.scanned else None)
        died.hint = by_id.get(current or "") if fmt.scanned else None
        failures.append(died)
    return BatchResult(failures, done.seconds, int(report.get("peak_rss_kib", 0)))


def _died(fmt: Format, done: _Done, current: Input | None, via: str = "library") -> Failure:
    """The child gave no report: it hung, ran out of memory, crashed or raised."""
    trace = done.stderr[-6000:]
    if done.timed_out:
        return Failure("timeout", fmt.name, current, f"no result within {done.seconds:.0f} s", trace, via)
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and "most recent call first" in done.stderr:
        return Failure("timeout", fmt.name, current, "over its CPU time bound", trace, via)
    if "MemoryError" in done.stderr or "bad_alloc" in done.stderr or "Cannot allocate memory" in done.stderr:
        return Failure("memory", fmt.name, current, "memory limit reached", trace, via)
    if done.returncode < 0:
        return Failure("crash", fmt.name, current, f"killed by signal {-done.returncode}", trace, via)
    return Failure("exception", fmt.name, current, f"exit code {done.returncode}", trace, via)


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _in_progress(stderr: str) -> str | None:
    """The input an evaluating child was working on when it stopped (its last ``begin`` line)."""
    begun = re.findall(r"^fuzz: begin (\d+)$", stderr, re.M)
    return begun[-1] if begun else None


_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Never raw in terminal output: C0 controls but tab and newline, DEL, C1 (0x9b is a one-byte
CSI), line separators, bidirectional overrides (a finding is one line and shows what it says)."""
_INPUT_ID = re.compile(r"(?<![\w/])(\d{6})/")


def _run_cli_child(fmt: Format, root: Path, by_id: dict[str, Input], limit: float, via: str) -> BatchResult:
    """``portpolicy check`` on the batch in one output format; its exit code and output are judged."""
    out_format = via.split(":", 1)[1]
    cmd = [sys.executable, "-c", CLI_MAIN, "check", "--debug", "--no-config", "--fail-on", "never"]
    done = _spawn([*cmd, "--format", out_format, "."], root, limit)
    died = done.timed_out or done.returncode < 0 or "MemoryError" in done.stderr
    if died or (done.returncode not in (0, 1, 3) and "Traceback" in done.stderr):
        return BatchResult([_died(fmt, done, None, via)], done.seconds)
    failures: list[Failure] = []
    if done.returncode == 3:
        failures.append(Failure("internal-error", fmt.name, None, _last_line(done.stderr), done.stderr, via))
    elif done.returncode not in (0, 1):
        failures.append(
            Failure("exit-code", fmt.name, None, f"exit {done.returncode}: {done.stderr[-500:]}", via=via)
        )
    failures.extend(_cli_internal_errors(fmt, done, by_id, via))
    problem = _unsafe_output(out_format, done.stdout) if done.returncode in (0, 1) else None
    if problem is not None:
        failures.append(
            Failure("unsafe-output", fmt.name, _owner(done.stdout, problem[0], by_id), problem[1], via=via)
        )
    hit = _UNSAFE.search(done.stderr)
    if hit is not None and not failures:  # --debug tracebacks of internal errors quote raw text
        failures.append(
            Failure(
                "unsafe-output",
                fmt.name,
                _owner(done.stderr, hit.start(), by_id),
                f"stderr: raw {hit.group()!r}",
                via=via,
            )
        )
    return BatchResult(failures, done.seconds)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:1000] if lines else ""


def _cli_internal_errors(fmt: Format, done: _Done, by_id: dict[str, Input], via: str) -> list[Failure]:
    """PP000 "internal error" findings, in whatever format; with ``--debug`` their tracebacks are on stderr."""
    out = []
    for hit in re.finditer("internal error", done.stdout):
        line_start = done.stdout.rfind("\n", 0, hit.start()) + 1
        line = done.stdout[line_start : done.stdout.find("\n", hit.start()) % (len(done.stdout) + 1)]
        out.append(
            Failure(
                "internal-error",
                fmt.name,
                _owner(done.stdout, hit.start(), by_id),
                line[:1000],
                done.stderr[-6000:],
                via,
            )
        )
    return out


def _owner(text: str, at: int, by_id: dict[str, Input]) -> Input | None:
    """The input whose directory (``000123/...``) is named last before ``at``."""
    ids = _INPUT_ID.findall(text, max(0, at - 2000), at + 200)
    return by_id.get(ids[-1]) if ids else None


def _unsafe_output(out_format: str, stdout: str) -> tuple[int, str] | None:
    """Where and why a report is unsafe: a document that does not parse, or raw control characters."""
    if out_format in ("json", "sarif", "gitlab"):
        try:
            json.loads(stdout)
        except ValueError as exc:
            return 0, f"--format {out_format} is not valid JSON: {exc}"
        return None
    if out_format == "junit":
        import xml.etree.ElementTree as ET

        try:
            ET.fromstring(stdout)
        except ET.ParseError as exc:
            return 0, f"--format junit is not well-formed XML: {exc}"
        return None
    hit = _UNSAFE.search(stdout)
    if hit is None:
        return None
    line_start = stdout.rfind("\n", 0, hit.start()) + 1
    return (
        hit.start(),
        f"raw {hit.group()!r} in --format {out_format}: {stdout[line_start : hit.start() + 80]!r}",
    )


# --------------------------------------------------------------------------- the child side


def child_main(kind: str, root: str) -> int:
    """Run one batch and print one JSON line: the failures, the time, the peak memory."""
    import faulthandler

    faulthandler.register(signal.SIGXCPU, all_threads=True)  # the CPU bound: show where it was
    failures: list[dict[str, str | None]] = []
    try:
        if kind in ("tree", "ansible"):
            failures = _child_scan(root)
        elif kind == "selftest-batch":
            _selftest_batch(root)
        else:
            failures = _child_evaluate(kind, root)
    except MemoryError:
        failures.append(
            {"class": "memory", "input": None, "detail": "MemoryError", "trace": traceback.format_exc()}
        )
    except BaseException as exc:  # exactly what the fuzzer looks for
        cls = "memory" if isinstance(exc, MemoryError) else "exception"
        failures.append(
            {"class": cls, "input": None, "detail": repr(exc)[:500], "trace": traceback.format_exc()}
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"failures": failures, "peak_rss_kib": peak}))
    return 0


def _child_scan(root: str) -> list[dict[str, str | None]]:
    from portpolicy.config import Config
    from portpolicy.pipeline import scan
    from portpolicy.report import json as json_report
    from portpolicy.report import text as text_report

    traces = _record_internal_error_traces()
    _announce_reads()
    os.chdir(root)
    report = scan(["."], Config())
    json_report.render(report)
    text_report.render(report, verbose=True)
    failures: list[dict[str, str | None]] = []
    for finding in report.findings:
        if "internal error" in finding.message:
            path = finding.location.path
            cls = "memory" if "MemoryError" in finding.message else "internal-error"
            trace = "".join(traces.get(path, [])) or "".join(getattr(report, "tracebacks", []))[-6000:]
            failures.append(
                {"class": cls, "input": path.split("/", 1)[0], "detail": finding.message, "trace": trace}
            )
    return failures


def _announce_reads() -> None:
    """Name each input on stderr as its files are read, so a hang names the input it hangs on."""
    from portpolicy import pipeline

    safeio = sys.modules.get("portpolicy.safeio")
    owner, name = (safeio, "read_bytes") if safeio is not None else (pipeline, "read_candidate")
    original = getattr(owner, name)

    def announced(first: Any, *args: Any, **kwargs: Any) -> Any:
        found = re.search(r"(?:^|/)(\d{6})/", str(getattr(first, "path", first)))
        if found:
            print(f"fuzz: begin {found.group(1)}", file=sys.stderr, flush=True)
        return original(first, *args, **kwargs)

    setattr(owner, name, announced)


def _record_internal_error_traces() -> dict[str, list[str]]:
    """Keep the traceback behind each "internal error" ParseError (built inside ``except``)."""
    from portpolicy import model

    traces: dict[str, list[str]] = {}
    original = model.ParseError.__init__

    def init(self: model.ParseError, message: str, location: model.Location, host: str = "") -> None:
        original(self, message, location, host)
        if "internal error" in message and sys.exc_info()[1] is not None:
            traces.setdefault(location.path, []).append(traceback.format_exc())

    model.ParseError.__init__ = init  # type: ignore[method-assign]
    return traces


def _child_evaluate(kind: str, root: str) -> list[dict[str, str | None]]:
    """Each input alone, timed in CPU seconds; a slow one leaves the stack it was on."""
    evaluate = _EVALUATORS[kind]()
    failures: list[dict[str, str | None]] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        ident = folder.name
        data = b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
        print(f"fuzz: begin {ident}", file=sys.stderr, flush=True)
        bound = INPUT_SECONDS + SECONDS_PER_KIB * len(data) / 1024
        with open(Path(root, f".trace-{ident}"), "w+", encoding="utf-8") as stack:
            took, failure = _timed(evaluate, data, bound, stack)
            if failure is not None:
                failures.append({"input": ident, **failure})
            if took > bound:
                stack.seek(0)
                detail = f"took {took:.1f} CPU s, over the {bound:.1f} s bound for {len(data)} bytes"
                failures.append({"class": "timeout", "input": ident, "detail": detail, "trace": stack.read()})
    return failures


def _timed(
    evaluate: Callable[[bytes], None], data: bytes, bound: float, stack: Any
) -> tuple[float, dict[str, str] | None]:
    """CPU seconds ``evaluate(data)`` took and what it raised; its stack goes to ``stack`` after ``bound``."""
    import faulthandler

    faulthandler.dump_traceback_later(bound, file=stack)
    start = time.process_time()
    failure: dict[str, str] | None = None
    try:
        evaluate(data)
    except MemoryError:
        failure = {"class": "memory", "detail": "MemoryError", "trace": traceback.format_exc()}
    except Exception as exc:
        failure = {"class": "exception", "detail": repr(exc)[:500], "trace": traceback.format_exc()}
    took = time.process_time() - start
    faulthandler.cancel_dump_traceback_later()
    return took, failure


def _jinja_resolver() -> Callable[[str], Any]:
    from portpolicy.ansible import jinja

    values: dict[str, Any] = {
        "port": 9100,
        "http_port": 80,
        "addr": "0.0.0.0",
        "ports": [80, 443],
        "svc": {"web": {"port": "8080"}},
        "range": "1024 65535",
        "flag": True,
        "names": ["a", "b"],
        "nested": [[1, [2, [3]]]],
        "secret": jinja.UnknownValue("the value is vault-encrypted"),
    }

    def resolve(name: str) -> Any:
        if name in values:
            return values[name]
        raise jinja.Undefined(f"variable {name!r} is not defined")

    return resolve


def _expr_evaluator() -> Callable[[bytes], None]:
    from portpolicy.ansible import jinja

    resolve = _jinja_resolver()

    def run(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace")
        with contextlib.suppress(jinja.Unknown):
            jinja.to_string(jinja.evaluate(text, resolve))
        with contextlib.suppress(jinja.Unknown):
            jinja.to_string(jinja.template_string("{{ " + text + " }}", resolve))
        list(jinja.iter_names(text))

    return run


def _render_evaluator() -> Callable[[bytes], None]:
    from portpolicy.ansible import jinja

    resolve = _jinja_resolver()

    def run(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace")
        with contextlib.suppress(jinja.TemplateSyntaxError, jinja.Unknown):
            jinja.render(text, resolve)
        with contextlib.suppress(jinja.Unknown):
            jinja.template_string(text, resolve)

    return run


def _facts_evaluator() -> Callable[[bytes], None]:
    from portpolicy import live_audit
    from portpolicy.report import json as json_report
    from portpolicy.report import text as text_report

    def run(data: bytes) -> None:
        try:
            doc = json.loads(data)
        except ValueError:
            return  # the CLI says "cannot read facts" and exits 2
        if isinstance(doc, dict) and isinstance(doc.get("ansible_facts"), dict):
            doc = doc["ansible_facts"].get("portpolicy_port_facts", doc)
        if not isinstance(doc, dict):
            doc = {"listeners": doc}
        try:
            report = live_audit.audit(doc, "fuzz")
        except live_audit.FactsError:
            return
        json_report.render(report)
        text_report.render(report, verbose=True)

    return run


def _proc_evaluator() -> Callable[[bytes], None]:
    from portpolicy import live

    def run(data: bytes) -> None:
        text = data.decode("utf-8", errors="replace")
        for name in ("tcp", "tcp6", "udp", "udp6"):
            errors: list[dict[str, object]] = []
            live.parse_proc_net(text, name, "/proc/net/" + name, errors, "little")

    return run


def _selftest_evaluator() -> Callable[[bytes], None]:
    """For the fuzzer's own tests: fails in each class on a marker, so the harness is shown to see it."""

    def run(data: bytes) -> None:
        if b"RAISE" in data:
            raise ValueError("planted")
        if b"HANG" in data:
            _planted_hang()
        if b"ALLOC" in data:
            bytearray(3 * MEMORY_LIMIT)  # instant without the limit (pages are not touched)

    return run


def _planted_hang() -> None:
    while True:  # busy, as a runaway parser is: the CPU time bound stops it
        pass


def _selftest_batch(root: str) -> None:
    """For the fuzzer's own tests: a failure the child cannot pin on one input, so it is bisected."""
    if any(b"RAISE" in p.read_bytes() for p in Path(root).rglob("*") if p.is_file()):
        raise ValueError("planted, somewhere in the batch")


_EVALUATORS: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "expr": _expr_evaluator,
    "render": _render_evaluator,
    "facts": _facts_evaluator,
    "proc": _proc_evaluator,
    "selftest": _selftest_evaluator,
}


# --------------------------------------------------------------------------- bisecting and shrinking


def pin(
    fmt: Format, batch: Sequence[Input], failure: Failure, workdir: Path, budget: float = 300.0
) -> Failure:
    """The single input behind a batch failure, by bisection; unchanged if it takes two together."""
    if failure.input is not None:
        return failure
    deadline = time.monotonic() + budget
    if failure.hint is not None:
        alone = _same_class(run_batch(fmt, [failure.hint], workdir, failure.via), failure.cls)
        if alone is not None:
            alone.input = failure.hint
            return alone
    suspects = list(batch)
    while len(suspects) > 1 and time.monotonic() < deadline:
        half = len(suspects) // 2
        for part in (suspects[:half], suspects[half:]):
            again = _same_class(run_batch(fmt, part, workdir, failure.via), failure.cls)
            if again is not None:
                suspects = part
                if again.input is not None:
                    suspects = [again.input]
                failure = again
                break
        else:
            return failure  # neither half alone: an interaction between inputs
    if len(suspects) == 1:
        failure.input = suspects[0]
    return failure


def _same_class(result: BatchResult, cls: str) -> Failure | None:
    return next((f for f in result.failures if f.cls == cls), None)


def shrink(fmt: Format, failure: Failure, workdir: Path, budget: float = 120.0) -> Failure:
    """A smaller input with the same failure signature: other files dropped, then lines, then bytes."""
    item = failure.input
    if item is None:
        return failure
    deadline = time.monotonic() + budget
    signature = failure.signature

    def still_fails(candidate: Input) -> Failure | None:
        if time.monotonic() > deadline:
            return None
        limit = SHRINK_TIMEOUT if failure.cls == "timeout" else None
        result = run_batch(fmt, [candidate], workdir, failure.via, limit)
        return next((f for f in result.failures if f.signature == signature), None)

    best = failure
    if len(item.files) > 1:
        lone = _replace(item, {item.mutated: item.data})
        found = still_fails(lone)
        if found is not None:
            best, item = found, lone
    for unit in ("lines", "bytes"):
        chunks = _split(item.data, unit)
        size = max(1, len(chunks) // 2)
        while size >= 1 and time.monotonic() < deadline:
            changed = False
            for start in range(0, len(chunks), size):
                trial = chunks[:start] + chunks[start + size :]
                if not trial:
                    continue
                candidate = _replace(item, {**item.files, item.mutated: b"".join(trial)})
                found = still_fails(candidate)
                if found is not None:
                    best, item, chunks, changed = found, candidate, trial, True
                    break
            if not changed:
                size //= 2
            if len(chunks) > 400 and unit == "bytes":
                break  # byte-level shrinking of a large input would not finish in the budget
    best.input = item
    return best


def _split(data: bytes, unit: str) -> list[bytes]:
    return data.splitlines(keepends=True) if unit == "lines" else [bytes([b]) for b in data]


def _replace(item: Input, files: dict[str, bytes]) -> Input:
    return Input(item.format, item.seed, item.index, files, item.mutated, item.operators)


# --------------------------------------------------------------------------- campaigns


@dataclass
class Stats:
    """What a campaign did for one format."""

    inputs: int = 0
    batches: int = 0
    seconds: float = 0.0
    peak_rss_kib: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)


def fuzz_format(
    fmt: Format,
    seed: int,
    count: int,
    workdir: Path,
    batch_size: int = 100,
    jobs: int = 2,
    cli_every: int = 3,
    start: int = 0,
) -> Stats:
    """``count`` inputs of ``fmt`` in batches; every ``cli_every``-th batch runs through the CLI."""
    batches = [
        inputs(fmt, seed, first, min(batch_size, start + count - first))
        for first in range(start, start + count, batch_size)
    ]
    offset = zlib.crc32(fmt.name.encode())  # formats start at different output formats
    vias = [
        f"cli:{CLI_FORMATS[(n // cli_every + offset) % len(CLI_FORMATS)]}"
        if fmt.cli and cli_every and n % cli_every == cli_every - 1
        else "library"
        for n in range(len(batches))
    ]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(lambda batch, via: _run_to_completion(fmt, batch, via, workdir), batches, vias))
    stats = Stats()
    for part in parts:
        _merge(stats, part)
    return stats


MAX_RERUNS = 4
"""Times a batch is run again without the input that stopped it (a hang stops the whole child)."""


def _run_to_completion(fmt: Format, batch: list[Input], via: str, workdir: Path) -> Stats:
    """Run a batch, pin each failure on its input; when one stopped the child, run the rest again."""
    stats = Stats(inputs=len(batch))
    remaining = batch
    for _ in range(MAX_RERUNS + 1):
        result = run_batch(fmt, remaining, workdir, via)
        stats.batches += 1
        stats.seconds += result.seconds
        stats.peak_rss_kib = max(stats.peak_rss_kib, result.peak_rss_kib)
        culprits: set[int] = set()
        for failure in result.failures:
            stopped = failure.input is None
            pinned = pin(fmt, remaining, failure, workdir)
            stats.by_class[pinned.cls] += 1
            stats.failures.append(pinned)
            if stopped and pinned.input is not None:
                culprits.add(pinned.input.index)
        if not culprits:
            break
        remaining = [item for item in remaining if item.index not in culprits]
    return stats


def describe(failure: Failure, limit: int = 1500) -> str:
    """A failure in words: class, where, the input's id and operators, the minimal bytes."""
    item = failure.input
    where = "several inputs together" if item is None else f"input {item.index} (seed {item.seed})"
    lines = [
        f"[{failure.cls}] {failure.format} via {failure.via}: {where}",
        f"  {failure.signature}",
        f"  {failure.detail[:400]}",
    ]
    if item is not None:
        lines.append(f"  file {item.mutated!r} after {', '.join(item.operators)}; {len(item.data)} bytes:")
        lines.append("  " + repr(item.data[:300]) + ("..." if len(item.data) > 300 else ""))
    if failure.trace:
        lines.append("  " + "\n  ".join(failure.trace.strip().splitlines()[-8:]))
    return "\n".join(lines)[:limit]


def save(failure: Failure, out: Path, number: int) -> Path:
    """Write a reproducer directory: the input tree, and what happened."""
    target = out / f"{number:03d}-{failure.cls}-{failure.format}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if failure.input is not None:
        for rel, data in failure.input.files.items():
            path = target / "input" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (target / "README.txt").write_text(
        describe(failure, limit=20_000) + "\n\n" + failure.trace, encoding="utf-8"
    )
    return target


def campaign(
    formats: Sequence[Format],
    seed: int,
    minutes: float,
    out: Path,
    batch_size: int,
    jobs: int,
    chunk: int,
) -> dict[str, Stats]:
    """Round-robin over ``formats`` in chunks of ``chunk`` inputs until the time is up."""
    deadline = time.monotonic() + minutes * 60
    stats = {fmt.name: Stats() for fmt in formats}
    seen: dict[str, Failure] = {}
    with tempfile.TemporaryDirectory(prefix="portpolicy-fuzz-") as tmp:
        workdir = Path(tmp)
        while time.monotonic() < deadline:
            for fmt in formats:
                if time.monotonic() >= deadline:
                    break
                done = stats[fmt.name]
                size = chunk // 3 if fmt.kind == "ansible" else chunk
                part = fuzz_format(fmt, seed, size, workdir, batch_size, jobs, start=done.inputs)
                _merge(done, part)
                print(f"{fmt.name}: {done.inputs} inputs, failures {dict(done.by_class)}", flush=True)
                for failure in part.failures:
                    if failure.signature not in seen:
                        seen[failure.signature] = shrink(fmt, failure, workdir)
                        path = save(seen[failure.signature], out, len(seen))
                        print(
                            f"new failure, saved to {path}:\n{describe(seen[failure.signature])}", flush=True
                        )
    _write_summary(stats, seen, out, seed)
    return stats


def _merge(into: Stats, part: Stats) -> None:
    into.inputs += part.inputs
    into.batches += part.batches
    into.seconds += part.seconds
    into.peak_rss_kib = max(into.peak_rss_kib, part.peak_rss_kib)
    into.by_class.update(part.by_class)
    into.failures.extend(part.failures)


def _write_summary(stats: dict[str, Stats], seen: dict[str, Failure], out: Path, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "seed": seed,
        "formats": {
            name: {
                "inputs": s.inputs,
                "batches": s.batches,
                "child_seconds": round(s.seconds, 1),
                "peak_rss_mib": round(s.peak_rss_kib / 1024, 1),
                "failures": dict(s.by_class),
                "distinct": sorted({f.signature for f in s.failures}),
            }
            for name, s in stats.items()
        },
        "distinct": [
            {
                "signature": sig,
                "class": f.cls,
                "format": f.format,
                "via": f.via,
                "input": f.input.index if f.input else None,
                "file": f.input.mutated if f.input else None,
                "bytes": base64.b64encode(f.input.data).decode() if f.input else None,
                "detail": f.detail[:1000],
                "trace": f.trace[-3000:],
            }
            for sig, f in seen.items()
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


def table(stats: dict[str, Stats]) -> str:
    """Inputs and failures by class per format, as a Markdown table."""
    head = "| format | inputs | " + " | ".join(CLASSES) + " | distinct |"
    rows = [head, "|" + "---|" * (len(CLASSES) + 3)]
    for name, s in stats.items():
        distinct = len({f.signature for f in s.failures})
        cells = " | ".join(str(s.by_class.get(c, 0)) for c in CLASSES)
        rows.append(f"| {name} | {s.inputs} | {cells} | {distinct} |")
    total = sum(s.inputs for s in stats.values())
    rows.append(
        f"| **total** | {total} | "
        + " | ".join(str(sum(s.by_class.get(c, 0) for s in stats.values())) for c in CLASSES)
        + " | |"
    )
    return "\n".join(rows)


def show(fmt: Format, seed: int, index: int) -> str:
    item = make_input(fmt, seed, index)
    return f"{item.mutated} ({', '.join(item.operators)}):\n{item.data!r}"


def fingerprint(items: Iterable[Input]) -> str:
    """A digest of inputs, to test that a seed always gives the same bytes."""
    digest = hashlib.sha256()
    for item in items:
        for rel in sorted(item.files):
            digest.update(rel.encode() + b"\0" + item.files[rel] + b"\0")
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to fuzz (default 5)")
    parser.add_argument("--format", action="append", help="only this format (repeatable); default all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="where reproducers are saved")
    parser.add_argument("--jobs", type=int, default=2, help="child processes at once")
    parser.add_argument("--batch", type=int, default=100, help="inputs per child")
    parser.add_argument("--chunk", type=int, default=400, help="inputs per format before moving on")
    parser.add_argument("--show", type=int, metavar="INDEX", help="print input INDEX of --format and exit")
    parser.add_argument("--list", action="store_true", help="list the formats and their seed counts")
    parser.add_argument("--child", metavar="KIND", help=argparse.SUPPRESS)
    parser.add_argument("root", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.root)
    formats = load_formats()
    if args.list:
        for name, fmt in formats.items():
            print(f"{name:16} {fmt.kind:8} {len(fmt.seeds):4} seeds {len(fmt.lines):5} lines")
        return 0
    chosen = [formats[name] for name in args.format or formats]
    if args.show is not None:
        print(show(chosen[0], args.seed, args.show))
        return 0
    stats = campaign(chosen, args.seed, args.minutes, args.out, args.batch, args.jobs, args.chunk)
    print(table(stats))
    failures = sum(len(s.failures) for s in stats.values())
    print(f"\n{failures} failing inputs; reproducers and summary.json in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
