"""The catalog dashboard in a real browser: browse, best references, a submission confirmed.

Starts ``voila notebooks/catalog.ipynb`` with its own data folder (the notebook seeds the
demo catalog), drives it with Playwright on the system Chromium as a calibration
scientist would, and checks what the page did against the catalog itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e._browser import ROOT, browser_page, require_playwright, voila

from shiftdesk.catalog.demo import write_reference

NOTEBOOK = ROOT / "notebooks" / "catalog.ipynb"
HEADER = """ROMAN.META.INSTRUMENT.NAME = WFI
ROMAN.META.INSTRUMENT.DETECTOR = WFI02
ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT = F158
ROMAN.META.EXPOSURE.TYPE = WFI_IMAGE
ROMAN.META.EXPOSURE.START_TIME = 2025-08-01 00:00:00
"""


@pytest.mark.e2e
def test_browse_best_references_and_a_submission_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = require_playwright()
    from playwright.sync_api import expect

    from shiftdesk.catalog import Catalog

    data = tmp_path / "voila-data"
    data.mkdir()
    new_flat = tmp_path / "flat_2026_wfi03.asdf"
    meta = {
        "reftype": "FLAT",
        "useafter": "2026-02-01T00:00:00",
        "description": "2026 flat",
        "instrument": {"name": "WFI", "detector": "WFI03", "optical_element": "F213"},
    }
    write_reference(new_flat, meta, seed=4242)

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, tmp_path / "catalog.png") as (page, errors),
    ):
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-cat-view", timeout=90_000)
        expect(page.locator(".sd-cat-cards")).to_contain_text("roman_0002.pmap")
        expect(page.locator(".sd-cat-cards")).to_contain_text("roman_0003.pmap")

        # browse: only the flat rules, then one picked: its detail shows what uses it
        page.locator(".sd-cat-f-search input").fill("*flat*.rmap")
        page.locator(".sd-cat-f-search input").press("Enter")
        listing = page.locator(".sd-cat-list select")
        expect(listing.locator("option")).to_have_count(2, timeout=20_000)
        listing.select_option(index=1)
        expect(page.locator(".sd-cat-detail")).to_contain_text(
            "roman_wfi_0002.imap", timeout=20_000
        )

        # best references for a typed header, from the latest context
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Best references").click()
        header = page.locator(".sd-cat-header textarea")
        expect(header).to_be_visible(timeout=20_000)
        header.fill(HEADER)
        page.locator(".sd-cat-bestrefs-button").click()
        result = page.locator(".sd-cat-bestrefs-result")
        expect(result).to_contain_text("roman_wfi_flat_0014.asdf", timeout=20_000)
        expect(result).to_contain_text("roman_wfi_dark_0002.asdf")

        # a submission: a file picked, checked, named, new rules shown, then confirmed
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Submit").click()
        # ipywidgets 8 keeps a FileUpload's <input> off the page: answer the file chooser
        with page.expect_file_chooser(timeout=10_000) as chooser:
            page.locator(".sd-cat-submit-upload").click()
        chooser.value.set_files(str(new_flat))
        expect(page.locator(".sd-cat-submit-picked")).to_contain_text(new_flat.name)
        page.locator(".sd-cat-submit-description input").fill("2026 F213 flat for WFI03")
        page.locator(".sd-cat-submit-button").click()
        outcome = page.locator(".sd-cat-submit-result")
        expect(outcome).to_contain_text("roman_0004.pmap", timeout=60_000)
        expect(outcome).to_contain_text("roman_wfi_flat_0016.asdf")
        page.locator(".sd-cat-submit-confirm").click()
        expect(page.locator(".sd-cat-cards")).to_contain_text("roman_0004.pmap", timeout=30_000)
        page.screenshot(path=str(tmp_path / "catalog-confirmed.png"))

    assert errors == [], errors
    # the page's work is the catalog's: the new context is the edit context
    monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(data))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    cat = Catalog.open("roman")
    assert cat.context("edit") == "roman_0004.pmap"
    assert cat.file("roman_wfi_flat_0016.asdf").uploaded_as == new_flat.name
    exposure = {
        "ROMAN.META.INSTRUMENT.NAME": "WFI",
        "ROMAN.META.INSTRUMENT.DETECTOR": "WFI03",
        "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT": "F213",
        "ROMAN.META.EXPOSURE.START_TIME": "2026-03-01T00:00:00",
    }
    assert cat.best_references(exposure, context="edit", reftypes=["flat"]) == {
        "flat": "roman_wfi_flat_0016.asdf"
    }
