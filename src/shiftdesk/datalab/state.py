"""An operation's own row: its live state while it runs, and how it ends.

Job rows are their owner's alone, so someone who reads a shared session (a member, or
their dashboard) follows an operation through its row in ``datalab_operations``. The job
that runs the operation runs as the session's owner, who may write that row, so on the
backends whose worker has the database (``local`` and the ``workers`` service) the task
keeps it up to date itself (:class:`OperationRow`): ``running`` with its progress and
message at most every :data:`ROW_INTERVAL` seconds, then the final state, result and all
(:func:`settle`), without waiting for the owner's kernel. Elsewhere (SSH, Dask) the
owner's kernel copies the job's progress into the row whenever it reads the job, and
settles the operation from the job once it ended, as before.

Whoever comes first settles: :func:`settle` moves the row out of ``queued``/``running``
once, under a row lock, and a later attempt leaves it as it is. Progress writes never
touch a row that has ended.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from shiftdesk.datalab.records import OperationRecord, ResultRecord
from shiftdesk.errors import StorageError
from shiftdesk.storage import Database
from shiftdesk.tracking import ACTIVE, utcnow

#: least seconds between two writes of a running operation's progress into its row (a
#: member's dashboard reads the row every 0.25 s: a report shows within ~0.75 s)
ROW_INTERVAL = 0.5
#: job backends whose worker writes the operation's row itself (it has the database)
ROW_WRITING_BACKENDS = ("local", "workers")


def operation_id_of(spec: Mapping[str, Any]) -> int | None:
    """The id of the operation a job spec runs, from its results folder
    (``.../<key>.<operation id>``, see :func:`shiftdesk.datalab.cache.result_folder`);
    None when the folder is not one of an operation of ``spec["key"]``."""
    key = str(spec.get("key") or "")
    name = Path(str(spec.get("folder") or "")).name
    head, _, tail = name.rpartition(".")
    if not key or head != key or not tail.isdigit():
        return None
    return int(tail)


def settle(
    database: Database,
    operation_id: int,
    *,
    status: str,
    raw: Mapping[str, Any] | None = None,
    job_id: str | None = None,
    progress: float | None = None,
    error: str | None = None,
    error_field: str | None = None,
    finished_at: datetime | None = None,
) -> OperationRecord | None:
    """Move an operation to its final state (once); returns its row (None: it is gone).

    Parameters
    ----------
    status : str
        ``done`` (with ``raw``, the task's result), ``failed`` or ``cancelled``.
    raw : mapping, optional
        What the task returned (``result``, ``folder``, ``hashes``): stored as the
        result of the operation's key, unless an identical request stored one first (its
        files are then served, and this run's are removed).
    progress : float, optional
        How far a run that did not finish got.
    error, error_field : str, optional
        Why it failed (and the input it is about, ``""`` for the inputs as a whole).
    """

    def attempt() -> OperationRecord | None:
        return _settle_once(
            database,
            operation_id,
            status=status,
            raw=raw,
            job_id=job_id,
            progress=progress,
            error=error,
            error_field=error_field,
            finished_at=finished_at,
        )

    try:
        return attempt()
    except StorageError as exc:
        if not isinstance(exc.__cause__, IntegrityError):
            raise
        # another kernel settling a request joined to the same job stored the key's
        # result between our look and our insert: once more, and it is served
        return attempt()


def _settle_once(
    database: Database,
    operation_id: int,
    *,
    status: str,
    raw: Mapping[str, Any] | None,
    job_id: str | None,
    progress: float | None,
    error: str | None,
    error_field: str | None,
    finished_at: datetime | None,
) -> OperationRecord | None:
    from shiftdesk.datalab import cache

    with database.session() as s:
        row = s.get(OperationRecord, operation_id, with_for_update=True)
        if row is None:
            return None
        if row.status not in ACTIVE:
            s.expunge(row)
            return row
        row.finished_at = finished_at or utcnow()
        if status == "done" and raw is not None:
            stored = s.scalar(
                select(ResultRecord).where(
                    ResultRecord.owner == row.owner, ResultRecord.cache_key == row.cache_key
                )
            )
            if stored is None:
                folder = Path(raw["folder"])
                hashes = raw.get("hashes", {})
                stored = ResultRecord(
                    owner=row.owner,
                    cache_key=row.cache_key,
                    operation=row.operation,
                    version=row.version,
                    folder=str(folder),
                    result_json=json.dumps(raw["result"]),
                    hashes_json=json.dumps(hashes),
                    size=cache.tree_size(folder / p for p in hashes),
                    job_id=job_id,
                    created_at=utcnow(),
                )
                s.add(stored)
                s.flush()
            elif stored.folder != raw["folder"]:
                # an identical request finished first: serve its files, drop ours
                shutil.rmtree(raw["folder"], ignore_errors=True)
            row.result_id, row.folder = stored.id, stored.folder
            row.status, row.progress, row.message = "done", 1.0, "done"
        else:
            row.status = status if status in ("failed", "cancelled") else "failed"
            row.message = row.status
            if progress is not None:
                row.progress = progress  # how far it got
            if status == "failed":
                row.error, row.error_field = error or "the job failed", error_field
            elif status == "done":
                row.error = "the job ended without a result"
            if row.folder:
                # a worker that died halfway may have left files: they are nobody's
                shutil.rmtree(row.folder, ignore_errors=True)
        s.flush()
        s.expunge(row)
        return row


def write_progress(
    database: Database,
    operation_id: int | None,
    *,
    progress: float,
    message: str,
    key: str | None = None,
    job_id: str | None = None,
) -> int:
    """Write a running job's progress into the rows of the operations that follow it:
    ``operation_id`` (its job's id not yet recorded, or this job's) and those of the same
    key that follow job ``job_id`` (identical requests that joined it). Rows that ended
    are left alone. Returns how many rows took it."""
    targets = []
    if operation_id is not None:
        mine = [OperationRecord.id == operation_id]
        if key is not None:
            mine.append(OperationRecord.cache_key == key)
        if job_id is not None:
            # before the kernel records the job's id the row has none (the job starts at once)
            mine.append(or_(OperationRecord.job_id.is_(None), OperationRecord.job_id == job_id))
        targets.append(and_(*mine))
    if job_id is not None and key is not None:
        targets.append(and_(OperationRecord.job_id == job_id, OperationRecord.cache_key == key))
    if not targets:
        return 0
    with database.session() as s:
        done = s.execute(
            update(OperationRecord)
            .where(OperationRecord.status.in_(ACTIVE), or_(*targets))
            .values(status="running", progress=float(progress), message=message[:500])
            .execution_options(synchronize_session=False)
        )
        return int(getattr(done, "rowcount", 0) or 0)


class OperationRow:
    """The row of the operation a task runs, kept by the task (see the module docstring).

    Every write is best effort: a database that does not answer never fails the
    operation (the owner's kernel settles it from the job, as on any backend).

    Parameters
    ----------
    spec : mapping
        The job's spec (``key`` and ``folder`` name the operation).
    ctx : TaskContext
        The task's context; its ``database`` (a local or service worker's) is written.
    interval : float
        Least seconds between two progress writes (a report of 100 % always goes).
    """

    def __init__(self, spec: Mapping[str, Any], ctx: Any, interval: float = ROW_INTERVAL) -> None:
        database = getattr(ctx, "database", None)
        self.database: Database | None = database if isinstance(database, Database) else None
        self.id = operation_id_of(spec)
        self.key = str(spec.get("key") or "") or None
        job_id = getattr(ctx, "job_id", None)
        self.job_id = job_id if isinstance(job_id, str) else None
        self.interval = interval
        self.fraction = 0.0
        self._last = 0.0
        self._warned = False

    @property
    def active(self) -> bool:
        """Whether this task writes the row (it has the database and knows the row)."""
        return self.database is not None and (self.id is not None or self.job_id is not None)

    def report(self, fraction: float, message: str, *, force: bool = False) -> None:
        """Write progress (at most every ``interval`` seconds unless ``force``)."""
        self.fraction = max(0.0, min(1.0, float(fraction)))
        now = time.monotonic()
        if not self.active or (not force and fraction < 1.0 and now - self._last < self.interval):
            return
        self._last = now
        assert self.database is not None
        try:
            write_progress(
                self.database,
                self.id,
                progress=self.fraction,
                message=message,
                key=self.key,
                job_id=self.job_id,
            )
        except Exception as exc:  # never the operation's failure
            self._warn(exc)

    def settle(self, status: str, **fields: Any) -> OperationRecord | None:
        """Settle the operation (see :func:`settle`), then the identical requests that
        joined its job (they end as it ends); returns the operation's row, None when not
        written."""
        if self.database is None or self.id is None:
            return None
        fields.setdefault("job_id", self.job_id)
        row = self._settle_one(self.id, status, fields)
        if row is None or self.job_id is None or self.key is None:
            return row
        try:
            with self.database.session() as s:
                joined = s.scalars(
                    select(OperationRecord.id).where(
                        OperationRecord.job_id == self.job_id,
                        OperationRecord.cache_key == self.key,
                        OperationRecord.status.in_(ACTIVE),
                        OperationRecord.id != self.id,
                    )
                ).all()
        except Exception as exc:
            self._warn(exc)
            return row
        for other in joined:
            self._settle_one(other, status, fields)
        return row

    def _settle_one(
        self, operation_id: int, status: str, fields: dict[str, Any]
    ) -> OperationRecord | None:
        assert self.database is not None
        for attempt in range(2):
            try:
                return settle(self.database, operation_id, status=status, **fields)
            except Exception as exc:
                # an identical request's result stored at the same moment: the second
                # attempt finds it; otherwise the owner's kernel settles from the job
                if attempt:
                    self._warn(exc)
        return None

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            with contextlib.suppress(Exception):
                print(
                    f"datalab: cannot write operation {self.id}'s row ({exc}); its owner's "
                    "kernel updates it from the job",
                    file=sys.stderr,
                    flush=True,
                )
