"""Exporting a catalog: SQLite in the shape of CRDS's ``crds sync --fetch-sqlite-db``, or
Parquet. Both are written beside their target and renamed into place."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from shiftdesk.catalog.records import (
    CatalogContextHistoryRecord,
    CatalogEdgeRecord,
    CatalogFileRecord,
)
from shiftdesk.errors import CatalogError

if TYPE_CHECKING:
    import pandas as pd

    from shiftdesk.catalog.catalog import Catalog


def frames(catalog: Catalog) -> dict[str, pd.DataFrame]:
    """The catalog's files, context history and edges as data frames."""
    import pandas as pd

    obs = catalog.observatory
    out: dict[str, pd.DataFrame] = {}
    with catalog.database.engine.connect() as conn:
        for key, table in (
            ("catalog", CatalogFileRecord.__table__),
            ("context_history", CatalogContextHistoryRecord.__table__),
            ("edges", CatalogEdgeRecord.__table__),
        ):
            query = select(table).where(table.c.observatory == obs)
            frame = pd.read_sql(query, conn)
            for column in frame.columns:
                if column in (
                    "added_at",
                    "delivery_date",
                    "activation_date",
                    "useafter_date",
                    "at",
                ):
                    frame[column] = pd.to_datetime(frame[column], utc=True)
            out[key] = frame.drop(columns=[c for c in ("id",) if c in frame.columns])
    return out


def export(catalog: Catalog, path: Path) -> Path:
    """Write ``catalog`` to ``path`` (see :meth:`Catalog.export`)."""
    suffix = path.suffix.lower()
    if suffix not in (".sqlite", ".db", ".parquet"):
        raise CatalogError(
            f"cannot export to {path.name}: give a .sqlite (or .db) or a .parquet path"
        )
    if suffix == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise CatalogError(
                "Parquet export needs pyarrow, which is not installed here: pip install pyarrow "
                "(or export to .sqlite)"
            )
    data = frames(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs = catalog.observatory
    if suffix == ".parquet":
        targets = {
            "catalog": path,
            "context_history": path.with_name(f"{path.stem}_context_history.parquet"),
            "edges": path.with_name(f"{path.stem}_edges.parquet"),
        }
        for key, target in targets.items():
            temp = target.with_name(f".{target.name}.part")
            data[key].to_parquet(temp, index=False)
            os.replace(temp, target)
        return path
    temp = path.with_name(f".{path.name}.part")
    temp.unlink(missing_ok=True)
    conn = sqlite3.connect(temp)
    try:
        for key, frame in data.items():
            frame = frame.copy()
            for column in frame.columns:  # ISO text, as CRDS's own export has dates
                if str(frame[column].dtype).startswith("datetime64"):
                    frame[column] = frame[column].map(
                        lambda v: None if v is None or v != v else v.isoformat()
                    )
            frame.to_sql(f"crds_{obs}_{key}", conn, index=False)
        conn.commit()
    finally:
        conn.close()
    os.replace(temp, path)
    return path
