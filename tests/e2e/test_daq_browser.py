"""The DAQ shift dashboard in a real browser: a whole run on simulated ECC servers.

Starts ``voila notebooks/daq.ipynb`` with its own data folder (no experiment configured,
so the notebook starts the demo: simulated ECC servers over real HTTP, local data
router folders), drives it with Playwright on the system Chromium, and checks the GRAW
files end up in the run's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e._browser import ROOT, browser_page, require_playwright, voila

NOTEBOOK = ROOT / "notebooks" / "daq.ipynb"
#: The demo seeds runs 1-3, so the first run taken is run 4.
FIRST_RUN = 4


@pytest.mark.e2e
def test_a_whole_run_in_the_browser(tmp_path: Path) -> None:
    sync_playwright = require_playwright()
    from playwright.sync_api import expect

    data = tmp_path / "voila-data"
    data.mkdir()
    screenshot = tmp_path / "daq.png"

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, screenshot) as (page, errors),
    ):
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-daq-dashboard", timeout=90_000)
        state = page.locator(".sd-daq-run-state")
        messages = page.locator(".sd-daq-messages")
        expect(state).to_have_text("Idle", timeout=30_000)
        for name in ("ECC_0", "ECC_1", "ECC_mutant"):
            expect(page.locator(f".sd-daq-server-{name} .sd-daq-status")).to_have_text("Idle")

        # select a config: a wrong one, then the right one (stored and shown back)
        picker = page.locator(".sd-daq-server-ECC_0 .sd-daq-config select")
        picker.select_option(label="cobo1")
        expect(messages).to_contain_text("ECC_0: config cobo1 selected", timeout=20_000)
        picker.select_option(label="cobo0")
        expect(messages).to_contain_text("ECC_0: config cobo0 selected", timeout=20_000)

        for button, reached in (
            ("describe", "Described"),
            ("prepare", "Prepared"),
            ("configure", "Ready"),
        ):
            page.locator(f"button.sd-daq-{button}").click(timeout=20_000)
            expect(state).to_have_text(reached, timeout=30_000)
        expect(page.locator("button.sd-daq-configure")).to_be_disabled()

        title = page.locator(".sd-daq-title input")
        title.fill("browser run")
        title.press("Enter")
        number = page.locator(".sd-daq-run-number input")
        expect(number).to_have_value(str(FIRST_RUN))
        page.locator("button.sd-daq-start").click(timeout=20_000)
        started = page.locator(".sd-daq-started")
        expect(started).to_contain_text(f"Run {FIRST_RUN} running", timeout=30_000)
        expect(state).to_have_text("Running")
        expect(page.locator(".sd-daq-duration")).to_contain_text("00:00:0")

        # fill the run sheet; a value of the wrong type is refused on screen
        page.locator("button.sd-daq-edit-sheet").click()
        sheet = page.locator(".sd-daq-runsheet")
        expect(sheet.locator(".sd-daq-sheet-title input")).to_have_value(
            "browser run", timeout=20_000
        )
        sheet.locator(".sd-daq-obs-beam-energy input").fill("9.5")
        sheet.locator(".sd-daq-obs-trigger-rate input").fill("lots")
        sheet.locator("button.sd-daq-sheet-save").click()
        sheet_message = sheet.locator(".sd-daq-sheet-message")
        expect(sheet_message).to_contain_text("not a whole number", timeout=20_000)
        sheet.locator(".sd-daq-obs-trigger-rate input").fill("400")
        sheet.locator("button.sd-daq-sheet-save").click()
        expect(sheet_message).to_contain_text(f"run {FIRST_RUN} saved", timeout=20_000)
        row = sheet.locator(f".sd-daq-sheet-row-{FIRST_RUN}")
        expect(row).to_contain_text("400")
        expect(row).to_contain_text("9.5")
        csv = sheet.locator("a.sd-daq-csv-link")
        assert (csv.get_attribute("href") or "").startswith("data:text/csv;base64,")

        # back to run control: Stop, then the files are organised
        page.locator(".sd-daq-tabs .lm-TabBar-tab", has_text="Run control").click()
        page.locator("button.sd-daq-stop").click(timeout=20_000)
        expect(started).to_contain_text("No run is being taken", timeout=30_000)
        expect(page.locator(".sd-daq-commands")).to_contain_text("routers clean", timeout=30_000)
        expect(page.locator(".sd-daq-routers")).not_to_contain_text("Unsorted")
        expect(number).to_have_value(str(FIRST_RUN + 1))
        assert errors == [], errors

    # the GRAW files written while running were moved into the run's folder
    routers = sorted((data / "daq-demo").glob("*/data*"))
    assert len(routers) == 3, routers
    for folder in routers:
        assert list((folder / "demo" / f"run_{FIRST_RUN:04d}").glob("*.graw")), folder
        assert not list(folder.glob("*.graw")), folder
