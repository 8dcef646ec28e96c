"""Recognition looks at the head of a file only (``recognise.HEAD``, docs/robustness.md).

The content tests are regular expressions searched over the first 64 KiB, so what a file
holds after that cannot cost anything, and cannot make a file one of ours either.
"""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy import recognise
from tests.helpers import write_tree
from tests.hostile import run_bounded

NGINX = "server {\n    listen 8080;\n    location / { proxy_pass http://app:9000; }\n}\n"
PADDING = "#" * 70 + "\n"


def padded(lines: int) -> str:
    return PADDING * lines + NGINX


def test_content_past_the_head_is_not_looked_at() -> None:
    """The same nginx server block, under a name no format claims: seen inside the head, not past it."""
    past = recognise.HEAD // len(PADDING) + 1
    assert recognise.recognise("deploy/site", padded(past - 2)).signature is not None
    found = recognise.recognise("deploy/site", padded(past))
    assert (found.signature, found.reason) == (None, "no reader recognises its content")


def test_an_eight_mib_line_of_blanks_is_skipped_in_a_bounded_child(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "deploy/blank": " " * (8 * 1024 * 1024 - 1) + "\n",
            "deploy/late": padded(recognise.HEAD // len(PADDING) + 1),
            "deploy/early": NGINX,
        },
    )
    run = run_bounded("facts", "--format", "json", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr
    model = json.loads(run.stdout)
    assert model["files"] == [{"path": "deploy/early", "reader": "nginx"}]
    assert sorted((s["path"], s["reason"]) for s in model["skipped"]) == [
        ("deploy/blank", "no reader recognises its content"),
        ("deploy/late", "no reader recognises its content"),
    ]
