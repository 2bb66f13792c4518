"""A DAMNIT folder (``runs.sqlite`` v1-v4, ``context.py``, ``extracted_data``) into a run table.

The context file is kept as it is, even when it does not validate here (it may import
packages of its facility's environment): ``rt.validate()`` says what is missing. Typed
user values, comments, errors and skip reasons, thumbnails and sparklines come along
with who wrote them; the per-run HDF5 files are copied into the table's folder.
DAMNIT's time comments (tied to a time, not a run) are not imported.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update

from shiftdesk.identity import Identity, current_identity
from shiftdesk.runtable import store as rstore
from shiftdesk.runtable.damnit_folder import DamnitValue, read_damnit_folder
from shiftdesk.runtable.records import RunRecord, RunTableRecord, RunValueRecord
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import utcnow

if TYPE_CHECKING:
    from shiftdesk.runtable.table import RunTable


def _provenance(value: DamnitValue, user_column: bool) -> str:
    if user_column:
        return "user"
    source = value.provenance
    if source in (None, "", "context.py", "context"):
        return "context"
    return str(source)


def _row(table: rstore.Snapshot, value: DamnitValue, user_column: bool, seq: int) -> dict[str, Any]:
    kind = str(value.kind)
    number = value.number
    text = value.text
    blob = value.blob
    attributes = dict(value.attributes)
    if kind == "complex":
        kind, text, blob = "string", str(value.value), None
    elif kind in ("thumbnail", "sparkline"):
        text = f"<{kind}>"
    elif kind in ("error", "skipped"):
        attributes.setdefault("error", value.text or "")
        attributes.setdefault("error_cls", "Skip" if kind == "skipped" else "Exception")
        text = None
    if value.summary_method:
        attributes.setdefault("summary_method", value.summary_method)
    if number is not None:
        number = float(number)
    return rstore.value_row(
        table, value.run, value.name, kind, number, text, blob=blob, max_diff=value.max_diff,
        attributes=attributes, provenance=_provenance(value, user_column),
        who="damnit", at=value.timestamp or utcnow(), seq=seq,
    )  # fmt: skip


def import_damnit(
    cls: type[RunTable],
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    data: str | None = None,
    database: Database | None = None,
    identity: Identity | None = None,
    **options: Any,
) -> RunTable:
    """Make a run table from the DAMNIT folder ``folder`` (see the module docstring).

    Parameters
    ----------
    folder : path
        The DAMNIT folder (holding ``runs.sqlite``).
    name : str, optional
        The new table's name (default ``p<proposal>``, else the folder's name).
    data : str, optional
        The runs' data template (default ``<folder>/raw/r{run:04d}``; give the real one
        to reprocess).
    options
        Passed to :meth:`RunTable.create` (title, members, editors, ...).

    Raises
    ------
    DamnitFolderError
        Not a DAMNIT folder, an older format (the message says how to migrate), damaged.
    FileExistsError
        A table of that name exists.
    """
    db = database or get_database()
    who = identity or current_identity()
    source = read_damnit_folder(folder)
    table_name = name or (
        f"p{source.proposal}" if source.proposal is not None else Path(folder).name
    )
    template = data or str(Path(folder).resolve() / "raw" / "r{run:04d}")
    options.setdefault("title", f"imported from DAMNIT {Path(folder).resolve()}")
    rt = cls.create(table_name, data=template, database=db, identity=who, **options)
    snapshot = rt._table
    user_columns = {v.name for v in source.variables if v.type is not None}
    with rstore.write(db, rt.id) as (s, seq):
        context = source.context_text or ""
        s.execute(
            update(RunTableRecord)
            .where(RunTableRecord.id == rt.id)
            .values(context_text=context, context_version=1 if context else 0)
        )
        for variable in source.variables:
            if variable.name == "comment":
                continue
            rstore.ensure_variable(
                s, snapshot, variable.name, seq,
                source="user" if variable.type is not None else "context",
                type_=variable.type, title=variable.title or variable.name,
                description=variable.description or "",
                units=str(variable.attributes.get("units", "") or ""), tags=variable.tags,
            )  # fmt: skip
        now = utcnow()
        runs = {r.run: r for r in source.runs}
        if runs:
            s.execute(
                insert(RunRecord),
                [
                    {
                        "table_id": rt.id, "run": r.run, "owner": rt.owner,
                        "start_time": r.start_time, "added_at": r.added_at or now,
                        "status": "done",
                        "message": "imported from DAMNIT", "job_id": None,
                        "requested_json": "{}", "status_at": now, "seq": seq,
                    }
                    for r in runs.values()
                ],
            )  # fmt: skip
        rows = [_row(snapshot, v, v.name in user_columns or v.name == "comment", seq)
                for v in source.values]  # fmt: skip
        for start in range(0, len(rows), 2000):
            s.execute(insert(RunValueRecord), rows[start : start + 2000])
    if source.context_text:
        (rt.folder).mkdir(parents=True, exist_ok=True)
        (rt.folder / "context.py").write_text(source.context_text, encoding="utf-8")
    for run, path in source.h5_files.items():
        target = rt.run_file(run)
        temporary = target.with_name(f".{target.name}.import")
        shutil.copyfile(path, temporary)
        os.replace(temporary, target)
    (rt.folder / "imported-from.json").write_text(
        json.dumps({"damnit_folder": str(Path(folder).resolve()),
                    "format_version": source.format_version,
                    "runs": len(source.runs), "values": len(source.values)}, indent=1),
        encoding="utf-8",
    )  # fmt: skip
    return rt.refresh()
