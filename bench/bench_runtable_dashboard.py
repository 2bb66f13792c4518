"""The run-table dashboard at 3,000 runs × 100 variables (issue 11: first screen ≤ 2 s,
one updated run redrawn ≤ 100 ms).

Setup, in the script's throw-away data folder: a run table ``demo`` of 3,000 runs × 100
variables, imported with ``RunTable.import_damnit`` from a DAMNIT folder written by
``tests/runtable/damnit_fixture.make_damnit_sqlite_bulk`` (as ``bench_runtable.py`` does).

1. **First screen in the browser.** Two ``voila`` servers (that data folder): one on
   ``notebooks/runtable.ipynb`` (``RunTableView.start("demo")``), one on a minimal page (a
   bqplot figure with one line, as ``bench_dashboard_open.py``). ``RUNS`` page loads of
   each, alternating, each in a fresh browser context (and a fresh kernel), after one
   warm-up each. Clock: navigation → the first grid row attached (``.sd-rt-row``, a row of
   ``RunGrid``; a drawn row also carries its run's class, so the selector is
   ``.sd-rt-row.sd-rt-r<first run>``) vs the minimal page's ``path.line``.
2. **In process** (no browser, no event loop: the view's ticker does not start, ``tick()``
   is called by hand): ``RunTableView(RunTable.open("demo"))`` built (median of 3), next to
   ``rt.table()`` alone; then one updated run redrawn: ``rt.set(run, "comment", text)`` on
   the first run of the first page, then ``view.tick()`` until the grid's comment box of
   that run holds ``text`` (median of 10; the set and the tick are also given apart).

Prints ``RATIO runtable_dashboard_first_screen_s`` (target ≤ 2),
``RATIO runtable_dashboard_vs_minimal_bqplot`` (no target: what the dashboard costs beyond
a bare Voilà + bqplot page) and ``RATIO runtable_dashboard_row_update_ms`` (set → shown,
target ≤ 100).
Run: ``.venv/bin/python bench/bench_runtable_dashboard.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    isolate,
    machine,
    median,
    minimal_bqplot_page,
    ratio_line,
    voila_pages,
)

FOLDER = isolate()
sys.path.insert(0, str(ROOT))

from tests.runtable.damnit_fixture import make_damnit_sqlite_bulk  # noqa: E402

RUNS_IN_TABLE, VARIABLES = 3000, 100
NAME = "demo"
RUNS = 3
BUILDS = 3
UPDATES = 10


def setup() -> None:
    """The table ``demo``: 3,000 runs × 100 variables, imported from a DAMNIT folder."""
    from shiftdesk.runtable import RunTable

    folder = Path(tempfile.mkdtemp(prefix="damnit-", dir=FOLDER))
    t0 = time.perf_counter()
    make_damnit_sqlite_bulk(folder, runs=RUNS_IN_TABLE, variables=VARIABLES, seed=0)
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    RunTable.import_damnit(folder, name=NAME)
    print(
        f"setup: DAMNIT folder of {RUNS_IN_TABLE:,} runs × {VARIABLES} variables written in "
        f"{written:.1f} s, imported as {NAME!r} in {time.perf_counter() - t0:.1f} s"
    )


def open_page(browser: object, url: str, selector: str) -> float:
    """Seconds from navigation until ``selector`` is attached, in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1600, "height": 1200})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, timeout=180_000)
        page.locator(selector).first.wait_for(state="attached", timeout=180_000)
        return time.perf_counter() - t0
    finally:
        context.close()


def browser_part(first_run: int) -> dict[str, list[float]]:
    """Page loads of the dashboard and the minimal page, alternating (seconds)."""

    folder = Path(tempfile.mkdtemp(prefix="bench-rtdash-", dir=FOLDER))
    minimal = minimal_bqplot_page(folder)
    servers = {
        "run-table dashboard": (
            ROOT / "notebooks" / "runtable.ipynb",
            f".sd-rt-row.sd-rt-r{first_run}",
        ),
        "minimal bqplot page": (minimal, "path.line"),
    }
    times: dict[str, list[float]] = {name: [] for name in servers}
    notebooks = {name: notebook for name, (notebook, _) in servers.items()}
    with voila_pages(notebooks) as (browser, urls):
        for name, (_, selector) in servers.items():  # warm-up, not counted
            open_page(browser, urls[name], selector)
        for _ in range(RUNS):
            for name, (_, selector) in servers.items():
                times[name].append(open_page(browser, urls[name], selector))
    return times


def in_process() -> tuple[dict[str, list[float]], int]:
    """View builds, ``table()`` alone, and set → row shown (seconds); the first run shown."""
    from shiftdesk.runtable import RunTable
    from shiftdesk_widgets.runtable.view import RunTableView

    rt = RunTable.open(NAME)
    out: dict[str, list[float]] = {
        "RunTable.open": [], "rt.table() alone": [], "RunTableView(rt) built": [],
        "set → row shown": [], "  rt.set": [], "  tick(s) → shown": [],
    }  # fmt: skip
    view = None
    for _ in range(BUILDS):
        t0 = time.perf_counter()
        table = RunTable.open(NAME)
        out["RunTable.open"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rt.table()
        out["rt.table() alone"].append(time.perf_counter() - t0)
        if view is not None:
            view.close()
        t0 = time.perf_counter()
        view = RunTableView(table)
        out["RunTableView(rt) built"].append(time.perf_counter() - t0)
    assert view is not None
    from ipywidgets.widgets import widget as widget_module

    before = len(widget_module._instances)
    RunTableView(table).close()
    print(
        f"widget models a view makes: {len(widget_module._instances) - before} "
        "(each one a comm message and a view in the browser)"
    )
    first = view.grid.page_runs[0]
    print(f"first page: {len(view.grid.page_runs)} runs ({view.grid.page_runs[:3]}…), "
          f"{len(view.grid.shown_columns)} columns shown")  # fmt: skip
    ticks = []
    for i in range(UPDATES):
        text = f"bench comment {i} {time.time():.6f}"
        box = view.grid.editor(first, "comment")
        assert box is not None, "no comment box on the first page"
        t0 = time.perf_counter()
        rt.set(first, "comment", text)
        t1 = time.perf_counter()
        n = 0
        while view.grid.editor(first, "comment").value != text:
            view.tick()
            n += 1
            if time.perf_counter() - t0 > 30:
                raise TimeoutError("the updated run was not redrawn within 30 s")
        t2 = time.perf_counter()
        out["set → row shown"].append(t2 - t0)
        out["  rt.set"].append(t1 - t0)
        out["  tick(s) → shown"].append(t2 - t1)
        ticks.append(n)
    print(f"ticks needed per update: {ticks}")
    view.close()
    return out, first


IMPORTS = """\
import time
t0 = time.perf_counter()
import ipywidgets, bqplot
t1 = time.perf_counter()
import shiftdesk_widgets.runtable.view
print(t1 - t0, time.perf_counter() - t1)
"""


def cold_imports() -> tuple[float, float]:
    """Seconds a fresh kernel spends importing ipywidgets + bqplot (what the minimal page
    imports too), then the run-table view's modules on top (median of 3 fresh processes)."""
    import subprocess

    pairs = [
        [float(x) for x in subprocess.run([sys.executable, "-c", IMPORTS], check=True,
                                          capture_output=True, text=True).stdout.split()]
        for _ in range(3)
    ]  # fmt: skip
    return median([p[0] for p in pairs]), median([p[1] for p in pairs])


def main() -> int:
    print(f"# bench_runtable_dashboard: {machine()}")
    setup()
    inproc, first = in_process()
    print("in process (s):")
    for name, values in inproc.items():
        print(f"  {name:<24} " + ", ".join(f"{t:6.3f}" for t in values)
              + f"   median {median(values):6.3f}")  # fmt: skip
    base_imports, view_imports = cold_imports()
    print(
        f"cold imports in a fresh process: ipywidgets + bqplot {base_imports:.2f} s, then "
        f"shiftdesk_widgets.runtable.view {view_imports:.2f} s"
    )
    times = browser_part(first)
    print("page → first screen, standalone voila (s):")
    for name, values in times.items():
        print(f"  {name:<22} " + ", ".join(f"{t:5.2f}" for t in values)
              + f"   p50 {statistics.median(values):5.2f}")  # fmt: skip
    dash = statistics.median(times["run-table dashboard"])
    base = statistics.median(times["minimal bqplot page"])
    print(f"load average now {os.getloadavg()[0]:.1f}")
    print(f"rt.table() alone median {median(inproc['rt.table() alone']):.3f} s")
    print(ratio_line("runtable_dashboard_first_screen_s", dash, 2))
    print(f"RATIO runtable_dashboard_vs_minimal_bqplot = {dash / base:.2f} (no target)")
    print(ratio_line("runtable_dashboard_row_update_ms", 1000 * median(inproc["set → row shown"]),
                     100))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
