"""Standalone Voilà: time until the reflectometry dashboard is visible in Chromium.

Two ``voila`` servers run side by side in this process's lifetime: one on
``notebooks/reflectometry.ipynb``, one on a minimal page (a bqplot figure with one line
in a VBox, written to a temporary folder). ``RUNS`` page loads of each, alternating
(each page load renders the notebook in a fresh kernel), in a fresh browser context.
Two clocks from navigation:

* **visible** — the page's widgets and figure are on the page (dashboard:
  ``.sd-reflectometry-dashboard`` and a line of its R(Q) figure, the selector
  ``bench_hub.py`` uses; minimal page: its ``path.line``);
* **model drawn** (dashboard only) — the red model curve holds a real path (> 100
  segments), as ``tests/e2e/test_dashboard_browser.py`` checks it. In a fresh kernel
  the dashboard shows its data first and draws the model once refl1d is loaded.

Prints the p50s, ``RATIO dashboard_open_vs_minimal_bqplot`` (dashboard visible p50 ÷
minimal page p50, target ≤ 1.5: what the dashboard costs beyond a bare Voilà + bqplot
page) and ``RATIO dashboard_model_drawn_p50_s``.
Run: ``.venv/bin/python bench/bench_dashboard_open.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, isolate, machine, minimal_bqplot_page, ratio_line, voila_pages

isolate()


RUNS = 3


#: the dashboard's model curve (#d62728) holds a real path
MODEL_DRAWN = """() => [...document.querySelectorAll(
    ".sd-refl-plot g.curve > path.line[style*='rgb(214, 39, 40)']")]
    .some(p => (p.getAttribute('d') || '').split('L').length > 100)"""


def open_page(browser: object, url: str, selectors: list[str], model: bool) -> tuple[float, float]:
    """Seconds from navigation until every selector is attached, and until the model
    curve is drawn (``model``; else NaN), in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1600, "height": 1200})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, timeout=180_000)
        for selector in selectors:
            page.locator(selector).first.wait_for(state="attached", timeout=180_000)
        visible = time.perf_counter() - t0
        drawn = float("nan")
        if model:
            page.wait_for_function(MODEL_DRAWN, timeout=180_000, polling=50)
            drawn = time.perf_counter() - t0
        return visible, drawn
    finally:
        context.close()


def main() -> int:

    folder = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-open-"))
    minimal = minimal_bqplot_page(folder)
    print(machine())
    servers = {
        "dashboard": (
            ROOT / "notebooks" / "reflectometry.ipynb",
            [".sd-reflectometry-dashboard", ".sd-refl-plot path.line"],
        ),
        "minimal bqplot page": (minimal, ["path.line"]),
    }
    times: dict[str, list[float]] = {name: [] for name in servers}
    drawn: list[float] = []
    notebooks = {name: notebook for name, (notebook, _) in servers.items()}
    with voila_pages(notebooks) as (browser, urls):
        # one warm-up each (disk cache, Chromium start), not counted
        for name, (_, selectors) in servers.items():
            open_page(browser, urls[name], selectors, False)
        for _ in range(RUNS):
            for name, (_, selectors) in servers.items():
                visible, model = open_page(browser, urls[name], selectors, name == "dashboard")
                times[name].append(visible)
                if name == "dashboard":
                    drawn.append(model)
    print("page → widgets and figure visible, standalone voila (s):")
    series = dict(times)
    series["dashboard, model drawn"] = drawn
    for name, values in series.items():
        print(
            f"  {name:<22} "
            + ", ".join(f"{t:5.2f}" for t in values)
            + f"   p50 {statistics.median(values):5.2f}"
        )
    dash = statistics.median(times["dashboard"])
    base = statistics.median(times["minimal bqplot page"])
    print(f"load average now {os.getloadavg()[0]:.1f}")
    print(ratio_line("dashboard_open_p50_s", dash, 3))
    print(ratio_line("dashboard_model_drawn_p50_s", statistics.median(drawn), 3))
    print(ratio_line("dashboard_open_vs_minimal_bqplot", dash / base, 1.5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
