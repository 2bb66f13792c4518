"""Load refl1d, bumps and refl1d's numba kernels off the kernel's event loop.

The first model evaluation in a fresh kernel costs seconds (importing refl1d → bumps →
scipy, then loading the compiled numba kernels), far more than building the widgets.
In Voilà the page shows nothing until the notebook's cell returns, so the dashboard
does that work in a thread once per process and finishes the parts that need it (the
model curve, the fitter's options) on the event loop afterwards. With no running loop
(plain pytest, a script) nothing is deferred: callers do the work at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

_lock = threading.Lock()
_future: concurrent.futures.Future[None] | None = None


def _warm() -> None:
    """Import the fitting engine and evaluate a throw-away model (loads numba's kernels).

    Touches no widget and no object the dashboard holds, so it is safe in a thread.
    """
    import bumps.fitters  # noqa: F401  (the fit panel's options come from it)

    from shiftdesk.reflectometry import FitProblem, Layer, Medium

    problem = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("film", thickness=100.0, sld=3.5, roughness=3.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )
    problem.evaluate(q=np.linspace(0.005, 0.3, 50))


def _run(future: concurrent.futures.Future[None]) -> None:
    try:
        _warm()
    except BaseException as exc:
        log.debug("warm-up failed: %s", exc)
        future.set_exception(exc)
    else:
        future.set_result(None)


def ready() -> bool:
    """True once the warm-up has finished (or failed) in this process."""
    return _future is not None and _future.done()


def _future_and_thread() -> tuple[concurrent.futures.Future[None], threading.Thread | None]:
    """The process's warm-up future, and a thread to start if it was just created."""
    global _future
    with _lock:
        if _future is not None:
            return _future, None
        _future = concurrent.futures.Future()
        thread = threading.Thread(
            target=_run, args=(_future,), name="shiftdesk-warmup", daemon=True
        )
        return _future, thread


def start() -> None:
    """Start the warm-up thread now (a warm kernel, before any dashboard exists)."""
    _future, thread = _future_and_thread()
    if thread is not None:
        thread.start()


def wait(timeout: float | None = None) -> None:
    """Block until the warm-up started by :func:`start` has finished (or failed)."""
    future = _future
    if future is not None:
        with contextlib.suppress(Exception):
            future.exception(timeout=timeout)


def when_ready(callback: Callable[[], None]) -> bool:
    """Call ``callback`` on the running loop once the engine is loaded.

    Starts the warm-up thread on first use. Returns False, and schedules nothing,
    when there is no running loop or the warm-up is already done: the caller then
    does the work itself, at once.
    """
    if ready():
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    future, thread = _future_and_thread()
    if thread is not None:
        # started when the running cell returns: in the same process it would
        # compete (GIL) with the cell building the widgets the page waits for
        loop.call_soon(thread.start)

    def done(_f: asyncio.Future[None]) -> None:
        # a failed warm-up is not an error here: the callback's own evaluate reports it
        with contextlib.suppress(asyncio.CancelledError):
            _f.exception()
        try:
            callback()
        except Exception:  # a callback's error must not kill the loop's other work
            log.exception("deferred dashboard step failed")

    asyncio.wrap_future(future, loop=loop).add_done_callback(done)
    return True
