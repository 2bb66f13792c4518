"""Heartbeats for remote jobs: proof that a kernel is still following them.

A remote backend (SSH, Dask) learns a job's progress and result only through the kernel
that submitted it. While it follows a job, it registers the job here; one thread per
backend then refreshes the jobs' ``heartbeat_at`` every
:data:`~shiftdesk.jobs.store.REMOTE_HEARTBEAT` seconds. Other kernels use a stale
heartbeat (:func:`shiftdesk.jobs.store.reconcile`) to fail jobs nobody follows any more.
"""

from __future__ import annotations

import contextlib
import threading

from shiftdesk.jobs import store
from shiftdesk.storage import Database
from shiftdesk.storage.models import utcnow


class Heartbeat:
    """Refresh ``heartbeat_at`` of the registered jobs while they are followed.

    Parameters
    ----------
    database : Database
        Where the jobs are stored.
    interval : float, optional
        Seconds between refreshes (default :data:`~shiftdesk.jobs.store.REMOTE_HEARTBEAT`).
    """

    def __init__(self, database: Database, interval: float | None = None) -> None:
        self.database = database
        self.interval = interval or store.REMOTE_HEARTBEAT
        self._jobs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str) -> None:
        """Follow ``job_id`` (and tell this process's reconcile to leave it alone)."""
        store.WATCHED_JOBS.add(job_id)
        with self._lock:
            self._jobs.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shiftdesk-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, job_id: str) -> None:
        """Stop following ``job_id``."""
        store.WATCHED_JOBS.discard(job_id)
        with self._lock:
            self._jobs.discard(job_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                jobs = list(self._jobs)
            for job_id in jobs:
                with contextlib.suppress(Exception):  # a job deleted meanwhile
                    store.update_job(self.database, job_id, heartbeat_at=utcnow())

    def stop(self) -> None:
        """Stop the thread (jobs still registered are no longer refreshed)."""
        self._stop.set()
