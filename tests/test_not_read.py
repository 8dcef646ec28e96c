"""Nothing under the scanned roots disappears: every file is read or listed with why it was not.

A quiet run must be told from a blind one. Files that look like configs (``*.conf``,
``*.cfg``, ``*.rules``, ``*.nft``, units, no suffix) but that no reader takes get a precise
reason; so do binary, special, oversized and ignored files, and the folders passed over.
``-v`` groups them by reason, ``--statistics`` and ``facts`` count them per reason.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from portpolicy import signatures
from portpolicy.discover import PASSED_OVER
from portpolicy.recognise import NOT_CONFIG
from tests.helpers import run_cli, write_tree

NO_READER = "no reader recognises its content"
NOT_REGULAR = "not a regular file"


def _named_like(fmt: str) -> str:
    signature = signatures.by_name(fmt)
    assert signature is not None
    return f"named like {signature.title}, but its content is not"


TREE = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".gitignore": "sysctl.conf\n",
    "local/sysctl.conf": "net.ipv4.ip_unprivileged_port_start = 80\n",  # ignored, but a name claims it
    "node_modules/pkg/index.js": "module.exports = {}\n",
    # read
    "compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n",
    "etc/sysctl.d/10-ports.conf": "net.ipv4.ip_local_reserved_ports = 9100\n",
    "units/web.socket": "[Socket]\nListenStream=9000\n",
    # named like a format, content of another program
    "etc/nginx/nginx.conf": '[Definition]\nfailregex = ^<HOST> -.*"(GET|POST).*HTTP.*" 401\nignoreregex =\n',
    "units/backup.service": "see docs/backup.md\n",
    "fw/blocklist.nft": "192.0.2.1\n198.51.100.0/24\n",
    # configs of programs no reader knows
    "tools/setup.cfg": "[metadata]\nname = tool\nversion = 1.0\n",
    "tools/pytest.ini": "[pytest]\naddopts = -q\n",
    "ids/local.rules": 'alert tcp any any -> $HOME_NET 22 (msg:"ssh"; sid:1000001; rev:1;)\n',
    "CODEOWNERS": "* @infra-team\n",
    "README.md": "# infra\n",
}

EXPECTED: dict[str, str | None] = {
    ".git": PASSED_OVER,
    "node_modules": PASSED_OVER,
    "local/sysctl.conf": "ignored by .gitignore",
    "etc/nginx/nginx.conf": _named_like("nginx"),
    "units/backup.service": _named_like("systemd"),
    "fw/blocklist.nft": _named_like("nftables"),
    "tools/setup.cfg": NO_READER,
    "tools/pytest.ini": NO_READER,
    "ids/local.rules": NO_READER,
    "CODEOWNERS": NO_READER,
    "README.md": NOT_CONFIG,
    "blob.dat": "binary content",
    "huge.conf": "larger than 8 MiB, not read",
    "pipe.conf": NOT_REGULAR,
    ".gitignore": None,  # any reason: what git's own file is, is not this test's point
}
READ = {"compose.yaml", "etc/sysctl.d/10-ports.conf", "units/web.socket"}

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write_tree(tmp_path, TREE)
    (tmp_path / "blob.dat").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00binary")
    os.mkfifo(tmp_path / "pipe.conf")
    with open(tmp_path / "huge.conf", "wb") as f:  # sparse: its size is refused before any read
        f.truncate(9 * 1024 * 1024)
    return tmp_path


def _everything(root: Path) -> set[str]:
    """Every file and special file under ``root``, and the passed-over folders as themselves."""
    found: set[str] = set()
    for directory, dirs, files in os.walk(root):
        rel = Path(directory).relative_to(root)
        for d in [d for d in dirs if d in {".git", "node_modules"}]:
            dirs.remove(d)
            found.add((rel / d).as_posix())
        found.update((rel / name).as_posix() for name in files)
    return found


def _groups(stderr: str) -> dict[str, tuple[int, list[str]]]:
    """``-v``'s listing: reason -> (count in its heading, paths listed under it, in order)."""
    groups: dict[str, tuple[int, list[str]]] = {}
    reason = ""
    for line in stderr.splitlines():
        heading = re.fullmatch(r"portpolicy: (\d+) not read: (.+)", line)
        if heading:
            reason = heading.group(2)
            groups[reason] = (int(heading.group(1)), [])
            continue
        item = re.fullmatch(r"portpolicy:   skipped (.+): (.+)", line)
        if item:
            assert item.group(2) == reason, line  # each path line sits under its own reason
            groups[reason][1].append(item.group(1))
    return groups


def test_every_file_is_read_or_listed_with_its_reason(tree: Path) -> None:
    result = run_cli("check", "--no-config", "-v", "--format", "json", cwd=tree)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["findings"] == []  # no look-alike is PP000
    groups = _groups(result.stderr)
    listed = {path: reason for reason, (_, paths) in groups.items() for path in paths}
    assert _everything(tree) == READ | set(listed)
    for path, reason in EXPECTED.items():
        assert path in listed, path
        assert reason is None or listed[path] == reason, (path, listed[path])
    assert doc["summary"]["files"] == len(READ)
    assert doc["summary"]["skipped"] == len(listed)


def test_verbose_groups_by_reason_with_counts_and_sorted_paths(tree: Path) -> None:
    result = run_cli("check", "--no-config", "-v", "-q", cwd=tree)
    groups = _groups(result.stderr)
    for reason, (count, paths) in groups.items():
        assert count == len(paths), reason
        assert paths == sorted(paths), reason
    assert {"CODEOWNERS", "ids/local.rules", "tools/pytest.ini", "tools/setup.cfg"} <= set(
        groups[NO_READER][1]
    )
    counts = [count for count, _ in groups.values()]
    assert counts == sorted(counts, reverse=True)  # the most frequent reason first
    assert result.stderr.count("portpolicy:   skipped ") == sum(counts)


def _expected_counts(tree: Path) -> Counter[str]:
    result = run_cli("check", "--no-config", "-v", "-q", cwd=tree)
    return Counter({reason: count for reason, (count, _) in _groups(result.stderr).items()})


def test_statistics_count_every_reason(tree: Path) -> None:
    expected = _expected_counts(tree)
    text = run_cli("check", "--no-config", "--statistics", cwd=tree).stdout
    assert f"files read: {len(READ)}, skipped: {sum(expected.values())}" in text
    for reason, n in expected.items():
        assert re.search(rf"^\s+{n}  {re.escape(reason)}$", text, re.M), reason
    doc = json.loads(run_cli("check", "--no-config", "--statistics", "--format", "json", cwd=tree).stdout)
    stats = doc["summary"]["statistics"]
    assert stats["skipped_reasons"] == dict(expected)
    assert stats["files_read"] == len(READ) and stats["files_skipped"] == sum(expected.values())


def test_statistics_verbose_lists_paths_under_their_reason(tree: Path) -> None:
    text = run_cli("check", "--no-config", "--statistics", "-v", cwd=tree).stdout
    block = text[text.index(f"  {NOT_REGULAR}") :]
    assert block.splitlines()[1].strip() == f"pipe.conf: {NOT_REGULAR}"


def test_facts_summary_counts_read_and_not_read_per_reason(tree: Path) -> None:
    expected = _expected_counts(tree)
    result = run_cli("facts", "--no-config", cwd=tree)
    assert result.returncode == 0, result.stderr
    tail = result.stdout[result.stdout.rindex(f"{len(READ)} files read") :]
    assert re.match(rf"{len(READ)} files read \((\d+ \w+(, )?)+\)\n", tail)
    assert f"{sum(expected.values())} not read (--verbose lists them):" in tail
    for reason, n in expected.items():
        assert re.search(rf"^\s+{n}  {re.escape(reason)}$", tail, re.M), reason


def test_a_fifo_of_any_name_is_listed(tmp_path: Path) -> None:
    """A special file is never opened, whatever its name, and never left out of the listing."""
    write_tree(tmp_path, {"compose.yaml": TREE["compose.yaml"]})
    os.mkfifo(tmp_path / "notes.md")
    result = run_cli("check", "--no-config", "-v", "-q", cwd=tmp_path)
    assert _groups(result.stderr)[NOT_REGULAR] == (1, ["notes.md"])


# Files read only for their image builds (#23 leftover): a workflow whose build call links an
# image to a Dockerfile is read, "as build calls"; a CI file with no image build says so
# instead of "YAML that no reader recognises".

BUILDS = {
    "Dockerfile": "FROM nginx:1.27-alpine\nUSER 101\nEXPOSE 8080\n",
    ".github/workflows/image.yml": "on: push\njobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - uses: docker/build-push-action@v6\n        with:\n          tags: ghcr.io/acme/web:latest\n",
    ".github/workflows/lint.yml": "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - run: ruff check .\n",
    ".gitlab-ci.yml": "test:\n  script:\n    - make test\n",
    "scripts/release.sh": "#!/bin/sh\ndocker build -t ghcr.io/acme/web:$TAG .\n",
    "scripts/test.sh": "#!/bin/sh\npytest -q\n",
}
NO_IMAGE_BUILD = "a CI workflow with no image build"


def test_files_read_for_build_calls_are_listed_as_read(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BUILDS)
    result = run_cli("check", "--no-config", "-v", "--statistics", "--format", "json", cwd=root)
    assert result.returncode == 0, result.stderr
    listed = {path: reason for reason, (_, paths) in _groups(result.stderr).items() for path in paths}
    assert listed[".github/workflows/lint.yml"] == NO_IMAGE_BUILD
    assert listed[".gitlab-ci.yml"] == NO_IMAGE_BUILD
    assert listed["scripts/test.sh"] == _named_like("shell")  # no CI file: its reason stays
    for read in (".github/workflows/image.yml", "scripts/release.sh", "Dockerfile"):
        assert read not in listed, read
    stats = json.loads(result.stdout)["summary"]["statistics"]
    assert stats["files_read"] == 3 and stats["skipped_reasons"][NO_IMAGE_BUILD] == 2
    text = run_cli("check", "--no-config", "--statistics", cwd=root).stdout
    assert re.search(r"^\s+2  build calls  \(0 findings\)$", text, re.M), text


def test_without_a_dockerfile_a_workflow_says_why_it_was_not_read(tmp_path: Path) -> None:
    """The negative twin: no Dockerfile, so no build call is read (nothing to link an image to)."""
    root = write_tree(tmp_path, {k: v for k, v in BUILDS.items() if k != "Dockerfile"})
    result = run_cli("check", "--no-config", "-v", "-q", cwd=root)
    listed = {path: reason for reason, (_, paths) in _groups(result.stderr).items() for path in paths}
    why = "a CI workflow, read for image builds only when the scan reads a Dockerfile"
    assert listed[".github/workflows/image.yml"] == why and listed[".github/workflows/lint.yml"] == why
    assert listed["scripts/release.sh"] == _named_like("shell")
