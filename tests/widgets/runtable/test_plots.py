"""PlotPanel: a column against another, selection linked both ways, selected runs' data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bqplot import DateScale, HeatMap, LinearScale, Lines
from tests.widgets.runtable import _data

from shiftdesk_widgets.runtable.columns import ColumnsPanel
from shiftdesk_widgets.runtable.grid import RunGrid
from shiftdesk_widgets.runtable.plots import PlotPanel


def load(run: int, name: str) -> Any:
    if name == "xgm_trend":
        return np.sin(np.arange(50) / 5 + run)
    if name == "detector_image":
        return np.arange(12.0).reshape(3, 4) * run
    if name == "xgm_energy":
        return 800.0 + run
    raise KeyError(f"run {run} has no {name}")


@pytest.fixture
def grid() -> RunGrid:
    frame, columns, cells, states = _data.table()
    return RunGrid(frame, columns, cells=cells, states=states)


def test_column_against_column(grid: RunGrid) -> None:
    panel = PlotPanel(grid, load)
    names = [v for _l, v in panel.x_choice.options]
    assert names[:2] == ["run", "start_time"]
    assert {"xgm_energy", "motor_x", "temperature", "shots"} <= set(names)
    assert not {"comment", "xgm_trend", "detector_image", "sample"} & set(names)
    assert panel.x_choice.value == "run" and panel.y_choice.value == "xgm_energy"
    assert len(panel.points.x) == 11  # run 2 failed: no value
    assert "11 runs plotted, 1 without both values" in panel.message.value
    assert panel.y_axis.label == "XGM energy [µJ]"
    panel.x_choice.value = "motor_x"
    panel.y_choice.value = "temperature"
    assert sorted(panel.points.x) == sorted(grid.frame.loc[[1, 5, 6, 7, 9, 11], "motor_x"])
    assert panel.x_axis.label == "motor x [mm]"
    panel.x_choice.value = "start_time"
    assert isinstance(panel.x_scale, DateScale) and panel.points.scales["x"] is panel.x_scale
    assert np.issubdtype(np.asarray(panel.points.x).dtype, np.datetime64)
    panel.x_choice.value = "shots"
    assert isinstance(panel.x_scale, LinearScale)


def test_the_plot_follows_the_filters(grid: RunGrid) -> None:
    panel = PlotPanel(grid, load)
    ColumnsPanel(grid).set_filter("run", {"kind": "range", "min": 5, "max": 8})
    panel.draw()
    assert sorted(panel.points.x) == [5, 6, 7, 8]


def test_selection_is_linked_both_ways(grid: RunGrid) -> None:
    panel = PlotPanel(grid, load)
    order = list(panel._runs)
    panel.select_points([0, 2])  # as the brush does
    assert grid.selected == sorted([order[0], order[2]])
    assert grid._rows[order.index(order[0])].select.value
    grid.select([7, 9])
    assert sorted(order[i] for i in panel.points.selected) == [7, 9]
    grid.select([2])  # not plotted (no value): nothing highlighted
    assert panel.points.selected is None or len(panel.points.selected) == 0
    grid.select([])
    panel.select_points([])
    assert grid.selected == []


def test_full_data_of_the_selected_runs(grid: RunGrid) -> None:
    panel = PlotPanel(grid, load)
    assert [v for _l, v in panel.data_choice.options][:2] == ["xgm_energy", "xgm_trend"]
    panel.data_choice.value = "xgm_trend"
    panel.data_button.click()
    assert "select runs first" in panel.data_message.value
    grid.select([3, 4, 5])
    panel.data_button.click()
    (lines,) = panel.data_figure.marks
    assert isinstance(lines, Lines) and list(lines.labels) == ["run 3", "run 4", "run 5"]
    assert np.asarray(lines.y).shape == (3, 50)
    assert panel.data_figure.title == "XGM trend · 3 runs"
    assert panel.data_figure.axes[0].label == "index"
    panel.data_choice.value = "detector_image"
    panel.data_button.click()
    (image,) = panel.data_figure.marks
    assert isinstance(image, HeatMap) and np.asarray(image.color).shape == (3, 4)
    assert "first selected run is drawn" in panel.data_message.value
    panel.data_choice.value = "motor_x"
    panel.data_button.click()
    assert panel.data_figure.marks == []
    assert "run 3: run 3 has no motor_x" in panel.data_message.value
    panel.data_choice.value = "xgm_energy"
    panel.data_button.click()
    assert "a single value (803.0)" in panel.data_message.value
    grid.select(range(1, 13))
    panel.data_choice.value = "xgm_trend"
    panel.data_button.click()
    assert len(panel.data_figure.marks[0].labels) == 10
    assert "2 more selected runs not drawn" in panel.data_message.value


def test_xarray_results_keep_their_coordinates(grid: RunGrid) -> None:
    import xarray as xr

    def load_xr(run: int, name: str) -> Any:
        return xr.DataArray(
            np.arange(5.0) * run, dims=["pulse"], coords={"pulse": np.arange(5) * 2}
        )

    panel = PlotPanel(grid, load_xr)
    panel.data_choice.value = "xgm_trend"
    grid.select([4])
    panel.data_button.click()
    (lines,) = panel.data_figure.marks
    assert list(np.asarray(lines.x).ravel()) == [0, 2, 4, 6, 8]
    assert panel.data_figure.axes[0].label == "pulse"


def test_new_columns_are_offered_after_a_refresh(grid: RunGrid) -> None:
    panel = PlotPanel(grid)
    assert panel.children[-1].layout.display == "none"  # no data callback: no data plot
    frame = grid.frame.loc[[12]].copy()
    frame["new_var"] = 3.0
    grid.update_rows(frame)
    panel.refresh_choices()
    assert "new_var" in [v for _l, v in panel.y_choice.options]


def test_columns_without_values_yet_are_offered_and_y_follows_the_first_filled() -> None:
    frame, columns, _cells, _states = _data.table()
    frame["xgm_energy"] = float("nan")
    frame["motor_x"] = float("nan")
    grid = RunGrid(frame, columns)
    panel = PlotPanel(grid)
    names = [v for _l, v in panel.y_choice.options]
    assert "motor_x" in names and "sample" not in names and "comment" not in names
    assert panel.y_choice.value == "temperature"  # the first with values
    rows = grid.frame.loc[[1, 2]].copy()
    rows["xgm_energy"] = [1.0, 2.0]
    grid.update_rows(rows)
    panel.refresh_choices()
    assert panel.y_choice.value == "xgm_energy"  # not picked by the user: follows
    panel.y_choice.value = "shots"
    panel.refresh_choices()
    assert panel.y_choice.value == "shots"  # picked: stays
