"""Skaffold: ``build.artifacts`` (also under ``profiles``): ``image``, ``context`` (default
the file's folder), ``docker.dockerfile`` (default ``Dockerfile``, relative to the context),
``docker.target`` and ``docker.buildArgs``. Skaffold tags the image a manifest names."""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.buildcalls.calls import MAX_ARGS, Call, Found
from portpolicy.yamlnodes import Node, compose_documents, get, items, scalar, seq

MAX_ARTIFACTS = 512
"""Artifacts of one skaffold file that are looked at."""


def config(text: str, folder: str) -> Found:
    """Every artifact of every document (a multi-config file) and profile."""
    found = Found()
    for number, artifact in enumerate(_artifacts(compose_documents(text))):
        if number >= MAX_ARTIFACTS:
            found.notes.append((1, f"more than {MAX_ARTIFACTS} skaffold artifacts: the rest are passed over"))
            break
        call = _call(artifact, folder)
        if call is not None:
            found.calls.append(call)
    return found


def _artifacts(docs: list[Node]) -> Iterator[Node]:
    for doc in docs:
        yield from seq(get(get(doc, "build"), "artifacts"))
        for profile in seq(get(doc, "profiles"))[:MAX_ARTIFACTS]:
            yield from seq(get(get(profile, "build"), "artifacts"))


def _call(artifact: Node, folder: str) -> Call | None:
    image = scalar(get(artifact, "image"))
    if not image or "{{" in image:
        return None
    docker = get(artifact, "docker")
    context = scalar(get(artifact, "context")) or "."
    dockerfile = scalar(get(docker, "dockerfile"))
    target = scalar(get(docker, "target"))
    args = [(k, scalar(v) or "") for k, _, v in items(get(docker, "buildArgs"))][:MAX_ARGS]
    line = artifact.start_mark.line + 1
    return Call((image,), dockerfile, context, folder, line, "skaffold artifact", True, target, tuple(args))
