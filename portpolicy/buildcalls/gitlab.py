"""GitLab CI: build commands (``docker build``, kaniko's ``executor``) in jobs' scripts.

Each job's ``before_script``, ``script`` and ``after_script`` entries are shell lines, with
the file's and the job's literal ``variables:``; ``$CI_PROJECT_DIR`` is the folder holding
``.gitlab-ci.yml``. Jobs are bounded (``MAX_JOBS``).
"""

from __future__ import annotations

from portpolicy.buildcalls import commands
from portpolicy.buildcalls.calls import Found
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, compose_documents, get, items, scalar, seq

MAX_JOBS = 2000
"""Top-level keys of one CI file that are looked at as jobs."""
MAX_LINES = 4000
"""Script entries of one CI file that are looked at."""
_SCRIPTS = ("before_script", "script", "after_script")


def pipeline(text: str, folder: str) -> Found:
    """Every build call of one ``.gitlab-ci.yml``."""
    found = Found()
    docs = compose_documents(text)
    root = docs[0] if docs else None
    base = _variables(get(root, "variables"), {})
    budget = MAX_LINES
    for number, (_, _, job) in enumerate(items(root)):
        if number >= MAX_JOBS or budget <= 0:
            found.notes.append(
                (1, f"more than {MAX_JOBS} jobs or {MAX_LINES} script lines: the rest are passed over")
            )
            break
        if not isinstance(job, MappingNode):
            continue
        env = _variables(get(job, "variables"), base)
        for key in _SCRIPTS:
            node = get(job, key)
            for entry in seq(node) or ([node] if isinstance(node, ScalarNode) else []):
                budget -= 1
                _entry(entry, env, folder, found)
    return found


def _entry(entry: Node, env: dict[str, str], folder: str, found: Found) -> None:
    text = scalar(entry)
    if not isinstance(entry, ScalarNode) or not text:
        return
    offset = entry.start_mark.line + (1 if entry.style in ("|", ">") else 0)
    part = commands.calls(text, env, folder, offset, "docker build (GitLab CI)")
    found.calls.extend(part.calls)
    found.notes.extend(part.notes)


def _variables(node: Node | None, outer: dict[str, str]) -> dict[str, str]:
    """Literal ``variables:`` (``NAME: value`` or ``NAME: {value: ...}``) over the outer ones."""
    env = dict(outer)
    for key, _, val in items(node):
        text = scalar(val) if not isinstance(val, MappingNode) else scalar(get(val, "value"))
        if text is not None:
            env[key] = text
    return env
