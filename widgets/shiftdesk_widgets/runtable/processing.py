"""Processing controls: reprocess runs (choose variables), cancel, follow a run's log."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as w

from shiftdesk_widgets._async import Ticker
from shiftdesk_widgets.runtable._calls import Caller, run_now
from shiftdesk_widgets.runtable.grid import error_text

ProcessCallback = Callable[[Any, "list[str] | None"], Any]
CancelCallback = Callable[[list[int]], Any]
LogCallback = Callable[[int], str]

_RANGE = re.compile(r"^\s*(\d+)\s*(?:[-–]\s*(\d+))?\s*$")


def parse_runs(text: str, *, limit: int = 100_000) -> list[int] | str:
    """Runs written as ``"1-5, 8"`` (or ``"all"``).

    Raises
    ------
    ValueError
        Text that is not run numbers and ranges; the message shows the part.
    """
    text = text.strip()
    if text.lower() == "all":
        return "all"
    if not text:
        raise ValueError("no runs given: type run numbers like 1-5, 8 or all")
    runs: set[int] = set()
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(f"not a run or a range of runs: {part.strip()!r}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f"range backwards: {part.strip()!r}")
        if last - first >= limit:
            raise ValueError(f"range too long: {part.strip()!r}")
        runs.update(range(first, last + 1))
    return sorted(runs)


def format_runs(runs: Iterable[int]) -> str:
    """Runs as ranges: ``[1, 2, 3, 5]`` → ``"1-3, 5"``."""
    ordered = sorted(set(runs))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts)


class ReprocessDialog(w.VBox):
    """Runs to reprocess and, optionally, which variables (searchable multi-select).

    Parameters
    ----------
    process : callable
        ``process(runs, variables)``: ``runs`` is a list or ``"all"``, ``variables`` a
        list of names or None for all.
    variables : sequence of (label, name)
        The variables to choose from.
    caller : callable, optional
        Runs ``process`` (default: at once; the dashboard runs it off the kernel thread).
    """

    def __init__(
        self,
        process: ProcessCallback,
        variables: Sequence[tuple[str, str]],
        *,
        caller: Caller = run_now,
    ) -> None:
        self.process_call = process
        self.caller = caller
        self.all_variables = list(variables)
        self.chosen: set[str] = set()
        self._loading = False
        self.runs = w.Text(description="runs", placeholder="1-5, 8 or all",
                           layout=w.Layout(width="320px"),
                           style={"description_width": "40px"})  # fmt: skip
        self.runs.add_class("sd-rt-reprocess-runs")
        self.search = w.Text(placeholder="find variables", layout=w.Layout(width="320px"))
        self.search.add_class("sd-rt-variable-search")
        self.search.observe(lambda _c: self._fill(), "value")
        self.variables = w.SelectMultiple(layout=w.Layout(width="320px", height="160px"))
        self.variables.add_class("sd-rt-reprocess-variables")
        self.variables.observe(self._picked, "value")
        self.chosen_label = w.HTML()
        self.start_button = w.Button(description="Reprocess", icon="play", button_style="warning")
        self.start_button.add_class("sd-rt-reprocess-start")
        self.start_button.on_click(lambda _b: self.start())
        self.message = w.HTML()
        self.message.add_class("sd-rt-reprocess-message")
        super().__init__(
            [
                w.HTML("<b>Reprocess</b> <small>(no variable chosen: all of them)</small>"),
                self.runs,
                self.search,
                self.variables,
                self.chosen_label,
                self.start_button,
                self.message,
            ]
        )
        self.add_class("sd-rt-reprocess")
        self.add_class("sd-rt-panel")
        self._fill()

    def set_variables(self, variables: Sequence[tuple[str, str]]) -> None:
        """New variable list (the context file changed)."""
        self.all_variables = list(variables)
        names = {n for _l, n in self.all_variables}
        self.chosen &= names
        self._fill()

    def _fill(self) -> None:
        needle = self.search.value.strip().lower()
        options = [(label, name) for label, name in self.all_variables
                   if not needle or needle in label.lower() or needle in name.lower()]  # fmt: skip
        self._loading = True
        try:
            self.variables.options = options
            self.variables.value = tuple(n for _l, n in options if n in self.chosen)
        finally:
            self._loading = False
        self._show_chosen()

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        visible = {n for _l, n in self.variables.options}
        self.chosen = (self.chosen - visible) | set(change["new"])
        self._show_chosen()

    def _show_chosen(self) -> None:
        if not self.chosen:
            self.chosen_label.value = "<small>all variables</small>"
        else:
            names = ", ".join(sorted(self.chosen))
            self.chosen_label.value = (
                f"<small>{len(self.chosen)} chosen: {html.escape(names)}</small>"
            )

    def _say(self, color: str, text: str) -> None:
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def start(self) -> None:
        """Ask the core to reprocess; the outcome is shown under the button."""
        try:
            runs = parse_runs(self.runs.value)
        except ValueError as exc:
            self._say("#b00020", error_text(exc))
            return
        variables = sorted(self.chosen) or None
        what = "all runs" if isinstance(runs, str) else f"runs {format_runs(runs)}"

        def done(result: Any) -> None:
            self.start_button.disabled = False
            count = len(result) if isinstance(result, (list, tuple)) else None
            jobs = f" ({count} jobs)" if count is not None else ""
            self._say("#1b5e20", f"{what} queued{jobs}")

        def failed(exc: BaseException) -> None:  # the core's refusal
            self.start_button.disabled = False
            self._say("#b00020", error_text(exc))

        self.start_button.disabled = True
        self._say("#0b5394", f"queueing {what}…")
        self.caller("reprocess", lambda: self.process_call(runs, variables), done, failed)


class LogView(w.VBox):
    """A run's processing log, refreshed every ``interval`` seconds while shown.

    Parameters
    ----------
    log : callable
        ``log(run) -> str``.
    interval : float
        Seconds between refreshes (a Ticker on the kernel's loop).
    """

    def __init__(self, log: LogCallback, interval: float = 1.0) -> None:
        self.log_call = log
        self.run: int | None = None
        self.run_input = w.Text(description="log of run", continuous_update=False,
                                layout=w.Layout(width="200px"),
                                style={"description_width": "70px"})  # fmt: skip
        self.run_input.add_class("sd-rt-log-run")
        self.run_input.observe(lambda _c: self._run_typed(), "value")
        self.ticker = Ticker(self.tick, interval)
        self.follow = w.Checkbox(value=True, description="auto-refresh", indent=False)
        self.follow.observe(lambda c: self.start() if c["new"] else self.ticker.stop(), "value")
        self.text = w.HTML()
        self.text.add_class("sd-rt-log")
        super().__init__([w.HBox([self.run_input, self.follow]), self.text])

    def _run_typed(self) -> None:
        text = self.run_input.value.strip()
        if not text:
            return
        try:
            self.show(int(text))
        except ValueError:
            self.text.value = (
                f"<span style='color:#b00020'>not a run number: {html.escape(text)}</span>"
            )

    def show(self, run: int) -> None:
        """Show (and follow) run ``run``'s log."""
        self.run = run
        if self.run_input.value != str(run):
            self.run_input.value = str(run)
        self.tick()
        if self.follow.value:
            self.start()

    def start(self) -> None:
        """Refresh on the kernel's loop (by hand with :meth:`tick` when none runs)."""
        if self.run is not None:
            self.ticker.start()

    def tick(self) -> bool:
        """Read the log once; True keeps the ticker going."""
        if self.run is None:
            return False
        try:
            text = self.log_call(self.run)
        except Exception as exc:  # no log yet, or no job for this run
            shown = f"<span style='color:#a15c00'>{html.escape(error_text(exc))}</span>"
        else:
            shown = f"<pre>{html.escape(text or '(empty log)')}</pre>"
        if self.text.value != shown:
            self.text.value = shown
        return bool(self.follow.value)

    def close(self) -> None:
        """Stop refreshing and close."""
        self.ticker.stop()
        super().close()


class ProcessingPanel(w.VBox):
    """Reprocess, Cancel and the log of a run's job, acting on the grid's selection.

    Parameters
    ----------
    process, cancel, log : callable
        ``process(runs, variables)``, ``cancel(runs)``, ``log(run) -> str``.
    caller : callable, optional
        Runs ``process`` and ``cancel`` (default: at once).
    variables : sequence of (label, name)
        Variables offered for reprocessing.
    selected : callable
        Returns the runs selected in the table (pre-filled in the dialog, cancelled).
    can_edit : bool
        False disables Reprocess and Cancel (the core refuses too).
    """

    def __init__(
        self,
        process: ProcessCallback,
        cancel: CancelCallback,
        log: LogCallback,
        variables: Sequence[tuple[str, str]],
        selected: Callable[[], list[int]],
        *,
        can_edit: bool = True,
        interval: float = 1.0,
        caller: Caller = run_now,
    ) -> None:
        self.cancel_call = cancel
        self.selected = selected
        self.caller = caller
        # the dialog and the log are hidden until asked for: built then (or when their
        # attribute is read), ~35 widget models the first screen does not show
        self._process_call = process
        self._variables = list(variables)
        self._log_call = log
        self._interval = interval
        self._dialog: ReprocessDialog | None = None
        self._log_view: LogView | None = None
        # the buttons share one layout and one style (a model fewer each for the browser)
        look = {"layout": w.Layout(), "style": w.ButtonStyle()}
        self.reprocess_button = w.Button(description="Reprocess…", icon="refresh", **look)
        self.reprocess_button.add_class("sd-rt-reprocess-open")
        self.reprocess_button.on_click(lambda _b: self.toggle_dialog())
        self.cancel_button = w.Button(description="Cancel processing", icon="stop", **look)
        self.cancel_button.add_class("sd-rt-cancel")
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.log_button = w.Button(description="Show log", icon="file-text-o", **look)
        self.log_button.add_class("sd-rt-show-log")
        self.log_button.on_click(lambda _b: self.show_log())
        self.message = w.HTML()
        self.message.add_class("sd-rt-processing-message")
        self._bar = w.HBox([self.reprocess_button, self.cancel_button, self.log_button,
                            self.message])  # fmt: skip
        super().__init__([self._bar])
        self.add_class("sd-rt-processing")
        self.set_can_edit(can_edit)

    def _place(self) -> None:
        parts = [p for p in (self._dialog, self._log_view) if p is not None]
        self.children = [self._bar, *parts]

    @property
    def dialog(self) -> ReprocessDialog:
        """The Reprocess dialog (hidden until opened), built now if it was not."""
        if self._dialog is None:
            dialog = self._dialog = ReprocessDialog(
                self._process_call, self._variables, caller=self.caller
            )
            dialog.layout.display = "none"
            self._place()
        return self._dialog

    @property
    def log_view(self) -> LogView:
        """A run's log (hidden until shown), built now if it was not."""
        if self._log_view is None:
            view = self._log_view = LogView(self._log_call, self._interval)
            view.layout.display = "none"
            self._place()
        return self._log_view

    def set_variables(self, variables: Sequence[tuple[str, str]]) -> None:
        """New variables to offer (the context file changed)."""
        self._variables = list(variables)
        if self._dialog is not None:  # (built later, it offers them then)
            self._dialog.set_variables(variables)

    def set_can_edit(self, can_edit: bool) -> None:
        """Reprocess and Cancel on or off (the user's rights changed; the core checks)."""
        for button in (self.reprocess_button, self.cancel_button):
            button.disabled = not can_edit
            button.tooltip = "" if can_edit else "read-only: you may not process this table"
        if not can_edit and self._dialog is not None:
            self._dialog.layout.display = "none"

    def toggle_dialog(self) -> None:
        """Open (pre-filled with the selected runs) or close the Reprocess dialog."""
        if self.dialog.layout.display == "none":
            runs = self.selected()
            if runs and not self.dialog.runs.value.strip():
                self.dialog.runs.value = format_runs(runs)
            self.dialog.layout.display = None
        else:
            self.dialog.layout.display = "none"

    def cancel(self) -> None:
        """Cancel the processing of the selected runs."""
        runs = self.selected()
        if not runs:
            self._say("#a15c00", "select the runs whose processing to cancel")
            return
        self.caller(
            "cancel",
            lambda: self.cancel_call(runs),
            lambda _r: self._say("#1b5e20", f"cancel asked for runs {format_runs(runs)}"),
            lambda exc: self._say("#b00020", f"not cancelled: {error_text(exc)}"),
        )

    def show_log(self) -> None:
        """Show the log of the (first) selected run; again for the same run hides it."""
        runs = self.selected()
        shown = self._log_view is not None and self._log_view.layout.display != "none"
        if shown and (not runs or runs[0] == self.log_view.run):
            self.log_view.layout.display = "none"
            self.log_view.ticker.stop()
            self.log_button.description = "Show log"
            return
        if not runs:
            self._say("#a15c00", "select a run to see its log")
            return
        self.log_view.layout.display = None
        self.log_button.description = "Hide log"
        self.log_view.show(runs[0])

    def _say(self, color: str, text: str) -> None:
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def close(self) -> None:
        """Stop the log's refresh and close."""
        if self._log_view is not None:
            self._log_view.close()
        super().close()
