"""Reading and writing job rows. Every read checks the caller may see the job."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.identity import Identity, current_identity
from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database, JobRecord, get_database
from shiftdesk.tracking import utcnow

#: Longest log kept in the database; older lines are cut from the front.
MAX_LOG_CHARS = 200_000


def create_job(
    kind: str,
    spec: dict[str, Any],
    *,
    title: str = "",
    backend: str = "local",
    database: Database | None = None,
    identity: Identity | None = None,
) -> str:
    """Persist a queued job and return its id."""
    db = database or get_database()
    who = identity or current_identity()
    job_id = uuid.uuid4().hex
    with db.session() as session:
        session.add(
            JobRecord(
                id=job_id,
                kind=kind,
                owner=who.name,
                title=title[:255],
                backend=backend,
                status=JobStatus.QUEUED.value,
                progress=0.0,
                message="queued",
                metrics_json="{}",
                log="",
                spec_json=json.dumps(spec),
                cancel_requested=False,
            )
        )
    return job_id


def read_job(job_id: str, database: Database, identity: Identity | None = None) -> JobRecord:
    """The job row, if ``identity`` may see it."""
    from shiftdesk.audit import refused

    who = identity or current_identity()
    with database.session() as session:
        record = session.get(JobRecord, job_id)
        if record is None:
            # with row-level security another user's job is not there either: say both
            message = f"no job with id {job_id!r} that {who.name!r} may see"
            refused("jobs.open", f"job {job_id}", message, database=database)
            raise NotFound(message)
        if not who.can_read(record.owner):
            message = f"job {job_id} belongs to {record.owner!r}; {who.name!r} may not open it"
            refused("jobs.open", f"job {job_id}", message, database=database)
            raise PermissionDenied(message)
        session.expunge(record)
    return record


def list_jobs(
    database: Database,
    identity: Identity | None = None,
    *,
    kind: str | None = None,
    limit: int = 100,
    all_users: bool = False,
) -> list[JobRecord]:
    """Jobs of the user, newest first (administrators may ask for all users)."""
    who = identity or current_identity()
    query = select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
    if not (all_users and who.admin):
        query = query.where(JobRecord.owner == who.name)
    if kind is not None:
        query = query.where(JobRecord.kind == kind)
    with database.session() as session:
        records = list(session.scalars(query))
        for record in records:
            session.expunge(record)
    return records


def update_job(database: Database, job_id: str, **fields: Any) -> None:
    """Set columns of a job row (internal: workers and backends)."""
    with database.session() as session:
        record = session.get(JobRecord, job_id)
        if record is None:
            raise NotFound(f"no job with id {job_id!r}")
        for name, value in fields.items():
            setattr(record, name, value)


def append_log(database: Database, job_id: str, text: str) -> None:
    """Append text to a job's log (kept to :data:`MAX_LOG_CHARS`)."""
    with database.session() as session:
        record = session.get(JobRecord, job_id)
        if record is None:
            return
        log = (record.log or "") + text
        if len(log) > MAX_LOG_CHARS:
            log = "[... earlier log cut ...]\n" + log[-MAX_LOG_CHARS:]
        record.log = log


def finish_job(
    database: Database,
    job_id: str,
    status: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    log: str = "",
    only_if_running: bool = False,
    replace_log: str | None = None,
) -> bool:
    """Move a job to a final state once; returns False if it already was final.

    ``log`` is appended to the job's log; ``replace_log`` replaces it first (a remote
    backend whose result carries the whole log).
    """
    with database.session() as session:
        record = session.get(JobRecord, job_id, with_for_update=True)
        if record is None:
            return False
        if JobStatus(record.status).finished:
            return False
        if only_if_running and record.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return False
        record.status = status.value
        record.finished_at = utcnow()
        if status is JobStatus.DONE:
            record.progress = 1.0
        if result is not None:
            record.result_json = json.dumps(result)
        if error is not None:
            record.error = error
        record.message = {
            JobStatus.DONE: "done",
            JobStatus.FAILED: "failed",
            JobStatus.CANCELLED: "cancelled",
        }.get(status, record.message)
        if replace_log is not None:
            record.log = replace_log[-MAX_LOG_CHARS:]
        if log:
            record.log = (record.log or "") + log
    return True
