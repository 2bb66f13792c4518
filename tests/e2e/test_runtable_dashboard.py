"""The run table dashboard in a real browser: a run arrives, a cell fills, a comment is
typed, a column is plotted.

Starts ``voila notebooks/runtable.ipynb`` with its own data folder (the notebook seeds
the demo table: simulated runs processed by local jobs), drives it with Playwright on the
system Chromium, and adds a run from this process as the DAQ or a watcher would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e._browser import ROOT, browser_page, require_playwright, voila

from shiftdesk.runtable.demo import RUNS, write_run

NOTEBOOK = ROOT / "notebooks" / "runtable.ipynb"
NEW_RUN = RUNS + 1


@pytest.mark.e2e
def test_a_run_arrives_a_cell_fills_a_comment_is_typed_a_column_is_plotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = require_playwright()
    from playwright.sync_api import expect

    from shiftdesk.jobs import shutdown_backends
    from shiftdesk.runtable import RunTable

    data = tmp_path / "voila-data"
    data.mkdir()
    screenshot = tmp_path / "runtable.png"

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, screenshot) as (page, errors),
    ):
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-rt-view", timeout=90_000)
        expect(page.locator(".sd-rt-title h2")).to_contain_text("Demo beamline")
        # the demo's runs are processed by jobs: their rows say so and fill in
        first = page.locator(f".sd-rt-r{RUNS} .sd-rt-state")
        expect(first).to_contain_text("done", timeout=120_000)
        expect(page.locator(".sd-rt-headrow")).to_contain_text("XGM energy [µJ]")
        # scrolled sideways (a narrow window), each row's selection, state and run (and
        # the header's) stay at the left edge, and the header row spans every column
        page.set_viewport_size({"width": 900, "height": 1200})
        page.wait_for_timeout(500)  # (the page's boxes lay out again on the next frames)
        pinned = page.evaluate(
            """() => {
                const box = document.querySelector('.sd-rt-scroll');
                box.scrollLeft = box.scrollWidth;
                const left = box.getBoundingClientRect().left;
                const at = s => document.querySelector(s).getBoundingClientRect().left - left;
                const head = document.querySelector('.sd-rt-headrow');
                return {scrolled: box.scrollLeft, run: at('.sd-rt-row .sd-rt-lead-run'),
                        headLead: at('.sd-rt-headrow .sd-rt-lead'),
                        headWidth: head.scrollWidth - head.getBoundingClientRect().width};
            }"""
        )
        assert pinned["scrolled"] > 0, pinned  # (the table is wider than the page here)
        assert 0 <= pinned["run"] <= 40 and 0 <= pinned["headLead"] <= 5, pinned
        assert abs(pinned["headWidth"]) <= 1, pinned
        page.evaluate("document.querySelector('.sd-rt-scroll').scrollLeft = 0")
        page.set_viewport_size({"width": 1600, "height": 1200})

        # a run arrives (as from the DAQ): its row appears on top, then its cells fill
        monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(data))
        monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
        rt = RunTable.open("demo")
        try:
            write_run(data / "runtable-demo" / "raw", NEW_RUN)
            rt.add_run(NEW_RUN)
            row = page.locator(f".sd-rt-r{NEW_RUN}")
            expect(row).to_be_visible(timeout=30_000)
            expect(row.locator(".sd-rt-state")).to_contain_text("done", timeout=120_000)
            energy = rt.table().at[NEW_RUN, "xgm_energy"]
            expect(row).to_contain_text(f"{energy:.4g}", timeout=30_000)
            expect(row.locator("img.sd-rt-thumb")).to_have_count(1)

            # a comment is typed: stored by the core, with who typed it
            comment = row.locator(".sd-rt-edit-comment input")
            comment.fill("seen in the browser")
            comment.press("Enter")
            expect(page.locator(".sd-rt-message")).to_contain_text("saved", timeout=20_000)
            assert rt.table().at[NEW_RUN, "comment"] == "seen in the browser"

            # a column is plotted against another: every run is a point
            page.locator("button.sd-rt-plot-toggle").click()
            # a pick is sent as an index into the options the page shows; when the kernel
            # offers a column that just got its first values at that moment, the index
            # lands on another column ("0 runs plotted"): pick again, as a user would
            for attempt in range(3):
                page.locator(".sd-rt-plot-x select").select_option(label="Motor x [mm]")
                page.locator(".sd-rt-plot-y select").select_option(label="XGM energy [µJ]")
                try:
                    expect(page.locator(".sd-rt-plot-message")).to_contain_text(
                        f"{NEW_RUN} runs plotted", timeout=15_000
                    )
                    break
                except AssertionError:
                    if attempt == 2:
                        raise
            expect(page.locator(".sd-rt-summary-plot .dot")).to_have_count(NEW_RUN)
            expect(page.locator(".sd-rt-summary-plot")).to_contain_text("Motor x [mm]")
            page.locator("button.sd-rt-plot-toggle").click()

            # a user column added elsewhere appears; a value of the wrong type is refused
            # next to the cell, with the reason
            rt.add_user_variable("hutch_temperature", type="number", units="K")
            cell = row.locator(".sd-rt-edit-hutch_temperature input")
            expect(cell).to_be_visible(timeout=30_000)
            cell.fill("warm")
            cell.press("Enter")
            expect(row.locator(".sd-rt-bubble")).to_contain_text("not a number: 'warm'")
            expect(row.locator(".sd-rt-bubble")).to_be_visible()
            cell.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
            cell.fill("295.5")
            cell.press("Enter")
            expect(row.locator(".sd-rt-bubble")).to_have_count(0, timeout=20_000)
            assert rt.table().at[NEW_RUN, "hutch_temperature"] == 295.5
            assert errors == [], errors
        finally:
            shutdown_backends()
            rt.database.dispose()
