"""The cache (``--cache DIR``): warm runs report byte for byte what cold ones do, a changed,
renamed or deleted file is read again, and a bad entry or folder never costs a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from portpolicy import cache, safeio, workers
from portpolicy.config import Config
from portpolicy.discover import discover
from tests.helpers import FIXTURES, REPO, generate_tree, run_cli
from tests.hostile import run_bounded
from tests.test_jobs import CHECK, run, trees


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_tree(tmp_path_factory.mktemp("generated") / "tree", 600)


def check(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``check --format json -v`` (``-v`` lists skipped files in the report: always on, so reports compare)."""
    done = run_cli(*CHECK, "-v", *args, cwd=folder)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done


def tally(stderr: str) -> tuple[int, int]:
    """(files from the cache, files read and stored) from the ``-v`` note."""
    found = re.search(r"(\d+) file\(s\) from the cache, (\d+) read and stored", stderr)
    assert found, stderr[-2000:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("name", ["examples", "fixtures", "generated"])
def test_cold_and_warm_reports_are_byte_identical(name: str, generated: Path, tmp_path: Path) -> None:
    folder = trees(generated)[name]
    plain = check(folder).stdout
    cold = check(folder, "--cache", str(tmp_path / "c"))
    warm = check(folder, "--cache", str(tmp_path / "c"))
    assert cold.stdout == plain and warm.stdout == plain
    hits, stored = tally(cold.stderr)
    assert hits == 0 and stored > 10
    assert tally(warm.stderr) == (stored, 0)  # every file from the cache, nothing read again
    assert "not cacheable" not in cold.stderr  # every reader's result has a data form


def test_cache_and_workers_together(generated: Path, tmp_path: Path) -> None:
    """Workers read and write the cache too: cold with two processes, warm with two, warm with one."""
    plain = check(generated, "--jobs", "1").stdout
    folder = str(tmp_path / "c")
    cold, forks, _ = run(generated, *CHECK, "-v", "--jobs", "2", "--cache", folder)
    warm, _, stderr = run(generated, *CHECK, "-v", "--jobs", "2", "--cache", folder)
    alone, _, _ = run(generated, *CHECK, "-v", "--jobs", "1", "--cache", folder)
    assert forks == 1
    assert cold == warm == alone == plain
    assert tally(stderr)[1] == 0


COMPOSE = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
  api:
    image: example/api:2
    ports: ["{port}:9000"]
"""


def findings(stdout: str) -> list[tuple[str, str, int]]:
    return sorted((f["rule"], f["path"], f["line"]) for f in json.loads(stdout)["findings"])


def test_a_changed_renamed_or_deleted_file_is_read_again(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples", tree)
    (tree / "extra").mkdir()
    (tree / "extra" / "compose.yaml").write_text(COMPOSE.format(port=8081))
    folder = str(tmp_path / "c")
    first = check(tree, "--cache", folder)
    assert ("PP004", "extra/compose.yaml", 7) not in findings(first.stdout)
    # changed: the api now publishes the web service's port: a conflict, seen with the cache warm
    (tree / "extra" / "compose.yaml").write_text(COMPOSE.format(port=8080))
    changed = check(tree, "--cache", folder)
    assert changed.stdout == check(tree).stdout
    assert tally(changed.stderr)[1] == 1  # that file alone read again
    assert any(path == "extra/compose.yaml" for _, path, _ in findings(changed.stdout))
    # renamed: its findings move with it
    (tree / "extra" / "compose.yaml").rename(tree / "extra" / "docker-compose.yml")
    renamed = check(tree, "--cache", folder)
    assert renamed.stdout == check(tree).stdout
    assert tally(renamed.stderr)[1] == 1
    assert not any(path == "extra/compose.yaml" for _, path, _ in findings(renamed.stdout))
    assert any(path == "extra/docker-compose.yml" for _, path, _ in findings(renamed.stdout))
    # deleted: gone from the report, though its entry is still in the cache
    (tree / "extra" / "docker-compose.yml").unlink()
    deleted = check(tree, "--cache", folder)
    assert deleted.stdout == check(tree).stdout
    assert not any(path.startswith("extra/") for _, path, _ in findings(deleted.stdout))
    assert tally(deleted.stderr)[1] == 0


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and len(p.parent.name) == 2)


def flip_a_byte(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[-2] ^= 0x01
    entry.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        "flip",
        "truncate",
        "empty",
        "not-json",
        "forged-class",
        "forged-object",
        "forged-key",
        "deep",
        "link",
        "fifo",
    ],
)
def test_a_bad_entry_is_ignored_with_a_note(damage: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples", tree)
    folder = tmp_path / "c"
    plain = check(tree).stdout
    check(tree, "--cache", str(folder))
    entry = next(e for e in entries(folder) if e.stat().st_size > 400)
    body = entry.read_bytes().partition(b"\n")[2]
    if damage == "flip":
        flip_a_byte(entry)
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:-40])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "link":
        target = tmp_path / "elsewhere"
        target.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(target)
    elif damage == "fifo":
        entry.unlink()
        os.mkfifo(entry)
    else:  # a well-formed entry (good checksum) whose body is wrong: what a shared cache could hold
        doc = json.loads(body)
        if damage == "not-json":
            forged = b"{" + body
        elif damage == "forged-class":
            doc["facts"] = [[10_000, "x"]]
            forged = json.dumps(doc).encode()
        elif damage == "forged-object":
            doc["facts"] = [{"__class__": "os.system", "args": ["touch pwned"]}]
            forged = json.dumps(doc).encode()
        elif damage == "forged-key":
            doc["key"] = "0" * 64
            forged = json.dumps(doc).encode()
        else:  # deep: nesting far beyond the interpreter's recursion limit
            deep = '["l",' * 100_000 + "1" + "]" * 100_000
            text = json.dumps(doc, separators=(",", ":"))
            assert '"facts":[' in text
            forged = text.replace('"facts":[', '"facts":[' + deep + ",", 1).encode()
        entry.write_bytes(cache.HEADER + cache.hashlib.sha256(forged).hexdigest().encode() + b"\n" + forged)
    warm = run_bounded(*CHECK, "-v", "--cache", str(folder), cwd=tree)
    assert not warm.crashed, warm.stderr[-2000:]
    assert warm.stdout == plain
    if damage in ("link", "fifo"):  # not opened at all: read again and stored anew
        assert tally(warm.stderr)[1] == 1
    else:
        assert "cache entry" in warm.stderr and "ignored" in warm.stderr
    assert not (tree / "pwned").exists()
    again = check(tree, "--cache", str(folder))  # the entry was written again, good
    assert again.stdout == plain and tally(again.stderr)[1] == 0


def test_an_unusable_cache_folder_is_a_usage_error(tmp_path: Path) -> None:
    tree = REPO / "examples"
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    done = run_cli("check", ".", "--cache", str(link), cwd=tree)
    assert done.returncode == 2 and "symbolic link" in done.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    done = run_cli("check", ".", "--cache", str(afile), cwd=tree)
    assert done.returncode == 2 and "not a folder" in done.stderr
    done = run_cli("check", ".", "--cache", str(afile / "below"), cwd=tree)
    assert done.returncode == 2 and "Not a directory" in done.stderr
    other = tmp_path / "home"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    done = run_cli("check", ".", "--cache", str(other), cwd=tree)
    assert done.returncode == 2 and "holds other files" in done.stderr
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]  # nothing written, nothing deleted
    for done in (
        run_cli("check", ".", "--cache", str(link), cwd=tree),
        run_cli("check", ".", "--cache", str(other), cwd=tree),
    ):
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_cache_folder_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    done = run_cli("check", ".", "--cache", str(folder), cwd=REPO / "examples")
    assert done.returncode == 2 and "not writable" in done.stderr


def test_cache_dir_in_the_config_file(tmp_path: Path) -> None:
    """Below the config's folder: used, and its files are never scanned; elsewhere: refused."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples", tree)
    plain = check(tree).stdout
    (tree / ".portpolicy.yml").write_text("cache-dir: .cache/portpolicy\n")
    cold = check(tree)
    warm = check(tree)
    assert (tree / ".cache" / "portpolicy" / cache.TAG_NAME).is_file()
    assert cold.stdout == warm.stdout == plain  # the cache's own files are not the repository's
    assert tally(warm.stderr)[1] == 0
    assert "skipped .cache" not in warm.stderr  # not even listed as skipped
    nocache = check(tree, "--no-cache")
    assert "from the cache" not in nocache.stderr  # its files are there, read as any (not in a git repo)
    assert findings(nocache.stdout) == findings(plain)
    for value in ("/tmp/elsewhere", "../outside", ".", "sub/../.."):
        (tree / ".portpolicy.yml").write_text(f"cache-dir: {value!r}\n")
        done = run_cli("check", ".", cwd=tree)
        assert done.returncode == 2 and "cache-dir" in done.stderr, value
    assert not (tmp_path / "outside").exists() and not Path("/tmp/elsewhere").exists()
    (tree / "out").symlink_to(tmp_path)
    (tree / ".portpolicy.yml").write_text("cache-dir: out/c\n")
    done = run_cli("check", ".", cwd=tree)
    assert done.returncode == 2 and "cache-dir" in done.stderr
    (tree / ".portpolicy.yml").write_text("cache-dir: 7\n")
    assert run_cli("check", ".", cwd=tree).returncode == 2


def test_nothing_is_written_without_a_cache(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples", tree)
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    check(tree)
    assert sorted(p.relative_to(tree) for p in tree.rglob("*")) == before


def test_another_code_version_never_reads_an_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace hashes the package's files: other code, other entries; the old ones go."""
    folder = str(tmp_path / "c")
    first = cache.Cache.open(folder)
    (Path(first.folder) / first.namespace / "ab").mkdir()
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "edited reader")
    second = cache.Cache.open(folder)
    assert second.namespace != first.namespace
    assert not (Path(folder) / first.namespace).exists()
    assert cache.code_fingerprint is not None


def test_the_fingerprint_covers_code_and_data_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "portpolicy"
    (package / "data").mkdir(parents=True)
    (package / "reading.py").write_text("x = 1\n")
    (package / "data" / "daemons.yml").write_text("a: 1\n")
    monkeypatch.setattr(cache.reading, "__file__", str(package / "reading.py"))
    before = cache.code_fingerprint()
    (package / "data" / "daemons.yml").write_text("a: 2\n")
    assert cache.code_fingerprint() != before
    (package / "data" / "daemons.yml").write_text("a: 1\n")
    assert cache.code_fingerprint() == before
    (package / "reading.py").write_text("x = 2\n")
    assert cache.code_fingerprint() != before


def test_old_entries_are_pruned_once_a_day(tmp_path: Path) -> None:
    opened = cache.Cache.open(str(tmp_path / "c"))
    shard = Path(opened.folder) / opened.namespace / "ab"
    shard.mkdir()
    old, fresh = shard / ("0" * 62), shard / ("1" * 62)
    old.write_text("x")
    fresh.write_text("y")
    now = os.stat(fresh).st_mtime
    os.utime(old, (now - 90 * 86400, now - 90 * 86400))
    opened.prune(now)
    assert not old.exists() and fresh.exists()
    os.utime(fresh, (now - 90 * 86400, now - 90 * 86400))
    opened.prune(now + 3600)  # the same day: no second walk
    assert fresh.exists()


def test_every_class_the_readers_give_is_in_the_table(generated: Path) -> None:
    """A reader that starts returning a new class makes its files uncacheable: this says so."""
    for folder in (REPO / "examples", FIXTURES, generated):
        config = Config(roots=safeio.scan_roots([str(folder)]))
        candidates, _ = discover([str(folder)], config)
        for candidate in candidates:
            read, text = workers.read_one(candidate, config.roots, None, None)
            if text is None:
                continue
            body = cache.encode_entry(read, "k", candidate, text)  # raises Uncacheable otherwise
            again = cache.decode_entry(body, "k", candidate, text)
            assert again.reader == read.reader and again.skip == read.skip
            assert [type(f) for f in again.facts] == [type(f) for f in read.facts]
            assert [f for f in again.facts if not hasattr(f, "docs")] == [
                f for f in read.facts if not hasattr(f, "docs")
            ]
            assert again.suppressions == list(read.suppressions)
    for name in cache.TYPES:
        module, _, qualname = name.partition(":")
        cls = getattr(__import__(module, fromlist=[qualname]), qualname)
        assert hasattr(cls, "__dataclass_fields__") or hasattr(cls, "_fields"), name
