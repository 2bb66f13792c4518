"""Persisted jobs and the backends that run them.

A job is stored first (kind, owner, JSON spec); a backend then runs it somewhere and
the worker writes progress and the JSON result back, so any kernel (or the same one
after a restart) can follow it.
"""

from shiftdesk.jobs.backend import (
    JobBackend,
    get_backend,
    register_backend,
    register_backend_type,
    shutdown_backends,
)
from shiftdesk.jobs.job import Job, list_jobs
from shiftdesk.jobs.local import LocalBackend
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.submit import submit_job
from shiftdesk.jobs.tasks import TaskContext, TaskKind, register
from shiftdesk.storage import Database


def end_session(database: Database | None = None) -> None:
    """Log out of the remote (SSH) backends: remove this session's keys there and here.

    The hub calls this at logout; see :func:`shiftdesk.jobs.ssh.end_session`.
    """
    from shiftdesk.jobs.ssh import end_session as end_ssh_session

    end_ssh_session(database)


__all__ = [
    "Job",
    "JobBackend",
    "JobStatus",
    "LocalBackend",
    "TaskContext",
    "TaskKind",
    "end_session",
    "get_backend",
    "list_jobs",
    "register",
    "register_backend",
    "register_backend_type",
    "shutdown_backends",
    "submit_job",
]
