"""The data-session dashboard in a real browser: a session made, frames added, a median
run, its output viewed.

Starts ``voila notebooks/datalab.ipynb`` with its own data folder (the notebook makes the
demo session), drives it with Playwright on the system Chromium as an observer would,
and checks the result against numpy on the frames the test made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from tests.e2e._browser import ROOT, browser_page, require_playwright, voila

NOTEBOOK = ROOT / "notebooks" / "datalab.ipynb"
SESSION = "browser night"


def _frames(folder: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(3):
        data = rng.normal(100 + 5 * i, 3, (48, 64)).astype("f4")
        primary = fits.PrimaryHDU()
        primary.header["FILTER"] = "rp"
        primary.header["DATE-OBS"] = f"2026-12-0{i + 1}T03:00:00"
        primary.header["OBJECT"] = "M51"
        path = folder / f"m51_rp_{i:03d}.fits"
        fits.HDUList([primary, fits.ImageHDU(data, name="SCI")]).writeto(path)
        paths.append(path)
    return paths


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_session_is_made_frames_added_a_median_run_and_its_output_viewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = require_playwright()
    from playwright.sync_api import expect

    from shiftdesk.datalab import DataSession

    data = tmp_path / "voila-data"
    data.mkdir()
    frames = _frames(tmp_path)

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, tmp_path / "datalab.png") as (page, errors),
    ):
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-dl-view", timeout=120_000)

        # a new session, then three frames uploaded into it
        page.locator(".sd-dl-session-name input").fill(SESSION)
        page.locator(".sd-dl-session-create").click()
        expect(page.locator(".sd-dl-session-picker select")).to_contain_text(
            SESSION, timeout=30_000
        )
        # ipywidgets 8 keeps a FileUpload's <input> off the page: answer the file chooser
        with page.expect_file_chooser(timeout=10_000) as chooser:
            page.locator(".sd-dl-upload").click()
        chooser.value.set_files([str(p) for p in frames])
        expect(page.locator(".sd-dl-gallery .sd-dl-card")).to_have_count(3, timeout=60_000)

        # a median of them: the wizard's defaults are the session's frames
        page.locator(".widget-tab .lm-TabBar-tab", has_text="New operation").click()
        page.locator(".sd-dl-op-picker select").select_option(label="Median (image)")
        page.locator(".sd-dl-run").click()
        expect(page.locator(".sd-dl-running")).to_contain_text("done", timeout=180_000)

        # its output, viewed: the image drawn, a click reads a pixel value back
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Outputs").click()
        page.locator(".sd-dl-view-button:visible").first.click()
        image = page.locator(".sd-dl-viewer-figure image").first
        expect(image).to_be_visible(timeout=30_000)
        box = image.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        expect(page.locator(".sd-dl-readout")).to_contain_text("value", timeout=20_000)
        page.screenshot(path=str(tmp_path / "datalab-viewed.png"))

    assert errors == [], errors
    monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(data))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    [session] = [s for s in DataSession.list() if s.name == SESSION]
    [median] = [op for op in session.operations if op.status == "done"]
    out = median.result(timeout=10)
    with fits.open(out.files[0]) as hdus:
        made = hdus["SCI"].data
    expected = np.median([fits.getdata(p, "SCI") for p in frames], axis=0)
    np.testing.assert_allclose(made, expected, rtol=1e-6)
