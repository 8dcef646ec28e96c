"""The Helm stage: charts claimed, rendered in child processes, read as Kubernetes manifests.

``start`` plans the releases (``charts.plan``) and starts the rendering children at once,
so Helm works while this process reads the other files; ``finish`` collects what they
rendered and reads it. Each child (``python -m portpolicy.helm.child``) renders a share of
the releases with a memory limit, and ends itself when one release takes too long; a
release it did not reach is given to a new child, so a chart that loops or crashes Helm
costs only that chart, which ends unresolved with the reason.

A release is one cluster scope (``hosts.release_scope``): its facts form one host group,
as the Ansible stage's play hosts do. A chart's overlays and switches (``charts``) are
releases of their own, on hosts labelled with them (``helm:web[ci/nodeport-values.yaml]``);
``name_releases`` then says in each finding of such a chart which of its releases it holds
for, so a finding every release shares is read once, and one an overlay alone triggers
names that overlay. Each rendered manifest is read by the Kubernetes
reader as the template file its ``# Source:`` names, and its lines are moved back to that
template (``lines``); a value written as a literal in a values file points there.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import IO, Any

from portpolicy import hosts, safeio, signatures, virtual
from portpolicy.config import Config, HostConfig
from portpolicy.discover import Skipped
from portpolicy.helm import charts
from portpolicy.helm.lines import LineMap, Partials, ValuesFiles
from portpolicy.helm.render import NO_ENGINE, Engine, find_engine, no_network
from portpolicy.model import Evidence, Fact, Finding, Location, ParseError, Unresolved
from portpolicy.readers.base import Source, cut_values

RENDER_TIMEOUT = 10.0
"""Seconds one release may render: real charts take well under one."""
MEMORY_LIMIT = 1 << 30
"""Writable memory of a rendering child (Python, Helm's Go runtime and the chart): RLIMIT_DATA."""
MAX_CHILDREN = 4
STARTUP_ALLOWANCE = 20.0
"""Seconds a child may take on top of its releases' time limits before it is killed."""
READER = "kubernetes"
STAGE = "helm"


@dataclass
class HelmGroup:
    """One release's facts, on its own host (``hosts.release_scope``)."""

    host: str
    reason: str
    config: HostConfig | None
    facts: list[tuple[str, Fact]] = field(default_factory=list)


@dataclass
class Result:
    """What the pipeline takes from the stage (``guards.StageResult``), and the charts it skipped."""

    groups: list[HelmGroup] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    skipped: list[Skipped] = field(default_factory=list)
    resolved: int = 0
    releases: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Chart folder -> its rendered releases as (host, label), the default one first."""

    @property
    def read(self) -> set[str]:
        """The claimed files of charts that were tried (not skipped for want of an engine), and
        not overlays left past the bound."""
        return self.claimed - {s.path for s in self.skipped}

    def annotate(self, host: str, facts: list[tuple[str, Fact]]) -> list[tuple[str, Fact]]:
        return facts


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    jobs: list[int]
    deadline: float


@dataclass
class Worker:
    """A started stage: the plan, the engine and the children rendering it."""

    plan: charts.Plan
    config: Config
    engine: Engine | str
    children: list[_Child] = field(default_factory=list)
    refused: dict[int, dict[str, str]] = field(default_factory=dict)
    """Release index -> the schema files rendered without (shown path -> Helm's or our reason)."""


def start(paths: list[str], config: Config) -> Worker:
    """Plan the charts among ``paths`` and start rendering them (``finish`` collects)."""
    plan = charts.plan(paths, config)
    engine = find_engine(config.helm.executable, config.roots)
    worker = Worker(plan, config, engine)
    todo = [i for i, r in enumerate(plan.releases) if not r.problem]
    if isinstance(engine, Engine) and todo:
        count = max(1, min(MAX_CHILDREN, (os.cpu_count() or 1) - 1, len(todo)))
        for share in (todo[i::count] for i in range(count)):
            worker.children.append(_spawn(worker, share))
    return worker


def _spawn(worker: Worker, jobs: list[int]) -> _Child:
    """A child rendering ``jobs`` (release indexes); its request and output are unnamed temp files."""
    assert isinstance(worker.engine, Engine)
    request = {
        "engine": {"kind": worker.engine.kind, "path": worker.engine.path},
        "roots": list(worker.config.roots),
        "timeout": RENDER_TIMEOUT,
        "memory": MEMORY_LIMIT,
        "jobs": [worker.plan.releases[i].job(i) for i in jobs],
    }
    output = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed by _collect
    with tempfile.TemporaryFile() as stdin:
        stdin.write(json.dumps(request).encode())
        stdin.seek(0)
        process = _popen(stdin, output)
    deadline = time.monotonic() + STARTUP_ALLOWANCE + RENDER_TIMEOUT * len(jobs)
    return _Child(process, output, jobs, deadline)


def _popen(stdin: IO[bytes], output: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        # -P: the working folder (the scanned tree) is not on the child's import path
        [sys.executable, "-P", "-m", "portpolicy.helm.child"],
        stdin=stdin,
        stdout=output,
        stderr=subprocess.DEVNULL,  # a Go crash prints megabytes of stack
        env={**os.environ, **no_network(), "GOTRACEBACK": "none", "PYTHONPATH": _import_path()},
    )


def _import_path() -> str:
    """This package's folder first, so the child runs the same portpolicy as this process."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


def finish(worker: Worker) -> Result:
    """Wait for the children, then read every rendered release; never raises on content."""
    rendered: dict[int, dict[str, str]] = {}
    failed: dict[int, str] = {}
    children = list(worker.children)
    retried: set[int] = set()
    while children:
        child = children.pop(0)
        left, crashed = _collect(child, rendered, failed, worker.refused)
        if crashed is not None and crashed not in retried:  # once more, in a fresh process
            retried.add(crashed)
            failed.pop(crashed)
            left.insert(0, crashed)
        if left:
            children.append(_spawn(worker, left))
    return _result(worker, rendered, failed)


def _collect(
    child: _Child,
    rendered: dict[int, dict[str, str]],
    failed: dict[int, str],
    refused: dict[int, dict[str, str]],
) -> tuple[list[int], int | None]:
    """What one child rendered or why not: the releases it never reached (for another child),
    and the one it crashed on, if it did."""
    try:
        child.process.wait(timeout=max(0.0, child.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()
    child.output.seek(0)
    started: int | None = None
    for line in child.output.read().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        ident, event = record.get("id"), record.get("event")
        if ident not in child.jobs:
            continue
        if event == "start":
            started = ident
        elif event == "done":
            rendered[ident] = {str(k): str(v) for k, v in record.get("manifests", {}).items()}
            refused[ident] = {str(k): str(v) for k, v in record.get("schemas", {}).items()}
        elif event == "failed":
            failed[ident] = str(record.get("reason", "Helm failed"))
        elif event == "timeout":
            failed[ident] = f"did not finish rendering within {RENDER_TIMEOUT:g} s (a template that loops?)"
    child.output.close()
    code = child.process.returncode
    crashed = None
    if started is not None and started not in rendered and started not in failed:
        failed[started] = f"Helm stopped while rendering it ({_exit(code)}: out of memory or a crash)"
        crashed = started
    left = [j for j in child.jobs if j not in rendered and j not in failed]
    if left and started is None:  # the child never started a release: it will not for another
        for j in left:
            failed[j] = f"the Helm renderer did not start ({_exit(code)})"
        return [], None
    return left, crashed


def _exit(code: int | None) -> str:
    if code is None:
        return "killed"
    return f"signal {-code}" if code < 0 else f"exit status {code}"


def _result(worker: Worker, rendered: dict[int, dict[str, str]], failed: dict[int, str]) -> Result:
    plan, config = worker.plan, worker.config
    result = Result(claimed=set(plan.claimed))
    for index, release in enumerate(plan.releases):
        chart = release.chart
        if not release.problem and not isinstance(worker.engine, Engine):
            if not release.label:
                result.skipped.extend(_not_checked(release, plan, worker.engine))
            continue
        group = HelmGroup(*_scope(release, config))
        why = release.problem or failed.get(index)
        if release.label and not release.overlay and index not in rendered:
            # a switch alone may not be a working install (tls on, but no certificate named):
            # that is this stage's guess failing, not the chart; said under -v, not unresolved
            note = f"release {release.label} not rendered (a switch this stage tried): {why}"
            result.skipped.append(Skipped(chart.root or ".", note))
            continue
        if why or index not in rendered:
            location = Location(release.overlay or chart.anchor)
            what = f"chart not rendered with {release.label}" if release.label else "chart not rendered"
            group.facts.append((STAGE, Unresolved(chart.root or ".", f"{what}: {why}", location)))
        else:
            group.facts.extend((READER, f) for f in read_release(release, rendered[index], config.roots))
            group.facts.extend((STAGE, f) for f in _schema_errors(worker.refused.get(index, {})))
            result.releases.setdefault(chart.root, []).append(
                (group.host, release.label or charts.VALUES_FILE)
            )
        result.groups.append(group)
    if isinstance(worker.engine, Engine):
        result.skipped.extend(Skipped(path, why) for path, why in plan.passed)
    return result


def _scope(release: charts.Release, config: Config) -> tuple[str, str, HostConfig | None]:
    """The release's host: the chart's (``hosts.release_scope``), labelled for an overlay or switch."""
    host, reason, host_config = hosts.release_scope(release.chart.root, release.release, config)
    if not release.label:
        return host, reason, host_config
    return f"{host}[{release.label}]", f"{reason}, installed with {release.label}", host_config


def _schema_errors(refused: dict[str, str]) -> list[Fact]:
    """PP000 on each values schema the release was rendered without, with the reason."""
    return [
        ParseError(f"{charts.SCHEMA_FILE} not used: {why}", Location(path))
        for path, why in sorted(refused.items())
    ]


def name_releases(
    result: Result, findings: list[Finding], facts: list[Fact], rules: list[Any], severity: dict[str, str]
) -> list[Finding]:
    """Each finding of a chart with several releases, saying which of them it holds for.

    The engine keeps one finding per rule, place and subject, from whichever release came first;
    here each such chart's releases are judged again one by one (their hosts are separate
    scopes, so nothing outside a release decides its findings) to name them all.
    """
    several = {root: rs for root, rs in result.releases.items() if len(rs) > 1}
    chart_of = {host: root for root, rs in several.items() for host, _ in rs}
    if not any(f.host in chart_of for f in findings):
        return findings
    from portpolicy import engine

    by_host: dict[str, list[Fact]] = {host: [] for host in chart_of}
    for fact in facts:
        by_host.get(getattr(fact, "host", ""), []).append(fact)
    held = {
        host: {(f.rule, f.location, f.subject) for f in engine.evaluate(rules, mine, severity, [])}
        for host, mine in by_host.items()
    }
    out = []
    for finding in findings:
        root = chart_of.get(finding.host)
        if root is None or not _own_file(finding.location.path, root):
            out.append(finding)  # a dependency's file (another chart's, or under charts/): shared
            continue
        holders = [
            (h, label)
            for h, label in several[root]
            if (finding.rule, finding.location, finding.subject) in held[h]
        ]
        holders = holders or [(h, label) for h, label in several[root] if h == finding.host]
        message = f"{finding.message} ({_holders([label for _, label in holders], len(several[root]), root)})"
        out.append(replace(finding, message=message, host=holders[0][0]))
    return out


def _own_file(path: str, root: str) -> bool:
    """Is ``path`` the chart's own file, not a vendored or in-tree dependency's that other charts share?"""
    prefix = root + "/" if root else ""
    rel = path[len(prefix) :] if path.startswith(prefix) else None
    return rel is not None and not rel.startswith("charts/")


def _holders(labels: list[str], releases: int, root: str) -> str:
    chart = root or "."
    if len(labels) == releases:
        return f"every release of chart {chart}: {', '.join(labels)}"
    if len(labels) == 1:
        return f"only the release of chart {chart} with {labels[0]}"
    return f"the releases of chart {chart} with {', '.join(labels)}"


def _not_checked(release: charts.Release, plan: charts.Plan, reason: str) -> list[Skipped]:
    """A chart no engine can render: its ``Chart.yaml`` carries the reason, its files say whose they are."""
    anchor = release.chart.anchor
    mine = {p for p in plan.claimed if p.startswith(release.chart.root + "/") or not release.chart.root}
    out = [Skipped(anchor, reason)]
    out += [
        Skipped(p, f"file of chart {release.chart.root or '.'}, not checked") for p in sorted(mine - {anchor})
    ]
    return out


def read_release(release: charts.Release, manifests: dict[str, str], roots: tuple[str, ...]) -> list[Fact]:
    """The facts of a release's rendered manifests, at the template (and values) lines."""
    reader = signatures.reader(signatures.by_name(READER))
    values = ValuesFiles(_values_texts(release, roots))
    partials = Partials(_partial_texts(release, roots))
    facts: list[Fact] = []
    for name, text in sorted(manifests.items()):
        path, template = _template_of(release, name, roots)
        lines = LineMap(template, text, partials)
        try:
            read = [f for f in reader.read(Source(path, text)) if getattr(f, "kind", "") != "embedded"]
        except Exception:  # a reader bug costs this manifest, not the release
            read = [ParseError(f"internal error in the {READER} reader on rendered {name}", Location(path))]
        for fact in cut_values(read):
            facts.append(_in_release(_moved(fact, path, lines, values), release.label))
    return facts


MAX_PARTIALS = 200
"""Partials searched for a rendered line's origin per release; a chart with more keeps the first."""

IDENTITY_FIELDS = ("object_id", "owner")
"""Fact fields naming one Kubernetes object or container by where it is written: two releases of
a chart render the same template, so the release is part of the name (PP018 pairs entries of
one object only)."""


def _in_release(fact: Any, label: str) -> Fact:
    """``fact`` with its object's identity made the release's own (none for the default release)."""
    if not label:
        same: Fact = fact
        return same
    changes = {
        name: f"{value} [{label}]"
        for name in IDENTITY_FIELDS
        if isinstance(value := getattr(fact, name, None), str) and value
    }
    result: Fact = replace(fact, **changes) if changes else fact
    return result


def _moved(fact: Any, path: str, lines: LineMap, values: ValuesFiles) -> Fact:
    """``fact`` at the template's lines; where its value is a values literal, that line as evidence."""
    rendered_line = fact.location.line if isinstance(getattr(fact, "location", None), Location) else 0
    moved = virtual.move_locations(fact, path, lambda loc: lines.location(path, loc.line))
    key, value = lines.printed(rendered_line)
    written = values.literal(key, value) if key else None
    if written is not None and hasattr(moved, "evidence"):
        moved = replace(moved, evidence=(*moved.evidence, Evidence(written, "the value is set here", True)))
    result: Fact = moved
    return result


def _template_of(release: charts.Release, name: str, roots: tuple[str, ...]) -> tuple[str, str | None]:
    """The tree file Helm's template ``name`` comes from, and its text (None: not in the tree)."""
    best = max((p for p in release.charts if name.startswith(p + "/")), key=len, default=None)
    if best is None:
        return release.chart.anchor, None
    where = release.charts[best]
    if where.endswith((".tgz", ".tar.gz")):
        return where, None
    path = posixpath.join(where, name[len(best) + 1 :])
    text = safeio.read_text(path, roots)
    return path, None if isinstance(text, safeio.Refusal) else text


def _partial_texts(release: charts.Release, roots: tuple[str, ...]) -> list[tuple[str, str]]:
    """The release's partial templates (``templates/**/_*``: Helm renders them only through
    ``include``/``template``), from the tree, at most ``MAX_PARTIALS`` of them."""
    out = []
    for name, shown in sorted(release.files.items()):
        if "/templates/" not in name or not posixpath.basename(name).startswith("_"):
            continue
        text = safeio.read_text(shown, roots)
        if not isinstance(text, safeio.Refusal):
            out.append((shown, text))
        if len(out) >= MAX_PARTIALS:
            break
    return out


def _values_texts(release: charts.Release, roots: tuple[str, ...]) -> list[tuple[str, str]]:
    """The release's values files in the order Helm applies them: the chart's own, then the extra."""
    out = []
    for path in (posixpath.join(release.chart.root, "values.yaml"), *release.values):
        text = safeio.read_text(path, roots)
        if not isinstance(text, safeio.Refusal):
            out.append((path, text))
    return out


__all__ = ["NO_ENGINE", "Result", "Worker", "finish", "name_releases", "start"]
