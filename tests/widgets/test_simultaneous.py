"""Simultaneous fits in the dashboard: add a data set, edit its model, tie, plot them all."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from shiftdesk.reflectometry import FitProblem, Layer, Library, Medium
from shiftdesk_widgets import ReflectometryDashboard

Q = np.linspace(0.01, 0.2, 60)


def contrast(solvent: float) -> FitProblem:
    return FitProblem(
        front=Medium("Si", sld=2.07),
        layers=[Layer("film", thickness=80.0, sld=3.0, roughness=4.0)],
        back=Medium("solvent", sld=solvent, roughness=5.0),
    )


def data_file(solvent: float) -> bytes:
    r = contrast(solvent).evaluate(Q, dq=0.02 * Q).r
    rows = "".join(
        f"{q:.8g} {v:.8g} {0.04 * v:.8g} {0.02 * q:.8g}\n" for q, v in zip(Q, r, strict=True)
    )
    return ("# Q R dR dQ\n" + rows).encode()


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@pytest.fixture
def dashboard() -> ReflectometryDashboard:
    """D2O data loaded; H2O data in "my data", ready to be added as a second data set."""
    fp = contrast(6.36)
    board = ReflectometryDashboard(problem=fp, library=Library())
    board.upload_file(data_file(6.36), "d2o.txt")
    board.upload_file(data_file(-0.56), "h2o.txt")  # the last upload becomes the data...
    board.upload_file(data_file(6.36), "d2o.txt")  # ...so put D2O back on the first set
    h2o_id = next(v for label, v in board.my_data.options if label.startswith("h2o"))
    board.my_data.value = h2o_id
    return board


def add_h2o(board: ReflectometryDashboard) -> FitProblem:
    panel = board.datasets_panel
    panel.name.value = "h2o"
    panel.add_button.click()
    return board.problem.dataset("h2o")


def test_add_a_data_set_and_edit_its_model(dashboard: ReflectometryDashboard) -> None:
    board, panel = dashboard, dashboard.datasets_panel
    assert panel.tie_button.disabled  # one data set: nothing to tie
    h2o = add_h2o(board)
    assert list(board.problem.datasets) == ["d1", "h2o"]
    assert h2o.data is not None and h2o.data.name == "h2o"
    assert panel.error.value == "" and panel.selector.value == "h2o"
    assert board.edited is h2o and board.table.problem is h2o  # the table edits it now
    assert "h2o" in visible(panel.summary.value) and not panel.tie_button.disabled
    # edits in the table go to the H2O model only
    board.table.editor("back.sld").value.value = -0.56
    assert h2o.back.sld.value == -0.56 and board.problem.back.sld.value == 6.36
    # back to the first data set's model
    panel.selector.value = "d1"
    assert board.table.problem is board.problem
    # the data set's name is checked, the reason shown in the panel
    panel.name.value = "h2o"
    panel.add_button.click()
    assert "already a data set named 'h2o'" in visible(panel.error.value)
    assert len(board.problem.datasets) == 2


def test_all_curves_are_plotted_with_offsets_and_residuals(
    dashboard: ReflectometryDashboard,
) -> None:
    board = dashboard
    plot = board.plot
    assert plot.offset.layout.display == "none"
    h2o = add_h2o(board)
    h2o.back.sld.value = -0.56
    (extra,) = plot._extra
    assert plot.offset.layout.display == ""
    assert extra["points"] in plot.figure.marks and extra["residuals"] in plot.residuals.marks
    offset = plot.offset.value
    assert h2o.data is not None
    np.testing.assert_allclose(extra["points"].y, h2o.data.r * 10 ** (-offset))
    curve = h2o.evaluate()
    np.testing.assert_allclose(extra["model"].y, curve.r * 10 ** (-offset))
    np.testing.assert_allclose(extra["residuals"].y, curve.residuals)
    assert "d1: χ² = " in plot.chi2.value and "h2o: χ² = " in plot.chi2.value
    plot.offset.value = 2.0
    np.testing.assert_allclose(extra["points"].y, h2o.data.r * 1e-2)
    plot.view.value = "linear R"  # no offsets on a linear axis
    np.testing.assert_allclose(extra["points"].y, h2o.data.r)
    # the profile shows both models
    assert len(board.profile.extra) == 1 and len(board.profile.extra[0].x) > 10
    # removing the data set removes its curves
    board.datasets_panel.selector.value = "h2o"
    board.datasets_panel.remove_button.click()
    assert list(board.problem.datasets) == ["d1"]
    assert extra["points"] not in plot.figure.marks


def test_asymmetry_between_two_data_sets(dashboard: ReflectometryDashboard) -> None:
    board = dashboard
    plot = board.plot
    h2o = add_h2o(board)
    h2o.back.sld.value = -0.56
    # the figure is on the page only while an asymmetry is picked (a hidden bqplot
    # figure is laid out with negative sizes)
    assert not plot.asymmetry_shown and plot.asymmetry_figure not in plot.asymmetry_slot.children
    assert [label for label, _ in plot.asymmetry.options] == ["off", "d1 vs h2o"]
    plot.asymmetry.value = ("d1", "h2o")
    assert plot.asymmetry_shown and plot.asymmetry_figure in plot.asymmetry_slot.children
    d1 = board.problem.data
    assert d1 is not None and h2o.data is not None
    expected = (d1.r - h2o.data.r) / (d1.r + h2o.data.r)
    np.testing.assert_allclose(plot.asym_points.y, expected)
    r1, r2 = board.problem.evaluate().r, h2o.evaluate().r
    np.testing.assert_allclose(plot.asym_model.y, (r1 - r2) / (r1 + r2))
    plot.asymmetry.value = None
    assert not plot.asymmetry_shown


def test_tie_a_parameter_and_fit_both(dashboard: ReflectometryDashboard) -> None:
    board = dashboard
    h2o = add_h2o(board)
    h2o.back.sld.value = -0.56
    first = board.problem
    first.layers["film"].thickness.value = 70.0
    first.layers["film"].thickness.fit(40.0, 120.0)
    first.layers["film"].sld.fit(1.0, 5.0)
    panel = board.datasets_panel
    panel.tie_parameter.value = "film.thickness"
    panel.tie_button.click()
    panel.tie_parameter.value = "film.sld"
    panel.tie_button.click()
    assert "tied: h2o.film.sld = film.sld" in visible(panel.error.value)
    assert board.constraints_editor.texts == [
        "h2o.film.thickness = film.thickness",
        "h2o.film.sld = film.sld",
    ]
    panel.selector.value = "h2o"
    tied = board.table.editor("film.thickness")
    assert tied.value.disabled and tied.value.value == 70.0
    result = first.fit_now("lm")
    board.show_result(result)
    shown = visible(board.result_box.value)
    assert "d1.film.thickness" in shown and "h2o.film.thickness" in shown
    assert abs(first.layers["film"].thickness.value - 80.0) < 0.5
    assert h2o.layers["film"].thickness.value == first.layers["film"].thickness.value
    # the table shows it (to the digits of its box)
    assert tied.value.value == pytest.approx(h2o.layers["film"].thickness.value, rel=1e-6)
    assert h2o.layers["film"].thickness.error is not None


def test_downloads_cover_every_data_set(dashboard: ReflectometryDashboard) -> None:
    board = dashboard
    add_h2o(board)
    board.prepare_downloads.click()
    names = re.findall(r"<a download='([^']+)'", board.downloads.value)
    assert any(n.endswith("_refl1d.py") for n in names)
    script = board.problem.to_refl1d_script()
    assert "h2o_experiment" in script and "d1_experiment" in script
