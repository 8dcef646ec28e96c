"""``COPY`` and ``ADD``: which build-context files a stage puts where in the image.

``placement`` uses them to read a daemon's config as the container sees it. ``--from`` an image
copies nothing from the build context; ``--from`` an earlier stage follows that stage's own
copies back to the context. URLs are not files of the context; a heredoc is a file written
here (``written``).
"""

from __future__ import annotations

import json
import posixpath

from portpolicy.readers.dockerfile import written
from portpolicy.readers.dockerfile.stages import Build, Stage
from portpolicy.readers.dockerfile.syntax import LogicalLine
from portpolicy.readers.dockerfile.words import expand_word, if_known, split_words


def do_copy(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """Build-context files copied into the stage."""
    _copy(build, line, rest, rest_at, add=False)


def do_add(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """As ``COPY``; a URL or git source is not a build-context file."""
    _copy(build, line, rest, rest_at, add=True)


def _copy(build: Build, line: LogicalLine, rest: str, rest_at: int, add: bool) -> None:
    """Files taken from the build context (``--from`` copies from a stage or image: skipped)."""
    words = split_words(rest, rest_at)
    flags = [w for w, _ in words if w.startswith("--")]
    origin = next((f.partition("=")[2].lower() for f in flags if f.startswith("--from=")), None)
    stage_from = next((s for s in build.stages[:-1] if s.name == origin), None)
    if origin is not None and stage_from is None:
        return  # copied from an image: not from the build context
    args = [w for w, _ in words if not w.startswith("--")]
    body = " ".join(args).strip()
    if body.startswith("["):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            args = parsed
    if len(args) < 2:
        return
    dest = if_known(expand_word(args[-1], build.stage.env, build.escape)[0])
    if dest is None:
        return
    if not dest.startswith("/"):
        if not build.stage.workdir:
            return
        keep_slash = dest.endswith("/") or dest in (".", "./")
        dest = posixpath.normpath(posixpath.join(build.stage.workdir, dest)) + ("/" if keep_slash else "")
    many = len(args) > 2
    for src in args[:-1]:
        if src.lstrip("0123456789").startswith("<<"):
            written.copied(build, line, src, dest)  # a heredoc: a file written here, not the context's
            continue
        if add and ("://" in src or src.startswith("git@")):
            continue
        value = if_known(expand_word(src, build.stage.env, build.escape)[0])
        if value is not None and stage_from is not None:
            value = _context_path(stage_from, value)
        if value is None:
            continue
        target = dest + ("/" if many and not dest.endswith("/") else "")
        build.stage.copies.append((value, target, line.at(0, build.path)))


def _context_path(stage: Stage, path: str) -> str | None:
    """The build-context path that ``COPY --from=<stage> path`` takes, when that stage copied it."""
    path = posixpath.normpath(path)
    for src, dest, _ in reversed(stage.copies):
        if any(ch in src for ch in "*?["):
            continue
        base = posixpath.normpath(dest)
        if path == base and not dest.endswith("/"):
            return src
        if path.startswith(base.rstrip("/") + "/"):
            rest = path[len(base.rstrip("/")) + 1 :]
            if dest.endswith("/") and src not in (".", "./") and not src.endswith("/"):
                # ``COPY a.conf /etc/x/`` puts the file itself in the directory
                return src if rest == posixpath.basename(src) else None
            return posixpath.normpath(posixpath.join(src, rest))
    return None
