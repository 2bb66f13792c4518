"""Heartbeats for remote jobs: proof that a kernel is still following them.

A remote backend (SSH, Dask) learns a job's progress and result only through the kernel
that submitted it. While it follows a job, it registers the job here; one thread per
backend then refreshes the jobs' ``heartbeat_at`` every :data:`REMOTE_HEARTBEAT`
seconds. Other kernels use a stale heartbeat (:func:`fail_if_unfollowed`, the recovery
of those backend types) to fail jobs nobody follows any more.
"""

from __future__ import annotations

import contextlib
import threading

from shiftdesk.identity import Identity
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import WATCHED
from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database, JobRecord
from shiftdesk.tracking import seconds_since, utcnow

#: Remote backends (SSH, Dask) refresh ``heartbeat_at`` of the jobs they watch at least
#: this often (seconds) ...
REMOTE_HEARTBEAT = 30.0
#: ... so a remote job whose heartbeat is older than this has no kernel watching it.
REMOTE_STALE = 300.0


def fail_if_unfollowed(database: Database, record: JobRecord) -> JobRecord:
    """Fail (or, if asked, cancel) a remote job whose follower stopped long ago.

    A Dask job, or an SSH job that never reached its worker, is followed by the kernel
    that submitted it; when that kernel's heartbeat stops for :data:`REMOTE_STALE`
    seconds, its result cannot arrive any more.
    """
    age = seconds_since(record.heartbeat_at or record.started_at or record.created_at)
    if age is None or age < REMOTE_STALE:
        return record
    if record.cancel_requested:
        store.finish_job(database, record.id, JobStatus.CANCELLED)
    else:
        store.finish_job(
            database,
            record.id,
            JobStatus.FAILED,
            error=(
                f"no kernel has followed this {record.backend} job for "
                f"{REMOTE_STALE / 60:g} minutes (the kernel that submitted it stopped), so "
                "its result cannot arrive; resubmit it (job.resubmit())"
            ),
        )
    return store.read_job(record.id, database, Identity(record.owner))


class Heartbeat:
    """Refresh ``heartbeat_at`` of the registered jobs while they are followed.

    Parameters
    ----------
    database : Database
        Where the jobs are stored.
    interval : float, optional
        Seconds between refreshes (default :data:`REMOTE_HEARTBEAT`).
    """

    def __init__(self, database: Database, interval: float | None = None) -> None:
        self.database = database
        self.interval = interval or REMOTE_HEARTBEAT
        self._jobs: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str) -> None:
        """Follow ``job_id`` (and tell this process's reconcile to leave it alone)."""
        WATCHED.add(job_id)
        with self._lock:
            self._jobs.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shiftdesk-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, job_id: str) -> None:
        """Stop following ``job_id``."""
        WATCHED.discard(job_id)
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
