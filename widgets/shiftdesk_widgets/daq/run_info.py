"""Run information: experiment, run number (editable before Start), title, class, times."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from shiftdesk.daq.runs import RunClass, duration_string
from shiftdesk.daq.snapshot import Snapshot, utc
from shiftdesk_widgets.daq._common import badge, classed


class RunInfo(w.VBox):
    """The run header of the dashboard.

    Before a start the fields describe the next run (its number is checked unused by the
    core when set); while a run is open they show it, and a title or class typed then is
    written to the run sheet.

    Parameters
    ----------
    on_number : callable
        ``on_number(n)`` when the operator types another next-run number.
    on_header : callable
        ``on_header(title, run_class)`` when title or class change while a run is open.
    on_edit_sheet : callable
        Opens the run sheet editor on the current (or last) run.
    """

    def __init__(
        self,
        on_number: Callable[[int], None],
        on_header: Callable[[str, str], None],
        on_edit_sheet: Callable[[], None],
    ) -> None:
        self._on_number = on_number
        self._on_header = on_header
        self._updating = False
        self._open: int | None = None
        self.experiment = classed(w.HTML(), "sd-daq-experiment")
        self.state = classed(w.HTML(), "sd-daq-run-state")
        self.number = classed(
            w.IntText(description="run", layout=w.Layout(width="170px")), "sd-daq-run-number"
        )
        self.number.observe(self._number_changed, "value")
        self.title = classed(
            w.Text(description="title", placeholder="what this run is for",
                   continuous_update=False, layout=w.Layout(width="360px")),
            "sd-daq-title",
        )  # fmt: skip
        self.run_class = classed(
            w.Dropdown(description="class", options=[c.value for c in RunClass],
                       value=RunClass.TESTING.value, layout=w.Layout(width="200px")),
            "sd-daq-class",
        )  # fmt: skip
        self.title.observe(self._header_changed, "value")
        self.run_class.observe(self._header_changed, "value")
        self.started = classed(w.HTML(), "sd-daq-started")
        self.duration = classed(w.HTML(), "sd-daq-duration")
        self.edit_sheet = classed(
            w.Button(description="Edit run sheet", icon="pencil"), "sd-daq-edit-sheet"
        )
        self.edit_sheet.on_click(lambda _b: on_edit_sheet())
        super().__init__(
            [
                w.HBox([self.experiment, self.state]),
                w.HBox([self.number, self.title, self.run_class, self.edit_sheet]),
                w.HBox([self.started, self.duration]),
            ]
        )
        classed(self, "sd-daq-run-info")

    def _number_changed(self, change: dict[str, object]) -> None:
        if not self._updating and self._open is None:
            value = change["new"]
            assert isinstance(value, int)
            self._on_number(value)

    def _header_changed(self, _change: object) -> None:
        if not self._updating and self._open is not None:
            self._on_header(self.title.value, self.run_class.value)

    def update(self, snap: Snapshot, can_operate: bool, pending: bool) -> None:
        """Show the snapshot; ``pending`` keeps a number the operator just typed."""
        self._updating = True
        try:
            self._open = snap.run_number
            self.experiment.value = f"<b>Experiment {html.escape(snap.experiment)}</b> · system "
            self.state.value = badge(snap.overall) + (
                "" if snap.poller_alive else " " + badge("Stale: no poller is running")
            )
            if snap.run_number is not None:
                self.number.value = snap.run_number
                if self.title.value != snap.run_title:
                    self.title.value = snap.run_title
                if snap.run_class in self.run_class.options:
                    self.run_class.value = snap.run_class
                start = utc(snap.run_started_at)
                self.started.value = (
                    f"<b>Run {snap.run_number} running</b> since {start:%Y-%m-%d %H:%M:%S} UTC · "
                    if start
                    else ""
                )
                self.duration.value = f"duration <b>{duration_string(snap.run_duration_s)}</b>"
            else:
                if not pending:
                    self.number.value = snap.next_run_number
                self.started.value = f"No run is being taken · next run {snap.next_run_number} · "
                self.duration.value = ""
            self.number.disabled = not can_operate or snap.run_number is not None
            self.title.disabled = not can_operate
            self.run_class.disabled = not can_operate
        finally:
            self._updating = False
