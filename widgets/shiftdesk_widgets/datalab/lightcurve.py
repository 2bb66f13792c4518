"""Light curves and periodograms of the session's photometry and period searches.

A photometry result (``light_curve`` rows: time, relative flux and its error) is drawn
as points with error bars; a period search (``frequency``, ``power``, ``best_period``,
``false_alarm_probability``) as its periodogram with the best period marked and, when
the light curve it searched is known, the curve folded on that period.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from shiftdesk_widgets._figures import FigureSlot
from shiftdesk_widgets.datalab._common import classed


@dataclass
class CurveResult:
    """One result the panel can draw.

    Attributes
    ----------
    key : Any
        The operation's id.
    label : str
        How the picker lists it.
    data : dict
        The result's ``data``.
    series : tuple or None
        (times, values, errors) the period search searched, for the folded curve.
    """

    key: Any
    label: str
    data: Mapping[str, Any]
    series: tuple[Sequence[float], Sequence[float], Sequence[float] | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"photometry"``, ``"period"`` or ``""`` (nothing to draw)."""
        if "light_curve" in self.data:
            return "photometry"
        if "power" in self.data and "frequency" in self.data:
            return "period"
        return ""


def light_curve_arrays(data: Mapping[str, Any], key: str = "relative_flux"
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Times, values and errors of a photometry result's finite points."""
    rows = list(data.get("light_curve", ()))
    t = np.array([_num(r.get("time")) for r in rows], dtype=float)
    y = np.array([_num(r.get(key)) for r in rows], dtype=float)
    e = np.array([_num(r.get(f"{key}_error")) for r in rows], dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    e = np.where(np.isfinite(e), e, 0.0)
    return t[ok], y[ok], e[ok]


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _error_bars(x: np.ndarray, y: np.ndarray, e: np.ndarray) -> tuple[list[Any], list[Any]]:
    return [[a, a] for a in x], [[b - c, b + c] for b, c in zip(y, e, strict=True)]


def _limits(scale: bq.LinearScale, values: np.ndarray, pad: float = 0.06) -> None:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return
    lo, hi = float(finite.min()), float(finite.max())
    span = (hi - lo) * pad or abs(lo) * 0.05 or 1.0
    scale.min, scale.max = lo - span, hi + span


class _Plot:
    """A small scatter-with-error-bars or line figure."""

    def __init__(self, xlabel: str, ylabel: str, *, line: bool = False, height: str = "300px"):
        self.xs, self.ys = bq.LinearScale(), bq.LinearScale()
        scales = {"x": self.xs, "y": self.ys}
        self.bars = bq.Lines(x=[[0, 0]], y=[[0, 0]], scales=scales, colors=["#90a4ae"],
                             stroke_width=1)  # fmt: skip
        self.points = bq.Scatter(x=[], y=[], scales=scales, colors=["#1565c0"], default_size=24)
        self.line = bq.Lines(x=[0, 1], y=[0, 0], scales=scales, colors=["#1565c0"])
        self.marker = bq.Lines(x=[0, 0], y=[0, 0], scales=scales, colors=["#d81b60"],
                               line_style="dashed", opacities=[0.0])  # fmt: skip
        marks = [self.line, self.marker] if line else [self.bars, self.points]
        self.figure = bq.Figure(
            marks=marks,
            axes=[bq.Axis(scale=self.xs, label=xlabel, tick_format=".6g"),
                  bq.Axis(scale=self.ys, side="left", label=ylabel,
                          tick_format=".4g")],
            fig_margin={"top": 10, "bottom": 44, "left": 70, "right": 14},
            layout=w.Layout(width="100%", height=height),
        )  # fmt: skip
        self.slot = FigureSlot(self.figure)

    def points_with_errors(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> None:
        bx, by = _error_bars(x, y, e)
        self.bars.x, self.bars.y = (bx, by) if len(bx) else ([[0, 0]], [[0, 0]])
        self.points.x, self.points.y = x, y
        _limits(self.xs, x)
        _limits(self.ys, np.concatenate([y - e, y + e]) if len(y) else y)


class LightCurvePanel(w.VBox):
    """Pick a photometry or period-search result; see its plots.

    Parameters
    ----------
    results : callable
        ``results()`` → the session's finished :class:`CurveResult`.
    """

    def __init__(self, results: Callable[[], Sequence[CurveResult]]) -> None:
        self._results = results
        self.results: list[CurveResult] = []
        self._shown = False
        self.picker = classed(
            w.Dropdown(description="Result", layout=w.Layout(width="auto", min_width="360px"),
                       style={"description_width": "initial"}),
            "sd-dl-curve-picker",
        )  # fmt: skip
        self.picker.observe(lambda c: self.draw(c["new"]), "value")
        self.summary = classed(w.HTML(), "sd-dl-curve-summary")
        self.curve = _Plot("time (MJD)", "relative flux")
        self.periodogram = _Plot("frequency (1/day)", "power", line=True)
        self.phased = _Plot("phase", "value")
        self.curve_title = w.HTML("<div class='sd-dl-section'>Light curve</div>")
        self.gram_title = w.HTML("<div class='sd-dl-section'>Periodogram</div>")
        self.phased_title = w.HTML("<div class='sd-dl-section'>Folded on the best period</div>")
        self.boxes = {
            "curve": w.VBox([self.curve_title, self.curve.slot]),
            "periodogram": w.VBox([self.gram_title, self.periodogram.slot]),
            "phased": w.VBox([self.phased_title, self.phased.slot]),
        }
        self.empty = classed(
            w.HTML("<div class='sd-dl-muted'>no light curve yet: run aperture photometry "
                   "(then a period search on its result)</div>"),
            "sd-dl-curve-empty",
        )  # fmt: skip
        self.drawn: set[str] = set()
        super().__init__(
            [classed(w.HBox([self.picker]), "sd-dl-row"), self.summary, self.empty,
             *self.boxes.values()]
        )  # fmt: skip
        classed(self, "sd-dl-curves")
        self.refresh()

    @property
    def shown(self) -> bool:
        """Whether the figures are in the page (the tab is open)."""
        return self._shown

    @shown.setter
    def shown(self, on: bool) -> None:
        self._shown = bool(on)
        self._slots()

    def _slots(self) -> None:
        for name, box in self.boxes.items():
            on = name in self.drawn
            box.layout.display = None if on else "none"
        self.curve.slot.shown = self._shown and "curve" in self.drawn
        self.periodogram.slot.shown = self._shown and "periodogram" in self.drawn
        self.phased.slot.shown = self._shown and "phased" in self.drawn
        self.empty.layout.display = "none" if self.results else None

    def refresh(self) -> None:
        """Read the session's results again (the newest is drawn when none was picked)."""
        try:
            found = [r for r in self._results() if r.kind]
        except Exception:  # the panel keeps what it had
            return
        self.results = found
        value = self.picker.value
        keys = [r.key for r in found]
        self.picker.options = [(r.label, r.key) for r in found]
        self.picker.value = value if value in keys else (keys[-1] if keys else None)
        if self.picker.value is None:
            self.drawn = set()
            self.summary.value = ""
            self._slots()
        elif self.picker.value == value:
            self.draw(value)

    def draw(self, key: Any) -> None:
        """Draw the result ``key``."""
        result = next((r for r in self.results if r.key == key), None)
        self.drawn = set()
        if result is None:
            self._slots()
            return
        if result.kind == "photometry":
            self._photometry(result)
        else:
            self._period(result)
        self._slots()

    def _photometry(self, result: CurveResult) -> None:
        t, y, e = light_curve_arrays(result.data)
        self.curve.points_with_errors(t, y, e)
        self.drawn = {"curve"}
        stars = len(result.data.get("comparison_stars", ()))
        excluded = len(result.data.get("excluded", ()))
        filt = result.data.get("filter") or "?"
        said = f"{t.size} points · filter {filt} · {stars} comparison star(s)"
        if excluded:
            said += f" · {excluded} frame(s) left out"
        self.summary.value = f"<div class='sd-dl-muted'>{html.escape(said)}</div>"

    def _period(self, result: CurveResult) -> None:
        data = result.data
        f = np.asarray(data.get("frequency", ()), dtype=float)
        p = np.asarray(data.get("power", ()), dtype=float)
        best = data.get("best_period")
        pg = self.periodogram
        pg.line.x, pg.line.y = f, p
        _limits(pg.xs, f, 0.0)
        _limits(pg.ys, np.r_[p, 0.0])
        if isinstance(best, int | float) and best > 0:
            pg.marker.x = [1 / best, 1 / best]
            pg.marker.y = [0, float(np.nanmax(p)) if p.size else 1.0]
            pg.marker.opacities = [1.0]
        else:
            pg.marker.opacities = [0.0]
        self.drawn = {"periodogram"}
        fap = data.get("false_alarm_probability")
        parts = []
        if isinstance(best, int | float):
            parts.append(f"best period {best:.6g} d")
        if isinstance(fap, int | float):
            parts.append(f"false-alarm probability {fap:.3g} ({data.get('fap_method', '')})")
        if data.get("n_points"):
            parts.append(f"{data['n_points']} points over {data.get('time_span', 0):.4g} d")
        self.summary.value = f"<div class='sd-dl-muted'>{html.escape(' · '.join(parts))}</div>"
        if result.series is not None and isinstance(best, int | float) and best > 0:
            t, y, e = (np.asarray(v, dtype=float) if v is not None else None
                       for v in result.series)  # fmt: skip
            assert t is not None and y is not None
            errors = e if e is not None else np.zeros_like(y)
            phase = np.mod(t - t.min(), best) / best
            self.phased.points_with_errors(phase, y, errors)
            self.phased.xs.min, self.phased.xs.max = 0.0, 1.0
            self.drawn.add("phased")
