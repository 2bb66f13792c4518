"""Processing panel: the Reprocess dialog (runs, variables), Cancel, the log view."""

from __future__ import annotations

from typing import Any

import pytest

from shiftdesk_widgets.runtable.processing import (
    ProcessingPanel,
    ReprocessDialog,
    format_runs,
    parse_runs,
)

VARIABLES = [("XGM energy", "xgm_energy"), ("XGM trend", "xgm_trend"), ("motor x", "motor_x")]


class Core:
    def __init__(self) -> None:
        self.processed: list[tuple[Any, Any]] = []
        self.cancelled: list[list[int]] = []
        self.logs = {3: "run 3: xgm_energy 0.02 s\n"}
        self.refuse: Exception | None = None
        self.selection: list[int] = []

    def process(self, runs: Any, variables: Any) -> list[str]:
        if self.refuse is not None:
            raise self.refuse
        self.processed.append((runs, variables))
        return [f"job-{r}" for r in (runs if runs != "all" else [1, 2, 3])]

    def cancel(self, runs: list[int]) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.cancelled.append(runs)

    def log(self, run: int) -> str:
        if run not in self.logs:
            raise KeyError(f"run {run} has no processing job yet")
        return self.logs[run]


@pytest.fixture
def core() -> Core:
    return Core()


@pytest.fixture
def panel(core: Core) -> ProcessingPanel:
    return ProcessingPanel(core.process, core.cancel, core.log, VARIABLES,
                           lambda: list(core.selection))  # fmt: skip


def test_runs_as_text() -> None:
    assert parse_runs("1-3, 8;10 – 11") == [1, 2, 3, 8, 10, 11]
    assert parse_runs(" ALL ") == "all"
    for bad, message in [("", "no runs given"), ("1-x", "not a run or a range"),
                         ("5-1", "range backwards"), ("1-999999", "range too long")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_runs(bad)
    assert format_runs([5, 1, 2, 3, 7, 8]) == "1-3, 5, 7-8"


def test_reprocess_dialog(panel: ProcessingPanel, core: Core) -> None:
    dialog = panel.dialog
    assert dialog.layout.display == "none"
    core.selection = [4, 5, 6, 9]
    panel.reprocess_button.click()
    assert dialog.layout.display is None and dialog.runs.value == "4-6, 9"
    dialog.search.value = "xgm"
    assert [n for _l, n in dialog.variables.options] == ["xgm_energy", "xgm_trend"]
    dialog.variables.value = ("xgm_trend",)
    dialog.search.value = "motor"
    dialog.variables.value = ("motor_x",)
    dialog.search.value = ""
    assert set(dialog.variables.value) == {"xgm_trend", "motor_x"}  # kept across searches
    assert "2 chosen" in dialog.chosen_label.value
    dialog.start_button.click()
    assert core.processed == [([4, 5, 6, 9], ["motor_x", "xgm_trend"])]
    assert "runs 4-6, 9 queued (4 jobs)" in dialog.message.value
    dialog.variables.value = ()
    dialog.runs.value = "all"
    dialog.start_button.click()
    assert core.processed[-1] == ("all", None) and "all runs queued" in dialog.message.value
    dialog.runs.value = "3-"
    dialog.start_button.click()
    assert "not a run or a range" in dialog.message.value and len(core.processed) == 2
    core.refuse = PermissionError("viewer may not process demo")
    dialog.runs.value = "1"
    dialog.start_button.click()
    assert "viewer may not process demo" in dialog.message.value
    panel.reprocess_button.click()
    assert dialog.layout.display == "none"


def test_variables_change(core: Core) -> None:
    dialog = ReprocessDialog(core.process, VARIABLES)
    dialog.variables.value = ("xgm_trend", "motor_x")
    dialog.set_variables(VARIABLES[:2])
    assert dialog.chosen == {"xgm_trend"} and dialog.variables.value == ("xgm_trend",)


def test_cancel(panel: ProcessingPanel, core: Core) -> None:
    panel.cancel_button.click()
    assert "select the runs" in panel.message.value and core.cancelled == []
    core.selection = [7, 8]
    panel.cancel_button.click()
    assert core.cancelled == [[7, 8]] and "cancel asked for runs 7-8" in panel.message.value
    core.refuse = PermissionError("not yours")
    panel.cancel_button.click()
    assert "not cancelled: not yours" in panel.message.value


def test_log_view(panel: ProcessingPanel, core: Core) -> None:
    panel.log_button.click()
    assert "select a run" in panel.message.value
    core.selection = [3]
    panel.log_button.click()
    log = panel.log_view
    assert log.run == 3 and log.run_input.value == "3"
    assert "<pre>run 3: xgm_energy 0.02 s" in log.text.value
    assert not log.ticker.running  # no event loop in a plain test: tick by hand
    core.logs[3] += "run 3: done\n"
    assert log.tick()
    assert "run 3: done" in log.text.value
    log.run_input.value = "5"
    assert "run 5 has no processing job yet" in log.text.value
    log.run_input.value = "five"
    assert "not a run number" in log.text.value
    log.follow.value = False
    assert not log.tick()
    panel.close()


def test_the_log_follows_on_the_event_loop(panel: ProcessingPanel, core: Core) -> None:
    import asyncio

    async def follow() -> None:
        panel.log_view.ticker.interval = 0.01
        panel.log_view.show(3)
        assert panel.log_view.ticker.running
        core.logs[3] = "later\n"
        for _ in range(100):
            await asyncio.sleep(0.01)
            if "later" in panel.log_view.text.value:
                break
        assert "later" in panel.log_view.text.value
        panel.log_view.follow.value = False
        assert not panel.log_view.ticker.running
        panel.close()

    asyncio.run(follow())


def test_read_only(core: Core) -> None:
    panel = ProcessingPanel(core.process, core.cancel, core.log, VARIABLES, lambda: [3],
                            can_edit=False)  # fmt: skip
    assert panel.reprocess_button.disabled and panel.cancel_button.disabled
    assert not panel.log_button.disabled


def test_the_dialog_and_the_log_are_built_when_first_asked_for(core: Core) -> None:
    # hidden at first: the panel's first screen is its row of buttons only
    panel = ProcessingPanel(core.process, core.cancel, core.log, VARIABLES, lambda: [3])
    assert panel._dialog is None and panel._log_view is None and len(panel.children) == 1
    panel.set_variables(VARIABLES[1:])  # the context file changed before the dialog opened
    panel.set_can_edit(False)
    panel.set_can_edit(True)
    panel.reprocess_button.click()
    assert panel.children == (panel.children[0], panel.dialog)
    assert panel.dialog.layout.display is None and panel.dialog.runs.value == "3"
    assert [n for _l, n in panel.dialog.all_variables] == ["xgm_trend", "motor_x"]
    panel.log_button.click()
    assert panel.children[1:] == (panel.dialog, panel.log_view)
    assert panel.log_view.layout.display is None and panel.log_view.run == 3
    assert panel.log_button.description == "Hide log"
    panel.log_button.click()  # again for the same run: hidden
    assert panel.log_view.layout.display == "none"
    panel.close()
    unbuilt = ProcessingPanel(core.process, core.cancel, core.log, VARIABLES, list)
    unbuilt.close()  # nothing built: nothing to stop
    assert unbuilt._log_view is None
