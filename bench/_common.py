"""Helpers shared by the benchmark scripts (not a benchmark itself).

Every script calls :func:`isolate` *before* importing shiftdesk, so that the jobs
database and job logs go to a throw-away folder and never to the user's data.
"""

from __future__ import annotations

import atexit
import gc
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence


def isolate() -> str:
    """Point shiftdesk at a fresh temporary data folder (removed at exit)."""
    folder = tempfile.mkdtemp(prefix="shiftdesk-bench-")
    os.environ["SHIFTDESK_DATA_DIR"] = folder
    # never reach a real database or act as a real user
    for name in ("SHIFTDESK_DATABASE_URL", "SHIFTDESK_ADMINS", "SHIFTDESK_GROUPS"):
        os.environ.pop(name, None)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def machine() -> str:
    """One line describing where the figures were measured."""
    import bumps
    import numpy
    import refl1d

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores{load}; refl1d {refl1d.__version__}, "
        f"bumps {bumps.__version__}, numpy {numpy.__version__}"
    )


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Per-call wall times (s) of each variant, run in alternating blocks.

    Alternating blocks spread slow drifts of the machine (frequency scaling, other
    processes) evenly over the variants, so their ratio is fair.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, call in variants.items():
            gc.collect()
            gc.disable()
            try:
                out = times[name]
                for _ in range(per_round):
                    t0 = clock()
                    call()
                    out.append((clock() - t0) * 1e-9)
            finally:
                gc.enable()
    return times


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """A percentile (nearest rank), ``fraction`` in [0, 1]."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return float(ordered[index])


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def ratio_line(name: str, value: float, target: float) -> str:
    """The machine-readable last line every benchmark prints."""
    return f"RATIO {name} = {value:.2f} (target <= {target:g})"
