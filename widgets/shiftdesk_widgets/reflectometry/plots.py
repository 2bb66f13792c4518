"""bqplot figures: R(Q) with error bars, model and residuals; the SLD profile."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
from bqplot import Axis, Figure, LinearScale, Lines, LogScale, Scatter

from shiftdesk.reflectometry import ReflData, ReflectivityCurve

VIEWS = {"log R": "log", "R·Q⁴": "rq4", "linear R": "linear"}
_DATA = "#1f77b4"
_MODEL = "#d62728"
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
            display_legend=True,
            labels=["data"],
        )
        self.model = Lines(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y_log},
            colors=[_MODEL],
            stroke_width=2,
            display_legend=True,
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
            legend_location="top-right",
        )
        self.rx = LinearScale()
        self.ry = LinearScale()
        self.residual_points = Scatter(
            x=[], y=[], scales={"x": self.x, "y": self.ry}, colors=[_DATA], default_size=10
        )
        self.zero = Lines(x=[], y=[], scales={"x": self.x, "y": self.ry}, colors=["#666"])
        self.residuals = Figure(
            marks=[self.zero, self.residual_points],
            axes=[
                Axis(scale=self.x, label="Q (1/Å)"),
                Axis(scale=self.ry, side="left", label="(R−Rₘ)/dR"),
            ],
            layout=w.Layout(height="150px", width="100%"),
            fig_margin={"top": 5, "bottom": 40, "left": 70, "right": 10},
        )
        self.view = w.ToggleButtons(options=list(VIEWS), value="log R", description="view")
        self.view.style.button_width = "80px"
        self.view.observe(lambda _c: self.redraw(), "value")
        self.chi2 = w.HTML()
        self._data: ReflData | None = None
        self._curve: ReflectivityCurve | None = None
        self._range: tuple[float | None, float | None] = (None, None)
        super().__init__([w.HBox([self.view, self.chi2]), self.figure, self.residuals])
        self.add_class("sd-refl-plot")

    def show(
        self,
        data: ReflData | None = None,
        curve: ReflectivityCurve | None = None,
        q_range: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """Draw data and/or a model curve."""
        self._data, self._curve, self._range = data, curve, q_range
        self.redraw()

    def _transform(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return r * q**4 if VIEWS[self.view.value] == "rq4" else r

    def redraw(self) -> None:
        """Redraw for the current view."""
        mode = VIEWS[self.view.value]
        y = self.y_lin if mode == "linear" else self.y_log
        data, curve = self._data, self._curve
        with self.hold_sync():
            for mark in (self.errors, self.points, self.model, self.fit_range):
                mark.scales = {"x": self.x, "y": y}
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
            self._draw_range(data)
            self._draw_residuals(curve)

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

    def _draw_residuals(self, curve: ReflectivityCurve | None) -> None:
        residuals = curve.residuals if curve is not None else None
        if curve is None or residuals is None:
            self.residual_points.x = self.residual_points.y = []
            self.zero.x = self.zero.y = []
            return
        self.residual_points.x, self.residual_points.y = curve.q, residuals
        self.zero.x, self.zero.y = [curve.q[0], curve.q[-1]], [0.0, 0.0]


class ProfilePlot(w.VBox):
    """The SLD profile (real and imaginary) against depth from the front interface."""

    def __init__(self, height: str = "260px") -> None:
        self.x = LinearScale()
        self.y = LinearScale()
        self.rho = Lines(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y},
            colors=["#2ca02c"],
            stroke_width=2,
            display_legend=True,
            labels=["SLD"],
        )
        self.irho = Lines(
            x=[],
            y=[],
            scales={"x": self.x, "y": self.y},
            colors=["#9467bd"],
            line_style="dashed",
            display_legend=True,
            labels=["iSLD"],
        )
        self.figure = Figure(
            marks=[self.rho, self.irho],
            axes=[
                Axis(scale=self.x, label="depth from front interface (Å)"),
                Axis(scale=self.y, side="left", label="SLD (10⁻⁶/Å²)"),
            ],
            layout=w.Layout(height=height, width="100%"),
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10},
            legend_location="top-left",
        )
        super().__init__([self.figure])
        self.add_class("sd-profile-plot")

    def show(self, curve: ReflectivityCurve | None) -> None:
        """Draw the profile of ``curve``."""
        with self.hold_sync():
            if curve is None:
                self.rho.x = self.rho.y = self.irho.x = self.irho.y = []
                return
            depth, rho, irho = curve.profile
            self.rho.x, self.rho.y = depth, rho
            self.irho.x, self.irho.y = depth, irho
