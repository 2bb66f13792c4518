"""One run of a table (:class:`RunMetadata`) and one variable of one run (:class:`VariableData`)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shiftdesk.display import html_repr, table
from shiftdesk.errors import DataError, NotFound
from shiftdesk.runtable.records import RunRecord
from shiftdesk.runtable.values import CellValue
from shiftdesk.tracking import as_utc

if TYPE_CHECKING:
    from shiftdesk.runtable.table import RunTable


@dataclass
class RunMetadata:
    """A run's row: when it started, its values, why cells are empty, its processing.

    Attributes
    ----------
    run : int
        The run number.
    table : str
        The run table's name.
    start_time : datetime or None
        When the run started (UTC).
    values : dict
        Table value of every cell that has one (``comment`` and user values included).
    errors : dict
        Why a cell has no value: the error or skip reason, by variable.
    cells : dict of CellValue
        Every cell with its display attributes and provenance.
    status, message : str
        The run's processing state and what it said.
    """

    run: int
    table: str
    start_time: datetime | None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cells: dict[str, CellValue] = field(default_factory=dict)
    status: str = ""
    message: str = ""
    job_id: str | None = None

    @classmethod
    def load(cls, rt: RunTable, run: int) -> RunMetadata:
        """Read run ``run`` of ``rt``.

        Raises
        ------
        NotFound
            The table has no such run.
        """
        with rt.database.session() as s:
            row = s.get(RunRecord, (rt.id, run))
            if row is None:
                known = s.scalars(select(RunRecord.run).where(RunRecord.table_id == rt.id))
                raise NotFound(
                    f"run table {rt.name!r} has no run {run} (runs: {_span(list(known))})"
                )
            start, status, message, job = row.start_time, row.status, row.message, row.job_id
        cells = {name: cell for (_r, name), cell in rt.cells([run]).items()}
        values = {n: c.value for n, c in cells.items() if c.value is not None and c.error is None}
        errors = {n: c.error for n, c in cells.items() if c.error}
        return cls(
            run=run, table=rt.name, start_time=as_utc(start), values=values, errors=errors,
            cells=cells, status="queued" if status == "submitted" else status,
            message=message or "", job_id=job,
        )  # fmt: skip

    def __getitem__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.errors:
            raise DataError(f"run {self.run}: {name} has no value: {self.errors[name]}")
        raise KeyError(f"run {self.run} has no value for {name!r}")

    def __repr__(self) -> str:
        head = f"<RunMetadata run {self.run} of {self.table!r}"
        state = f" {self.status}" if self.status else ""
        return f"{head}{state}: {len(self.values)} values, {len(self.errors)} errors>"

    def _repr_html_(self) -> str:
        rows = []
        for name, cell in self.cells.items():
            shown = _shown(cell)
            rows.append((name, shown, cell.error or "", cell.provenance))
        when = self.start_time.isoformat(" ", "seconds") if self.start_time else "unknown"
        body = (
            f"<div>started {html.escape(when)} · {html.escape(self.status or 'not processed')}"
            f"{' · ' + html.escape(self.message) if self.message else ''}</div>"
            + table(rows, ["variable", "value", "error / skip", "from"])
        )
        return html_repr("RunMetadata", f"run {self.run} of {self.table}", repr(self), body)


def _shown(cell: CellValue) -> str:
    if isinstance(cell.value, bytes):
        return "<thumbnail>"
    if cell.kind == "sparkline":
        return "<sparkline>"
    if isinstance(cell.value, float):
        return f"{cell.value:.6g}"
    return "" if cell.value is None else str(cell.value)


def _span(runs: list[int]) -> str:
    if not runs:
        return "none yet"
    return f"{min(runs)}-{max(runs)}, {len(runs)} in all"


class VariableData:
    """One variable of one run: its summary, error and full data (``read()``)."""

    def __init__(self, rt: RunTable, run: int, name: str) -> None:
        self.table = rt
        self.run = run
        self.name = name

    @property
    def cell(self) -> CellValue | None:
        """The stored cell (None when it has none)."""
        return self.table.cells([self.run], [self.name]).get((self.run, self.name))

    @property
    def column(self) -> Any:
        """The column's :class:`ColumnInfo`."""
        return self.table.columns()[self.name]

    @property
    def units(self) -> str:
        """The cell's units, else the column's."""
        cell = self.cell
        return (cell.units if cell is not None and cell.units else None) or self.column.units

    @property
    def title(self) -> str:
        """The column's title."""
        return str(self.column.title or self.name)

    @property
    def description(self) -> str:
        """The column's description."""
        return str(self.column.description)

    @property
    def error(self) -> str | None:
        """Why the cell has no value (error or skip reason), or None."""
        cell = self.cell
        return cell.error if cell is not None else None

    def summary(self) -> Any:
        """The value the table shows (a number, text, PNG bytes, a sparkline array)."""
        cell = self.cell
        return cell.value if cell is not None else None

    def read(self) -> Any:
        """The full result: numpy array, xarray object, number or text.

        Raises
        ------
        DataError
            The cell has an error (the message gives it) or the run's results file
            lacks the variable.
        NotFound
            The run has no results file yet.
        """
        cell = self.cell
        if cell is not None and cell.error:
            raise DataError(f"run {self.run}: {self.name} has no data: {cell.error}")
        if cell is not None and cell.provenance != "context":
            return cell.value
        from shiftdesk.runtable import h5store

        path = self.table.run_file(self.run)
        if not path.exists():
            raise NotFound(
                f"run {self.run} of {self.table.name!r} has no results file yet ({path}); "
                "process the run first"
            )
        try:
            return h5store.read_data(path, self.name)
        except KeyError:
            raise DataError(
                f"run {self.run}'s results ({path.name}) hold no {self.name!r}: it was not "
                "computed for this run (reprocess the run to compute it)"
            ) from None

    def preview(self) -> Any:
        """The cell's preview (what a thumbnail was made from), when the context gave one."""
        from shiftdesk.runtable import h5store

        path = self.table.run_file(self.run)
        return h5store.read_preview(path, self.name) if path.exists() else None

    def __repr__(self) -> str:
        cell = self.cell
        shown = "empty" if cell is None else (cell.error or _shown(cell))
        return f"<VariableData {self.name} of run {self.run}: {shown}>"

    def _repr_html_(self) -> str:
        cell = self.cell
        rows = [("title", self.title), ("units", self.units), ("description", self.description)]
        if cell is not None:
            rows += [("value", _shown(cell)), ("from", cell.provenance), ("by", cell.who)]
            if cell.error:
                rows.append(("error", cell.error))
        return html_repr("VariableData", f"{self.name} · run {self.run}", repr(self), table(rows))
