"""Tracked work: persisted, observable records and the handle every caller follows them with.

Jobs, DAQ commands and whatever comes next (extractions, submissions, operations) share
one life: a row is stored ``queued``, its owner process (``host``, ``pid``) moves it to
``running`` and reports ``progress`` and a ``message``, and it ends once (``done``,
``failed`` or ``cancelled``, with an ``error``). Any process can follow it from the
database. This module holds that shape once:

- :func:`utcnow`, the one clock (timezone-aware UTC) every stored time comes from, and
  :func:`as_utc` to read stored times back (SQLite drops time zones);
- :data:`HOST` and :func:`pid_alive`, to tell whether a record's owner still runs;
- :class:`TrackedColumns` (and :class:`HeartbeatColumn`), the SQLAlchemy mixin with the
  columns every tracked table has;
- :class:`TrackedHandle`, the base of the handles users get (``refresh``, ``wait``,
  ``repr``, owner liveness).

It depends on nothing else of shiftdesk but the error classes, so the storage layer and
every domain can build on it.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.errors import JobTimeout

#: This machine's name, as stored in a record's ``host`` by the process that owns it.
HOST = socket.gethostname()
#: Statuses of work that has not ended yet.
ACTIVE = ("queued", "running")
#: Statuses of work that has ended (each record reaches one of them once).
FINISHED = ("done", "failed", "cancelled")


def utcnow() -> datetime:
    """Timezone-aware now (UTC): the only clock stored records use."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as timezone-aware UTC (SQLite drops time zones: naive means UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another account
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # the name (in parentheses) may itself hold ") ": the state follows the last
            return handle.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def owner_alive(host: str | None, pid: int | None) -> bool | None:
    """Whether the process that owns a record still runs.

    True or False when the owner is a process of this host; None when this process
    cannot tell (no owner recorded yet, or another host's).
    """
    if not host or host != HOST or pid is None:
        return None
    return pid_alive(pid)


def seconds_since(value: datetime | None) -> float | None:
    """Seconds from a stored time to now (None for no time)."""
    when = as_utc(value)
    return None if when is None else (utcnow() - when).total_seconds()


class TrackedColumns:
    """The columns of every tracked table (a declarative mixin: ``class X(TrackedColumns, Base)``).

    ``status`` is one of :data:`ACTIVE` or :data:`FINISHED`; ``progress`` a fraction in
    [0, 1]; ``message`` the latest progress message; ``error`` why it failed; ``host``
    and ``pid`` the process that owns the work; ``created_at``, ``started_at``,
    ``finished_at`` from :func:`utcnow`. A table whose ``host`` has another declaration
    (e.g. not nullable) declares it itself.
    """

    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HeartbeatColumn:
    """``heartbeat_at``: refreshed by whoever follows work that runs out of sight (mixin)."""

    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


RecordT = TypeVar("RecordT")
HandleT = TypeVar("HandleT", bound="TrackedHandle[Any]")


class TrackedHandle(Generic[RecordT]):
    """A handle on a tracked record: what users get back from a job, a command, ...

    Subclasses say how to read their record (:meth:`_read`, with any permission check),
    how to notice an owner that is gone (:meth:`_reconcile`) and what to call
    themselves (:meth:`_label`, :meth:`_repr_head`). The state properties read the
    record as of the last :meth:`refresh`.
    """

    id: str
    _record: RecordT

    # -- for subclasses ------------------------------------------------------------------
    def _read(self) -> RecordT:
        """The stored record (raise NotFound or PermissionDenied)."""
        raise NotImplementedError

    def _reconcile(self, record: RecordT) -> RecordT:
        """The record after noticing an owner that is gone (default: as read)."""
        return record

    def _label(self) -> str:
        """What this is in messages, e.g. ``"job 1a2b..."``."""
        return f"{type(self).__name__} {self.id}"

    def _repr_head(self) -> str:
        """The start of :meth:`__repr__`, before status and progress."""
        return self._label()

    def _timeout_hint(self) -> str:
        """What to do when :meth:`wait` times out."""
        return "wait longer"

    # -- state ---------------------------------------------------------------------------
    def refresh(self: HandleT) -> HandleT:
        """Re-read the record (and notice an owner that is gone)."""
        self._record = self._reconcile(self._read())
        return self

    @property
    def _status(self) -> str:
        return str(getattr(self._record, "status", ""))

    @property
    def finished(self) -> bool:
        """True once it ended (done, failed or cancelled)."""
        return self._status not in ACTIVE

    @property
    def progress(self) -> float:
        """Progress in [0, 1]."""
        return float(getattr(self._record, "progress", 0.0) or 0.0)

    @property
    def message(self) -> str:
        """The latest progress message."""
        return getattr(self._record, "message", "") or ""

    @property
    def error(self) -> str | None:
        """Why it failed."""
        return getattr(self._record, "error", None)

    @property
    def created_at(self) -> datetime | None:
        """When it was asked for (UTC)."""
        return as_utc(getattr(self._record, "created_at", None))

    @property
    def started_at(self) -> datetime | None:
        """When its owner started it (UTC)."""
        return as_utc(getattr(self._record, "started_at", None))

    @property
    def finished_at(self) -> datetime | None:
        """When it ended (UTC)."""
        return as_utc(getattr(self._record, "finished_at", None))

    @property
    def runtime(self) -> float | None:
        """Seconds between start and finish (or now, while running)."""
        start = self.started_at
        if start is None:
            return None
        return ((self.finished_at or utcnow()) - start).total_seconds()

    @property
    def owner_alive(self) -> bool | None:
        """Whether the owning process still runs (None: not known from this host)."""
        return owner_alive(getattr(self._record, "host", None), getattr(self._record, "pid", None))

    def wait(self: HandleT, timeout: float | None = None, poll: float = 0.05) -> HandleT:
        """Block until it has finished (or ``timeout`` seconds pass).

        Reads start every few milliseconds and slow down to one per ``poll`` seconds.

        Raises
        ------
        JobTimeout
            If it is still queued or running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(0.005, poll)
        while not self.refresh().finished:
            if deadline is not None and time.monotonic() > deadline:
                assert timeout is not None
                detail = f"{self.progress:.0%}" + (f": {self.message}" if self.message else "")
                raise JobTimeout(
                    f"{self._label()} is still {self._status} after {timeout:g} s "
                    f"({detail}); {self._timeout_hint()}"
                )
            time.sleep(delay)
            delay = min(poll, delay * 2)
        return self

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<{self._repr_head()} {self._status} {self.progress:.0%}"
            f"{': ' + self.message if self.message else ''}>"
        )
