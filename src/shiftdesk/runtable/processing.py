"""Processing runs: a persisted job per run, at most ``concurrent_jobs`` at once.

:func:`mark_queued` puts runs in the queue (in the caller's write transaction);
:func:`dispatch` hands queued runs to jobs while slots are free. Each job
(:func:`process_run`, job kind ``runtable.process``) executes the context file for its
run in a separate process, merges the full results into the run's HDF5 file, writes
the cells, and dispatches the next queued runs of its table, so a queue drains without
anyone watching it. A run is never processed by two jobs at once: dispatching claims it
(``queued`` → ``submitted``) in the table's write transaction, and a job only works on
the run while its ticket is the run's.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shiftdesk.errors import JobError, StorageError
from shiftdesk.identity import SYSTEM, Identity
from shiftdesk.jobs.tasks import TaskContext
from shiftdesk.runtable import store as rstore
from shiftdesk.runtable.records import RunRecord, RunTableRecord
from shiftdesk.storage import Database
from shiftdesk.storage.database import default_database_url
from shiftdesk.tracking import TrackedHandle, utcnow

if TYPE_CHECKING:
    from shiftdesk.runtable.metadata import RunMetadata
    from shiftdesk.runtable.table import RunTable

#: the job kind processing one run
JOB_KIND = "runtable.process"
#: run states that hold or wait for a slot
WAITING = ("queued", "submitted", "running")
#: seconds a processing job waits for SQLite's write lock before giving up
JOB_BUSY_TIMEOUT = 60.0
#: at most this many runs are submitted by one dispatch (the rest by the next one)
_BATCH = 200


def mark_queued(
    session: Session,
    table: rstore.Snapshot,
    runs: Iterable[int],
    seq: int,
    variables: list[str] | None,
    params: dict[str, Any] | None,
) -> None:
    """Queue runs for processing (inside a :func:`store.write` transaction).

    A run already queued gets the new request; one being processed is processed again
    once its job ends (``again``), so the newest context and request always win.
    """
    request = {"variables": variables, "params": params or {}}
    now = utcnow()
    numbers = list(runs)
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        rows = session.scalars(
            select(RunRecord).where(RunRecord.table_id == table.id, RunRecord.run.in_(chunk))
        ).all()
        for row in rows:
            if row.status in ("submitted", "running"):
                pending = json.loads(row.requested_json or "{}")
                pending["again"] = request
                row.requested_json = json.dumps(pending)
            else:
                row.status = "queued"
                row.message = "waiting for a free slot"
                row.requested_json = json.dumps(request)
                row.job_id = None
                row.status_at = now
            row.seq = seq


def dispatch(database: Database, table_id: int, backend: Any = None) -> list[int]:
    """Submit jobs for queued runs while the table has free slots; returns those submitted."""
    from shiftdesk.jobs.submit import submit_job

    if not _work_waiting(database, table_id):
        return []  # the usual case for a viewer's poll: no lock taken, no change announced
    with rstore.write(database, table_id) as (s, seq):
        table = rstore.Snapshot.of(_table_record(s, table_id))
        busy = s.scalar(
            select(func.count()).where(
                RunRecord.table_id == table_id, RunRecord.status.in_(("submitted", "running"))
            )
        )
        free = max(0, table.concurrent_jobs - int(busy or 0))
        if free == 0:
            return []
        rows = s.scalars(
            select(RunRecord)
            .where(RunRecord.table_id == table_id, RunRecord.status == "queued")
            .order_by(RunRecord.status_at, RunRecord.run)
            .limit(min(free, _BATCH))
        ).all()
        claimed: list[tuple[int, str, dict[str, Any]]] = []
        for row in rows:
            ticket = uuid.uuid4().hex
            request = json.loads(row.requested_json or "{}")
            request["ticket"] = ticket
            row.requested_json = json.dumps(request)
            row.status = "submitted"
            row.message = "starting"
            row.status_at = utcnow()
            row.seq = seq
            claimed.append((row.run, ticket, request))
    if not claimed:
        return []
    runner = backend if backend is not None else _backend(database, table.backend)
    owner = Identity(table.owner)
    started: dict[int, str] = {}
    for run, ticket, request in claimed:
        spec = {
            "table_id": table_id,
            "table": table.name,
            "run": run,
            "ticket": ticket,
            "variables": request.get("variables"),
            "params": request.get("params") or {},
        }
        try:
            job = submit_job(
                JOB_KIND, spec, title=f"{table.name} run {run}", backend=runner,
                database=database, identity=owner,
            )  # fmt: skip
        except StorageError as exc:  # e.g. the database stayed locked: the next dispatch retries
            _finish(database, table_id, run, ticket, "queued", f"waiting to start again ({exc})")
            continue
        except Exception as exc:
            _finish(database, table_id, run, ticket, "failed", f"could not start a job: {exc}")
            continue
        started[run] = job.id
    if started:
        # one write for all the jobs' ids (the jobs store theirs too once they run)
        with rstore.write(database, table_id) as (s, seq):
            for run, job_id in started.items():
                s.execute(
                    update(RunRecord)
                    .where(
                        RunRecord.table_id == table_id,
                        RunRecord.run == run,
                        RunRecord.job_id.is_(None),
                    )
                    .values(job_id=job_id, seq=seq)
                )
    return sorted(started)


def _work_waiting(database: Database, table_id: int) -> bool:
    """Whether the table has queued runs and a free slot (one read, no lock)."""
    with database.engine.connect() as conn:
        row = conn.execute(
            select(
                func.count().filter(RunRecord.status == "queued"),
                func.count().filter(RunRecord.status.in_(("submitted", "running"))),
                RunTableRecord.concurrent_jobs,
            )
            .select_from(RunTableRecord)
            .join(RunRecord, RunRecord.table_id == RunTableRecord.id, isouter=True)
            .where(RunTableRecord.id == table_id)
            .group_by(RunTableRecord.concurrent_jobs)
        ).first()
    if row is None:
        return False
    queued, busy, cap = row
    return bool(queued) and int(busy or 0) < int(cap)


def _table_record(s: Session, table_id: int) -> Any:
    from shiftdesk.runtable.records import RunTableRecord

    record = s.get(RunTableRecord, table_id)
    if record is None:
        raise JobError(f"run table #{table_id} is gone")
    return record


def _backend(database: Database, name: str) -> Any:
    """The backend jobs of a table start on, from this process.

    A service on a shared database (the gate acting for an editor, the DAQ's executor)
    never runs a user's context file itself: its jobs go to the job-worker service,
    which runs each as the table's owner, with the owner's rights.
    """
    from shiftdesk.jobs.backend import get_backend

    name = name or "local"
    if name == "local" and database.engine.dialect.name == "postgresql":
        from shiftdesk.storage.boundary import is_user_role

        if not is_user_role(database):
            name = "workers"
    return get_backend(name, database)


def reconcile(database: Database, table_id: int) -> int:
    """Free the slots of runs whose job ended without saying so (killed, lost).

    Returns how many runs were closed.
    """
    from shiftdesk.jobs.job import Job

    with database.session() as s:
        rows = s.execute(
            select(RunRecord.run, RunRecord.job_id, RunRecord.requested_json).where(
                RunRecord.table_id == table_id, RunRecord.status.in_(("submitted", "running"))
            )
        ).all()
    closed = 0
    for run, job_id, requested in rows:
        if not job_id:
            continue
        try:
            job = Job(job_id, database, SYSTEM).refresh()
        except Exception:  # the job row is gone: its run cannot finish any more
            job = None
        if job is not None and not job.finished:
            continue
        status = "cancelled" if job is not None and job.status.value == "cancelled" else "failed"
        reason = (job.error if job is not None else None) or "its job ended without a result"
        ticket = json.loads(requested or "{}").get("ticket", "")
        if _finish(database, table_id, run, ticket, status, f"the job ended: {reason}"):
            closed += 1
    return closed


def _finish(
    database: Database, table_id: int, run: int, ticket: str, status: str, message: str
) -> bool:
    """End a run's processing if ``ticket`` still holds it; a newer request queues it again."""
    with rstore.write(database, table_id) as (s, seq):
        row = s.get(RunRecord, (table_id, run))
        if row is None:
            return False
        request = json.loads(row.requested_json or "{}")
        if request.get("ticket") != ticket or row.status not in ("submitted", "running"):
            return False
        again = request.get("again")
        if status == "queued":
            row.status, row.message, row.job_id = "queued", message, None
        elif again is not None and status != "cancelled":
            row.status, row.message = "queued", f"{message}; again as asked meanwhile"
            row.requested_json = json.dumps(again)
        else:
            row.status, row.message = status, message
        row.status_at = utcnow()
        row.seq = seq
        return True


def cancel(database: Database, table: rstore.Snapshot, runs: list[int] | None) -> list[int]:
    """Cancel queued runs and ask running jobs to stop."""
    from shiftdesk.jobs.job import Job

    stopping: list[tuple[int, str | None]] = []
    affected: list[int] = []
    with rstore.write(database, table.id) as (s, seq):
        query = select(RunRecord).where(
            RunRecord.table_id == table.id, RunRecord.status.in_(WAITING)
        )
        if runs is not None:
            query = query.where(RunRecord.run.in_(runs))
        for row in s.scalars(query):
            affected.append(row.run)
            if row.status == "queued":
                row.status, row.message = "cancelled", "cancelled before it started"
            else:
                request = json.loads(row.requested_json or "{}")
                request.pop("again", None)
                row.requested_json = json.dumps(request)
                row.message = "stopping"
                stopping.append((row.run, row.job_id))
            row.status_at = utcnow()
            row.seq = seq
    for _run, job_id in stopping:
        if job_id:
            try:
                Job(job_id, database, SYSTEM).cancel()
            except Exception:  # already finished: reconcile closes the run
                continue
    reconcile(database, table.id)
    return sorted(affected)


def run_log(database: Database, table_id: int, run: int) -> str:
    """The log of a run's latest job."""
    from shiftdesk.jobs.job import Job

    with database.session() as s:
        row = s.get(RunRecord, (table_id, run))
        job_id = row.job_id if row is not None else None
        message = row.message if row is not None else ""
    if not job_id:
        return message or ""
    try:
        return Job(job_id, database, SYSTEM).logs()
    except Exception as exc:  # the job row was purged: say so instead of failing the view
        return f"(the log of job {job_id} is not available: {exc})"


class RunProcessing(TrackedHandle[Any]):
    """The processing of one run of a table: status, result, cancel and log.

    ``status`` is ``queued`` (waiting for a slot or starting), ``running``, ``done``,
    ``failed`` or ``cancelled``.
    """

    def __init__(self, table: RunTable, run: int) -> None:
        self.table = table
        self.run = run
        self.id = f"{table.name}:{run}"
        self.refresh()

    def _read(self) -> Any:
        with self.table.database.session() as s:
            row = s.get(RunRecord, (self.table.id, self.run))
            if row is None:
                from shiftdesk.errors import NotFound

                raise NotFound(f"run table {self.table.name!r} has no run {self.run}")
            s.expunge(row)
            return row

    def _label(self) -> str:
        return f"processing of run {self.run} of {self.table.name!r}"

    def _timeout_hint(self) -> str:
        return "wait longer, or look at .logs() and the table's concurrent_jobs"

    @property
    def _status(self) -> str:
        status = str(self._record.status or "")
        return "queued" if status == "submitted" else status

    @property
    def status(self) -> str:
        """queued, running, done, failed or cancelled."""
        return self._status

    @property
    def finished(self) -> bool:
        """True once the run's processing ended."""
        return self._record.status not in WAITING

    @property
    def message(self) -> str:
        """What the processing says about itself."""
        return str(self._record.message or "")

    @property
    def error(self) -> str | None:
        """Why it failed."""
        return self.message if self._record.status == "failed" else None

    @property
    def job_id(self) -> str | None:
        """The job doing the work (None while waiting for a slot)."""
        return self._record.job_id

    @property
    def job(self) -> Any:
        """The :class:`~shiftdesk.jobs.Job` doing the work, when it has one."""
        from shiftdesk.jobs.job import Job

        return Job(self.job_id, self.table.database, SYSTEM) if self.job_id else None

    def logs(self) -> str:
        """The job's log so far."""
        return run_log(self.table.database, self.table.id, self.run)

    def cancel(self) -> None:
        """Stop it (a queued run never starts)."""
        self.table.cancel([self.run])

    def result(self, timeout: float | None = None) -> RunMetadata:
        """Wait until the run is processed and return its row.

        Raises
        ------
        JobError
            The processing failed (with the reason and the end of the log) or was
            cancelled. Cells that failed on their own do not fail the run: see
            ``RunMetadata.errors``.
        JobTimeout
            Not finished within ``timeout`` seconds.
        """
        self.wait(timeout)
        if self._record.status == "failed":
            tail = "\n".join(self.logs().strip().splitlines()[-15:])
            raise JobError(
                f"run {self.run} of {self.table.name!r} failed: {self.message}"
                + (f"\n--- end of log ---\n{tail}" if tail else "")
            )
        if self._record.status == "cancelled":
            raise JobError(f"the processing of run {self.run} was cancelled")
        metadata = self.table[self.run]
        assert not isinstance(metadata, tuple)
        return metadata  # type: ignore[return-value]


# -- the job ------------------------------------------------------------------------------------
def process_run(spec: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Job kind ``runtable.process``: compute one run's variables and store them."""
    from shiftdesk.runtable.context.engine import run_context
    from shiftdesk.runtable.h5store import merge_fragment

    # background work can wait for a busy database longer than a person at a dashboard
    database = Database(default_database_url(), busy_timeout=JOB_BUSY_TIMEOUT)
    table_id, run, ticket = int(spec["table_id"]), int(spec["run"]), str(spec["ticket"])
    with rstore.write(database, table_id) as (s, seq):
        table = rstore.Snapshot.of(_table_record(s, table_id))
        row = s.get(RunRecord, (table_id, run))
        holds = row is not None and json.loads(row.requested_json or "{}").get("ticket") == ticket
        if not holds or row is None or row.status != "submitted":
            return {"run": run, "skipped": "a newer request took this run over"}
        row.status, row.message, row.status_at, row.seq = "running", "running", utcnow(), seq
        row.job_id = getattr(ctx, "job_id", row.job_id)
    try:
        run_path = Path(table.data_template.format(run=run))
        if not run_path.exists():
            message = (
                f"run {run}'s data folder {run_path} does not exist (data template "
                f"{table.data_template!r}); check the template, or process the run once its "
                "data are written"
            )
            ctx.log(message)
            _finish(database, table_id, run, ticket, "failed", message)
            return {"run": run, "error": message}
        folder = Path(table.folder)
        work = folder / ".shiftdesk"
        work.mkdir(parents=True, exist_ok=True)
        context = work / f"context-v{table.context_version}.py"
        if not context.exists():
            temporary = work / f".context-{os.getpid()}.tmp"
            temporary.write_text(table.context_text, encoding="utf-8")
            os.replace(temporary, context)
        fragment = work / f"r{run:04d}-{ticket}.h5"
        ctx.log(f"run {run}: context v{table.context_version}, data {run_path}")
        outcome = run_context(
            context,
            run=run,
            run_path=run_path,
            proposal=table.name,
            variables=spec.get("variables"),
            params=spec.get("params") or {},
            fragment=fragment,
            timeout=table.time_limit_s,
            log=ctx.log,
            cancelled=ctx.cancelled,
        )
        if outcome.fragment is not None and Path(outcome.fragment).exists():
            merge_fragment(outcome.fragment, folder / f"r{run:04d}.h5")
            Path(outcome.fragment).unlink(missing_ok=True)
        stored = _store_cells(database, table, run, outcome)
        errors = sum(1 for c in outcome.cells.values() if c.kind == "error")
        if ctx.cancelled():
            status, message = "cancelled", f"stopped after {outcome.seconds:.1f} s"
        elif outcome.error:
            status, message = "failed", outcome.error
        else:
            status = "done"
            message = f"{stored} values in {outcome.seconds:.1f} s" + (
                f", {errors} with errors" if errors else ""
            )
        ctx.log(f"run {run}: {status}: {message}")
        _finish(database, table_id, run, ticket, status, message)
        return {"run": run, "values": stored, "errors": errors, "seconds": outcome.seconds,
                "status": status}  # fmt: skip
    except BaseException as exc:
        _finish(database, table_id, run, ticket, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _next(database, table)


def _next(database: Database, table: rstore.Snapshot) -> None:
    """Hand the freed slot to the next queued run (from the worker, without a spare)."""
    from shiftdesk.jobs.local import LocalBackend

    backend: Any = LocalBackend(database, spare=False) if table.backend == "local" else None
    try:
        dispatch(database, table.id, backend)
    except Exception as exc:  # the run is stored; the next dispatch (any viewer) picks up
        print(f"could not start the next queued run of {table.name!r}: {exc}", flush=True)


def _store_cells(database: Database, table: rstore.Snapshot, run: int, outcome: Any) -> int:
    """Write the computed cells (replacing the previous ones of those variables)."""
    from shiftdesk.runtable.table import store_context_variables

    now = utcnow()
    who = f"context v{table.context_version}"
    rows = []
    for name, cell in outcome.cells.items():
        attributes = dict(cell.attributes or {})
        text = cell.text
        if cell.kind in ("thumbnail", "sparkline"):
            text = f"<{cell.kind}>"
        if cell.kind in ("error", "skipped"):
            text = None
        rows.append(
            rstore.value_row(
                table, run, name, cell.kind, cell.number, text, provenance="context", who=who,
                at=now, seq=0, blob=cell.blob, max_diff=cell.max_diff, attributes=attributes,
            )
        )  # fmt: skip
    with rstore.write(database, table.id) as (s, seq):
        store_context_variables(s, table, outcome.variables, seq)
        for row in rows:
            row["seq"] = seq
        rstore.upsert_values(s, rows)
        s.execute(
            update(RunRecord)
            .where(RunRecord.table_id == table.id, RunRecord.run == run)
            .values(seq=seq)
        )
    return len(rows)
