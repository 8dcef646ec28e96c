"""Guards at the call sites: every step after reading runs here, once, under ``StageGuard``.

A bug in one step of a stage becomes PP000 on the files that step concerned, its facts are
dropped, and the scan goes on; no reader or later stage keeps a net of its own. The
pipeline (``pipeline.scan``) calls these wrappers in order: the Ansible stage, the
project joins, the deployed pass, placement, per-host assembly and annotation, the hosts
stage and the rules.
"""

from __future__ import annotations

import posixpath
import traceback
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import field
from typing import Protocol, TypeVar

from portpolicy import engine, errors, hosts, placement, signatures
from portpolicy.config import Config, HostConfig
from portpolicy.discover import Skipped
from portpolicy.errors import UsageError
from portpolicy.model import (
    ContainerLink,
    Fact,
    Finding,
    Host,
    ImageInfo,
    Location,
    ParseError,
    SuppressionComment,
)
from portpolicy.records import record


@record(frozen=False)
class StageGuard:
    """Turns a bug in one step of a stage into PP000 on the files the step concerned.

    The step's facts are dropped (a half-done step could give wrong verdicts) and the scan
    goes on. The message names the stage and where our code raised, never the exception's
    text, which may quote a scanned file (a secret); the traceback, which has it, is kept in
    ``tracebacks`` for ``--debug``. ``UsageError`` is never caught: it is the user's to fix.
    """

    tracebacks: list[str] = field(default_factory=list)
    entries: list[tuple[str, str, list[Fact]]] = field(default_factory=list)
    """Errors met before files are grouped into hosts, as per-file entries (they land on the file's host)."""

    def errors(self, stage: str, exc: Exception, paths: Iterable[str], host: str = "") -> list[ParseError]:
        self.tracebacks.append("".join(traceback.format_exception(exc)))
        message = f"internal error in the {stage} stage ({errors.describe(exc)}); please report it"
        return [ParseError(message, Location(path), host) for path in sorted(set(paths))]

    def ansible(self, run: Callable[[], StageResult], paths: list[str]) -> StageResult:
        """The Ansible stage's result; on a bug an empty one, and PP000 on each project's playbook."""
        try:
            return run()
        except UsageError:
            raise
        except Exception as exc:
            for error in self.errors("ansible", exc, _ansible_anchors(paths)):
                self.entries.append((error.location.path, "ansible", [error]))
            return NO_STAGE

    def helm(self, run: Callable[[], T], anchors: Iterable[str], fallback: T) -> T:
        """A Helm stage step's result; on a bug ``fallback``, and PP000 on each chart's ``Chart.yaml``."""
        try:
            return run()
        except UsageError:
            raise
        except Exception as exc:
            for error in self.errors("helm", exc, anchors):
                self.entries.append((error.location.path, "helm", [error]))
            return fallback


T = TypeVar("T")


def _ansible_anchors(paths: list[str]) -> list[str]:
    """One file per Ansible project to carry a PP000: a playbook at its root, else its first file."""
    from portpolicy.ansible import locate

    try:
        roots = locate.find_projects(paths)
    except Exception:
        roots = []
    yaml_files = sorted(p for p in paths if p.endswith((".yml", ".yaml")))
    if not roots:
        return yaml_files[:1] or sorted(paths)[:1]
    anchors = []
    for root in roots:
        inside = sorted(p for p in paths if root == "." or p.startswith(root.rstrip("/") + "/"))
        top = [p for p in inside if p in yaml_files and posixpath.dirname(p) == (root if root != "." else "")]
        anchors.extend((top or inside)[:1])
    return anchors


class HostGroup(Protocol):
    """Facts a project-level stage put on one host (``ansible.project.HostFacts``, ``helm.stage.HelmGroup``)."""

    @property
    def host(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def config(self) -> HostConfig | None: ...
    @property
    def facts(self) -> Sequence[tuple[str, Fact]]: ...


class StageResult(Protocol):
    """What the pipeline uses of a project-level stage's result (``ansible.project.Result``)."""

    @property
    def groups(self) -> Sequence[HostGroup]: ...
    @property
    def claimed(self) -> Set[str]: ...
    @property
    def resolved(self) -> int: ...
    def annotate(self, host: str, facts: list[tuple[str, Fact]]) -> list[tuple[str, Fact]]: ...


class _NoStage:
    """The result of a stage that had nothing to read: built without importing the stage."""

    groups: tuple[()] = ()
    claimed: frozenset[str] = frozenset()
    resolved = 0

    def annotate(self, host: str, facts: list[tuple[str, Fact]]) -> list[tuple[str, Fact]]:
        return facts


NO_STAGE = _NoStage()


@record(frozen=False)
class Stages:
    """Two project-level stages (Ansible, Helm) as one result: their groups, claims and annotations."""

    first: StageResult
    second: StageResult

    @property
    def groups(self) -> Sequence[HostGroup]:
        return [*self.first.groups, *self.second.groups]

    @property
    def claimed(self) -> Set[str]:
        return self.first.claimed | self.second.claimed

    @property
    def resolved(self) -> int:
        return self.first.resolved + self.second.resolved

    def annotate(self, host: str, facts: list[tuple[str, Fact]]) -> list[tuple[str, Fact]]:
        return self.second.annotate(host, self.first.annotate(host, facts))


def evaluate_guarded(
    rules: list[engine.Rule], facts: list[Fact], config: Config, guard: StageGuard
) -> tuple[list[Fact], list[Finding]]:
    """Findings of every rule; a rule that fails on a fact becomes PP000 there (``engine.RuleFailure``)."""
    errors, findings = judge(rules, facts, config, guard)
    return facts + errors, findings


def judge(
    rules: list[engine.Rule], facts: Sequence[Fact | SuppressionComment], config: Config, guard: StageGuard
) -> tuple[list[Fact], list[Finding]]:
    """``evaluate_guarded`` for any facts (suppression comments too): the PP000 facts and the findings."""
    failures: list[engine.RuleFailure] = []
    findings = engine.evaluate(rules, facts, config.severity, failures)
    if not failures:
        return [], findings
    errors: list[Fact] = [ParseError(f.message, f.location, f.host) for f in failures]
    guard.tracebacks.extend(f.traceback for f in failures if f.traceback)
    pp000 = [r for r in rules if r.id == UNREADABLE]
    return errors, findings + engine.evaluate(pp000, errors, config.severity)


UNREADABLE = "PP000"


def deployed_guarded(
    per_file: list[tuple[str, str, list[Fact]]], skipped: list[Skipped], config: Config, guard: StageGuard
) -> tuple[list[tuple[str, str, list[Fact]]], list[Skipped]]:
    """``deployed.read_all``: files read again as what they become where they are deployed.

    On a bug the first pass stands, and the files that deploy others get PP000.
    """
    from portpolicy import deployed

    try:
        return deployed.read_all(per_file, skipped, config.roots)
    except UsageError:
        raise
    except Exception as exc:
        inputs = {p for p, _, facts in per_file if any(_correlates(f) for f in facts)}
        for error in guard.errors("deployed", exc, inputs):
            guard.entries.append((error.location.path, "deployed", [error]))
        return deployed.facts_only(per_file), skipped


def join_projects(
    per_file: list[tuple[str, str, list[Fact]]],
    guard: StageGuard,
    paths: Sequence[str] = (),
    roots: tuple[str, ...] = (),
) -> list[tuple[str, str, list[Fact]]]:
    """Files a reader completes with others of their project, before any host exists.

    A reader with ``join(entries, paths, roots)`` gets every read file's (path, reader,
    facts) once, and the paths of every file of the scan (``roots`` bound reading them): the
    compose reader merges the files Compose combines (``-f`` lists in scripts, ``.env``,
    default pairs) and reads each project with the ``.env`` of its folder, which may be on
    another host (a fragment or ``prod.yml`` is a project of its own). On a bug, the entries
    stay as read and the reader's files get PP000.
    """
    names = {name for _, name, _ in per_file}
    for signature in signatures.all_signatures():
        join = getattr(signatures.reader(signature), "join", None) if signature.name in names else None
        if join is None:
            continue
        try:
            per_file = list(join(per_file, paths, roots))
        except UsageError:
            raise
        except Exception as exc:
            ours = [path for path, name, _ in per_file if name == signature.name]
            guard.entries.extend(
                (e.location.path, signature.name, [e])
                for e in guard.errors(f"{signature.name} join", exc, ours)
            )
    return per_file


def assemble(by_reader: dict[str, list[Fact]], guard: StageGuard | None = None) -> list[tuple[str, Fact]]:
    """One host's facts per reader, after each reader joined its files (``assemble``), tagged
    with the reader's name. A reader whose join fails gives PP000 on each of its files instead."""
    guard = guard or StageGuard()
    known = {s.name: s for s in signatures.all_signatures()}
    out: list[tuple[str, Fact]] = []
    for reader, facts in by_reader.items():
        signature = known.get(reader)
        join = getattr(signatures.reader(signature), "assemble", None) if signature else None
        if join is None:
            out.extend((reader, f) for f in facts)
            continue
        try:
            joined: list[Fact] = list(join(facts))
        except UsageError:
            raise
        except Exception as exc:
            joined = list(guard.errors(f"{reader} assemble", exc, paths_of(facts)))
        out.extend((reader, f) for f in joined)
    return out


def paths_of(facts: Iterable[object]) -> set[str]:
    """The files some facts (or a reader's per-file records awaiting ``assemble``) were read from."""
    paths = set()
    for fact in facts:
        loc = getattr(fact, "location", None)
        path = (loc.path if isinstance(loc, Location) else "") or getattr(fact, "path", "")
        if isinstance(path, str) and path:
            paths.add(path)
    return paths


CORRELATION_INPUTS = (ContainerLink, ImageInfo)


def _correlates(fact: Fact) -> bool:
    """A fact ``place`` joins files by: an image, or a link that builds or mounts something (a
    link naming an image alone only looks it up in the build table: losing it loses nothing else)."""
    if isinstance(fact, ContainerLink):
        return bool(fact.dockerfile or fact.mounts)
    return isinstance(fact, CORRELATION_INPUTS)


def place_guarded(
    per_file: list[tuple[str, str, list[Fact]]], host_of: Callable[[str, str], str], guard: StageGuard
) -> placement.Placement:
    """``placement.place``; on a bug, no file moves and the compose files and Dockerfiles get PP000."""
    try:
        return placement.place(per_file, host_of)
    except UsageError:
        raise
    except Exception as exc:
        inputs = {p for p, _, facts in per_file if any(_correlates(f) for f in facts)}
        inputs = inputs or {p for p, _, _ in per_file}
        errors: dict[str, Fact] = {e.location.path: e for e in guard.errors("placement", exc, inputs)}
        entries = [
            (p, reader, reader, [errors[p]] if p in errors else facts) for p, reader, facts in per_file
        ]
        return placement.Placement(entries, {})


def join_programs_guarded(
    host: str, pairs: list[tuple[str, Fact]], guard: StageGuard
) -> list[tuple[str, Fact]]:
    """``apps.join`` (programs' config files joined to the processes that read them), only where a
    program start was read, so the module is not imported otherwise; on a bug, the host's program
    configs and starts become PP000 and the rest stands."""
    starts = [f for _, f in pairs if getattr(f, "kind", "") == "program_start"]
    if not starts:
        return pairs
    try:
        from portpolicy.apps import join

        return join.join(pairs)
    except UsageError:
        raise
    except Exception as exc:
        touched = paths_of(f for _, f in pairs if getattr(f, "program", "")) | paths_of(starts)
        kept = [
            (r, f)
            for r, f in pairs
            if getattr(f, "kind", "") != "program_start" and not (paths_of([f]) & touched)
        ]
        return kept + [("pipeline", e) for e in guard.errors("program configs", exc, touched, host)]


def apply_guarded(
    placed: placement.Placement, host: str, pairs: list[tuple[str, Fact]], guard: StageGuard
) -> list[tuple[str, Fact]]:
    """``Placement.apply``; on a bug, the facts of the host's container files become PP000."""
    try:
        return placed.apply(host, pairs)
    except UsageError:
        raise
    except Exception as exc:
        touched = {
            path
            for c in placed.containers.get(host, ())
            for path in (*c.files, c.compose_path, c.scope[0], *(ln.location.path for ln in c.exposes))
            if path
        } or paths_of(f for _, f in pairs)
        kept = [(r, f) for r, f in pairs if not (paths_of([f]) & touched)]
        return kept + [("pipeline", e) for e in guard.errors("placement", exc, touched, host)]


def annotate_guarded(
    stage: StageResult, host: str, pairs: list[tuple[str, Fact]], guard: StageGuard
) -> list[tuple[str, Fact]]:
    """``Result.annotate``; on a bug, the host's facts from Ansible-claimed files become PP000.

    A host with no such facts keeps its facts (annotating them is a no-op) and gets one
    PP000, at its first file.
    """
    try:
        return stage.annotate(host, pairs)
    except UsageError:
        raise
    except Exception as exc:
        everything = paths_of(f for _, f in pairs)
        claimed = everything & stage.claimed
        kept = [(r, f) for r, f in pairs if not (paths_of([f]) & claimed)]
        at = claimed or set(sorted(everything)[:1])
        return kept + [("ansible", e) for e in guard.errors("ansible", exc, at, host)]


def build_guarded(
    buckets: list[hosts.HostBucket], config: Config, guard: StageGuard
) -> tuple[list[Host], list[Fact]]:
    """``hosts.build``; on a bug, each host is built alone and a failing one's files become PP000."""
    try:
        return hosts.build(buckets, config)
    except UsageError:
        raise
    except Exception:
        pass  # find the host that fails: the traceback worth keeping is that one's
    parts: list[tuple[list[Host], list[Fact]]] = []
    errors: list[Fact] = []
    for bucket in buckets:
        try:
            parts.append(hosts.build([bucket], config))
        except UsageError:
            raise
        except Exception as exc:
            errors.extend(guard.errors("hosts", exc, paths_of(f for _, f in bucket.facts), bucket.name))
    return hosts.merge(parts, errors)
