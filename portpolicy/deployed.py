"""A file read as what it becomes where it is deployed: the one home for that decision.

A config often reaches its daemon under another name: ``COPY site.conf
/etc/nginx/conf.d/default.conf``, a compose bind mount or ``configs:`` target, a
Kubernetes ConfigMap key mounted at ``mountPath``, a template the nginx image renders
with envsubst at start (``/etc/nginx/templates/x.conf.template`` becomes
``/etc/nginx/conf.d/x.conf``). The destination, not the file's own name, says what
reads it, so after the first pass of reading ``read_all`` collects every deployment
(``Deployed``), lets ``recognise`` choose the format from the destination path (a prior,
which the content must then bear out), and reads again the sources the first pass did
not read or read as another format. That is the only second read of a file.

Facts point at the source's lines: a deployed file is read under a *virtual path* (its
destination, so readers that decide by name see the unit name, the sysctl.d priority,
``nginx.conf``) and every ``Location`` on that path is moved back to the source. An
embedded file (``Embedded``: a ConfigMap key's text inside a manifest; later cloud-init
``write_files``, Ignition, heredocs) is padded with the lines and indentation that
precede it in its container file, so its lines and columns are the container's; an
encoded one (base64, gzip, a ``data:`` URL) is ``pinned`` to the line of its value. A file
written inside a file (a ``Deployed`` with its text, from the first pass) is read the same
way. An embedded file is expanded once (depth 1): whatever a virtual file embeds in turn
(a heredoc in a script that cloud-init writes) is not read.

``placement`` then puts the facts in the container's namespace as it does for any
well-named file. A destination is untrusted text: bounded, normalised under ``/``, and
only ever used as a name to choose a reader; it never names a file to open.
"""

from __future__ import annotations

import bisect
import dataclasses
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from portpolicy import placement, recognise, safeio, signatures
from portpolicy.discover import Skipped
from portpolicy.model import ContainerLink, Fact, ImageInfo, Location, Mount, ParseError
from portpolicy.readers.base import Source, cut_values, raw_template_errors, shown, unlike_file
from portpolicy.records import record
from portpolicy.virtual import CONFIGMAP, Deployed, Embedded, embed, move_locations

MAX_DESTINATION = 4096
"""PATH_MAX: a longer destination is no path a container has."""
MAX_DEPLOYMENTS = 20_000
"""Deployments looked at per scan (a directory mount of a large tree counts each file)."""
MAX_READS = 2_000
"""Second reads per scan."""
MAX_READ_BYTES = 8 * safeio.MAX_BYTES
"""Text read again per scan, embedded texts included (one key mounted by many pods counts each time)."""

RENDERED = (
    ("/etc/nginx/templates/", ".template", "/etc/nginx/conf.d/", "rendered by the nginx image's envsubst to"),
    (
        "/etc/nginx/stream-templates/",
        ".template",
        "/etc/nginx/stream-conf.d/",
        "rendered by the nginx image's envsubst to",
    ),
)
"""Templates an image renders at start: (template folder, suffix, output folder, how).

The official nginx image's ``20-envsubst-on-templates.sh`` writes each
``<dir>/<path>.template`` to ``<output>/<path>``; a ``${VAR}`` it substitutes is unknown
here, so a port written that way stays unresolved.
"""


def destination_name(destination: str) -> str | None:
    """The destination as a name to choose a reader by (relative to ``/``), or None.

    Normalised under ``/`` (``..`` cannot leave it); a bounded length; no control characters.
    """
    if not destination or len(destination) > MAX_DESTINATION:
        return None
    if any(ch < " " or ch == "\x7f" for ch in destination):
        return None
    folder = destination.endswith("/")
    name = posixpath.normpath("/" + destination).lstrip("/")
    if not name or name == ".":
        return None
    return name + ("/" if folder else "")


def rendered(destination: str) -> tuple[str, str] | None:
    """(what the image renders the template at ``destination`` to, how), or None."""
    for folder, suffix, output, how in RENDERED:
        if (
            destination.startswith(folder)
            and destination.endswith(suffix)
            and len(destination) > len(folder) + len(suffix)
        ):
            return output + destination[len(folder) : -len(suffix)], how
    return None


# --------------------------------------------------------------------------- the step


Entry = tuple[str, str, list[Any]]


def read_all(
    per_file: list[Entry], skipped: list[Skipped], roots: tuple[str, ...] = ()
) -> tuple[list[Entry], list[Skipped]]:
    """The first pass's entries and skips, with every deployed file read as its destination's format.

    Embedded records never leave this step (a reader's ``Embedded`` is only for it).
    """
    entries = [(path, reader, list(facts)) for path, reader, facts in per_file]
    embedded = _take_embedded(entries)
    written = _take_written(entries)
    first = {path: reader for path, reader, _ in entries}
    deploying = {
        path for path, _, facts in entries if any(isinstance(f, (ImageInfo, ContainerLink)) for f in facts)
    }
    known = sorted({*first, *(s.path for s in skipped)} - deploying)
    deployments = [
        *_tree_deployments(entries, known),
        *_configmap_deployments(entries, embedded),
        *written,
    ]
    budget = _Budget()
    added: dict[str, list[Entry]] = defaultdict(list)
    replaced: set[str] = set()
    reasons: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    names: set[str] = set()
    for d in deployments[:MAX_DEPLOYMENTS]:
        result = _read_one(d, first.get(d.source_path), roots, budget, done, names)
        if isinstance(result, str):
            reasons.setdefault(d.source_path, result)
            continue
        if result is None:
            continue
        reader, facts = result
        if d.text is None:
            replaced.add(d.source_path)
        added[d.source_path].append((d.source_path, reader, facts))
    return _merged(entries, added, replaced), _skips(skipped, added, reasons)


def _merged(entries: list[Entry], added: dict[str, list[Entry]], replaced: set[str]) -> list[Entry]:
    """Entries with the second reads in place: a file's new reading replaces its first one;
    an embedded file's reading goes just before its container file's own entry, so the report
    still names the container file's reader (the last entry of a path wins there)."""
    out: list[Entry] = []
    placed: set[str] = set()
    for path, reader, facts in entries:
        if path in added and path not in placed:
            out.extend(added[path])
            placed.add(path)
        if path not in replaced:
            out.append((path, reader, facts))
    for path, more in added.items():
        if path not in placed:
            out.extend(more)
    return out


def _skips(skipped: list[Skipped], added: dict[str, list[Entry]], reasons: dict[str, str]) -> list[Skipped]:
    out = []
    for s in skipped:
        if s.path in added:
            continue
        out.append(Skipped(s.path, reasons[s.path]) if s.path in reasons else s)
    return out


def _take_embedded(entries: list[Entry]) -> list[Embedded]:
    """Remove every ``Embedded`` record from the entries and return them."""
    found: list[Embedded] = []
    for i, (path, reader, facts) in enumerate(entries):
        if any(isinstance(f, Embedded) for f in facts):
            found.extend(f for f in facts if isinstance(f, Embedded))
            entries[i] = (path, reader, [f for f in facts if not isinstance(f, Embedded)])
    return found


def _take_written(entries: list[Entry]) -> list[Deployed]:
    """Remove every file written inside a file (a heredoc, ``write_files``, an Ignition entry:
    a ``Deployed`` with its text) from the first pass's entries and return them."""
    found: list[Deployed] = []
    for i, (path, reader, facts) in enumerate(entries):
        if any(isinstance(f, Deployed) for f in facts):
            found.extend(f for f in facts if isinstance(f, Deployed) and f.text is not None)
            entries[i] = (path, reader, [f for f in facts if not isinstance(f, Deployed)])
    return found


@record(frozen=False)
class _Budget:
    reads: int = 0
    size: int = 0

    def take(self, size: int) -> bool:
        if self.reads >= MAX_READS or self.size + size > MAX_READ_BYTES:
            return False
        self.reads += 1
        self.size += size
        return True


def _read_one(
    d: Deployed,
    first: str | None,
    roots: tuple[str, ...],
    budget: _Budget,
    done: set[tuple[str, str]],
    names: set[str],
) -> tuple[str, list[Any]] | str | None:
    """(reader, facts) of one deployment; a skip reason; or None when the first pass stands."""
    name = destination_name(d.destination)
    if name is None or name.endswith("/"):
        return None
    priors = [s for s in recognise.named(name) if not s.yaml or s.role == signatures.DAEMON]
    if not priors or (
        d.text is None and first in {s.name for s in priors} and not _renamed(d.source_path, name)
    ):
        return None  # no format lives there, or the first pass read it as one that does, by the same name
    tried = (d.key, ",".join(s.name for s in priors))
    if tried in done:
        return None  # the same text for the same formats (one key mounted many times): read once
    done.add(tried)
    text = d.text if d.text is not None else _text(d.source_path, roots)
    if text is None or not budget.take(len(text)):
        return None
    found = recognise.recognise(name, text.lstrip("\n")).signature  # an embedded text's padding says nothing
    if found is None or found not in priors:
        if d.text is None and first is None:
            return f"deployed to {shown(d.destination, 80)} ({priors[0].title}), but its content is not"
        return None
    virtual = _virtual("/" + name, names)
    reader = signatures.reader(found)
    return found.name, _read_as(reader, d, virtual, text)


def _renamed(path: str, destination: str) -> bool:
    """True when a reader would see another name at the destination: another file name, or a
    drop-in folder (``app.service.d/``) the tree's folder is not (units join by these names)."""
    here, there = path.rsplit("/", 2)[-2:], destination.rsplit("/", 2)[-2:]
    if here[-1] != there[-1]:
        return True
    return len(there) == 2 and there[0].endswith(".d") and (len(here) < 2 or here[0] != there[0])


def _text(path: str, roots: tuple[str, ...]) -> str | None:
    """The second read of a tree file (through ``safeio``, like the first); None when it is not text."""
    data = safeio.read_bytes(path, roots, safeio.MAX_BYTES)
    if isinstance(data, safeio.Refusal) or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8-sig", errors="replace")


def _virtual(path: str, names: set[str]) -> str:
    """The destination as the reader's path, made unique in the scan (two services may both
    deploy ``/etc/nginx/conf.d/default.conf``; a reader joins files of one host by path)."""
    virtual, n = path, 1
    while virtual in names:
        n += 1
        virtual = f"/deployed-{n}{path}"
    names.add(virtual)
    return virtual


def _read_as(reader: Any, d: Deployed, virtual: str, text: str) -> list[Any]:
    """Read ``text`` as the file ``virtual``; facts come back on the source's path."""
    source = Source(virtual, text, virtual.lstrip("/"))
    where = Location(d.source_path, d.location.line if d.text is not None else 1)
    try:
        facts = list(reader.read(source))
    except Exception as exc:  # a reader bug must not cost the rest of the run; its text may quote the file
        return [ParseError(f"internal error in the {reader.NAME} reader ({type(exc).__name__})", where)]
    unlike = unlike_file(reader, source, facts)
    if unlike is not None:  # not of the format its destination says: quote none of it
        return [ParseError(unlike, where)]
    kept = [f for f in facts if not isinstance(f, (Embedded, Deployed))]  # embedded once, never nested
    moved = [_moved(f, virtual, d) for f in cut_values(kept)]
    if source.template or Source(d.source_path, text).template:
        moved = raw_template_errors(d.source_path, moved)  # as the first pass reads a template
    return ([d] if d.text is not None else []) + moved


def _moved(fact: Any, virtual: str, d: Deployed) -> Any:
    """A fact of an embedded reading back on the source: its own line, or the encoded value's."""
    if not d.pinned:
        return relocate(fact, virtual, d.source_path)
    at = d.location
    return move_locations(fact, virtual, lambda loc: dataclasses.replace(at, path=d.source_path))


def relocate(obj: Any, virtual: str, path: str) -> Any:
    """``obj`` with every ``Location`` on ``virtual`` moved to ``path`` (nested dataclasses and tuples)."""
    return move_locations(obj, virtual, lambda loc: dataclasses.replace(loc, path=path))


# --------------------------------------------------------------------------- where files go


def _tree_deployments(entries: list[Entry], known: list[str]) -> Iterator[Deployed]:
    """Each tree file that a COPY/ADD or a compose mount puts somewhere, at its destination.

    The routes are ``placement``'s (one definition of what reaches a container); a folder
    or glob deploys a file only into a config location, as ``placement`` places it.
    """
    for route in placement.routes(entries):
        for path, destination in _landing(route, known):
            how = route.how
            templated = rendered(destination)
            if templated is not None:
                destination, how = templated[0], f"{route.how}, {templated[1]} {templated[0]}"
            yield Deployed(path, None, destination, 0, how, route.location)


def _landing(route: Any, known: list[str]) -> Iterator[tuple[str, str]]:
    """(tree path, destination) of every known file the route takes."""
    candidates: Iterable[str] = known
    if not route.glob and route.path not in (".", ""):
        start = bisect.bisect_left(known, route.path)
        candidates = _prefixed(known, start, route.path)
    for path in candidates:
        where = placement.landing(path, route)
        if where is not None:
            yield path, where


def _prefixed(known: list[str], start: int, prefix: str) -> Iterator[str]:
    """The paths from ``start`` on that are ``prefix`` or lie below it (``known`` is sorted)."""
    for path in known[start:]:
        if path != prefix and not path.startswith(prefix):
            return
        if path == prefix or path.startswith(prefix + "/"):
            yield path


def _configmap_deployments(entries: list[Entry], embedded: list[Embedded]) -> Iterator[Deployed]:
    """ConfigMap keys mounted by a pod, as embedded files; the pods' mounts are rewritten to name them.

    A mount finds its ConfigMap (same namespace and name) in the manifest that mounts it,
    else in its folder, else anywhere when only one file defines it.
    """
    by_owner: dict[str, list[Embedded]] = defaultdict(list)
    for e in embedded:
        by_owner[e.owner].append(e)
    for i, (path, reader, facts) in enumerate(entries):
        if not any(isinstance(f, ContainerLink) and _mounts_configmap(f) for f in facts):
            continue
        new_facts: list[Any] = []
        for fact in facts:
            if not (isinstance(fact, ContainerLink) and _mounts_configmap(fact)):
                new_facts.append(fact)
                continue
            mounts: list[Mount] = []
            for mount in fact.mounts:
                if not mount.source.startswith(CONFIGMAP):
                    mounts.append(mount)
                    continue
                for d in _keys(mount, path, by_owner):
                    mounts.append(Mount(d.ident, d.destination, mount.location, mount.how))
                    yield d
            new_facts.append(dataclasses.replace(fact, mounts=tuple(mounts)))
        entries[i] = (path, reader, new_facts)


def _mounts_configmap(link: ContainerLink) -> bool:
    return any(m.source.startswith(CONFIGMAP) for m in link.mounts)


def _keys(mount: Mount, manifest: str, by_owner: dict[str, list[Embedded]]) -> Iterator[Deployed]:
    """The keys a ConfigMap mount puts in the container: one (``subPath``, ``items``) or all."""
    owner, _, key = mount.source.partition(":")[2].partition(":")
    owner = CONFIGMAP + owner
    defined = by_owner.get(owner, [])
    files = sorted({e.source_path for e in defined})
    chosen = (
        manifest
        if manifest in files
        else next((f for f in files if posixpath.dirname(f) == posixpath.dirname(manifest)), None)
    )
    if chosen is None and len(files) == 1:
        chosen = files[0]
    for e in defined:
        if e.source_path != chosen or (key and e.name != key):
            continue
        target = posixpath.join(mount.target, e.name) if mount.target.endswith("/") else mount.target
        label = f"ConfigMap {shown(owner[len(CONFIGMAP) :])} key {shown(e.name)} in {e.source_path}"
        yield Deployed(
            e.source_path, e.text, target, e.lines[0] - 1, mount.how, mount.location, label, e.lines
        )


def facts_only(entries: Iterable[Entry]) -> list[Entry]:
    """Entries without this step's records: what the model gets when the step itself failed."""
    return [(p, r, [f for f in facts if not isinstance(f, (Embedded, Deployed))]) for p, r, facts in entries]


def records(facts: Iterable[Any]) -> list[Deployed]:
    """The ``Deployed`` records among an entry's facts (an embedded file's reading carries its own)."""
    return [f for f in facts if isinstance(f, Deployed)]


__all__ = ["Deployed", "Embedded", "Fact", "embed", "read_all", "relocate"]
