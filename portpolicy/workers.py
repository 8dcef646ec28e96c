"""Both cores: forked worker processes that read files (and run the Ansible stage) beside this one.

The scan is CPU-bound Python, so a second core needs a second process. ``Pool.start``
forks its workers once, before anything else of the scan starts (no thread, no child
process, no pipe of the Helm stage exists yet), from a process that ``may_fork`` allows:
a fork copies only the calling thread, so a lock another thread holds (inside
ansible-lint, the Ansible action plugin) would stay locked in the child forever. The
workers are plain ``os.fork`` children talking over pipes, with no thread on either side,
so the Ansible stage's job (``submit_call``) and the reading chunks share one pool.

``read_all`` splits the files into chunks in path order: the workers take chunks from the
front while this process reads from the back, and every result lands at its file's index,
so the report is byte-identical to a one-process run. A worker pickles its chunk's results
(a compose file's composed documents are left out and composed again here: pickling them
costs more than composing, see ``reading.own_documents``); a result that does not pickle
is read again here, and so is every file of a chunk whose worker died (killed, out of
memory), so no file is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from portpolicy import reading
from portpolicy.discover import Candidate
from portpolicy.reading import FileRead
from portpolicy.records import record

if TYPE_CHECKING:
    from portpolicy.cache import Cache, Tally

READ_MIN_FILES = 1500
"""Below this many candidate files, reading in workers costs more than it saves (forking,
pickling, composing compose files again: measured in ``docs/performance.md``)."""
CHUNK_FILES = 48
"""Files per chunk: small enough that the last chunks balance the processes, large enough
that a chunk's pickling and hand-over cost little against reading it."""
_HEADER = 8
"""Bytes of the length before each message on a pipe."""
_READ_SIZE = 1 << 20


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask: a container's or ``taskset``'s share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def may_fork() -> bool:
    """May this process fork workers? The one decision, for the reading workers and the Ansible stage.

    Only where ``os.fork`` exists, from the main thread of a process with no other thread:
    forking a threaded host (a plugin inside ansible-lint, the Ansible action plugin's
    worker threads) can deadlock the child on a lock held by a thread that does not exist
    there.
    """
    import threading

    if not hasattr(os, "fork") or sys.platform == "win32":
        return False
    return threading.active_count() == 1 and threading.current_thread() is threading.main_thread()


@record(frozen=False)
class _Worker:
    pid: int
    tasks: int
    """Write end of the pipe of tasks (this process -> worker)."""
    results: int
    """Read end of the pipe of results (worker -> this process)."""
    busy: int | None = None
    """The ticket of the task it runs."""
    buffer: bytearray = field(default_factory=bytearray)
    alive: bool = True


@record(frozen=False)
class Done:
    """A finished task: its value, or why it failed (the worker died, the task raised)."""

    ticket: int
    value: Any = None
    failure: str = ""


class Pool:
    """Forked workers, each running one task at a time; ``poll`` hands back finished tasks.

    No thread: this process writes a task to an idle worker and reads results when
    ``select`` says they are there, so it may read files itself in between.
    """

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers
        self._next = 0
        self._done: list[Done] = []
        self._kept: dict[int, Done] = {}

    @classmethod
    def start(cls, size: int) -> Pool | None:
        """``size`` forked workers, or None when this process may not fork (``may_fork``) or
        ``size`` is 0."""
        if size < 1 or not may_fork():
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        workers: list[_Worker] = []
        for _ in range(size):
            tasks_r, tasks_w = os.pipe()
            results_r, results_w = os.pipe()
            _widen(results_w)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (coverage is not collected there)
                for other in workers:
                    os.close(other.tasks)
                    os.close(other.results)
                os.close(tasks_w)
                os.close(results_r)
                _serve(tasks_r, results_w)
            os.close(tasks_r)
            os.close(results_w)
            os.set_blocking(results_r, False)
            workers.append(_Worker(pid, tasks_w, results_r))
        return cls(workers)

    @property
    def size(self) -> int:
        return sum(w.alive for w in self._workers)

    def idle(self) -> int:
        return sum(w.alive and w.busy is None for w in self._workers)

    def busy(self) -> int:
        return sum(w.alive and w.busy is not None for w in self._workers)

    def submit(self, function: Callable[..., Any], *args: Any) -> int | None:
        """Run ``function(*args)`` in an idle worker: its ticket, or None when none is idle
        or the task does not pickle (the caller runs it itself)."""
        import pickle

        worker = next((w for w in self._workers if w.alive and w.busy is None), None)
        if worker is None:
            return None
        try:
            payload = pickle.dumps((function, args), pickle.HIGHEST_PROTOCOL)
        except Exception:
            return None
        self._next += 1
        try:
            _write_all(worker.tasks, len(payload).to_bytes(_HEADER, "big") + payload)
        except OSError:
            self._lost(worker, "its worker process ended")
            return None
        worker.busy = self._next
        return self._next

    def poll(self, timeout: float | None = 0) -> list[Done]:
        """Tasks finished since the last call; waits up to ``timeout`` seconds (None: until one
        finishes) when none has."""
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            waiting = [w for w in self._workers if w.alive and w.busy is not None]
            if not waiting:
                break
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([w.results for w in waiting], [], [], left)
            for worker in waiting:
                if worker.results in ready:
                    self._drain(worker)
            if deadline is not None and time.monotonic() >= deadline:
                break
        done, self._done = self._done, []
        return done

    def keep(self, done: Done) -> None:
        """Put back a finished task that ``poll`` returned to a caller who does not want it."""
        self._kept[done.ticket] = done

    def wait(self, ticket: int) -> Done:
        """Block until task ``ticket`` finishes; other tasks finished meanwhile are kept."""
        while ticket not in self._kept:
            if not any(w.busy == ticket for w in self._workers if w.alive) and not self._done:
                return Done(ticket, failure="its worker process ended")
            for done in self.poll(None):
                self.keep(done)
        return self._kept.pop(ticket)

    def _drain(self, worker: _Worker) -> None:
        while True:
            try:
                chunk = os.read(worker.results, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._lost(worker, "its worker process ended (killed, or out of memory)")
                return
            worker.buffer += chunk
            while len(worker.buffer) >= _HEADER:
                length = int.from_bytes(worker.buffer[:_HEADER], "big")
                if len(worker.buffer) < _HEADER + length:
                    break
                payload = bytes(worker.buffer[_HEADER : _HEADER + length])
                del worker.buffer[: _HEADER + length]
                self._finish(worker, payload)

    def _finish(self, worker: _Worker, payload: bytes) -> None:
        import pickle

        ticket, worker.busy = worker.busy, None
        if ticket is None:
            return
        try:
            ok, value = pickle.loads(payload)  # our own child's bytes, written by ``_serve``
        except Exception:
            ok, value = False, "its result could not be read back"
        self._done.append(Done(ticket, value) if ok else Done(ticket, failure=str(value)))

    def _lost(self, worker: _Worker, why: str) -> None:
        if worker.busy is not None:
            self._done.append(Done(worker.busy, failure=why))
        worker.busy = None
        self._end(worker, kill=True)

    def _end(self, worker: _Worker, kill: bool) -> None:
        if not worker.alive:
            return
        worker.alive = False
        for fd in (worker.tasks, worker.results):
            with contextlib.suppress(OSError):
                os.close(fd)
        if kill:
            import signal

            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker.pid, 0)

    def close(self) -> None:
        """End every worker: an idle one on the end of its task pipe, a busy one (only after an
        error here) killed."""
        for worker in self._workers:
            self._end(worker, kill=worker.busy is not None)


PIPE_BYTES = 1 << 20
"""A results pipe holds this much (Linux's default limit for a user): a chunk's results fit, so
a worker goes on with its next chunk while this process finishes reading a file of its own."""


def _widen(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):  # another system, or a lower limit: the default size works too
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = bytearray()
    while len(parts) < size:
        chunk = os.read(fd, size - len(parts))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def _serve(tasks: int, results: int) -> None:  # pragma: no cover - runs in the child
    """A worker's life: run each task it is sent, send back its value; end with the task pipe."""
    import pickle
    import signal

    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which ends us
        while True:
            header = _read_exactly(tasks, _HEADER)
            if header is None:
                break
            payload = _read_exactly(tasks, int.from_bytes(header, "big"))
            if payload is None:
                break
            try:
                function, args = pickle.loads(payload)
                reply = pickle.dumps((True, function(*args)), pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                reply = pickle.dumps((False, type(exc).__name__), pickle.HIGHEST_PROTOCOL)
            _write_all(results, len(reply).to_bytes(_HEADER, "big") + reply)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def read_chunk(
    items: Sequence[tuple[int, Candidate]], roots: tuple[str, ...], cache: Cache | None
) -> tuple[bytes, list[int], Tally | None]:
    """A worker's task: read ``items``; their results pickled (indexes whose result does not
    pickle are listed, for this process to read again) and what the cache did."""
    tally = _tally(cache)
    reads = []
    own: dict[int, tuple[Candidate, str]] = {}
    for index, candidate in items:
        read, text = read_one(candidate, roots, cache, tally)
        reads.append((index, read))
        if text is not None:
            own[index] = (candidate, text)
    try:
        return _pickled(reads, own), [], tally
    except Exception:
        pass
    kept, again = [], []
    for index, read in reads:
        try:
            _pickled([(index, read)], own)
            kept.append((index, read))
        except Exception:
            again.append(index)
    return _pickled(kept, own), again, tally


def _tally(cache: Cache | None) -> Tally | None:
    if cache is None:
        return None
    from portpolicy.cache import Tally

    return Tally()


def read_one(
    candidate: Candidate, roots: tuple[str, ...], cache: Cache | None, tally: Tally | None
) -> tuple[FileRead, str | None]:
    """One file read (through ``cache`` when there is one), and its text when it was decoded."""
    loaded = reading.load(candidate, roots)
    if isinstance(loaded, FileRead):
        return loaded, None
    text = reading.decode(loaded)[0]  # cheap next to reading; the cache and ``_pickled`` compare it
    if cache is None or tally is None:
        return reading.read_loaded(candidate, loaded), text
    return cache.read(candidate, loaded, text, tally), text


def _pickled(reads: list[tuple[int, FileRead]], own: dict[int, tuple[Candidate, str]]) -> bytes:
    """``reads`` pickled, each compose file's own documents left out (``reading.recompose``)."""
    import copyreg
    import io
    import pickle

    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    current: list[tuple[Candidate, str] | None] = [None]
    pending = sys.modules.get(reading.PENDING[0])  # no compose file read: no record to pickle

    def reduce(obj: Any) -> Any:
        if current[0] is not None and reading.own_documents(obj, *current[0]):
            return reading.recompose, (obj.source, obj.placeholders, obj.by_name, obj.names, obj.count)
        return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    if pending is not None:
        pickler.dispatch_table = {**copyreg.dispatch_table, getattr(pending, reading.PENDING[1]): reduce}
    pickler.dump(len(reads))
    for index, read in reads:
        current[0] = own.get(index)
        pickler.dump((index, read))
    return out.getvalue()


def _unpickled(blob: bytes) -> list[tuple[int, FileRead]]:
    import io
    import pickle

    stream = io.BytesIO(blob)
    unpickler = pickle.Unpickler(stream)
    count: int = unpickler.load()
    return [unpickler.load() for _ in range(count)]


def read_all(
    candidates: Sequence[Candidate],
    roots: tuple[str, ...],
    pool: Pool | None,
    cache: Cache | None = None,
    tally: Tally | None = None,
) -> list[FileRead]:
    """Every candidate's ``FileRead``, in the candidates' order, read by the pool's idle
    workers and this process together; without a pool (or with none idle), here alone."""
    results: list[FileRead | None] = [None] * len(candidates)
    items = list(enumerate(candidates))
    chunks = [items[start : start + CHUNK_FILES] for start in range(0, len(items), CHUNK_FILES)]
    front, back = 0, len(chunks)
    tickets: dict[int, list[tuple[int, Candidate]]] = {}
    again: list[tuple[int, Candidate]] = []

    def collect(timeout: float | None) -> None:
        nonlocal front
        if pool is None:
            return
        for done in pool.poll(timeout):
            chunk = tickets.pop(done.ticket, None)
            if chunk is None:  # not ours: the Ansible stage's
                pool.keep(done)
                continue
            if done.failure:
                again.extend(chunk)
                continue
            blob, unpicklable, worker_tally = done.value
            for index, read in _unpickled(blob):
                results[index] = read
            again.extend((i, candidates[i]) for i in unpicklable)
            if tally is not None and worker_tally is not None:
                tally.merge(worker_tally)
        while pool.idle() and front < back:
            ticket = pool.submit(read_chunk, chunks[front], roots, cache)
            if ticket is None:
                break
            tickets[ticket] = chunks[front]
            front += 1

    collect(0)
    while front < back or tickets:
        if front < back:
            back -= 1
            for index, candidate in chunks[back]:
                results[index] = read_one(candidate, roots, cache, tally)[0]
                collect(0)
        elif pool is not None and pool.busy():
            collect(None)
        else:  # no worker left to hand back what it had
            for ticket in list(tickets):
                again.extend(tickets.pop(ticket))
    for index, candidate in again:  # a dead worker's chunk, a result that did not pickle
        results[index] = read_one(candidate, roots, cache, tally)[0]
    return [
        r if r is not None else reading.read_candidate(c, roots)
        for r, c in zip(results, candidates, strict=True)
    ]
