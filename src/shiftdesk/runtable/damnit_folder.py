"""Read a DAMNIT folder (``runs.sqlite``, ``context.py``, ``extracted_data/``) as plain data.

DAMNIT (European XFEL's run table) keeps, per proposal, a folder with a SQLite database
``runs.sqlite`` in a long-narrow layout (one ``run_variables`` row per run, variable and
version), the context file that computed the values, and one HDF5 file per run with the
full results. :func:`read_damnit_folder` reads all of it that an import needs, read-only
(the database is opened with ``mode=ro``, so a read-only folder on shared storage works),
into plain dataclasses: nothing here writes anywhere or imports the rest of shiftdesk's
storage.

Data formats 1–4 are read (v1 has no ``attributes`` column, v2 no tags tables, v3 no
orphan-tag trigger, none of which loses a value). The legacy v0 format (a wide ``runs``
table with one SQL column per variable) is refused with the DAMNIT command that migrates
it; a newer format than 4 is refused, naming its number.

Each stored cell becomes a :class:`DamnitValue` with one of the run table's kinds:

========== ===================================================================
kind       DAMNIT value, and where it lands
========== ===================================================================
number     a float (``number``); a user variable of type ``number``
integer    an integer (``number`` holds the ``int``); user type ``integer``
boolean    a user variable of type ``boolean`` (``number`` is ``True``/``False``)
string     text (``text``): string summaries, user strings, the run ``comment``
complex    16 packed bytes, ``summary_type="complex"`` (``blob``; see ``.value``)
timestamp  UTC epoch seconds with ``summary_type="timestamp"`` (``number``)
thumbnail  a PNG BLOB (``blob``: the PNG bytes)
sparkline  a trendline/1-D ``.npy`` BLOB, converted to ``np.save`` bytes of a
           2×N float32 array (x row, y row) in ``blob``
text       another array BLOB, summarised as ``"<dtype>: <shape>"`` (``text``), or
           an unknown BLOB (``"<N bytes>"``)
empty      a NULL value without an error (a deleted value)
error      ``attributes`` has ``error``/``error_cls`` (the message also in ``text``)
skipped    the same with ``error_cls == "Skip"``
========== ===================================================================
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shiftdesk.errors import DataError
from shiftdesk.runtable.context.summary import SummaryKind, cell_object

__all__ = [
    "LATEST_DAMNIT_FORMAT",
    "DamnitFolder",
    "DamnitFolderError",
    "DamnitRun",
    "DamnitTimeComment",
    "DamnitValue",
    "DamnitVariable",
    "ValueKind",
    "read_damnit_folder",
]

#: the newest DAMNIT data format this reader knows (``metameta.data_format_version``)
LATEST_DAMNIT_FORMAT = 4
#: the oldest one it reads (older ones need ``damnit migrate v0-to-v1`` first)
OLDEST_DAMNIT_FORMAT = 1

ValueKind = SummaryKind

#: the user-variable types DAMNIT knows (``variables.type``; NULL means computed)
USER_TYPES = ("boolean", "integer", "number", "string")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
_H5_NAME = re.compile(r"^p(\d+)_r(\d+)\.h5$")
_TRUE = frozenset({"true", "yes", "y", "1", "t", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", ""})


class DamnitFolderError(DataError):
    """A folder cannot be read as a DAMNIT folder (what is wrong, and what to do)."""


@dataclass(frozen=True, slots=True)
class DamnitRun:
    """One row of DAMNIT's ``run_info``.

    Attributes
    ----------
    run : int
        The run number.
    start_time : datetime or None
        When the run started (UTC); None for a run created before the DAQ took it.
    added_at : datetime or None
        When DAMNIT learnt of the run (UTC).
    """

    run: int
    start_time: datetime | None
    added_at: datetime | None


@dataclass(frozen=True, slots=True)
class DamnitVariable:
    """One variable (column) of the table.

    Attributes
    ----------
    name : str
        The variable's name (a Python identifier, or dotted for DAMNIT groups).
    type : str or None
        None for a variable the context file computes; ``"boolean"``, ``"integer"``,
        ``"number"`` or ``"string"`` for one people type in (the run ``comment``
        counts as ``"string"``).
    title : str
        The column title (the name when DAMNIT stored none).
    description : str or None
        The header tooltip.
    attributes : dict
        ``variables.attributes`` (JSON; DAMNIT leaves it empty so far).
    tags : list of str
        The variable's tags, sorted (none before format v3).
    """

    name: str
    type: str | None
    title: str
    description: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DamnitValue:
    """One cell: the latest version of (run, variable) in ``run_variables``.

    Attributes
    ----------
    run : int
        The run number.
    name : str
        The variable's name.
    kind : str
        One of :data:`ValueKind` (see the module's table).
    number : float, int, bool or None
        The value of a number, integer, boolean or timestamp (epoch seconds) cell.
    text : str or None
        The value of a string or text cell; the message of an error or skipped cell.
    blob : bytes or None
        PNG bytes (thumbnail), ``np.save`` bytes of a 2×N float32 array (sparkline),
        or 16 packed little-endian doubles (complex).
    max_diff : float or None
        max − min of the data during the run (DAMNIT shows the cell bold when > 1e-9).
    attributes : dict
        DAMNIT's per-cell ``attributes`` (``units``, ``bold``, ``background``,
        ``error``, ``error_cls``, ...); empty before format v2.
    provenance : str or None
        Who wrote it: ``"context.py"``, an external program's name, ``""`` for edits in
        DAMNIT's GUI.
    timestamp : datetime or None
        When it was written (UTC).
    summary_method : str or None
        The numpy reduction that made the summary (``"mean"``, ...), if any.
    version : int
        The ``run_variables.version`` read (the highest for this cell).
    """

    run: int
    name: str
    kind: ValueKind
    number: float | None = None
    text: str | None = None
    blob: bytes | None = None
    max_diff: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    provenance: str | None = None
    timestamp: datetime | None = None
    summary_method: str | None = None
    version: int = 1

    @property
    def value(self) -> Any:
        """The cell as one Python object.

        A float, int, bool, str, complex, timezone-aware datetime (timestamp), PNG
        bytes (thumbnail), a 2×N float32 array (sparkline), or None (empty, error,
        skipped).
        """
        return cell_object(self.kind, self.number, self.text, self.blob)


@dataclass(frozen=True, slots=True)
class DamnitTimeComment:
    """A comment tied to a time rather than a run (DAMNIT's ``time_comments``).

    Attributes
    ----------
    id : int
        The row id.
    timestamp : datetime or None
        The time it refers to (UTC).
    comment : str
        The text.
    """

    id: int
    timestamp: datetime | None
    comment: str


@dataclass(frozen=True)
class DamnitFolder:
    """Everything :func:`read_damnit_folder` read from one DAMNIT folder.

    Attributes
    ----------
    path : Path
        The folder.
    format_version : int
        DAMNIT's data format (1–4).
    proposal : int or None
        The proposal number (``metameta.proposal``, else the one proposal of ``run_info``).
    context_text : str or None
        The text of ``context.py``, None when the folder has none.
    runs : list of DamnitRun
        Every run, by number (including runs that only have values).
    variables : list of DamnitVariable
        Every variable: those of the ``variables`` table, then any other name that has
        values (such as ``comment``), by name.
    values : list of DamnitValue
        Every cell (latest version only), by run then name.
    h5_files : dict of int to Path
        ``extracted_data/p<proposal>_r<run>.h5`` per run that has one.
    time_comments : list of DamnitTimeComment
        The comments tied to times, in time order.
    metameta : dict
        DAMNIT's settings (``db_id``, ``concurrent_jobs``, ``slurm_time``, ...).
    """

    path: Path
    format_version: int
    proposal: int | None
    context_text: str | None
    runs: list[DamnitRun]
    variables: list[DamnitVariable]
    values: list[DamnitValue]
    h5_files: dict[int, Path]
    time_comments: list[DamnitTimeComment]
    metameta: dict[str, Any] = field(default_factory=dict)
    _cells: dict[tuple[int, str], DamnitValue] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def value(self, run: int, name: str) -> DamnitValue | None:
        """The cell (``run``, ``name``), or None when DAMNIT has none."""
        if len(self._cells) != len(self.values):
            self._cells.clear()
            self._cells.update(((v.run, v.name), v) for v in self.values)
        return self._cells.get((run, name))

    def variable(self, name: str) -> DamnitVariable:
        """The variable called ``name`` (KeyError if there is none)."""
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


# -- opening ---------------------------------------------------------------------------------


def read_damnit_folder(
    folder: str | os.PathLike[str], *, lock_timeout: float = 10.0
) -> DamnitFolder:
    """Read a DAMNIT folder without writing to it.

    Parameters
    ----------
    folder
        The DAMNIT folder (the one holding ``runs.sqlite``; at European XFEL
        ``<proposal>/usr/Shared/amore``).
    lock_timeout
        Seconds to keep retrying while another process (DAMNIT's listener or GUI)
        holds the database locked.

    Returns
    -------
    DamnitFolder
        The runs, variables, latest values, time comments, context text and HDF5 files.

    Raises
    ------
    DamnitFolderError
        When ``folder`` is not a folder, has no ``runs.sqlite``, holds a format older
        than v1 or newer than v4, a damaged database, or stays locked longer than
        ``lock_timeout``.
    """
    path = Path(folder).expanduser()
    if not path.exists():
        raise DamnitFolderError(f"{path} does not exist; give the DAMNIT folder (with runs.sqlite)")
    if not path.is_dir():
        raise DamnitFolderError(
            f"{path} is not a folder; give the DAMNIT folder that holds runs.sqlite, "
            "not a file in it"
        )
    db = path / "runs.sqlite"
    if not db.is_file():
        raise DamnitFolderError(f"{path} is not a DAMNIT folder: it has no runs.sqlite")

    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            with _connect(db) as conn:
                return _read(conn, path, db)
        except sqlite3.OperationalError as exc:
            if _is_locked(exc) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if _is_locked(exc):
                raise DamnitFolderError(
                    f"{db} stayed locked by another process for {lock_timeout:g} s "
                    "(DAMNIT's listener or GUI writing to it?); try again when it is idle, "
                    "or read a copy of the file"
                ) from exc
            raise _damaged(db, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _damaged(db, exc) from exc


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _damaged(db: Path, exc: sqlite3.Error) -> DamnitFolderError:
    return DamnitFolderError(
        f"{db} cannot be read as a DAMNIT database ({exc}); it may be damaged or not a "
        "SQLite file. Check it with `sqlite3 runs.sqlite 'PRAGMA integrity_check'`, or "
        "restore a backup (DAMNIT writes runs.sqlite.bak.* before migrations)"
    )


@contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (``mode=ro``); immutable when the folder is not writable
    and the read-only open fails (SQLite cannot create its shared-memory files there)."""
    uri = db.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=0.5)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if _is_locked(exc) or os.access(db.parent, os.W_OK):
            raise
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
    except BaseException:
        conn.close()
        raise
    try:
        yield conn
    finally:
        conn.close()


# -- reading ---------------------------------------------------------------------------------


def _read(conn: sqlite3.Connection, folder: Path, db: Path) -> DamnitFolder:
    tables = {
        name: sql or ""
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
        if kind in ("table", "view")
    }
    meta = dict(conn.execute("SELECT key, value FROM metameta")) if "metameta" in tables else {}
    version = _format_version(meta, tables, db)
    proposal = _int_or_none(meta.get("proposal"))
    if proposal is None:
        found = [r[0] for r in conn.execute("SELECT DISTINCT proposal FROM run_info")]
        proposal = _int_or_none(found[0]) if len(found) == 1 else None

    def ours(row_proposal: Any) -> bool:
        return proposal is None or _int_or_none(row_proposal) in (proposal, None)

    variables = _variables(conn, tables)
    types = {v.name: v.type for v in variables}
    values = _values(conn, tables, types, proposal)
    runs = _runs(conn, values, ours)
    names = {v.name for v in variables}
    extra = sorted({v.name for v in values} - names)
    for name in extra:
        comment = name == "comment"
        variables.append(
            DamnitVariable(
                name=name,
                type="string" if comment else None,
                title="Comment" if comment else name,
                description=None,
            )
        )
    context = folder / "context.py"
    return DamnitFolder(
        path=folder,
        format_version=version,
        proposal=proposal,
        context_text=context.read_text(errors="replace") if context.is_file() else None,
        runs=runs,
        variables=variables,
        values=values,
        h5_files=_h5_files(folder / "extracted_data", proposal),
        time_comments=_time_comments(conn, tables),
        metameta=meta,
    )


def _format_version(meta: dict[str, Any], tables: dict[str, str], db: Path) -> int:
    raw = meta.get("data_format_version")
    if raw is None:
        if "run_variables" not in tables:
            version = 0  # DAMNIT's own rule: no version key is the legacy format
        elif "tags" in tables:
            version = 3  # a v3+ database that lost its key: read it as v3
        else:
            version = 2 if "attributes" in tables["run_variables"] else 1
    else:
        parsed = _int_or_none(raw)
        if parsed is None:
            raise DamnitFolderError(
                f"{db} has data_format_version {raw!r} in metameta, which is not a number"
            )
        version = parsed
    if version < OLDEST_DAMNIT_FORMAT:
        raise DamnitFolderError(
            f"{db} is DAMNIT format v{version} (one column per variable); run "
            "`damnit migrate v0-to-v1` with DAMNIT first, then import"
        )
    if version > LATEST_DAMNIT_FORMAT:
        raise DamnitFolderError(
            f"{db} is DAMNIT format v{version}, newer than the formats shiftdesk reads "
            f"(v{OLDEST_DAMNIT_FORMAT}-v{LATEST_DAMNIT_FORMAT}); update shiftdesk, or "
            "export the table from DAMNIT"
        )
    missing = {"run_info", "run_variables"} - set(tables)
    if missing:
        raise DamnitFolderError(
            f"{db} says DAMNIT format v{version} but has no table {', '.join(sorted(missing))}; "
            "it is damaged or not a DAMNIT database"
        )
    return version


def _variables(conn: sqlite3.Connection, tables: dict[str, str]) -> list[DamnitVariable]:
    if "variables" not in tables:
        return []
    tags: dict[str, list[str]] = {}
    if "variable_tags" in tables and "tags" in tables:
        for name, tag in conn.execute(
            "SELECT vt.variable_name, t.name FROM variable_tags vt "
            "JOIN tags t ON t.id = vt.tag_id ORDER BY t.name"
        ):
            tags.setdefault(name, []).append(tag)
    has_attributes = "attributes" in tables["variables"]
    cols = "name, type, title, description" + (", attributes" if has_attributes else "")
    out = []
    for row in conn.execute(f"SELECT {cols} FROM variables ORDER BY name"):
        name, kind, title, description = row[:4]
        out.append(
            DamnitVariable(
                name=str(name),
                type=str(kind).lower() if kind is not None else None,
                title=str(title) if title else str(name),
                description=description,
                attributes=_json(row[4]) if has_attributes else {},
                tags=tags.get(name, []),
            )
        )
    return out


def _values(
    conn: sqlite3.Connection,
    tables: dict[str, str],
    types: dict[str, str | None],
    proposal: int | None,
) -> list[DamnitValue]:
    attributes = "attributes" if "attributes" in tables["run_variables"] else "NULL"
    rows = conn.execute(
        "SELECT run, name, version, value, timestamp, max_diff, provenance, "
        f"summary_type, summary_method, {attributes} FROM run_variables "
        "WHERE ? IS NULL OR proposal IS NULL OR CAST(proposal AS INTEGER) = ? "
        "ORDER BY run, name, version",
        (proposal, proposal),
    )
    latest: dict[tuple[int, str], tuple[Any, ...]] = {}
    for row in rows:
        run, name = row[0], row[1]
        if type(run) is not int:
            run = _int_or_none(run)
        if run is not None and name is not None:
            latest[run, str(name)] = row  # ordered by version: the last one wins
    return [
        _value(run, name, row, types.get(name, "string" if name == "comment" else None))
        for (run, name), row in latest.items()
    ]


def _value(run: int, name: str, row: tuple[Any, ...], user_type: str | None) -> DamnitValue:
    _, _, version, raw, ts, max_diff, provenance, summary_type, method, attrs_text = row
    # the common column types first, without the general conversions (300k cells per table)
    attrs = {} if attrs_text is None else _json(attrs_text)
    if max_diff is not None and type(max_diff) is not float:
        max_diff = _float_or_none(max_diff)
    if type(ts) is float and -1e11 < ts < 1e11:
        stamp: datetime | None = datetime.fromtimestamp(ts, UTC)
    else:
        stamp = _utc(ts)
    if type(version) is not int:
        version = _int_or_none(version) or 1
    method = method or None
    if user_type is None and summary_type is None:
        raw_type = type(raw)
        if raw_type is float:
            kind: ValueKind = "number"
        elif raw_type is int:
            kind = "integer"
        elif raw_type is str:
            return DamnitValue(
                run, name, "string", None, raw, None, max_diff, attrs, provenance, stamp,
                method, version,
            )  # fmt: skip
        else:
            kind = "empty"
        if kind != "empty":
            return DamnitValue(
                run, name, kind, raw, None, None, max_diff, attrs, provenance, stamp,
                method, version,
            )  # fmt: skip
    common: dict[str, Any] = {
        "run": run,
        "name": name,
        "max_diff": max_diff,
        "attributes": attrs,
        "provenance": provenance,
        "timestamp": stamp,
        "summary_method": method,
        "version": version,
    }
    if raw is None:
        if attrs.get("error") is not None or attrs.get("error_cls") is not None:
            message = str(attrs.get("error") or attrs.get("error_cls"))
            kind = "skipped" if attrs.get("error_cls") == "Skip" else "error"
            return DamnitValue(kind=kind, text=message, **common)
        return DamnitValue(kind="empty", **common)
    if user_type in USER_TYPES:
        return _user_value(raw, user_type, common)
    if summary_type == "timestamp" and isinstance(raw, int | float):
        return DamnitValue(kind="timestamp", number=float(raw), **common)
    if isinstance(raw, bytes):
        return _blob_value(raw, summary_type, common)
    if isinstance(raw, bool):  # sqlite3 never returns bool; kept for adapters
        return DamnitValue(kind="boolean", number=raw, **common)
    if isinstance(raw, int):
        return DamnitValue(kind="integer", number=raw, **common)
    if isinstance(raw, float):
        return DamnitValue(kind="number", number=raw, **common)
    return DamnitValue(kind="string", text=str(raw), **common)


def _user_value(raw: Any, user_type: str, common: dict[str, Any]) -> DamnitValue:
    """A value typed in by people, parsed by its variable's type (as DAMNIT does on load)."""
    try:
        if user_type == "string":
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            return DamnitValue(kind="string", text=text, **common)
        if isinstance(raw, bytes):
            raise ValueError("it is binary")
        if user_type == "boolean":
            if isinstance(raw, int | float):
                return DamnitValue(kind="boolean", number=bool(raw), **common)
            word = str(raw).strip().lower()
            if word in _TRUE or word in _FALSE:
                return DamnitValue(kind="boolean", number=word in _TRUE, **common)
            raise ValueError("it is not true/false, yes/no or 1/0")
        if user_type == "integer":
            number = float(raw)
            if isinstance(raw, int):
                return DamnitValue(kind="integer", number=raw, **common)
            if not number.is_integer():
                raise ValueError("it is not a whole number")
            return DamnitValue(kind="integer", number=int(number), **common)
        number = float(raw)
        if math.isnan(number):
            return DamnitValue(kind="empty", **common)
        return DamnitValue(kind="number", number=number, **common)
    except ValueError as exc:
        message = f"the stored value {raw!r} is not a valid {user_type}: {exc}"
        attrs = dict(common.pop("attributes"), error=message, error_cls="ValueError")
        return DamnitValue(kind="error", text=message, attributes=attrs, **common)


def _blob_value(raw: bytes, summary_type: str | None, common: dict[str, Any]) -> DamnitValue:
    if raw.startswith(_PNG_MAGIC):
        return DamnitValue(kind="thumbnail", blob=raw, **common)
    if summary_type == "complex" and len(raw) == 16:
        return DamnitValue(kind="complex", blob=raw, **common)
    if raw.startswith(_NPY_MAGIC):
        try:
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError) as exc:
            return DamnitValue(kind="text", text=f"<unreadable array: {exc}>", **common)
        return _array_value(np.asarray(array), summary_type, common)
    return DamnitValue(kind="text", text=f"<{len(raw)} bytes>", **common)


def _array_value(
    array: np.ndarray, summary_type: str | None, common: dict[str, Any]
) -> DamnitValue:
    numeric = array.dtype.kind in "biuf"
    if numeric and array.ndim == 0:
        scalar = array.item()
        if isinstance(scalar, bool):
            return DamnitValue(kind="boolean", number=scalar, **common)
        if isinstance(scalar, int):
            return DamnitValue(kind="integer", number=scalar, **common)
        return DamnitValue(kind="number", number=float(scalar), **common)
    if numeric and array.ndim == 2 and array.shape[0] == 2 and summary_type == "trendline":
        line = array.astype(np.float32)
    elif numeric and array.ndim == 1:
        line = np.stack([np.arange(array.size, dtype=np.float32), array.astype(np.float32)])
    else:
        shape = tuple(int(n) for n in array.shape)
        return DamnitValue(kind="text", text=f"{array.dtype}: {shape}", **common)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(line), allow_pickle=False)
    return DamnitValue(kind="sparkline", blob=buffer.getvalue(), **common)


def _runs(
    conn: sqlite3.Connection, values: list[DamnitValue], ours: Callable[[Any], bool]
) -> list[DamnitRun]:
    runs: dict[int, DamnitRun] = {}
    for proposal, run, start, added in conn.execute(
        "SELECT proposal, run, start_time, added_at FROM run_info"
    ):
        number = _int_or_none(run)
        if number is not None and ours(proposal):
            runs[number] = DamnitRun(run=number, start_time=_utc(start), added_at=_utc(added))
    for v in values:
        if v.run not in runs:
            runs[v.run] = DamnitRun(run=v.run, start_time=None, added_at=None)
    return [runs[n] for n in sorted(runs)]


def _time_comments(conn: sqlite3.Connection, tables: dict[str, str]) -> list[DamnitTimeComment]:
    if "time_comments" not in tables:
        return []
    rows = conn.execute("SELECT rowid, timestamp, comment FROM time_comments")
    out = [
        DamnitTimeComment(id=int(rowid), timestamp=_utc(ts), comment="" if c is None else str(c))
        for rowid, ts, c in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda c: (c.timestamp or far, c.id))


def _h5_files(folder: Path, proposal: int | None) -> dict[int, Path]:
    files: dict[int, Path] = {}
    if not folder.is_dir():
        return files
    for entry in sorted(folder.iterdir()):
        match = _H5_NAME.match(entry.name)
        # fragments (p1_r2.<id>.writing.h5 / .ready.h5) do not match and are left out
        if match and entry.is_file() and (proposal is None or int(match[1]) == proposal):
            files[int(match[2])] = entry
    return files


# -- small conversions -----------------------------------------------------------------------


def _json(text: Any) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return {"unparsed": text if isinstance(text, str) else repr(text)}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bytes):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bytes):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _utc(value: Any) -> datetime | None:
    """UTC epoch seconds (DAMNIT's timestamps) as an aware datetime; None if not one."""
    seconds = _float_or_none(value)
    if seconds is None or not math.isfinite(seconds):
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
