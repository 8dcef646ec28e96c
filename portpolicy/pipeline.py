"""discover -> readers -> hosts -> engine -> report: the one path every entry point takes.

``scan`` is the public API (``portpolicy.scan``); the CLI, the Ansible action plugin and
the ansible-lint plugin only wrap it. This module orchestrates: reading one file is
``reading``, the guard around every later step is ``guards``; their names stay importable
here.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from portpolicy import engine, hosts, safeio, suppress, workers
from portpolicy.config import Config, HostConfig, compile_globs
from portpolicy.discover import Candidate, Skipped, config_relative, discover, matches
from portpolicy.errors import UsageError
from portpolicy.guards import (
    CORRELATION_INPUTS,
    NO_STAGE,
    UNREADABLE,
    StageGuard,
    StageResult,
    Stages,
    annotate_guarded,
    apply_guarded,
    assemble,
    build_guarded,
    deployed_guarded,
    evaluate_guarded,
    join_programs_guarded,
    join_projects,
    judge,
    place_guarded,
)
from portpolicy.model import Fact, Finding, Host, ImageInfo, Unresolved
from portpolicy.reading import MAX_BYTES, UNRECOGNISED_FORMAT, FileRead, read_candidate
from portpolicy.recognise import NOT_CONFIG
from portpolicy.records import record

if TYPE_CHECKING:  # the Ansible stage is imported only for a tree that may hold a project
    from portpolicy import cache as file_cache
    from portpolicy.ansible import loader as ansible_loader
    from portpolicy.ansible import project as ansible_project
    from portpolicy.buildcalls import Sources
    from portpolicy.helm import stage as helm_stage

__all__ = [
    "CORRELATION_INPUTS",
    "MAX_BYTES",
    "NO_STAGE",
    "UNREADABLE",
    "UNRECOGNISED_FORMAT",
    "FileRead",
    "Report",
    "StageGuard",
    "StageResult",
    "assemble",
    "build_guarded",
    "evaluate_guarded",
    "join_projects",
    "judge",
    "may_hold_ansible",
    "read_candidate",
    "scan",
]

SEVERITIES = ("error", "warning", "info")


@record(frozen=False)
class Report:
    """What a scan found, and enough about how it got there to explain any verdict."""

    findings: list[Finding]
    facts: list[Fact]
    hosts: list[Host]
    files: list[str]
    skipped: list[Skipped]
    rules: list[engine.Rule]
    config: Config
    readers: dict[str, str] = field(default_factory=dict)
    resolved: int = 0
    """Port values that were only known after resolving a variable or template (Ansible)."""
    tracebacks: list[str] = field(default_factory=list)
    """Internal errors the scan survived (each also a PP000 finding), shown by ``--debug``."""
    suppressions: list[suppress.Suppression] = field(default_factory=list)
    """Every suppression comment of ours in the files read, each marked ``used`` if it silenced a finding."""
    notes: list[str] = field(default_factory=list)
    """How the scan went, for ``-v``: what the cache did, an entry it ignored."""
    ansible_tasks: list[Any] = field(default_factory=list)
    """Each task of the Ansible plays run, in one bucket (``ansible.accounting.TaskTotal``)."""

    @property
    def unresolved(self) -> list[Unresolved]:
        return [f for f in self.facts if isinstance(f, Unresolved)]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def summary(self) -> dict[str, object]:
        by_rule: dict[str, int] = defaultdict(int)
        for f in self.findings:
            by_rule[f.rule] += 1
        return {
            "files": len(self.files),
            "skipped": len(self.skipped),
            "findings": len(self.findings),
            "by_severity": self.counts(),
            "by_rule": dict(sorted(by_rule.items())),
            "hosts": len(self.hosts),
            "unresolved": len(self.unresolved),
        }


def scan(paths: Sequence[str] = (".",), config: Config | None = None) -> Report:
    """Read ``paths``, build the model and evaluate the selected rules on it.

    Raises only ``UsageError`` (a user's mistake, such as a missing path). A bug in any
    stage becomes PP000 on the files it concerned (see ``StageGuard``) and the scan goes on;
    a bug outside every stage's guard still returns a report, with one PP000 per path.
    """
    config = config or Config()
    guard = StageGuard()
    pools: list[workers.Pool] = []
    try:
        return _scan(paths, config, guard, pools)
    except UsageError:
        raise
    except Exception as exc:
        return _crashed(list(paths) or ["."], config, guard, exc)
    finally:
        for pool in pools:  # whatever happened, no worker outlives the scan
            pool.close()


def _scan(paths: Sequence[str], config: Config, guard: StageGuard, pools: list[workers.Pool]) -> Report:
    """``scan`` inside the outermost guard; a worker pool it starts goes into ``pools``."""
    loaded = engine.load_rules(config.rule_directories())
    rules = engine.select(loaded, config)
    paths = list(paths) or ["."]
    config = replace(config, roots=safeio.scan_roots(paths))  # no scanned file is read outside these
    candidates, skipped = discover(paths, config)
    cache, candidates, skipped = _open_cache(config, candidates, skipped)
    rels = {c.path: c.rel for c in candidates}  # hosts are scoped below the scanned root only
    # On a large tree, workers fork now, before any other child process or pipe exists.
    pool = _start_pool([c.path for c in candidates], config)
    pools.extend([pool] if pool is not None else [])
    # Ansible projects are read as a whole (plays, roles, variables); their files are not read again.
    # On a large tree the stage runs in a worker while this process (and others) read the other files.
    worker = _start_ansible_stage([c.path for c in candidates], config, pool)
    if worker is None:
        paths_seen = [c.path for c in candidates]
        stage = guard.ansible(lambda: _run_ansible_stage(paths_seen, config), paths_seen)
        candidates = [c for c in candidates if c.path not in stage.claimed]
    # Helm charts render in child processes while this one reads the other files.
    not_config = [s.path for s in skipped if s.reason == NOT_CONFIG]  # a chart's .tgz dependencies
    helm = _start_helm_stage([c.path for c in candidates] + not_config, config, guard)
    if helm is not None:
        candidates = [c for c in candidates if c.path not in helm.plan.claimed]
        skipped = [s for s in skipped if s.path not in helm.plan.claimed]
    per_file: list[tuple[str, str, list[Fact]]] = []
    read_skipped: list[Skipped] = []
    comments: dict[str, Sequence[suppress.Suppression]] = {}  # found while reading, kept for ``suppress``
    tally = _tally(cache)
    for candidate, read in zip(
        candidates, workers.read_all(candidates, config.roots, pool, cache, tally), strict=True
    ):
        if read.reader is None:
            read_skipped.append(Skipped(candidate.path, read.skip))
            continue
        per_file.append((candidate.path, read.reader, read.facts))
        comments[candidate.path] = read.suppressions
    if worker is not None:
        paths_left = [c.path for c in candidates]
        stage = guard.ansible(lambda: _finish_ansible_stage(worker, paths_left, config), paths_left)
        per_file = [entry for entry in per_file if entry[0] not in stage.claimed]
        read_skipped = [s for s in read_skipped if s.path not in stage.claimed]
    if pool is not None:
        pool.close()
    scanned = [c.path for c in candidates] + [s.path for s in skipped if s.reason == NOT_CONFIG]
    per_file = join_projects(per_file, guard, scanned, config.roots)  # compose file sets, .env
    per_file, build_sources = _link_builds(per_file, scanned, config, guard)  # image <- Dockerfile
    per_file, read_skipped = deployed_guarded(per_file, read_skipped, config, guard)
    skipped += read_skipped
    skipped, build_read = _relist(skipped, build_sources)  # CI files read for their build calls
    readers: dict[str, str] = dict.fromkeys(sorted(stage.claimed), "ansible")
    tasks = list(getattr(stage, "task_totals", ()))  # the Ansible stage's, before Helm's joins it
    if helm is not None:
        charts = _finish_helm_stage(helm, guard)
        skipped += charts.skipped
        readers.update(dict.fromkeys(sorted(charts.read), "helm"))
        stage = Stages(stage, charts)
    readers.update((path, name) for path, name, _ in per_file)
    readers.update((path, BUILD_CALLS) for path in build_read if path not in readers)
    per_file = guard.entries + per_file
    host_list, facts = _model(per_file, config, stage, guard, rels)
    facts, findings = evaluate_guarded(rules, facts, config, guard)
    if helm is not None:  # a chart's findings name the releases (values overlays) they hold for
        findings = _name_releases(charts, findings, facts, rules, config, guard)
    suppressions = suppress.collect(sorted(readers), comments, loaded, config.roots)
    findings = suppress.apply(findings, suppressions)
    # the comments are judged last (PP014: is each used?), by the engine like any fact
    errors, more = judge(rules, suppress.as_facts(suppressions, loaded, rules), config, guard)
    facts, findings = facts + errors, findings + more
    findings = _filter(findings, config)
    findings.sort(key=lambda f: (f.location.path, f.location.line, f.location.column, f.rule))
    return Report(
        findings,
        facts,
        host_list,
        sorted(readers),
        skipped,
        rules,
        config,
        readers,
        resolved=stage.resolved,
        tracebacks=guard.tracebacks,
        suppressions=suppressions,
        ansible_tasks=tasks,
        notes=_cache_notes(cache, tally),
    )


def _name_releases(
    charts: helm_stage.Result,
    findings: list[Finding],
    facts: list[Fact],
    rules: list[engine.Rule],
    config: Config,
    guard: StageGuard,
) -> list[Finding]:
    """``helm.stage.name_releases``; on a bug, the findings as they were."""
    from portpolicy.helm import stage as helm_stage

    def run() -> list[Finding]:
        return helm_stage.name_releases(charts, findings, facts, rules, dict(config.severity))

    return guard.helm(run, [], findings)


BUILD_CALLS = "build calls"
"""How a file read only for its image builds is listed (``buildcalls.READER``)."""


def _link_builds(
    per_file: list[tuple[str, str, list[Fact]]], paths: list[str], config: Config, guard: StageGuard
) -> tuple[list[tuple[str, str, list[Fact]]], Sources | None]:
    """``buildcalls.attach``, only when a Dockerfile was read; on a bug, no link and PP000 on the
    Dockerfiles. Also which files were read for build calls (None: none was looked at)."""
    dockerfiles = [p for p, _, facts in per_file if any(isinstance(f, ImageInfo) for f in facts)]
    if not dockerfiles:
        return per_file, None
    from portpolicy import buildcalls

    sources = buildcalls.Sources()
    try:
        per_file, notes = buildcalls.attach(per_file, paths, config.roots, sources)
    except UsageError:
        raise
    except Exception as exc:
        errors = guard.errors("build calls", exc, dockerfiles)
        notes = [(e.location.path, buildcalls.READER, [e]) for e in errors]
    guard.entries.extend(notes)
    return per_file, sources


def _relist(skipped: list[Skipped], sources: Sources | None) -> tuple[list[Skipped], list[str]]:
    """``buildcalls.relist`` when a skipped file is a build-call source (imported only then)."""
    if sources is None and not any(s.path.endswith((".yml", ".yaml", ".hcl")) for s in skipped):
        return skipped, []
    from portpolicy import buildcalls

    return buildcalls.relist(skipped, sources)


def _crashed(paths: list[str], config: Config, guard: StageGuard, exc: Exception) -> Report:
    """The report of a scan that a bug stopped outside every stage's guard: PP000 on each path."""
    errors = guard.errors("scan", exc, paths)
    severity = config.severity.get(UNREADABLE, "warning")
    findings = [
        Finding(UNREADABLE, "unreadable-input", severity, f"{e.message}; nothing was checked", e.location)
        for e in errors
    ]
    return Report(
        findings, list(errors), [], [], [], _rules_or_none(config), config, tracebacks=guard.tracebacks
    )


def _rules_or_none(config: Config) -> list[engine.Rule]:
    """The selected rules for the reporters, or none when loading them is what failed."""
    try:
        return engine.select(engine.load_rules(config.rule_directories()), config)
    except Exception:
        return []


ANSIBLE_FOLDERS = frozenset({"roles", "group_vars", "host_vars"})


def may_hold_ansible(paths: Iterable[str]) -> bool:
    """Could the Ansible stage find a project among ``paths``? Cheap, and never wrong the other way.

    ``ansible.locate`` finds projects by a YAML file (a playbook, a role's
    ``tasks/main.yml``), a ``roles/``, ``group_vars/`` or ``host_vars/`` folder, or an
    ``ansible.cfg`` beside a file; without any of these the stage is not even imported, so
    a one-file sysctl check does not pay for it.
    """
    folders: set[str] = set()
    for path in paths:
        if path.endswith((".yml", ".yaml")) or not ANSIBLE_FOLDERS.isdisjoint(path.split("/")[:-1]):
            return True
        folders.add(posixpath.dirname(path) or ".")
    return any(os.path.isfile(os.path.join(folder, "ansible.cfg")) for folder in folders)


def _run_ansible_stage(paths: list[str], config: Config) -> StageResult:
    """The Ansible stage in this process; for a tree that holds no project, nothing.

    Two cheap steps before the stage itself is imported: the paths alone
    (``may_hold_ansible``), then the stage's own project finder, which reads only YAML
    files near the top of the tree (a ``compose.yaml`` is not a playbook).
    """
    if not may_hold_ansible(paths):
        return NO_STAGE
    from portpolicy.ansible import locate
    from portpolicy.ansible.loader import Loader

    roots = locate.find_projects(paths)
    if not roots and not locate.lone_playbook_dirs(paths, roots, _Texts(Loader(config.roots))):
        return NO_STAGE
    from portpolicy.ansible import project as ansible_project

    return ansible_project.run(paths, config)


class _Texts:
    """A file's text through the Ansible loader (``ansible.locate``'s text source)."""

    def __init__(self, loader: ansible_loader.Loader) -> None:
        self.loader = loader

    def get(self, path: str) -> str | None:
        return self.loader.text(path)


PARALLEL_MIN_FILES = 2000
"""Below this many candidate files the Ansible stage runs in this process: a worker costs more than it saves."""


def _start_pool(paths: list[str], config: Config) -> workers.Pool | None:
    """The scan's worker processes (``--jobs`` less this one), or None to do everything here.

    None for ``--jobs 1``, for a tree too small to pay for them (a one-file check never
    forks), and where ``workers.may_fork`` says no (a threaded caller). On a tree large
    enough for the Ansible stage's worker but not for reading in workers, one worker, and
    only when there is a project.
    """
    jobs = config.jobs or workers.cpus()
    reading = len(paths) >= workers.READ_MIN_FILES
    if jobs < 2 or not (reading or len(paths) >= PARALLEL_MIN_FILES) or not workers.may_fork():
        return None
    if not reading:
        from portpolicy.ansible import locate

        return workers.Pool.start(1) if locate.find_projects(paths) else None
    return workers.Pool.start(jobs - 1)


class _AnsibleJob:
    """The Ansible stage running in a worker: its pool and ticket."""

    def __init__(self, pool: workers.Pool, ticket: int, own: bool) -> None:
        self.pool = pool
        self.ticket = ticket
        self.own = own


_OWN_POOL: Any = object()


def _start_ansible_stage(paths: list[str], config: Config, pool: Any = _OWN_POOL) -> _AnsibleJob | None:
    """The Ansible stage started in one of ``pool``'s workers, or None to run it here.

    Only for a large tree with an Ansible project in it, and a worker idle. Without a
    ``pool`` argument, a one-worker pool of its own, when ``workers.may_fork`` allows and
    a second CPU is there; ``pool`` None: no worker (``--jobs 1``, a small tree).
    """
    if pool is None or len(paths) < PARALLEL_MIN_FILES:
        return None
    own = pool is _OWN_POOL
    if own and (workers.cpus() < 2 or not workers.may_fork()):
        return None
    from portpolicy.ansible import locate

    if not locate.find_projects(paths):
        return None
    from portpolicy.ansible import project as ansible_project

    if own:
        pool = workers.Pool.start(1)
        if pool is None:
            return None
    ticket = pool.submit(ansible_project.run, paths, config)
    if ticket is None:
        if own:
            pool.close()
        return None
    return _AnsibleJob(pool, ticket, own)


def _finish_ansible_stage(worker: _AnsibleJob, paths: list[str], config: Config) -> ansible_project.Result:
    """The worker's result; if the worker died or failed, the stage runs here, so the result is the same."""
    from portpolicy.ansible import project as ansible_project

    try:
        done = worker.pool.wait(worker.ticket)
    finally:
        if worker.own:
            worker.pool.close()
    if done.failure:  # a killed or crashed worker must not cost the user the Ansible findings
        return ansible_project.run(paths, config)
    result: ansible_project.Result = done.value
    return result


def _open_cache(
    config: Config, candidates: list[Candidate], skipped: list[Skipped]
) -> tuple[file_cache.Cache | None, list[Candidate], list[Skipped]]:
    """The cache (``cache-dir``) opened before any file is read, and the files of its own
    folder, when it lies in the scanned tree, left out: they are not the repository's."""
    if not config.cache_dir:
        return None, candidates, skipped
    from portpolicy import cache as file_cache

    cache = file_cache.Cache.open(config.cache_dir)
    candidates = [c for c in candidates if not cache.holds(c.path)]
    skipped = [s for s in skipped if not cache.holds(s.path)]
    return cache, candidates, skipped


def _tally(cache: file_cache.Cache | None) -> file_cache.Tally | None:
    if cache is None:
        return None
    from portpolicy import cache as file_cache

    return file_cache.Tally()


def _cache_notes(cache: file_cache.Cache | None, tally: file_cache.Tally | None) -> list[str]:
    """``-v``: what the cache did, then each entry it ignored; it prunes old entries after the scan."""
    if cache is None or tally is None:
        return []
    cache.prune()
    summary = (
        f"cache {cache.folder}: {tally.hits} file(s) from the cache, {tally.written} read and stored"
        + (f", {tally.uncacheable} read (not cacheable)" if tally.uncacheable else "")
    )
    return [summary, *tally.notes]


def _start_helm_stage(paths: list[str], config: Config, guard: StageGuard) -> helm_stage.Worker | None:
    """The Helm stage started (charts planned and claimed, renderers running), or None: for a
    tree with no ``Chart.yaml`` nothing of it is imported."""
    anchors = [p for p in paths if posixpath.basename(p) == "Chart.yaml"]
    if not anchors:
        return None
    from portpolicy.helm import stage as helm_stage

    return guard.helm(lambda: helm_stage.start(paths, config), anchors, None)


def _finish_helm_stage(worker: helm_stage.Worker, guard: StageGuard) -> helm_stage.Result:
    """The rendered charts read; on a bug, PP000 on each chart and nothing of its files."""
    from portpolicy.helm import stage as helm_stage

    anchors = [c.anchor for c in worker.plan.charts]
    empty = helm_stage.Result(claimed=set(worker.plan.claimed))
    return guard.helm(lambda: helm_stage.finish(worker), anchors, empty)


def _model(
    per_file: Iterable[tuple[str, str, list[Fact]]],
    config: Config,
    stage: StageResult | None = None,
    guard: StageGuard | None = None,
    rels: Mapping[str, str] | None = None,
) -> tuple[list[Host], list[Fact]]:
    """Group facts per host, let readers join across files, then derive.

    ``rels`` maps a shown path to its path below the scanned root (``Candidate.rel``):
    scoping looks only at that, so where the user stands changes no host.

    ``stage`` holds facts a project-level stage already placed on a host (Ansible: the
    play's hosts), added as they are so readers still join them (systemd units); once
    joined, it adds where their templated values were defined. Each step runs under
    ``guard``: a bug in one costs the files that step worked on, not the scan.
    """
    guard = guard or StageGuard()
    buckets: dict[str, hosts.HostBucket] = {}
    by_reader: dict[str, dict[str, list[Fact]]] = defaultdict(lambda: defaultdict(list))
    for group in stage.groups if stage else ():
        if group.host not in buckets:
            buckets[group.host] = hosts.HostBucket(group.host, group.reason, group.config)
        for reader, fact in group.facts:
            by_reader[group.host][reader].append(fact)
    scopes: dict[tuple[str, str], tuple[str, str, HostConfig | None]] = {}

    def scope(path: str, reader: str) -> tuple[str, str, HostConfig | None]:
        """``hosts.scope_of``, worked out once per file (the correlation step asks first)."""
        key = (path, reader)
        if key not in scopes:
            scopes[key] = hosts.scope_of(path, reader, config, (rels or {}).get(path, ""))
        return scopes[key]

    # Files that belong to a container (its image, its mounted configs) move to its host.
    placed = place_guarded(list(per_file), lambda path, reader: scope(path, reader)[0], guard)
    for path, scope_reader, reader, facts in placed.entries:
        name, reason, host_config = scope(path, scope_reader)
        if name not in buckets:
            buckets[name] = hosts.HostBucket(name, reason, host_config)
        by_reader[name][reader].extend(facts)
    for name, bucket in buckets.items():
        bucket.facts.extend(assemble(by_reader[name], guard))
        bucket.facts = apply_guarded(placed, name, bucket.facts, guard)
        bucket.facts = join_programs_guarded(name, bucket.facts, guard)
        if stage is not None:
            bucket.facts = annotate_guarded(stage, name, bucket.facts, guard)
    return build_guarded(list(buckets.values()), config, guard)


def _filter(findings: list[Finding], config: Config) -> list[Finding]:
    """Apply per-file ignores: gitignore-style globs relative to the config file's folder."""
    if not config.per_file_ignores:
        return findings
    specs = [(compile_globs([pattern]), rules) for pattern, rules in config.per_file_ignores.items()]
    kept = []
    for f in findings:
        rel = config_relative(f.location.path, config)
        ignored = any(
            matches(spec, rel) and any(f.rule.startswith(r) for r in rules) for spec, rules in specs
        )
        if not ignored:
            kept.append(f)
    return kept
