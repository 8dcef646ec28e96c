"""The rendering child: ``python -m portpolicy.helm.child`` renders releases and prints JSON lines.

It reads one JSON request on stdin (the engine, the scanned roots, the limits and the
releases, ``charts.Release.job``), limits its own address space, and for each release
prints a ``start`` line, then a ``done`` line with the manifests or a ``failed`` line with
the reason. A watchdog thread ends the process when one release renders for longer than
the time limit, after printing a ``timeout`` line: Helm's Go code cannot be interrupted
from Python, only stopped with the process. The parent starts another child for the
releases not yet rendered, so a chart that loops or crashes Helm costs only itself.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO

from portpolicy.helm import package
from portpolicy.helm.render import SCHEMA_REFUSED, Engine, RenderError, one_line, render

TIMEOUT_EXIT = 124


def main() -> int:
    request = json.loads(sys.stdin.read())
    _limit_memory(int(request.get("memory", 0)))
    out = sys.stdout
    engine = Engine(str(request["engine"]["kind"]), str(request["engine"].get("path", "")))
    roots = tuple(str(r) for r in request["roots"])
    timeout = float(request["timeout"])
    watchdog = _Watchdog(out, timeout)
    for job in request["jobs"]:
        watchdog.begin(job["id"])
        _emit(out, {"id": job["id"], "event": "start"})
        _emit(out, _render_job(job, engine, roots, timeout))
        watchdog.end()
    return 0


OVERRIDES = "the switch"
"""The name a switch's values go to Helm under (``charts.Release.overrides``)."""


def _render_job(
    job: dict[str, Any], engine: Engine, roots: tuple[str, ...], timeout: float
) -> dict[str, Any]:
    """One release rendered; a schema Helm refuses (or may not be given) is reported and left out."""
    try:
        files = [(str(a), str(p)) for a, p in job["files"]]
        refused = package.schema_problems(files, roots)
        values = package.read_values([str(v) for v in job["values"]], roots)
        if job.get("overrides"):
            values.append((OVERRIDES, json.dumps(job["overrides"])))
        names = (str(job["release"]), str(job["namespace"]))
        try:
            manifests = _render_files(engine, files, roots, frozenset(refused), values, names, timeout)
        except RenderError as exc:
            schemas = [p for a, p in files if a.endswith("/" + package.SCHEMA_FILE) and p not in refused]
            if SCHEMA_REFUSED not in str(exc) or not schemas:
                raise
            refused.update(dict.fromkeys(schemas, f"Helm refuses it: {exc}; checked without the schema"))
            manifests = _render_files(engine, files, roots, frozenset(refused), values, names, timeout)
    except (package.PackageError, RenderError) as exc:
        return {"id": job["id"], "event": "failed", "reason": str(exc)}
    except Exception as exc:  # a Helm binding error we do not know: this release, not the others
        return {"id": job["id"], "event": "failed", "reason": f"Helm failed: {one_line(type(exc).__name__)}"}
    return {"id": job["id"], "event": "done", "manifests": manifests, "schemas": refused}


def _render_files(
    engine: Engine,
    files: list[tuple[str, str]],
    roots: tuple[str, ...],
    leave_out: frozenset[str],
    values: list[tuple[str, str]],
    names: tuple[str, str],
    timeout: float,
) -> dict[str, str]:
    archive = package.build(files, roots, leave_out)
    return render(engine, archive, values, names[0], names[1], timeout)


_lock = threading.Lock()


def _emit(out: TextIO, record: dict[str, Any]) -> None:
    with _lock:
        out.write(json.dumps(record) + "\n")
        out.flush()


class _Watchdog:
    """Ends the process when the current release renders for longer than ``timeout`` seconds."""

    def __init__(self, out: TextIO, timeout: float) -> None:
        self.out = out
        self.timeout = timeout
        self.current: tuple[object, float] | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def begin(self, ident: object) -> None:
        self.current = (ident, time.monotonic() + self.timeout)

    def end(self) -> None:
        self.current = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.05)
            current = self.current
            if current is not None and time.monotonic() > current[1]:
                _emit(self.out, {"id": current[0], "event": "timeout"})
                os._exit(TIMEOUT_EXIT)


def _limit_memory(limit: int) -> None:
    """RLIMIT_DATA for this process (and a ``helm`` it runs): Helm's Go runtime stops at it.

    Not RLIMIT_AS: Go reserves address space it never uses, at addresses that vary from run
    to run, so an address-space limit fails a chart of a few megabytes now and then. The
    data limit counts only writable memory actually mapped.
    """
    if limit <= 0:
        return
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    except (ImportError, ValueError, OSError):
        pass


if __name__ == "__main__":
    sys.exit(main())
