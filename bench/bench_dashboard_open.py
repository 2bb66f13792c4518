"""Standalone Voilà: time until each dashboard's first screen is drawn in Chromium.

One ``voila`` server per page, side by side in this process's lifetime: the five
dashboards (``notebooks/{reflectometry,daq,runtable,catalog,datalab}.ipynb``) and a
minimal page (a bqplot figure with one line in a VBox, written to a temporary folder).
One warm-up load of each (disk cache, Chromium start, and the demo data each dashboard
makes on its first opening), then ``RUNS`` rounds that open every page once, in turn,
each in a fresh browser context and so in a fresh kernel. Clocks from navigation:

* **first screen** — what a user looks at first is drawn (``_common.FIRST_SCREEN``): the
  reflectometry dashboard's box and a line of its R(Q) figure (the selector
  ``bench_hub.py`` uses); the DAQ's run state and its servers' states; the run table's
  first row; the catalog's context cards; the data session's frame cards; the minimal
  page's line;
* **page sent** — the server sent the whole page (``responseEnd`` of the navigation: the
  kernel started and the notebook ran; a dashboard's notebook is one
  ``shiftdesk_widgets.page.Page.start`` cell, which returns at once and builds the
  dashboard in the kernel while the browser loads the page, the minimal page's builds its
  figure in the cell), and **kernel connected** — the page's JavaScript has loaded and
  opened the kernel's websocket; first screen minus kernel connected is the kernel
  finishing the dashboard (if it has not yet) and the browser building and drawing the
  widgets;
* **model drawn** (reflectometry only) — the red model curve holds a real path (> 100
  segments), as ``tests/e2e/test_dashboard_browser.py`` checks it. A model opened before
  shows its stored curve at once (``shiftdesk.reflectometry.curve_store``; the demo model
  on every opening after the first); otherwise the dashboard shows its data first and
  draws the model once refl1d is loaded. Both are measured: ``reflectometry`` (the curve
  stored by the warm-up load, as a returning user has it) and ``reflectometry, no stored
  curve`` (the same page with the user's stored curves removed before each load, as on a
  first visit).

Prints a table per page and one ``RATIO`` line per dashboard: its first screen p50 ÷ the
minimal page's p50 in the same run (target ≤ 1.2: what the dashboard costs beyond a bare
Voilà + bqplot page); the reflectometry dashboard's keeps its name
``dashboard_open_vs_minimal_bqplot``, with ``dashboard_open_p50_s`` and
``dashboard_model_drawn_p50_s`` beside it. ``--screenshots DIR`` saves each page as
first drawn (plus 2 s), to look at.
Run: ``.venv/bin/python bench/bench_dashboard_open.py [--runs N] [--only a,b]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    FIRST_SCREEN,
    MODEL_DRAWN,
    ROOT,
    isolate,
    machine,
    minimal_bqplot_page,
    ratio_line,
    voila_pages,
)

isolate()


RUNS = 3
TARGET = 1.2
MINIMAL = "minimal bqplot page"
#: the reflectometry page with no stored model curve (removed before each load)
COLD = "reflectometry, no stored curve"


#: page → first screen drawn (a JavaScript predicate polled from navigation)
PAGES: dict[str, str] = {
    **FIRST_SCREEN,
    COLD: FIRST_SCREEN["reflectometry"],
    MINIMAL: "() => !!document.querySelector('path.line')",
}
#: seconds from navigation to the end of the page's response
SENT = "performance.getEntriesByType('navigation')[0].responseEnd / 1000"


def open_page(browser: Any, url: str, name: str, shot: Path | None = None) -> dict[str, float]:
    """One page load in a fresh browser context: seconds from navigation until the first
    screen, the page sent, the kernel connected and (reflectometry) the model drawn."""
    if name == COLD:  # a first visit: nothing stored for this model yet
        folder = Path(os.environ["SHIFTDESK_DATA_DIR"]) / "reflectometry" / "curves"
        shutil.rmtree(folder, ignore_errors=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    sockets: list[float] = []
    page.on("websocket", lambda ws: sockets.append(time.perf_counter()))
    try:
        t0 = time.perf_counter()
        page.goto(url, timeout=180_000)
        page.wait_for_function(PAGES[name], timeout=180_000, polling=50)
        times = {"first screen": time.perf_counter() - t0}
        times["page sent"] = page.evaluate(SENT)
        times["kernel connected"] = sockets[0] - t0 if sockets else float("nan")
        if name.startswith("reflectometry"):
            page.wait_for_function(MODEL_DRAWN, timeout=180_000, polling=50)
            times["model drawn"] = time.perf_counter() - t0
        if shot is not None:
            page.wait_for_timeout(2000)
            stem = "reflectometry-cold" if name == COLD else name.split()[0]
            page.screenshot(path=str(shot / f"{stem}.png"), full_page=True)
        return times
    finally:
        close_like_a_user(page)
        context.close()


def _kernels() -> int:
    """Kernel processes running on this machine now."""
    count = 0
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                count += b"ipykernel_launcher" in f.read()
        except (OSError, ValueError):
            continue
    return count


def close_like_a_user(page: Any, timeout: float = 15.0) -> None:
    """Leave ``page`` as a user does (its ``beforeunload`` runs: Voilà's page asks its
    server to shut the kernel down) and wait until that kernel has ended.

    Closing the browser context alone skips ``beforeunload``: every page's kernel then
    lived on (DAQ pollers, tickers, the engine's warm-up) and loaded the box under the
    pages measured after it, 12 kernels after 12 loads.
    """
    before = _kernels()
    page.goto("about:blank")
    deadline = time.monotonic() + timeout
    while _kernels() >= before and time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--only", help="comma-separated dashboards (default: all five)")
    parser.add_argument("--screenshots", type=Path, help="save each page here, first drawn")
    args = parser.parse_args()
    names = [n for n in PAGES if n != MINIMAL]
    if args.only:
        only = args.only.split(",")
        names = [n for n in names if n in only or (n == COLD and "reflectometry" in only)]
    notebooks = {n: ROOT / "notebooks" / f"{n.split(',')[0]}.ipynb" for n in names}
    # (in the data folder isolate() made: removed at exit)
    notebooks[MINIMAL] = minimal_bqplot_page(Path(os.environ["SHIFTDESK_DATA_DIR"]))
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    print(machine())
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in notebooks}
    with voila_pages(notebooks) as (browser, urls):
        # one warm-up each (disk cache, Chromium start, the demo data of a first opening)
        for name in notebooks:
            open_page(browser, urls[name], name, args.screenshots)
        for _ in range(args.runs):
            for name in notebooks:
                runs[name].append(open_page(browser, urls[name], name))
    load = os.getloadavg()[0]

    def p50(name: str, clock: str) -> float:
        return statistics.median(r[clock] for r in runs[name])

    base = p50(MINIMAL, "first screen")
    print(f"page → first screen, standalone voila, {args.runs} loads each (s); p50s:")
    print(
        f"  {'page':<20} {'first screen (runs)':<26} {'p50':>5}  {'sent':>5} {'kernel':>6} "
        f"{'widgets':>7}  {'÷ minimal':>9}"
    )
    for name in notebooks:
        first = [r["first screen"] for r in runs[name]]
        sent, connected = p50(name, "page sent"), p50(name, "kernel connected")
        widgets = statistics.median(r["first screen"] - r["kernel connected"] for r in runs[name])
        print(
            f"  {name:<20} {', '.join(f'{t:5.2f}' for t in first):<26} "
            f"{statistics.median(first):5.2f}  {sent:5.2f} {connected:6.2f} {widgets:7.2f}  "
            f"{statistics.median(first) / base:9.2f}"
        )
    for name in ("reflectometry", COLD):
        if name in runs:
            drawn = [r["model drawn"] for r in runs[name]]
            print(
                f"  {name}: model curve drawn "
                + ", ".join(f"{t:5.2f}" for t in drawn)
                + f"   p50 {statistics.median(drawn):5.2f}"
            )
    print("  (sent: the page's HTML complete = kernel started + notebook run; kernel: its")
    print("   websocket open = the page's JavaScript loaded; widgets: first screen − kernel)")
    print(f"load average now {load:.1f}")
    for name in names:
        ratio = p50(name, "first screen") / base
        if name == "reflectometry":
            print(ratio_line("dashboard_open_p50_s", p50(name, "first screen"), 3))
            print(ratio_line("dashboard_model_drawn_p50_s", p50(name, "model drawn"), 3))
            print(ratio_line("dashboard_open_vs_minimal_bqplot", ratio, TARGET))
        elif name == COLD:
            print(
                ratio_line(
                    "dashboard_no_stored_curve_model_drawn_p50_s", p50(name, "model drawn"), 3
                )
            )
            print(ratio_line("dashboard_no_stored_curve_open_vs_minimal_bqplot", ratio, TARGET))
        else:
            print(ratio_line(f"{name}_open_vs_minimal_bqplot", ratio, TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
