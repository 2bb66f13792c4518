"""RunTableView with a context file: processing state per row, cells filling in, the
Reprocess dialog, Cancel, the log, and the context editor against the core's validation
(real jobs on the local backend, a real SQLite database)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from shiftdesk.runtable import RunTable
from shiftdesk.runtable.demo import CONTEXT, write_run
from shiftdesk_widgets.runtable.view import RunTableView

RUNS = (1, 2, 3)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def finished(view: RunTableView) -> bool:
    return all(view.grid.states.get(r) and view.grid.states[r].status == "done" for r in RUNS)


@pytest.fixture
def rtview(tmp_path: Path) -> RunTableView:
    raw = tmp_path / "raw"
    for run in RUNS:
        write_run(raw, run)
    rt = RunTable.create("beam", data=str(raw / "r{run:04d}"), context=CONTEXT,
                         title="Processing test")  # fmt: skip
    view = RunTableView(rt, interval=0.2)
    for run in RUNS:
        rt.add_run(run)
    return view


@pytest.mark.slow
def test_runs_are_processed_and_their_rows_fill(rtview: RunTableView) -> None:
    grid = rtview.grid
    rtview.tick()
    assert set(grid.page_runs) == set(RUNS)
    assert all(grid.states[r].status in ("queued", "running", "done") for r in RUNS)
    rtview.wait_for(finished, timeout=120)
    row = grid.row_html(3)
    assert "✓ done" in text(row) and "<img class='sd-rt-thumb'" in row
    energy = rtview.table.table().at[3, "xgm_energy"]
    assert f"{energy:.4g}" in text(row)
    assert "skipped: cryostat off" not in row  # run 3's cryostat was on
    assert "XGM energy [µJ]" in grid.header_html()
    assert "Mean pulse energy at the XGM." in grid.header_html()  # the docstring
    # the full data of a selected run, read through the core
    grid.select([2])
    rtview.plots.data_choice.value = "detector_image"
    rtview.plots.data_button.click()
    assert rtview.plots.data_figure.marks and rtview.plots.data_message.value == ""


@pytest.mark.slow
def test_reprocess_cancel_and_log(rtview: RunTableView) -> None:
    rtview.wait_for(finished, timeout=120)
    panel = rtview.processing
    rtview.grid.select([2, 3])
    panel.reprocess_button.click()
    assert panel.dialog.runs.value == "2-3"
    panel.dialog.search.value = "motor"
    panel.dialog.variables.value = ("motor_x",)
    panel.dialog.start_button.click()
    assert "runs 2-3 queued (2 jobs)" in text(panel.dialog.message.value)
    rtview.wait_for(lambda v: all(v.grid.states[r].status == "done" for r in (2, 3))
                    and "motor_x" in v.table.log(2), timeout=120)  # fmt: skip
    rtview.grid.select([2])
    panel.log_button.click()
    assert "Computed motor_x" in text(panel.log_view.text.value)
    panel.cancel_button.click()  # nothing running: the core says which runs it stopped
    assert "cancel asked for runs 2" in text(panel.message.value)


@pytest.mark.slow
def test_the_context_editor_checks_with_the_core(rtview: RunTableView) -> None:
    editor = rtview.editor
    assert "def xgm_energy" in editor.text.value
    editor.text.value = editor.text.value + "\n\n@Variable\ndef broken(run):\n    return (\n"
    assert not editor.save()
    assert re.search(r"line \d+", text(editor.problem_list.value)), editor.problem_list.value
    assert "error" in text(editor.problem_list.value)
    assert "not saved" in text(editor.status.value)
    assert rtview.table.refresh().context_text == editor.saved_text  # nothing stored
    editor.text.value = editor.saved_text + (
        '\n\n@Variable(title="Motor y", units="mm")\ndef motor_y(run):\n    return 2.0\n'
    )
    assert editor.save(), editor.status.value
    assert "motor_y" in rtview.grid.columns  # the new variable is a column at once
    assert "motor_y" in [n for _l, n in rtview.processing.dialog.all_variables]


@pytest.mark.slow
def test_slow_calls_leave_the_kernel_free(tmp_path: Path) -> None:
    """With an event loop (a kernel), Validate, Reprocess and Export run off its thread."""
    import asyncio

    raw = tmp_path / "raw"
    write_run(raw, 1)
    rt = RunTable.create("loop", data=str(raw / "r{run:04d}"), context=CONTEXT)

    async def drive() -> None:
        view = RunTableView(rt, interval=0.05)
        assert view.editor.caller is view.background
        editor = view.editor
        editor.text.value += "\n\n@Variable\ndef broken(run):\n    return (\n"
        editor.validate_button.click()
        assert editor.working and editor.validate_button.disabled  # returned at once
        assert "validating" in text(editor.status.value)
        for _ in range(600):
            await asyncio.sleep(0.05)
            if not editor.working:
                break
        assert not editor.working and re.search(r"line \d+", text(editor.problem_list.value))
        view.processing.dialog.runs.value = "1"
        view.processing.dialog.start_button.click()
        assert "queueing runs 1" in text(view.processing.dialog.message.value)
        path = view.export.export("Markdown")
        assert path is None  # written in the background: the link comes later
        for _ in range(600):
            await asyncio.sleep(0.05)
            if "queued" in view.processing.dialog.message.value and "⬇" in view.export.link.value:
                break
        assert "runs 1 queued (1 jobs)" in text(view.processing.dialog.message.value)
        assert "⬇ loop.md" in view.export.link.value
        view.close()
        rt.cancel()

    asyncio.run(drive())


@pytest.mark.slow
def test_a_context_saved_elsewhere_reaches_the_editor(rtview: RunTableView) -> None:
    other = RunTable.open("beam")
    text_now = other.context_text + "\n\n@Variable\ndef constant(run):\n    return 1.0\n"
    other.save_context(text_now)
    rtview.tick()
    assert rtview.editor.text.value == text_now and rtview.editor.saved_text == text_now
    assert "constant" in rtview.grid.columns
    rtview.editor.text.value = text_now + "# mine\n"  # edits of one's own are kept
    other.save_context(other.context_text + "\n# theirs\n")
    rtview.tick()
    assert rtview.editor.text.value.endswith("# mine\n")
    assert "changed elsewhere" in text(rtview.editor.status.value)
