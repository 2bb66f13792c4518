"""ColumnsPanel and the settings dict: hide, show, reorder, tags, filters, sort."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.widgets.runtable import _data

from shiftdesk_widgets.runtable.columns import ColumnsPanel
from shiftdesk_widgets.runtable.grid import RunGrid
from shiftdesk_widgets.runtable.settings import (
    DEFAULT,
    describe_filter,
    filter_mask,
    normalise,
    ordered_runs,
)


@pytest.fixture
def saved() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def panel(saved: list[dict[str, Any]]) -> ColumnsPanel:
    frame, columns, cells, states = _data.table()
    grid = RunGrid(frame, columns, cells=cells, states=states, on_edit=lambda *_a: None)
    return ColumnsPanel(grid, on_change=saved.append)


def test_hide_show_and_reorder(panel: ColumnsPanel, saved: list[dict[str, Any]]) -> None:
    grid = panel.grid
    panel.shown.value = ("xgm_trend", "detector_image")
    panel.hide_button.click()
    assert "xgm_trend" not in grid.shown_columns and "detector_image" not in grid.shown_columns
    assert [v for _l, v in panel.hidden.options] == ["xgm_trend", "detector_image"]
    assert saved[-1]["hidden"] == ["xgm_trend", "detector_image"]
    panel.hidden.value = ("xgm_trend",)
    panel.show_button.click()
    assert "xgm_trend" in grid.shown_columns
    panel.shown.value = ("motor_x",)
    panel.up_button.click()
    panel.up_button.click()
    assert grid.shown_columns[:5] == ["start_time", "comment", "motor_x", "xgm_energy",
                                      "xgm_trend"]  # fmt: skip
    assert panel.shown.value == ("motor_x",)  # still picked: click again to move on
    panel.down_button.click()
    assert grid.shown_columns.index("motor_x") == 3
    assert grid.settings["order"].index("detector_image") == 4  # hidden: keeps its place
    assert saved[-1] == grid.settings
    panel.show_all()
    assert not grid.settings["hidden"]


def test_move_without_a_choice_says_so(panel: ColumnsPanel) -> None:
    panel.shown.value = ()
    panel.up_button.click()
    assert "pick columns" in panel.message.value


def test_search_narrows_the_lists(panel: ColumnsPanel) -> None:
    panel.search.value = "xgm"
    assert [v for _l, v in panel.shown.options] == ["xgm_energy", "xgm_trend"]
    panel.search.value = ""
    assert len(panel.shown.options) == 10


def test_tags(panel: ColumnsPanel) -> None:
    assert set(panel.tag_buttons) == {"detector", "motors", "xgm"}
    panel.tag_buttons["xgm"].value = True
    assert panel.grid.shown_columns == ["start_time", "comment", "xgm_energy", "xgm_trend"]
    panel.tag_buttons["motors"].value = True
    assert panel.grid.shown_columns[-1] == "motor_x"
    assert panel.grid.settings["tags"] == ["motors", "xgm"] or panel.grid.settings["tags"] == [
        "xgm", "motors"
    ]  # fmt: skip
    panel.all_button.click()
    assert not any(b.value for b in panel.tag_buttons.values())


def test_numeric_range_filter(panel: ColumnsPanel) -> None:
    grid = panel.grid
    rebuilds = grid.rebuilds
    panel.filter_column.value = "motor_x"
    panel.filter_kind.value = "range"
    panel.filter_min.value = "0"
    panel.filter_add.click()
    assert grid.runs == [12, 11, 10, 9, 8, 7]
    assert "motor_x ≥ 0: 6 runs shown" in panel.message.value
    assert "filtered from 12" in grid.summary.value
    assert "sd-rt-filtermark" in grid.header_html()
    panel.filter_max.value = "1"
    panel.filter_add.click()
    assert grid.runs == [9, 8, 7]
    assert len(panel.filters_box.children) == 1
    assert grid.rebuilds == rebuilds  # the same row widgets, redrawn
    panel.filter_min.value = "3"
    panel.filter_add.click()
    assert "min 3 is above max 1" in panel.message.value and grid.runs == [9, 8, 7]
    panel.filter_min.value = "a"
    panel.filter_add.click()
    assert "min is not a number" in panel.message.value
    panel.filters_box.children[0].children[1].click()  # remove
    assert len(grid.runs) == 12 and not grid.settings["filters"]


def test_text_and_has_value_filters(panel: ColumnsPanel) -> None:
    grid = panel.grid
    panel.filter_column.value = "comment"
    panel.filter_kind.value = "text"
    assert panel.filter_text.layout.display is None and panel.filter_min.layout.display == "none"
    panel.filter_add.click()
    assert "type the text" in panel.message.value
    panel.filter_text.value = "SCAN 1"
    panel.filter_add.click()
    assert grid.runs == [11, 10, 1]
    panel.remove_filter("comment")
    panel.filter_column.value = "temperature"
    panel.filter_kind.value = "has"
    panel.filter_add.click()
    assert grid.runs == [11, 9, 7, 6, 5, 3, 1]
    panel.filter_kind.value = "empty"
    panel.filter_add.click()
    assert grid.runs == [12, 10, 8, 4, 2]
    panel.filter_column.value = "sample"
    panel.filter_kind.value = "text"
    panel.filter_text.value = "si"
    panel.filter_add.click()
    assert grid.runs == [12, 10, 8]
    assert len(panel.filters_box.children) == 2


def test_sort(panel: ColumnsPanel) -> None:
    grid = panel.grid
    assert panel.sort_by.value == "run" and panel.descending.value  # newest first
    panel.descending.value = False
    assert grid.runs == list(range(1, 13))
    panel.sort_by.value = "xgm_energy"
    values = grid.frame.loc[grid.runs, "xgm_energy"].tolist()
    assert values[:-1] == sorted(values[:-1]) and grid.runs[-1] == 2  # missing last
    panel.descending.value = True
    values = grid.frame.loc[grid.runs, "xgm_energy"].tolist()
    assert values[:-1] == sorted(values[:-1], reverse=True) and grid.runs[-1] == 2
    assert "▼" in grid.header_html()
    panel.sort_by.value = "sample"
    assert grid.runs == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]  # Si, then LaB6
    panel.descending.value = False
    assert grid.runs[:6] == [1, 2, 3, 4, 5, 6]
    panel.sort_by.value = "start_time"
    assert grid.runs == list(range(1, 13))
    panel.sort_by.value = "run"
    panel.descending.value = True
    assert grid.runs == list(range(12, 0, -1))


def test_settings_round_trip_as_a_dict(panel: ColumnsPanel, saved: list[dict[str, Any]]) -> None:
    panel.hide(["detector_image"])
    panel.move(["sample"], -1)
    panel.set_filter("xgm_energy", {"kind": "range", "min": 790.0, "max": None})
    panel.set_filter("comment", {"kind": "has_value", "value": True})
    panel.tag_buttons["xgm"].value = True
    panel.sort_by.value = "xgm_energy"
    panel.grid.page_size.value = 10
    settings = panel.grid.settings
    stored = json.loads(json.dumps(saved[-1]))  # what the core stores is plain JSON
    assert stored == settings
    frame, columns, cells, states = _data.table()
    again = RunGrid(frame, columns, cells=cells, states=states, settings=stored)
    assert again.settings == settings
    assert again.shown_columns == panel.grid.shown_columns
    assert again.runs == panel.grid.runs and again.page_runs == panel.grid.page_runs
    other = ColumnsPanel(again)
    assert [b for b, t in other.tag_buttons.items() if t.value] == ["xgm"]
    assert other.sort_by.value == "xgm_energy" and len(other.filters_box.children) == 2


def test_normalise_drops_what_no_longer_exists() -> None:
    columns = ["start_time", "comment", "a", "b"]
    settings = normalise(
        {"order": ["b", "gone", "a"], "hidden": ["gone", "a"], "tags": ["x"],
         "filters": {"gone": {"kind": "text", "contains": "x"}, "a": {"kind": "bogus"},
                     "b": {"kind": "range", "min": 1}},
         "sort": {"by": "gone"}, "page_size": 7, "unknown": 1},
        columns,
    )  # fmt: skip
    assert settings["order"] == ["b", "a", "start_time", "comment"]
    assert settings["hidden"] == ["a"]
    assert settings["filters"] == {"b": {"kind": "range", "min": 1}}
    assert settings["sort"] == DEFAULT["sort"] and settings["page_size"] == DEFAULT["page_size"]
    assert "unknown" not in settings
    assert normalise(None, columns)["order"] == columns
    assert DEFAULT["filters"] == {}  # not shared with the results
    copy.deepcopy(settings)["filters"]["c"] = {}
    assert "c" not in normalise(settings, columns)["filters"]


def test_filters_and_order_are_pure() -> None:
    frame, *_ = _data.table()
    mask = filter_mask(frame, {"run": {"kind": "range", "min": 3, "max": 5}})
    assert list(frame.index[mask]) == [3, 4, 5]
    assert (
        ordered_runs(frame, {"filters": {}, "sort": {"by": "shots", "descending": True}})[0] == 12
    )
    assert describe_filter("x", {"kind": "range", "min": 1.0, "max": 2.0}) == "1 ≤ x ≤ 2"
    assert describe_filter("x", {"kind": "has_value", "value": False}) == "x is empty"
