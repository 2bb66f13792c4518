"""Runs from the DAQ: a closing run gets its row, its processing and its run-sheet values.

Listens to the DAQ's ``daq.run_closed`` and ``daq.run_updated`` (see
:func:`shiftdesk.daq.runsheet.announce_run`). Every run table whose ``experiment`` is the
DAQ experiment's name takes part. The work is done as the table's owner: processing
runs with the owner's rights, whichever process hears the news.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shiftdesk.gate import LocalGate
from shiftdesk.identity import Identity
from shiftdesk.runtable import store as rstore
from shiftdesk.runtable.records import RunTableRecord
from shiftdesk.storage import Database

#: where run-sheet values come from, as the table shows it
PROVENANCE = "run sheet"


def column_name(observable: str) -> str:
    """A column name for a run-sheet observable (``"Beam current"`` → ``beam_current``)."""
    name = re.sub(r"\W+", "_", observable.strip()).strip("_").lower() or "value"
    return name if name[0].isalpha() else f"rs_{name}"


def _tables(database: Database, experiment: str) -> list[Any]:
    from shiftdesk.runtable.table import RunTable

    if not experiment:
        return []
    with database.session() as s:
        records = s.scalars(
            select(RunTableRecord).where(RunTableRecord.experiment == experiment)
        ).all()
        snapshots = [rstore.Snapshot.of(r) for r in records]
    # acting for the owner in this process (the DAQ's executor): no gate round trip
    return [
        RunTable(snap, database, Identity(snap.owner), LocalGate(Identity(snap.owner), audit=False))
        for snap in snapshots
    ]


def _sheet_values(
    title: str, run_class: str, values: dict[str, Any], units: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    named: dict[str, Any] = {"run_title": title or None, "run_class": run_class or None}
    titles = {"run_title": "run title", "run_class": "run class"}
    column_units: dict[str, str] = {}
    for observable, value in values.items():
        name = column_name(observable)
        named[name] = value
        titles[name] = observable
        if observable in units:
            column_units[name] = units[observable]
    return named, titles, column_units


def on_run_closed(
    *,
    database: Database,
    experiment: str,
    run: int,
    title: str = "",
    run_class: str = "",
    started_at: datetime | None = None,
    values: dict[str, Any] | None = None,
    units: dict[str, str] | None = None,
    **_more: Any,
) -> None:
    """A DAQ run closed: add it to the experiment's tables, process it, copy the run sheet.

    On a shared (PostgreSQL) database the DAQ's executor is a hub service: its jobs go to
    the job-worker service, which runs them as the table's owner (see
    :func:`shiftdesk.runtable.processing.dispatch`), never with the service's rights.
    """
    for rt in _tables(database, experiment):
        if rt.add_runs([run], process=False):  # new to this table (a repeated notice is not)
            rt.process([run])
        if started_at is not None:
            rt.set_start_time(run, started_at)
        named, titles, column_units = _sheet_values(title, run_class, values or {}, units or {})
        rt.submit(run, named, provenance=PROVENANCE, units=column_units, titles=titles)


def on_run_updated(
    *,
    database: Database,
    experiment: str,
    run: int,
    title: str = "",
    run_class: str = "",
    values: dict[str, Any] | None = None,
    units: dict[str, str] | None = None,
    **_more: Any,
) -> None:
    """The run sheet of a run changed: copy it into the tables that have the run."""
    for rt in _tables(database, experiment):
        if run not in rt:
            continue  # still being taken: its close brings the values
        named, titles, column_units = _sheet_values(title, run_class, values or {}, units or {})
        rt.submit(run, named, provenance=PROVENANCE, units=column_units, titles=titles)
