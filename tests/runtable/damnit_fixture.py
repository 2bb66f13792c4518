"""Write real DAMNIT folders (``runs.sqlite``, ``context.py``, ``extracted_data/``) for tests.

The layout follows DAMNIT's data formats v0–v4 as described in
``shared/notes/runtable.md`` §2: the long-narrow ``run_variables`` table, ``run_info``,
``variables``, ``metameta``, ``time_comments``, the tags tables (v3+), the orphan-tag
trigger (v4), the ``runs``/``max_diffs`` pivot views, and one HDF5 file per run with
``.reduced/<name>``, ``.errors/<name>`` and ``<name>/data`` (an xarray object as a NetCDF
group written by h5netcdf).

:func:`make_damnit_folder` writes a small folder with every kind of value DAMNIT stores;
:func:`expected_value` says what each cell holds, so tests compare against one source.
:func:`make_damnit_sqlite_bulk` writes a large ``runs.sqlite`` quickly for the bench.
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

#: DAMNIT's current data format
LATEST_VERSION = 4

#: the first run's start time (UTC epoch seconds); run n starts 600 s per run later
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC).timestamp()
#: when every value of the fixture was written (UTC epoch seconds)
WRITTEN_AT = T0 + 86_400.0

#: the computed variables of the fixture's context file (name -> title, description, tags)
COMPUTED = {
    "xgm_energy": ("XGM/Energy", "Mean pulse energy from the XGM.", ["beam", "xgm"]),
    "n_trains": ("Trains", "Number of trains in the run.", ["daq"]),
    "sample_name": ("Sample name", "The sample from the run's metadata.", []),
    "detector_image": ("Detector", "Mean detector image.", ["detector"]),
    "trace": ("Trace", "Energy per train.", ["beam"]),
    "phase": ("Phase", "A complex phase.", []),
    "scan_start": ("Scan start", "When the motor scan started.", []),
    "cube": ("Cube", "A 3-D array (shown as dtype: shape).", []),
    "bad": ("Bad", "Always fails.", []),
    "motor_scan": ("Motor scan", "Skipped on even runs.", ["motors"]),
}
#: the user-editable variables (name -> type, title)
USER = {
    "sample": ("string", "Sample"),
    "temperature": ("number", "Temperature (K)"),
    "shots": ("integer", "Shots"),
    "good": ("boolean", "Good run"),
}

CONTEXT_PY = '''\
"""Context file of the shiftdesk DAMNIT fixture (DAMNIT syntax)."""
import numpy as np
import xarray as xr
from damnit_ctx import Cell, Skip, Variable


@Variable(title="XGM/Energy", summary="mean", units="µJ", tags=["beam", "xgm"])
def xgm_energy(run):
    """Mean pulse energy from the XGM."""
    return run["SA1_XTD2_XGM/XGM/DOOCS:output", "data.intensityTD"].ndarray()[:, 0]


@Variable(title="Trains", tags="daq")
def n_trains(run):
    """Number of trains in the run."""
    return len(run.train_ids)


@Variable(title="Sample name")
def sample_name(run, sample: "mymdc#sample_name"):
    """The sample from the run's metadata."""
    return sample


@Variable(title="Detector", tags="detector")
def detector_image(run):
    """Mean detector image."""
    return np.random.default_rng(0).random((8, 12))


@Variable(title="Trace", tags="beam")
def trace(run, energy: "var#xgm_energy"):
    """Energy per train."""
    return xr.DataArray(energy, dims=["trainId"], attrs={"units": "µJ"})


@Variable(title="Phase")
def phase(run):
    """A complex phase."""
    return 1 + 2j


@Variable(title="Scan start")
def scan_start(run):
    """When the motor scan started."""
    return np.datetime64("2026-03-14T09:05:00")


@Variable(title="Cube")
def cube(run):
    """A 3-D array (shown as dtype: shape)."""
    return np.zeros((4, 5, 6), dtype=np.float32)


@Variable(title="Bad")
def bad(run):
    """Always fails."""
    return 1 / 0


@Variable(title="Motor scan", tags=["motors"])
def motor_scan(run, number: "meta#run_number"):
    """Skipped on even runs."""
    if number % 2 == 0:
        raise Skip("no motor scan in this run")
    return Cell(number * 0.5, bold=True)
'''


# -- value helpers ---------------------------------------------------------------------------


def png_bytes(width: int = 12, height: int = 8, seed: int = 0) -> bytes:
    """A small valid 8-bit greyscale PNG (written by hand: no imaging library needed)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (what DAMNIT stores for arrays)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def trendline(run: int) -> np.ndarray:
    """The 2×N (x, y) float64 trendline DAMNIT stores for ``trace`` of ``run``."""
    x = np.arange(20, dtype=np.float64)
    return np.stack([x, run + 0.1 * np.sin(x)])


def _computed_runs(runs: int) -> list[int]:
    """The runs that have been processed (all but a pre-created last run when runs ≥ 3)."""
    return list(range(1, runs)) if runs >= 3 else list(range(1, runs + 1))


def expected_value(name: str, run: int) -> dict[str, Any]:
    """What the fixture stores for (``run``, ``name``), in the run table's terms.

    Keys: ``kind`` and, as they apply, ``number``, ``text``, ``blob``, ``max_diff``,
    ``units``, ``error``, ``error_cls``.
    """
    if name == "xgm_energy":
        return {"kind": "number", "number": 1.5 * run + 0.25, "max_diff": 0.1 * run, "units": "µJ"}
    if name == "n_trains":
        # run 1 has a second version (the latest wins)
        return {"kind": "integer", "number": 100 * run + (1 if run == 1 else 0)}
    if name == "sample_name":
        return {"kind": "string", "text": f"sample-{run}"}
    if name == "detector_image":
        return {"kind": "thumbnail", "blob": png_bytes(seed=run)}
    if name == "trace":
        return {"kind": "sparkline", "array": trendline(run).astype(np.float32)}
    if name == "phase":
        return {"kind": "complex", "complex": complex(run, -run)}
    if name == "scan_start":
        return {"kind": "timestamp", "number": T0 + 600.0 * run + 30.0}
    if name == "cube":
        return {"kind": "text", "text": "float32: (4, 5, 6)"}
    if name == "bad":
        return {"kind": "error", "error": "division by zero", "error_cls": "ZeroDivisionError"}
    if name == "motor_scan":
        if run % 2 == 0:
            return {"kind": "skipped", "error": "no motor scan in this run", "error_cls": "Skip"}
        return {"kind": "number", "number": run * 0.5}
    if name == "sample":
        return {"kind": "string", "text": f"LaB6 #{run}"}
    if name == "temperature":
        return {"kind": "number", "number": 290.0 + run}
    if name == "shots":
        return {"kind": "integer", "number": 10 * run}
    if name == "good":
        return {"kind": "boolean", "number": run % 3 != 0}
    if name == "comment":
        return {"kind": "string", "text": f"comment on run {run}"}
    raise KeyError(name)


# -- schema ----------------------------------------------------------------------------------


def _create_schema(conn: sqlite3.Connection, version: int) -> None:
    """The tables of DAMNIT data format ``version`` (1–4), without the pivot views."""
    attributes = ",\n            attributes" if version >= 2 else ""
    conn.executescript(
        f"""
        CREATE TABLE run_info(proposal, run, start_time, added_at);
        CREATE UNIQUE INDEX proposal_run ON run_info (proposal, run);
        CREATE TABLE run_variables(
            proposal, run, name, version, value, timestamp, max_diff, provenance,
            summary_type, summary_method{attributes}
        );
        CREATE UNIQUE INDEX variable_version ON run_variables (proposal, run, name, version);
        CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value);
        CREATE TABLE variables(
            name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT, description TEXT,
            attributes TEXT
        );
        CREATE TABLE time_comments(timestamp, comment);
        """
    )
    if version >= 3:
        conn.executescript(
            """
            CREATE TABLE tags(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
            CREATE TABLE variable_tags(
                variable_name TEXT NOT NULL,
                tag_id INTEGER NOT NULL,
                FOREIGN KEY (variable_name) REFERENCES variables(name) ON DELETE CASCADE,
                FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE,
                PRIMARY KEY (variable_name, tag_id)
            );
            """
        )
    if version >= 4:
        conn.executescript(
            """
            CREATE TRIGGER delete_orphan_tags_after_variable_tag_delete
            AFTER DELETE ON variable_tags
            FOR EACH ROW
            BEGIN
                DELETE FROM tags
                WHERE id = OLD.tag_id
                AND NOT EXISTS (SELECT 1 FROM variable_tags WHERE tag_id = OLD.tag_id);
            END;
            """
        )


def _create_views(conn: sqlite3.Connection) -> None:
    """DAMNIT's wide ``runs`` and ``max_diffs`` views: one CASE column per variable name."""
    names = sorted(
        {r[0] for r in conn.execute("SELECT DISTINCT name FROM run_variables")}
        | {r[0] for r in conn.execute("SELECT name FROM variables")}
    )

    def columns(col: str) -> str:
        return "".join(f", max(CASE WHEN name='{n}' THEN {col} END) AS \"{n}\"" for n in names)

    conn.executescript(
        f"""
        DROP VIEW IF EXISTS runs;
        CREATE VIEW runs AS
            SELECT run_info.proposal, run_info.run, start_time, added_at{columns("value")}
            FROM run_variables INNER JOIN run_info
                ON run_variables.proposal = run_info.proposal
                AND run_variables.run = run_info.run
            GROUP BY run_info.run;
        DROP VIEW IF EXISTS max_diffs;
        CREATE VIEW max_diffs AS
            SELECT proposal, run{columns("max_diff")} FROM run_variables GROUP BY run;
        """
    )


def _metameta(conn: sqlite3.Connection, version: int | None, proposal: int) -> None:
    rows: list[tuple[str, object]] = [
        ("proposal", proposal),
        ("db_id", f"{random.Random(proposal).getrandbits(160):040x}"),
        ("concurrent_jobs", 15),
        ("damnit_python", "/usr/bin/python3"),
        ("slurm_time", "02:00:00"),
    ]
    if version is not None:
        rows.insert(0, ("data_format_version", version))
    conn.executemany("INSERT INTO metameta VALUES (?, ?)", rows)


def _tag(conn: sqlite3.Connection, variable: str, tags: Sequence[str]) -> None:
    for tag in tags:
        conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (tag,))
        (tag_id,) = conn.execute("SELECT id FROM tags WHERE name = ?", (tag,)).fetchone()
        conn.execute("INSERT INTO variable_tags VALUES (?, ?)", (variable, tag_id))


# -- the folder ------------------------------------------------------------------------------


def _db_rows(run: int, name: str, version: int) -> list[dict[str, Any]]:
    """The run_variables rows (all versions) for one computed cell."""
    exp = expected_value(name, run)
    attrs: dict[str, Any] = {}
    row: dict[str, Any] = {
        "version": 1,
        "value": None,
        "max_diff": None,
        "summary_type": None,
        "summary_method": "",
        "provenance": "context.py",
    }
    kind = exp["kind"]
    if name == "xgm_energy":
        row.update(value=exp["number"], max_diff=exp["max_diff"], summary_method="mean")
        attrs["units"] = exp["units"]
    elif kind in ("number", "integer", "string"):
        row["value"] = exp.get("number", exp.get("text"))
        if name == "motor_scan":
            attrs["bold"] = True
    elif kind == "thumbnail":
        row["value"] = exp["blob"]  # PNGs carry no summary_type marker in DAMNIT
    elif kind == "sparkline":
        row.update(value=npy_bytes(trendline(run)), summary_type="trendline")
    elif kind == "complex":
        c = exp["complex"]
        row.update(value=struct.pack("<dd", c.real, c.imag), summary_type="complex")
    elif kind == "timestamp":
        row.update(value=exp["number"], summary_type="timestamp")
    elif kind == "text":
        row.update(value=npy_bytes(np.zeros((4, 5, 6), np.float32)), summary_type="numpy")
    elif kind in ("error", "skipped"):
        if version < 2:
            return []  # no attributes column before v2: DAMNIT stored no failed cells
        attrs.update(error=exp["error"], error_cls=exp["error_cls"])
    row["attributes"] = json.dumps(attrs) if attrs else None
    rows = [row]
    if name == "n_trains" and run == 1:
        rows = [dict(row, value=100), dict(row, version=2, value=101)]
    return rows


def _write_h5(path: Path, run: int, names: Sequence[str]) -> None:
    """One run's ``extracted_data/p<prop>_r<run>.h5`` in DAMNIT's layout (``names`` only)."""
    import h5py
    import xarray as xr

    trace = xr.DataArray(
        1.5 * run + 0.25 + 0.1 * np.sin(np.arange(20.0)),
        dims=["trainId"],
        coords={"trainId": np.arange(1000, 1020)},
        attrs={"units": "µJ"},
    )
    ds = trace.to_dataset(name="__xarray_dataarray_variable__")
    ds.attrs["_damnit_objtype"] = "dataarray"
    ds.to_netcdf(path, mode="w", group="trace", engine="h5netcdf")

    with h5py.File(path, "a") as f:
        red = f.create_group(".reduced")
        errors = f.create_group(".errors")
        exp = expected_value("xgm_energy", run)
        d = red.create_dataset("xgm_energy", data=exp["number"])
        d.attrs.update(summary_method="mean", max_diff=exp["max_diff"], units="µJ")
        f.create_dataset("xgm_energy/data", data=trace.values)
        red.create_dataset("n_trains", data=expected_value("n_trains", run)["number"])
        f.create_dataset("n_trains/data", data=expected_value("n_trains", run)["number"])
        text = expected_value("sample_name", run)["text"]
        red.create_dataset("sample_name", data=text, dtype=h5py.string_dtype())
        f.create_dataset("sample_name/data", data=text, dtype=h5py.string_dtype())
        png = np.frombuffer(png_bytes(seed=run), dtype=np.uint8)
        red.create_dataset("detector_image", data=png)
        f.create_dataset(
            "detector_image/data",
            data=np.random.default_rng(run).random((8, 12)),
            compression="gzip",
        )
        t = red.create_dataset("trace", data=trendline(run))
        t.attrs["summary_type"] = "trendline"
        red.create_dataset("phase", data=expected_value("phase", run)["complex"])
        f.create_dataset("phase/data", data=expected_value("phase", run)["complex"])
        s = red.create_dataset("scan_start", data=expected_value("scan_start", run)["number"])
        s.attrs["summary_type"] = "timestamp"
        f.create_dataset("scan_start/data", data=expected_value("scan_start", run)["number"])
        f["scan_start"].attrs["_damnit_objtype"] = "timestamp"
        red.create_dataset("cube", data="float32: (4, 5, 6)", dtype=h5py.string_dtype())
        f.create_dataset("cube/data", data=np.zeros((4, 5, 6), np.float32), compression="gzip")
        e = errors.create_dataset("bad", data="division by zero", dtype=h5py.string_dtype())
        e.attrs["type"] = "ZeroDivisionError"
        if run % 2 == 0:
            e = errors.create_dataset(
                "motor_scan", data="no motor scan in this run", dtype=h5py.string_dtype()
            )
            e.attrs["type"] = "Skip"
        else:
            m = red.create_dataset("motor_scan", data=run * 0.5)
            m.attrs["bold"] = True
            f.create_dataset("motor_scan/data", data=run * 0.5)
        for name in set(COMPUTED) - set(names):
            for where in (f".reduced/{name}", f".errors/{name}", name):
                if where in f:
                    del f[where]


def make_damnit_folder(
    path: str | Path,
    *,
    runs: int = 5,
    variables: Sequence[str] | None = None,
    version: int = LATEST_VERSION,
    proposal: int = 1234,
    with_h5: bool = True,
    user_variables: bool = True,
) -> Path:
    """Write a DAMNIT folder at ``path`` (created) and return it.

    Parameters
    ----------
    path
        The folder to create (it may exist, empty).
    runs
        Number of runs, numbered 1…``runs``. With three or more, the last one is
        pre-created (``start_time`` NULL, no computed values, no HDF5 file, only a
        comment), as DAMNIT's GUI leaves runs the DAQ has not taken yet.
    variables
        The computed variables to store, a subset of :data:`COMPUTED` (default: all).
    version
        DAMNIT data format: 4 (current), 3 (no orphan-tag trigger), 2 (no tags tables),
        1 (no ``attributes`` column, so no error cells either), or 0 (the legacy wide
        ``runs`` table with one column per variable, no ``data_format_version`` key).
    proposal
        The proposal number (``metameta.proposal``, ``run_info.proposal``, file names).
    with_h5
        Whether to write ``extracted_data/p<proposal>_r<run>.h5`` for processed runs.
    user_variables
        Whether to add the user-editable variables of :data:`USER` and their values
        (every processed run has them, except ``good`` on run 2).

    Returns
    -------
    Path
        ``path``.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(COMPUTED) if variables is None else list(variables)
    unknown = set(names) - set(COMPUTED)
    if unknown:
        raise ValueError(
            f"unknown fixture variables {sorted(unknown)}; choose from {list(COMPUTED)}"
        )
    (folder / "context.py").write_text(CONTEXT_PY)
    db = folder / "runs.sqlite"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    try:
        if version == 0:
            _write_v0(conn, runs=runs, names=names, proposal=proposal)
        elif 1 <= version <= LATEST_VERSION:
            _write_long(
                conn, version, runs=runs, names=names, proposal=proposal, users=user_variables
            )
        else:
            raise ValueError(f"the fixture writes DAMNIT formats 0-{LATEST_VERSION}, not {version}")
        conn.commit()
    finally:
        conn.close()
    if with_h5 and version >= 1:
        (folder / "extracted_data").mkdir(exist_ok=True)
        for run in _computed_runs(runs):
            _write_h5(folder / "extracted_data" / f"p{proposal}_r{run}.h5", run, names)
    return folder


def _write_v0(conn: sqlite3.Connection, *, runs: int, names: list[str], proposal: int) -> None:
    scalar = [n for n in names if expected_value(n, 1)["kind"] in ("number", "integer", "string")]
    extra = "".join(f', "{n}"' for n in scalar)
    conn.executescript(
        f"""
        CREATE TABLE runs(proposal, runnr, start_time, added_at, comment{extra});
        CREATE UNIQUE INDEX proposal_run ON runs (proposal, runnr);
        CREATE TABLE metameta(key PRIMARY KEY NOT NULL, value);
        CREATE TABLE variables(
            name TEXT PRIMARY KEY NOT NULL, type TEXT, title TEXT, description TEXT,
            attributes TEXT
        );
        CREATE TABLE time_comments(timestamp, comment);
        """
    )
    _metameta(conn, None, proposal)
    marks = ", ".join("?" * (5 + len(scalar)))
    for run in range(1, runs + 1):
        values = [
            expected_value(n, run).get("number", expected_value(n, run).get("text")) for n in scalar
        ]
        conn.execute(
            f"INSERT INTO runs VALUES ({marks})",
            [proposal, run, T0 + 600.0 * run, T0 + 600.0 * run + 5, None, *values],
        )


def _write_long(
    conn: sqlite3.Connection,
    version: int,
    *,
    runs: int,
    names: list[str],
    proposal: int,
    users: bool,
) -> None:
    _create_schema(conn, version)
    _metameta(conn, version, proposal)
    if version >= 3:
        conn.execute("PRAGMA foreign_keys = ON")
    for name in names:
        title, description, tags = COMPUTED[name]
        conn.execute(
            "INSERT INTO variables VALUES (?, NULL, ?, ?, NULL)", (name, title, description)
        )
        if version >= 3:
            _tag(conn, name, tags)
    if users:
        for name, (kind, title) in USER.items():
            conn.execute(
                "INSERT INTO variables VALUES (?, ?, ?, ?, NULL)",
                (name, kind, title, f"{title}, typed in by the crew"),
            )
    cols = [
        "proposal", "run", "name", "version", "value", "timestamp", "max_diff",
        "provenance", "summary_type", "summary_method",
    ]  # fmt: skip
    if version >= 2:
        cols.append("attributes")
    insert = f"INSERT INTO run_variables ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    computed = _computed_runs(runs)
    rows: list[dict[str, Any]] = []
    for run in range(1, runs + 1):
        pre_created = run not in computed
        start = None if pre_created else T0 + 600.0 * run
        conn.execute(
            "INSERT INTO run_info VALUES (?, ?, ?, ?)", (proposal, run, start, T0 + 600.0 * run + 5)
        )
        base = {"proposal": proposal, "run": run, "timestamp": WRITTEN_AT + run}
        comment = (
            "planned: LaB6 reference" if pre_created else expected_value("comment", run)["text"]
        )
        rows.append(dict(base, name="comment", version=1, value=comment, provenance=""))
        if pre_created:
            continue
        for name in names:
            rows.extend(dict(base, name=name, **r) for r in _db_rows(run, name, version))
        if users:
            for name, (kind, _) in USER.items():
                if name == "good" and run == 2:
                    continue
                exp = expected_value(name, run)
                value = exp.get("number", exp.get("text"))
                if kind == "boolean":
                    value = int(value)
                rows.append(dict(base, name=name, version=1, value=value, provenance=""))
    conn.executemany(insert, [tuple(r.get(c) for c in cols) for r in rows])
    conn.executemany(
        "INSERT INTO time_comments VALUES (?, ?)",
        [(T0 + 1800.0, "beam lost at 09:30"), (T0 + 3600.0, "sample changed")],
    )
    _create_views(conn)


# -- bulk, for the bench ---------------------------------------------------------------------


def make_damnit_sqlite_bulk(
    path: str | Path, runs: int = 3000, variables: int = 100, seed: int = 0
) -> Path:
    """Write a large v4 ``runs.sqlite`` in folder ``path``, fast, and return the folder.

    Every run has every variable (one version). Variable ``v000``… : every tenth is a
    string (``"s<run>-<i>"``), the others floats (random, with a ``max_diff``); every
    value is written by ``context.py`` at a distinct timestamp. No ``context.py`` or HDF5
    files: the bench reads the database only.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "runs.sqlite"
    db.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"v{i:03d}" for i in range(variables)]
    is_text = [i % 10 == 9 for i in range(variables)]
    proposal = 1234
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        _create_schema(conn, LATEST_VERSION)
        _metameta(conn, LATEST_VERSION, proposal)
        conn.executemany(
            "INSERT INTO variables VALUES (?, NULL, ?, NULL, NULL)",
            [(n, f"Variable {n}") for n in names],
        )
        conn.executemany(
            "INSERT INTO run_info VALUES (?, ?, ?, ?)",
            [(proposal, r, T0 + 600.0 * r, T0 + 600.0 * r + 5) for r in range(1, runs + 1)],
        )
        values = rng.normal(size=(runs, variables)).tolist()
        diffs = rng.random(size=(runs, variables)).tolist()

        def rows() -> Any:
            t = WRITTEN_AT
            for r in range(runs):
                run = r + 1
                for i, name in enumerate(names):
                    t += 0.001
                    if is_text[i]:
                        yield (
                            proposal,
                            run,
                            name,
                            1,
                            f"s{run}-{i}",
                            t,
                            None,
                            "context.py",
                            None,
                            "",
                            None,
                        )
                    else:
                        yield (
                            proposal, run, name, 1, values[r][i], t, diffs[r][i], "context.py",
                            None, "mean", None,
                        )  # fmt: skip

        conn.executemany("INSERT INTO run_variables VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows())
        _create_views(conn)
        conn.commit()
    finally:
        conn.close()
    return folder
