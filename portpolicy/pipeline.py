"""discover -> readers -> hosts -> engine -> report: the one path every entry point takes.

``scan`` is the public API (``portpolicy.scan``); the CLI, the Ansible action plugin and
the ansible-lint plugin only wrap it.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from portpolicy import correlate, engine, hosts, safeio, suppress
from portpolicy.ansible import project as ansible_project
from portpolicy.config import Config, HostConfig, compile_globs
from portpolicy.discover import Candidate, Skipped, config_relative, discover, matches
from portpolicy.model import Fact, Finding, Host, Location, ParseError, Unresolved
from portpolicy.readers.base import Source
from portpolicy.registry import PATH_READERS, YAML_READERS
from portpolicy.yamlsrc import YamlError, compose_documents

MAX_BYTES = 8 * 1024 * 1024
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
    """Read ``paths``, build the model and evaluate the selected rules on it."""
    config = config or Config()
    loaded = engine.load_rules(config.rule_directories())
    rules = engine.select(loaded, config)
    paths = list(paths) or ["."]
    config = replace(config, roots=safeio.scan_roots(paths))  # no scanned file is read outside these
    candidates, skipped = discover(paths, config)
    # Ansible projects are read as a whole (plays, roles, variables); their files are not read again.
    # On a large tree the stage runs in a second process while this one reads the other files.
    worker = _start_ansible_stage([c.path for c in candidates], config)
    if worker is None:
        stage = ansible_project.run([c.path for c in candidates], config)
        candidates = [c for c in candidates if c.path not in stage.claimed]
    per_file: list[tuple[str, str, list[Fact]]] = []
    read_skipped: list[Skipped] = []
    for candidate in candidates:
        name, facts, reason = read_candidate(candidate, config.roots)
        if name is None:
            read_skipped.append(Skipped(candidate.path, reason))
            continue
        per_file.append((candidate.path, name, facts))
    if worker is not None:
        stage = _finish_ansible_stage(worker, [c.path for c in candidates], config)
        per_file = [entry for entry in per_file if entry[0] not in stage.claimed]
        read_skipped = [s for s in read_skipped if s.path not in stage.claimed]
    skipped += read_skipped
    readers: dict[str, str] = dict.fromkeys(sorted(stage.claimed), "ansible")
    readers.update((path, name) for path, name, _ in per_file)
    host_list, facts = _model(per_file, config, stage)
    findings = engine.evaluate(rules, facts, config.severity)
    findings = suppress.apply(findings, sorted(readers), rules, loaded, config.severity, config.roots)
    findings = _filter(findings, config)
    findings.sort(key=lambda f: (f.location.path, f.location.line, f.location.column, f.rule))
    return Report(
        findings, facts, host_list, sorted(readers), skipped, rules, config, readers, resolved=stage.resolved
    )


PARALLEL_MIN_FILES = 2000
"""Below this many candidate files a second process costs more than it saves."""


def _start_ansible_stage(paths: list[str], config: Config) -> Any:
    """A one-worker process pool running the Ansible stage, or None to run it here.

    Only on Linux-like systems with ``fork`` (the child inherits the loaded modules, so it
    starts in milliseconds), from a process with no other thread, with a second core, a large
    tree and an Ansible project in it.
    """
    import multiprocessing
    import threading

    if len(paths) < PARALLEL_MIN_FILES or (os.cpu_count() or 1) < 2:
        return None
    if threading.active_count() > 1:
        return None  # forking a threaded host (a plugin inside ansible-lint) can deadlock the child
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    from portpolicy.ansible import discover as ansible_discover

    if not ansible_discover.find_projects(paths):
        return None
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    return pool, pool.submit(ansible_project.run, paths, config)


def _finish_ansible_stage(worker: Any, paths: list[str], config: Config) -> ansible_project.Result:
    """The worker's result; if the worker died, the stage runs here, so the result is the same."""
    pool, future = worker
    try:
        result: ansible_project.Result = future.result()
    except Exception:  # a killed or crashed worker must not cost the user the Ansible findings
        result = ansible_project.run(paths, config)
    finally:
        pool.shutdown(wait=True)
    return result


def read_candidate(candidate: Candidate, roots: tuple[str, ...] = ()) -> tuple[str | None, list[Fact], str]:
    """(reader name, facts, skip reason): never raises, whatever the file holds.

    The file is read through ``safeio`` under ``roots``: a link out of the tree or to a FIFO
    or device is skipped, an unreadable or oversized file is PP000.
    """
    path = candidate.path
    if candidate.problem:
        return "file", [_error(path, candidate.problem)], ""
    data = safeio.read_bytes(path, roots, MAX_BYTES)
    if isinstance(data, safeio.Refusal):
        return _refused(candidate, data)
    if b"\0" in data[:8192]:
        if candidate.reader is None:
            return None, [], "binary content"
        return candidate.reader.NAME, [_error(path, "binary content, not a text file")], ""
    text, bad_utf8 = _decode(data)
    facts: list[Fact] = []
    if bad_utf8 is not None:
        facts.append(
            _error(
                path,
                f"not valid UTF-8 (first bad byte at offset {bad_utf8}); read with replacement characters",
            )
        )
    source = Source(path, text)
    suppress.note(path, text)
    try:
        if candidate.reader is not None:
            declines = getattr(candidate.reader, "declines", None)
            if declines is not None and declines(source):  # matched by name, not by content
                return None, [], getattr(candidate.reader, "DECLINE", f"no {candidate.reader.NAME} content")
            read = list(candidate.reader.read(source))
            facts.extend(_template_errors(path, read) if path.endswith(TEMPLATE_SUFFIXES) else read)
            return candidate.reader.NAME, facts, ""
        return _sniff_yaml(source, facts)
    except Exception as exc:  # a reader bug must not cost the user the rest of the run
        name = candidate.reader.NAME if candidate.reader is not None else "yaml"
        return (
            name,
            [
                _error(
                    path,
                    f"internal error in the {name} reader ({type(exc).__name__}: {exc}); please report it",
                )
            ],
            "",
        )


def _refused(candidate: Candidate, refusal: safeio.Refusal) -> tuple[str | None, list[Fact], str]:
    """A file ``safeio`` would not read: a skip (not ours to read) or PP000 (ours, unreadable)."""
    if refusal.kind in ("outside", "special"):
        return None, [], refusal.reason
    if refusal.kind == "too-large":
        if candidate.reader is None:
            return None, [], f"YAML file larger than {MAX_BYTES // 1048576} MiB, not sniffed"
        message = f"file is {refusal.size // 1048576} MiB, over the {MAX_BYTES // 1048576} MiB limit"
        return candidate.reader.NAME, [_error(candidate.path, message)], ""
    return "file", [_error(candidate.path, refusal.reason)], ""


TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2")


def _template_errors(path: str, facts: list[Any]) -> list[Any]:
    """A template read raw: a syntax error is no verdict on the file it renders to.

    Jinja blocks, macros and inheritance can make the raw text unparsable while every
    rendered file is fine, so such a file gives an unresolved value (counted, shown with
    ``-v``), not PP000.
    """
    out: list[Any] = []
    for fact in facts:
        if isinstance(fact, ParseError) and not fact.message.startswith(("internal error", "cannot read")):
            fact = Unresolved(
                posixpath.basename(path),
                f"template read without rendering, and its raw text does not parse ({fact.message})",
                fact.location,
            )
        out.append(fact)
    return out


def _sniff_yaml(source: Source, facts: list[Fact]) -> tuple[str | None, list[Fact], str]:
    if not any(reader.sniff(source.text) for reader in YAML_READERS):
        return None, [], "YAML that no reader recognises"
    try:
        docs = compose_documents(source.text)
    except YamlError:
        return None, [], "YAML that does not parse, and no reader claims it by name"
    for reader in YAML_READERS:
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


def assemble(by_reader: dict[str, list[Fact]]) -> list[tuple[str, Fact]]:
    """One host's facts per reader, after each reader joined its files (``assemble``), tagged
    with the reader's name."""
    modules: dict[str, ModuleType] = {m.NAME: m for m in PATH_READERS}
    out: list[tuple[str, Fact]] = []
    for reader, facts in by_reader.items():
        join = getattr(modules.get(reader), "assemble", None)
        out.extend((reader, f) for f in (join(facts) if join else facts))
    return out


def _model(
    per_file: Iterable[tuple[str, str, list[Fact]]],
    config: Config,
    stage: ansible_project.Result | None = None,
) -> tuple[list[Host], list[Fact]]:
    """Group facts per host, let readers join across files, then derive.

    ``stage`` holds facts a project-level stage already placed on a host (Ansible: the
    play's hosts), added as they are so readers still join them (systemd units); once
    joined, it adds where their templated values were defined.
    """
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
            scopes[key] = hosts.scope_of(path, reader, config)
        return scopes[key]

    # Files that belong to a container (its image, its mounted configs) move to its host.
    placement = correlate.place(per_file, lambda path, reader: scope(path, reader)[0])
    for path, scope_reader, reader, facts in placement.entries:
        name, reason, host_config = scope(path, scope_reader)
        if name not in buckets:
            buckets[name] = hosts.HostBucket(name, reason, host_config)
        by_reader[name][reader].extend(facts)
    for name, bucket in buckets.items():
        bucket.facts.extend(assemble(by_reader[name]))
        bucket.facts = placement.apply(name, bucket.facts)
        if stage is not None:
            bucket.facts = stage.annotate(name, bucket.facts)
    return hosts.build(buckets.values(), config)


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
