"""Rule joins cost O(N) for N copies of one listener or rule, and findings grow at most linearly.

The attack: N copies of one ``Listen`` line made PP004 compare every listener with every
other (N=2000, a 44 KB file: 10 s). Each scenario is scanned at N=2000 and N=4000 in a
bounded child, timed there (best of up to 3); doubling N must not quadruple the time.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from portpolicy import engine, sensitive
from portpolicy.model import BindAddress, Listener, Location, PortRange, RunAs
from tests.helpers import write_tree
from tests.hostile import run_bounded, run_python_bounded

SIZES = (2000, 4000)


def apache(n: int) -> dict[str, str]:
    """N copies of one Listen line, and one nginx on the same port: one conflict, whatever N.

    Apache refuses a repeated ``Listen`` (AH00526), so each later copy is a PP004 repeat of the
    first: N - 1 of those, and the one conflict.
    """
    return {
        "etc/httpd/conf/httpd.conf": "Listen 8080\n" * n,
        "etc/nginx/nginx.conf": "events {}\nhttp {\n  server {\n    listen 8080;\n  }\n}\n",
    }


def nginx(n: int) -> dict[str, str]:
    """N copies of one listen directive against one Apache Listen: one finding per copy."""
    server = "  server {\n" + "    listen 8080;\n" * n + "  }\n"
    return {
        "etc/nginx/nginx.conf": "events {}\nhttp {\n" + server + "}\n",
        "etc/httpd/conf/httpd.conf": "Listen 8080\n",
    }


COMPOSE_IMAGE = "ghcr.io/acme/app:1.4"


def compose(n: int) -> dict[str, str]:
    """One service publishing host port 8080 N times: one finding per later copy, against the first."""
    ports = "".join(f'      - "8080:{1000 + i}"\n' for i in range(n))
    return {"compose.yaml": f"services:\n  app:\n    image: {COMPOSE_IMAGE}\n    ports:\n" + ports}


def compose_sensitive(n: int) -> int:
    """PP015s of ``compose(n)``: an image the table does not list is known by its container ports.

    Container ports 1000..1000+N-1 include some of data/sensitive.yml's (2181 ZooKeeper, 2375
    the Docker API, 2379/2380 etcd, 3306 MySQL...), each published on every address.
    """
    entries = (sensitive.by_port(PortRange(p, p), "tcp") for p in range(1000, 1000 + n))
    return sum(1 for e in entries if e is not None and e.port_alone)


def nftables(n: int) -> dict[str, str]:
    """N copies of one rule opening the ephemeral range: one PP003 per copy."""
    rules = "    tcp dport 1024-65535 accept\n" * n
    head = "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
    return {"etc/nftables.conf": head + rules + "  }\n}\n", "etc/httpd/conf/httpd.conf": "Listen 8080\n"}


def iptables(n: int) -> dict[str, str]:
    """N copies of a rule for a port nothing listens on, N copies of a listener no rule opens (PP013).

    The N copies of one ``Listen`` are also N - 1 PP004 repeats (Apache refuses them).
    """
    rules = "-A INPUT -p tcp --dport 9090 -j ACCEPT\n" * n
    return {
        "etc/iptables/rules.v4": "*filter\n:INPUT DROP [0:0]\n" + rules + "COMMIT\n",
        "etc/httpd/conf/httpd.conf": "Listen 8080\n" * n,
    }


def apache_distinct(n: int) -> dict[str, str]:
    """N listeners on N distinct ports, and a second service on one of them: one conflict."""
    return {
        "etc/httpd/conf/httpd.conf": "".join(f"Listen {2000 + i}\n" for i in range(n)),
        "etc/nginx/nginx.conf": "events {}\nhttp {\n  server {\n    listen 2500;\n  }\n}\n",
    }


SCENARIOS: dict[str, tuple[Callable[[int], dict[str, str]], Callable[[int], dict[str, int]]]] = {
    "apache": (apache, lambda n: {"PP004": n}),
    "nginx": (nginx, lambda n: {"PP004": n}),
    "compose": (compose, lambda n: {"PP004": n - 1, "PP015": compose_sensitive(n)}),
    "nftables": (nftables, lambda n: {"PP003": n}),
    "iptables": (iptables, lambda n: {"PP013": 2 * n, "PP004": n - 1}),
    "apache_distinct": (apache_distinct, lambda n: {"PP004": 1}),
}

CHILD = """
import json, time
from portpolicy.config import Config
from portpolicy.pipeline import scan

small, large = %r
best = {}
rules = {}
for _ in range(3):  # best of 3, stopping once the times already pass
    for tree in (small, large):
        start = time.perf_counter()
        report = scan([tree], Config(extend_select=("PP012", "PP013")))
        best[tree] = min(best.get(tree, 1e9), time.perf_counter() - start)
        rules[tree] = [f.rule for f in report.findings]
    if best[large] < LIMIT_RATIO * best[small] + SLACK:
        break
print(json.dumps({t: {"seconds": best[t], "rules": rules[t]} for t in (small, large)}))
"""
LIMIT_RATIO = 3.0
"""Linear work doubles, quadratic work quadruples; 3 leaves room for a noisy machine."""
SLACK = 0.2


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_doubling_copies_does_not_quadruple_the_time(tmp_path: Path, name: str) -> None:
    build, counts = SCENARIOS[name]
    trees = [f"n{n}" for n in SIZES]
    for n, tree in zip(SIZES, trees, strict=True):
        write_tree(tmp_path / tree, build(n))
    code = CHILD.replace("LIMIT_RATIO", str(LIMIT_RATIO)).replace("SLACK", str(SLACK))
    run = run_python_bounded(code % (tuple(trees),), cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    result = json.loads(run.stdout)
    small, large = (result[t]["seconds"] for t in trees)
    assert large < 8.0, result
    assert large < LIMIT_RATIO * small + SLACK, (
        f"{name}: {small:.2f}s at N={SIZES[0]}, {large:.2f}s at N={SIZES[1]}"
    )
    for n, tree in zip(SIZES, trees, strict=True):
        assert Counter(result[tree]["rules"]) == counts(n), (name, n)


def test_the_cli_checks_4000_copies_of_a_listen_line_in_seconds(tmp_path: Path) -> None:
    write_tree(tmp_path, apache(4000))
    run = run_bounded("check", ".", "--format", "json", cwd=tmp_path, timeout=20)
    assert not run.crashed, run.stderr[-2000:]
    findings = json.loads(run.stdout)["findings"]
    conflicts = [f for f in findings if f["path"] == "etc/nginx/nginx.conf"]
    assert [(f["rule"], f["line"]) for f in conflicts] == [("PP004", 4)]
    assert "already binds" in conflicts[0]["message"]
    # each later copy repeats the first, which Apache refuses (AH00526): one finding per copy
    repeats = [f for f in findings if f["path"] == "etc/httpd/conf/httpd.conf"]
    assert [(f["rule"], f["line"]) for f in repeats] == [("PP004", line) for line in range(2, 4001)]
    assert all("AH00526" in f["message"] for f in repeats)
    assert {r["line"] for f in repeats for r in f["related"]} == {1}


# The join index itself, on facts built here.


def listener(port: int, service: str, seq: int, host: str | None = None) -> Listener:
    from tests.test_engine import NS

    return Listener(
        service=service,
        protocol="tcp",
        ports=PortRange(port, port),
        address=BindAddress(host),
        location=Location("a.conf", seq, 1),
        run_as=RunAs("app"),
        host="h",
        namespace=NS,
        seq=seq,
    )


def pp004() -> engine.Rule:
    return next(r for r in engine.load_rules() if r.id == "PP004")


def test_identical_copies_name_the_first_copy() -> None:
    facts = [listener(8080, "web", 1), *(listener(8080, "api", seq) for seq in range(2, 50))]
    found = engine.evaluate([pp004()], facts)
    assert len(found) == 48
    assert all("which web already binds" in f.message for f in found)
    assert {r.location.line for f in found for r in f.related} == {1}


def test_a_conflict_among_thousands_of_distinct_ports_is_found() -> None:
    facts = [listener(2000 + i, "web", i + 1) for i in range(3000)]
    facts.append(listener(4999, "api", 3001))  # 4999 = 2000 + 2999, web's last port
    found = engine.evaluate([pp004()], facts)
    assert [(f.location.line, f.related[0].location.line) for f in found] == [(3001, 3000)]


def test_wide_ranges_and_single_ports_meet_across_buckets() -> None:
    rule = engine.compile_rule(
        {
            "id": "T001",
            "name": "t",
            "severity": "info",
            "summary": "s",
            "rationale": "r",
            "remediation": "m",
            "match": {
                "fact": "listener",
                "where": {
                    "exists": {
                        "fact": "listener",
                        "same": ["namespace.id"],
                        "where": {
                            "all": [
                                {"field": "other.service", "op": "ne", "ref": "service"},
                                {"field": "other.ports", "op": "overlaps", "ref": "ports"},
                            ]
                        },
                    }
                },
            },
            "report": {"message": "{service} meets {other.service}"},
        },
        "test",
    )
    wide = dataclasses.replace(listener(0, "range", 1), ports=PortRange(1000, 40000))
    facts = [wide, listener(39999, "high", 2), listener(999, "below", 3)]
    assert sorted(f.message for f in engine.evaluate([rule], facts)) == [
        "high meets range",
        "range meets high",
    ]


def test_a_join_built_to_defeat_the_index_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "JOIN_BUDGET", 1000)
    monkeypatch.setattr(engine, "JOIN_BUDGET_PER_FACT", 1)
    # distinct addresses on one port, one service: every pair is compared and none conflicts
    facts = [listener(8080, "web", i + 1, host=f"10.0.{i // 250}.{i % 250}") for i in range(200)]
    failures: list[engine.RuleFailure] = []
    assert engine.evaluate([pp004()], facts, failures=failures) == []
    # one entry for the rule: the side that exhausts the budget ends it, its other sides too
    assert pp004().also
    assert [(f.rule, f.location.path) for f in failures] == [("PP004", "a.conf")]
    assert "stopped after 1200 comparisons" in failures[0].message
    with pytest.raises(engine.JoinBudgetExceeded):
        engine.evaluate([pp004()], facts)


def test_the_mount_index_agrees_with_asking_every_container() -> None:
    """``placement`` looks sources up by path and parent folders; the answer is ``Container.match``'s."""
    from portpolicy.placement import Container, _Source, _SourceIndex

    def container(name: str, *sources: tuple[str, str, bool]) -> Container:
        c = Container(name, "h", ("compose.yaml", "compose"), f"container:{name}", RunAs(), False, None)
        c.sources = [
            _Source(p, t, Location("compose.yaml", i + 1), "mounted", g)
            for i, (p, t, g) in enumerate(sources)
        ]
        return c

    containers = [
        container("file", ("nginx/site.conf", "/etc/nginx/conf.d/default.conf", False)),
        container("dir", ("nginx", "/etc/nginx", False), ("nginx/site.conf", "/etc/nginx/x.conf", False)),
        container("context", (".", "/etc/app", False)),
        container("glob", ("conf/*.conf", "/etc/haproxy/", True)),
        container("code", ("nginx", "/app", False)),  # not a config location: no move
    ]
    index = _SourceIndex(containers)
    paths = [
        "nginx/site.conf",
        "nginx/sub/a.conf",
        "conf/h.conf",
        "conf/deep/h.conf",
        "other.conf",
        "../up.conf",
    ]
    for path in paths:
        expected = [(c.name, c.match(path)) for c in containers if c.match(path) is not None]
        assert [(c.name, ev) for c, ev in index.homes(path)] == expected, path
    assert [c.name for c, _ in index.homes("nginx/site.conf")] == ["file", "dir", "context"]
