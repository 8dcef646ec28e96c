"""GitHub Actions workflows: ``docker/build-push-action`` steps and build commands in ``run:``.

A build-push-action step gives ``context`` (default: the repository), ``file`` (default:
the context's ``Dockerfile``), ``tags``, ``target`` and ``build-args``. Its ``tags`` are
often ``${{ steps.meta.outputs.tags }}``: the ``images`` of that ``docker/metadata-action``
step are the names then. ``${{ env.X }}`` is the workflow's, job's or step's literal
``env:``; any other expression leaves the value unknown. Steps are bounded (``MAX_STEPS``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from portpolicy.buildcalls import commands
from portpolicy.buildcalls.calls import MAX_ARGS, MAX_TAGS, Call, Found
from portpolicy.buildcalls.expand import TooDeep, expand
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, compose_documents, get, items, scalar, seq

MAX_STEPS = 2000
"""Steps of one workflow (all jobs) that are looked at; the rest are passed over with a note."""

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_STEP_OUTPUT = re.compile(r"steps\.([A-Za-z0-9_-]+)\.outputs\.tags")


def workflow(text: str, folder: str) -> Found:
    """Every build call of one workflow file."""
    found = Found()
    docs = compose_documents(text)
    root = docs[0] if docs else None
    base = _env(get(root, "env"), {})
    steps = 0
    for _, _, job in items(get(root, "jobs")):
        env = _env(get(job, "env"), base)
        metadata: dict[str, list[str]] = {}
        for step in seq(get(job, "steps")):
            steps += 1
            if steps > MAX_STEPS:
                found.notes.append((1, f"more than {MAX_STEPS} workflow steps: the rest are passed over"))
                return found
            _step(step, _env(get(step, "env"), env), folder, metadata, found)
    return found


def _step(step: Node, env: dict[str, str], folder: str, metadata: dict[str, list[str]], found: Found) -> None:
    uses = scalar(get(step, "uses")) or ""
    with_ = get(step, "with")
    if uses.startswith("docker/metadata-action"):
        ident = scalar(get(step, "id"))
        images = _list(_actions(scalar(get(with_, "images")) or "", env, {}))
        if ident:
            metadata[ident] = [i.removeprefix("name=").strip() for i in images]
    elif uses.startswith("docker/build-push-action"):
        call = _build_push(step, with_, env, folder, metadata, found)
        if call is not None:
            found.calls.append(call)
    run = get(step, "run")
    text = scalar(run)
    if isinstance(run, ScalarNode) and text:
        offset = run.start_mark.line + (1 if run.style in ("|", ">") else 0)
        part = commands.calls(_actions(text, env, {}), env, folder, offset, "docker build (workflow run)")
        found.calls.extend(part.calls)
        found.notes.extend(part.notes)


def _build_push(
    step: Node,
    with_: Node | None,
    env: Mapping[str, str],
    folder: str,
    meta: dict[str, list[str]],
    found: Found,
) -> Call | None:
    line = step.start_mark.line + 1

    def value(key: str) -> str | None:
        text = scalar(get(with_, key))
        return None if text is None else _actions(text, env, meta)

    try:
        tags = [t for raw in _list(value("tags") or "") if (t := expand(raw, env))][:MAX_TAGS]
        context = _filled(value("context"), env, ".")
        dockerfile = _filled(value("file"), env, None)
        target = _filled(value("target"), env, None)
        args = [a.partition("=")[::2] for a in _list(value("build-args") or "", commas=False)][:MAX_ARGS]
    except TooDeep as exc:
        found.notes.append((line, f"variable {exc.name} nests too deep: the build call is passed over"))
        return None
    if not tags or context is None or (value("file") is not None and dockerfile is None):
        return None
    return Call(
        tuple(tags), dockerfile, context, folder, line, "docker/build-push-action", False, target, tuple(args)
    )


def _filled(text: str | None, env: Mapping[str, str], default: str | None) -> str | None:
    return default if text is None or not text.strip() else expand(text.strip(), env)


def _actions(text: str, env: Mapping[str, str], meta: Mapping[str, list[str]]) -> str:
    """``${{ }}`` expressions as shell words: ``env.X`` a variable, the workspace ``.``, the
    tags of a metadata step its images; any other stays (and leaves its word unknown)."""

    def fill(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("env.") and expr[4:] in env:
            return "${" + expr[4:] + "}"
        if expr == "github.workspace":
            return "."
        step = _STEP_OUTPUT.fullmatch(expr)
        if step is not None and step.group(1) in meta:
            return "\n".join(meta[step.group(1)])
        return m.group(0)

    return _EXPRESSION.sub(fill, text)


def _env(node: Node | None, outer: Mapping[str, str]) -> dict[str, str]:
    """An ``env:`` mapping's literal values over the outer ones."""
    env = dict(outer)
    if isinstance(node, MappingNode):
        for key, _, val in items(node):
            text = scalar(val)
            if text is not None and "${{" not in text:
                env[key] = text
    return env


def _list(text: str, commas: bool = True) -> list[str]:
    """A multi-line (or comma-separated) input as its items."""
    parts = re.split(r"[\n,]" if commas else r"\n", text)
    return [p.strip() for p in parts if p.strip() and not p.strip().startswith("#")][: 4 * MAX_TAGS]
