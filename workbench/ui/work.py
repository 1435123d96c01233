"""Work that must not freeze a page: run in a thread, debounced, the latest request wins.

Headless (tests, ``App(background=False)``) the work runs at once, so a test sets a widget and
reads the result on the next line. The query engine has one connection per kernel: one lock
serialises everything that queries it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
ENGINE = threading.Lock()


class Debounced:
    """``request(*args)`` runs ``work(*args)`` after ``delay`` seconds of quiet, then calls
    ``done(result, error)`` unless a newer request came in meanwhile; ``busy(True/False)`` says
    when a request is pending."""

    def __init__(self, work: Callable, done: Callable, *, busy: Callable[[bool], None] = None,
                 delay: float = 0.35, background: bool = True):
        self._work, self._done, self._busy = work, done, busy or (lambda _b: None)
        self._delay, self._background = delay, background
        self._lock = threading.Lock()
        self._generation = 0

    def request(self, *args) -> None:
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._busy(True)
        if not self._background:
            self._run(generation, args)
            return

        def later() -> None:  # a newer request meanwhile makes this one a no-op
            time.sleep(self._delay)
            self._run(generation, args)

        threading.Thread(target=later, daemon=True).start()

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1

    def _run(self, generation: int, args: tuple) -> None:
        with self._lock:
            if generation != self._generation:
                return
        result, error = None, None
        try:
            with ENGINE:
                result = self._work(*args)
        except Exception as exc:  # shown on the page in one line; logged whole
            log.info("background work failed", exc_info=True)
            error = exc
        with self._lock:
            if generation != self._generation:
                return  # superseded: a newer request will answer
        try:
            self._done(result, error)
        finally:
            self._busy(False)


def run_soon(work: Callable[[], None], background: bool) -> None:
    """Load something for a page after it is shown (the page never waits blank)."""
    if not background:
        work()
        return

    def guarded():
        try:
            with ENGINE:
                work()
        except Exception:
            log.exception("background load failed")

    threading.Thread(target=guarded, daemon=True).start()


def one_line(exc: BaseException) -> str:
    """An error as a person reads it: its message's first line, never a traceback."""
    from ..errors import WorkbenchError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, WorkbenchError):
        return text
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
