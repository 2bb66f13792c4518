"""The Voilà dashboard in a real browser: load, upload, edit, fit.

Starts ``voila notebooks/reflectometry.ipynb`` on a free port with its own data folder,
drives the page with Playwright on the system Chromium (``/usr/bin/chromium``; the test
never downloads a browser), and shuts Voilà down afterwards.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from tests.e2e._browser import HEADINGS, ROOT, browser_page, require_playwright, voila

NOTEBOOK = ROOT / "notebooks" / "reflectometry.ipynb"
TRUTH_FILM1 = 577.6
#: the model curve's colour in ReflectivityPlot (#d62728)
MODEL_LINE = ".sd-refl-plot g.curve > path.line[style*='rgb(214, 39, 40)']"
#: True when a click at the element's centre would reach the element itself
HIT_TEST = """(el) => {
    const box = el.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return hit !== null && (hit === el || el.contains(hit));
}"""

#: Boxes from the model table up to the page that are wider than they show (scrolled)
TABLE_FITS = """() => {
    const over = [];
    for (let el = document.querySelector('.sd-model-table'); el && el !== document.body;
         el = el.parentElement) {
        if (el.scrollWidth > el.clientWidth + 1) over.push(el.className);
    }
    return over;
}"""
#: Parameter-editor labels (min, max, ...) cut short by their box
CLIPPED_LABELS = """() => [...document.querySelectorAll('.sd-param .widget-label')]
    .filter(l => l.offsetParent !== null && l.scrollWidth > l.clientWidth)
    .map(l => l.textContent)"""


@pytest.mark.e2e
def test_dashboard_in_browser(tmp_path: Path) -> None:
    sync_playwright = require_playwright()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from shiftdesk.reflectometry.demo import demo_bytes

    upload = tmp_path / "uploaded_film.txt"
    upload.write_bytes(demo_bytes())
    screenshot = tmp_path / "dashboard.png"
    data = tmp_path / "voila-data"
    data.mkdir()

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, screenshot) as (page, errors),
    ):
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-reflectometry-dashboard", timeout=90_000)
        assert page.evaluate(HEADINGS).count("Reflectometry") == 1

        # the model curve is drawn (a real path, not an empty one)
        # (a fresh kernel shows the data first, the model once refl1d is loaded)
        model_line = page.locator(MODEL_LINE)
        model_line.wait_for(state="attached", timeout=30_000)
        page.wait_for_function(
            f"() => (document.querySelector({MODEL_LINE!r})"
            ".getAttribute('d') || '').split('L').length > 100",
            timeout=60_000,
        )
        drawn = model_line.get_attribute("d") or ""
        assert drawn.startswith("M") and drawn.count("L") > 100, drawn[:200]
        assert page.locator(".sd-refl-plot path.line").count() > 1

        # upload through the FileUpload (ipywidgets 8 keeps its <input> off the page)
        inputs = page.locator(".sd-upload input[type=file]")
        if inputs.count():
            inputs.first.set_input_files(str(upload))
        else:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.locator(".sd-upload").click()
            chooser.value.set_files(str(upload))
        page.locator(".sd-messages").get_by_text("loaded uploaded_film.txt").wait_for(
            timeout=30_000
        )
        assert page.locator(".sd-my-data select").inner_text().count("uploaded_film") >= 1

        # the model table fits its column (no sideways scroll from 1280 px up), no
        # "max" label is clipped, and nothing is covered by the plots
        assert page.evaluate(TABLE_FITS) == [], "the model table overflows its column"
        assert page.evaluate(CLIPPED_LABELS) == []
        for selector in (
            ".sd-param-film1-roughness input[type=number]",
            ".sd-param-back-roughness input[type=number]",
            ".sd-model-table button.sd-delete",
        ):
            target = page.locator(selector).first
            target.scroll_into_view_if_needed(timeout=10_000)
            assert target.evaluate(HIT_TEST), f"{selector} is covered"

        # edit film1's thickness: the model curve redraws
        before = model_line.get_attribute("d")
        value = page.locator(".sd-param-film1-thickness input[type=number]").first
        value.fill("565")
        value.press("Enter")
        value.press("Tab")
        page.wait_for_function(
            "([sel, old]) => { const p = document.querySelector(sel);"
            " return p && p.getAttribute('d') !== old; }",
            arg=[MODEL_LINE, before],
            timeout=30_000,
        )
        assert value.input_value() == "565"

        # fit
        page.locator(".sd-fit-panel button.sd-fit").click()
        page.locator(".sd-result").get_by_text("±").first.wait_for(timeout=120_000)
        fitted = page.locator(".sd-result tr", has_text="film1.thickness").locator(".sd-fitted")
        text = fitted.inner_text()
        found = re.match(r"\s*([-\d.]+)\s*±\s*([\d.]+)", text)
        assert found, text
        assert float(found.group(1)) == pytest.approx(TRUTH_FILM1, abs=3.0), text
        assert "fit done" in page.locator(".sd-messages").inner_text()
        # the fitted value is in the table too
        shown = float(value.input_value())
        assert shown == pytest.approx(float(found.group(1)), abs=0.01)
        # the table still fits at the narrowest and widest supported windows
        for width in (1280, 1920):
            page.set_viewport_size({"width": width, "height": 1200})
            page.wait_for_function(f"() => window.innerWidth === {width}")
            # bqplot figures follow a window resize in their next animation frames, so
            # give the layout a moment to settle before judging it
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(f"() => ({TABLE_FITS})().length === 0", timeout=5_000)
            assert page.evaluate(TABLE_FITS) == [], f"overflow at {width} px"
            assert page.evaluate(CLIPPED_LABELS) == [], f"clipped at {width} px"
        assert errors == [], errors
