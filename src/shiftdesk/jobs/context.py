"""The one base of the task contexts (:class:`~shiftdesk.jobs.tasks.TaskContext`).

A task reports through a context that its backend's worker gives it: the job row (a
local or service worker), the job folder (an SSH runner) or Dask events. Progress is
clamped to [0, 1], its message cut to 500 characters, metrics made floats, and writes
throttled to one per ``interval`` seconds (a report of 100 % always goes through);
SIGTERM (or a cancel asked elsewhere) makes :meth:`cancelled` true.
"""

from __future__ import annotations

import threading
import time


class ThrottledContext:
    """Progress throttling and the cancel flag; subclasses say where reports go.

    Parameters
    ----------
    interval : float
        Least seconds between two progress reports.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._last_report = 0.0
        self._cancel = threading.Event()

    def _report(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        """Send one (already throttled and cleaned) progress report."""
        raise NotImplementedError

    def log(self, text: str) -> None:
        """Append a line to the job's log."""
        raise NotImplementedError

    def progress(self, fraction: float, message: str = "", **metrics: float) -> None:
        """Report progress at most every ``interval`` seconds (and always at 100 %)."""
        now = time.monotonic()
        if now - self._last_report < self.interval and fraction < 1.0:
            return
        self._last_report = now
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self._report(max(0.0, min(1.0, float(fraction))), message[:500], clean)

    def request_cancel(self) -> None:
        """Ask the task to stop (e.g. from the SIGTERM handler)."""
        self._cancel.set()

    def cancelled(self) -> bool:
        """True once someone asked the job to stop."""
        return self._cancel.is_set()
