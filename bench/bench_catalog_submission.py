"""A submission of one reference file to the demo catalog: submit → ready → confirmed.

Through the API on SQLite, standalone (the preparation runs in a thread of this process,
as the gate service runs it on a hub): the file sent, its header read, the checks (twin
by sha1 against the catalog), the instrument lock, the official names from the locked
counters, the new rmap, imap and pmap with their checksums, the diffs and collisions;
then confirm (files into the store and the catalog, the new edit context, the lock
released). Beside it, the rules engine's own part alone (insert the reference into the
rmap, make the new imap and pmap), measured on the same mappings in the same run: what
the catalog's bookkeeping adds to it.

Prints the medians of 7 submissions (each a new file, so no twin), the engine's median,
and ``RATIO catalog_submission_s`` (submit + confirm in seconds, target ≤ 2).
Run: ``.venv/bin/python bench/bench_catalog_submission.py`` (about half a minute).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolate, machine, median, print_table, ratio_line

FOLDER = isolate()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shiftdesk.catalog import Catalog, refactor  # noqa: E402
from shiftdesk.catalog.demo import seed_demo, write_reference  # noqa: E402
from shiftdesk.catalog.headers import read_header  # noqa: E402
from shiftdesk.identity import current_identity  # noqa: E402
from shiftdesk.storage import get_database  # noqa: E402

ROUNDS = 7


def demo_catalog() -> Catalog:
    """The demo catalog, as ``shiftdesk demo`` makes it."""
    seed_demo(get_database(), current_identity())
    return Catalog.open("roman")


def new_flat(folder: Path, i: int) -> Path:
    path = folder / f"flat_{i}.asdf"
    meta = {
        "reftype": "FLAT",
        "useafter": f"2026-{1 + i % 12:02d}-01T00:00:00",
        "description": f"bench flat {i}",
        "instrument": {"name": "WFI", "detector": "WFI02", "optical_element": "F213"},
    }
    write_reference(path, meta, seed=1000 + i)
    return path


def engine_only(cat: Catalog, path: Path) -> float:
    """The rules engine's part of a submission, on the same edit context."""
    context = cat.load_context("edit")
    header = read_header(path)
    header["ROMAN.META.EXPOSURE.START_TIME"] = header["ROMAN.META.USEAFTER"].replace("T", " ")
    imap = context.mappings[context.pmap].selector["WFI"]
    rmap_name = context.mappings[imap].selector["FLAT"]
    start = time.perf_counter()
    new_rmap = refactor.insert_reference(
        context.mappings[rmap_name], "roman_wfi_flat_9999.asdf", header,
        new_name="roman_wfi_flat_9999.rmap",
    )  # fmt: skip
    refactor.new_context(context, [new_rmap], lambda m: m.name.replace("_0", "_9"))
    return time.perf_counter() - start


def main() -> None:
    work = Path(tempfile.mkdtemp(dir=FOLDER))
    cat = demo_catalog()
    prepare: list[float] = []
    confirm: list[float] = []
    engine: list[float] = []
    for i in range(ROUNDS):
        path = new_flat(work, i)
        engine.append(engine_only(cat, path))
        start = time.perf_counter()
        sub = cat.submit([path], description=f"bench {i}")
        ready = time.perf_counter()
        assert sub.status == "done", sub.error
        sub.confirm()
        done = time.perf_counter()
        prepare.append(ready - start)
        confirm.append(done - ready)
    total = [p + c for p, c in zip(prepare, confirm, strict=True)]
    print(f"machine: {machine()}")
    print(f"catalog: {len(cat)} files after {ROUNDS} submissions; edit {cat.context('edit')}")
    print_table(
        [
            ("submit → ready (checks, names, new rules, diffs)", f"{median(prepare) * 1e3:.0f} ms"),
            ("confirm (deliver, new edit context)", f"{median(confirm) * 1e3:.0f} ms"),
            ("submit + confirm", f"{median(total) * 1e3:.0f} ms"),
            ("rules engine alone (insert + new imap/pmap)", f"{median(engine) * 1e3:.1f} ms"),
        ],
        ["step (median of 7)", "time"],
    )
    print(ratio_line("catalog_submission_s", median(total), 2.0))


if __name__ == "__main__":
    main()
