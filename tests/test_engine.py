"""The condition language: operators, joins, templates, loading and validation of rule files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from portpolicy import engine
from portpolicy.config import Config, ConfigError
from portpolicy.model import (
    BindAddress,
    FirewallRule,
    Listener,
    Location,
    Namespace,
    PortRange,
    PortSet,
    Privilege,
    RunAs,
    Setting,
)

NS = Namespace(
    "h",
    "h",
    "host",
    "linux",
    "docker",
    Setting(1024, "default"),
    Setting(PortRange(32768, 60999), "default"),
    Setting(PortSet(), "none"),
)


def listener(
    port: int, service: str, seq: int, address: BindAddress | None = None, line: int = 1
) -> Listener:
    return Listener(
        service=service,
        protocol="tcp",
        ports=PortRange(port, port),
        address=address or BindAddress(),
        location=Location("a.conf", line, 1),
        run_as=RunAs("app"),
        host="h",
        namespace=NS,
        privilege=Privilege(True, False, "no grant"),
        seq=seq,
    )


def rule(where: Any, message: str = "{service} {ports}", fact: str = "listener", **extra: Any) -> engine.Rule:
    data = {
        "id": "T001",
        "name": "test-rule",
        "severity": "warning",
        "summary": "s",
        "rationale": "r",
        "remediation": "m",
        "match": {"fact": fact, "where": where},
        "report": {"message": message, **extra},
    }
    return engine.compile_rule(data, "test")


def hits(r: engine.Rule, facts: list[Any]) -> list[str]:
    return [f.message for f in engine.evaluate([r], facts)]


def test_comparisons_and_refs() -> None:
    facts = [listener(80, "web", 1), listener(8080, "app", 2, line=2)]
    r = rule({"field": "ports.start", "op": "lt", "ref": "namespace.unprivileged_port_start.value"})
    assert hits(r, facts) == ["web 80"]
    r = rule(
        {
            "all": [
                {"field": "service", "op": "in", "value": ["app", "x"]},
                {"not": {"field": "ports.start", "op": "eq", "value": 80}},
            ]
        }
    )
    assert hits(r, facts) == ["app 8080"]
    r = rule(
        {
            "any": [
                {"field": "service", "op": "matches", "value": "^w"},
                {"field": "ports.start", "op": "ge", "value": 9000},
            ]
        }
    )
    assert hits(r, facts) == ["web 80"]


def test_port_operators_with_literals_and_refs() -> None:
    facts = [listener(50000, "jenkins", 1), listener(30000, "nodeport", 2, line=2)]
    assert hits(
        rule({"field": "ports", "op": "overlaps", "ref": "namespace.ephemeral_range.value"}), facts
    ) == ["jenkins 50000"]
    assert hits(rule({"field": "ports", "op": "inside", "value": "30000-32767"}), facts) == ["nodeport 30000"]
    assert hits(rule({"field": "ports", "op": "not_inside", "value": "22,80,50000"}), facts) == [
        "nodeport 30000"
    ]
    assert hits(rule({"field": "ports", "op": "overlaps", "value": 50000}), facts) == ["jenkins 50000"]


def test_missing_evidence_never_matches_a_comparison() -> None:
    unknown = Namespace(
        "h",
        "h",
        "container",
        "linux",
        "podman-rootless",
        Setting(None, "unknown"),
        NS.ephemeral_range,
        NS.reserved_ports,
    )
    fact = Listener(
        service="web",
        protocol="tcp",
        ports=PortRange(80, 80),
        address=BindAddress(),
        location=Location("a", 1, 1),
        namespace=unknown,
        seq=1,
    )
    r = rule({"field": "ports.start", "op": "lt", "ref": "namespace.unprivileged_port_start.value"})
    assert hits(r, [fact]) == []
    assert hits(rule({"field": "privilege", "op": "missing"}), [fact]) == ["web 80"]


def test_join_reports_each_pair_once_with_the_other_side_as_related() -> None:
    facts = [
        listener(80, "web", 1, line=1),
        listener(80, "proxy", 2, line=5),
        listener(80, "web", 3, line=9),
        listener(80, "lo", 4, BindAddress("127.0.0.1", "ipv4"), line=12),
    ]
    where = {
        "exists": {
            "fact": "listener",
            "same": ["namespace.id", "protocol"],
            "where": {
                "all": [
                    {"field": "other.seq", "op": "lt", "ref": "seq"},
                    {"field": "other.service", "op": "ne", "ref": "service"},
                    {"field": "other.ports", "op": "overlaps", "ref": "ports"},
                    {"field": "other.address", "op": "overlaps", "ref": "address"},
                ]
            },
        }
    }
    r = rule(
        where,
        "{service} vs {other.service}",
        related=[{"at": "other.location", "message": "{other.service} here"}],
    )
    found = engine.evaluate([r], facts)
    assert [f.message for f in found] == ["proxy vs web", "web vs proxy", "lo vs web"]
    assert found[0].related[0].location == Location("a.conf", 1, 1)
    assert found[0].related[0].message == "web here"


def test_distinct_specific_addresses_do_not_overlap_but_wildcards_do() -> None:
    v4 = BindAddress("10.0.0.1", "ipv4")
    assert not v4.overlaps(BindAddress("10.0.0.2", "ipv4"))
    assert v4.overlaps(BindAddress(None, "dual"))
    assert v4.overlaps(BindAddress(None, "ipv4"))
    assert not v4.overlaps(BindAddress(None, "ipv6"))
    assert BindAddress("::1", "ipv6").overlaps(BindAddress("[::1]", "ipv6"))


def test_template_errors_are_caught_at_load_and_at_render() -> None:
    with pytest.raises(ConfigError, match="has no field 'prot'"):
        rule({"field": "service", "op": "exists"}, message="{prot}")
    r = rule({"field": "service", "op": "exists"}, message="{ports.nope.deeper}")
    assert "template error" in hits(r, [listener(80, "web", 1)])[0]


ANY = {"field": "service", "op": "exists"}
LOW = {"field": "ports.start", "op": "lt", "value": 1024}


def test_a_phrase_is_the_text_of_its_first_choice_that_holds() -> None:
    phrases = {
        "band": [
            {"when": LOW, "text": " (low port {ports.start})"},
            {"when": {"field": "ports.start", "op": "lt", "value": 10000}, "text": " (registered)"},
        ],
        "owner": [
            {"when": {"field": "service", "op": "eq", "value": "web"}, "text": "ours"},
            {"text": "theirs"},
        ],
    }
    r = rule(ANY, message="{service}{band}: {owner}", phrases=phrases)
    facts = [listener(80, "web", 1), listener(8080, "api", 2, line=2), listener(50000, "db", 3, line=3)]
    assert hits(r, facts) == ["web (low port 80): ours", "api (registered): theirs", "db: theirs"]


def test_phrases_reach_the_joined_fact_and_related_messages() -> None:
    where = {
        "exists": {
            "fact": "listener",
            "same": ["namespace.id"],
            "where": {"field": "other.seq", "op": "lt", "ref": "seq"},
        }
    }
    phrases = {"pair": [{"when": LOW, "text": "{service}+{other.service}"}]}
    r = rule(where, "{pair}", phrases=phrases, related=[{"at": "other.location", "message": "[{pair}]"}])
    found = engine.evaluate([r], [listener(80, "web", 1), listener(443, "tls", 2, line=2)])
    assert [(f.message, [x.message for x in f.related]) for f in found] == [("tls+web", ["[tls+web]"])]


def test_a_phrase_is_inserted_as_text_never_read_as_a_template() -> None:
    r = rule(ANY, message="{said}", phrases={"said": [{"text": "<{service}>"}]})
    assert hits(r, [listener(80, "{ports} {0} {namespace.id!r", 1)]) == ["<{ports} {0} {namespace.id!r>"]


def test_phrases_are_checked_at_load() -> None:
    with pytest.raises(ConfigError, match="phrase 'service' has the name of a field"):
        rule(ANY, message="{service}", phrases={"service": [{"text": "x"}]})
    with pytest.raises(ConfigError, match="has no field 'prot'"):
        rule(ANY, message="{p}", phrases={"p": [{"text": "{prot}"}]})
    with pytest.raises(ConfigError, match="has no field 'q'"):
        rule(ANY, message="{q}", phrases={"p": [{"text": "x"}]})
    with pytest.raises(ConfigError, match="has no field 'prot'"):
        rule(ANY, related=[{"at": "location", "message": "{prot}"}])
    data = {
        "id": "T004",
        "name": "t",
        "severity": "info",
        "summary": "s",
        "rationale": "r",
        "remediation": "m",
        "match": {"fact": "listener"},
        "report": {"message": "{Loud}", "phrases": {"Loud": [{"text": "x"}]}},
    }
    with pytest.raises(ConfigError, match="invalid rule at report/phrases"):
        engine.validate_rule(data, "test")
    engine.validate_rule(
        {**data, "report": {"message": "{p}", "phrases": {"p": [{"when": LOW, "text": ""}]}}}, "t"
    )


def test_the_documented_phrases_example_runs() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")
    block = doc.split("### Phrases", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    report = yaml.safe_load(block)["report"]
    r = rule({"field": "direction", "op": "eq", "value": "in"}, fact="firewall_rule", **report)
    at = Location("zones/public.xml", 1, 1)
    facts = [
        FirewallRule(
            "firewalld",
            "in",
            "accept",
            "tcp",
            PortRange(80, 80),
            at,
            chain="public",
            service="http",
            host="h",
        ),
        FirewallRule("iptables", "in", "accept", "udp", PortRange(53, 53), replace(at, line=2), host="h"),
    ]
    assert hits(r, facts) == [
        "firewalld zone public opens tcp/80 (service http), but no listener on host h binds it",
        "iptables opens udp/53, but no listener on host h binds it",
    ]


def test_lists_are_joined_and_a_precision_cuts_text() -> None:
    fact = replace(
        listener(8080, "webserver", 1), run_as=RunAs("app", added=frozenset({"NET_RAW", "NET_BIND_SERVICE"}))
    )
    r = rule(ANY, message="{service:.3}|{service:.9}|{ports:.2}|{run_as.added}|{run_as.added:.10}")
    assert hits(r, [fact]) == ["web...|webserver|80...|NET_BIND_SERVICE, NET_RAW|NET_BIND_S..."]
    r = rule(ANY, message="{service:>6.3}|{ports.start:05d}")
    assert hits(r, [listener(80, "webserver", 1)]) == ["   web|00080"]


def test_unknown_field_and_misplaced_other_are_rejected() -> None:
    with pytest.raises(ConfigError, match="no field 'portz'"):
        rule({"field": "portz", "op": "exists"})
    with pytest.raises(ConfigError, match="outside an exists join"):
        rule({"field": "other.ports", "op": "exists"})


def test_builtin_rules_validate_against_the_shipped_schema() -> None:
    for path in sorted(engine.builtin_rules_dir().glob("*.yml")):
        engine.validate_rule(yaml.safe_load(path.read_text()), str(path))
        assert path.stem == yaml.safe_load(path.read_text())["id"]


def test_custom_rule_dir_is_validated_with_the_file_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("id: ACME100\nname: x\nseverity: fatal\n")
    with pytest.raises(ConfigError, match=r"bad\.yml: invalid rule"):
        engine.load_rules([str(tmp_path)])


def test_duplicate_rule_ids_are_refused(tmp_path: Path) -> None:
    src = (engine.builtin_rules_dir() / "PP009.yml").read_text()
    (tmp_path / "copy.yml").write_text(src)
    with pytest.raises(ConfigError, match="already defined"):
        engine.load_rules([str(tmp_path)])


def test_selection_by_id_prefix_name_and_unknown() -> None:
    rules = engine.load_rules()
    ids = lambda cfg: [r.id for r in engine.select(rules, cfg)]  # noqa: E731
    assert ids(Config(select=("PP00",), ignore=("PP009",))) == [
        "PP000",
        "PP001",
        "PP002",
        "PP003",
        "PP004",
        "PP005",
        "PP006",
        "PP007",
        "PP008",
    ]
    assert ids(Config(select=("port-conflict",))) == ["PP004"]
    with pytest.raises(ConfigError, match="unknown rule"):
        engine.select(rules, Config(select=("ZZ999",)))


def test_evaluations_in_threads_never_see_each_others_facts() -> None:
    """The join index belongs to one evaluation, so concurrent scans (the Ansible action plugin) stay apart."""
    from concurrent.futures import ThreadPoolExecutor

    where = {
        "exists": {
            "fact": "listener",
            "same": ["protocol"],
            "where": {"field": "other.ports", "op": "overlaps", "ref": "ports"},
        }
    }
    r = rule(where, "{service} vs {other.service}")

    def run(i: int) -> list[str]:
        port = 1000 + i
        facts = [listener(port, f"a{i}", 1, line=1), listener(port, f"b{i}", 2, line=2)]
        return sorted(f.message for f in engine.evaluate([r], facts))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(200)))
    for i, messages in enumerate(results):
        assert messages == [f"a{i} vs b{i}", f"b{i} vs a{i}"]


def test_levels_set_severity_by_context_and_config_overrides_win() -> None:
    data = {
        "id": "T002",
        "name": "levels-rule",
        "severity": "warning",
        "summary": "s",
        "rationale": "r",
        "remediation": "m",
        "levels": [
            {
                "when": {"field": "service", "op": "eq", "value": "quiet"},
                "severity": "info",
                "description": "for quiet services",
            }
        ],
        "match": {"fact": "listener"},
        "report": {"message": "{service}"},
    }
    engine.validate_rule(data, "test")
    r = engine.compile_rule(data, "test")
    found = {
        f.message: f.severity
        for f in engine.evaluate([r], [listener(80, "loud", 1), listener(81, "quiet", 2, line=2)])
    }
    assert found == {"loud": "warning", "quiet": "info"}
    forced = engine.evaluate([r], [listener(81, "quiet", 2)], {"T002": "error"})
    assert [f.severity for f in forced] == ["error"]


def test_fact_evidence_becomes_related_locations() -> None:
    from dataclasses import replace

    from portpolicy.model import Evidence

    ev = Evidence(Location("group_vars/all.yml", 3, 1), "app_port defined here")
    fact = replace(listener(80, "web", 1), evidence=(ev,))
    found = engine.evaluate([rule({"field": "ports.start", "op": "eq", "value": 80})], [fact])
    assert [(r.location, r.message) for r in found[0].related] == [(ev.location, ev.message)]


def test_also_sides_report_under_the_rule_id() -> None:
    """One rule can check two fact kinds (PP013: an opening with no listener, a listener with no opening)."""
    data = {
        "id": "T003",
        "name": "two-sided",
        "severity": "info",
        "summary": "s",
        "rationale": "r",
        "remediation": "m",
        "match": {"fact": "kernel_setting"},
        "report": {"message": "never"},
        "also": [
            {
                "match": {"fact": "listener", "where": {"field": "ports.start", "op": "eq", "value": 80}},
                "report": {"message": "listener {service}"},
            }
        ],
    }
    engine.validate_rule(data, "test")
    r = engine.compile_rule(data, "test")
    found = engine.evaluate([r], [listener(80, "web", 1), listener(81, "api", 2, line=2)])
    assert [(f.rule, f.severity, f.message) for f in found] == [("T003", "info", "listener web")]
    with pytest.raises(ConfigError, match="no field 'nope'"):
        engine.compile_rule(
            {
                **data,
                "also": [
                    {
                        "match": {"fact": "listener", "where": {"field": "nope", "op": "exists"}},
                        "report": {"message": "x"},
                    }
                ],
            },
            "test",
        )


def test_matches_runs_in_linear_time_and_refuses_backtracking_patterns() -> None:
    # (a*)*$ against "aaaa…b" is exponential in a backtracking engine; RE2 answers at once.
    slow = listener(80, "a" * 5_000 + "b", 1)
    assert hits(rule({"field": "service", "op": "matches", "value": "^(a*)*$"}), [slow]) == []
    assert len(hits(rule({"field": "service", "op": "matches", "value": "(a*)*b"}), [slow])) == 1
    with pytest.raises(ConfigError, match="no backreferences or lookaround"):
        rule({"field": "service", "op": "matches", "value": r"(a)\1"})


def test_one_finding_per_rule_place_and_subject() -> None:
    """Loop items share the task's line: each port there is its own finding, each port once."""
    at_task = [listener(p, "app", i, line=7) for i, p in enumerate((8080, 50000, 8080, 51000), start=1)]
    udp = replace(at_task[0], protocol="udp", seq=9)  # one line's tcp/8080 and udp/8080: one value
    other_address = replace(at_task[1], address=BindAddress("10.0.0.2", "ipv4"), seq=10)
    r = rule({"field": "ports.start", "op": "ge", "value": 1024})
    found = engine.evaluate([r], [*at_task, udp, other_address])
    assert [f.message for f in found] == ["app 8080", "app 50000", "app 51000"]
    assert [f.subject for f in found] == ["8080", "50000", "51000"]
    assert {f.location for f in found} == {Location("a.conf", 7, 1)}


def test_per_fact_rules_and_subjectless_kinds_keep_their_counts() -> None:
    from portpolicy.model import Unresolved

    notes = [Unresolved(f"{{{{ p{i} }}}}", "a variable", Location("t.yml", 3, 5)) for i in range(3)]
    r = rule({"field": "reason", "op": "nonempty"}, message="{value}", fact="unresolved")
    assert [f.message for f in engine.evaluate([r], notes)] == ["{{ p0 }}"]
    assert engine.subject(notes[0]) == ""


def test_fingerprints_of_earlier_findings_stay_and_later_subjects_get_their_own() -> None:
    from portpolicy import fingerprint

    r = rule({"field": "ports.start", "op": "ge", "value": 1024})
    first = engine.evaluate([r], [listener(50000, "app", 1, line=7)])
    both = engine.evaluate([r], [listener(50000, "app", 1, line=7), listener(51000, "app", 2, line=7)])
    before = fingerprint.compute(first)
    after = fingerprint.compute(both)
    assert after[0] == before[0]  # the finding a scan reported before keeps its fingerprint
    assert len(set(after)) == 2
    # reordered items: the first at the place still hashes without its subject
    swapped = engine.evaluate([r], [listener(51000, "app", 1, line=7), listener(50000, "app", 2, line=7)])
    assert fingerprint.compute(swapped)[0] == before[0]
