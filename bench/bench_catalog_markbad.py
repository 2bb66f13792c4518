"""Marking a rule bad in a catalog of ~220,000 mappings (10 × HST): the transitive
blacklist and its audit, through the API, on SQLite.

The rules history is simulated the way contexts grow: 7 instruments with 20 reference
types each; every step replaces one rmap, so it makes a new imap of that instrument and a
new pmap (3 mappings a step, ~73,000 steps, ~2,000,000 edges; bulk ``executemany``). The
newest pmap is latest. Then ``cat.mark_bad([rmap], why=...)``, timed whole: the check that
the latest context does not use it, the recursive query up the edges, the flags, a
history line and an audit row per file, one transaction. Then ``unmark_bad`` (timed too)
restores the catalog for the next round.

- typical: a random rmap that a later step replaced (used by tens to hundreds of contexts);
- worst: the one rmap kept from the first context until the last step, used by every imap
  of its instrument and every pmap (~84,000 files blacklisted).

Prints the times (median of 5 marks each) and ``RATIO catalog_mark_bad_s`` (the slower
case's median in seconds, the worst one so far; target ≤ 1).
Run: ``.venv/bin/python bench/bench_catalog_markbad.py`` (about a minute).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolate, median, print_table, ratio_line

FOLDER = isolate()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shiftdesk.catalog import Catalog  # noqa: E402
from shiftdesk.storage import get_database  # noqa: E402

MAPPINGS = 220_000
INSTRUMENTS = ["acs", "cos", "nicmos", "stis", "wfc3", "wfpc2", "synphot"]
TYPES = 20


def simulate(path: str) -> tuple[str, list[str], dict[str, int]]:
    """Fill the tables; the latest pmap, the replaced rmaps, and each rmap's imap count."""
    rng = random.Random(11)
    files: list[tuple[str, str, str, str, str, str]] = []  # name, kind, instrument, filekind
    edges: list[tuple[str, str, str]] = []
    serial: dict[str, int] = {}
    used_by: dict[str, int] = {}

    def name(series: str, ext: str) -> str:
        serial[series] = serial.get(series, 0) + 1
        return f"{series}_{serial[series]:04d}.{ext}"

    rmaps = {
        (i, t): name(f"hst_{i}_type{t:02d}", "rmap") for i in INSTRUMENTS for t in range(TYPES)
    }
    for (i, t), rmap in rmaps.items():
        files.append((rmap, "rmap", i.upper(), f"TYPE{t:02d}"))

    def new_imap(instrument: str) -> str:
        imap = name(f"hst_{instrument}", "imap")
        files.append((imap, "imap", instrument.upper(), ""))
        for t in range(TYPES):
            edges.append((imap, rmaps[(instrument, t)], "mapping"))
            used_by[rmaps[(instrument, t)]] = used_by.get(rmaps[(instrument, t)], 0) + 1
        return imap

    imaps = {i: new_imap(i) for i in INSTRUMENTS}

    def new_pmap() -> str:
        pmap = name("hst", "pmap")
        files.append((pmap, "pmap", "", ""))
        edges.extend((pmap, imap, "mapping") for imap in imaps.values())
        return pmap

    pmap = new_pmap()
    replaced: list[str] = []
    steps = (MAPPINGS - len(files)) // 3
    worst_key = ("wfc3", 0)
    for step in range(steps):
        if step == steps - 1:
            key = worst_key  # kept since the first context, replaced only now
        else:
            key = (rng.choice(INSTRUMENTS), rng.randrange(TYPES))
            if key == worst_key:
                key = (key[0], 1)
        replaced.append(rmaps[key])
        rmaps[key] = name(f"hst_{key[0]}_type{key[1]:02d}", "rmap")
        files.append((rmaps[key], "rmap", key[0].upper(), f"TYPE{key[1]:02d}"))
        imaps[key[0]] = new_imap(key[0])
        pmap = new_pmap()
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO catalog_files (observatory, name, type, kind, instrument, filekind, size, "
        "sha1sum, state, rejected, blacklisted, derived_from, description, deliverer, "
        "uploaded_as, added_at) VALUES ('hst', ?, 'mapping', ?, ?, ?, 1000, ?, 'archived', "
        "0, 0, '', '', 'bench', '', '2020-01-01 00:00:00')",
        ((n, k, i, f, f"{x:040x}") for x, (n, k, i, f) in enumerate(files)),
    )
    conn.executemany(
        "INSERT INTO catalog_edges (observatory, parent, child, child_type) "
        "VALUES ('hst', ?, ?, ?)",
        edges,
    )
    conn.execute(
        "INSERT INTO catalog_contexts (observatory, kind, context, changed_by, changed_at) "
        "VALUES ('hst', 'latest', ?, 'bench', '2020-01-01 00:00:00')",
        (pmap,),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    print(f"{len(files):,} mappings, {len(edges):,} edges, latest {pmap}")
    return pmap, replaced, used_by


def main() -> None:
    db = get_database()
    cat = Catalog.create("hst", description="bench")
    began = time.perf_counter()
    _, replaced, used_by = simulate(db.url.removeprefix("sqlite:///"))
    print(f"filled in {time.perf_counter() - began:.1f} s")
    rng = random.Random(3)
    cases = {"typical": rng.sample(replaced[:-1], 5), "worst": [replaced[-1]] * 5}
    rows = []
    figures: dict[str, float] = {}
    for case, victims in cases.items():
        marks, unmarks, counts = [], [], []
        for victim in victims:
            t0 = time.perf_counter()
            blacklisted = cat.mark_bad([victim], why="bench")
            marks.append(time.perf_counter() - t0)
            counts.append(len(blacklisted))
            t0 = time.perf_counter()
            cat.unmark_bad([victim], why="bench")
            unmarks.append(time.perf_counter() - t0)
        figures[case] = median(marks)
        rows.append(
            [case, f"{median(counts):,.0f}", f"{median(marks):.3f}", f"{max(marks):.3f}",
             f"{median(unmarks):.3f}"]
        )  # fmt: skip
    print_table(rows, ["case", "files blacklisted", "mark_bad s (median)", "max", "unmark s"])
    print(f"worst case median: {figures['worst']:.3f} s")
    assert max(used_by.values()) > 0
    # the target holds for every rule, the one every context uses included
    print(ratio_line("catalog_mark_bad_s", max(figures.values()), 1))


if __name__ == "__main__":
    main()
