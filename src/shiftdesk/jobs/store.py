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
from shiftdesk.tracking import HOST, as_utc, pid_alive, utcnow

#: Longest log kept in the database; older lines are cut from the front.
MAX_LOG_CHARS = 200_000
#: Jobs whose worker is a child of this process: a LocalBackend thread waits for it and
#: records the exit code or signal, so :func:`reconcile` leaves them alone.
WATCHED_JOBS: set[str] = set()
#: Remote backends (SSH, Dask) refresh ``heartbeat_at`` of the jobs they watch at least
#: this often (seconds) ...
REMOTE_HEARTBEAT = 30.0
#: ... so a remote job whose heartbeat is older than this has no kernel watching it.
REMOTE_STALE = 300.0


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


def reconcile(database: Database, record: JobRecord) -> JobRecord:
    """Mark a job failed when nothing will ever finish it.

    A local job whose worker process vanished without reporting is failed (this is how
    a kernel that did not start the job, or started it before a restart, learns that
    the worker was killed). An SSH job runs detached on its worker: any kernel of the
    owner re-attaches to it here (reads its progress or result, or fails it if its
    remote process is gone without a result). A Dask job, or an SSH job that never
    reached its worker, is followed by the kernel that submitted it; when that kernel's
    heartbeat stops for :data:`REMOTE_STALE` seconds, it is failed too.
    """
    if JobStatus(record.status).finished:
        return record
    if record.id in WATCHED_JOBS:
        return record  # our own child: its watcher knows how it ended and says so
    kind = backend_type(record.backend)
    if kind == "ssh" and record.pid is not None:
        return _reattach(database, record)
    if kind in ("ssh", "dask"):
        return _reconcile_remote(database, record)
    if kind != "local":
        return record  # a backend plugged in by code: it knows its own jobs
    if record.host != HOST or record.pid is None or pid_alive(record.pid):
        return record
    reason = (
        "cancelled; the worker process was stopped"
        if record.cancel_requested
        else f"the worker process (pid {record.pid}) ended without reporting a result: it "
        "was killed or crashed (out of memory?). See the log"
    )
    status = JobStatus.CANCELLED if record.cancel_requested else JobStatus.FAILED
    finish_job(database, record.id, status, error=None if record.cancel_requested else reason)
    return read_job(record.id, database, Identity(record.owner))


def _reattach(database: Database, record: JobRecord) -> JobRecord:
    """An SSH job runs detached on its worker: follow it from this process too.

    The backend starts a thread that reads the job's folder there (progress, or the
    result, or that the process is gone) and stores what it finds; this returns at
    once with the stored record. See :meth:`shiftdesk.jobs.ssh.SSHBackend.attach`.
    """
    from shiftdesk.jobs.backend import get_backend
    from shiftdesk.settings import SettingsError

    try:
        backend = get_backend(record.backend, database)
    except (KeyError, SettingsError):
        return record  # the backend is no longer configured here: nothing to ask
    attach = getattr(backend, "attach", None)
    if attach is None:
        return record
    attach(record.id)
    return read_job(record.id, database, Identity(record.owner))


def _reconcile_remote(database: Database, record: JobRecord) -> JobRecord:
    last = as_utc(record.heartbeat_at or record.started_at or record.created_at)
    if last is None or (utcnow() - last).total_seconds() < REMOTE_STALE:
        return record
    if record.cancel_requested:
        finish_job(database, record.id, JobStatus.CANCELLED)
    else:
        finish_job(
            database,
            record.id,
            JobStatus.FAILED,
            error=(
                f"no kernel has followed this {record.backend} job for "
                f"{REMOTE_STALE / 60:g} minutes (the kernel that submitted it stopped), so "
                "its result cannot arrive; resubmit it (job.resubmit())"
            ),
        )
    return read_job(record.id, database, Identity(record.owner))


_types_cache: tuple[object, dict[str, str]] | None = None


def backend_type(name: str) -> str | None:
    """``"local"``, ``"ssh"`` or ``"dask"`` for a backend name (None if unknown).

    ``"local"`` is built in; other names come from the settings file, re-read only
    when it changes.
    """
    global _types_cache
    if name == "local":
        return "local"
    from shiftdesk.settings import SettingsError, load_settings, settings_path

    path = settings_path()
    try:
        stamp: object = (path, path.stat().st_mtime_ns)
    except OSError:
        stamp = (path, None)
    if _types_cache is None or _types_cache[0] != stamp:
        try:
            types = {n: b.type for n, b in load_settings().backends.items()}
        except SettingsError:
            types = {}
        _types_cache = (stamp, types)
    return _types_cache[1].get(name)
