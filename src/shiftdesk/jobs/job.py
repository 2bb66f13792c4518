"""A handle on a persisted job: status, progress, log, result, cancel."""

from __future__ import annotations

import json
from typing import Any

from shiftdesk.display import html_repr, table
from shiftdesk.errors import JobError
from shiftdesk.identity import Identity, current_identity
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import get_backend, reconcile
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.tasks import get_kind
from shiftdesk.storage import Database, JobRecord, get_database
from shiftdesk.tracking import TrackedHandle


class Job(TrackedHandle[JobRecord]):
    """A job stored in the database, seen from any kernel.

    Parameters
    ----------
    job_id : str
        The job's id.
    database : Database, optional
        Where the job lives (default: the default database).
    identity : Identity, optional
        Who is asking (default: the current user); others' jobs are refused.
    """

    def __init__(
        self, job_id: str, database: Database | None = None, identity: Identity | None = None
    ) -> None:
        db = database or get_database()
        who = identity or current_identity()
        self._bind(store.read_job(job_id, db, who), db, who)

    def _bind(self, record: JobRecord, database: Database, identity: Identity) -> None:
        self.id = record.id
        self.database = database
        self.identity = identity
        self._record: JobRecord = record
        self._decoded: Any = None

    @classmethod
    def _from_record(cls, record: JobRecord, database: Database, identity: Identity) -> Job:
        """A handle on a row already read (and permission-checked) by a listing."""
        job = cls.__new__(cls)
        job._bind(reconcile(database, record), database, identity)
        return job

    # -- state ---------------------------------------------------------------------------
    def _read(self) -> JobRecord:
        return store.read_job(self.id, self.database, self.identity)

    def _reconcile(self, record: JobRecord) -> JobRecord:
        return reconcile(self.database, record)

    def _label(self) -> str:
        return f"job {self.id}"

    def _repr_head(self) -> str:
        return f"Job {self.id[:8]} {self.kind}"

    def _timeout_hint(self) -> str:
        return "wait longer or cancel() it"

    def refresh(self) -> Job:
        """Re-read the job from the database (and notice a vanished worker)."""
        return super().refresh()

    @property
    def status(self) -> JobStatus:
        """The status as of the last :meth:`refresh`."""
        return JobStatus(self._record.status)

    @property
    def kind(self) -> str:
        """What the job does, e.g. ``"reflectometry.fit"``."""
        return self._record.kind

    @property
    def owner(self) -> str:
        """The user who submitted the job."""
        return self._record.owner

    @property
    def title(self) -> str:
        """A short description given at submission."""
        return self._record.title

    @property
    def backend(self) -> str:
        """Name of the backend that runs the job."""
        return self._record.backend

    @property
    def metrics(self) -> dict[str, float]:
        """Latest numbers reported by the task (e.g. ``chi2``, ``step``)."""
        return dict(json.loads(self._record.metrics_json or "{}"))

    @property
    def spec(self) -> dict[str, Any]:
        """What the job was asked to do (the JSON sent to the worker)."""
        return dict(json.loads(self._record.spec_json))

    def logs(self) -> str:
        """The job's log: messages from the task and the worker's output."""
        self.refresh()
        try:
            backend = get_backend(self.backend, self.database)
        except KeyError:
            return self._record.log or ""
        return backend.logs(self.id)

    # -- control -------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it ends as cancelled (keeping any partial log)."""
        if self.refresh().finished:
            return
        get_backend(self.backend, self.database).cancel(self.id)
        self.refresh()

    def resubmit(self, backend: str | None = None) -> Job:
        """Start the same work again as a new job (e.g. after its backend went away).

        Parameters
        ----------
        backend : str, optional
            Where to run it (default: the same backend as this job).
        """
        from shiftdesk.jobs.submit import submit_job

        return submit_job(
            self.kind,
            self.spec,
            title=self.title,
            backend=backend or self.backend,
            database=self.database,
            identity=self.identity,
        )

    def wait(self, timeout: float | None = None, poll: float = 0.05) -> Job:
        """Block until the job is finished (or ``timeout`` seconds pass).

        Raises
        ------
        JobTimeout
            If it is still queued or running after ``timeout`` seconds.
        """
        return super().wait(timeout, poll)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job and return its result object.

        Raises
        ------
        JobError
            If the job failed (with the reason and the end of its log) or was cancelled.
        JobTimeout
            If it did not finish within ``timeout`` seconds.
        """
        self.wait(timeout)
        if self.status is JobStatus.FAILED:
            tail = "\n".join(self.logs().strip().splitlines()[-15:])
            raise JobError(f"job {self.id} failed: {self.error}\n--- end of log ---\n{tail}")
        if self.status is JobStatus.CANCELLED:
            raise JobError(f"job {self.id} was cancelled; it has no result")
        if self._decoded is None:
            if self._record.result_json is None:
                raise JobError(f"job {self.id} is done but stored no result")
            raw = json.loads(self._record.result_json)
            self._decoded = get_kind(self.kind).decode_result(raw)
        return self._decoded

    # -- display -------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        runtime = self.runtime
        rows = [
            ("id", self.id),
            ("kind", self.kind),
            ("owner", self.owner),
            ("status", self.status.value),
            ("progress", f"{self.progress:.0%} {self.message}"),
            ("backend", self.backend),
            ("runtime", "" if runtime is None else f"{runtime:.1f} s"),
        ]
        if self.error:
            rows.append(("error", self.error))
        return html_repr("Job", self.title or self.kind, repr(self), table(rows))

    def widget(self) -> Any:
        """A live progress view with a Stop button (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)


def list_jobs(
    *,
    kind: str | None = None,
    limit: int = 100,
    database: Database | None = None,
    identity: Identity | None = None,
    all_users: bool = False,
) -> list[Job]:
    """The current user's jobs, newest first."""
    db = database or get_database()
    who = identity or current_identity()
    records = store.list_jobs(db, who, kind=kind, limit=limit, all_users=all_users)
    return [Job._from_record(record, db, who) for record in records]
