"""Ties to other files, read by ``placement``: the image a service builds, the files it bind-mounts
and the top-level ``configs`` it mounts.

A service with ``build:`` and ``image:`` is also a build call (``build_call``): Compose builds
the Dockerfile and tags the result with ``image:``, so another service or a Kubernetes
manifest naming that image runs the same Dockerfile, as with a workflow's build call
(``buildcalls``). With ``build:`` and no ``image:``, Compose names the image
``<project>-<service>`` (v1: ``_``): only the service itself runs it, so nothing is added.
A ``dockerfile_inline`` is not read (it is no file of the tree): the service runs an image
whose Dockerfile is unknown, so neither the ``image:`` name's known defaults nor another
build call of that name are given to it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from itertools import islice

from portpolicy import imagerefs
from portpolicy.model import ContainerLink, ImageBuild, Location, Mount, RunAs
from portpolicy.readers.compose.services import Services
from portpolicy.readers.compose.values import Value, Values
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, items, scalar, seq

Configs = dict[str, tuple[str, Location]]
"""Top-level ``configs`` by name: the file in the tree and where it is named."""


def link(
    doc: Services,
    configs: Configs,
    name: str,
    key_node: Node,
    svc: MappingNode,
    netns: str | None,
    run_as: RunAs,
) -> ContainerLink:
    """The image the service builds and the files it bind-mounts, for ``placement``."""
    base = posixpath.dirname(doc.source.path)
    dockerfile = context = target = None
    build = doc.attr(svc, "build")
    fields = {k: v for k, _, v in items(build)} if isinstance(build, MappingNode) else {}
    ctx = doc.value(fields.get("context") if fields else build)
    ctx_text = ctx.text.strip() if ctx is not None and ctx.known else ("." if fields else None)
    if ctx_text is not None and "://" not in ctx_text and not ctx_text.startswith("git@"):
        file_val = doc.value(fields.get("dockerfile"))
        file_text = "Dockerfile" if file_val is None else file_val.text.strip() if file_val.known else None
        if "dockerfile_inline" not in fields and file_text:
            context = _local(base, ctx_text)
            dockerfile = _local(context, file_text)
        tgt = doc.value(fields.get("target"))
        target = tgt.text.strip() if tgt is not None and tgt.known else None
    builds_unknown = build is not None and dockerfile is None  # inline, remote, or not known
    mounts = [m for node in doc.attr_list(svc, "volumes") if (m := mount(doc, base, node)) is not None]
    for node in doc.attr_list(svc, "configs"):
        mounts.extend(config_mount(doc, configs, base, node))
    return ContainerLink(
        service=name,
        netns=netns or "",
        location=doc.loc(key_node),
        run_as=run_as,
        user_set=doc.attr(svc, "user") is not None,
        dockerfile=dockerfile,
        build_context=context,
        target=target,
        mounts=tuple(mounts),
        image="" if builds_unknown else _image(doc, svc),
    )


MAX_BUILD_ARGS = 64
"""``build.args`` kept from one service (as ``buildcalls.calls.MAX_ARGS``)."""


def build_call(doc: Services, svc: MappingNode, link: ContainerLink) -> ImageBuild | None:
    """The service's ``build:`` as an entry of the build table, when it also names its ``image:``."""
    image = _image(doc, svc)
    ref = imagerefs.parse(image) if image else None
    if link.dockerfile is None or link.build_context is None or ref is None:
        return None
    key = doc.attr_key(svc, "build")
    where = doc.loc(key) if key is not None else link.location
    target = f", target {link.target}" if link.target else ""
    text = (
        f"image {image} \u2190 {link.dockerfile} "
        f"(context {link.build_context}{target}, from {where.path}:{where.line})"
    )
    build = doc.attr(svc, "build")
    args = _args(doc, next((v for k, _, v in items(build) if k == "args"), None))
    return ImageBuild((ref.name,), link.dockerfile, link.build_context, where, text, link.target, args)


def _args(values: Values, node: Node | None) -> tuple[tuple[str, str], ...]:
    """``build.args`` as a mapping or a ``KEY=value`` list; a value not known is ""."""
    out: list[tuple[str, str]] = []
    if isinstance(node, MappingNode):
        for key, _, val in islice(items(node), MAX_BUILD_ARGS):
            value = values.value(val)
            out.append((key, value.text if value is not None and value.known else ""))
    elif isinstance(node, SequenceNode):
        for item in seq(node)[:MAX_BUILD_ARGS]:
            value = values.value(item)
            if value is not None:
                name, _, text = value.text.partition("=")
                out.append((name.strip(), text if value.known else ""))
    return tuple(out)


def _image(doc: Services, svc: MappingNode) -> str:
    """The service's ``image:`` as written ("" when absent or not known)."""
    val = doc.value(doc.attr(svc, "image"))
    return val.text.strip() if val is not None and val.known else ""


def mount(values: Values, base: str, node: Node) -> Mount | None:
    """A bind mount of a relative path: ``./src:/dst[:ro]`` or ``{type: bind, source, target}``."""
    if isinstance(node, MappingNode):
        fields = {k: v for k, _, v in items(node)}
        kind = values.value(fields.get("type"))
        src, dst = values.value(fields.get("source")), values.value(fields.get("target"))
        if kind is None or kind.text.strip() != "bind" or src is None or dst is None:
            return None
    else:
        val = values.value(node)
        if val is None or not val.known:
            return None
        parts = val.text.split(":")
        if len(parts) < 2:
            return None
        src = Value(parts[0], parts[0], None, val.location)
        dst = Value(parts[1], parts[1], None, val.location)
    if not (src.known and dst.known) or not src.text.startswith("."):
        return None  # named volumes, absolute host paths and ~ are not in the scanned tree
    return Mount(_local(base, src.text.strip()), dst.text.strip(), src.location, "mounted")


def read_configs(values: Values, node: Node, configs: Configs) -> None:
    """Top-level ``configs: {name: {file: ./path}}`` that services may mount."""
    for name, _, cfg in items(node):
        file_node = next((v for k, _, v in items(cfg) if k == "file"), None)
        val = values.value(file_node)
        if val is not None and val.known and val.text.strip().startswith("."):
            configs[name] = (val.text.strip(), val.location)


def config_mount(values: Values, configs: Configs, base: str, node: Node) -> Iterator[Mount]:
    """``configs:`` entries whose top-level config is a ``file:`` in the tree."""
    if isinstance(node, MappingNode):
        fields = {k: v for k, _, v in items(node)}
        name, target = scalar(fields.get("source")), values.value(fields.get("target"))
        dst = target.text.strip() if target is not None and target.known else None
    else:
        name, dst = scalar(node), None
    source = configs.get(name or "")
    if source is not None:
        yield Mount(_local(base, source[0]), dst or f"/{name}", source[1], "config")


def _local(base: str, path: str) -> str:
    """A path relative to ``base`` as the working-directory-relative form ``Location`` uses."""
    return posixpath.normpath(posixpath.join(base, path))
