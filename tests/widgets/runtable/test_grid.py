"""RunGrid headless: pages, cell drawing, states, headers, live row updates, editing."""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.widgets.runtable import _data

from shiftdesk_widgets.runtable.cells import Cell, RowState
from shiftdesk_widgets.runtable.grid import RunGrid


def text(html: str) -> str:
    """Visible text of some HTML."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def cell_of(grid: RunGrid, run: int, name: str) -> str:
    """The ``div`` drawn for one cell (found by its position among the shown columns)."""
    html = grid.row_html(run)
    cells = re.findall(r"<div class='sd-rt-cell[^']*'[^>]*>.*?</div>", html, flags=re.S)
    # state, run, then the non-editable columns in order
    names = ["state", "run"] + [n for n in grid.shown_columns if not grid.columns[n].editable]
    return cells[names.index(name)]


class Edits:
    """Records ``on_edit`` calls; refuses with ``refuse`` when set."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, Any]] = []
        self.refuse: Exception | None = None

    def __call__(self, run: int, name: str, value: Any) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.calls.append((run, name, value))


@pytest.fixture
def edits() -> Edits:
    return Edits()


@pytest.fixture
def grid(edits: Edits) -> RunGrid:
    frame, columns, cells, states = _data.table()
    return RunGrid(frame, columns, cells=cells, states=states, on_edit=edits,
                   settings={"page_size": 10})  # fmt: skip


def test_pages(grid: RunGrid) -> None:
    assert grid.page_runs == list(range(12, 2, -1))
    assert "runs 1–10 of 12" in text(grid.summary.value)
    assert grid.prev_button.disabled and not grid.next_button.disabled
    grid.next_button.click()
    assert grid.page_runs == [2, 1]
    assert grid.next_button.disabled and not grid.prev_button.disabled
    assert "page 2 of 2" in text(grid.summary.value)
    hidden = [r for r in grid._rows if r.run is None]
    assert len(hidden) == 8 and all("sd-rt-unused" in r.box._dom_classes for r in hidden)
    grid.prev_button.click()
    assert grid.page_runs[0] == 12
    grid.page_size.value = 25
    assert grid.page_runs == list(range(12, 0, -1))
    assert grid.settings["page_size"] == 25


def test_go_to_a_run(grid: RunGrid) -> None:
    grid.goto.value = "2"
    assert 2 in grid.page_runs
    grid.goto.value = "99"
    assert "no run 99" in text(grid.message.value)
    grid.goto.value = "x"
    assert "not a run number" in text(grid.message.value)


def test_thumbnails_sparklines_bold_background(grid: RunGrid) -> None:
    image = cell_of(grid, 8, "detector_image")
    assert "sd-rt-thumbnail" in image and "<img" in image and "data:image/png;base64," in image
    trend = cell_of(grid, 8, "xgm_trend")
    assert "sd-rt-sparkline" in trend and "<svg" in trend and "<polyline" in trend
    bold = cell_of(grid, 4, "motor_x")
    assert "sd-rt-bold" in bold and "changed during the run" in bold
    assert "sd-rt-bold" not in cell_of(grid, 5, "motor_x")
    assert "background:#ffe082" in cell_of(grid, 5, "xgm_energy")
    assert grid.editor(6, "shots").value == "6000"
    assert text(cell_of(grid, 8, "start_time")) == "2026-07-01 08:49"


def test_error_and_skip_markers_with_reason_on_hover(grid: RunGrid) -> None:
    assert grid.show_run(2) and grid.page_runs == [2, 1]
    grid.page_size.value = 25
    error = cell_of(grid, 2, "xgm_energy")
    assert "sd-rt-error" in error and text(error) == "⚠ error"
    assert "title='ZeroDivisionError: division by zero'" in error
    skipped = cell_of(grid, 3, "motor_x")
    assert "sd-rt-skipped" in skipped and text(skipped) == "skipped"
    assert "title='skipped: no motor data in this run'" in skipped


def test_submitted_value_says_who(grid: RunGrid) -> None:
    grid.columns["temperature"] = grid.columns["temperature"].__class__("temperature")
    grid.relayout()
    cell = cell_of(grid, 6, "temperature")
    assert "submitted by cryostat by svc-cryo" in cell and "sd-rt-submitted" in cell


def test_state_column(grid: RunGrid) -> None:
    grid.page_size.value = 25
    states = {run: cell_of(grid, run, "state") for run in (12, 11, 10, 1)}
    assert "sd-rt-running" in states[12] and text(states[12]) == "⚙ running"
    assert "started 10 s ago" in states[12] and "job 41" in states[12]
    assert text(states[11]) == "⋯ queued"
    assert text(states[10]) == "✓ done"
    assert "sd-rt-failed" in states[1] and "time limit of 600 s reached" in states[1]
    draws = grid.row_draws
    assert grid.set_states({11: RowState("running"), 10: RowState("done")}) == [11]
    assert grid.row_draws == draws + 1
    assert text(cell_of(grid, 11, "state")) == "⚙ running"


def test_header_units_and_description_tooltips(grid: RunGrid) -> None:
    header = grid.header_html()
    assert "XGM energy [µJ]" in header and "temperature [K]" in header
    assert "title='mean pulse energy at the XGM\ntags: xgm'" in header
    assert "cryostat reading\n(editable: number)" in header
    assert "sd-rt-head-edit" in header  # editable columns are marked


def test_update_rows_redraws_only_changed_rows(grid: RunGrid) -> None:
    boxes = list(grid.body.children)
    before = {run: grid.row_html(run) for run in grid.page_runs}
    draws = grid.row_draws
    rows = grid.frame.loc[[7]].copy()
    rows.loc[7, "xgm_energy"] = 1234.5
    assert grid.update_rows(rows) == [7]
    assert grid.row_draws == draws + 1
    assert list(grid.body.children) == boxes
    assert text(cell_of(grid, 7, "xgm_energy")) == "1234"
    assert all(grid.row_html(r) == before[r] for r in grid.page_runs if r != 7)
    # cells and a state for one run: that row only
    assert grid.update_rows(grid.frame.loc[[8]], cells={
        (8, "xgm_energy"): Cell(value=None, error="boom", error_cls="RuntimeError")
    }, states={8: RowState("failed", "1 variable failed")}) == [8]  # fmt: skip
    assert "RuntimeError: boom" in cell_of(grid, 8, "xgm_energy")
    assert grid.row_draws == draws + 2
    # a run not on this page changes: nothing redrawn
    assert grid.update_rows(grid.frame.loc[[1]]) == []
    assert grid.row_draws == draws + 2


def test_a_new_run_moves_rows_down_without_redrawing_them(grid: RunGrid) -> None:
    row_of_12 = grid._rows[0].box
    draws = grid.row_draws
    new = pd.DataFrame(
        {"start_time": [pd.Timestamp("2026-07-01 09:30")], "comment": [""],
         "xgm_energy": [777.0], "shots": [13000], "new_var": [1.5]},
        index=pd.Index([13], name="run"),
    )  # fmt: skip
    assert grid.update_rows(new.drop(columns="new_var"), states={13: RowState("queued")}) == [13]
    assert grid.page_runs == list(range(13, 3, -1))
    assert grid.row_draws == draws + 1  # only run 13: the others moved down
    assert grid.body.children[1] is row_of_12
    assert text(cell_of(grid, 13, "state")) == "⋯ queued"
    assert grid.update_rows(new) == [13]  # a new variable: a new column, shown last
    assert "new_var" in grid.columns and grid.frame.at[13, "new_var"] == 1.5
    assert grid.shown_columns[-1] == "new_var" and grid.settings["order"][-1] == "new_var"
    assert text(cell_of(grid, 13, "new_var")) == "1.5"
    assert grid.frame["xgm_energy"].dtype == np.float64
    assert grid.frame["shots"].dtype.kind in "if"
    assert pd.api.types.is_datetime64_any_dtype(grid.frame["start_time"])
    assert "runs 1–10 of 13" in text(grid.summary.value)


def test_one_row_update_at_3000_runs_by_100_columns() -> None:
    frame, info = _data.big_table(3000, 100)
    started = time.perf_counter()
    grid = RunGrid(frame, info, on_edit=lambda *_a: None)
    first = time.perf_counter() - started
    assert grid.page_runs[0] == 3000 and len(grid.shown_columns) == 102
    boxes, header = list(grid.body.children), list(grid.header.children)
    segments = [[s.widget for s in row.segments] for row in grid._rows]
    draws = grid.row_draws
    rows = frame.loc[[2990]].copy()
    rows.loc[2990, "var_050"] = 42.0
    started = time.perf_counter()
    assert grid.update_rows(rows) == [2990]
    took = time.perf_counter() - started
    assert grid.row_draws == draws + 1
    assert list(grid.body.children) == boxes and list(grid.header.children) == header
    assert [[s.widget for s in row.segments] for row in grid._rows] == segments
    assert "42" in text(grid.row_html(2990))
    assert first < 10 and took < 0.5, (first, took)


def test_typed_editing(grid: RunGrid, edits: Edits) -> None:
    temperature = grid.editor(9, "temperature")
    temperature.value = "warm"
    assert edits.calls == []
    segment = grid._segment_of(9, "temperature")
    assert segment is not None and segment.mark is not None
    assert "not a number: 'warm'" in text(segment.mark.value)  # next to the cell
    assert "sd-rt-invalid" in temperature._dom_classes
    assert "run 9 · temperature not saved: not a number: 'warm'" in text(grid.message.value)
    grid.update_rows(grid.frame.loc[[9]])  # a poll redraws the row: the refusal stays
    assert temperature.value == "warm" and "not a number" in text(segment.mark.value)
    assert "sd-rt-invalid" in temperature._dom_classes
    temperature.value = "290.5"
    assert edits.calls == [(9, "temperature", 290.5)]
    assert "sd-rt-invalid" not in temperature._dom_classes
    assert grid.frame.at[9, "temperature"] == 290.5
    shots = grid.editor(9, "shots")
    shots.value = "3.5"
    assert "not a whole number" in text(grid.message.value)
    shots.value = "12"
    good = grid.editor(9, "good")
    good.value = False
    grid.editor(9, "comment").value = "beam lost at 12:03"
    grid.editor(9, "sample").value = ""
    assert edits.calls[1:] == [
        (9, "shots", 12), (9, "good", False), (9, "comment", "beam lost at 12:03"),
        (9, "sample", None),
    ]  # fmt: skip
    assert grid.frame.at[9, "comment"] == "beam lost at 12:03"


def test_a_refusal_of_the_core_is_shown_next_to_the_cell(grid: RunGrid, edits: Edits) -> None:
    edits.refuse = PermissionError("bob may not edit run table demo")
    comment = grid.editor(5, "comment")
    comment.value = "mine"
    segment = grid._segment_of(5, "comment")
    assert segment is not None and segment.mark is not None
    assert "bob may not edit run table demo" in text(segment.mark.value)
    assert grid.frame.at[5, "comment"] == "scan 5"  # not stored
    assert not grid.edit(5, "xgm_energy", "1")  # a computed variable
    assert "xgm_energy cannot be edited" in text(grid.message.value)


def test_read_only_when_can_edit_is_false() -> None:
    frame, columns, cells, states = _data.table()
    calls: list[Any] = []
    grid = RunGrid(frame, columns, cells=cells, states=states,
                   on_edit=lambda *a: calls.append(a), can_edit=False)  # fmt: skip
    comment = grid.editor(12, "comment")
    assert comment.disabled and "(read-only)" in comment.tooltip
    assert grid.editor(12, "good").disabled
    assert not grid.edit(12, "comment", "x")
    assert calls == [] and "read-only" in text(grid.message.value)
    assert RunGrid(frame, columns).editor(12, "comment").disabled  # no on_edit: read-only


def test_row_selection(grid: RunGrid) -> None:
    grid._rows[0].select.value = True
    grid._rows[2].select.value = True
    assert grid.selected == [10, 12]
    assert "sd-rt-selected" in grid._rows[0].box._dom_classes
    assert "selected: 2" in text(grid.selection_label.value)
    grid.select([3, 4])
    assert [r.select.value for r in grid._rows[:3]] == [False, False, False]
    grid.select_page.value = True
    assert set(grid.selected) == set(range(3, 13))
    grid.clear_button.click()
    assert grid.selected == [] and not grid._rows[0].select.value


def test_fetch_is_asked_only_for_the_page(edits: Edits) -> None:
    frame, columns, cells, states = _data.table(30)
    asked: list[list[int]] = []

    def fetch(runs: list[int]) -> dict[tuple[int, str], Cell]:
        asked.append(sorted(runs))
        return {k: v for k, v in cells.items() if k[0] in runs}

    grid = RunGrid(frame, columns, states=states, fetch=fetch, settings={"page_size": 10})
    assert asked == [list(range(21, 31))]
    assert "<img" in cell_of(grid, 25, "detector_image")
    grid.next_button.click()
    assert asked[-1] == list(range(11, 21))
    grid.update_rows(frame.loc[[15]])  # changed without cells: fetched again
    assert asked[-1] == [15]


def test_no_warnings_for_awkward_values() -> None:
    frame = pd.DataFrame(
        {"a": [1, 2], "b": ["x", None], "c": [pd.NA, 1.0], "d": [np.bool_(True), np.nan]},
        index=pd.Index([1, 2], name="run"),
    )
    grid = RunGrid(frame)
    assert text(cell_of(grid, 1, "d")) == "yes"
    assert text(cell_of(grid, 1, "c")) == ""
    grid.update_rows(pd.DataFrame({"a": ["text now"]}, index=pd.Index([2], name="run")))
    assert text(cell_of(grid, 2, "a")) == "text now"


def test_a_columns_first_sparklines_widen_it_once() -> None:
    frame = pd.DataFrame({"trend": [None, None]}, index=pd.Index([1, 2], name="run"))
    grid = RunGrid(frame)
    narrow, rebuilds = grid._widths["trend"], grid.rebuilds
    rows = pd.DataFrame({"trend": ["<sparkline>"]}, index=pd.Index([2], name="run"))
    cells = {(2, "trend"): Cell(value=np.vstack([np.arange(5.0), np.arange(5.0)]))}
    assert grid.update_rows(rows, cells=cells) == [2]
    assert grid._widths["trend"] > narrow and grid.rebuilds == rebuilds + 1
    assert "<svg" in cell_of(grid, 2, "trend")
    rows = pd.DataFrame({"trend": ["<sparkline>"]}, index=pd.Index([1], name="run"))
    grid.update_rows(rows)
    assert grid.rebuilds == rebuilds + 1  # laid out once


def test_a_row_is_its_cells_and_nothing_more(grid: RunGrid) -> None:
    # every widget is a model the browser makes: the row box holds the checkbox, the
    # state and run, the HTML segments and each input next to its mark, no boxes between
    import ipywidgets as w

    row = grid._rows[0]
    expected: list[Any] = [row.select, row.lead]
    for segment in row.segments:
        expected += [segment.widget] if segment.kind == "html" else [segment.widget, segment.mark]
    assert list(row.box.children) == expected
    assert {"sd-rt-lead", "sd-rt-lead-select"} <= set(row.select._dom_classes)
    assert {"sd-rt-lead", "sd-rt-lead-run"} <= set(row.lead._dom_classes)
    assert any(s.kind == "edit" for s in row.segments)
    # the rows share their layouts: a row is its widgets and no layout of its own
    assert len({id(r.box.layout) for r in grid._rows}) == 1
    before = len(w.widgets.widget._instances)
    grid._make_row(grid._row_plan)
    made = len(w.widgets.widget._instances) - before
    assert made == 1 + len(expected)  # the row box and its children
