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
import os
import threading
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

_lock = threading.Lock()
_future: concurrent.futures.Future[None] | None = None
#: The warm-up thread, made but not started yet (see :func:`defer`).
_thread: threading.Thread | None = None
#: Loop time before which a scheduled start waits (:func:`defer`).
_not_before = 0.0
#: A Voilà page that has not asked for its widgets yet is waited for this long at most
#: (seconds from the first scheduled start), and this long after it asked (its state
#: reply goes out first).
PAGE_WAIT = 10.0
AFTER_PAGE = 0.2
#: Loop time until which a scheduled start waits for the page (set when first seen
#: loading), and whether that wait is over.
_page_deadline: float | None = None
_page_done = False


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


def _future_and_thread() -> tuple[concurrent.futures.Future[None], bool]:
    """The process's warm-up future, and whether it was just created (its thread is
    made, not started: :func:`start` starts it)."""
    global _future, _thread
    with _lock:
        if _future is not None:
            return _future, False
        _future = concurrent.futures.Future()
        _thread = threading.Thread(
            target=_run, args=(_future,), name="shiftdesk-warmup", daemon=True
        )
        return _future, True


def start() -> None:
    """Start the warm-up thread now, if it has not started (a warm kernel, before any
    dashboard exists; or an edit that needs the engine at once)."""
    global _thread
    _future_and_thread()
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        thread.start()


def defer(seconds: float) -> None:
    """Start a warm-up scheduled by :func:`when_ready` no sooner than ``seconds`` from now.

    For a page that has what it shows first without the engine (a stored model curve):
    the engine's load would only compete with the browser drawing it. :func:`start`
    still starts it at once.
    """
    global _not_before
    loop = asyncio.get_running_loop()
    _not_before = max(_not_before, loop.time() + seconds)


def _page_loading() -> bool:
    """In a Voilà kernel whose page has not asked for its widgets' state yet (its
    control comm is not open): it is loading its JavaScript, on the same machine's CPUs."""
    if not os.environ.get("VOILA_KERNEL_ID"):
        return False
    import ipywidgets as w

    return w.Widget._control_comm is None


def _start_when_due() -> None:
    global _page_deadline, _page_done, _not_before
    loop = asyncio.get_running_loop()
    now = loop.time()
    if not _page_done:
        # a Voilà page loading its JavaScript, then asking for the widgets' state: the
        # engine's load would slow both (the machine's CPUs; the GIL the reply needs)
        if _page_loading():
            if _page_deadline is None:
                _page_deadline = now + PAGE_WAIT
            if now < _page_deadline:
                loop.call_later(0.1, _start_when_due)
                return
        elif _page_deadline is not None:  # it was loading: it has asked for its state
            _not_before = max(_not_before, now + AFTER_PAGE)
        _page_done = True
    wait = _not_before - now
    if wait > 0:
        loop.call_later(wait, _start_when_due)
    else:
        start()


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
    future, created = _future_and_thread()
    if created:
        # started when the running cell returns (or later, see defer()): in the same
        # process it would compete (GIL) with the cell building the widgets the page
        # waits for
        loop.call_soon(_start_when_due)

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
