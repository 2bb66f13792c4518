"""Low-level reads and writes of run-table rows, shared by the table, jobs and the DAQ link.

Every write goes through :func:`write`, which first bumps the table's change counter:
the rows written are stamped with the new number (see :mod:`.records`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.runtable.records import (
    RunRecord,
    RunTableRecord,
    RunTableVariableRecord,
    RunValueRecord,
)
from shiftdesk.storage import Database
from shiftdesk.tracking import utcnow


@dataclass(frozen=True)
class Snapshot:
    """A run table's stored settings at one moment (plain values, no session)."""

    id: int
    name: str
    title: str
    owner: str
    experiment: str | None
    data_template: str
    folder: str
    context_text: str
    context_version: int
    members: str
    editors: str
    backend: str
    concurrent_jobs: int
    time_limit_s: float
    seq: int
    created_at: datetime

    @classmethod
    def of(cls, record: RunTableRecord) -> Snapshot:
        """The snapshot of a loaded record."""
        return cls(**{f: getattr(record, f) for f in cls.__dataclass_fields__})


def read_table(database: Database, *, name: str | None = None, id: int | None = None) -> Snapshot:
    """The stored table by name or id.

    Raises
    ------
    NotFound
        No such table (or, on a hub, none this user may see).
    """
    with database.session() as s:
        query = select(RunTableRecord)
        query = query.where(RunTableRecord.name == name if id is None else RunTableRecord.id == id)
        record = s.scalars(query).first()
        if record is None:
            what = f"run table {name!r}" if id is None else f"run table #{id}"
            raise NotFound(f"no {what}; RunTable.list() shows the tables you may open")
        return Snapshot.of(record)


@contextmanager
def write(database: Database, table_id: int) -> Iterator[tuple[Session, int]]:
    """A write transaction on one table and its new change number.

    The first statement takes the table's row (and SQLite's writer lock), so writers of a
    table take turns instead of failing on a stale read snapshot.
    """
    with database.session() as s:
        seq = s.execute(
            update(RunTableRecord)
            .where(RunTableRecord.id == table_id)
            .values(seq=RunTableRecord.seq + 1, updated_at=utcnow())
            .returning(RunTableRecord.seq)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if seq is None:
            visible = s.scalar(select(RunTableRecord.name).where(RunTableRecord.id == table_id))
            if visible is None:
                raise NotFound(f"run table #{table_id} is gone (deleted meanwhile?)")
            # the row is there but the database did not let this connection change it
            raise PermissionDenied(
                f"the database refused this connection any change to run table {visible!r}: "
                "on a hub, changes go through the gate (a RunTable opened in your server "
                "does that), with your own name; nothing was changed"
            )
        yield s, int(seq)


def _insert(session: Session, model: Any) -> Any:
    # the dialects' insert (for ON CONFLICT) is imported when first written with: the
    # PostgreSQL one costs ~0.04 s of a fresh kernel that may never write a value
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(model)


def value_row(
    table: Snapshot,
    run: int,
    name: str,
    kind: str,
    number: float | None,
    text: str | None,
    *,
    provenance: str,
    who: str,
    at: datetime,
    seq: int,
    blob: bytes | None = None,
    max_diff: float | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``runtable_values`` row for :func:`upsert_values`."""
    return {
        "table_id": table.id, "run": run, "name": name, "owner": table.owner, "kind": kind,
        "number": number, "text": text, "blob": blob, "max_diff": max_diff,
        "attributes_json": json.dumps(attributes or {}), "provenance": provenance,
        "who": who, "at": at, "seq": seq,
    }  # fmt: skip


def upsert_values(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or replace cells (keys: the columns of ``runtable_values``)."""
    rows = list(rows)
    if not rows:
        return 0
    statement = _insert(session, RunValueRecord)
    keep = ("table_id", "run", "name")
    changes = {
        c.name: statement.excluded[c.name]
        for c in RunValueRecord.__table__.columns
        if c.name not in keep
    }
    statement = statement.on_conflict_do_update(index_elements=list(keep), set_=changes)
    for start in range(0, len(rows), 500):
        session.execute(statement, rows[start : start + 500])
    return len(rows)


def ensure_runs(
    session: Session,
    table: Snapshot,
    runs: Iterable[int],
    seq: int,
    *,
    start_times: dict[int, datetime | None] | None = None,
) -> list[int]:
    """Add the runs the table does not have yet; returns those added."""
    wanted = sorted({int(r) for r in runs})
    if not wanted:
        return []
    have = set(
        session.scalars(
            select(RunRecord.run).where(RunRecord.table_id == table.id, RunRecord.run.in_(wanted))
        )
    )
    added = [r for r in wanted if r not in have]
    now = utcnow()
    for run in added:
        start = (start_times or {}).get(run) or now
        session.add(
            RunRecord(
                table_id=table.id, run=run, owner=table.owner, start_time=start, added_at=now,
                status="", message="", requested_json="{}", status_at=now, seq=seq,
            )
        )  # fmt: skip
    session.flush()
    return added


def ensure_variable(
    session: Session,
    table: Snapshot,
    name: str,
    seq: int,
    *,
    source: str,
    type_: str | None = None,
    **fields: Any,
) -> RunTableVariableRecord:
    """The column ``name``, created when missing (existing columns are left as they are)."""
    record = session.scalars(
        select(RunTableVariableRecord).where(
            RunTableVariableRecord.table_id == table.id, RunTableVariableRecord.name == name
        )
    ).first()
    if record is not None:
        return record
    last = session.scalars(
        select(RunTableVariableRecord.position)
        .where(RunTableVariableRecord.table_id == table.id)
        .order_by(RunTableVariableRecord.position.desc())
    ).first()
    tags = fields.pop("tags", ())
    record = RunTableVariableRecord(
        table_id=table.id, owner=table.owner, name=name, source=source, type=type_,
        title=fields.get("title") or "", description=fields.get("description") or "",
        units=fields.get("units") or "", summary=fields.get("summary"),
        tags_json=json.dumps(list(tags or ())), position=(last or 0) + 1, seq=seq,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record
