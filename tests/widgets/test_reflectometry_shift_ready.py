"""The reflectometry dashboard as a newcomer on shift uses it (issue 15, reflectometry part).

Each test drives the page headless (``button.click()``, ``widget.value = ...``) through
one defect found in Chromium at 1600 × 1000 and holds the fix to it: numbers that
belong to the curve drawn, feedback beside the control used, status texts that say each
thing once, labels that fit, figures only where the page shows them, a "my fits" list
that is never blank, and DREAM progress with steps and time left.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import re
import time
from types import SimpleNamespace
from typing import Any

import ipywidgets as w
import pytest
from bqplot import Figure

from shiftdesk.reflectometry import FitProblem
from shiftdesk.reflectometry.demo import starting_problem
from shiftdesk_widgets import ReflectometryDashboard
from shiftdesk_widgets.reflectometry.dashboard import TOOLS_TAB, UNCERTAINTY_TAB
from shiftdesk_widgets.reflectometry.fit_panel import backend_choices

# (what the fixes added is imported in the tests that use it, so that each test fails
# on its own against the code before them)

POLL_TIMEOUT = 120.0
#: "χ² = 1.12" and "χ² so far 98.1" in any text of the page
CHI2 = re.compile(r"χ²\s*(?:=|so far)\s*([-+]?\d[\d.]*(?:e[-+]?\d+)?)")


def visible(markup: str) -> str:
    """The text a reader sees (tags and style sheets dropped)."""
    markup = re.sub(r"<style>.*?</style>", "", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def said(note: w.HTML) -> tuple[str | None, str]:
    """``(kind, text)`` of a note beside a control."""
    found = re.search(r"sd-note-(\w+)", note.value)
    return (found.group(1) if found else None), visible(note.value).strip()


def shown_widgets(root: w.Widget, hidden: bool = False) -> list[tuple[w.Widget, bool]]:
    """Every widget on the page under ``root``, with whether it is out of sight.

    Out of sight: under a ``display: none`` layout, or in a tab (accordion section)
    that is not the open one.
    """
    layout = getattr(root, "layout", None)
    hidden = hidden or getattr(layout, "display", None) == "none"
    found = [(root, hidden)]
    children = getattr(root, "children", ())
    selectable = isinstance(root, w.Tab | w.Accordion | w.Stack)
    for index, child in enumerate(children):
        closed = selectable and index != root.selected_index
        found += shown_widgets(child, hidden or closed)
    return found


def chi2_on_page(dashboard: ReflectometryDashboard) -> list[float]:
    """Every χ² number the page shows (in sight)."""
    numbers = []
    for widget, hidden in shown_widgets(dashboard):
        if not hidden and isinstance(widget, w.HTML):
            numbers += [float(n) for n in CHI2.findall(visible(widget.value))]
    return numbers


def assert_chi2_belongs_to_the_curve(dashboard: ReflectometryDashboard) -> None:
    drawn = dashboard.curve.chi2
    numbers = chi2_on_page(dashboard)
    assert numbers, "the page shows no χ² at all"
    for number in numbers:
        assert number == pytest.approx(drawn, rel=1e-3), (number, drawn, numbers)


def poll_until_done(dashboard: ReflectometryDashboard, timeout: float = POLL_TIMEOUT) -> list[str]:
    """Poll the fit panel as the kernel's loop would; returns the status texts seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while dashboard.fit_panel.poll():
        seen.append(visible(dashboard.fit_panel.status.value).strip())
        if time.monotonic() > deadline:
            job = dashboard.fit_panel.job
            pytest.fail(f"the fit did not finish in {timeout:g} s: {job!r}\n{job.logs()}")
        time.sleep(0.1)
    seen.append(visible(dashboard.fit_panel.status.value).strip())
    return seen


def fake_job(status: str, message: str = "", **metrics: float) -> Any:
    """What the fit panel reads of a job (status, message, metrics, progress)."""
    job = SimpleNamespace(
        status=SimpleNamespace(value=status),
        message=message,
        metrics=dict(metrics),
        progress=0.2,
        error=None,
        finished=status in ("done", "failed", "cancelled"),
        id="fake",
    )
    job.refresh = lambda: job
    return job


# -- 1. every number on the page belongs to what is drawn ------------------------------


def test_evaluate_then_edit_leaves_no_old_chi2(dashboard: ReflectometryDashboard) -> None:
    dashboard.evaluate_button.click()
    assert_chi2_belongs_to_the_curve(dashboard)
    before = dashboard.curve.chi2
    dashboard.table.editor("film1.thickness").value.value = 570.0
    assert dashboard.curve.chi2 != pytest.approx(before, rel=1e-3)
    # the plot's χ² follows the edit; Evaluate's answer about the old curve is gone
    assert_chi2_belongs_to_the_curve(dashboard)
    assert said(dashboard.model_note) == (None, "")
    dashboard.evaluate_button.click()
    assert_chi2_belongs_to_the_curve(dashboard)
    assert len(chi2_on_page(dashboard)) == 2  # the plot's and Evaluate's: the same


def test_a_fit_then_an_edit_clears_the_fit_texts(dashboard: ReflectometryDashboard) -> None:
    dashboard.fit_panel.fit_button.click()
    poll_until_done(dashboard)
    # plot, status beside Fit, result and top line all give the fitted curve's χ²
    assert_chi2_belongs_to_the_curve(dashboard)
    assert len(chi2_on_page(dashboard)) >= 3
    assert "fit done" in visible(dashboard.messages.value)

    from shiftdesk_widgets.reflectometry.panels import STALE_RESULT

    dashboard.table.editor("film2.thickness").value.value = 41.0
    assert_chi2_belongs_to_the_curve(dashboard)
    assert visible(dashboard.fit_panel.status.value).strip() == ""
    assert dashboard.fit_panel.progress.layout.display == "none"
    assert STALE_RESULT in visible(dashboard.result_box.value)
    assert dashboard.messages.value == ""  # "fit done: χ² = ..." spoke of the old curve


def test_reopen_fit_and_open_model_replace_every_status_text(
    dashboard: ReflectometryDashboard,
) -> None:
    # a fit on part of the Q range (another χ²) made from code: in "my fits"
    other = dashboard.problem.copy()
    other.set_q_range(0.01, 0.1)
    job = other.fit("lm", title="part of Q")
    job.result(timeout=POLL_TIMEOUT)
    # a fit from the page: its status line and result
    dashboard.fit_panel.fit_button.click()
    poll_until_done(dashboard)
    fitted_chi2 = dashboard.curve.chi2

    dashboard.refresh_lists()
    dashboard.my_fits.value = job.id
    dashboard.open_fit_button.click()
    assert dashboard.problem.q_max == 0.1
    assert dashboard.curve.chi2 != pytest.approx(fitted_chi2, rel=1e-3)
    assert_chi2_belongs_to_the_curve(dashboard)
    assert "reopened the fit" in visible(dashboard.messages.value)
    assert said(dashboard.fits_note)[0] == "info"

    # a saved model drawn: no fit text is left about another curve
    dashboard.open_model_button.click()
    assert_chi2_belongs_to_the_curve(dashboard)
    assert visible(dashboard.fit_panel.status.value).strip() == ""
    assert "χ² =" not in visible(dashboard.result_box.value)


# -- 2. feedback where the user acted, in the page's words -----------------------------

NOTEBOOK_WORDS = ("fp.", ".fit(", "problem.", "Error", "Exception", "load_data(", "url_template")


def assert_page_words(text: str) -> None:
    for word in NOTEBOOK_WORDS:
        assert word not in text, f"{word!r} in {text!r}"


def test_fit_without_a_free_parameter_answers_beside_fit(
    dashboard: ReflectometryDashboard,
) -> None:
    dashboard.message("info", "something earlier")
    for path in list(dashboard.problem.free_parameters()):
        dashboard.table.editor(path).free.value = False
    dashboard.fit_panel.fit_button.click()
    kind, text = said(dashboard.fit_panel.note)
    assert kind == "error"
    assert "tick Fit on a parameter to fit it" in text
    assert_page_words(text)
    assert dashboard.fit_panel.job is None
    assert "something earlier" in dashboard.messages.value  # the top line is not used
    # ticking Fit (what the note asks for) answers it
    dashboard.table.editor("film1.thickness").free.value = True
    assert said(dashboard.fit_panel.note) == (None, "")


def test_fit_without_data_and_outside_its_range_say_what_to_do() -> None:
    board = ReflectometryDashboard()
    board.table.editor("film.thickness").free.value = True
    board.fit_panel.fit_button.click()
    kind, text = said(board.fit_panel.note)
    assert kind == "error" and "upload a file" in text
    assert_page_words(text)


def test_save_without_a_title_answers_beside_save(dashboard: ReflectometryDashboard) -> None:
    dashboard.title.value = "   "
    dashboard.save_button.click()
    kind, text = said(dashboard.save_note)
    assert kind == "error" and "title" in text
    assert_page_words(text)
    assert dashboard.messages.value == ""


def test_other_buttons_answer_beside_themselves(dashboard: ReflectometryDashboard) -> None:
    # Reopen fit with no fit yet: the list says so and the button says what to do
    dashboard.open_fit()
    assert said(dashboard.fits_note)[0] == "warning"
    # Use SLD in layer on a derived parameter
    dashboard.problem.constrain("film2.sld = film1.sld")
    dashboard.sld_target.value = "film2"
    dashboard.use_sld_button.click()
    kind, text = said(dashboard.sld_note)
    assert kind == "error" and "constraint" in text
    # a refused value in the table: under the table, beside Evaluate
    dashboard.table.editor("film1.roughness").value.value = -5.0
    assert said(dashboard.model_note)[0] == "error"
    # a bad upload: beside Upload
    dashboard.upload_file(b"0.01 1 0.1\n0.02 abc 0.1\n", "broken.txt")
    kind, text = said(dashboard.data_note)
    assert kind == "error" and "broken.txt" in text
    assert_page_words(text)
    assert dashboard.messages.value == ""


def test_a_failed_fit_says_why_without_class_names(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel.job = fake_job("failed")
    panel.job.error = "FitError: the lm fit failed to find valid parameter values"
    panel.poll()
    text = visible(panel.status.value).strip()
    assert text == "failed: the lm fit failed to find valid parameter values"
    assert "FitError" not in visible(dashboard.messages.value)


# -- 3. each status text says a thing once ----------------------------------------------


def test_running_and_done_status_say_each_thing_once(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel.job = fake_job("running", "step 7: χ² = 98.11", chi2=98.11, step=7.0)
    assert panel.poll()
    text = visible(panel.status.value).strip()
    assert text == "step 7 · χ² so far 98.11"
    assert text.count("χ²") == 1 and text.count("98.11") == 1

    panel.job = None
    panel.fit_button.click()
    seen = poll_until_done(dashboard)
    final = seen[-1]
    assert final.startswith("done · χ² = ") and final.count("done") == 1
    for text in seen:
        words = text.replace("·", " ").split()
        assert all(a != b for a, b in itertools.pairwise(words)), text
        assert text.count("χ²") <= 1, text


# -- 4. labels that fit, legible axes, one colour per data set ---------------------------


def px(value: str) -> float:
    assert value.endswith("px"), value
    return float(value[:-2])


def test_labels_have_room_for_their_words(dashboard: ReflectometryDashboard) -> None:
    # the "background" label (bold, ~90 px) no longer runs under its value box
    label = dashboard.table._global_labels[1]
    assert "background" in label.value and px(label.layout.width) >= 9 * len("background")
    # the data sets' controls: descriptions and buttons sized to their words
    panel = dashboard.datasets_panel
    for box in (panel.selector, panel.tie_parameter, panel.name):
        description_width = box.style.description_width
        assert px(description_width) >= 7.5 * len(box.description), box.description
    for button in (panel.tie_button, panel.add_button, panel.remove_button):
        assert button.layout.width == "auto", button.description
    # tab titles as wide as "Uncertainty (DREAM)"
    from shiftdesk_widgets.reflectometry.dashboard import PAGE_STYLE

    found = re.search(r"--jp-widgets-horizontal-tab-width:\s*(\d+)px", PAGE_STYLE)
    assert found and int(found.group(1)) >= 8.5 * len(UNCERTAINTY_TAB)
    assert PAGE_STYLE in dashboard.children[0].value


def test_the_shared_workers_choice_fits_its_picker(
    dashboard: ReflectometryDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "shiftdesk_widgets.reflectometry.fit_panel.workers_configured", lambda: True
    )
    choices, _problem = backend_choices()
    picker = dashboard.fit_panel.backend_picker
    room = px(picker.layout.width) - 100  # the description and the arrow
    for label, _name in choices:
        assert 7.5 * len(label) <= room, label


def test_fitted_values_fit_their_boxes(dashboard: ReflectometryDashboard) -> None:
    result = dashboard.problem.fit_now("lm")
    dashboard.show_result(result)
    for path in ("film1.thickness", "film2.thickness"):
        shown = dashboard.table.editor(path).value.value
        assert len(repr(shown)) <= 8, shown  # e.g. 578.29, not 578.289728107804
        full = dashboard.problem.parameter(path).value
        assert shown == pytest.approx(full, rel=1e-5)
        assert full != shown  # the model keeps its full value
    # typing into the box still sets the parameter
    dashboard.table.editor("film1.thickness").value.value = 575.5
    assert dashboard.problem.parameter("film1.thickness").value == 575.5


def test_residual_axis_has_few_round_ticks(dashboard: ReflectometryDashboard) -> None:
    import numpy as np

    axis = dashboard.plot.residuals.axes[1]
    for value in (570.0, 577.6):  # a poor model (residuals ±30), the fitted one (±3)
        dashboard.table.editor("film1.thickness").value.value = value
        ticks = np.asarray(axis.tick_values, dtype=float)
        assert 2 <= ticks.size <= 5, ticks  # 150 px tall: more labels collide
        step = ticks[1] - ticks[0]
        assert np.allclose(np.diff(ticks), step)
        mantissa = step / 10 ** np.floor(np.log10(step))
        assert round(mantissa, 6) in (1.0, 2.0, 5.0), ticks  # round numbers
        residuals = np.asarray(dashboard.plot.residual_points.y)
        assert ticks[0] >= residuals.min() - 1e-9 and ticks[-1] <= residuals.max() + 1e-9


@pytest.mark.parametrize("view", ["log R", "R·Q⁴"])
def test_reflectivity_axis_ticks_do_not_collide(
    dashboard: ReflectometryDashboard, view: str
) -> None:
    import numpy as np

    plot = dashboard.plot
    plot.view.value = view
    ticks = np.asarray(plot.y_axis.tick_values, dtype=float)
    # d3's log ticks label 1 … 9 of every decade: over R·Q⁴'s one decade they collide
    assert 2 <= ticks.size <= 8, ticks
    mantissas = {round(t / 10 ** np.floor(np.log10(t)), 6) for t in ticks}
    assert mantissas <= {1.0, 2.0, 5.0}, ticks
    drawn = np.concatenate([np.asarray(plot.points.y), np.asarray(plot.model.y)])
    assert ticks.max() <= drawn.max() * 1.01  # within what is drawn (error bars aside)
    plot.view.value = "linear R"
    assert len(plot.y_axis.tick_values) == 0  # d3's linear ticks are fine


def test_sld_legend_is_under_the_figure_and_colours_follow_the_data_set(
    dashboard: ReflectometryDashboard,
) -> None:
    from shiftdesk.reflectometry.demo import demo_d2o_bytes
    from shiftdesk_widgets.reflectometry.plots import dataset_colors

    profile, plot = dashboard.profile, dashboard.plot
    # no legend box inside the curve region
    assert not any(mark.display_legend for mark in profile.figure.marks)
    assert "SLD" in visible(profile.legend.value) and "iSLD" in visible(profile.legend.value)
    # a second data set: its own colour, the same in R(Q) and in the SLD profile
    dashboard.upload_file(demo_d2o_bytes(), "d2o.txt")
    dashboard.datasets_panel.name.value = "d2o"
    dashboard.datasets_panel.add_button.click()
    assert len(profile.extra) == 1
    sld_colors = [profile.rho.colors[0], profile.extra[0].colors[0]]
    data_colors = [plot.points.colors[0], plot._extra[0]["points"].colors[0]]
    assert sld_colors == data_colors == [dataset_colors(0)[0], dataset_colors(1)[0]]
    assert len(set(sld_colors)) == 2
    legend = visible(profile.legend.value)
    for name in dashboard.problem.datasets:
        assert f"{name} SLD" in legend
    assert not any(mark.display_legend for mark in profile.figure.marks)
    # the R(Q) legend is under its figure too (R·Q⁴ rises into the top-right corner)
    assert not any(mark.display_legend for mark in plot.figure.marks)
    legend = visible(plot.legend.value)
    assert "d1 data" in legend and "d1 model" in legend and "d2o model ×10^-1" in legend
    assert plot.children.index(plot.legend) == plot.children.index(plot.figure) + 1


# -- 5. no figure is laid out where the page does not show it ---------------------------


def hidden_figures(dashboard: ReflectometryDashboard) -> list[Figure]:
    return [x for x, hidden in shown_widgets(dashboard) if hidden and isinstance(x, Figure)]


def test_no_figure_is_on_the_page_out_of_sight(
    dashboard: ReflectometryDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiftdesk_widgets.reflectometry.uncertainty_view import UncertaintyView

    # bqplot lays a figure in a hidden box out at 0 × 0 px: "<rect> attribute width: A
    # negative value is not valid" in the browser, once per mark and relayout
    assert hidden_figures(dashboard) == []
    # the page follows the changes in order: check it after each one that moves a figure
    seen: list[list[Figure]] = []
    place = UncertaintyView._place_figures

    def placed(view: UncertaintyView) -> None:
        place(view)
        seen.append(hidden_figures(dashboard))

    monkeypatch.setattr(UncertaintyView, "_place_figures", placed)
    dashboard.tabs.observe(lambda _c: seen.append(hidden_figures(dashboard)), names=None)
    lm = starting_problem().fit_now("lm")
    from tests.widgets.test_uncertainty_view import make

    dashboard.show_result(dataclasses.replace(lm, method="dream", uncertainty=make(1.01, 40)))
    assert seen and all(found == [] for found in seen), seen
    view = dashboard.uncertainty
    assert view is not None and view.figures  # its tab is open: the figures are shown
    assert hidden_figures(dashboard) == []
    dashboard.show_panel(TOOLS_TAB)  # another tab: the posterior's figures leave the page
    assert view.figures == []
    assert hidden_figures(dashboard) == []
    dashboard.show_panel(UNCERTAINTY_TAB)
    assert len(view.figures) == 2
    # a single parameter has no heat map: it is left off, not hidden
    one = dataclasses.replace(make(1.01, 40))
    one.parameters.pop("B.sld")
    one.correlation[:] = [[1.0]]
    view.show(one)
    assert view.heatmap_figure not in view.figures
    assert hidden_figures(dashboard) == []


def test_the_asymmetry_figure_joins_the_page_when_picked(
    dashboard: ReflectometryDashboard,
) -> None:
    from shiftdesk.reflectometry.demo import demo_d2o_bytes

    dashboard.upload_file(demo_d2o_bytes(), "d2o.txt")
    dashboard.datasets_panel.add_button.click()
    plot = dashboard.plot
    assert plot.asymmetry_figure not in plot.asymmetry_slot.children
    assert hidden_figures(dashboard) == []
    plot.asymmetry.value = plot.asymmetry.options[1][1]
    assert plot.asymmetry_figure in plot.asymmetry_slot.children
    assert hidden_figures(dashboard) == []


# -- 6. "my fits" is never blank; the data-server tab speaks to operators ---------------


def test_my_fits_selects_the_newest_fit(dashboard: ReflectometryDashboard) -> None:
    assert dashboard.my_fits.options == (("no fits yet: press Fit", None),)
    assert dashboard.my_fits.index == 0  # the placeholder is shown, not a blank box
    assert dashboard.open_fit_button.disabled
    dashboard.fit_panel.fit_button.click()
    poll_until_done(dashboard)
    job = dashboard.fit_panel.job
    assert dashboard.my_fits.value == job.id  # shown, ready for "Reopen fit"
    assert not dashboard.open_fit_button.disabled
    label = {v: k for k, v in dashboard.my_fits.options}[job.id]
    assert "done" in label


def test_facility_data_tab_without_a_server_speaks_to_operators(
    dashboard: ReflectometryDashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiftdesk.reflectometry.dataserver import URL_ENV

    monkeypatch.delenv(URL_ENV, raising=False)
    text = visible(dashboard.dataserver.status.value).strip()
    assert text.startswith("No facility data server is set up for this hub")
    assert "ask your facility admin" in text
    assert_page_words(text)
    assert URL_ENV not in text


# -- 7. a DREAM fit says how far it is and how long it will take ------------------------


def test_dream_status_gives_steps_and_time_left(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    panel._method = "dream"
    panel.job = fake_job(
        "running", "step 60 of 600: χ² = 1.12", chi2=1.12, step=60, steps=600, burn=100
    )
    panel.poll()
    text = visible(panel.status.value).strip()
    assert text == "step 60 of 600 (burn-in) · χ² so far 1.12 · estimating the time left…"
    panel.job.metrics.update(step=300, remaining=41.0)
    panel.poll()
    assert visible(panel.status.value).strip() == (
        "step 300 of 600 · χ² so far 1.12 · about 40 s left"
    )
    panel.job.metrics.update(step=100, remaining=170.0)
    panel.poll()
    assert "about 3 min left" in visible(panel.status.value)
    # after the last step, what it does then
    panel.job = fake_job("running", "computing the posterior statistics", chi2=1.12)
    panel.poll()
    assert visible(panel.status.value).strip() == (
        "computing the posterior statistics · χ² so far 1.12"
    )


def test_a_short_dream_fit_reports_steps_and_time_left(
    dashboard: ReflectometryDashboard,
) -> None:
    panel = dashboard.fit_panel
    panel.method.value = "dream"
    panel.option_widgets["samples"].value = 4000
    panel.option_widgets["burn"].value = 100
    panel.fit_button.click()
    seen = poll_until_done(dashboard)
    running = [text for text in seen if " of " in text]
    assert running, seen
    assert any(re.search(r"step \d+ of \d+", text) for text in running), running
    assert any("left" in text for text in running), running
    assert seen[-1].startswith("done · χ² = ")


def test_status_text_of_a_queued_job() -> None:
    from shiftdesk_widgets.reflectometry.fit_panel import status_text

    assert status_text(fake_job("queued")) == "waiting for a worker…"  # type: ignore[arg-type]
    assert status_text(fake_job("running", "running")) == "starting the fit…"  # type: ignore[arg-type]


def test_dashboard_of_a_problem_without_data_has_no_chi2() -> None:
    board = ReflectometryDashboard(problem=FitProblem())
    board.evaluate_button.click()
    assert chi2_on_page(board) == []


def test_a_result_that_cannot_be_shown_says_so(dashboard: ReflectometryDashboard) -> None:
    panel = dashboard.fit_panel
    job = fake_job("done")
    job.result = lambda timeout=None: object()
    panel.job = job

    def refuse(_result: object) -> None:
        raise ValueError("row must be an array of size color.shape[0]")

    panel.on_result = refuse
    assert panel.poll() is False  # no exception into the kernel's loop
    text = visible(panel.status.value).strip()
    assert text.startswith("the result could not be shown") and "ValueError" not in text
    assert not panel.fit_button.disabled
