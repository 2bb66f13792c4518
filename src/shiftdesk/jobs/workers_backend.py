"""The ``workers`` backend: jobs for the shared job-worker service.

A kernel that submits with ``backend="workers"`` only stores the job: it stays queued
("waiting for a job worker") until the job-worker service
(:mod:`shiftdesk.jobs.job_worker_service`, run once for everyone by the hub) claims it and
runs it in its own worker process. Cancelling a job nobody took yet ends it at once; the
service stops a running one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy import update

from shiftdesk.jobs import store
from shiftdesk.jobs.backend import BackendBase
from shiftdesk.jobs.local import log_path
from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database, JobRecord
from shiftdesk.tracking import utcnow

#: The built-in backend name whose jobs the service runs.
BACKEND_NAME = "workers"
#: Environment variable the hub sets in user servers when it runs the service: ``1``, or
#: the folder where the service keeps the workers' output (read by ``logs()``).
ENV_VAR = "SHIFTDESK_JOB_WORKERS"
#: Message of a job waiting in the queue.
WAITING = "waiting for a job worker"


def workers_configured() -> bool:
    """Whether this user server was told that a job-worker service runs (:data:`ENV_VAR`)."""
    return os.environ.get(ENV_VAR, "").strip() not in ("", "0", "false", "no")


class WorkersBackend(BackendBase):
    """Jobs for the shared job-worker service: submitting only queues them.

    Parameters
    ----------
    database : Database
        Where the jobs are stored; the service watches the same database.
    """

    name = BACKEND_NAME

    def __init__(self, database: Database) -> None:
        self.database = database

    def submit(self, job_id: str) -> None:
        """Leave the stored job in the queue for the service; returns at once."""
        store.update_job(self.database, job_id, message=WAITING)

    def cancel(self, job_id: str) -> None:
        """Cancel: a job nobody took yet ends at once; the service stops a running one."""
        if self._begin_cancel(job_id) is None:
            return
        with self.database.session() as session:
            # only while unclaimed: a claimed job's worker sees the flag and ends cancelled
            session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id)
                .where(JobRecord.status == JobStatus.QUEUED.value)
                .where(JobRecord.host.is_(None))
                .values(status=JobStatus.CANCELLED.value, message="cancelled", finished_at=utcnow())
            )

    def _output(self, job_id: str) -> str:
        """The worker's process output, when this server can read it."""
        folder = os.environ.get(ENV_VAR, "")
        candidates = [Path(folder) / f"{job_id}.log"] if os.path.isabs(folder) else []
        candidates.append(log_path(job_id))
        for path in candidates:
            with contextlib.suppress(OSError):
                return path.read_text(errors="replace")
        return ""
