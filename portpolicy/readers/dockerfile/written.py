"""Files a Dockerfile's heredocs write into the image: ``COPY <<EOF /dest`` and ``RUN`` heredocs.

BuildKit's ``COPY <<EOF /etc/nginx/conf.d/default.conf`` makes the heredoc's body a file at
the destination (``COPY <<app.conf /etc/nginx/conf.d/`` names it after the delimiter); ``RUN
cat > PATH <<EOF`` and the shell script of ``RUN <<EOF`` write files as a shell script does
(``heredocs``). Each becomes a ``Deployed`` record with its text on the Dockerfile's lines and
a ``virtual.WRITTEN`` ident that the stage's copies name as their source, so ``placement``
puts the file in the image's container exactly as it does a copied tree file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from portpolicy.readers import heredocs
from portpolicy.readers.dockerfile.stages import Build
from portpolicy.readers.dockerfile.syntax import Heredoc, LogicalLine
from portpolicy.virtual import Deployed


def copied(build: Build, line: LogicalLine, source: str, dest: str) -> None:
    """``COPY <<NAME dest``: the heredoc ``NAME`` becomes a file at ``dest`` in the stage."""
    name = source.lstrip("0123456789").removeprefix("<<").removeprefix("-").strip("'\"")
    doc = next((d for d in line.heredocs if d.name == name), None)
    if doc is None:
        return
    target = posixpath.join(dest, doc.name) if dest.endswith("/") else dest
    head = heredocs.Opened(doc.name, doc.strip_tabs, doc.at.column, target, False)
    _land(build, [build.writes.add(head, _text(doc), True, doc.first, doc.at)])


def run(build: Build, line: LogicalLine, rest: str, rest_at: int) -> None:
    """``RUN``: a script given as a heredoc (``RUN <<EOF``), or a command line with heredocs."""
    if not line.heredocs:
        return
    words = [w for w in rest.split() if not w.startswith("--")]
    if words and words[0].lstrip("0123456789").startswith("<<"):
        for doc in line.heredocs:
            _land(build, build.writes.script(_text(doc), doc.first))
        return
    head = heredocs.opened(line.text)
    doc = line.heredocs[0]
    if head is not None and head.delimiter == doc.name:
        _land(build, [build.writes.add(head, _text(doc), True, doc.first, doc.at)])


def _text(doc: Heredoc) -> list[str]:
    """The body as the file holds it (``<<-``: leading tabs as blanks, columns kept)."""
    return [heredocs.untabbed(ln) for ln in doc.lines] if doc.strip_tabs else doc.lines


def _land(build: Build, records: Sequence[Deployed | None]) -> None:
    """Each written file lands in the current stage: a copy whose source is its ident."""
    for record in records:
        if record is not None:
            build.stage.copies.append((record.ident, record.destination, record.location))
