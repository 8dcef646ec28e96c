"""Charts in the scanned tree, their dependencies and values: what each release is made of.

Pure planning in the scanning process: no Helm here. A folder holding ``Chart.yaml`` is a
chart and every discovered file below it is claimed by the Helm stage. A chart that is not
inside another chart and is not a library is one release. Its dependencies come, as Helm
finds them, from its ``charts/`` folder (subfolders and ``.tgz``); one that is not there is
taken from the scanned tree, by its ``file://`` repository or else by its name (a repository's
own ``common`` library chart). A dependency found nowhere leaves the release unresolved with
that reason: no network is ever asked.

Each values overlay the chart ships is a release of its own (``overlays``): the ``ci/`` files
chart-testing installs, ``values-*.yaml`` beside ``values.yaml`` and ``examples/*values*.yaml``,
each over ``values.yaml``; so is each switch that renders port wiring the defaults leave out
(``switches``). At most ``helm.max-releases`` releases per chart; the overlays past it are
listed, not rendered.

A release is planned as the files of its archive (archive name -> shown path in the tree):
``package`` builds the archive from them in the child, so nothing outside the scanned roots
is read and Helm never opens the tree itself.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from portpolicy import safeio
from portpolicy.config import Config, HelmChart
from portpolicy.discover import config_relative, display_path
from portpolicy.helm import switches
from portpolicy.yamlnodes import Node, YamlError, compose_documents, get, items, scalar, seq

CHART_FILE = "Chart.yaml"
REQUIREMENTS_FILE = "requirements.yaml"
MAX_CHART_YAML = 64 * 1024
"""A real ``Chart.yaml`` is a few KiB; a larger one is refused before Helm sees it."""
MAX_DEPENDENCY_DEPTH = 8
MAX_DEPENDENCIES = 100
DEFAULT_RELEASE = "release-name"
"""What ``helm template`` calls a release it is not given a name for."""
DEFAULT_NAMESPACE = "default"
VALUES_FILE = "values.yaml"
SCHEMA_FILE = "values.schema.json"
MAX_SWITCHES = 2
"""Switched releases per chart: each costs a render; a chart of many optional ports (metrics,
sidecars) would otherwise multiply the scan's time."""
MAX_TEMPLATE_BYTES = 256 * 1024
"""A template read for port wiring (``switches``): larger ones are not looked into."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class Dependency:
    """One ``dependencies:`` entry of a ``Chart.yaml``."""

    name: str
    repository: str
    alias: str


@dataclass(frozen=True)
class Chart:
    """A folder with ``Chart.yaml``: ``root`` is its shown path (``""`` for the working folder)."""

    root: str
    name: str
    library: bool
    dependencies: tuple[Dependency, ...]
    problem: str = ""
    """Why the chart cannot be rendered at all (its ``Chart.yaml`` is not one)."""

    @property
    def anchor(self) -> str:
        """The chart's ``Chart.yaml``: where a chart-wide verdict (unresolved, skipped) lands."""
        return posixpath.join(self.root, CHART_FILE)


@dataclass
class Release:
    """One chart installed once: the files of its archive and the values and names it gets."""

    chart: Chart
    release: str = DEFAULT_RELEASE
    namespace: str = DEFAULT_NAMESPACE
    files: dict[str, str] = field(default_factory=dict)
    """Archive name (``<chart>/templates/x.yaml``) -> shown path of the tree file."""
    charts: dict[str, str] = field(default_factory=dict)
    """Helm's path of each chart in the release (``app``, ``app/charts/common``) -> its shown root
    (a ``.tgz`` dependency: the archive file itself)."""
    values: tuple[str, ...] = ()
    """Extra values files (shown paths), applied in order after the chart's own ``values.yaml``."""
    problem: str = ""
    """Why this release cannot be rendered (a dependency not available offline)."""
    label: str = ""
    """Which install of the chart this is: ``""`` for its default values, else the overlay
    (``ci/nodeport-values.yaml``) or switch (``values.yaml with service.type=NodePort``)."""
    overlay: str = ""
    """The shown path of the overlay values file, if the release has one."""
    overrides: dict[str, object] = field(default_factory=dict)
    """Values set after every file (a switch), as ``helm --set`` would."""

    def job(self, ident: int) -> dict[str, object]:
        """What the child needs to render this release (plain JSON)."""
        return {
            "id": ident,
            "files": sorted(self.files.items()),
            "values": list(self.values),
            "overrides": self.overrides,
            "release": self.release,
            "namespace": self.namespace,
        }

    @property
    def schemas(self) -> list[str]:
        """The shown paths of the ``values.schema.json`` files Helm would check this release with."""
        return sorted(p for a, p in self.files.items() if posixpath.basename(a) == SCHEMA_FILE)


@dataclass
class Plan:
    """The charts of a tree: the releases to render and every file the stage claims."""

    charts: list[Chart] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    passed: list[tuple[str, str]] = field(default_factory=list)
    """Overlays and switches not rendered past the bound: (shown path, why)."""


def has_chart(paths: Iterable[str]) -> bool:
    """Is any of ``paths`` a ``Chart.yaml``? (Cheap: the stage is imported only when one is.)"""
    return any(posixpath.basename(p) == CHART_FILE for p in paths)


def plan(paths: Iterable[str], config: Config) -> Plan:
    """The charts among the discovered ``paths`` and the releases they make."""
    paths = sorted(set(paths))
    roots = sorted({posixpath.dirname(p) for p in paths if posixpath.basename(p) == CHART_FILE})
    charts = [read_chart(root, config.roots) for root in roots]
    out = Plan(charts)
    below = {c.root: _files_below(c.root, paths) for c in charts}
    for chart in charts:
        out.claimed.update(below[chart.root])
    by_root = {c.root: c for c in charts}
    for chart in charts:
        if chart.library or _inside_another(chart.root, roots):
            continue
        default = _release(chart, by_root, below, config)
        out.releases.append(default)
        if not default.problem:
            _add_variants(out, default, below[chart.root], config)
    return out


def _add_variants(out: Plan, default: Release, files: list[str], config: Config) -> None:
    """The chart's switched releases, then its overlays, after its default one, up to the bound
    (switches first: they are few, and name what the defaults leave unchecked).

    (A subchart's files never match: its overlays are below ``charts/``, not ``ci/``.)
    """
    bound = max(1, config.helm.max_releases)
    root = default.chart.root
    variants: list[Release] = []
    defaults = _text(posixpath.join(root, VALUES_FILE), config.roots)
    found = switches.find(_templates(root, files, config.roots), defaults)
    for switch in found[:MAX_SWITCHES]:
        label = f"{VALUES_FILE} with {switch.label}"
        variants.append(replace(default, label=label, overrides=switch.values()))
    for switch in found[MAX_SWITCHES:]:
        out.passed.append(
            (
                root or ".",
                f"release {VALUES_FILE} with {switch.label} not rendered: over {MAX_SWITCHES} switches per chart",
            )
        )
    for path in overlays(root, files, set(default.values)):
        label = path[len(root) + 1 :] if root else path
        variants.append(replace(default, values=(*default.values, path), label=label, overlay=path))
    room = bound - 1
    out.releases.extend(variants[:room])
    for variant in variants[room:]:
        over = f"over {bound} releases per chart (helm.max-releases)"
        if variant.overlay:
            out.passed.append((variant.overlay, f"values overlay not rendered: {over}"))
        else:
            out.passed.append((root or ".", f"release {variant.label} not rendered: {over}"))


def overlays(root: str, files: list[str], named: set[str]) -> list[str]:
    """The values overlays a chart ships, in the order they are rendered: ``ci/``, ``values-*``, ``examples/``."""
    prefix = root + "/" if root else ""
    found: list[tuple[int, str]] = []
    for path in files:
        rel = path[len(prefix) :]
        if path in named or not rel.endswith((".yaml", ".yml")):
            continue
        folder, base = posixpath.split(rel)
        if folder == "ci":
            found.append((0, path))
        elif folder == "" and base.startswith("values-"):
            found.append((1, path))
        elif folder == "examples" and "values" in base:
            found.append((2, path))
    return [p for _, p in sorted(found)]


def _templates(root: str, files: list[str], roots: tuple[str, ...]) -> list[str]:
    """The texts of the chart's own templates (not its subcharts'), for ``switches``."""
    folder = posixpath.join(root, "templates") + "/"
    out = []
    for path in files:
        if path.startswith(folder) and path.endswith((".yaml", ".yml", ".tpl")):
            text = _text(path, roots, MAX_TEMPLATE_BYTES)
            if text is not None and (".Values" in text and "Port" in text):
                out.append(text)
    return out


def _text(path: str, roots: tuple[str, ...], limit: int = safeio.MAX_BYTES) -> str | None:
    text = safeio.read_text(path, roots, limit)
    return None if isinstance(text, safeio.Refusal) else text


def read_chart(root: str, roots: tuple[str, ...]) -> Chart:
    """The chart at ``root`` from its ``Chart.yaml`` (bounded: a bomb is a problem, not a hang)."""
    path = posixpath.join(root, CHART_FILE)
    text = safeio.read_text(path, roots, MAX_CHART_YAML)
    fallback = posixpath.basename(root) or "chart"
    if isinstance(text, safeio.Refusal):
        return Chart(root, fallback, False, (), f"{CHART_FILE} not read: {text.reason}")
    try:
        docs = compose_documents(text)
    except YamlError as exc:
        return Chart(root, fallback, False, (), f"{CHART_FILE} is not valid YAML ({exc})")
    doc = docs[0] if docs else None
    name = scalar(get(doc, "name")) or ""
    if not _NAME.fullmatch(name):
        return Chart(root, fallback, False, (), f"{CHART_FILE} has no valid chart name")
    library = scalar(get(doc, "type")) == "library"
    listed = seq(get(doc, "dependencies")) or _requirements(root, roots)
    deps = tuple(_dependency(node) for node in listed[:MAX_DEPENDENCIES])
    return Chart(root, name, library, tuple(d for d in deps if d.name))


def _requirements(root: str, roots: tuple[str, ...]) -> list[Node]:
    """An ``apiVersion: v1`` chart's dependencies, from ``requirements.yaml`` (Helm 3 reads it too)."""
    text = safeio.read_text(posixpath.join(root, REQUIREMENTS_FILE), roots, MAX_CHART_YAML)
    if isinstance(text, safeio.Refusal):
        return []
    try:
        docs = compose_documents(text)
    except YamlError:
        return []  # Helm says so when it renders
    return seq(get(docs[0], "dependencies")) if docs else []


def _dependency(node: object) -> Dependency:
    fields = {key: scalar(value) or "" for key, _, value in items(node)}  # type: ignore[arg-type]
    name = fields.get("name", "")
    return Dependency(
        name if _NAME.fullmatch(name) else "", fields.get("repository", ""), fields.get("alias", "")
    )


def _files_below(root: str, paths: list[str]) -> list[str]:
    prefix = root + "/" if root else ""
    return [p for p in paths if p.startswith(prefix)]


def _inside_another(root: str, roots: list[str]) -> bool:
    """A chart below another chart's folder is that chart's (a vendored subchart), not a release."""
    return any(other != root and (other == "" or root.startswith(other + "/")) for other in roots)


def _release(
    chart: Chart, by_root: Mapping[str, Chart], below: Mapping[str, list[str]], config: Config
) -> Release:
    settings = _settings(chart, config)
    release = Release(
        chart,
        settings.release or DEFAULT_RELEASE,
        settings.namespace or DEFAULT_NAMESPACE,
        values=tuple(display_path(posixpath.join(config.root, v)) for v in settings.values),
    )
    if chart.problem:
        release.problem = chart.problem
        return release
    release.problem = _add_chart(release, chart, chart.name, chart.name, by_root, below, ())
    return release


def _settings(chart: Chart, config: Config) -> HelmChart:
    """The config's ``helm.charts`` entry for this chart (keyed by folder relative to the config)."""
    if not config.helm.charts:
        return HelmChart()
    key = config_relative(chart.root or ".", config)
    return config.helm.charts.get(key) or config.helm.charts.get(key.strip("/")) or HelmChart()


def _add_chart(
    release: Release,
    chart: Chart,
    archive_dir: str,
    helm_path: str,
    by_root: Mapping[str, Chart],
    below: Mapping[str, list[str]],
    seen: tuple[str, ...],
) -> str:
    """Put ``chart``'s files at ``archive_dir`` and its tree dependencies below; a problem, or ""."""
    if chart.root in seen or len(seen) > MAX_DEPENDENCY_DEPTH:
        return f"dependency cycle or nesting over {MAX_DEPENDENCY_DEPTH} charts at {chart.anchor}"
    if chart.problem:
        return f"dependency {chart.name} at {chart.root or '.'}: {chart.problem}"
    prefix = chart.root + "/" if chart.root else ""
    for path in below.get(chart.root, ()):
        release.files[f"{archive_dir}/{path[len(prefix) :]}"] = path
    release.charts[helm_path] = chart.root
    vendored = _vendored(chart, by_root, below)
    for name, where in vendored.items():
        release.charts[f"{helm_path}/charts/{name}"] = where
    for dep in chart.dependencies:
        as_named = dep.alias or dep.name
        if dep.name in vendored:
            if dep.alias:
                release.charts[f"{helm_path}/charts/{as_named}"] = vendored[dep.name]
            continue
        found = _in_tree(chart, dep, by_root)
        if found is None:
            where = dep.repository or "no repository"
            return (
                f"dependency {dep.name} ({where}) is not available offline: not in "
                f"{posixpath.join(chart.root, 'charts')}/ and no chart named {dep.name} in the scanned tree; "
                f"`helm dependency build {chart.root or '.'}` vendors it"
            )
        problem = _add_chart(
            release,
            found,
            f"{archive_dir}/charts/{dep.name}",
            f"{helm_path}/charts/{as_named}",
            by_root,
            below,
            (*seen, chart.root),
        )
        if problem:
            return problem
    return ""


def _vendored(chart: Chart, by_root: Mapping[str, Chart], below: Mapping[str, list[str]]) -> dict[str, str]:
    """Dependencies already in ``charts/``: chart name -> the subfolder or ``.tgz`` holding it."""
    folder = posixpath.join(chart.root, "charts")
    found: dict[str, str] = {}
    declared = {d.name for d in chart.dependencies}
    for path in below.get(chart.root, ()):
        if posixpath.dirname(path) != folder:
            continue
        name = posixpath.basename(path)
        if name.endswith((".tgz", ".tar.gz")):
            stem = name.removesuffix(".tgz").removesuffix(".tar.gz")
            for dep in sorted(declared, key=len, reverse=True):
                if stem == dep or stem.startswith(dep + "-"):
                    found.setdefault(dep, path)
                    break
    for root, sub in by_root.items():
        if posixpath.dirname(root) == folder and not sub.problem:
            found.setdefault(sub.name, root)
    return found


def _in_tree(chart: Chart, dep: Dependency, by_root: Mapping[str, Chart]) -> Chart | None:
    """The chart of the scanned tree a dependency names: by ``file://`` path, else by name."""
    if dep.repository.startswith("file://"):
        target = posixpath.normpath(posixpath.join(chart.root, dep.repository[len("file://") :]))
        target = "" if target == "." else target
        return by_root.get(target)
    named = [c for c in by_root.values() if c.name == dep.name and c.root != chart.root]
    return min(named, key=lambda c: (_distance(chart.root, c.root), c.root)) if named else None


def _distance(a: str, b: str) -> int:
    """How many folders apart two chart roots are: the nearest same-named chart is the one meant."""
    pa, pb = [p for p in a.split("/") if p], [p for p in b.split("/") if p]
    common = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        common += 1
    return len(pa) + len(pb) - 2 * common
