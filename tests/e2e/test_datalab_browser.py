"""The data-session dashboard in a real browser: a session made, frames added, a median
run, its output viewed, the readout following the pointer over it.

Starts ``voila notebooks/datalab.ipynb`` with its own data folder (the notebook makes the
demo session), drives it with Playwright on the system Chromium as an observer would,
and checks the result against numpy on the frames the test made. The frames are a
pattern (``100 × row + column``, plus 5 per frame), so the median's every pixel has its
own value and the readout tells which pixel is under the pointer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from tests.e2e._browser import ROOT, browser_page, require_playwright, voila
from tests.e2e._shiftready import watch

NOTEBOOK = ROOT / "notebooks" / "datalab.ipynb"
SESSION = "browser night"
SHAPE = (48, 64)


def _pattern(row: int, col: int) -> int:
    """The median's value at (row, col): the frames' pattern plus the middle frame's 5."""
    return 100 * row + col + 5


def _wcs() -> WCS:
    """The frames' WCS: M51 at the centre, 1" pixels, north up."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [202.4696, 47.1952]
    wcs.wcs.crpix = [32.5, 24.5]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    return wcs


def _frames(folder: Path) -> list[Path]:
    rows, cols = np.indices(SHAPE)
    paths = []
    for i in range(3):
        data = (100 * rows + cols + 5 * i).astype("f4")
        primary = fits.PrimaryHDU()
        primary.header["FILTER"] = "rp"
        primary.header["DATE-OBS"] = f"2026-12-0{i + 1}T03:00:00"
        primary.header["OBJECT"] = "M51"
        path = folder / f"m51_rp_{i:03d}.fits"
        sci = fits.ImageHDU(data, _wcs().to_header(), name="SCI")
        fits.HDUList([primary, sci]).writeto(path)
        paths.append(path)
    return paths


def _over(page: Any, row: int, col: int) -> tuple[float, float]:
    """Where in the page pixel (row, col)'s centre is drawn (the image element's box is
    the frame's outer pixel edges; row 0 at the bottom)."""
    box = page.locator(".sd-dl-viewer-figure image").first.bounding_box()
    assert box is not None
    ny, nx = SHAPE
    return (box["x"] + (col + 0.5) * box["width"] / nx,
            box["y"] + (ny - row - 0.5) * box["height"] / ny)  # fmt: skip


def _reads(row: int, col: int) -> re.Pattern[str]:
    return re.compile(rf"value {_pattern(row, col)}(?!\d)")


def _sky_is_near(text: str, row: int, col: int) -> None:
    """The readout's (RA°, Dec°) is pixel (row, col)'s centre's, within 0.3 pixel (the
    pointer is a whole CSS pixel, about a tenth of an image pixel here)."""
    found = re.search(r"\((\d+\.\d+)°, ([+-]\d+\.\d+)°\)", text)
    assert found, text
    ra, dec = _wcs().pixel_to_world_values(col, row)
    cos_dec = np.cos(np.radians(dec))
    assert abs(float(found[1]) - ra) * cos_dec * 3600 < 0.3, (text, ra, dec)
    assert abs(float(found[2]) - dec) * 3600 < 0.3, (text, ra, dec)


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
        seen = watch(page, url)
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

        # its output, viewed: the image drawn, a click marks a pixel and reads it back
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Outputs").click()
        page.locator(".sd-dl-view-button:visible").first.click()
        image = page.locator(".sd-dl-viewer-figure image").first
        expect(image).to_be_visible(timeout=30_000)
        readout = page.locator(".sd-dl-readout")
        expect(readout).to_contain_text("point at the image", timeout=20_000)
        page.wait_for_timeout(500)  # bqplot lays the figure out once more when it settles
        still = readout.bounding_box()
        page.mouse.click(*_over(page, 30, 20))
        expect(readout).to_contain_text(_reads(30, 20), timeout=20_000)
        expect(readout).to_contain_text("marked")

        # the readout follows the pointer: the pixel under it, its value (corners too)
        for row, col in [(10, 40), (0, 0), (47, 63), (25, 7)]:
            page.mouse.move(*_over(page, row, col), steps=4)
            expect(readout).to_contain_text(_reads(row, col), timeout=10_000)
            expect(readout).not_to_contain_text("marked")
            _sky_is_near(readout.inner_text(), row, col)
        page.screenshot(path=str(tmp_path / "datalab-pointer.png"))
        # off the image: the marked pixel again, not the last one passed over
        page.mouse.move(5, 5, steps=4)
        expect(readout).to_contain_text(_reads(30, 20), timeout=10_000)
        expect(readout).to_contain_text("marked")
        assert readout.bounding_box() == still, "the readout moved or changed size"

        # the figure leaves the page with its tab and comes back: the pointer still reads
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Outputs").click()
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Viewer").click()
        expect(image).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        page.mouse.move(*_over(page, 33, 12), steps=4)
        expect(readout).to_contain_text(_reads(33, 12), timeout=10_000)
        page.screenshot(path=str(tmp_path / "datalab-viewed.png"))

    assert errors == [], errors
    # ipyevents' JavaScript (the pointer's moves) comes from Voilà, as all the rest
    assert seen.foreign == [] and seen.failed == [], seen.problems()
    monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(data))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    [session] = [s for s in DataSession.list() if s.name == SESSION]
    [median] = [op for op in session.operations if op.status == "done"]
    out = median.result(timeout=10)
    with fits.open(out.files[0]) as hdus:
        made = hdus["SCI"].data
    expected = np.median([fits.getdata(p, "SCI") for p in frames], axis=0)
    np.testing.assert_allclose(made, expected, rtol=1e-6)
