"""The electronic run sheet: one row per run, typed observables as columns.

Observables (integer, float or string; units; comment; ordered) belong to the
experiment; each run holds at most one measurement of each. Values are checked against
the observable's type before anything is written, "same as previous" copies the last
run's values, and the sheet exports to pandas and CSV and gives any observable's series
over runs for plotting.
"""

from __future__ import annotations

import csv
import enum
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shiftdesk.daq.errors import RunSheetError
from shiftdesk.daq.records import MeasurementRecord, ObservableRecord, RunRecord
from shiftdesk.daq.runs import Run, RunClass, check_run_number
from shiftdesk.display import html_repr, table
from shiftdesk.gate import Gate, get_gate
from shiftdesk.gate.forward import through_gate
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]


class ValueType(enum.StrEnum):
    """The type of an observable's values."""

    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"

    @classmethod
    def parse(cls, value: str | ValueType | type) -> ValueType:
        """Accept the enum, its name, ``int``/``float``/``str``, or ``"I"/"F"/"S"``."""
        aliases = {int: cls.INTEGER, float: cls.FLOAT, str: cls.STRING}
        if isinstance(value, type) and value in aliases:
            return aliases[value]
        text = str(value).strip().lower()
        for member in cls:
            if text in (member.value, member.value[0], {"integer": "int"}.get(member.value)):
                return member
        raise RunSheetError(f"observable type {value!r} is not one of integer, float, string")


def coerce(observable: Observable, value: object) -> int | float | str:
    """``value`` as the observable's type, or :class:`RunSheetError` saying what to enter."""
    kind = observable.value_type
    units = f", {observable.units}" if observable.units else ""
    where = f"observable {observable.name!r} ({kind.value}{units})"
    if kind is ValueType.STRING:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RunSheetError(f"{where} needs text, got {value!r}")
        return str(value)
    if isinstance(value, bool):
        raise RunSheetError(f"{where} needs a number, got {value!r}")
    if kind is ValueType.INTEGER:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise RunSheetError(f"{value!r} is not a whole number: {where} needs one, like 12")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise RunSheetError(
                f"{value!r} is not a number: {where} needs one, like 1.5 or 2e-3"
            ) from None
    if not math.isfinite(number):
        raise RunSheetError(f"{value!r} is not a finite number: {where} needs one")
    return number


def _decode(kind: str, stored: str) -> int | float | str:
    if kind == ValueType.INTEGER:
        return int(stored)
    if kind == ValueType.FLOAT:
        return float(stored)
    return stored


@dataclass(frozen=True)
class Observable:
    """A run-sheet column."""

    name: str
    value_type: ValueType
    units: str = ""
    comment: str = ""
    position: int = 0

    @property
    def label(self) -> str:
        """Column title: name and units."""
        return f"{self.name} ({self.units})" if self.units else self.name


def _sheet(sheet: RunSheet) -> str:
    return f"run sheet of {sheet.experiment}" if sheet.experiment else "run sheet"


class RunSheet:
    """The run sheet of one experiment. Get it from :attr:`DAQSystem.runsheet`.

    Reading is open to everyone; every edit calls ``authorize`` first (the DAQ system
    passes its operator check).
    """

    def __init__(
        self,
        database: Database,
        experiment_id: int,
        authorize: Callable[[str], None],
        *,
        gate: Gate | None = None,
        experiment: str = "",
        identity: Identity | None = None,
    ) -> None:
        self.database = database
        self.experiment_id = experiment_id
        self._authorize = authorize
        self.gate: Gate = gate if gate is not None else get_gate()
        self.experiment = experiment
        self.identity = identity

    # -- the gate (edits go through it on a hub; see shiftdesk.gate.forward) -------------
    def _gate_args(self) -> dict[str, Any]:
        return {"experiment": self.experiment}

    def _from_gate(self, action: str, result: Any) -> Any:
        if isinstance(result, dict) and "run" in result:
            return self.run(int(result["run"]))
        if isinstance(result, dict) and "observable" in result:
            name = result["observable"]
            return next(o for o in self.observables() if o.name == name)
        return result

    # -- observables ---------------------------------------------------------------------
    def observables(self) -> list[Observable]:
        """The columns, in order."""
        with self.database.session() as session:
            return [self._observable(r) for r in self._observable_rows(session)]

    @staticmethod
    def _observable(r: ObservableRecord) -> Observable:
        return Observable(r.name, ValueType(r.value_type), r.units, r.comment, r.position)

    def _observable_rows(self, session: Session) -> list[ObservableRecord]:
        return list(
            session.scalars(
                select(ObservableRecord)
                .where(ObservableRecord.experiment_id == self.experiment_id)
                .order_by(ObservableRecord.position, ObservableRecord.id)
            )
        )

    @through_gate("daq.runsheet.add_observable", target=_sheet)
    def add_observable(
        self,
        name: str,
        value_type: str | ValueType | type,
        *,
        units: str = "",
        comment: str = "",
    ) -> Observable:
        """Add a column at the end.

        Raises
        ------
        RunSheetError
            Empty or duplicate name (names are compared ignoring case and spaces), unknown type.
        """
        self._authorize("edit the run sheet")
        kind = ValueType.parse(value_type)
        clean = (name or "").strip() if isinstance(name, str) else ""
        if not clean or len(clean) > 128:
            raise RunSheetError(f"observable name {name!r} must be 1-128 characters")
        with self.database.session() as session:
            rows = self._observable_rows(session)
            if any(r.name.strip().lower() == clean.lower() for r in rows):
                raise RunSheetError(
                    f"an observable named {clean!r} exists already: names must be unique"
                )
            position = max((r.position for r in rows), default=-1) + 1
            session.add(
                ObservableRecord(
                    experiment_id=self.experiment_id,
                    name=clean,
                    value_type=kind.value,
                    units=units.strip(),
                    comment=comment,
                    position=position,
                )
            )
        return Observable(clean, kind, units.strip(), comment, position)

    @through_gate("daq.runsheet.remove_observable", target=_sheet)
    def remove_observable(self, name: str) -> None:
        """Remove a column and its measurements."""
        self._authorize("edit the run sheet")
        with self.database.session() as session:
            row = self._find(session, name)
            session.delete(row)

    @through_gate("daq.runsheet.reorder", target=_sheet)
    def reorder(self, names: Sequence[str]) -> None:
        """Put the columns in this order (every observable named once)."""
        self._authorize("edit the run sheet")
        with self.database.session() as session:
            rows = {r.name: r for r in self._observable_rows(session)}
            if sorted(names) != sorted(rows):
                raise RunSheetError(
                    f"reorder needs every observable exactly once: {sorted(rows)}, "
                    f"got {list(names)}"
                )
            for i, name in enumerate(names):
                rows[name].position = i

    def _find(self, session: Session, name: str) -> ObservableRecord:
        for row in self._observable_rows(session):
            if row.name == name:
                return row
        known = [r.name for r in self._observable_rows(session)]
        raise RunSheetError(f"no observable named {name!r}; the run sheet has {known}")

    # -- runs ----------------------------------------------------------------------------
    def _run_row(self, session: Session, number: int) -> RunRecord:
        row = session.scalars(
            select(RunRecord).where(
                RunRecord.experiment_id == self.experiment_id, RunRecord.run_number == number
            )
        ).first()
        if row is None:
            raise RunSheetError(f"there is no run {number} in this experiment")
        return row

    def runs(self) -> list[Run]:
        """Every run with its measurements, by run number."""
        with self.database.session() as session:
            observables = {r.id: r for r in self._observable_rows(session)}
            rows = list(
                session.scalars(
                    select(RunRecord)
                    .where(RunRecord.experiment_id == self.experiment_id)
                    .order_by(RunRecord.run_number)
                )
            )
            values: dict[int, dict[str, object]] = {r.id: {} for r in rows}
            if rows:
                for m in session.scalars(
                    select(MeasurementRecord).where(
                        MeasurementRecord.run_id.in_([r.id for r in rows])
                    )
                ):
                    obs = observables.get(m.observable_id)
                    if obs is not None:
                        values[m.run_id][obs.name] = _decode(obs.value_type, m.value)
            return [Run.from_record(r, values[r.id]) for r in rows]

    def run(self, number: int) -> Run:
        """One run with its measurements."""
        for run in self.runs():
            if run.number == number:
                return run
        raise RunSheetError(f"there is no run {number} in this experiment")

    @through_gate("daq.runsheet.update", target=_sheet)
    def update(
        self,
        run_number: int,
        values: Mapping[str, object] | None = None,
        *,
        title: str | None = None,
        run_class: str | RunClass | None = None,
    ) -> Run:
        """Set a run's title, class and measurements; all checked before any is written.

        A value of ``None`` removes that measurement.
        """
        self._authorize("edit the run sheet")
        check_run_number(run_number)
        cls = None if run_class is None else RunClass.parse(run_class)
        with self.database.session() as session:
            run = self._run_row(session, run_number)
            rows = {r.name: r for r in self._observable_rows(session)}
            typed: dict[str, object] = {}
            for name, value in (values or {}).items():
                if name not in rows:
                    raise RunSheetError(
                        f"no observable named {name!r}; add it first (known: {sorted(rows)})"
                    )
                typed[name] = None if value is None else coerce(self._observable(rows[name]), value)
            if title is not None:
                run.title = str(title)[:255]
            if cls is not None:
                run.run_class = cls.value
            existing = {
                m.observable_id: m
                for m in session.scalars(
                    select(MeasurementRecord).where(MeasurementRecord.run_id == run.id)
                )
            }
            for name, value in typed.items():
                obs = rows[name]
                current = existing.get(obs.id)
                if value is None:
                    if current is not None:
                        session.delete(current)
                elif current is None:
                    session.add(
                        MeasurementRecord(
                            run_id=run.id,
                            observable_id=obs.id,
                            value=repr(value) if isinstance(value, float) else str(value),
                        )
                    )
                else:
                    current.value = repr(value) if isinstance(value, float) else str(value)
        announce_run(self.database, self.experiment_id, run_number, "daq.run_updated")
        return self.run(run_number)

    def previous_values(self, run_number: int) -> dict[str, Any]:
        """What "same as previous" pre-fills: the title, class and values of the last
        run before ``run_number`` (empty when there is none)."""
        earlier = [r for r in self.runs() if r.number < run_number]
        if not earlier:
            return {}
        last = earlier[-1]
        return {"title": last.title, "run_class": last.run_class, "values": dict(last.values)}

    @through_gate("daq.runsheet.same_as_previous", target=_sheet)
    def same_as_previous(self, run_number: int) -> Run:
        """Copy the previous run's title, class and values into run ``run_number``."""
        self._authorize("edit the run sheet")
        previous = self.previous_values(run_number)
        if not previous:
            raise RunSheetError(f"run {run_number} has no earlier run to copy from")
        return self.update(
            run_number,
            previous["values"],
            title=previous["title"],
            run_class=previous["run_class"],
        )

    # -- export --------------------------------------------------------------------------
    def _header(self) -> tuple[list[str], list[Observable]]:
        observables = self.observables()
        base = ["run", "title", "class", "start", "stop", "duration", "configs"]
        return base + [o.label for o in observables], observables

    def _rows(self) -> tuple[list[str], list[list[object]]]:
        header, observables = self._header()
        rows = []
        for run in self.runs():
            rows.append(
                [
                    run.number,
                    run.title,
                    run.run_class,
                    run.started_at.isoformat(timespec="seconds"),
                    run.stopped_at.isoformat(timespec="seconds") if run.stopped_at else "",
                    run.duration,
                    run.config_names,
                    *[run.values.get(o.name, "") for o in observables],
                ]
            )
        return header, rows

    def to_csv(self, path: str | Path | None = None) -> str:
        """The sheet as CSV (a missing measurement is an empty cell); also written to ``path``."""
        header, rows = self._rows()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_dataframe(self) -> pd.DataFrame:
        """The sheet as a pandas DataFrame indexed by run number (typed columns)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        _, observables = self._header()
        runs = self.runs()
        data: dict[str, list[object]] = {
            "title": [r.title for r in runs],
            "class": [r.run_class for r in runs],
            "start": [r.started_at for r in runs],
            "stop": [r.stopped_at for r in runs],
            "duration_s": [r.duration_s for r in runs],
            "configs": [r.config_names for r in runs],
        }
        frame = pd.DataFrame(data, index=pd.Index([r.number for r in runs], name="run"))
        for o in observables:
            column = [r.values.get(o.name) for r in runs]
            dtype = {"integer": "Int64", "float": "float64", "string": "string"}[o.value_type]
            frame[o.name] = pd.array(column, dtype=dtype)
        return frame

    def series(self, observable: str) -> tuple[list[int], list[int | float | str]]:
        """(run numbers, values) of one observable, runs without a value left out."""
        names = [o.name for o in self.observables()]
        if observable not in names:
            raise RunSheetError(f"no observable named {observable!r}; the run sheet has {names}")
        numbers: list[int] = []
        values: list[int | float | str] = []
        for run in self.runs():
            if observable in run.values:
                numbers.append(run.number)
                values.append(run.values[observable])  # type: ignore[arg-type]
        return numbers, values

    def __repr__(self) -> str:
        header, rows = self._rows()
        return f"<RunSheet: {_runs(len(rows))}, columns {header[7:]}>"

    def _repr_html_(self) -> str:
        header, rows = self._rows()
        return html_repr("Run sheet", _runs(len(rows)), repr(self), table(rows[-50:], header))


def _runs(n: int) -> str:
    """``1 run``, ``3 runs``."""
    return f"{n} run" if n == 1 else f"{n} runs"


def announce_run(database: Database, experiment_id: int, number: int, event: str) -> list[str]:
    """Tell the other domains about run ``number`` (``daq.run_closed``, ``daq.run_updated``).

    The payload carries what a listener needs without reading the DAQ's tables: the
    database, the experiment's name, the run's number, title, class, start and stop, and
    its run-sheet values with their units. Returns the listeners' failures (for the log).
    """
    from shiftdesk.daq.records import ExperimentRecord
    from shiftdesk.domains import emit

    with database.session() as session:
        experiment = session.get(ExperimentRecord, experiment_id)
        name = experiment.name if experiment is not None else ""
        observables = list(
            session.scalars(
                select(ObservableRecord).where(ObservableRecord.experiment_id == experiment_id)
            )
        )
    sheet = RunSheet(database, experiment_id, lambda _what: None, experiment=name)
    try:
        run = sheet.run(number)
    except RunSheetError:
        return []
    return emit(
        event,
        database=database,
        experiment=name,
        run=run.number,
        title=run.title,
        run_class=run.run_class,
        started_at=run.started_at,
        stopped_at=run.stopped_at,
        values=dict(run.values),
        units={o.name: o.units for o in observables if o.units},
    )
