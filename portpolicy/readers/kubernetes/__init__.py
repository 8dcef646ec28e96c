"""Kubernetes manifests: pod ports, who runs them, pod sysctls, Services and the NodePort pool.

Containers of one pod share a network namespace, declared as ``pod:<namespace>/<name>``;
a ``hostNetwork`` pod's ports live in the node's namespace (``host``), and so does a
``hostPort``, which the CNI ``portmap`` plugin forwards as root (``bound_by`` runtime). A
Service's ``port`` is a virtual cluster-IP port and its ``nodePort`` a netfilter rule, so
neither is a socket: Services give no listeners, only port validation and the NodePort
pool (``--service-node-port-range`` where a kube-apiserver flag, a kubeadm
``ClusterConfiguration`` or a kops ``Cluster`` sets it, else the 30000-32767 default).
Plain init containers run to completion before the app starts and are not read; native
sidecars (``restartPolicy: Always``) listen for the pod's life and are. Templates: inline
placeholders (Helm ``{{ }}``, Jinja) make a value unresolved, never a guess.

A ConfigMap's ``data`` keys are files in waiting: each becomes an ``Embedded`` text (padded
to the manifest's lines), and a container that mounts a ConfigMap volume (``mountPath``,
``subPath``, ``items``, ``projected`` sources) gives a ``ContainerLink`` whose mounts name
the ConfigMap. ``deployed`` joins the two, reads each key as what its mount path makes it
(``nginx.conf`` at ``/etc/nginx/nginx.conf``), and ``placement`` runs its listeners in the
pod as the container's user.

The package splits the reader by job: ``manifest`` (values as Kubernetes reads them),
``objects`` (an object by its kind), ``pods`` (containers, ports, users, sysctls),
``services`` (Services and the NodePort pool) and ``configmaps`` (embedded files and their
mounts); this module reads a file and joins a host's facts (``assemble``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from portpolicy.model import (
    Evidence,
    Fact,
    KernelSetting,
    Listener,
    NetnsDecl,
    ParseError,
    PortPool,
    Unresolved,
)
from portpolicy.readers.base import LINE_BREAK, Format, Source, mask_inline_jinja
from portpolicy.readers.kubernetes.configmaps import ConfigSources
from portpolicy.readers.kubernetes.endpoints import join_services
from portpolicy.readers.kubernetes.manifest import PROTOCOLS, Manifest, Record, is_object
from portpolicy.readers.kubernetes.objects import POD_SPEC_PATHS, read_object
from portpolicy.readers.kubernetes.pods import EVERY_NODE, KERNEL_KEYS, NON_ROOT, SCHEDULED
from portpolicy.readers.kubernetes.services import FLAG, NODEPORT_DEFAULT, with_node_port_range
from portpolicy.yamlnodes import Node, YamlError, compose_documents

NAME = "kubernetes"

FORMAT = Format(
    "a Kubernetes manifest",
    "'apiVersion' or 'kind' key",
    re.compile(r"[ \t]*(?:-[ \t]+)?[\"']?(?:apiVersion|kind)[\"']?[ \t]*:"),
    comments=("#", "---", "%"),
)

_K8S_TEXT = re.compile(r"^apiVersion\s*:", re.M)
_BLOCK_OPEN = re.compile(r"^\s*\{%-?\s*(?:if|for)\b")
_BLOCK_CLOSE = re.compile(r"^\s*\{%-?\s*end(?:if|for)\b")


def sniff(text: str) -> bool:
    """Cheap text test before YAML is composed: every object says ``apiVersion`` and ``kind``."""
    return "apiVersion" in text and "kind" in text


def claims(docs: list[Node]) -> bool:
    """True when any document is a Kubernetes object: a mapping with ``apiVersion`` and a ``kind``."""
    return any(is_object(doc) for doc in docs)


def read(source: Source) -> Iterator[Record]:
    """A file matched by name; a template has its Jinja masked first, keeping lines and columns."""
    text = source.masked
    placeholders: dict[str, str] = {}
    conditional: frozenset[int] = frozenset()
    template = source.template
    if template:
        conditional = _conditional_lines(source.text)
        text, placeholders = mask_inline_jinja(text, "_T", "_")
    try:
        docs = compose_documents(text)
    except YamlError as exc:
        if template:
            # A template's YAML is only final once rendered: not checked, and not an error.
            if _K8S_TEXT.search(source.text):
                why = f"template cannot be read statically (YAML error once masked: {exc}); not checked"
                yield Unresolved(source.path, why, source.at(exc.line, exc.column))
            return
        yield ParseError(f"invalid YAML: {exc}", source.at(exc.line, exc.column))
        return
    yield from _read_guarded(source, docs, text, placeholders, conditional)


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Record]:
    """Read already composed documents of a file that ``claims`` accepted."""
    yield from _read_guarded(source, docs, source.text, {})


def assemble(facts: list[Fact]) -> list[Fact]:
    """Join one host's facts across files: one NodePort pool, one namespace per manifest, and
    no clash between scheduled pods.

    Each Service port learns the NodePort range in force here and is joined to the pod
    templates its selector picks (``endpoints``).
    The assumed default pool stays only when no flag sets the pool on this host, once. Two
    files declaring the same pod are alternatives (applying both leaves one object), so the
    later file's pod gets its own namespace instead of sharing ports with the first. The
    scheduler never puts two pods that need the same host port on one node (its NodePorts
    filter), so of two scheduled pods the later one is left out of the node's namespace
    and named on the first as evidence; a DaemonSet or static pod runs on every node and a
    host daemon is unknown to the scheduler, so clashes with those stay.
    """
    flagged = any(isinstance(f, PortPool) and f.name == "nodeport" and not f.default for f in facts)
    owner: dict[str, str] = {}
    for f in facts:
        if isinstance(f, NetnsDecl):
            owner.setdefault(f.netns, f.location.path)
    defaults = [f for f in facts if isinstance(f, PortPool) and f.default]
    out: list[Fact] = []
    scheduled: list[int] = []
    for f in facts:
        if isinstance(f, Listener) and f.netns == "host" and f.source == SCHEDULED:
            twin = next((i for i in scheduled if _same_socket(out[i], f)), None)
            if twin is not None:
                first = out[twin]
                assert isinstance(first, Listener)
                why = f"{f.service} also needs this host port; the scheduler keeps the two on different nodes"
                out[twin] = replace(first, evidence=(*first.evidence, Evidence(f.location, why)))
                continue
            scheduled.append(len(out))
        if isinstance(f, PortPool) and f.default:
            if flagged or f is not defaults[0]:
                continue
            f = replace(f, evidence=tuple(e for d in defaults for e in d.evidence))
        elif isinstance(f, (NetnsDecl, Listener, KernelSetting)) and f.netns.startswith("pod:"):
            declared_in = owner.get(f.netns)
            if declared_in is not None and declared_in != f.location.path:
                f = replace(f, netns=f"{f.netns}@{f.location.path}")
        out.append(f)
    return join_services(with_node_port_range(out))


def _same_socket(a: Fact, b: Listener) -> bool:
    """Two different pods' host-side sockets that one node could not hold at once."""
    return (
        isinstance(a, Listener)
        and a.service != b.service
        and a.protocol == b.protocol
        and a.ports.overlaps(b.ports)
        and a.address.overlaps(b.address)
    )


def _read_guarded(
    source: Source,
    docs: list[Node],
    text: str,
    placeholders: dict[str, str],
    conditional: frozenset[int] = frozenset(),
) -> Iterator[Record]:
    """Every object of every document (a bug is the pipeline's to guard, at its call)."""
    manifest = Manifest(source, text, placeholders, conditional)
    for doc in docs:
        yield from read_object(manifest, doc)


def _conditional_lines(text: str) -> frozenset[int]:
    """Lines inside a Jinja ``{% if %}`` / ``{% for %}`` block: true only in some renderings."""
    depth = 0
    lines: set[int] = set()
    for number, line in enumerate(LINE_BREAK.split(text), 1):
        if _BLOCK_CLOSE.match(line):
            depth = max(0, depth - 1)
        elif _BLOCK_OPEN.match(line):
            depth += 1
        elif depth:
            lines.add(number)
    return frozenset(lines)


__all__ = [
    "EVERY_NODE",
    "FLAG",
    "FORMAT",
    "KERNEL_KEYS",
    "NAME",
    "NODEPORT_DEFAULT",
    "NON_ROOT",
    "POD_SPEC_PATHS",
    "PROTOCOLS",
    "SCHEDULED",
    "ConfigSources",
    "Record",
    "assemble",
    "claims",
    "read",
    "read_yaml",
    "sniff",
]
