"""Browsing a catalog of 1,000,000 files on SQLite: the API beside raw sqlite3.

Fills the catalog table of a fresh shiftdesk SQLite database with 1,000,000 files in
HST's shape (7 instruments, 12-30 reference types each, mappings and references, 90 %
archived, 8 % operational, the rest in the other states; bulk ``executemany``), then
asks the question the browser asks most: one instrument's files of one type in one
state, sorted by name, first 100.

- shiftdesk: ``cat.browse(instrument=..., filekind=..., state=..., limit=100)`` → DataFrame
- raw sqlite3: the same SELECT (columns, filters, order, limit) on the same file, fetched

Both run 300 random (instrument, filekind, state) triples in alternating blocks.
Prints p50/p95 of each and ``RATIO catalog_browse_p95_ms`` (the API's p95 in ms,
target ≤ 50). Run: ``.venv/bin/python bench/bench_catalog_browse.py`` (about a minute).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, isolate, median, percentile, print_table, ratio_line

FOLDER = isolate()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shiftdesk.catalog import Catalog  # noqa: E402
from shiftdesk.storage import get_database  # noqa: E402

ROWS = 1_000_000
INSTRUMENTS = {
    "ACS": 22,
    "COS": 24,
    "NICMOS": 17,
    "STIS": 30,
    "WFC3": 19,
    "WFPC2": 12,
    "SYNPHOT": 5,
}
RAW_SQL = (
    "SELECT name, type, instrument, filekind, state, rejected, blacklisted, size, added_at, "
    "delivery_date, activation_date, useafter_date, derived_from, deliverer, description, "
    "sha1sum FROM catalog_files WHERE observatory = ? AND instrument = ? AND filekind = ? "
    "AND state = ? ORDER BY name ASC LIMIT 100"
)


def _state(rng: random.Random) -> str:
    x = rng.random()
    if x < 0.90:
        return "archived"
    if x < 0.98:
        return "operational"
    return rng.choice(["delivered", "submitted", "archiving", "cancelled", "archiving-failed"])


def fill(path: str) -> list[tuple[str, str, str]]:
    """1,000,000 rows in HST's shape; the (instrument, filekind, state) triples to ask."""
    rng = random.Random(7)
    kinds = [(i, f"KIND{k:02d}") for i, n in INSTRUMENTS.items() for k in range(n)]
    start = datetime(2013, 7, 2, tzinfo=UTC)
    conn = sqlite3.connect(path)

    def rows():  # type: ignore[no-untyped-def]
        for n in range(ROWS):
            instrument, filekind = rng.choice(kinds)
            mapping = n % 20 == 0
            ext = "rmap" if mapping else "fits"
            when = (start + timedelta(minutes=5 * n)).isoformat(sep=" ")
            yield (
                "hst", f"hst_{instrument.lower()}_{filekind.lower()}_{n:07d}.{ext}",
                "mapping" if mapping else "reference", ext, instrument, filekind,
                rng.randrange(500, 50_000_000), f"{n:040x}", _state(rng), 0, 0, "", "", "bench",
                "", when, when, None, None,
            )  # fmt: skip

    conn.executemany(
        "INSERT INTO catalog_files (observatory, name, type, kind, instrument, filekind, size, "
        "sha1sum, state, rejected, blacklisted, derived_from, description, deliverer, "
        "uploaded_as, added_at, delivery_date, activation_date, useafter_date) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows(),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    states = ["archived"] * 6 + ["operational"] * 3 + ["delivered"]
    return [(*rng.choice(kinds), rng.choice(states)) for _ in range(300)]


def main() -> None:
    db = get_database()
    cat = Catalog.create("hst", description="bench")
    path = db.url.removeprefix("sqlite:///")
    began = time.perf_counter()
    asks = fill(path)
    filled = time.perf_counter() - began
    raw = sqlite3.connect(path)
    queue_api = list(asks)
    queue_raw = list(asks)

    def api() -> object:
        instrument, filekind, state = queue_api.pop()
        return cat.browse(instrument=instrument, filekind=filekind, state=state, limit=100)

    def plain() -> object:
        instrument, filekind, state = queue_raw.pop()
        return raw.execute(RAW_SQL, ("hst", instrument, filekind, state)).fetchall()

    # the same answers (names in order), before timing
    probe = asks[0]
    names = cat.browse(instrument=probe[0], filekind=probe[1], state=probe[2])["name"].tolist()
    assert names == [r[0] for r in raw.execute(RAW_SQL, ("hst", *probe)).fetchall()]
    api(), plain()  # warm both (compiled statement, page cache)
    queue_api[:] = queue_raw[:] = list(asks)
    times = interleaved({"shiftdesk": api, "raw sqlite3": plain}, rounds=30, per_round=10)
    plan = raw.execute("EXPLAIN QUERY PLAN " + RAW_SQL, ("hst", *probe)).fetchall()
    raw.close()
    rows = [
        [name, f"{median(t) * 1e3:.2f}", f"{percentile(t, 0.95) * 1e3:.2f}", len(t)]
        for name, t in times.items()
    ]
    print(f"{ROWS:,} catalog rows filled in {filled:.1f} s; query plan: {plan[-1][-1]}")
    print_table(rows, ["browse, 3 filters, sorted, first 100", "p50 ms", "p95 ms", "calls"])
    print(ratio_line("catalog_browse_p95_ms", percentile(times["shiftdesk"], 0.95) * 1e3, 50))


if __name__ == "__main__":
    main()
