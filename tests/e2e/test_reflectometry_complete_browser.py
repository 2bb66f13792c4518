"""The reflectometry dashboard complete, in Voilà and Chromium: two contrasts, a constraint,
a remote fit.

A user builds a simultaneous fit of the demo film measured against air and against D2O
(the demo's second contrast), ties the film thickness across the data sets in the data
sets panel, adds a constraint in the constraints editor, fits locally and sees χ² and
the fitted values in both data sets' models; then picks the SSH backend configured in
the settings file (``SHIFTDESK_SETTINGS``, pointing at the real sshd of the
``ssh_server`` fixture) and fits there, and the result comes back into the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests._sshd import SSHServer
from tests.e2e._browser import HEADINGS, ROOT, browser_page, require_playwright, voila

NOTEBOOK = ROOT / "notebooks" / "reflectometry.ipynb"

TRUTH_FILM1 = 577.6
TRUTH_FILM2 = 44.75
FIT_TIMEOUT = 60_000  # ms


def _write_settings(path: Path, ssh: SSHServer) -> None:
    """One ``worker`` SSH backend on the test sshd (as tests/jobs configure it)."""
    options = {
        "type": "ssh",
        "host": ssh.host,
        "port": ssh.port,
        "user": ssh.user,
        "python": str(ssh.python),
        "bootstrap_key": str(ssh.admin_key),
        "known_hosts": str(ssh.known_hosts),
        "spare": False,
        "connect_timeout": 10,
    }

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[backends.worker]", *(f"{k} = {value(v)}" for k, v in options.items())]
    path.write_text("\n".join(lines) + "\n")


def _fitted(page: object, path: str) -> float:
    """The fitted value of ``path`` in the result table."""
    row = page.locator(".sd-result tr", has_text=path).first  # type: ignore[attr-defined]
    text = row.inner_text()
    found = re.search(r"([-\d.]+)\s*±", text) or re.search(r"\s([-\d.]+)", text)
    assert found, text
    return float(found.group(1))


@pytest.mark.e2e
def test_two_contrast_fit_with_constraint_and_remote_fit(
    tmp_path: Path, ssh_server: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = require_playwright()
    from shiftdesk.reflectometry.demo import demo_d2o_bytes

    settings = tmp_path / "settings.toml"
    _write_settings(settings, ssh_server)
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))  # Voilà inherits it
    d2o_file = tmp_path / "d2o_contrast.txt"
    d2o_file.write_bytes(demo_d2o_bytes())
    screenshot = tmp_path / "complete.png"
    data = tmp_path / "voila-data"
    data.mkdir()

    with (
        voila(NOTEBOOK, data, tmp_path / "voila.log") as url,
        sync_playwright() as pw,
        browser_page(pw, screenshot) as (page, errors),
    ):
        messages = page.locator(".sd-messages")
        page.goto(url, timeout=60_000)
        page.wait_for_selector(".sd-reflectometry-dashboard", timeout=90_000)
        assert page.evaluate(HEADINGS).count("Reflectometry") == 1

        # the second contrast into "my data" (the upload goes into the model ...)
        # (ipywidgets 8 keeps the FileUpload's <input> off the page)
        inputs = page.locator(".sd-upload input[type=file]")
        if inputs.count():
            inputs.first.set_input_files(str(d2o_file))
        else:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.locator(".sd-upload").click()
            chooser.value.set_files(str(d2o_file))
        messages.get_by_text("loaded d2o_contrast.txt").wait_for(timeout=30_000)
        # ... so the first data set gets the demo data back
        my_data = page.locator(".sd-my-data select")
        labels = my_data.locator("option").all_inner_texts()
        demo = next(t for t in labels if t.startswith("two_layer_film.txt"))
        d2o = next(t for t in labels if t.startswith("d2o_contrast.txt"))
        my_data.select_option(label=demo)
        page.locator("button.sd-use-data").click()
        messages.get_by_text("using two_layer_film").wait_for(timeout=30_000)

        # add the D2O contrast as data set "d2o"; the table now edits its model
        page.get_by_text("Data sets (simultaneous fit)").click()
        my_data.select_option(label=d2o)
        page.locator(".sd-dataset-name input").fill("d2o")
        page.locator("button.sd-add-dataset").click()
        messages.get_by_text("editing the model of data set 'd2o'").wait_for(timeout=30_000)
        front = page.locator(".sd-param-front-sld input[type=number]").first
        front.fill("6.36")
        front.press("Enter")
        page.wait_for_function(
            "() => document.querySelectorAll('.sd-refl-plot g.curve path.line').length >= 4"
        )

        # tie film1's thickness across the data sets (datasets panel) ...
        page.locator(".sd-tie-parameter select").select_option(label="film1.thickness")
        page.locator("button.sd-tie").click()
        page.locator(".sd-datasets-panel").get_by_text("tied:").wait_for(timeout=10_000)
        # ... and film2's with a constraint typed in the constraints editor
        # (a fitted parameter cannot be derived: untick d2o's film2 "fit" first)
        page.locator(".sd-param-film2-thickness input[type=checkbox]").first.uncheck()
        page.get_by_text("Constraints", exact=True).click()
        text = page.locator(".sd-constraint-text input")
        text.fill("d2o.film2.thickness = film2.thickness")
        page.locator("button.sd-add-constraint").click()
        page.locator(".sd-constraint-list").get_by_text(
            "d2o.film2.thickness = film2.thickness"
        ).wait_for(timeout=10_000)
        assert page.locator(".sd-constraint-error").inner_text().strip() == ""
        thickness = page.locator(".sd-param-film1-thickness input[type=number]").first
        assert thickness.is_disabled()  # d2o's film1 thickness is derived now

        # fit both contrasts here
        page.locator(".sd-fit-panel button.sd-fit").click()
        messages.get_by_text("fit done").wait_for(timeout=FIT_TIMEOUT)
        result = page.locator(".sd-result")
        assert "χ²" in result.inner_text()
        assert _fitted(page, "d1.film1.thickness") == pytest.approx(TRUTH_FILM1, abs=3)
        assert _fitted(page, "d1.film2.thickness") == pytest.approx(TRUTH_FILM2, abs=3)
        # derived rows of the second contrast follow
        assert _fitted(page, "d2o.film1.thickness") == pytest.approx(
            _fitted(page, "d1.film1.thickness"), abs=0.01
        )
        # both models show the fitted values: d2o's (edited now), then d1's
        assert float(thickness.input_value()) == pytest.approx(TRUTH_FILM1, abs=3)
        page.get_by_text("Data sets (simultaneous fit)").click()
        options = page.locator(".sd-dataset-select option").all_inner_texts()
        page.locator(".sd-dataset-select select").select_option(
            label=next(t for t in options if t.startswith("d1:"))
        )
        messages.get_by_text("editing the model of data set 'd1'").wait_for(timeout=10_000)
        assert float(thickness.input_value()) == pytest.approx(TRUTH_FILM1, abs=3)
        page.locator(".sd-param-film1-thickness .sd-error-text").get_by_text("±").wait_for(
            timeout=10_000
        )

        # the same fit on the SSH worker named in the settings file
        page.locator(".sd-backend select").select_option(label="worker (ssh)")
        page.locator(".sd-fit-panel button.sd-fit").click()
        messages.get_by_text("on worker").wait_for(timeout=10_000)
        messages.get_by_text("fit done").wait_for(timeout=FIT_TIMEOUT)
        assert _fitted(page, "d1.film1.thickness") == pytest.approx(TRUTH_FILM1, abs=3)
        # the jobs panel lists both fits, one on each backend
        page.locator(".sd-dashboard-tabs .lm-TabBar-tabLabel", has_text="My jobs").click()
        jobs = page.locator(".sd-jobs-panel select")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.sd-jobs-panel select option')]"
            ".filter(o => o.textContent.includes('done')).length >= 2",
            timeout=15_000,
        )
        listed = jobs.locator("option").all_inner_texts()
        assert any("worker" in line for line in listed), listed
        assert any("local" in line for line in listed), listed
        assert errors == [], errors
