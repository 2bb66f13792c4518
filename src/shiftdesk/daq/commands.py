"""Persisted DAQ commands: the record every observer reads, and the handle the caller gets.

A command (a transition of one or all servers, a run start or stop, the end-of-run file
organisation) is stored before anything is sent, updated per server as the calls return,
and finished once. Any process can follow it from the database. A command stored with a
plan is run by the process that executes commands (:mod:`shiftdesk.daq.execution`),
whatever becomes of the one that stored it; the process running a command keeps its id
in :data:`LIVE`, so a command whose runner died is recognised and closed.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from shiftdesk.daq.errors import CommandFailed, DAQStateError
from shiftdesk.daq.records import (
    CallRecord,
    CommandRecord,
    ExperimentRecord,
    LogRecord,
)
from shiftdesk.daq.snapshot import now, utc
from shiftdesk.display import escape, html_repr, table
from shiftdesk.errors import NotFound, StorageError
from shiftdesk.storage import Database
from shiftdesk.tracking import ACTIVE, HOST, TrackedHandle, pid_alive

#: Commands run by threads of this process (a crashed owner leaves its rows "running").
LIVE: set[str] = set()
_live_lock = threading.Lock()
#: Grace added to a command's own timeout before an observer declares it abandoned.
ABANDON_GRACE_S = 60.0


def create_command(
    database: Database,
    experiment_id: int,
    command: str,
    *,
    target: str,
    owner: str,
    timeout_s: float,
    steps: list[str],
    run_number: int | None = None,
    plan: dict[str, Any] | None = None,
) -> str:
    """Store a queued command with one pending step per server (or router) name.

    With a ``plan`` (see :mod:`shiftdesk.daq.execution`) the command belongs to the
    executor from the start; without one, this process drives it (a
    :class:`CommandWriter`) and counts as its owner.

    The steps are the devices the command needs to itself. The caller checked that no
    other command holds them; one that another process stored meanwhile is caught here,
    in the same transaction, and this command is refused. Claims of one experiment are
    serialised (SQLite's single writer; on PostgreSQL a row lock on the experiment), so
    of two commands sent at the same instant exactly one is stored.
    """
    command_id = uuid.uuid4().hex
    claimed = set(steps)
    if plan is not None:
        _store_command(
            database, experiment_id, command_id, command, target, owner, timeout_s, steps,
            run_number, claimed, json.dumps(plan),
        )  # fmt: skip
        return command_id
    with _live_lock:
        LIVE.add(command_id)
    try:
        _store_command(
            database, experiment_id, command_id, command, target, owner, timeout_s, steps,
            run_number, claimed, "",
        )  # fmt: skip
    except BaseException:
        with _live_lock:
            LIVE.discard(command_id)
        raise
    return command_id


def _store_command(
    database: Database,
    experiment_id: int,
    command_id: str,
    command: str,
    target: str,
    owner: str,
    timeout_s: float,
    steps: list[str],
    run_number: int | None,
    claimed: set[str],
    plan_json: str,
) -> None:
    with database.session() as session:
        # The claim check below must see every command stored before this one commits.
        # SQLite serialises writers; on PostgreSQL (read committed) two transactions
        # would each miss the other's uncommitted row, so lock the experiment's row
        # first: claims of one experiment queue there, and the second one, when it gets
        # the lock, reads the first one's committed command and is refused.
        if database.engine.dialect.name != "sqlite":  # SQLite has no row locks
            session.execute(
                select(ExperimentRecord.id)
                .where(ExperimentRecord.id == experiment_id)
                .with_for_update()
            )
        session.add(
            CommandRecord(
                id=command_id,
                experiment_id=experiment_id,
                command=command,
                target=target,
                owner=owner,
                status="queued",
                progress=0.0,
                message="queued",
                steps_json=json.dumps({name: {"status": "pending"} for name in steps}),
                run_number=run_number,
                timeout_s=timeout_s,
                plan_json=plan_json,
                # a planned command's process is its executor's, set when it is claimed
                host="" if plan_json else HOST,
                pid=None if plan_json else os.getpid(),
            )
        )
        session.flush()
        others = session.scalars(
            select(CommandRecord).where(
                CommandRecord.experiment_id == experiment_id,
                CommandRecord.status.in_(ACTIVE),
                CommandRecord.id != command_id,
            )
        ).all()
        for other in others:
            if claimed & set(json.loads(other.steps_json or "{}")):
                raise DAQStateError(
                    f"{command} refused: {other.command} (sent by {other.owner}) is in flight "
                    "on the same servers; wait for it to finish"
                )
        session.add(
            LogRecord(
                experiment_id=experiment_id,
                level="info",
                source=target,
                message=f"{command} requested",
                user=owner,
            )
        )


class CommandWriter:
    """What the thread running a command uses to report (thread-safe)."""

    def __init__(self, database: Database, command_id: str, experiment_id: int, owner: str):
        self.database = database
        self.id = command_id
        self.experiment_id = experiment_id
        self.owner = owner
        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)
        self._flushing = False
        self._pending: dict[str, dict[str, str]] = {}
        self._pending_calls: list[dict[str, Any]] = []

    def start(self, message: str = "running") -> None:
        """Mark the command running."""
        with self.database.session() as session:
            record = session.get(CommandRecord, self.id)
            assert record is not None
            record.status = "running"
            record.started_at = now()
            record.message = message

    def step(self, name: str, status: str, message: str = "") -> None:
        """Set one server's (or router's) step: pending, running, done, failed, skipped."""
        self.steps({name: (status, message)})

    def steps(
        self, updates: dict[str, tuple[str, str]], call: dict[str, Any] | None = None
    ) -> None:
        """Set several steps (and record an ECC call).

        Group commit: when many servers answer at once, the thread already writing takes
        the others' updates into its next transaction instead of each waiting its turn
        for the database lock.
        """
        at = now().isoformat()
        with self._lock:
            for name, (status, message) in updates.items():
                self._pending[name] = {"status": status, "message": message, "at": at}
            if call is not None:
                self._pending_calls.append(call)
            if self._flushing:
                return
            self._flushing = True
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._pending and not self._pending_calls:
                        return
                    updates, calls = self._pending, self._pending_calls
                    self._pending, self._pending_calls = {}, []
                self._write(updates, calls)
        finally:
            with self._lock:
                self._flushing = False
                self._flushed.notify_all()

    def _write(self, updates: dict[str, dict[str, str]], calls: list[dict[str, Any]]) -> None:
        with self.database.session() as session:
            record = session.get(CommandRecord, self.id)
            assert record is not None
            steps = json.loads(record.steps_json)
            steps.update(updates)
            record.steps_json = json.dumps(steps)
            finished = sum(
                1 for s in steps.values() if s["status"] in ("done", "failed", "skipped")
            )
            record.progress = finished / max(1, len(steps))
            session.add_all(self._call_record(**call) for call in calls)

    def flush(self) -> None:
        """Wait until every reported step is in the database."""
        with self._lock:
            while self._flushing:
                self._flushed.wait()
            if not self._pending and not self._pending_calls:
                return
            self._flushing = True
        self._drain()

    def progress(self, message: str, fraction: float | None = None) -> None:
        """Set the command's message (and progress)."""
        self.flush()
        with self.database.session() as session:
            record = session.get(CommandRecord, self.id)
            assert record is not None
            record.message = message
            if fraction is not None:
                record.progress = max(0.0, min(1.0, fraction))

    def _call_record(
        self,
        server: str,
        operation: str,
        started: datetime,
        duration_s: float,
        error: BaseException | None,
    ) -> CallRecord:
        code = getattr(error, "code", None)
        return CallRecord(
            experiment_id=self.experiment_id,
            command_id=self.id,
            server=server,
            operation=operation,
            owner=self.owner,
            ok=error is None,
            error_code=code if isinstance(code, int) else None,
            message="" if error is None else str(error)[:4000],
            started_at=started,
            duration_s=duration_s,
        )

    def log(self, message: str, level: str = "info", source: str = "") -> None:
        """Add an entry to the shift log."""
        write_log(self.database, self.experiment_id, message, level, source, self.owner)

    def finish(self, ok: bool, message: str, error: str | None = None) -> None:
        """Close the command once (done or failed) and log the outcome."""
        self.flush()
        with self.database.session() as session:
            record = session.get(CommandRecord, self.id)
            assert record is not None
            if record.status not in ACTIVE:
                return
            record.status = "done" if ok else "failed"
            steps = json.loads(record.steps_json or "{}")
            for step in steps.values():  # e.g. a refused Start sends nothing at all
                if step.get("status") == "pending":
                    step.update(status="skipped", message="not sent")
            record.steps_json = json.dumps(steps)
            record.finished_at = now()
            record.message = message
            record.error = error
            if ok:
                record.progress = 1.0
            session.add(
                LogRecord(
                    experiment_id=self.experiment_id,
                    level="info" if ok else "error",
                    source=record.target,
                    message=f"{record.command}: {message}" + (f" — {error}" if error else ""),
                    user=self.owner,
                )
            )
        with _live_lock:
            LIVE.discard(self.id)


def write_log(
    database: Database,
    experiment_id: int,
    message: str,
    level: str = "info",
    source: str = "",
    user: str = "",
) -> None:
    """Add an entry to the shift log panel."""
    with database.session() as session:
        session.add(
            LogRecord(
                experiment_id=experiment_id,
                level=level,
                source=source[:128],
                message=message,
                user=user,
            )
        )


def reconcile(database: Database, record: CommandRecord) -> bool:
    """Close a command whose owner is gone; True if it is still active.

    A planned command is over when no process executes commands to claim it, or the one
    that claimed it ended or stopped reporting (:func:`~shiftdesk.daq.execution.executor_problem`);
    its sender's fate does not matter. Any command is over after its timeout.
    """
    if record.status not in ACTIVE:
        return False
    reason = None
    if record.host == HOST and record.pid is not None and record.pid == os.getpid():
        if record.id not in LIVE:
            reason = "its controller in this process stopped before it finished"
    elif record.plan_json:
        from shiftdesk.daq.execution import executor_problem

        reason = executor_problem(database, record)
    elif record.host == HOST and record.pid is not None and not pid_alive(record.pid):
        reason = f"the process that ran it (pid {record.pid}) ended before it finished"
    started = utc(record.started_at or record.created_at)
    if reason is None and started is not None:
        limit = timedelta(seconds=record.timeout_s + ABANDON_GRACE_S)
        if now() - started > limit:
            reason = f"no outcome within its {record.timeout_s:g} s timeout"
    if reason is None:
        return True
    try:
        # Only the row as judged: a claim or a heartbeat that landed meanwhile wins.
        with database.session() as session:
            session.execute(
                update(CommandRecord)
                .where(
                    CommandRecord.id == record.id,
                    CommandRecord.status == record.status,
                    CommandRecord.host == record.host,
                    CommandRecord.pid == record.pid
                    if record.pid is not None
                    else CommandRecord.pid.is_(None),
                    CommandRecord.heartbeat_at == record.heartbeat_at
                    if record.heartbeat_at is not None
                    else CommandRecord.heartbeat_at.is_(None),
                )
                .values(status="failed", finished_at=now(), error=f"abandoned: {reason}",
                        message="abandoned")
            )  # fmt: skip
    except StorageError:
        # an observer whose account may not write the DAQ (a hub user server): the
        # gate or the poller closes it; for this observer it is over either way
        pass
    return False


def active_commands(database: Database, experiment_id: int) -> list[CommandRecord]:
    """Commands still queued or running for the experiment (owners checked)."""
    with database.session() as session:
        records = list(
            session.scalars(
                select(CommandRecord).where(
                    CommandRecord.experiment_id == experiment_id,
                    CommandRecord.status.in_(ACTIVE),
                )
            )
        )
        for r in records:
            session.expunge(r)
    return [r for r in records if reconcile(database, r)]


@dataclass(frozen=True)
class Step:
    """One server's (or router's) part of a command."""

    name: str
    status: str
    message: str


class CommandHandle(TrackedHandle[CommandRecord]):
    """A command as stored: follow it from any process; :meth:`wait` blocks until it ends.

    Parameters
    ----------
    command_id : str
        The command's id.
    database : Database
        Where it is stored.
    """

    def __init__(self, command_id: str, database: Database) -> None:
        self.id = command_id
        self.database = database
        self._record = self._read()

    def _read(self) -> CommandRecord:
        with self.database.session() as session:
            record = session.get(CommandRecord, self.id)
            if record is None:
                raise NotFound(f"no DAQ command with id {self.id!r}")
            session.expunge(record)
        return record

    def _reconcile(self, record: CommandRecord) -> CommandRecord:
        if record.status in ACTIVE and not reconcile(self.database, record):
            return self._read()
        return record

    def _label(self) -> str:
        return f"DAQ command {self.command} ({self.id[:8]})"

    def _repr_head(self) -> str:
        return f"DAQ command {self.command} → {self.target}"

    def refresh(self) -> CommandHandle:
        """Re-read the stored command (and notice an owner that died)."""
        return super().refresh()

    @property
    def command(self) -> str:
        """What was asked: ``"Configure"``, ``"Start run"``, ``"Organize files"``."""
        return self._record.command

    @property
    def target(self) -> str:
        """``"all"`` or the server/router it was sent to."""
        return self._record.target

    @property
    def owner(self) -> str:
        """Who sent it."""
        return self._record.owner

    @property
    def status(self) -> str:
        """queued, running, done or failed (as of the last :meth:`refresh`)."""
        return self._record.status

    @property
    def ok(self) -> bool:
        """Finished without error."""
        return self.status == "done"

    @property
    def run_number(self) -> int | None:
        """The run this command starts or stops (if any)."""
        return self._record.run_number

    @property
    def steps(self) -> list[Step]:
        """Per-server (or per-router) steps in order."""
        raw: dict[str, dict[str, Any]] = json.loads(self._record.steps_json or "{}")
        return [Step(k, v.get("status", ""), v.get("message", "")) for k, v in raw.items()]

    def wait(
        self, timeout: float | None = None, poll: float = 0.05, *, check: bool = True
    ) -> CommandHandle:
        """Block until the command has finished (for scripts and tests).

        Raises
        ------
        CommandFailed
            If it failed and ``check`` is true (the message names the failing steps).
        JobTimeout
            If it is still running after ``timeout`` seconds.
        """
        super().wait(timeout, poll)
        if check and not self.ok:
            error = self.error or ""
            failed = [
                f"{s.name}: {s.message}"
                for s in self.steps
                if s.status == "failed" and f"{s.name}: {s.message}" not in error
            ]  # the reasons of a failed phase are its error already: said once
            raise CommandFailed(
                f"{self.command} failed: {self.error}"
                + ("\n  " + "\n  ".join(failed) if failed else "")
            )
        return self

    def _repr_html_(self) -> str:
        rows = [(s.name, s.status, s.message) for s in self.steps]
        body = table([("status", self.status), ("message", self.message)])
        if self.error:
            body += f"<div class='sd-bad'>{escape(self.error)}</div>"
        body += table(rows, ["step", "status", "message"])
        return html_repr("DAQ command", f"{self.command} → {self.target}", repr(self), body)
