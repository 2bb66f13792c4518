"""Run information: experiment, run number (editable before Start), title, class, times."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from shiftdesk.daq.runs import RunClass, duration_string
from shiftdesk.daq.snapshot import Snapshot, utc
from shiftdesk_widgets.daq._common import badge, classed

#: The class a new run starts with.
DEFAULT_CLASS = RunClass.TESTING.value


class RunInfo(w.VBox):
    """The run header of the dashboard.

    Before a start the fields describe the next run (its number is checked unused by the
    core when set); while a run is open they show it, and a title or class typed then is
    written to the run sheet. When a run stops, title and class are cleared for the next
    run, unless "Same as previous" is ticked: then the next run gets the last run's.

    Parameters
    ----------
    on_number : callable
        ``on_number(n)`` when the operator types another next-run number.
    on_header : callable
        ``on_header(title, run_class)`` when title or class change while a run is open.
    on_edit_sheet : callable
        Opens the run sheet editor on the current (or last) run.
    last_run : callable, optional
        ``last_run()`` is the newest run's ``(title, run_class)``, or None before the
        first run (for "Same as previous" ticked while no run is open).
    """

    def __init__(
        self,
        on_number: Callable[[int], None],
        on_header: Callable[[str, str], None],
        on_edit_sheet: Callable[[], None],
        last_run: Callable[[], tuple[str, str] | None] | None = None,
    ) -> None:
        self._on_number = on_number
        self._on_header = on_header
        self._last_run = last_run
        self._updating = False
        self._open: int | None = None
        self.experiment = classed(w.HTML(), "sd-daq-experiment")
        self.state = classed(w.HTML(), "sd-daq-run-state")
        self.number = classed(
            w.IntText(description="run", tooltip="the next run's number (any unused number)",
                      layout=w.Layout(width="170px")),
            "sd-daq-run-number",
        )  # fmt: skip
        self.number.observe(self._number_changed, "value")
        self.title = classed(
            w.Text(description="title", placeholder="what this run is for",
                   tooltip="the run's title in the run sheet",
                   continuous_update=False, layout=w.Layout(width="360px")),
            "sd-daq-title",
        )  # fmt: skip
        self.run_class = classed(
            w.Dropdown(description="class", options=[c.value for c in RunClass],
                       value=DEFAULT_CLASS, tooltip="what kind of run this is",
                       layout=w.Layout(width="200px")),
            "sd-daq-class",
        )  # fmt: skip
        self.same = classed(
            w.Checkbox(description="Same as previous", indent=False, value=False,
                       tooltip="the next run gets the last run's title and class",
                       layout=w.Layout(width="auto")),
            "sd-daq-same-as-previous",
        )  # fmt: skip
        self.same.observe(self._same_changed, "value")
        self.title.observe(self._header_changed, "value")
        self.run_class.observe(self._header_changed, "value")
        self.started = classed(w.HTML(), "sd-daq-started")
        self.duration = classed(w.HTML(), "sd-daq-duration")
        self.edit_sheet = classed(
            w.Button(description="Edit run sheet", icon="pencil",
                     tooltip="fill in this run's measurements in the run sheet"),
            "sd-daq-edit-sheet",
        )  # fmt: skip
        self.edit_sheet.on_click(lambda _b: on_edit_sheet())
        super().__init__(
            [
                w.HBox([self.experiment, self.state]),
                w.HBox(
                    [self.number, self.title, self.run_class, self.same, self.edit_sheet],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
                w.HBox([self.started, self.duration], layout=w.Layout(grid_gap="0.3em")),
            ]
        )
        classed(self, "sd-daq-run-info")

    def _number_changed(self, change: dict[str, object]) -> None:
        if not self._updating and self._open is None:
            value = change["new"]
            assert isinstance(value, int)
            self._on_number(value)

    def _same_changed(self, change: dict[str, object]) -> None:
        """Ticked while no run is open: fill in the last run's title and class now."""
        if self._updating or not change["new"] or self._open is not None:
            return
        last = self._last_run() if self._last_run is not None else None
        if last is not None:
            self._show_header(*last)

    def _show_header(self, title: str, run_class: str) -> None:
        self._updating = True
        try:
            self.title.value = title
            if run_class in self.run_class.options:
                self.run_class.value = run_class
        finally:
            self._updating = False

    def _header_changed(self, _change: object) -> None:
        if not self._updating and self._open is not None:
            self._on_header(self.title.value, self.run_class.value)

    def update(self, snap: Snapshot, can_operate: bool, pending: bool) -> None:
        """Show the snapshot; ``pending`` keeps a number the operator just typed."""
        closed = self._open is not None and snap.run_number is None
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
                    f"<b>Run {snap.run_number} running</b> since {start:%Y-%m-%d %H:%M:%S} UTC"
                    if start
                    else f"<b>Run {snap.run_number} running</b>"
                )
                self.duration.value = f"· duration <b>{duration_string(snap.run_duration_s)}</b>"
                self.duration.layout.display = ""
            else:
                if not pending:
                    self.number.value = snap.next_run_number
                if closed and not self.same.value:
                    # the next run is another run: its title and class are chosen anew
                    self.title.value = ""
                    self.run_class.value = DEFAULT_CLASS
                self.started.value = f"No run is being taken · next run {snap.next_run_number}"
                self.duration.value = ""
                self.duration.layout.display = "none"
            self.number.disabled = not can_operate or snap.run_number is not None
            self.title.disabled = not can_operate
            self.run_class.disabled = not can_operate
        finally:
            self._updating = False
