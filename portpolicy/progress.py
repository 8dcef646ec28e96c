"""A progress line on standard error while a long scan runs, only on a terminal.

Nothing is shown for a scan that ends within ``DELAY`` seconds, nothing in a pipe or a CI
log, and the line is erased when the scan ends, so the report starts on a clean line. It
uses an interval timer (``SIGALRM``) rather than a thread: the scan forks its Ansible stage
only from a process with no other thread, and timers are not inherited across ``fork``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from types import FrameType, TracebackType

DELAY = 1.0
"""Seconds before the line appears."""
ERASE = "\r\033[K"


class Progress:
    """``with Progress(label):`` around the work; ``fd`` is where the line goes (stderr)."""

    def __init__(self, label: str, fd: int = 2, delay: float = DELAY, enabled: bool = True) -> None:
        self.label = label
        self.fd = fd
        self.delay = delay
        self.enabled = enabled and _can_show(fd)
        self.started = 0.0
        self.shown = False
        self._previous: object = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self.started = time.monotonic()
            self._previous = signal.signal(signal.SIGALRM, self._tick)
            signal.setitimer(signal.ITIMER_REAL, self.delay, 1.0)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self.enabled:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]
        if self.shown:
            _write(self.fd, ERASE)

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        elapsed = int(time.monotonic() - self.started)
        _write(self.fd, f"{ERASE}portpolicy: {self.label} ({elapsed}s)")
        self.shown = True


def _can_show(fd: int) -> bool:
    """A terminal, a main thread that may take signals, a system with interval timers."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _write(fd: int, text: str) -> None:
    """Straight to the descriptor: safe from a signal handler, unlike a buffered stream."""
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "backslashreplace"))
