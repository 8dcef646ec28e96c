"""An optional cache of per-file reads for repeated runs (``--cache DIR``, ``cache-dir:``).

Off by default: nothing is written unless asked. An entry holds what ``reading.read_loaded``
gave for one file (reader, facts, skip reason, suppression comments), keyed by a SHA-256
of the file's bytes, its shown path, its path below the scanned root, and a namespace:
portpolicy's version, a hash of every file of the installed package (code and data tables,
so a development checkout never reads an entry an older reader wrote), the Python and
PyYAML versions and the settings that change reading (none today: ``read_loaded`` takes
no setting). The reader chosen needs no place in the key: it is decided by that content,
that path and that code. Cross-file stages (hosts, placement, Ansible, Helm, compose file
sets) still run every time, on what the cache gives back.

The folder may be shared (a CI cache restored from another branch), so an entry is data,
never code: JSON of the facts' fields, decoded only into the classes of ``TYPES`` (a
static table: no name in an entry imports anything), with a SHA-256 of its body checked
first. A corrupt or foreign entry is ignored (a ``-v`` note) and the file read again. It
cannot run code; it can change what the scan believes a file holds, as the file itself
could, so a cache folder must not be writable by less trusted jobs than the scan's
(``docs/ci.md``). The folder is refused (exit 2) when it is a symbolic link, not a
folder, not writable, or holds files of something else; portpolicy deletes only its own
namespaces in it (``ns-*``) and entries unused for ``MAX_AGE_DAYS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from portpolicy import reading
from portpolicy.discover import Candidate
from portpolicy.errors import UsageError
from portpolicy.reading import FileRead

FORMAT = 1
TAG_NAME = "CACHEDIR.TAG"
TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder is a cache of portpolicy (--cache); it may be deleted at any time.\n"
)
"""The Cache Directory Tagging Specification's file (backup tools skip the folder), and our mark."""
HEADER = b"portpolicy-cache %d " % FORMAT
MAX_ENTRY_BYTES = 32 * 1024 * 1024
MAX_AGE_DAYS = 60
"""Entries not written for this long go on the daily prune (an unchanged file's entry is written
again by the next run that reads it: one read per file per period)."""
PRUNE_STAMP = "last-prune"

TYPES = (
    "portpolicy.model:Location",
    "portpolicy.model:PortRange",
    "portpolicy.model:PortSet",
    "portpolicy.model:BindAddress",
    "portpolicy.model:RunAs",
    "portpolicy.model:MayRun",
    "portpolicy.model:Evidence",
    "portpolicy.model:Setting",
    "portpolicy.model:Namespace",
    "portpolicy.model:Privilege",
    "portpolicy.model:Sensitive",
    "portpolicy.model:Listener",
    "portpolicy.model:KernelSetting",
    "portpolicy.model:FirewallRule",
    "portpolicy.model:PortPool",
    "portpolicy.model:NetnsDecl",
    "portpolicy.model:Mount",
    "portpolicy.model:ContainerLink",
    "portpolicy.model:ImageStage",
    "portpolicy.model:ImageInfo",
    "portpolicy.model:ImageBuild",
    "portpolicy.model:InvalidPort",
    "portpolicy.model:ParseError",
    "portpolicy.model:Unresolved",
    "portpolicy.model:ContainerPort",
    "portpolicy.model:PodTemplate",
    "portpolicy.model:ServicePort",
    "portpolicy.model:IngressPolicy",
    "portpolicy.model:Posture",
    "portpolicy.model:YamlAmbiguity",
    "portpolicy.model:ProgramStart",
    "portpolicy.virtual:Deployed",
    "portpolicy.virtual:Embedded",
    "portpolicy.packaged:Include",
    "portpolicy.readers.apache:ApacheFile",
    "portpolicy.readers.dotenv:Opaque",
    "portpolicy.readers.dotenv:Env",
    "portpolicy.readers.dotenv:EnvFile",
    "portpolicy.readers.firewalld.documents:Forward",
    "portpolicy.readers.firewalld.documents:RichRule",
    "portpolicy.readers.firewalld.documents:FirewalldDoc",
    "portpolicy.readers.firewalld_catalogue:PortEntry",
    "portpolicy.readers.nftables.includes:NftFile",
    "portpolicy.readers.nftables.lexer:Tok",
    "portpolicy.readers.nginx:Token",
    "portpolicy.readers.nginx:Directive",
    "portpolicy.readers.nginx:NginxFile",
    "portpolicy.readers.systemd.unitfile:Directive",
    "portpolicy.readers.systemd.unitfile:UnitFragment",
)
"""Every class a reader's result may hold that an entry may rebuild: dataclasses and named
tuples of portpolicy, nothing with behaviour of its own at construction. A read holding any
other object is not cached (that file is read on every run); ``tests/test_cache.py`` checks
that the fixtures' and the generated tree's reads all fit."""


class Uncacheable(Exception):
    """A read holding an object ``TYPES`` does not cover: it is not written."""


class Corrupt(Exception):
    """An entry that does not decode: ignored, and the file read again."""


@dataclass
class Tally:
    """What the cache did in one process, merged across workers for the ``-v`` note."""

    hits: int = 0
    written: int = 0
    uncacheable: int = 0
    notes: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.hits += other.hits
        self.written += other.written
        self.uncacheable += other.uncacheable
        self.notes.extend(other.notes)


@dataclass(frozen=True)
class Cache:
    """An open cache folder: ``folder`` (real path) and the namespace this code reads and writes."""

    folder: str
    namespace: str

    @classmethod
    def open(cls, folder: str, settings: str = "") -> Cache:
        """The cache at ``folder``, made when missing; ``UsageError`` for a folder it must not use."""
        prepared = _prepare(folder)
        namespace = "ns-" + _digest(namespace_parts(settings))[:24]
        cache = cls(prepared, namespace)
        os.makedirs(os.path.join(prepared, namespace), mode=0o700, exist_ok=True)
        _drop_other_namespaces(prepared, namespace)
        return cache

    def holds(self, path: str) -> bool:
        """Is ``path`` (as discovery shows it) inside the cache folder? Then it is not scanned."""
        real = os.path.realpath(path)
        return real == self.folder or real.startswith(self.folder + os.sep)

    def key(self, candidate: Candidate, data: bytes) -> str:
        content = hashlib.sha256(data).hexdigest()
        parts = (self.namespace, candidate.path, candidate.rel, content)
        return _digest(parts)

    def entry_path(self, key: str) -> str:
        return os.path.join(self.folder, self.namespace, key[:2], key[2:])

    def read(self, candidate: Candidate, data: bytes, text: str, tally: Tally) -> FileRead:
        """What reading the file gives: from its entry when there is a good one, else read and stored."""
        key = self.key(candidate, data)
        path = self.entry_path(key)
        found = _load(path)
        if found is not None:
            try:
                read = decode_entry(found, key, candidate, text)
                tally.hits += 1
                return read
            except Corrupt as exc:
                tally.notes.append(f"cache entry {path} ignored ({exc}); {candidate.path} read again")
        read = reading.read_loaded(candidate, data)
        try:
            body = encode_entry(read, key, candidate, text)
        except Uncacheable:
            tally.uncacheable += 1
            return read
        if len(body) <= MAX_ENTRY_BYTES and _store(path, body, tally):
            tally.written += 1
        return read

    def prune(self, now: float | None = None) -> None:
        """Once a day: delete entries of this namespace not written for ``MAX_AGE_DAYS``."""
        now = time.time() if now is None else now
        stamp = os.path.join(self.folder, self.namespace, PRUNE_STAMP)
        try:
            if now - os.lstat(stamp).st_mtime < 86400:
                return
        except OSError:
            pass
        try:
            with open(stamp, "w", encoding="ascii") as handle:
                handle.write(f"{int(now)}\n")
        except OSError:
            return
        limit = now - MAX_AGE_DAYS * 86400
        base = os.path.join(self.folder, self.namespace)
        for shard in _entries(base, directories=True):
            for entry in _entries(shard.path, directories=False):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < limit:
                        os.unlink(entry.path)
                except OSError:
                    pass


def namespace_parts(settings: str) -> tuple[str, ...]:
    """What every key shares: the format, versions, the package's own files, reading settings."""
    import yaml

    return (
        str(FORMAT),
        _version(),
        code_fingerprint(),
        sys.version.split()[0],
        getattr(yaml, "__version__", ""),
        str(getattr(yaml, "__with_libyaml__", False)),
        settings,
    )


def _version() -> str:
    """portpolicy's version. Read from the loaded package, not imported: the package's
    ``__init__`` imports ``pipeline`` (lazily), which opens the cache."""
    return str(getattr(sys.modules.get("portpolicy"), "__version__", ""))


def code_fingerprint() -> str:
    """A SHA-256 of every file of the installed portpolicy package (its code and data tables),
    so a changed reader or table never reads an entry another version wrote (about 7 ms)."""
    package = os.path.dirname(os.path.abspath(reading.__file__))
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, package).encode("utf-8", "surrogateescape") + b"\0")
            try:
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            except OSError:
                digest.update(b"\1unreadable")
            digest.update(b"\0")
    return digest.hexdigest()


def _digest(parts: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _prepare(folder: str) -> str:
    """The cache folder checked (and made): its real path, or ``UsageError`` naming the problem."""
    shown = folder
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        try:
            os.makedirs(folder, mode=0o700)
        except OSError as exc:
            raise UsageError(f"cannot create cache folder {shown}: {exc.strerror}") from None
        info = os.lstat(folder)
    except OSError as exc:
        raise UsageError(f"cache folder {shown}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"cache folder {shown} is a symbolic link; give the folder itself")
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"cache folder {shown} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cache folder {shown} is not writable")
    real = os.path.realpath(folder)
    tag = os.path.join(real, TAG_NAME)
    names = set(os.listdir(real))
    if TAG_NAME in names:
        if _small_text(tag) != TAG:
            raise UsageError(
                f"cache folder {shown} holds a {TAG_NAME} of another program; give another folder"
            )
    elif names - {".gitignore"}:
        raise UsageError(f"cache folder {shown} holds other files; give an empty or a new folder")
    try:
        if TAG_NAME not in names:
            _write_new(tag, TAG.encode())
        if ".gitignore" not in names:
            _write_new(os.path.join(real, ".gitignore"), b"# portpolicy's cache: never committed\n*\n")
    except OSError as exc:
        raise UsageError(f"cannot write to cache folder {shown}: {exc.strerror}") from None
    return real


def _small_text(path: str) -> str | None:
    data = _load(path, limit=4096)
    return None if data is None else data.decode("utf-8", "replace")


def _write_new(path: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _drop_other_namespaces(folder: str, keep: str) -> None:
    """Namespaces of other versions or code: never read again by this code, so deleted."""
    for entry in _entries(folder, directories=True):
        if entry.name.startswith("ns-") and entry.name != keep:
            shutil.rmtree(entry.path, ignore_errors=True)


def _entries(folder: str, directories: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return [e for e in found if e.is_dir(follow_symlinks=False) == directories]
    except OSError:
        return []


_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)


def _load(path: str, limit: int = MAX_ENTRY_BYTES) -> bytes | None:
    """An entry's bytes: a regular file (never a link, FIFO or device) of at most ``limit`` bytes."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        parts = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts) if size <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _store(path: str, body: bytes, tally: Tally) -> bool:
    """Write an entry atomically (a new file renamed into place); a failure is a note, not an error."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        _write_new(temporary, body)
        os.replace(temporary, path)
        return True
    except OSError as exc:
        if not any(n.startswith("cache: cannot write") for n in tally.notes):
            tally.notes.append(
                f"cache: cannot write entries ({exc.strerror}); files are read as without a cache"
            )
        return False


# --- entries: JSON of the facts' fields -----------------------------------------------------------


def encode_entry(read: FileRead, key: str, candidate: Candidate, text: str) -> bytes:
    """An entry's bytes: a header with a SHA-256 of the body, then the body (JSON)."""
    encode = _Encoder(candidate, text).encode
    doc = {
        "key": key,
        "reader": read.reader,
        "skip": read.skip,
        "facts": [encode(f) for f in read.facts],
        "suppressions": [
            [s.rule, encode(s.location), s.target, s.spelling, s.used] for s in read.suppressions
        ],
    }
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("ascii")
    return HEADER + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body


def decode_entry(data: bytes, key: str, candidate: Candidate, text: str) -> FileRead:
    """The ``FileRead`` an entry holds; ``Corrupt`` when it is not a good entry for ``key``."""
    head, _, body = data.partition(b"\n")
    if not head.startswith(HEADER) or head[len(HEADER) :] != hashlib.sha256(body).hexdigest().encode():
        raise Corrupt("its checksum does not match")
    try:
        doc = json.loads(body)
        if type(doc) is not dict or doc.get("key") != key:
            raise Corrupt("it is an entry of another file")
        reader, skip = doc["reader"], doc["skip"]
        if not (reader is None or type(reader) is str) or type(skip) is not str:
            raise Corrupt("bad reader")
        decode = _Decoder(candidate, text).decode
        facts = [decode(f) for f in _array(doc["facts"])]
        from portpolicy import suppress

        suppressions = []
        for item in _array(doc["suppressions"]):
            rule, location, target, spelling, used = _array(item)
            suppressions.append(suppress.Suppression(rule, decode(location), target, spelling, used))
        return FileRead(reader, facts, skip, suppressions)
    except Corrupt:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise Corrupt(f"it does not decode: {type(exc).__name__}") from None


def _array(value: Any) -> list[Any]:
    if type(value) is not list:
        raise Corrupt("not an array where one belongs")
    return value


_classes: list[type] = []
_builders: list[Callable[[list[Any]], Any]] = []
_fields: list[tuple[str, ...]] = []
_index: dict[type, int] = {}


def _table_entry(index: int) -> tuple[type, Callable[[list[Any]], Any], tuple[str, ...]]:
    """Class ``index`` of ``TYPES``, imported on first use (an entry can name only these)."""
    while len(_classes) <= index:
        module, _, qualname = TYPES[len(_classes)].partition(":")
        cls = getattr(importlib.import_module(module), qualname)
        names = _field_names(cls)
        _classes.append(cls)
        _fields.append(names)
        _builders.append(_builder(cls, names))
        _index[cls] = len(_classes) - 1
    return _classes[index], _builders[index], _fields[index]


def _field_names(cls: Any) -> tuple[str, ...]:
    if is_dataclass(cls):
        return tuple(f.name for f in fields(cls))
    names: tuple[str, ...] = cls._fields  # a named tuple
    return names


def _builder(cls: type, names: tuple[str, ...]) -> Callable[[list[Any]], Any]:
    """Rebuild an instance from its fields' values without running its ``__init__``."""
    count = len(names)
    if not is_dataclass(cls):

        def named_tuple(values: list[Any]) -> Any:
            if len(values) != count:
                raise Corrupt(f"{cls.__name__} with {len(values)} fields")
            return tuple.__new__(cls, values)

        return named_tuple
    new = object.__new__
    setter = object.__setattr__
    slotted = not hasattr(cls, "__dict__") or "__slots__" in vars(cls)

    def dataclass_instance(values: list[Any]) -> Any:
        if len(values) != count:
            raise Corrupt(f"{cls.__name__} with {len(values)} fields")
        obj = new(cls)
        if slotted:
            for name, value in zip(names, values, strict=True):
                setter(obj, name, value)
        else:
            obj.__dict__.update(zip(names, values, strict=False))  # the count is checked above
        return obj

    return dataclass_instance


def _index_of(cls: type) -> int | None:
    if cls in _index:
        return _index[cls]
    module = cls.__module__
    wanted = f"{module}:{cls.__qualname__}"
    if wanted not in TYPES:
        return None
    _table_entry(TYPES.index(wanted))
    return _index.get(cls)


class _Encoder:
    """An object as JSON: a tagged array for every container and class (``["t", ...]`` a tuple,
    ``[3, ...]`` class 3 of ``TYPES`` with its fields in order)."""

    def __init__(self, candidate: Candidate, text: str) -> None:
        self.candidate = candidate
        self.text = text

    def encode(self, obj: Any) -> Any:
        kind = type(obj)
        if obj is None or kind is str or kind is int or kind is bool:
            return obj
        if kind is float:
            return ["r", repr(obj)]
        if kind is tuple:
            return ["t", *map(self.encode, obj)]
        if kind is list:
            return ["l", *map(self.encode, obj)]
        if kind is frozenset or kind is set:
            return ["f" if kind is frozenset else "s", *map(self.encode, obj)]
        if kind is dict:
            return ["d", *(self.encode(x) for pair in obj.items() for x in pair)]
        index = _index_of(kind)
        if index is not None:
            return [index, *(self.encode(getattr(obj, name)) for name in _fields[index])]
        if reading.is_pending(obj) and reading.own_documents(obj, self.candidate, self.text):
            placeholders = self.encode(obj.placeholders)
            return ["P", placeholders, obj.by_name, self.encode(obj.names), obj.count]
        raise Uncacheable(kind.__qualname__)


class _Decoder:
    """``_Encoder``'s output back into objects: only ``TYPES`` classes and plain containers."""

    def __init__(self, candidate: Candidate, text: str) -> None:
        self.candidate = candidate
        self.text = text

    def decode(self, value: Any) -> Any:
        kind = type(value)
        if kind is not list:
            if kind is dict:
                raise Corrupt("an object where none belongs")
            return value
        tag = value[0]
        decode = self.decode
        # a leaf (text, number) is most items: decoded in line, not by a call each
        items = [v if type(v) is not list and type(v) is not dict else decode(v) for v in value[1:]]
        if type(tag) is int:
            if not 0 <= tag < len(TYPES):
                raise Corrupt(f"unknown class {tag}")
            return _table_entry(tag)[1](items)
        if tag == "t":
            return tuple(items)
        if tag == "l":
            return items
        if tag == "f":
            return frozenset(items)
        if tag == "s":
            return set(items)
        if tag == "d":
            return dict(zip(items[::2], items[1::2], strict=True))
        if tag == "r" and len(items) == 1 and type(items[0]) is str:
            return float(items[0])
        if tag == "P" and len(items) == 4:
            return self._pending(*items)
        raise Corrupt(f"unknown tag {str(tag)[:20]!r}")

    def _pending(self, placeholders: Any, by_name: Any, names: Any, count: Any) -> Any:
        """The compose reader's record, its documents composed again from the file's text."""
        from portpolicy.readers.base import Source

        if type(placeholders) is not dict or type(by_name) is not bool or type(count) is not int:
            raise Corrupt("bad compose record")
        if type(names) is not frozenset:
            raise Corrupt("bad compose record")
        source = Source(self.candidate.path, self.text, self.candidate.rel)
        try:
            return reading.recompose(source, placeholders, by_name, names, count)
        except Exception as exc:  # a YamlError: the entry cannot belong to this text
            raise Corrupt("its compose record does not fit the file") from exc
