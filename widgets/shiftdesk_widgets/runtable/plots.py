"""Plots from the table: one column against another over runs, and selected runs' data.

The summary plot shows the runs the grid shows (its filters apply); brushing points
selects their rows and selecting rows highlights their points. The data plot draws the
full result of a variable for the selected runs (lines for 1-D, an image for 2-D),
read with the ``load(run, name)`` callback.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
from bqplot import (
    Axis,
    ColorAxis,
    ColorScale,
    DateScale,
    Figure,
    HeatMap,
    LinearScale,
    Lines,
    Scatter,
)
from bqplot.interacts import BrushSelector

from shiftdesk_widgets._figures import FigureSlot
from shiftdesk_widgets.runtable.grid import RunGrid, error_text

#: ``load(run, name)``: the full result of a variable for a run (numpy or xarray).
LoadCallback = Callable[[int, str], Any]
#: At most this many selected runs are drawn in the data plot.
MAX_RUNS = 10
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip


def _classed(widget: Any, *classes: str) -> Any:
    for css in classes:
        widget.add_class(css)
    return widget


def _as_array(data: Any) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Values, coordinates (one per axis) and axis names of a numpy or xarray result."""
    if hasattr(data, "dims") and hasattr(data, "values") and hasattr(data, "coords"):
        values = np.asarray(data.values)
        coords = []
        for dim, size in zip(data.dims, values.shape, strict=False):
            coord = data.coords[dim].values if dim in data.coords else np.arange(size)
            coords.append(np.asarray(coord))
        return values, coords, [str(d) for d in data.dims]
    values = np.asarray(data)
    names = ["index"] if values.ndim == 1 else ["row", "column"][: values.ndim]
    names += [f"axis {i}" for i in range(len(names), values.ndim)]
    return values, [np.arange(n) for n in values.shape], names


class PlotPanel(w.VBox):
    """Summary column against column over runs, linked to the grid; selected runs' data.

    Parameters
    ----------
    grid : RunGrid
        The table whose values are plotted and whose selection is linked.
    load : callable, optional
        ``load(run, name)`` returns a run's full result for the data plot.
    """

    def __init__(self, grid: RunGrid, load: LoadCallback | None = None) -> None:
        self.grid = grid
        self.load = load
        self._runs: list[int] = []
        self._linking = False
        self.message = _classed(w.HTML(), "sd-rt-plot-message")
        self.x_choice = _classed(
            w.Dropdown(description="x", layout=w.Layout(width="260px"),
                       style={"description_width": "20px"}),
            "sd-rt-plot-x",
        )  # fmt: skip
        self.y_choice = _classed(
            w.Dropdown(description="y", layout=w.Layout(width="260px"),
                       style={"description_width": "20px"}),
            "sd-rt-plot-y",
        )  # fmt: skip
        self._refreshing = False
        self._y_auto = True  # y follows the first column with values until the user picks
        self.x_choice.observe(lambda _c: self._chosen(), "value")
        self.y_choice.observe(lambda _c: self._chosen(y=True), "value")
        self.x_scale: LinearScale | DateScale = LinearScale()
        self.y_scale = LinearScale()
        self.points = Scatter(
            x=[], y=[], scales={"x": self.x_scale, "y": self.y_scale}, colors=["#1f77b4"],
            default_size=36, selected_style={"fill": "#d62728", "stroke": "#7f0000"},
            unselected_style={"opacity": 0.55}, tooltip=None,
        )  # fmt: skip
        self.x_axis = Axis(scale=self.x_scale, label="x")
        self.y_axis = Axis(scale=self.y_scale, side="left", label="y")
        self.brush = BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale, marks=[self.points])
        self.summary_figure = _classed(
            Figure(marks=[self.points], axes=[self.x_axis, self.y_axis], interaction=self.brush,
                   layout=w.Layout(width="100%", height="340px"),
                   fig_margin={"top": 10, "bottom": 45, "left": 70, "right": 15}),
            "sd-rt-summary-plot",
        )  # fmt: skip
        self.points.observe(self._points_selected, "selected")
        grid.observe(self._grid_selected, "selected")

        self.data_choice = _classed(
            w.Dropdown(description="data of", layout=w.Layout(width="300px"),
                       style={"description_width": "55px"}),
            "sd-rt-data-choice",
        )  # fmt: skip
        self.data_button = _classed(
            w.Button(description="Plot selected runs", icon="line-chart",
                     layout=w.Layout(width="180px")),
            "sd-rt-data-plot",
        )  # fmt: skip
        self.data_button.on_click(lambda _b: self.draw_data())
        self.dx = LinearScale()
        self.dy = LinearScale()
        self.data_figure = _classed(
            Figure(marks=[], axes=[Axis(scale=self.dx, label=""),
                                   Axis(scale=self.dy, side="left")],
                   layout=w.Layout(width="100%", height="340px"),
                   fig_margin={"top": 30, "bottom": 45, "left": 70, "right": 80},
                   legend_location="top-right"),
            "sd-rt-data-figure",
        )  # fmt: skip
        # in the page only while the panel is open (and, for data, something is drawn)
        self.summary_slot = FigureSlot(self.summary_figure)
        self.data_slot = FigureSlot(self.data_figure)
        self._shown = False
        self.data_message = _classed(w.HTML(), "sd-rt-data-message")
        data_box = w.VBox([w.HBox([self.data_choice, self.data_button]), self.data_message,
                           self.data_slot])  # fmt: skip
        if load is None:
            data_box.layout.display = "none"
        super().__init__(
            [
                self.message,
                w.HBox([self.x_choice, self.y_choice, w.HTML(
                    "<small class='sd-rt-muted'>drag on the plot to select runs</small>")]),
                self.summary_slot,
                data_box,
            ]
        )  # fmt: skip
        _classed(self, "sd-rt-plots")
        self.layout.display = "none"
        self.refresh_choices()

    @property
    def shown(self) -> bool:
        """True while the panel is shown (its figures are in the page only then)."""
        return self._shown

    @shown.setter
    def shown(self, on: bool) -> None:
        self._shown = on
        # shown before the figures come in, and the figures out before it hides: a figure
        # never sits in a hidden box (see FigureSlot)
        if on:
            self.layout.display = None
        self.summary_slot.shown = on
        self.data_slot.shown = on and bool(self.data_figure.marks)
        if not on:
            self.layout.display = "none"

    def _numeric_columns(self) -> list[str]:
        """Columns with numbers (or times), and those with no value yet (not text ones)."""
        names = []
        for name in self.grid.settings["order"]:
            series = self.grid.frame[name]
            column = self.grid.columns.get(name)
            if name == "comment" or (column is not None and column.type == "string"):
                continue
            dates = name == "start_time" or pd.api.types.is_datetime64_any_dtype(series)
            numbers = pd.to_numeric(series, errors="coerce").notna().any() if len(series) else 0
            empty = bool(series.isna().all())
            if dates or numbers or empty:
                names.append(name)
        return names

    def _label(self, name: str) -> str:
        if name == "run":
            return "run"
        return self.grid.columns[name].label if name in self.grid.columns else name

    def _chosen(self, y: bool = False) -> None:
        if self._refreshing:
            return
        if y:
            self._y_auto = False
        self.draw()

    def refresh_choices(self) -> None:
        """Offer the table's numeric columns (after a variable appeared or got values)."""
        numeric = ["run", *self._numeric_columns()]
        options = [(self._label(n), n) for n in numeric]
        x, y = self.x_choice.value, self.y_choice.value
        others = [n for n in numeric if n not in ("run", "start_time")]
        filled = [n for n in others if self.grid.frame[n].notna().any()]
        if self._y_auto or y not in numeric:
            y = (filled or others or ["run"])[0]
        self._refreshing = True
        try:
            if list(self.x_choice.options) != options:
                self.x_choice.options = options
                self.y_choice.options = options
            self.x_choice.value = x if x in numeric else "run"
            self.y_choice.value = y
        finally:
            self._refreshing = False
        blobs = [n for n in self.grid.settings["order"] if n not in ("start_time", "comment")]
        chosen = self.data_choice.value
        self.data_choice.options = [(self._label(n), n) for n in blobs]
        if chosen in blobs:
            self.data_choice.value = chosen
        elif blobs:  # an array first (what the data plot is for), else any variable
            arrays = [n for n in blobs if self.grid._kind(n) in ("thumbnail", "sparkline")]
            self.data_choice.value = (arrays or blobs)[0]
        self.draw()

    def _values(self, name: str, runs: list[int]) -> np.ndarray:
        if name == "run":
            return np.asarray(runs, dtype=float)
        series = self.grid.frame.loc[runs, name]
        if name == "start_time" or pd.api.types.is_datetime64_any_dtype(series):
            return np.asarray(pd.to_datetime(series, errors="coerce").to_numpy())
        return np.asarray(pd.to_numeric(series, errors="coerce"), dtype=float)

    def draw(self) -> None:
        """Redraw the summary plot from the grid's shown runs."""
        x_name, y_name = self.x_choice.value, self.y_choice.value
        if x_name is None or y_name is None:
            return
        runs = self.grid.runs
        x = self._values(x_name, runs)
        y = self._values(y_name, runs)
        keep = ~pd.isna(x) & ~pd.isna(y)
        self._runs = [r for r, k in zip(runs, keep, strict=False) if k]
        x, y = x[keep], y[keep]
        dates = np.issubdtype(x.dtype, np.datetime64)
        if dates != isinstance(self.x_scale, DateScale):
            self.x_scale = DateScale() if dates else LinearScale()
            self.points.scales = {"x": self.x_scale, "y": self.y_scale}
            self.x_axis.scale = self.x_scale
            self.brush.x_scale = self.x_scale
        self._linking = True
        try:
            with self.points.hold_sync():
                self.points.x, self.points.y = x, y
                self.points.selected = self._indices(self.grid.selected) or None
        finally:
            self._linking = False
        self.x_axis.label = self._label(x_name)
        self.y_axis.label = self._label(y_name)
        self.x_axis.tick_format = "d" if x_name == "run" else None
        missing = len(runs) - len(self._runs)
        self.message.value = (
            f"<small>{len(self._runs)} runs plotted"
            + (f", {missing} without both values" if missing else "")
            + "</small>"
        )

    def _indices(self, runs: list[int]) -> list[int]:
        position = {r: i for i, r in enumerate(self._runs)}
        return [position[r] for r in runs if r in position]

    def _points_selected(self, change: dict[str, Any]) -> None:
        if self._linking:
            return
        indices = change["new"]
        runs = [self._runs[i] for i in (indices if indices is not None else [])]
        self._linking = True
        try:
            self.grid.select(runs)
        finally:
            self._linking = False

    def _grid_selected(self, change: dict[str, Any]) -> None:
        if self._linking:
            return
        self._linking = True
        try:
            self.points.selected = self._indices(change["new"]) or None
        finally:
            self._linking = False

    def select_points(self, indices: list[int]) -> None:
        """Select points as a brush would (selects their runs in the grid)."""
        self.points.selected = indices

    # -- the selected runs' data --------------------------------------------------------
    def draw_data(self) -> None:
        """Draw the chosen variable's full data for the selected runs."""
        name = self.data_choice.value
        runs = list(self.grid.selected)
        if self.load is None or name is None:
            return
        if not runs:
            self.data_message.value = "<span style='color:#a15c00'>select runs first</span>"
            return
        shown, skipped = runs[:MAX_RUNS], runs[MAX_RUNS:]
        lines_x, lines_y, labels, problems = [], [], [], []
        image: tuple[int, np.ndarray, list[np.ndarray], list[str]] | None = None
        axis_name = ""
        for run in shown:
            try:
                values, coords, dims = _as_array(self.load(run, name))
            except Exception as exc:  # shown per run, the others still plot
                problems.append(f"run {run}: {error_text(exc)}")
                continue
            if values.ndim == 1 and np.issubdtype(values.dtype, np.number):
                lines_x.append(coords[0].astype(float))
                lines_y.append(values.astype(float))
                labels.append(f"run {run}")
                axis_name = dims[0]
            elif values.ndim == 2 and np.issubdtype(values.dtype, np.number) and image is None:
                image = (run, values.astype(float), coords, dims)
            elif values.ndim == 0:
                problems.append(f"run {run}: a single value ({values.item()!r}), see the table")
            else:
                problems.append(f"run {run}: {values.dtype} of shape {values.shape} not drawn")
        marks: list[Any] = []
        axes: list[Any] = []
        if lines_x:
            self.dx, self.dy = LinearScale(), LinearScale()
            size = max(len(x) for x in lines_x)
            xs = np.full((len(lines_x), size), np.nan)
            ys = np.full((len(lines_x), size), np.nan)
            for i, (x, y) in enumerate(zip(lines_x, lines_y, strict=False)):
                xs[i, : len(x)], ys[i, : len(y)] = x, y
            marks.append(Lines(x=xs, y=ys, scales={"x": self.dx, "y": self.dy}, labels=labels,
                               display_legend=True, colors=_COLORS[: len(labels)]))  # fmt: skip
            axes = [
                Axis(scale=self.dx, label=axis_name),
                Axis(scale=self.dy, side="left", label=self._label(name)),
            ]
            title = f"{self._label(name)} · {len(labels)} runs"
        elif image is not None:
            run, values, coords, dims = image
            self.dx, self.dy = LinearScale(), LinearScale()
            color = ColorScale(scheme="viridis")
            marks.append(HeatMap(x=coords[1].astype(float), y=coords[0].astype(float),
                                 color=values, scales={"x": self.dx, "y": self.dy,
                                                       "color": color}))  # fmt: skip
            axes = [Axis(scale=self.dx, label=dims[1]),
                    Axis(scale=self.dy, side="left", label=dims[0]),
                    ColorAxis(scale=color, side="right")]  # fmt: skip
            title = f"{self._label(name)} · run {run}"
            if len(shown) > 1:
                problems.append("2-D data: the first selected run is drawn")
        else:
            title = ""
        self.data_figure.marks = marks
        self.data_slot.shown = self._shown and bool(marks)
        if axes:
            self.data_figure.axes = axes
        self.data_figure.title = title
        if skipped:
            problems.append(f"{len(skipped)} more selected runs not drawn (at most {MAX_RUNS})")
        self.data_message.value = "<br>".join(
            f"<span style='color:#a15c00'>{html.escape(p)}</span>" for p in problems
        )
