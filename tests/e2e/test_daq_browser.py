"""The DAQ shift dashboard in a real browser: a whole run on simulated ECC servers.

Starts ``voila notebooks/daq.ipynb`` with its own data folder (no experiment configured,
so the notebook starts the demo: simulated ECC servers over real HTTP, local data
router folders), drives it with Playwright on the system Chromium, and checks the GRAW
files end up in the run's folder.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._services import service_missing
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_for_http

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "daq.ipynb"
#: The demo seeds runs 0-2, so the first run taken is run 3.
FIRST_RUN = 3


@contextlib.contextmanager
def _voila(data: Path, log: Path) -> Iterator[str]:
    """Run Voilà on the DAQ notebook with ``data`` as the data folder; yields the URL."""
    voila = Path(sys.executable).with_name("voila")
    if not voila.exists():
        service_missing(f"voila is not installed next to {sys.executable}: pip install voila")
    env = dict(os.environ, SHIFTDESK_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    for name in ("SHIFTDESK_DATABASE_URL", "JUPYTERHUB_USER", "SHIFTDESK_ADMINS"):
        env.pop(name, None)
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(voila), str(NOTEBOOK.relative_to(ROOT)), f"--port={port}", "--no-browser",
             "--Voila.ip=127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{base}/voila/static/favicon.ico", proc, log, timeout=60)
        yield f"{base}/"
    finally:
        proc.terminate()  # voila shuts its kernels (and the simulated servers) down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        print(f"--- voila log ({log}) ---\n{log.read_text(errors='replace')[-5000:]}")


@pytest.mark.e2e
def test_a_whole_run_in_the_browser(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        service_missing(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        service_missing('playwright is not installed: pip install -e ".[test]"')
    data = tmp_path / "voila-data"
    data.mkdir()
    screenshot = tmp_path / "daq.png"

    with _voila(data, tmp_path / "voila.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                page.goto(url, timeout=60_000)
                page.wait_for_selector(".sd-daq-dashboard", timeout=90_000)
                state = page.locator(".sd-daq-run-state")
                messages = page.locator(".sd-daq-messages")
                expect(state).to_have_text("Idle", timeout=30_000)
                for name in ("ECC_0", "ECC_1", "ECC_mutant"):
                    expect(page.locator(f".sd-daq-server-{name} .sd-daq-status")).to_have_text(
                        "Idle"
                    )

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
                expect(page.locator(".sd-daq-commands")).to_contain_text(
                    "routers clean", timeout=30_000
                )
                expect(page.locator(".sd-daq-routers")).not_to_contain_text("Unsorted")
                expect(number).to_have_value(str(FIRST_RUN + 1))
                assert errors == [], errors
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(screenshot), full_page=True)
                    print(f"screenshot: {screenshot}")
                raise
        finally:
            browser.close()

    # the GRAW files written while running were moved into the run's folder
    routers = sorted((data / "daq-demo").glob("*/data*"))
    assert len(routers) == 3, routers
    for folder in routers:
        assert list((folder / "demo" / f"run_{FIRST_RUN:04d}").glob("*.graw")), folder
        assert not list(folder.glob("*.graw")), folder
