"""bqplot figures: R(Q) with error bars, model and residuals; the SLD profile.

Several data sets (a simultaneous fit) are drawn together: each in its own colour,
shifted down by a number of decades so the curves do not overlap, with their residuals
in one panel, and optionally the asymmetry (R₁ − R₂)/(R₁ + R₂) of two of them. A data
set keeps its colour in every plot (:func:`dataset_colors`): its points in R(Q), its
residuals and its SLD profile.

A figure is only on the page while it is shown: bqplot lays a hidden (zero-size) figure
out with negative widths, which the browser reports as errors.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines, LogScale, Scatter

from shiftdesk.reflectometry import ReflData, ReflectivityCurve
from shiftdesk_widgets._figures import FigureSlot

VIEWS = {"log R": "log", "R·Q⁴": "rq4", "linear R": "linear"}
_DATA = "#1f77b4"
_MODEL = "#d62728"
_ASYM_DATA = "#555555"
_ASYM_MODEL = "#111111"
#: (data, model) colours of the second, third, ... data set.
PALETTE = [
    ("#2ca02c", "#1a6b1a"),
    ("#9467bd", "#5b3d80"),
    ("#ff7f0e", "#b35900"),
    ("#8c564b", "#5a3630"),
    ("#17becf", "#0e7c87"),
    ("#e377c2", "#a04088"),
]


def dataset_colors(index: int) -> tuple[str, str]:
    """``(data, model)`` colours of the data set at ``index`` (0: the first).

    The data colour is the data set's own: its points, residuals and SLD profile.
    """
    if index == 0:
        return _DATA, _MODEL
    return PALETTE[(index - 1) % len(PALETTE)]


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """At most ``most`` round tick values (1, 2 or 5 × 10ⁿ apart) between ``lo`` and ``hi``.

    bqplot's own choice is either ten ticks (their labels collide on a short axis) or,
    with ``num_ticks``, evenly spaced unround values (13.7663, 0.0688, ...).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    span = hi - lo
    exponent = math.floor(math.log10(span / most))
    for power in (exponent, exponent + 1, exponent + 2):
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**power
            first = math.ceil(lo / step - 1e-9)
            last = math.floor(hi / step + 1e-9)
            if last - first + 1 <= most:
                return [round(k * step, 12) for k in range(first, last + 1)]
    return [lo, hi]  # pragma: no cover  (10 × the first step always fits)


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """At most ``most`` ticks of a log axis from ``lo`` to ``hi``: 1, 2, 5 × 10ⁿ, or
    decades (every 1, 2, 5, ... decades) over a wide range, or more mantissas within one.

    d3's own choice labels 1 … 9 in each decade; over one decade (R·Q⁴) those labels
    collide ("1e-8 9e-9 8e-9 ...").
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        return []
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))

    def ticks(mantissas: tuple[int, ...], stride: int = 1) -> list[float]:
        values = [float(f"{m}e{k}") for k in range(first, last + 1, stride) for m in mantissas]
        return [v for v in values if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]

    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        found = ticks(mantissas)
        if 2 <= len(found) <= most:
            return found
    for stride in (1, 2, 3, 5, 10, 20):
        found = ticks((1,), stride)
        if len(found) <= most:
            return found
    return [lo, hi]  # pragma: no cover  (beyond 160 decades)


def legend_html(items: list[tuple[str, str, str]]) -> str:
    """A legend to put under a figure (inside, bqplot's covers the curves).

    Parameters
    ----------
    items : list of (label, colour, style)
        ``style`` is ``"solid"`` or ``"dashed"`` (a line sample), ``"dot"`` (data points)
        or ``"fill <opacity>"`` (a filled band, e.g. ``"fill 0.35"``).
    """
    samples = []
    for label, color, style in items:
        if style == "dot":
            sample = f"width:8px;height:8px;margin:0 8px;border-radius:50%;background:{color}"
        elif style.startswith("fill"):
            opacity = style.split()[1] if " " in style else "0.3"
            sample = f"width:24px;height:10px;background:{color};opacity:{opacity}"
        else:
            sample = f"width:24px;border-top:2px {style} {color}"
        samples.append(
            "<span class='sd-legend-item' style='margin-right:14px;white-space:nowrap'>"
            f"<span style='display:inline-block;vertical-align:middle;{sample}'>"
            f"</span> {html.escape(label)}</span>"
        )
    return f"<div class='sd-legend' style='padding-left:60px'>{''.join(samples)}</div>"


@dataclass
class PlotEntry:
    """One data set to draw: its name, data (or None) and model curve (or None)."""

    name: str
    data: ReflData | None
    curve: ReflectivityCurve | None


#: Above this many points the error bars are thinned (SVG stays responsive).
MAX_ERROR_BARS = 2000


class ReflectivityPlot(w.VBox):
    """R(Q) on log, R·Q⁴ or linear axes with error bars, the model curve and residuals."""

    def __init__(self, height: str = "330px") -> None:
        self.x = LinearScale()
        self.y_log = LogScale()
        self.y_lin = LinearScale()
        self.errors = Lines(x=[], y=[], scales={"x": self.x, "y": self.y_log}, colors=["#9ecae1"])
        self.points = Scatter(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y_log},
            colors=[_DATA],
            default_size=14,
            stroke=_DATA,
            labels=["data"],
        )
        self.model = Lines(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y_log},
            colors=[_MODEL],
            stroke_width=2,
            labels=["model"],
        )
        self.fit_range = Lines(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y_log},
            colors=["#999"],
            line_style="dashed",
        )
        self.y_axis = Axis(scale=self.y_log, side="left", label="R", tick_format=".0e")
        self.figure = Figure(
            marks=[self.errors, self.fit_range, self.points, self.model],
            axes=[Axis(scale=self.x, label="Q (1/Å)"), self.y_axis],
            layout=w.Layout(height=height, width="100%"),
            fig_margin={"top": 10, "bottom": 40, "left": 70, "right": 10},
        )
        # under the figure: inside, a legend covers the curve in some view (R·Q⁴ rises
        # to the right) or with several data sets
        self.legend = w.HTML()
        self.legend.add_class("sd-refl-legend")
        self.rx = LinearScale()
        self.ry = LinearScale()
        self.residual_points = Scatter(
            x=[], y=[], scales={"x": self.x, "y": self.ry}, colors=[_DATA], default_size=10
        )
        self.zero = Lines(x=[], y=[], scales={"x": self.x, "y": self.ry}, colors=["#666"])
        self._residual_axis = Axis(scale=self.ry, side="left", label="(R−Rₘ)/dR", tick_format="~g")
        self.residuals = Figure(
            marks=[self.zero, self.residual_points],
            axes=[
                Axis(scale=self.x, label="Q (1/Å)"),
                # 150 px tall: a few round ticks, set with the residuals (_residual_ticks)
                self._residual_axis,
            ],
            layout=w.Layout(height="150px", width="100%"),
            fig_margin={"top": 5, "bottom": 40, "left": 70, "right": 10},
        )
        self.view = w.ToggleButtons(options=list(VIEWS), value="log R", description="view")
        self.view.style.button_width = "80px"
        self.view.observe(lambda _c: self.redraw(), "value")
        self.chi2 = w.HTML()
        self.offset = w.BoundedFloatText(
            value=1.0,
            min=0.0,
            max=10.0,
            step=0.5,
            description="offset (decades)",
            layout=w.Layout(width="190px", display="none"),
            style={"description_width": "110px"},
        )
        self.offset.add_class("sd-offset")
        self.offset.observe(lambda _c: self.redraw(), "value")
        self.asymmetry = w.Dropdown(
            options=[("off", None)],
            value=None,
            description="asymmetry",
            layout=w.Layout(width="260px", display="none"),
        )
        self.asymmetry.add_class("sd-asymmetry")
        self.asymmetry.observe(lambda _c: self.redraw(), "value")
        self.ay = LinearScale()
        # own colours: the model colour (#d62728) stays unique to the R(Q) model curve
        self.asym_points = Scatter(
            x=[], y=[], scales={"x": self.x, "y": self.ay}, colors=[_ASYM_DATA], default_size=10
        )
        self.asym_model = Lines(
            x=[], y=[], scales={"x": self.x, "y": self.ay}, colors=[_ASYM_MODEL], stroke_width=2
        )
        self.asymmetry_figure = Figure(
            marks=[self.asym_points, self.asym_model],
            axes=[
                Axis(scale=self.x, label="Q (1/Å)"),
                Axis(scale=self.ay, side="left", label="(R₁−R₂)/(R₁+R₂)"),
            ],
            layout=w.Layout(height="170px", width="100%"),
            fig_margin={"top": 5, "bottom": 40, "left": 70, "right": 10},
        )
        self._entries: list[PlotEntry] = []
        self._extra: list[dict[str, Any]] = []  # marks of the 2nd, 3rd, ... data set
        self._range: tuple[float | None, float | None] = (None, None)
        # on the page only while an asymmetry is picked (see _draw_asymmetry)
        self.asymmetry_slot = FigureSlot(self.asymmetry_figure)
        super().__init__(
            [
                w.HBox([self.view, self.chi2]),
                w.HBox([self.offset, self.asymmetry]),
                self.figure,
                self.legend,
                self.residuals,
                self.asymmetry_slot,
            ]
        )
        self.add_class("sd-refl-plot")

    def show(
        self,
        data: ReflData | None = None,
        curve: ReflectivityCurve | None = None,
        q_range: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """Draw data and/or a model curve."""
        self.show_many([PlotEntry("", data, curve)], q_range)

    def show_many(
        self,
        entries: list[PlotEntry],
        q_range: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """Draw several data sets with their models (the first one as :meth:`show` does).

        The Q range lines belong to the first data set.
        """
        self._entries, self._range = list(entries), q_range
        names = [e.name for e in entries]
        pairs: list[tuple[str, tuple[str, str] | None]] = [("off", None)]
        pairs += [(f"{a} vs {b}", (a, b)) for i, a in enumerate(names) for b in names[i + 1 :]]
        several = len(entries) > 1
        self.offset.layout.display = "" if several else "none"
        self.asymmetry.layout.display = "" if several else "none"
        values = [v for _, v in pairs]
        keep = self.asymmetry.value if self.asymmetry.value in values else None
        if list(self.asymmetry.options) != pairs:
            self.asymmetry.options = pairs
        # by index: a value of None would show a blank box instead of "off"
        if self.asymmetry.index != values.index(keep):
            self.asymmetry.index = values.index(keep)
        self.redraw()

    @property
    def _data(self) -> ReflData | None:
        return self._entries[0].data if self._entries else None

    @property
    def _curve(self) -> ReflectivityCurve | None:
        return self._entries[0].curve if self._entries else None

    def _transform(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return r * q**4 if VIEWS[self.view.value] == "rq4" else r

    def _factor(self, index: int) -> float:
        """Multiplier of data set ``index`` (log views only): 10^(−index·offset)."""
        if index == 0 or VIEWS[self.view.value] == "linear":
            return 1.0
        return float(10.0 ** (-index * float(self.offset.value or 0.0)))

    def redraw(self) -> None:
        """Redraw for the current view."""
        mode = VIEWS[self.view.value]
        y = self.y_lin if mode == "linear" else self.y_log
        data, curve = self._data, self._curve
        with self.hold_sync():
            self._draw_extra(y)
            for mark in (self.errors, self.points, self.model, self.fit_range):
                mark.scales = {"x": self.x, "y": y}
            label = self._entries[0].name if len(self._entries) > 1 else ""
            self.points.labels = [f"{label} data".strip()]
            self.model.labels = [f"{label} model".strip()]
            self.y_axis.scale = y
            self.y_axis.label = "R·Q⁴ (1/Å⁴)" if mode == "rq4" else "R"
            self.y_axis.tick_format = ".2g" if mode == "linear" else ".0e"
            if data is not None:
                q = data.q
                ry = self._transform(q, data.r)
                dy = self._transform(q, data.dr)
                lo = ry - dy
                if mode != "linear":
                    lo = np.where(lo > 0, lo, ry * 1e-2)
                step = max(1, q.size // MAX_ERROR_BARS)
                self.points.x, self.points.y = q, ry
                self.errors.x = np.column_stack([q, q])[::step]
                self.errors.y = np.column_stack([lo, ry + dy])[::step]
            else:
                self.points.x = self.points.y = []
                self.errors.x = self.errors.y = []
            if curve is not None:
                self.model.x, self.model.y = curve.q, self._transform(curve.q, curve.r)
                self.chi2.value = "" if curve.chi2 is None else f"χ² = {curve.chi2:.4g}"
            else:
                self.model.x = self.model.y = []
                self.chi2.value = ""
            if len(self._entries) > 1:
                self.chi2.value = " · ".join(
                    f"{e.name}: χ² = {e.curve.chi2:.4g}"
                    for e in self._entries
                    if e.curve is not None and e.curve.chi2 is not None
                )
            self._draw_range(data)
            self._draw_residuals(curve)
            self._residual_ticks()
            self._y_ticks(mode)
            self._draw_legend()
            self._draw_asymmetry()

    def _draw_extra(self, y: Any) -> None:
        """Marks of the 2nd, 3rd, ... data set: made on demand, kept for re-use."""
        extra = self._entries[1:]
        while len(self._extra) < len(extra):
            data_color, model_color = dataset_colors(len(self._extra) + 1)
            scales = {"x": self.x, "y": y}
            self._extra.append(
                {
                    "errors": Lines(
                        x=[], y=[], scales=scales, colors=[data_color], opacities=[0.4]
                    ),
                    "points": Scatter(
                        x=[],
                        y=[],
                        scales=scales,
                        colors=[data_color],
                        default_size=14,
                        labels=["data"],
                    ),
                    "model": Lines(
                        x=[],
                        y=[],
                        scales=scales,
                        colors=[model_color],
                        stroke_width=2,
                        labels=["model"],
                    ),
                    "residuals": Scatter(
                        x=[],
                        y=[],
                        scales={"x": self.x, "y": self.ry},
                        colors=[data_color],
                        default_size=10,
                    ),
                }
            )
        used = self._extra[: len(extra)]
        self.figure.marks = [self.errors, self.fit_range, self.points, self.model] + [
            m for marks in used for m in (marks["errors"], marks["points"], marks["model"])
        ]
        self.residuals.marks = [self.zero, self.residual_points] + [
            marks["residuals"] for marks in used
        ]
        for index, (entry, marks) in enumerate(zip(extra, used, strict=True), start=1):
            factor = self._factor(index)
            for key in ("errors", "points", "model"):
                marks[key].scales = {"x": self.x, "y": y}
            shift = f" ×10^{np.log10(factor):.3g}" if factor != 1.0 else ""
            marks["points"].labels = [f"{entry.name} data{shift}"]
            marks["model"].labels = [f"{entry.name} model{shift}"]
            data, curve = entry.data, entry.curve
            if data is not None:
                q = data.q
                ry = self._transform(q, data.r) * factor
                dy = self._transform(q, data.dr) * factor
                lo = ry - dy
                if VIEWS[self.view.value] != "linear":
                    lo = np.where(lo > 0, lo, ry * 1e-2)
                step = max(1, q.size // MAX_ERROR_BARS)
                marks["points"].x, marks["points"].y = q, ry
                marks["errors"].x = np.column_stack([q, q])[::step]
                marks["errors"].y = np.column_stack([lo, ry + dy])[::step]
            else:
                marks["points"].x = marks["points"].y = []
                marks["errors"].x = marks["errors"].y = []
            if curve is not None:
                marks["model"].x = curve.q
                marks["model"].y = self._transform(curve.q, curve.r) * factor
            else:
                marks["model"].x = marks["model"].y = []
            residuals = curve.residuals if curve is not None else None
            if curve is not None and residuals is not None:
                marks["residuals"].x, marks["residuals"].y = curve.q, residuals
            else:
                marks["residuals"].x = marks["residuals"].y = []

    def asymmetry_values(
        self, pair: tuple[str, str]
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(q, data asymmetry, model asymmetry)`` of two data sets on the first one's Q.

        The second data set's R is interpolated onto the first one's Q points (spin
        states are usually measured on the same grid, then nothing is interpolated).
        """
        by_name = {e.name: e for e in self._entries}
        first, second = by_name[pair[0]], by_name[pair[1]]

        def asym(q: np.ndarray, r1: np.ndarray, q2: np.ndarray, r2: np.ndarray) -> np.ndarray:
            other = r2 if q2.shape == q.shape and np.allclose(q2, q) else np.interp(q, q2, r2)
            total = r1 + other
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(total != 0, (r1 - other) / total, np.nan)

        q = np.zeros(0)
        data_asym = model_asym = None
        if first.data is not None and second.data is not None:
            q = first.data.q
            data_asym = asym(q, first.data.r, second.data.q, second.data.r)
        if first.curve is not None and second.curve is not None:
            q_model = first.curve.q
            model_asym = asym(q_model, first.curve.r, second.curve.q, second.curve.r)
            if data_asym is None:
                q = q_model
        return q, data_asym, model_asym

    @property
    def asymmetry_shown(self) -> bool:
        """True while the asymmetry figure is on the page."""
        return self.asymmetry_slot.shown

    def _show_asymmetry_figure(self, shown: bool) -> None:
        self.asymmetry_slot.shown = shown

    def _draw_asymmetry(self) -> None:
        pair = self.asymmetry.value
        names = {e.name for e in self._entries}
        if pair is None or not set(pair) <= names:
            self._show_asymmetry_figure(False)
            self.asym_points.x = self.asym_points.y = []
            self.asym_model.x = self.asym_model.y = []
            return
        self._show_asymmetry_figure(True)
        q, data_asym, model_asym = self.asymmetry_values(pair)
        if data_asym is not None:
            self.asym_points.x, self.asym_points.y = q, data_asym
        else:
            self.asym_points.x = self.asym_points.y = []
        by_name = {e.name: e for e in self._entries}
        curve = by_name[pair[0]].curve
        if model_asym is not None and curve is not None:
            self.asym_model.x, self.asym_model.y = curve.q, model_asym
        else:
            self.asym_model.x = self.asym_model.y = []

    def _draw_range(self, data: ReflData | None) -> None:
        lines_x, lines_y = [], []
        if data is not None:
            ry = self._transform(data.q, data.r)
            positive = ry[ry > 0]
            top = float(np.max(ry)) if ry.size else 1.0
            bottom = float(np.min(positive)) if positive.size else 1e-10
            for edge in self._range:
                if edge is not None:
                    lines_x.append([edge, edge])
                    lines_y.append([bottom, top])
        self.fit_range.x = lines_x or []
        self.fit_range.y = lines_y or []

    def _y_ticks(self, mode: str) -> None:
        """Ticks of the log axes that do not collide (the linear axis keeps d3's)."""
        ticks: list[float] = []
        if mode != "linear":
            values = [
                np.asarray(mark.y, dtype=float).ravel()
                for mark in self.figure.marks
                if mark is not self.fit_range and len(mark.y)
            ]
            y = np.concatenate(values) if values else np.zeros(0)
            y = y[np.isfinite(y) & (y > 0)]
            if y.size:
                ticks = log_ticks(float(y.min()), float(y.max()))
        current = self.y_axis.tick_values
        if current is None or list(current) != ticks:
            self.y_axis.tick_values = np.asarray(ticks, dtype=float)

    def _draw_legend(self) -> None:
        """The data and model of each data set shown, in their colours."""
        items: list[tuple[str, str, str]] = []
        shown = [(self.points, self.model)] + [
            (marks["points"], marks["model"]) for marks in self._extra[: len(self._entries) - 1]
        ]
        for points, model in shown:
            if len(points.x):
                items.append((points.labels[0], points.colors[0], "dot"))
            if len(model.x):
                items.append((model.labels[0], model.colors[0], "solid"))
        legend = legend_html(items) if items else ""
        if self.legend.value != legend:
            self.legend.value = legend

    def _residual_ticks(self) -> None:
        """Round ticks over every data set's residuals (and zero)."""
        values = [0.0]
        for mark in self.residuals.marks:
            y = np.asarray(mark.y, dtype=float).ravel()
            y = y[np.isfinite(y)]
            if y.size:
                values += [float(y.min()), float(y.max())]
        ticks = nice_ticks(min(values), max(values), most=5)
        current = self._residual_axis.tick_values
        if current is None or list(current) != ticks:
            self._residual_axis.tick_values = np.asarray(ticks, dtype=float)

    def _draw_residuals(self, curve: ReflectivityCurve | None) -> None:
        residuals = curve.residuals if curve is not None else None
        if curve is None or residuals is None:
            self.residual_points.x = self.residual_points.y = []
            self.zero.x = self.zero.y = []
            return
        self.residual_points.x, self.residual_points.y = curve.q, residuals
        self.zero.x, self.zero.y = [curve.q[0], curve.q[-1]], [0.0, 0.0]


class ProfilePlot(w.VBox):
    """The SLD profile (real and imaginary) against depth from the front interface.

    Each data set's profile has the data set's colour (:func:`dataset_colors`); the
    legend is under the figure, where it cannot cover a peak of the profile.
    """

    def __init__(self, height: str = "260px") -> None:
        self.x = LinearScale()
        self.y = LinearScale()
        first = dataset_colors(0)[0]
        self.rho = Lines(
            x=[], y=[], scales={"x": self.x, "y": self.y}, colors=[first], stroke_width=2,
            labels=["SLD"],
        )  # fmt: skip
        self.irho = Lines(
            x=[], y=[], scales={"x": self.x, "y": self.y}, colors=[first],
            line_style="dashed", labels=["iSLD"],
        )  # fmt: skip
        self.figure = Figure(
            marks=[self.rho, self.irho],
            axes=[
                Axis(scale=self.x, label="depth from front interface (Å)"),
                Axis(scale=self.y, side="left", label="SLD (10⁻⁶/Å²)"),
            ],
            layout=w.Layout(height=height, width="100%"),
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10},
        )
        self.legend = w.HTML()
        self.legend.add_class("sd-profile-legend")
        self.extra: list[Lines] = []  # SLD of the 2nd, 3rd, ... data set
        super().__init__([self.figure, self.legend])
        self.add_class("sd-profile-plot")

    def show(self, curve: ReflectivityCurve | None) -> None:
        """Draw the profile of ``curve``."""
        self.show_many([("", curve)])

    def show_many(self, curves: list[tuple[str, ReflectivityCurve | None]]) -> None:
        """Draw the profiles of several data sets' models (the first as :meth:`show`)."""
        with self.hold_sync():
            first = curves[0][1] if curves else None
            if first is None:
                self.rho.x = self.rho.y = self.irho.x = self.irho.y = []
            else:
                depth, rho, irho = first.profile
                self.rho.x, self.rho.y = depth, rho
                self.irho.x, self.irho.y = depth, irho
            several = len(curves) > 1
            name = curves[0][0] if curves and several else ""
            self.rho.labels = [f"{name} SLD".strip()]
            self.irho.labels = [f"{name} iSLD".strip()]
            while len(self.extra) < len(curves) - 1:
                color = dataset_colors(len(self.extra) + 1)[0]
                self.extra.append(
                    Lines(
                        x=[],
                        y=[],
                        scales={"x": self.x, "y": self.y},
                        colors=[color],
                        stroke_width=2,
                        labels=["SLD"],
                    )
                )
            used = self.extra[: max(len(curves) - 1, 0)]
            for line, (name, curve) in zip(used, curves[1:], strict=True):
                line.labels = [f"{name} SLD"]
                if curve is None:
                    line.x = line.y = []
                else:
                    depth, rho, _ = curve.profile
                    line.x, line.y = depth, rho
            self.figure.marks = [self.rho, self.irho, *used]
            items = [(self.rho.labels[0], self.rho.colors[0], "solid")]
            items += [(line.labels[0], line.colors[0], "solid") for line in used]
            items.append((self.irho.labels[0], self.irho.colors[0], "dashed"))
            legend = legend_html(items)
            if self.legend.value != legend:
                self.legend.value = legend
