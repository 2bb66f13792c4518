"""RunTableView over a real RunTable in a throwaway SQLite database (no context file:
values arrive by submit, set and add_run, as from the DAQ, a cryostat or a person)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from shiftdesk.identity import Identity
from shiftdesk.runtable import RunTable
from shiftdesk_widgets import view
from shiftdesk_widgets.runtable.view import RunMetadataView, RunTableView

ALICE = Identity("alice")
BOB = Identity("bob")
CAROL = Identity("carol", groups=frozenset({"operators"}))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture
def rt(tmp_path: Path) -> RunTable:
    table = RunTable.create(
        "demo", data=str(tmp_path / "raw" / "r{run:04d}"), title="Demo beamtime",
        identity=ALICE, members=["bob"], editors=["group:operators"],
    )  # fmt: skip
    table.add_user_variable("sample", type="string", description="what is in the beam")
    table.add_user_variable("temperature", type="number", units="K")
    for run in range(1, 6):
        table.add_run(run, process=False)
        table.submit(run, {"xgm": 800.0 + run, "motor": run * 0.5}, provenance="cryostat",
                     units={"xgm": "µJ"})  # fmt: skip
    table.set(2, "comment", "beam lost")
    return table


@pytest.fixture
def rtview(rt: RunTable) -> RunTableView:
    return RunTableView(rt)


def test_the_table_shows(rtview: RunTableView) -> None:
    grid = rtview.grid
    assert grid.page_runs == [5, 4, 3, 2, 1]
    assert grid.shown_columns == ["start_time", "comment", "sample", "temperature", "xgm", "motor"]
    assert "xgm [µJ]" in grid.header_html() and "temperature [K]" in grid.header_html()
    assert "what is in the beam" in grid.header_html()
    assert "submitted by cryostat by alice" in grid.row_html(3)
    assert grid.editor(2, "comment").value == "beam lost"
    assert "Demo beamtime" in rtview.title.value and "editor" in rtview.title.value
    assert "live" in rtview.status.value
    assert not rtview.ticker.running  # no event loop here: the test ticks


def test_a_run_arrives_and_its_cells_fill(rt: RunTable, rtview: RunTableView) -> None:
    grid = rtview.grid
    draws = grid.row_draws
    rt.add_run(6, process=False)
    rtview.tick()
    assert grid.page_runs[0] == 6 and grid.row_draws == draws + 1
    rt.submit(6, {"xgm": 900.0})
    rtview.tick()
    assert "900" in text(grid.row_html(6)) and grid.row_draws == draws + 2
    assert grid.frame.at[6, "xgm"] == 900.0
    rtview.tick()  # nothing changed: nothing drawn
    assert grid.row_draws == draws + 2


def test_typing_a_comment_stores_it_in_the_core(rt: RunTable, rtview: RunTableView) -> None:
    rtview.grid.editor(4, "comment").value = "sample changed"
    assert rt.table().at[4, "comment"] == "sample changed"
    assert "saved" in text(rtview.grid.message.value)
    draws = rtview.grid.row_draws
    rtview.tick()  # the change comes back: only that row
    assert rtview.grid.row_draws == draws + 1
    assert rtview.grid.editor(4, "comment").value == "sample changed"
    assert "set by alice" in rtview.grid.editor(4, "comment").tooltip
    rtview.grid.editor(4, "temperature").value = "warm"
    assert "not a number" in text(rtview.grid._segment_of(4, "temperature").mark.value)
    rtview.grid.editor(4, "temperature").value = "290.5"
    assert rt.table().at[4, "temperature"] == 290.5


def test_another_users_edit_appears(rt: RunTable, rtview: RunTableView) -> None:
    RunTable.open("demo", identity=CAROL).set(1, "sample", "Si")
    assert rtview.apply_changes(rt.changes(rtview.seq)) == [1]
    assert rtview.grid.editor(1, "sample").value == "Si"


def test_a_refusal_of_the_core_is_shown_next_to_the_cell(rt: RunTable) -> None:
    table = RunTable.open("demo", identity=CAROL)
    carol = RunTableView(table)
    assert carol.can_edit and not carol.grid.editor(3, "comment").disabled
    rt.set_people(editors=[])  # carol is no longer an editor; her view does not know yet
    table.refresh()
    carol.grid.editor(3, "comment").value = "mine"
    mark = carol.grid._segment_of(3, "comment").mark
    assert "'carol' may read run table 'demo' but not change values" in text(mark.value)
    assert "sd-rt-invalid" in carol.grid.editor(3, "comment")._dom_classes
    assert rt.table().at[3, "comment"] is None
    carol.tick()  # the change of people arrives: the view turns read-only
    assert not carol.can_edit and carol.grid.editor(3, "comment").disabled
    assert carol.processing.reprocess_button.disabled and carol.editor.text.disabled
    assert "now read-only for you" in text(carol.grid.message.value)


def test_a_reader_gets_a_read_only_view(rt: RunTable) -> None:
    bob = RunTableView(RunTable.open("demo", identity=BOB))
    assert not bob.can_edit and "read-only" in bob.title.value
    assert bob.grid.editor(5, "comment").disabled
    assert bob.processing.reprocess_button.disabled and bob.processing.cancel_button.disabled
    assert bob.editor.text.disabled and bob.editor.save_button.disabled
    assert "only its owner and editors" in text(bob.grid.message.value)


def test_view_settings_are_remembered_per_user(rt: RunTable, rtview: RunTableView) -> None:
    rtview.columns_panel.hide(["motor"])
    rtview.columns_panel.sort_by.value = "xgm"
    assert rt.view_settings()["hidden"] == ["motor"]
    again = RunTableView(RunTable.open("demo", identity=ALICE))
    assert "motor" not in again.grid.shown_columns
    assert again.grid.settings["sort"]["by"] == "xgm"
    carol = RunTableView(RunTable.open("demo", identity=CAROL))
    assert "motor" in carol.grid.shown_columns  # her own view


def test_a_new_column_appears(rt: RunTable, rtview: RunTableView) -> None:
    rt.add_user_variable("good", type="boolean")
    rtview.tick()
    assert "good" in rtview.grid.shown_columns
    rtview.grid.editor(3, "good").value = True
    assert bool(rt.table().at[3, "good"]) is True
    assert "good" in [v for _l, v in rtview.columns_panel.shown.options]


def test_the_plots_are_in_the_page_only_while_their_panel_is_open(rtview: RunTableView) -> None:
    # a figure drawn in a hidden box lays out at 0 x 0 px (the browser logs negative sizes)
    plots = rtview.plots
    assert plots.layout.display == "none"
    assert plots.summary_figure not in plots.summary_slot.children
    assert plots.data_figure not in plots.data_slot.children
    rtview.plot_button.value = True
    assert plots.summary_slot.children == (plots.summary_figure,)
    assert plots.data_slot.children == ()  # nothing drawn yet
    rtview.plot_button.value = False
    assert plots.summary_slot.children == () and plots.layout.display == "none"


def test_a_column_is_plotted_and_linked(rtview: RunTableView) -> None:
    rtview.plot_button.value = True
    assert rtview.plots.layout.display is None
    plots = rtview.plots
    plots.x_choice.value = "motor"
    plots.y_choice.value = "xgm"
    assert sorted(plots.points.y) == [801, 802, 803, 804, 805]
    rtview.grid.select([2])
    assert [plots._runs[i] for i in plots.points.selected] == [2]


def test_export_through_the_core(rtview: RunTableView) -> None:
    path = rtview.export.export("CSV")
    assert path is not None and "beam lost" in path.read_text()
    assert "demo.csv" in rtview.export.link.value


def test_registered_views(rt: RunTable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert isinstance(view(rt), RunTableView)
    run = view(rt[2])
    assert isinstance(run, RunMetadataView)
    assert "beam lost" in run.html.value and "xgm [µJ]" in run.html.value


def test_close_stops_following(rtview: RunTableView) -> None:
    rtview.close()
    assert not rtview.tick()


def test_the_first_screen_builds_only_what_it_shows(rt: RunTable, rtview: RunTableView) -> None:
    # the plots, the context editor, Columns & filters, the Reprocess dialog and the log
    # are hidden at first: built when first opened (or their attribute read)
    assert rtview._plots is None and rtview._editor is None and rtview._columns_panel is None
    assert rtview.processing._dialog is None and rtview.processing._log_view is None
    assert rtview.tabs.titles == ("Table", "Context file") and rtview.tabs.selected_index == 0
    assert rtview._table_tab.children[-1] is rtview.grid
    rt.add_run(6, process=False)  # data that arrives before the plots are opened...
    rt.submit(6, {"xgm": 900.0, "motor": 3.0})
    rtview.tick()
    assert rtview._plots is None
    rtview.plot_button.value = True
    plots = rtview.plots
    assert plots in rtview._table_tab.children and plots.layout.display is None
    assert plots.summary_slot.children == (plots.summary_figure,)
    plots.x_choice.value = "motor"
    plots.y_choice.value = "xgm"
    assert sorted(plots.points.y) == [801, 802, 803, 804, 805, 900]  # ...is in them
    rtview.grid.select([6])
    assert [plots._runs[i] for i in plots.points.selected] == [6]
    rtview.plot_button.value = False
    assert plots.layout.display == "none" and plots.summary_slot.children == ()
    rt.add_user_variable("good", type="boolean")
    rtview.tick()  # a new column reaches the plots once they are built
    assert "good" in [n for _l, n in plots.x_choice.options]
    assert rtview._editor is None
    rtview.close()


def test_the_context_editor_is_built_when_its_tab_is_picked(rt: RunTable) -> None:
    carol = RunTableView(RunTable.open("demo", identity=CAROL))
    placeholder = carol.tabs.children[1]
    assert carol._editor is None and carol.can_edit
    rt.set_people(editors=[])  # carol turns read-only before she opens the tab
    carol.tick()
    assert not carol.can_edit and carol._editor is None
    carol.tabs.selected_index = 1
    editor = carol._editor
    assert editor is not None and carol.tabs.children == (carol._table_tab, editor)
    assert carol.tabs.titles == ("Table", "Context file") and carol.tabs.selected_index == 1
    assert editor.text.value == carol.table.context_text and editor.text.disabled
    assert placeholder.comm is None  # the placeholder is closed
    rt.set_people(editors=["group:operators"])
    carol.tick()  # once built, it follows as before
    assert carol.can_edit and not editor.text.disabled
    carol.close()


def test_the_view_module_leaves_bqplot_and_postgresql_for_later(rt: RunTable) -> None:
    # bqplot (the Plot panel) and SQLAlchemy's PostgreSQL dialect (upserts on PostgreSQL
    # only) are not needed by the first screen of a fresh kernel (here: rt's database)
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from shiftdesk.identity import Identity\n"
        "from shiftdesk.runtable import RunTable\n"
        "from shiftdesk_widgets.runtable.view import RunTableView\n"
        "view = RunTableView(RunTable.open('demo', identity=Identity('alice')))\n"
        "assert view.grid.page_runs == [5, 4, 3, 2, 1], view.grid.page_runs\n"
        "names = ('bqplot', 'sqlalchemy.dialects.postgresql')\n"
        "print(sorted(m for m in names if m in sys.modules))\n"
        "view.plot_button.value = True\n"
        "from shiftdesk_widgets.runtable import PlotPanel\n"
        "print(type(view.plots) is PlotPanel, 'bqplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True", "True"]


def test_many_changed_runs_read_the_table_once(rt: RunTable, rtview: RunTableView) -> None:
    import shiftdesk_widgets.runtable.view as module

    for run in range(6, 10):
        rt.add_run(run, process=False)
    rt.submit(3, {"xgm": 1.0})
    original = module.RELOAD_ABOVE
    module.RELOAD_ABOVE = 2
    try:
        rebuilds = rtview.grid.rebuilds
        redrawn = rtview.apply_changes(rt.changes(rtview.seq))
    finally:
        module.RELOAD_ABOVE = original
    assert redrawn == rtview.grid.page_runs == [9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert rtview.grid.rebuilds == rebuilds  # the same row widgets
    assert text(rtview.grid.row_html(3)).split()[-2:] == ["1", "1.5"]  # xgm, motor of run 3
    assert "start time [UTC]" in rtview.grid.header_html()
