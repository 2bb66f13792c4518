"""The run sheet editor: typed observables per run, "same as previous", CSV, a plot.

The plot is on the page only while it can be seen (:meth:`RunSheetEditor.show_figure`;
the dashboard shows it while the run sheet's tab is open): bqplot lays a figure out in a
hidden tab at zero size, with negative widths the browser reports as errors.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
from bqplot import Axis, Figure, LinearScale, Lines, Scatter

from shiftdesk.daq.runs import Run, RunClass
from shiftdesk.daq.runsheet import Observable, ValueType
from shiftdesk.daq.system import DAQSystem
from shiftdesk.errors import ShiftdeskError
from shiftdesk_widgets._figures import FigureSlot
from shiftdesk_widgets.daq._common import classed, css_name, error_text, message_html

#: Runs shown in the sheet's table (the CSV has them all).
TABLE_ROWS = 50


#: Characters of a title or name shown in a picker (its box fits them at any width).
OPTION_TEXT = 40
#: Up to this many plotted runs, each gets a tick of its own.
MAX_RUN_TICKS = 12


def _shown(value: object) -> str:
    return "" if value is None else str(value)


def cut(text: str, most: int) -> str:
    """``text``, or its first ``most - 1`` characters and "…" (a picker's box fits it)."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def run_label(run: Run) -> str:
    """``run 4 — beam on target``: a long title is cut (whole in the title field)."""
    return f"run {run.number} — {cut(run.title or '(no title)', OPTION_TEXT)}"


def plural(n: int, word: str) -> str:
    """``1 run``, ``3 runs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def padded(values: Sequence[float], *, whole: bool = False) -> tuple[float | None, float | None]:
    """A plot range around ``values`` with room at both ends (None, None: automatic).

    One value (or equal ones) gets a range around it instead of an empty one; whole
    numbers (runs) get half a step on each side, so the first and last sit off the axes.
    """
    if not values:
        return None, None
    low, high = float(min(values)), float(max(values))
    if whole:
        return low - 0.5, high + 0.5
    span = high - low
    pad = span * 0.08 if span > 0 else max(abs(low) * 0.1, 1.0)
    return low - pad, high + pad


class RunSheetEditor(w.VBox):
    """Edit a run's title, class and measurements; see and export the whole sheet.

    Values are typed as text and checked by the core against each observable's type
    (integer, float, string): a value that does not parse is refused with a message and
    nothing of the edit is written. Users who may not operate see it read-only.

    Parameters
    ----------
    system : DAQSystem
        The experiment whose run sheet this is.
    """

    def __init__(self, system: DAQSystem) -> None:
        self.system = system
        self.sheet = system.runsheet
        self.can_operate = system.can_operate
        self.observables: list[Observable] = []
        self.runs: list[Run] = []
        self.fields: dict[str, w.Text] = {}
        self.dirty = False
        self._loading = False
        self._known: set[int] = set()

        self.message = classed(w.HTML(), "sd-daq-sheet-message")
        self.run = classed(
            w.Dropdown(description="run", tooltip="the run to show and edit",
                       layout=w.Layout(width="480px")),
            "sd-daq-sheet-run",
        )  # fmt: skip
        self.run.observe(lambda _c: None if self._loading else self.load_run(), "value")
        self.title = classed(
            w.Text(description="title", tooltip="the run's title",
                   layout=w.Layout(width="420px")),
            "sd-daq-sheet-title",
        )  # fmt: skip
        self.run_class = classed(
            w.Dropdown(description="class", options=[c.value for c in RunClass],
                       tooltip="what kind of run it was", layout=w.Layout(width="220px")),
            "sd-daq-sheet-class",
        )  # fmt: skip
        for field in (self.title, self.run_class):
            field.observe(self._edited, "value")
        self.fields_box = classed(w.VBox(), "sd-daq-sheet-fields")
        self.save_button = classed(
            w.Button(
                description="Save",
                icon="save",
                button_style="primary",
                tooltip="write title, class and values of this run",
            ),
            "sd-daq-sheet-save",
        )
        self.save_button.on_click(lambda _b: self.save())
        self.previous_button = classed(
            w.Button(description="Same as previous", icon="copy",
                     tooltip="fill in the previous run's title, class and values"),
            "sd-daq-sheet-previous",
        )  # fmt: skip
        self.previous_button.on_click(lambda _b: self.same_as_previous())
        self.reload_button = classed(
            w.Button(icon="refresh", tooltip="reload the run sheet", layout=w.Layout(width="40px")),
            "sd-daq-sheet-reload",
        )
        self.reload_button.on_click(lambda _b: self.reload(reload_fields=True))

        # new observable
        self.new_name = classed(
            w.Text(placeholder="name", tooltip="the new column's name",
                   layout=w.Layout(width="180px")),
            "sd-daq-obs-name",
        )  # fmt: skip
        self.new_type = classed(
            w.Dropdown(options=[t.value for t in ValueType], tooltip="what its values are",
                       layout=w.Layout(width="110px")),
            "sd-daq-obs-type",
        )  # fmt: skip
        self.new_units = classed(
            w.Text(placeholder="units", tooltip="its units (optional)",
                   layout=w.Layout(width="100px")),
            "sd-daq-obs-units",
        )  # fmt: skip
        self.new_comment = w.Text(placeholder="comment", tooltip="what it is (optional)",
                                  layout=w.Layout(width="220px"))  # fmt: skip
        self.add_button = classed(
            w.Button(description="Add observable", icon="plus",
                     tooltip="add a column to the run sheet"),
            "sd-daq-obs-add",
        )  # fmt: skip
        self.add_button.on_click(lambda _b: self.add_observable())

        # the sheet, CSV and plot
        self.table = classed(w.HTML(), "sd-daq-sheet-table")
        self.csv = classed(w.HTML(), "sd-daq-sheet-csv")
        self.plot_choice = classed(
            w.Dropdown(description="plot", tooltip="the measurement to plot over runs",
                       layout=w.Layout(width="480px")),
            "sd-daq-plot-observable",
        )  # fmt: skip
        self.plot_choice.observe(lambda _c: self.draw(), "value")
        self.x = LinearScale()
        self.y = LinearScale()
        self.line = Lines(x=[], y=[], scales={"x": self.x, "y": self.y}, colors=["#1f77b4"])
        self.points = Scatter(
            x=[], y=[], scales={"x": self.x, "y": self.y}, colors=["#1f77b4"], default_size=40
        )
        # "~g": as many digits as a value has (8.5 stays 8.5), no trailing zeros
        self.y_axis = Axis(scale=self.y, side="left", label="value", tick_format="~g")
        self.x_axis = Axis(scale=self.x, label="run", tick_format="d")
        self.figure = classed(
            Figure(
                marks=[self.line, self.points],
                axes=[self.x_axis, self.y_axis],
                layout=w.Layout(height="260px", width="100%"),
                fig_margin={"top": 10, "bottom": 40, "left": 70, "right": 10},
            ),
            "sd-daq-sheet-plot",
        )
        self.plot_box = classed(FigureSlot(self.figure), "sd-daq-sheet-plot-box")
        super().__init__(
            [
                self.message,
                w.HBox([self.run, self.reload_button]),
                w.HBox([self.title, self.run_class]),
                self.fields_box,
                w.HBox([self.save_button, self.previous_button]),
                w.HBox(
                    [
                        self.new_name,
                        self.new_type,
                        self.new_units,
                        self.new_comment,
                        self.add_button,
                    ]
                ),
                self.table,
                self.csv,
                self.plot_choice,
                self.plot_box,
            ]
        )
        classed(self, "sd-daq-runsheet")
        self.reload(reload_fields=True)

    def show_figure(self, shown: bool) -> None:
        """Put the plot on the page (``shown``) or take it off (a hidden tab)."""
        self.plot_box.shown = shown

    # -- messages ------------------------------------------------------------------------
    def say(self, kind: str, text: str) -> None:
        """Show a message in the panel (errors stay next to the inputs they concern)."""
        self.message.value = message_html(kind, text)

    def _edited(self, _change: object) -> None:
        if not self._loading:
            self.dirty = True

    # -- loading -------------------------------------------------------------------------
    def reload(self, reload_fields: bool = False) -> None:
        """Re-read observables and runs; inputs are reloaded only when asked, when the
        columns changed, or when nothing typed would be lost."""
        try:
            observables = self.sheet.observables()
            runs = self.sheet.runs()
        except ShiftdeskError as exc:
            self.say("error", error_text(exc))
            return
        columns_changed = observables != self.observables
        self.observables, self.runs = observables, runs
        if columns_changed:
            self._build_fields()
        self._loading = True
        try:
            chosen = self.run.value
            options = [(run_label(r), r.number) for r in reversed(runs)]
            if list(self.run.options) != options:
                self.run.options = options
            numbers = [r.number for r in runs]
            newest = numbers[-1] if numbers else None
            appeared = newest is not None and newest not in self._known
            if chosen not in numbers or (appeared and not self.dirty):
                chosen = newest  # a new run started: follow it unless something is typed
            self._known = set(numbers)
            self.run.value = chosen
            numeric = [o.name for o in observables if o.value_type is not ValueType.STRING]
            plot_value = self.plot_choice.value if self.plot_choice.value in numeric else None
            self.plot_choice.options = [(cut(n, OPTION_TEXT), n) for n in numeric]
            self.plot_choice.value = plot_value or (numeric[0] if numeric else None)
        finally:
            self._loading = False
        if reload_fields or columns_changed or not self.dirty:
            self.load_run()
        self._show_table()
        self.draw()
        self._set_enabled()

    def _build_fields(self) -> None:
        fields: dict[str, w.Text] = {}
        for o in self.observables:
            units = f" [{o.units}]" if o.units else ""
            field = classed(
                w.Text(
                    placeholder=f"{o.value_type.value}{units}",
                    tooltip=o.comment or f"{o.name} ({o.value_type.value}{units})",
                    layout=w.Layout(width="250px"),
                ),
                "sd-daq-obs",
                f"sd-daq-obs-{css_name(o.name)}",
            )
            field.observe(self._edited, "value")
            fields[o.name] = field
        self.fields = fields
        # The name in an HTML cell of its own: a long one wraps where a label would cut it.
        self.fields_box.children = [
            w.HBox(
                [
                    w.HTML(
                        "<div style='text-align:right;line-height:1.25;overflow-wrap:anywhere'>"
                        f"{html.escape(o.name)}</div>",
                        layout=w.Layout(width="166px", margin="0 8px 0 0"),
                    ),
                    f,
                    w.HTML(f"<small>{html.escape(o.units)} {html.escape(o.comment)}</small>"),
                ],
                layout=w.Layout(align_items="center"),
            )
            for o, f in zip(self.observables, fields.values(), strict=True)
        ]

    def _run(self, number: int | None) -> Run | None:
        return next((r for r in self.runs if r.number == number), None)

    def load_run(self) -> None:
        """Fill the inputs with the selected run's stored values (discarding typed ones)."""
        run = self._run(self.run.value)
        self._loading = True
        try:
            self.title.value = run.title if run else ""
            if run and run.run_class in self.run_class.options:
                self.run_class.value = run.run_class
            for name, field in self.fields.items():
                field.value = _shown(run.values.get(name)) if run else ""
        finally:
            self._loading = False
        self.dirty = False
        self._set_enabled()

    def select_run(self, number: int) -> None:
        """Show run ``number`` in the editor."""
        self.reload()
        if number in [r.number for r in self.runs]:
            self.run.value = number  # loads it
            self.load_run()

    def _set_enabled(self) -> None:
        has_run = self.run.value is not None
        editable = self.can_operate and has_run
        for widget in (self.title, self.run_class, *self.fields.values()):
            widget.disabled = not editable
        self.save_button.disabled = not editable
        self.previous_button.disabled = not editable
        for widget in (self.new_name, self.new_type, self.new_units, self.new_comment,
                       self.add_button):  # fmt: skip
            widget.disabled = not self.can_operate

    # -- editing -------------------------------------------------------------------------
    def typed_values(self) -> dict[str, str | None]:
        """What is in the inputs (empty means "no measurement")."""
        return {name: (f.value.strip() or None) for name, f in self.fields.items()}

    def save(self) -> Run | None:
        """Write title, class and values of the selected run (all checked first)."""
        number = self.run.value
        if number is None:
            self.say("warning", "there is no run to edit yet: runs appear once started")
            return None
        try:
            run = self.sheet.update(
                number, self.typed_values(), title=self.title.value, run_class=self.run_class.value
            )
        except (ShiftdeskError, PermissionError) as exc:
            self.say("error", f"run {number} not saved: {error_text(exc)}")
            return None
        self.dirty = False
        self.say("info", f"run {number} saved")
        self.reload(reload_fields=True)
        return run

    def same_as_previous(self) -> None:
        """Fill in the previous run's title, class and values (saved with Save)."""
        number = self.run.value
        if number is None:
            self.say("warning", "there is no run to fill in yet")
            return
        previous = self.sheet.previous_values(number)
        if not previous:
            self.say("warning", f"run {number} has no earlier run to copy from")
            return
        self.title.value = previous["title"]
        if previous["run_class"] in self.run_class.options:
            self.run_class.value = previous["run_class"]
        for name, field in self.fields.items():
            field.value = _shown(previous["values"].get(name))
        self.dirty = True
        self.say("info", f"filled in from the previous run: check, then Save run {number}")

    def add_observable(self) -> Observable | None:
        """Add the column typed in the "new observable" inputs."""
        try:
            added = self.sheet.add_observable(
                self.new_name.value,
                self.new_type.value,
                units=self.new_units.value,
                comment=self.new_comment.value,
            )
        except (ShiftdeskError, PermissionError) as exc:
            self.say("error", f"observable not added: {error_text(exc)}")
            return None
        self.new_name.value = self.new_units.value = self.new_comment.value = ""
        self.say("info", f"observable {added.label} added")
        typed = self.typed_values()
        self.reload()
        for name, value in typed.items():  # keep what was typed in the other fields
            if name in self.fields and value is not None:
                self.fields[name].value = value
        return added

    # -- sheet, CSV, plot ----------------------------------------------------------------
    def _show_table(self) -> None:
        header = ["run", "title", "class", "start (UTC)", "duration", "configs", "files"]
        header += [o.label for o in self.observables]
        rows = []
        for run in reversed(self.runs[-TABLE_ROWS:]):
            cells: list[Any] = [
                run.number,
                run.title,
                run.run_class,
                f"{run.started_at:%Y-%m-%d %H:%M}",
                run.duration + (" (open)" if run.is_open else ""),
                run.config_names,
                "sorted" if run.files_organized else ("" if run.is_open else "not sorted"),
                *[_shown(run.values.get(o.name)) for o in self.observables],
            ]
            rows.append(
                f"<tr class='sd-daq-sheet-row-{run.number}'>"
                + "".join(
                    # times and durations on one line; titles and values may wrap
                    f"<td style='white-space:nowrap'>{html.escape(str(c))}</td>"
                    if i in (3, 4)
                    else f"<td>{html.escape(str(c))}</td>"
                    for i, c in enumerate(cells)
                )
                + "</tr>"
            )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        self.table.value = (
            "<div style='max-height:300px;overflow:auto;line-height:1.35'>"
            "<table class='sd-daq-sheet-rows' cellpadding='4'>"
            f"<tr>{head}</tr>{''.join(rows)}</table></div>"
            if rows
            else "<i>no runs yet</i>"
        )
        text = self.sheet.to_csv()
        name = f"{self.system.experiment_name}_runsheet.csv"
        link = "data:text/csv;base64," + base64.b64encode(text.encode()).decode()
        self.csv.value = (
            f"<a download='{html.escape(name)}' href='{link}' class='sd-daq-csv-link'>"
            f"Download the run sheet (CSV, {plural(len(self.runs), 'run')})</a>"
        )

    def draw(self) -> None:
        """Plot the chosen observable over runs."""
        name = self.plot_choice.value
        if name is None:
            self.line.x = self.line.y = self.points.x = self.points.y = []
            return
        try:
            numbers, values = self.sheet.series(name)
        except ShiftdeskError as exc:
            self.say("error", error_text(exc))
            return
        label = next((o.label for o in self.observables if o.name == name), name)
        x_range = padded(numbers, whole=True)
        y_range = padded([float(v) for v in values])  # only numeric observables are offered
        with (
            self.line.hold_sync(),
            self.points.hold_sync(),
            self.x.hold_sync(),
            self.y.hold_sync(),
            self.x_axis.hold_sync(),
        ):
            self.line.x, self.line.y = numbers, values
            self.points.x, self.points.y = numbers, values
            self.x.min, self.x.max = x_range
            self.y.min, self.y.max = y_range
            # Whole run numbers only: d3's ticks on a short span are fractions, which
            # "d" shows as repeated whole numbers (1 1 1 2 2); a few runs get a tick each.
            self.x_axis.tick_values = list(numbers) if 0 < len(numbers) <= MAX_RUN_TICKS else None
        self.y_axis.label = label
