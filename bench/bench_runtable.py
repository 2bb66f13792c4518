"""The run table's ``table()`` against DAMNIT's own way of building the table.

A DAMNIT-layout ``runs.sqlite`` (format v4) of 3,000 runs × 100 variables (300,000
cells, every tenth variable text, the others floats) is written by
``tests/runtable/damnit_fixture.make_damnit_sqlite_bulk``. Compared, side by side in one
run (alternating blocks, median per call):

* the baseline, DAMNIT's ``Damnit.table()`` as it works since May 2026 (notes §2.4 item 3):
  raw ``sqlite3`` + ``pandas.read_sql_query`` of the latest-version ``run_variables`` rows
  (BLOBs replaced by ``<thumbnail>``/``<sparkline>``/``<ndarray>`` in the SQL), a
  ``DataFrame.pivot`` on (proposal, run) × name, a left merge onto ``run_info``, empty
  columns for variables without values, ``start_time`` as an aware datetime;
* shiftdesk ``RunTable.table()`` on a run table holding the same values, loaded with
  ``RunTable.import_damnit`` (targets: ≤ 1.2 × the baseline, and ≤ 0.7 s).

For information (not ratios): the time to write the bulk file, DAMNIT's ``runs`` view (the
SQL pivot with one ``max(CASE ...)`` per variable, read once), and
``read_damnit_folder`` (what an import reads).

Run: ``.venv/bin/python bench/bench_runtable.py``
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, interleaved, isolate, machine, median, percentile, print_table, ratio_line

FOLDER = isolate()
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from tests.runtable.damnit_fixture import make_damnit_sqlite_bulk  # noqa: E402

RUNS, VARIABLES = 3000, 100
RATIO_TARGET = 1.2
SECONDS_TARGET = 0.7
ROUNDS = 7

#: the latest version of every (proposal, run, name), with DAMNIT's own idiom (a bare
#: column next to ``max(version)`` takes that row's value; the scan follows the unique index
#: ``variable_version``), BLOBs as placeholders (DAMNIT's DataFrame shows no images)
LATEST_ROWS = """
SELECT proposal, run, name,
       CASE WHEN typeof(value) <> 'blob' THEN value
            WHEN summary_type = 'trendline' THEN '<sparkline>'
            WHEN substr(value, 1, 8) = X'89504E470D0A1A0A' THEN '<thumbnail>'
            ELSE '<ndarray>' END AS value,
       max(version) AS version
FROM run_variables
GROUP BY proposal, run, name
"""


def damnit_table(db: Path) -> pd.DataFrame:
    """The wide table the way DAMNIT's Python API builds it (raw sqlite3 + pandas)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        long = pd.read_sql_query(LATEST_ROWS, conn)
        runs = pd.read_sql_query("SELECT proposal, run, start_time, added_at FROM run_info", conn)
        names = [r[0] for r in conn.execute("SELECT name FROM variables")]
    finally:
        conn.close()
    wide = long.pivot(index=["proposal", "run"], columns="name", values="value")
    wide.columns.name = None
    table = runs.merge(wide.reset_index(), how="left", on=["proposal", "run"])
    for name in names:
        if name not in table.columns:
            table[name] = pd.NA
    for col in ("start_time", "added_at"):
        table[col] = pd.to_datetime(table[col], unit="s", utc=True).dt.tz_convert("Europe/Berlin")
    return table.sort_values(["proposal", "run"]).reset_index(drop=True)


def damnit_view(db: Path) -> pd.DataFrame:
    """DAMNIT's ``runs`` view: the SQL pivot, one ``max(CASE ...)`` per variable."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return pd.read_sql_query("SELECT * FROM runs", conn)
    finally:
        conn.close()


def same_cells(reference: pd.DataFrame, ours: pd.DataFrame) -> str:
    """Whether both tables hold the same runs and variable values (as printed)."""
    names = [c for c in reference.columns if c not in ("proposal", "run", "start_time", "added_at")]
    if list(reference["run"]) != list(ours.index) or not set(names) <= set(ours.columns):
        return "NO: other runs or columns"

    def shown(values: Any) -> list[str]:
        return ["" if pd.isna(v) else repr(float(v)) if isinstance(v, float) else str(v)
                for v in values]  # fmt: skip

    differ = [n for n in names if shown(reference[n]) != shown(ours[n])]
    if differ:
        return f"NO: {len(differ)} column(s) differ, e.g. {differ[:3]}"
    return f"yes ({len(reference) * len(names):,} cells compared)"


def shiftdesk_side(folder: Path) -> Callable[[], Any] | str:
    """``rt.table`` of a run table imported from ``folder``, or why it cannot be measured."""
    try:
        runtable = importlib.import_module("shiftdesk.runtable")
    except ImportError as exc:
        return f"shiftdesk.runtable cannot be imported ({exc})"
    run_table = getattr(runtable, "RunTable", None)
    if run_table is None or not hasattr(run_table, "import_damnit"):
        return "shiftdesk.runtable has no RunTable.import_damnit yet"
    t0 = time.perf_counter()
    rt = run_table.import_damnit(folder, name="bench-p1234")
    print(f"shiftdesk RunTable.import_damnit of {RUNS * VARIABLES:,} cells: "
          f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
    return rt.table


def main() -> int:
    print(f"# bench_runtable: {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="damnit-", dir=FOLDER))
    t0 = time.perf_counter()
    make_damnit_sqlite_bulk(folder, runs=RUNS, variables=VARIABLES, seed=0)
    db = folder / "runs.sqlite"
    print(
        f"DAMNIT v4 runs.sqlite, {RUNS:,} runs × {VARIABLES} variables "
        f"({RUNS * VARIABLES:,} cells, {db.stat().st_size / 1e6:.0f} MB) written in "
        f"{time.perf_counter() - t0:.2f} s"
    )

    from shiftdesk.runtable.damnit_folder import read_damnit_folder

    t0 = time.perf_counter()
    damnit = read_damnit_folder(folder)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    view = damnit_view(db)
    view_s = time.perf_counter() - t0
    reference = damnit_table(db)
    assert reference.shape == (RUNS, 4 + VARIABLES), reference.shape
    assert view.shape == reference.shape, view.shape
    print(f"read_damnit_folder (an import's read): {read_s:.2f} s, {len(damnit.values):,} cells")
    print(f"DAMNIT's `runs` view (SQL CASE pivot), once: {view_s:.2f} s")

    variants: dict[str, Callable[[], Any]] = {
        "DAMNIT: sqlite3 + pandas pivot": lambda: damnit_table(db)
    }
    ours = shiftdesk_side(folder)
    if callable(ours):
        table = ours()
        assert len(table) == RUNS, f"shiftdesk table() has {len(table)} rows, not {RUNS}"
        print(f"same cells in both tables: {same_cells(reference, table)}")
        variants["shiftdesk RunTable.table()"] = ours
    else:
        print(f"shiftdesk side: not measured: {ours}")

    times = interleaved(variants, rounds=ROUNDS, per_round=1)
    med = {name: median(t) for name, t in times.items()}
    base = med["DAMNIT: sqlite3 + pandas pivot"]
    rows = [
        (name, f"{med[name]:.3f}", f"{percentile(t, 0.9):.3f}", f"{med[name] / base:.2f}", len(t))
        for name, t in times.items()
    ]
    print()
    print_table(rows, ["table of 3,000 × 100", "median s", "p90 s", "÷ DAMNIT", "calls"])
    print(f"\nmachine after the run: {machine()}")
    if not callable(ours):
        print(f"baseline only: DAMNIT pivot {base:.3f} s; no RATIO (the shiftdesk side is missing)")
        return 2
    print(ratio_line("runtable_table_vs_damnit_pivot", med["shiftdesk RunTable.table()"] / base,
                     RATIO_TARGET))  # fmt: skip
    print(ratio_line("runtable_table_s", med["shiftdesk RunTable.table()"], SECONDS_TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
