"""Runs: numbering, and opening/closing only when the electronics confirm.

The next run number is shown before a start (the experiment's chosen number, else one
more than the last run, :data:`FIRST_RUN_NUMBER` for the first) and must be unused. A
run row is written only after every ECC server reported Running, and closed only after
every one reported it stopped, so a failed start never leaves an open run (attpc-daq
opened runs when the request was queued, notes §1.9.4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shiftdesk.daq.errors import DAQStateError, RunSheetError
from shiftdesk.daq.records import ExperimentRecord, RunRecord
from shiftdesk.daq.snapshot import now, utc
from shiftdesk.display import html_repr, table
from shiftdesk.storage import Database

#: The number of an experiment's first run when none was chosen. Runs count from 1 as a
#: shift crew counts them (attpc-daq started at 0, notes §1.5); an experiment continuing
#: another numbering chooses its next number (0 included) with ``set_next_run_number``.
FIRST_RUN_NUMBER = 1


class RunClass(enum.StrEnum):
    """What a run was for (the run sheet's class column)."""

    TESTING = "Testing"
    PRODUCTION = "Production"
    BEAM = "Beam"
    PULSER = "Pulser"
    JUNK = "Junk"

    @classmethod
    def parse(cls, value: str | RunClass) -> RunClass:
        """Accept the enum or its name in any case; refuse anything else clearly."""
        if isinstance(value, RunClass):
            return value
        for member in cls:
            if str(value).strip().lower() in (member.value.lower(), member.name.lower()):
                return member
        raise RunSheetError(f"run class {value!r} is not one of {', '.join(m.value for m in cls)}")


def started_message(number: int, run_class: str, title: str) -> str:
    """The shift-log line of a run start: ``run 3 started (Beam: first beam)``, or
    ``run 3 started (Testing)`` without a title (no empty parts)."""
    details = ": ".join(part for part in (run_class.strip(), title.strip()) if part)
    return f"run {number} started" + (f" ({details})" if details else "")


def duration_string(seconds: float | None) -> str:
    """``HH:MM:SS`` (hours keep counting past a day)."""
    if seconds is None:
        return ""
    total = int(max(0, seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


@dataclass(frozen=True)
class Run:
    """A run as recorded: header of its run-sheet row plus its measurements."""

    number: int
    title: str
    run_class: str
    started_at: datetime
    stopped_at: datetime | None
    config_names: str
    started_by: str
    files_organized: bool
    values: dict[str, object] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        """Still being taken (no confirmed stop yet)."""
        return self.stopped_at is None

    @property
    def duration_s(self) -> float:
        """Seconds from start to stop (or to now while open)."""
        end = self.stopped_at or now()
        return (end - self.started_at).total_seconds()

    @property
    def duration(self) -> str:
        """Duration as ``HH:MM:SS``."""
        return duration_string(self.duration_s)

    @classmethod
    def from_record(cls, record: RunRecord, values: dict[str, object] | None = None) -> Run:
        """Build the value object from a stored row."""
        started = utc(record.started_at)
        assert started is not None
        return cls(
            number=record.run_number,
            title=record.title,
            run_class=record.run_class,
            started_at=started,
            stopped_at=utc(record.stopped_at),
            config_names=record.config_names,
            started_by=record.started_by,
            files_organized=bool(record.files_organized),
            values=dict(values or {}),
        )

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return (
            f"<Run {self.number} {self.run_class} {self.title!r} {state}, {self.duration}, "
            f"configs {self.config_names or '—'}>"
        )

    def _repr_html_(self) -> str:
        rows: list[tuple[object, object]] = [
            ("class", self.run_class),
            ("start", self.started_at.isoformat(timespec="seconds")),
            ("stop", self.stopped_at.isoformat(timespec="seconds") if self.stopped_at else "—"),
            ("duration", self.duration),
            ("configs", self.config_names),
            ("files organised", "yes" if self.files_organized else "no"),
            *self.values.items(),
        ]
        return html_repr("Run", f"{self.number} {self.title}", repr(self), table(rows))


def last_run(session: Session, experiment_id: int) -> RunRecord | None:
    """The run with the highest number."""
    return session.scalars(
        select(RunRecord)
        .where(RunRecord.experiment_id == experiment_id)
        .order_by(RunRecord.run_number.desc())
        .limit(1)
    ).first()


def open_run_record(session: Session, experiment_id: int) -> RunRecord | None:
    """The run being taken, if any."""
    return session.scalars(
        select(RunRecord).where(
            RunRecord.experiment_id == experiment_id, RunRecord.stopped_at.is_(None)
        )
    ).first()


def next_run_number(session: Session, experiment: ExperimentRecord) -> int:
    """The number the next run gets: the chosen one if still free, else last + 1
    (:data:`FIRST_RUN_NUMBER` for the first run)."""
    chosen = experiment.next_run_number
    if chosen is not None and not run_number_used(session, experiment.id, chosen):
        return chosen
    highest = session.scalar(
        select(func.max(RunRecord.run_number)).where(RunRecord.experiment_id == experiment.id)
    )
    return FIRST_RUN_NUMBER if highest is None else int(highest) + 1


def run_number_used(session: Session, experiment_id: int, number: int) -> bool:
    """Whether a run with this number exists."""
    return (
        session.scalars(
            select(RunRecord.id).where(
                RunRecord.experiment_id == experiment_id, RunRecord.run_number == number
            )
        ).first()
        is not None
    )


def check_run_number(number: object) -> int:
    """A run number is a whole number ≥ 0 (it names the folder run_NNNN)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise RunSheetError(f"run number {number!r} must be a whole number ≥ 0")
    return number


def set_next_run_number(database: Database, experiment_id: int, number: int) -> None:
    """Choose the next run's number; refused when a run already has it."""
    check_run_number(number)
    with database.session() as session:
        if run_number_used(session, experiment_id, number):
            raise RunSheetError(f"run {number} exists already: pick an unused run number")
        experiment = session.get(ExperimentRecord, experiment_id)
        assert experiment is not None
        experiment.next_run_number = number


def open_run(
    database: Database,
    experiment_id: int,
    number: int,
    *,
    title: str,
    run_class: RunClass,
    config_names: str,
    user: str,
) -> None:
    """Record a confirmed run start (refused if a run is open or the number is taken)."""
    with database.session() as session:
        current = open_run_record(session, experiment_id)
        if current is not None:
            raise DAQStateError(f"run {current.run_number} is still open")
        if run_number_used(session, experiment_id, number):
            raise DAQStateError(f"run {number} exists already")
        session.add(
            RunRecord(
                experiment_id=experiment_id,
                run_number=number,
                title=title,
                run_class=run_class.value,
                started_at=now(),
                config_names=config_names,
                started_by=user,
                files_organized=False,
            )
        )
        experiment = session.get(ExperimentRecord, experiment_id)
        assert experiment is not None
        experiment.next_run_number = None  # back to "last + 1"


def close_run(database: Database, experiment_id: int) -> int | None:
    """Record the confirmed stop of the open run; returns its number (None if none)."""
    with database.session() as session:
        current = open_run_record(session, experiment_id)
        if current is None:
            return None
        current.stopped_at = now()
        return current.run_number
