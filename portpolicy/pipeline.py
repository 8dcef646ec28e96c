"""discover -> readers -> hosts -> engine -> report: the one path every entry point takes.

``scan`` is the public API (``portpolicy.scan``); the CLI, the Ansible action plugin and
the ansible-lint plugin only wrap it.
"""

from __future__ import annotations

import os
import posixpath
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from portpolicy import engine, errors, hosts, placement, recognise, safeio, signatures, suppress
from portpolicy.config import Config, HostConfig, compile_globs
from portpolicy.discover import Candidate, Skipped, config_relative, discover, matches
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
    Unresolved,
)
from portpolicy.readers.base import Source, cut_values, raw_template_errors, unlike_file
from portpolicy.yamlnodes import YamlError, compose_documents

if TYPE_CHECKING:  # the Ansible stage is imported only for a tree that may hold a project
    from portpolicy.ansible import loader as ansible_loader
    from portpolicy.ansible import project as ansible_project

MAX_BYTES = safeio.MAX_BYTES
SEVERITIES = ("error", "warning", "info")


@dataclass
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
    try:
        return _scan(paths, config, guard)
    except UsageError:
        raise
    except Exception as exc:
        return _crashed(list(paths) or ["."], config, guard, exc)


def _scan(paths: Sequence[str], config: Config, guard: StageGuard) -> Report:
    """``scan`` inside the outermost guard."""
    loaded = engine.load_rules(config.rule_directories())
    rules = engine.select(loaded, config)
    paths = list(paths) or ["."]
    config = replace(config, roots=safeio.scan_roots(paths))  # no scanned file is read outside these
    candidates, skipped = discover(paths, config)
    rels = {c.path: c.rel for c in candidates}  # hosts are scoped below the scanned root only
    # Ansible projects are read as a whole (plays, roles, variables); their files are not read again.
    # On a large tree the stage runs in a second process while this one reads the other files.
    worker = _start_ansible_stage([c.path for c in candidates], config)
    if worker is None:
        paths_seen = [c.path for c in candidates]
        stage = guard.ansible(lambda: _run_ansible_stage(paths_seen, config), paths_seen)
        candidates = [c for c in candidates if c.path not in stage.claimed]
    per_file: list[tuple[str, str, list[Fact]]] = []
    read_skipped: list[Skipped] = []
    comments: dict[str, Sequence[suppress.Suppression]] = {}  # found while reading, kept for ``suppress``
    for candidate in candidates:
        read = read_candidate(candidate, config.roots)
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
    per_file = join_projects(per_file, guard)  # a compose file and its folder's .env
    per_file, read_skipped = _deployed(per_file, read_skipped, config, guard)
    skipped += read_skipped
    readers: dict[str, str] = dict.fromkeys(sorted(stage.claimed), "ansible")
    readers.update((path, name) for path, name, _ in per_file)
    per_file = guard.entries + per_file
    host_list, facts = _model(per_file, config, stage, guard, rels)
    facts, findings = evaluate_guarded(rules, facts, config, guard)
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
    )


def _deployed(
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
        inputs = {p for p, _, facts in per_file if any(isinstance(f, CORRELATION_INPUTS) for f in facts)}
        for error in guard.errors("deployed", exc, inputs):
            guard.entries.append((error.location.path, "deployed", [error]))
        return deployed.facts_only(per_file), skipped


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


@dataclass
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


class StageResult(Protocol):
    """What the pipeline uses of a project-level stage's result (``ansible.project.Result``)."""

    @property
    def groups(self) -> Sequence[ansible_project.HostFacts]: ...
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
"""Below this many candidate files a second process costs more than it saves."""


def _start_ansible_stage(paths: list[str], config: Config) -> Any:
    """A one-worker process pool running the Ansible stage, or None to run it here.

    Only on Linux-like systems with ``fork`` (the child inherits the loaded modules, so it
    starts in milliseconds), from a process with no other thread, with a second core, a large
    tree and an Ansible project in it.
    """
    if len(paths) < PARALLEL_MIN_FILES or (os.cpu_count() or 1) < 2:
        return None
    import multiprocessing
    import threading

    if threading.active_count() > 1:
        return None  # forking a threaded host (a plugin inside ansible-lint) can deadlock the child
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    from portpolicy.ansible import locate

    if not locate.find_projects(paths):
        return None
    from concurrent.futures import ProcessPoolExecutor

    from portpolicy.ansible import project as ansible_project

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    return pool, pool.submit(ansible_project.run, paths, config)


def _finish_ansible_stage(worker: Any, paths: list[str], config: Config) -> ansible_project.Result:
    """The worker's result; if the worker died, the stage runs here, so the result is the same."""
    from portpolicy.ansible import project as ansible_project

    pool, future = worker
    try:
        result: ansible_project.Result = future.result()
    except Exception:  # a killed or crashed worker must not cost the user the Ansible findings
        result = ansible_project.run(paths, config)
    finally:
        pool.shutdown(wait=True)
    return result


class FileRead(NamedTuple):
    """What reading one candidate gave: its reader (None when skipped), facts, skip reason
    and suppression comments (these travel with the facts, not through shared state)."""

    reader: str | None
    facts: list[Fact]
    skip: str = ""
    suppressions: Sequence[suppress.Suppression] = ()


def read_candidate(candidate: Candidate, roots: tuple[str, ...] = ()) -> FileRead:
    """The reader, facts and suppressions of one file, or why it is skipped: never raises,
    whatever the file holds.

    The file is read once, through ``safeio`` under ``roots`` (a link out of the tree or to
    a FIFO or device is skipped, an unreadable file is PP000); ``recognise`` decides from
    its text which reader gets it.
    """
    path = candidate.path
    if candidate.problem:
        return FileRead("file", [_error(path, candidate.problem)])
    data = safeio.read_bytes(path, roots, MAX_BYTES)
    if isinstance(data, safeio.Refusal):
        return FileRead(*_refused(candidate, data))
    if b"\0" in data[:8192]:
        return FileRead(None, [], "binary content")
    text, bad_utf8 = _decode(data)
    name = "recognition"
    comments: Sequence[suppress.Suppression] = ()
    try:
        recognition = recognise.recognise(candidate.rel or path, text)
        if recognition.signature is None and not recognition.sniff_yaml:
            return FileRead(None, [], recognition.reason)
        facts: list[Fact] = []
        if bad_utf8 is not None:
            facts.append(
                _error(
                    path,
                    f"not valid UTF-8 (first bad byte at offset {bad_utf8}); read with replacement characters",
                )
            )
        source = Source(path, text, candidate.rel)
        comments = suppress.in_text(path, text)
        if recognition.signature is None:
            name = "yaml"
            return FileRead(*_sniff_yaml(source, facts), comments)
        reader = signatures.reader(recognition.signature)
        name = reader.NAME
        read = list(reader.read(source))
        unlike = unlike_file(reader, source, read)
        if unlike is not None:  # read by its name, but not of the format: quote none of it
            read, name = [_error(path, unlike)], UNRECOGNISED_FORMAT
        else:
            read = cut_values(read)
        facts.extend(raw_template_errors(path, read) if source.template else read)
        return FileRead(name, facts, "", comments)
    except Exception as exc:  # a reader bug must not cost the user the rest of the run
        message = f"internal error in the {name} reader ({errors.describe(exc)}); please report it"
        return FileRead(name, [_error(path, message)], "", comments)


def _refused(candidate: Candidate, refusal: safeio.Refusal) -> tuple[str | None, list[Fact], str]:
    """A file ``safeio`` would not read: a skip (not ours to read) or PP000 (ours, unreadable).

    An oversized file is PP000 only when its name says it is one of ours: its content is
    never looked at.
    """
    if refusal.kind in ("outside", "special"):
        return None, [], refusal.reason
    if refusal.kind == "too-large":
        priors = recognise.named(candidate.rel or candidate.path)
        if not priors:
            return None, [], f"larger than {MAX_BYTES // 1048576} MiB, not read"
        message = f"file is {refusal.size // 1048576} MiB, over the {MAX_BYTES // 1048576} MiB limit"
        return priors[0].name, [_error(candidate.path, message)], ""
    return "file", [_error(candidate.path, refusal.reason)], ""


UNRECOGNISED_FORMAT = "file"
"""The reader name of a file that is not of the format its name claims: no line of it is quoted."""


def _sniff_yaml(source: Source, facts: list[Fact]) -> tuple[str | None, list[Fact], str]:
    """YAML whose text a YAML format's sniff accepted: composed once, then the readers' ``claims`` decide."""
    yaml_readers = [
        signatures.reader(s) for s in signatures.all_signatures() if s.yaml and s.looks(source.text)
    ]
    try:
        docs = compose_documents(source.text)
    except YamlError:
        return None, [], "YAML that does not parse, and no reader claims it by name"
    for reader in yaml_readers:
        if reader.claims(docs):
            facts.extend(reader.read_yaml(source, docs))
            return reader.NAME, facts, ""
    return None, [], "YAML that no reader recognises"


def _decode(data: bytes) -> tuple[str, int | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return data.decode("utf-8-sig", errors="replace"), exc.start


def _error(path: str, message: str, line: int = 1, column: int = 1) -> ParseError:
    return ParseError(message, Location(path, line, column))


def join_projects(
    per_file: list[tuple[str, str, list[Fact]]], guard: StageGuard
) -> list[tuple[str, str, list[Fact]]]:
    """Files a reader completes with others of their project, before any host exists.

    A reader with ``join(entries)`` gets every read file's (path, reader, facts) once: the
    compose reader reads a compose file again with the ``.env`` of its folder, which may be
    on another host (a fragment or ``prod.yml`` is a project of its own). On a bug, the
    entries stay as read and the reader's files get PP000.
    """
    names = {name for _, name, _ in per_file}
    for signature in signatures.all_signatures():
        join = getattr(signatures.reader(signature), "join", None) if signature.name in names else None
        if join is None:
            continue
        try:
            per_file = list(join(per_file))
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
            joined = list(guard.errors(f"{reader} assemble", exc, _paths(facts)))
        out.extend((reader, f) for f in joined)
    return out


def _paths(facts: Iterable[object]) -> set[str]:
    """The files some facts (or a reader's per-file records awaiting ``assemble``) were read from."""
    paths = set()
    for fact in facts:
        loc = getattr(fact, "location", None)
        path = (loc.path if isinstance(loc, Location) else "") or getattr(fact, "path", "")
        if isinstance(path, str) and path:
            paths.add(path)
    return paths


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
    placed = _place(list(per_file), lambda path, reader: scope(path, reader)[0], guard)
    for path, scope_reader, reader, facts in placed.entries:
        name, reason, host_config = scope(path, scope_reader)
        if name not in buckets:
            buckets[name] = hosts.HostBucket(name, reason, host_config)
        by_reader[name][reader].extend(facts)
    for name, bucket in buckets.items():
        bucket.facts.extend(assemble(by_reader[name], guard))
        bucket.facts = _apply(placed, name, bucket.facts, guard)
        if stage is not None:
            bucket.facts = _annotate(stage, name, bucket.facts, guard)
    return build_guarded(list(buckets.values()), config, guard)


CORRELATION_INPUTS = (ContainerLink, ImageInfo)


def _place(
    per_file: list[tuple[str, str, list[Fact]]], host_of: Callable[[str, str], str], guard: StageGuard
) -> placement.Placement:
    """``placement.place``; on a bug, no file moves and the compose files and Dockerfiles get PP000."""
    try:
        return placement.place(per_file, host_of)
    except UsageError:
        raise
    except Exception as exc:
        inputs = {p for p, _, facts in per_file if any(isinstance(f, CORRELATION_INPUTS) for f in facts)}
        inputs = inputs or {p for p, _, _ in per_file}
        errors: dict[str, Fact] = {e.location.path: e for e in guard.errors("placement", exc, inputs)}
        entries = [
            (p, reader, reader, [errors[p]] if p in errors else facts) for p, reader, facts in per_file
        ]
        return placement.Placement(entries, {})


def _apply(
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
        } or _paths(f for _, f in pairs)
        kept = [(r, f) for r, f in pairs if not (_paths([f]) & touched)]
        return kept + [("pipeline", e) for e in guard.errors("placement", exc, touched, host)]


def _annotate(
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
        everything = _paths(f for _, f in pairs)
        claimed = everything & stage.claimed
        kept = [(r, f) for r, f in pairs if not (_paths([f]) & claimed)]
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
            errors.extend(guard.errors("hosts", exc, _paths(f for _, f in bucket.facts), bucket.name))
    return hosts.merge(parts, errors)


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
