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

__all__ = [
    "Job",
    "JobBackend",
    "JobStatus",
    "LocalBackend",
    "TaskContext",
    "TaskKind",
    "get_backend",
    "list_jobs",
    "register",
    "register_backend",
    "register_backend_type",
    "shutdown_backends",
    "submit_job",
]
