"""How the panels call the core: at once, or off the kernel thread with the outcome shown later.

A panel hands a call to its ``caller``: ``caller(label, call, on_ok, on_error)``. The
default, :func:`run_now`, calls at once (plain scripts and headless tests, where nothing
else waits). :class:`Background` runs slow calls (validating a context file in a
subprocess, queueing a thousand runs, writing an Excel file) in a worker thread; their
``on_ok``/``on_error`` run later on the kernel's own thread, from :meth:`Background.collect`
(driven by a :class:`~shiftdesk_widgets._async.Ticker`), so widgets are never written from
the thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from shiftdesk_widgets._async import Ticker

OnOk = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class Caller(Protocol):
    """``caller(label, call, on_ok, on_error)``: run ``call``, then one of the callbacks."""

    def __call__(self, label: str, call: Callable[[], Any], on_ok: OnOk, on_error: OnError) -> None:
        """Run ``call``; hand its result to ``on_ok`` or its exception to ``on_error``."""


def run_now(label: str, call: Callable[[], Any], on_ok: OnOk, on_error: OnError) -> None:
    """Call at once, in this thread (the outcome is shown before this returns)."""
    try:
        result = call()
    except Exception as exc:  # handed to the panel, which shows it
        on_error(exc)
    else:
        on_ok(result)


@dataclass
class _Pending:
    label: str
    future: Future[Any]
    on_ok: OnOk
    on_error: OnError


class Background:
    """Runs calls in one worker thread, in the order given; outcomes are shown by :meth:`collect`.

    Parameters
    ----------
    interval : float
        Seconds between looks for finished calls while some are pending (a Ticker on the
        kernel's loop, started when a call is handed over).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sd-runtable-ui")
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self.ticker = Ticker(self._tick, interval)

    def __call__(self, label: str, call: Callable[[], Any], on_ok: OnOk, on_error: OnError) -> None:
        future = self._pool.submit(call)
        with self._lock:
            self._pending.append(_Pending(label, future, on_ok, on_error))
        if not self.ticker.running:
            self.ticker.start()

    @property
    def busy(self) -> bool:
        """Calls whose outcome was not shown yet."""
        with self._lock:
            return bool(self._pending)

    def _tick(self) -> bool:
        self.collect()
        return self.busy

    def collect(self) -> int:
        """Show the outcome of finished calls (on the caller's thread); returns how many."""
        done: list[_Pending] = []
        with self._lock:
            while self._pending and self._pending[0].future.done():
                done.append(self._pending.pop(0))
        for item in done:
            exc = item.future.exception()
            if exc is not None:
                item.on_error(exc)
            else:
                item.on_ok(item.future.result())
        return len(done)

    def wait(self, timeout: float = 60.0) -> None:
        """Block until every call handed over has finished, then show them (scripts, tests)."""
        deadline = time.monotonic() + timeout
        while self.busy:
            self.collect()
            if time.monotonic() > deadline:
                raise TimeoutError(f"run table calls still running after {timeout:g} s")
            time.sleep(0.01)

    def close(self) -> None:
        """Stop taking calls (a running one finishes on its own; its outcome is dropped)."""
        self.ticker.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
