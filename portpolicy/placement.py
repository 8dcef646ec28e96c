"""Re-home the facts of files that belong to a container: its image and its mounted configs.

A compose service that builds a Dockerfile runs that image: with no ``user:`` it runs as
the image's ``USER``, and its ``EXPOSE`` ports are sockets in the service's namespace. A
daemon config bind-mounted into a service (``./nginx/default.conf:/etc/nginx/conf.d/…``,
long syntax, a mounted directory, a compose ``configs:`` file) or ``COPY``'d into its image
is read by the daemon in that container, so its listeners live in the container's
namespace, on the compose project's host, and run as the container's user. A Dockerfile
no compose service builds is a container of its own (``container:image:<file>``).

Who binds a daemon's sockets in a container:

* container user non-root (compose ``user:`` or the image's ``USER``): the whole process
  tree is that user, so the master cannot bind as root: ``bound_by="process"``;
* container user root: the daemon's own model stands (nginx's root master binds);
* container user unknown (an image without ``USER``, whose base image decides): the
  listener keeps no user and ``bound_by="process"``, so no verdict is guessed.

This runs in two steps because daemon readers may join files per host (``assemble``):
``place`` moves whole files to their container's host before grouping, ``Placement.apply``
re-homes the listeners of one host after its readers assembled them. A directory or glob
moves a file only when the file lands in a config location inside the container (copying
the build context into ``/app`` ships source code, not the daemon's configuration).

A Kubernetes container is one too: its ConfigMap mounts reach it as embedded files
(``deployed.Deployed`` records with the span of the manifest the key's text covers), so
only the listeners read from that span move into the pod, run as the container's user,
and the container's own ``containerPort`` stands aside where the daemon binds the port.
``routes`` lists every way a tree file reaches a container for ``deployed``, which reads a
file as what it becomes there.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import field, replace
from typing import Any

from portpolicy import imagerefs, signatures
from portpolicy.model import (
    ContainerLink,
    Evidence,
    Fact,
    ImageBuild,
    ImageInfo,
    ImageStage,
    Listener,
    Location,
    PortSet,
    RunAs,
)
from portpolicy.readers.lexing import glob_matches
from portpolicy.records import record
from portpolicy.virtual import WRITTEN, Deployed

# Where a file that arrives through a directory mount or a glob is a daemon's configuration.
CONFIG_PREFIXES = (
    "/etc/",
    "/usr/local/etc/",
    "/usr/local/apache2/conf/",
    "/usr/local/nginx/conf/",
    "/opt/bitnami/",
    "/config/",
)


def placed_readers() -> frozenset[str]:
    """Readers whose files configure a program that may run in a container (role ``daemon``)."""
    return _with_role(signatures.DAEMON)


def _with_role(*roles: str) -> frozenset[str]:
    return frozenset(name for name, role in signatures.roles().items() if role in roles)


Entry = tuple[str, str, str, list[Fact]]
"""(scope path, scope reader, reader, facts): the first two decide the host (``hosts.scope_of``)."""
Pair = tuple[str, Fact]


@record
class _Source:
    """One way files reach a container: a path (file, directory or glob) and its target."""

    path: str
    target: str
    location: Location
    how: str
    glob: bool = False


Route = _Source
"""What ``routes`` gives ``deployed``: a tree path (file, folder or glob) and where it lands."""


@record(frozen=False)
class Container:
    """A compose service or a lone image, and what belongs to it."""

    name: str
    host: str
    scope: tuple[str, str]
    netns: str
    run_as: RunAs
    inherits_user: bool
    compose_path: str | None
    """The file that declares it (a compose file, a manifest); None for a lone image."""
    exposes: tuple[Listener, ...] = ()
    sources: list[_Source] = field(default_factory=list)
    files: dict[str, Evidence] = field(default_factory=dict)
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """Files that reach it only in part (a manifest's ConfigMap key): the lines that do."""
    declares: tuple[str, str] | None = None
    """(reader, path) of the container's own port declarations (compose file, manifest)."""
    image_reader: str = ""
    """The reader of the image it runs (a Dockerfile's): its ``exposes`` are tagged with it."""
    image: str = ""
    """The image whose defaults apply to its processes (``Listener.image``): the ``image:`` it
    runs, or the external base of the Dockerfile it builds; "" when not known."""

    def takes(self, location: Location) -> bool:
        """True when the fact at ``location`` comes from what reaches this container."""
        spans = self.spans.get(location.path)
        return spans is None or any(a <= location.line <= b for a, b in spans)

    def match(self, path: str) -> Evidence | None:
        """How ``path`` gets into this container, or None when it does not."""
        for src in self.sources:
            where = _inside(path, src)
            if where is not None:
                return Evidence(src.location, f"{path} is {src.how} into {self.name} at {where}")
        return None


@record(frozen=False)
class Placement:
    """What ``place`` decided: the entries to group, and the containers per host for ``apply``."""

    entries: list[Entry]
    containers: dict[str, list[Container]]
    readers: frozenset[str] = frozenset()
    """Readers whose listeners move into a container (``place``'s: role ``daemon``)."""
    declaring: frozenset[str] = frozenset()
    """Readers whose container listeners a daemon's own listener of the same port replaces
    (roles ``containers`` and ``pods``)."""

    def apply(self, host: str, pairs: list[Pair]) -> list[Pair]:
        """Re-home one host's assembled facts: daemon listeners, the image user and EXPOSE ports."""
        containers = self.containers.get(host)
        if not containers:
            return pairs
        by_file: dict[str, list[Container]] = defaultdict(list)
        for c in containers:
            for path in c.files:
                by_file[path].append(c)
        out: list[Pair] = []
        daemons: dict[int, list[Listener]] = defaultdict(list)
        declared: dict[int, list[tuple[str, Listener]]] = defaultdict(list)
        owners = {(*c.declares, c.name): i for i, c in enumerate(containers) if c.declares}
        position = {id(c): i for i, c in enumerate(containers)}
        for reader, fact in pairs:
            homes = (
                [c for c in by_file.get(fact.location.path, ()) if c.takes(fact.location)]
                if isinstance(fact, Listener) and reader in self.readers
                else []
            )
            if homes:
                assert isinstance(fact, Listener)
                for c in homes:
                    if c.netns:
                        moved = _rehome(fact, c, c.files[fact.location.path])
                        daemons[position[id(c)]].append(moved)
                        out.append((reader, moved))
                continue
            if isinstance(fact, Listener) and reader in self.declaring and fact.bound_by == "process":
                owner = owners.get((reader, fact.location.path, fact.service))
                if owner is not None:
                    declared[owner].append((reader, fact))
                    continue
            out.append((reader, fact))
        for i, c in enumerate(containers):
            covered: dict[str, PortSet] = defaultdict(PortSet)
            for ln in daemons[i]:
                covered[ln.protocol] = covered[ln.protocol].union(ln.ports)
            for declarer, ln in declared[i]:
                if c.inherits_user:
                    ln = replace(ln, run_as=_merged(ln.run_as, c.run_as))
                if c.image:
                    ln = replace(ln, image=c.image)
                out.extend((declarer, piece) for piece in _uncovered(ln, covered))
                covered[ln.protocol] = covered[ln.protocol].union(ln.ports)
            if not c.netns:
                continue
            for ln in c.exposes:
                ln = replace(
                    ln, netns=c.netns, service=c.name, container=c.name, run_as=c.run_as, image=c.image
                )
                out.extend((c.image_reader, piece) for piece in _uncovered(ln, covered))
                covered[ln.protocol] = covered[ln.protocol].union(ln.ports)
        return out


def place(
    per_file: Iterable[tuple[str, str, list[Fact]]],
    host_of: Callable[[str, str], str],
    readers: frozenset[str] | None = None,
) -> Placement:
    """Decide which files belong to which container; move them to the container's host."""
    per_file = separate_projects(per_file, host_of)
    readers = placed_readers() if readers is None else readers
    building = _with_role(signatures.IMAGE)
    declaring = _with_role(*signatures.CONTAINER_ROLES)
    files: list[tuple[str, str, list[Fact], list[Deployed]]] = []
    images: dict[str, tuple[str, ImageInfo]] = {}
    links: list[tuple[str, str, ContainerLink]] = []
    for path, reader, facts in per_file:
        kept: list[Fact] = []
        embedded: list[Deployed] = []
        for fact in facts:
            if isinstance(fact, ImageInfo):
                images[path] = (reader, fact)
            elif isinstance(fact, ContainerLink):
                links.append((path, reader, fact))
            elif isinstance(fact, Deployed):
                embedded.append(fact)
            elif not (reader in building and isinstance(fact, Listener)):
                kept.append(fact)  # an image's EXPOSE listeners come back per container
        files.append((path, reader, kept, embedded))
    builds = [f for _, _, kept_facts, _ in files for f in kept_facts if isinstance(f, ImageBuild)]
    containers = list(_containers(links, images, host_of, declaring, builds))
    index = _SourceIndex(containers)
    entries: list[Entry] = []
    for path, reader, facts, embedded in files:
        homes: dict[tuple[str, str], bool] = {}
        if reader in readers:
            for ident, span in [(d.key, d.lines) for d in embedded] or [(path, None)]:
                for c, evidence in index.homes(ident):
                    c.files[path] = evidence
                    if span is not None:
                        c.spans.setdefault(path, []).append(span)
                    homes.setdefault(c.scope, True)
        if not homes:  # a text written by another file takes that file's host (``Deployed.scope``)
            entries.append((path, next((d.scope for d in embedded if d.scope), reader), reader, facts))
            continue
        for scope_path, scope_reader in homes:
            entries.append((scope_path, scope_reader, reader, facts))
    by_host: dict[str, list[Container]] = defaultdict(list)
    for c in containers:
        by_host[c.host].append(c)
    return Placement(entries, dict(by_host), readers, declaring)


CONTAINER_NETNS = "container:"


def separate_projects(
    per_file: Iterable[tuple[str, str, list[Fact]]], host_of: Callable[[str, str], str]
) -> list[tuple[str, str, list[Fact]]]:
    """Compose projects that share a host keep their containers apart.

    A compose reader names a service's namespace ``container:<service>``; two projects on one
    host (a root-filesystem tree's ``opt/app1`` and ``opt/app2``, or folders the config maps to
    one host) each have their own ``db`` container, as Compose names them ``<project>-db-1``.
    Their namespaces become ``container:<project>/<service>``, the project being the compose
    file's folder (its whole path when two projects' folders share a name). A host with one
    project keeps the short names.
    """
    entries = list(per_file)
    projects = _with_role(signatures.CONTAINERS)
    by_host: dict[str, list[str]] = defaultdict(list)
    for path, reader, facts in entries:
        if reader in projects and any(_container_netns(f) for f in facts):
            by_host[host_of(path, reader)].append(path)
    labels: dict[str, str] = {}
    for paths in by_host.values():
        if len(paths) < 2:
            continue
        folders = [posixpath.dirname(path) or "." for path in paths]
        short = [posixpath.basename(folder) or folder for folder in folders]
        for path, folder, name in zip(paths, folders, short, strict=True):
            labels[path] = name if short.count(name) == 1 else folder
    if not labels:
        return entries
    return [
        (path, reader, [_in_project(f, labels[path]) for f in facts] if path in labels else facts)
        for path, reader, facts in entries
    ]


def _container_netns(fact: Fact) -> bool:
    netns = getattr(fact, "netns", None)
    return isinstance(netns, str) and netns.startswith(CONTAINER_NETNS)


def _in_project(fact: Fact, project: str) -> Fact:
    """``fact`` with its ``container:<service>`` namespace named within ``project``."""
    if not _container_netns(fact):
        return fact
    named: Any = fact  # every fact with a container namespace is a dataclass with ``netns``
    service = named.netns[len(CONTAINER_NETNS) :]
    moved: Fact = replace(named, netns=f"{CONTAINER_NETNS}{project}/{service}")
    return moved


def routes(per_file: Iterable[tuple[str, str, list[Fact]]]) -> list[Route]:
    """Every way a file of the tree reaches a container: compose mounts and the image's COPY/ADD.

    The same containers as ``place`` builds (a service's image with its build context, a
    Dockerfile no service builds with its own folder), without deciding any host.
    """
    images: dict[str, tuple[str, ImageInfo]] = {}
    links: list[tuple[str, str, ContainerLink]] = []
    builds: list[ImageBuild] = []
    for path, reader, facts in per_file:
        for fact in facts:
            if isinstance(fact, ImageInfo):
                images[path] = (reader, fact)
            elif isinstance(fact, ContainerLink):
                links.append((path, reader, fact))
            elif isinstance(fact, ImageBuild):
                builds.append(fact)
    containers = _containers(links, images, lambda path, reader: "", builds=builds)
    return [src for c in containers for src in c.sources]


def landing(path: str, route: Route) -> str | None:
    """Where ``path`` lands through ``route``, or None (a folder or glob: only in a config location)."""
    return _inside(path, route)


class _SourceIndex:
    """Which containers a file reaches, without asking every container about every file.

    A file or directory source can only take a path that it equals or that lies below it,
    so sources are looked up by the path and each of its parent folders; glob sources
    (``COPY *.conf``) are few and always asked. Each container answers with its first
    source that takes the file, as ``Container.match`` does.
    """

    def __init__(self, containers: list[Container]) -> None:
        self.by_path: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.globs: list[tuple[int, int]] = []
        self.containers = containers
        for ci, c in enumerate(containers):
            for si, src in enumerate(c.sources):
                (self.globs if src.glob else self.by_path[src.path]).append((ci, si))

    def homes(self, path: str) -> Iterator[tuple[Container, Evidence]]:
        parts = path.split("/")
        keys = {path, ".", *("/".join(parts[:k]) for k in range(1, len(parts)))}
        found = sorted({*self.globs, *(hit for key in keys for hit in self.by_path.get(key, ()))})
        done: set[int] = set()
        for ci, si in found:
            if ci in done:
                continue
            c = self.containers[ci]
            src = c.sources[si]
            where = _inside(path, src)
            if where is not None:
                done.add(ci)
                yield c, Evidence(src.location, f"{path} is {src.how} into {c.name} at {where}")


def _containers(
    links: list[tuple[str, str, ContainerLink]],
    images: dict[str, tuple[str, ImageInfo]],
    host_of: Callable[[str, str], str],
    declaring: frozenset[str] = frozenset(),
    builds: Sequence[ImageBuild] = (),
) -> Iterator[Container]:
    """One container per compose service (or Kubernetes container), and one per Dockerfile that
    no service builds. ``declaring``: readers whose own port declarations a daemon's replace;
    ``builds``: the repository's build calls, which link an ``image:`` to its Dockerfile."""
    used: set[str] = set()
    by_name, by_dockerfile = _build_tables(builds)
    for path, reader, link, build in _built_links(links, by_name, images):
        image_reader, image = images.get(link.dockerfile or "", ("", None))
        stage = image.stage(link.target) if image is not None else None
        if image is not None:
            used.add(image.location.path)
        run_as = link.run_as
        inherits = not link.user_set and stage is not None and stage.run_as.location is not None
        if inherits and stage is not None:
            run_as = _merged(run_as, stage.run_as)
        compose_path = path if reader in declaring else None
        c = Container(
            link.service, host_of(path, reader), (path, reader), link.netns, run_as, inherits, compose_path
        )
        c.declares = (reader, path) if reader in declaring else None
        c.image_reader = image_reader
        # a service that builds runs its Dockerfile's base; one whose Dockerfile was not read, nothing known
        c.image = stage.image if stage is not None else ("" if link.dockerfile else link.image)
        c.sources.extend(_Source(m.source, m.target, m.location, m.how) for m in link.mounts)
        if stage is not None:
            c.exposes = stage.listeners
            c.sources.extend(_copies(stage, link.build_context or posixpath.dirname(path)))
        if build is not None:
            _built_from(c, build)
        yield c
    for path, (image_reader, image) in images.items():
        if path in used:
            continue
        final = image.stage(None)
        if final is None:
            continue
        c = Container(
            image.service,
            host_of(path, image_reader),
            (path, image_reader),
            image.netns,
            final.run_as,
            False,
            None,
        )
        c.image_reader = image_reader
        c.image = final.image
        c.exposes = final.listeners
        for context in _contexts(path, by_dockerfile):
            c.sources.extend(_copies(final, context))
        yield c


MAX_VARIANTS = 8
"""Dockerfiles one image name is linked to (several build calls, several Dockerfiles)."""

BuildsByName = dict[str, list[ImageBuild]]


def _build_tables(builds: Sequence[ImageBuild]) -> tuple[BuildsByName, dict[str, list[ImageBuild]]]:
    """The build calls by image name (``ImageRef.name``) and by Dockerfile, first call first."""
    by_name: BuildsByName = defaultdict(list)
    by_dockerfile: dict[str, list[ImageBuild]] = defaultdict(list)
    for b in builds:
        by_dockerfile[b.dockerfile].append(b)
        for name in b.names:
            if len(by_name[name]) < MAX_VARIANTS:
                by_name[name].append(b)
    return by_name, by_dockerfile


def _built_links(
    links: list[tuple[str, str, ContainerLink]],
    by_name: BuildsByName,
    images: dict[str, tuple[str, ImageInfo]],
) -> Iterator[tuple[str, str, ContainerLink, ImageBuild | None]]:
    """Each link as it stands, or, for one that runs an ``image:`` it does not build, once per
    Dockerfile the repository builds that image from (each evaluated, each saying which)."""
    for path, reader, link in links:
        ref = imagerefs.parse(link.image) if link.image and not link.dockerfile else None
        found = [b for b in by_name.get(ref.name, ()) if b.dockerfile in images] if ref else []
        if not found:
            yield path, reader, link, None
            continue
        for b in found:
            built = replace(link, dockerfile=b.dockerfile, build_context=b.context, target=b.target)
            yield path, reader, built, b


def _built_from(c: Container, build: ImageBuild) -> None:
    """Say on the image's ports and copied files which build call linked them (``facts``, findings)."""
    why = Evidence(build.location, build.text)
    c.exposes = tuple(replace(ln, evidence=(*ln.evidence, why)) for ln in c.exposes)
    c.sources = [replace(s, how=f"{s.how} ({build.text})") if s.how == COPIED else s for s in c.sources]


def _contexts(dockerfile: str, by_dockerfile: dict[str, list[ImageBuild]]) -> list[str]:
    """Where a lone Dockerfile's COPY sources are read from: its build calls' contexts, else its folder."""
    found = list(dict.fromkeys(b.context for b in by_dockerfile.get(dockerfile, ())))
    return found[:MAX_VARIANTS] or [posixpath.dirname(dockerfile) or "."]


COPIED = "copied by COPY/ADD"


def _copies(stage: ImageStage, context: str) -> Iterator[_Source]:
    for src, dest, loc in stage.copies:
        glob = any(ch in src for ch in "*?[")
        if src.startswith(WRITTEN):  # a heredoc: written in the Dockerfile, not a context file
            yield _Source(src, dest, loc, "written by a Dockerfile heredoc")
            continue
        path = posixpath.normpath(posixpath.join(context, src.lstrip("/")))
        yield _Source(path, dest, loc, COPIED, glob)


def _inside(path: str, src: _Source) -> str | None:
    """The path ``path`` has in the container through ``src``, or None."""
    target = src.target
    if path.startswith(WRITTEN) and path != src.path:
        return None  # a written file reaches only the container whose heredoc names it
    if src.glob:
        pattern, name = src.path.split("/"), path.split("/")  # the pattern: a COPY source, untrusted
        if len(pattern) != len(name) or not all(
            glob_matches(a, b) for a, b in zip(name, pattern, strict=True)
        ):
            return None
        where = posixpath.join(target, name[-1]) if target.endswith("/") else target
        return where if where.startswith(CONFIG_PREFIXES) else None
    if path == src.path:
        return posixpath.join(target, posixpath.basename(path)) if target.endswith("/") else target
    prefix = "" if src.path == "." else src.path + "/"
    if not path.startswith(prefix) or path.startswith("../"):
        return None
    where = posixpath.join(target, path[len(prefix) :])
    return where if where.startswith(CONFIG_PREFIXES) else None


def _merged(service: RunAs, image: RunAs) -> RunAs:
    """The service's capabilities with the image's user (and the ``USER`` line as its location)."""
    return replace(service, user=image.user, location=image.location, origin=image.origin)


def _rehome(ln: Listener, c: Container, how: Evidence) -> Listener:
    """A daemon's listener as the container runs it (see the module docstring)."""
    root = c.run_as.is_root
    if root:
        run_as, bound_by = ln.run_as, ln.bound_by
    elif root is None:
        run_as, bound_by = replace(c.run_as, user=None), "process"
    else:
        run_as, bound_by = c.run_as, "process"
    return replace(
        ln,
        netns=c.netns,
        service=c.name,
        container=c.name,
        run_as=run_as,
        bound_by=bound_by,
        evidence=(*ln.evidence, how),
        image=c.image or ln.image,
    )


def _uncovered(ln: Listener, covered: dict[str, PortSet]) -> Iterator[Listener]:
    """The parts of a declared port that no more precise listener of the container already binds."""
    have = covered.get(ln.protocol, PortSet())
    if not have.overlaps(ln.ports):
        yield ln
        return
    for piece in PortSet.of([ln.ports]).minus(have):
        yield replace(ln, ports=piece)
