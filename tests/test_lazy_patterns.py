"""Patterns compiled on first use (``lazyre.lazy``, ``signatures.glob_test``) answer as compiled ones (#13)."""

from __future__ import annotations

import copy
import fnmatch
import re
import subprocess
import sys

import pytest

from portpolicy import signatures
from portpolicy.lazyre import lazy
from portpolicy.signatures import appconfig, daemons, glob_test
from tests.helpers import REPO

TEXT = "listen 80;\nserver_name a.example;\n  listen 10.0.0.1:8443 ssl;\n# listen 9\n"


def test_a_lazy_pattern_compiles_on_first_use_and_answers_as_re() -> None:
    source, flags = r"^[ \t]*listen[ \t]+(?P<addr>[\d.]+:)?(?P<port>\d+)", re.M
    pattern, compiled = lazy(source, flags), re.compile(source, flags)
    assert "search" not in vars(pattern)  # nothing compiled yet
    assert repr(pattern) == f"lazy({source!r})"
    assert [m.span() for m in pattern.finditer(TEXT)] == [m.span() for m in compiled.finditer(TEXT)]
    assert "search" in vars(pattern)  # compiled once, its methods kept
    assert pattern.search(TEXT, 5) is not None and pattern.search(TEXT, 5).group("port") == "8443"  # type: ignore[union-attr]
    assert pattern.match(TEXT) is not None and pattern.fullmatch("listen 1") is not None
    assert pattern.findall(TEXT) == compiled.findall(TEXT)
    assert pattern.sub("X", TEXT) == compiled.sub("X", TEXT)
    assert pattern.split(TEXT) == compiled.split(TEXT)
    assert (pattern.pattern, pattern.flags, pattern.groups, pattern.groupindex) == (
        compiled.pattern,
        compiled.flags,
        compiled.groups,
        compiled.groupindex,
    )
    fresh = lazy("a+")
    assert copy.copy(fresh).search("baa") is not None and copy.deepcopy(fresh).search("b") is None


GLOBS = [
    *appconfig.NAMES,
    *(f["name"] for entry in daemons.raw_table()["daemons"].values() for f in entry["files"]),
    *(
        u
        for entry in daemons.raw_table()["daemons"].values()
        for f in entry["files"]
        for u in f.get("under", ())
    ),
    "a?c.conf",
    "x[0-9]*.cnf",
    "[!.]*.ini",
    "lit[eral",
    "*",
    "",
    "**.conf",
    "a*b*c",
]
NAMES = [
    "redis.conf",
    "redis-6379.conf",
    "redis_.conf",
    "Redis.conf",
    "my.cnf",
    "x7y.cnf",
    "x.cnf",
    "abc.conf",
    "a/c.conf",
    "consul.d/web.hcl",
    "consul.d/.hcl",
    ".ini",
    "a.ini",
    "lit[eral",
    "",
    "appsettings.Production.json",
    "aXbYc",
    "abc",
    "ac",
    "mysql",
    "mariadb-10",
    "sysctl.conf",
]


@pytest.mark.parametrize("glob", sorted(set(GLOBS)))
def test_a_glob_test_is_fnmatchcase(glob: str) -> None:
    test = glob_test(glob)
    for name in [*NAMES, glob]:
        assert test(name) is fnmatch.fnmatchcase(name, glob), (glob, name)


def test_recognition_tables_compile_nothing_at_import_and_little_for_one_file() -> None:
    """Importing every signature compiles no pattern; naming a sysctl file compiles only name tests it needs."""
    child = """
import re._compiler as rc, yaml
from portpolicy import recognise
seen = []
real = rc.compile
rc.compile = lambda p, flags=0: seen.append(p) or real(p, flags)
from portpolicy import signatures
signatures.all_signatures()
at_import = len(seen)
found = recognise.recognise("etc/sysctl.d/99-ports.conf", "net.ipv4.ip_local_port_range = 32768 60999\\n")
print(at_import, found.signature.name, len(seen))
"""
    result = subprocess.run(
        [sys.executable, "-c", child], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    at_import, name, total = result.stdout.split()
    assert (at_import, name) == ("0", "sysctl")
    # recognising the file: the name tests' patterns, a daemon glob (*.conf), sysctl's three content tests
    assert int(total) <= 15, result.stdout
    assert len(signatures.all_signatures()) == len(signatures.ORDER)
