"""Best references for 1,000 headers: shiftdesk's compiled rules vs the crds package.

The context is the Roman test tree of ``tests/catalog/_trees.py``: the five real Roman
rules files plus ``roman_0100.pmap`` -> ``roman_wfi_0100.imap`` with eight rmaps (Match
with exact keys, ``*``, N/A, or-globs; UseAfter with several dates; ties; an N/A and an
OMIT type). 1,000 headers (fixed seed) mix hits and misses of every kind.

Compared, side by side in one run (alternating blocks, median per block of 1,000):

* shiftdesk ``Context.best_references(header)`` (all types);
* the crds package computing the same locally, as ``crds.getrecommendations`` does in
  local mode: ``check_parameters``, Roman's ``dataset_to_ref_header``, then
  ``heavy_client.hv_best_references(pmap, header)`` on a CRDS cache in a temporary folder
  (offline; no server is contacted).

Both answer every header identically (checked first; where crds returns a tuple of tied
files, shiftdesk returns a "NOT FOUND ..." naming them, and that type is left out of the
check). Run: ``.venv/bin/python bench/bench_catalog_bestrefs.py``
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

from _common import interleaved, isolate, machine, median, percentile, print_table, ratio_line

NAME = "catalog_bestrefs"
TARGET = 1.0
HEADERS = 1000
PMAP = "roman_0100.pmap"
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    isolate()
    sys.path.insert(0, str(ROOT))
    from tests.catalog._trees import synthetic_tree, write_tree
    from tests.catalog.test_selection import random_header

    print(f"# bench_{NAME}: {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="crds-bench-"))
    files = synthetic_tree()
    write_tree(folder, files)
    os.environ.update(
        CRDS_PATH=str(folder),
        CRDS_SERVER_URL="https://roman-crds-offline.invalid",
        CRDS_MODE="local",
        CRDS_OBSERVATORY="roman",
    )
    from crds.core import heavy_client, utils

    from shiftdesk.catalog.mappings import parse_mapping
    from shiftdesk.catalog.selection import Context

    locate = utils.get_locator_module("roman")

    def crds_best(header: dict[str, object]) -> dict[str, object]:
        params = locate.dataset_to_ref_header(heavy_client.check_parameters(header))
        return dict(heavy_client.hv_best_references(PMAP, params))

    rng = random.Random(12345)
    headers = [random_header(rng) for _ in range(HEADERS)]
    ctx = Context.load(PMAP, lambda name: parse_mapping(files[name], name))

    same = found = 0
    for header in headers:
        expected, got = crds_best(header), ctx.best_references(header)
        for reftype, answer in list(expected.items()):
            if isinstance(answer, tuple):
                del expected[reftype], got[reftype]
        assert got == expected, (header, got, expected)
        same += 1
        found += sum(not str(v).startswith("NOT FOUND") for v in got.values())
    print(f"{PMAP}: {len(ctx.mappings)} mappings in its closure; {same:,} headers answered "
          f"identically ({found:,} files found, the rest NOT FOUND / n/a)")  # fmt: skip

    variants = {
        "crds hv_best_references": lambda: [crds_best(h) for h in headers],
        "shiftdesk Context.best_references": lambda: [ctx.best_references(h) for h in headers],
    }
    times = interleaved(variants, rounds=7, per_round=1)
    med = {name: median(t) for name, t in times.items()}
    base = med["crds hv_best_references"]
    rows = [
        (name, f"{med[name] * 1e3:.1f}", f"{percentile(t, 0.9) * 1e3:.1f}",
         f"{med[name] / HEADERS * 1e6:.1f}", f"{med[name] / base:.2f}")
        for name, t in times.items()
    ]  # fmt: skip
    print()
    print_table(rows, [f"{HEADERS:,} headers", "median ms", "p90 ms", "µs/header", "÷ crds"])
    print(f"\nmachine after the run: {machine()}")
    print(ratio_line(f"{NAME}_vs_crds", med["shiftdesk Context.best_references"] / base, TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
