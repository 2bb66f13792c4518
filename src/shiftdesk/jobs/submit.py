"""Submitting a job: store it, hand it to a backend, return its handle."""

from __future__ import annotations

from typing import Any

from shiftdesk.identity import Identity, current_identity
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import JobBackend, get_backend
from shiftdesk.jobs.job import Job
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.tasks import get_kind
from shiftdesk.storage import Database, get_database


def submit_job(
    kind: str,
    spec: dict[str, Any],
    *,
    title: str = "",
    backend: JobBackend | str | None = None,
    database: Database | None = None,
    identity: Identity | None = None,
) -> Job:
    """Store a job and start it; returns at once.

    Parameters
    ----------
    kind : str
        A registered job kind, e.g. ``"reflectometry.fit"``.
    spec : dict
        JSON-ready description of the work (never pickles).
    backend : JobBackend or str, optional
        Where to run it (default ``"local"``).
    """
    get_kind(kind)  # fail before storing anything for an unknown kind
    db = database or get_database()
    who = identity or current_identity()
    runner = get_backend(backend or "local", db) if not isinstance(backend, JobBackend) else backend
    job_id = store.create_job(
        kind, spec, title=title, backend=runner.name, database=db, identity=who
    )
    try:
        runner.submit(job_id)
    except Exception as exc:
        store.finish_job(db, job_id, JobStatus.FAILED, error=f"could not start the job: {exc}")
        raise
    return Job(job_id, db, who)
