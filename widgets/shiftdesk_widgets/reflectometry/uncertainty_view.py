"""The posterior of a DREAM fit: statistics, correlations, diagnostics, profile band.

Convergence problems are shown at the top in warning colours, never folded away: a
DREAM result whose chains have not settled must not look like a trustworthy one.

The figures are on the page only while they can be seen (:meth:`UncertaintyView.show_figures`;
the dashboard hides them while their tab is not the one open): bqplot lays a figure out in
a hidden tab at zero size, with negative widths the browser reports as errors.
"""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np
from bqplot import (
    Axis,
    ColorScale,
    Figure,
    GridHeatMap,
    LinearScale,
    Lines,
    OrdinalScale,
)

from shiftdesk.display import Markup, table
from shiftdesk.reflectometry import FitResult
from shiftdesk.reflectometry.uncertainty import RHAT_LIMIT, ProfileBand, Uncertainty
from shiftdesk_widgets.reflectometry.plots import dataset_colors, legend_html

_BAND = dataset_colors(0)[0]
#: The heat map's colour key (bqplot's colour axis is 10 px long in a 300 px figure)
CORRELATION_KEY = (
    "<div class='sd-unc-key' style='padding-left:140px;font-size:12px'>"
    "−1 <span style='display:inline-block;width:160px;height:10px;vertical-align:middle;"
    "background:linear-gradient(to right, #b2182b, #f7f7f7, #2166ac)'></span> +1"
    " <span style='color:#555'>correlation</span></div>"
)


def _band_legend(color: str) -> str:
    """The band's key, under its figure (inside, it covered the profile's peak)."""
    return legend_html(
        [("95 %", color, "fill 0.15"), ("68 %", color, "fill 0.35"), ("best", "#000", "solid")]
    )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class UncertaintyView(w.VBox):
    """Statistics table, correlation heat map, diagnostics and SLD-profile band.

    Parameters
    ----------
    source : Uncertainty or FitResult, optional
        What to show first; :meth:`show` changes it.
    """

    def __init__(self, source: Uncertainty | FitResult | None = None) -> None:
        self.uncertainty: Uncertainty | None = None
        self._figures_shown = True
        self.stale = w.HTML()
        self.stale.add_class("sd-unc-stale")
        self.status = w.HTML()
        self.status.add_class("sd-unc-status")
        self.warnings = w.HTML()
        self.warnings.add_class("sd-unc-warnings")
        self.stats = w.HTML()
        self.stats.add_class("sd-unc-stats")
        self.diagnostics = w.HTML()
        self.diagnostics.add_class("sd-unc-diagnostics")
        self.correlation_table = w.HTML()
        self.correlation_table.add_class("sd-unc-correlation")

        # correlation heat map: fixed colour range -1..1 so colours mean the same everywhere
        self.corr_colors = ColorScale(min=-1.0, max=1.0, scheme="RdBu")
        self.corr_x = OrdinalScale()
        self.corr_y = OrdinalScale(reverse=True)
        # (bqplot squeezes a 1 × 1 colour array to a scalar and refuses it: start at 2 × 2)
        self.heatmap = GridHeatMap(
            color=np.zeros((2, 2)),
            row=["", " "],
            column=["", " "],
            scales={"row": self.corr_y, "column": self.corr_x, "color": self.corr_colors},
        )
        # names like "d2o.film1.thickness" need the margins; the colour key is below
        self.heatmap_figure = Figure(
            marks=[self.heatmap],
            axes=[
                Axis(scale=self.corr_x, tick_rotate=-45, tick_style={"text-anchor": "end"}),
                Axis(scale=self.corr_y, side="left"),
            ],
            layout=w.Layout(height="340px", width="420px"),
            fig_margin={"top": 10, "bottom": 120, "left": 140, "right": 10},
        )
        self.correlation_key = w.HTML(CORRELATION_KEY)
        self.heatmap_box = w.VBox([self.heatmap_figure, self.correlation_key])

        # profile band: 95 % and 68 % filled between their envelopes, best profile on top
        self.x = LinearScale()
        self.y = LinearScale()
        scales = {"x": self.x, "y": self.y}
        self.band95 = Lines(
            x=[], y=[], scales=scales, fill="between", colors=[_BAND], fill_colors=[_BAND],
            fill_opacities=[0.15], opacities=[0.0], labels=["95 %"],
        )  # fmt: skip
        self.band68 = Lines(
            x=[], y=[], scales=scales, fill="between", colors=[_BAND], fill_colors=[_BAND],
            fill_opacities=[0.35], opacities=[0.0], labels=["68 %"],
        )  # fmt: skip
        self.best = Lines(
            x=[], y=[], scales=scales, colors=["#000"], stroke_width=1.5, labels=["best"],
        )  # fmt: skip
        self.band_figure = Figure(
            marks=[self.band95, self.band68, self.best],
            axes=[
                Axis(scale=self.x, label="depth from front interface (Å)"),
                Axis(scale=self.y, side="left", label="SLD (10⁻⁶/Å²)"),
            ],
            layout=w.Layout(height="280px", width="100%"),
            fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10},
        )
        self.band_legend = w.HTML(_band_legend(_BAND))
        self.band_choice = w.Dropdown(description="data set", options=[])
        self.band_choice.observe(lambda _c: self._draw_band(), "value")
        self.band_note = w.HTML()
        # the figures go into these boxes while they can be seen (show_figures)
        self.correlation_box = w.HBox([self.correlation_table])
        self.band_box = w.VBox([])
        super().__init__(
            [
                self.stale,
                self.status,
                self.warnings,
                self.stats,
                self.correlation_box,
                self.diagnostics,
                w.HTML("<b>SLD profile band</b>"),
                self.band_choice,
                self.band_box,
                self.band_note,
            ]
        )
        self.add_class("sd-uncertainty")
        self.show(source)

    @property
    def figures(self) -> list[Figure]:
        """The figures on the page now."""
        children = [*self.correlation_box.children, *self.band_box.children]
        if self.heatmap_box in children:
            children.append(self.heatmap_figure)
        return [child for child in children if isinstance(child, Figure)]

    def show_figures(self, shown: bool) -> None:
        """Put the figures on the page (``shown``) or take them off (a hidden tab)."""
        self._figures_shown = shown
        self._place_figures()

    def _place_figures(self) -> None:
        u = self.uncertainty
        heatmap = self._figures_shown and u is not None and len(u.paths) > 1
        correlation = (
            [self.heatmap_box, self.correlation_table] if heatmap else [self.correlation_table]
        )
        if list(self.correlation_box.children) != correlation:
            self.correlation_box.children = correlation
        shown = self._figures_shown and u is not None
        band = [self.band_figure, self.band_legend] if shown else []
        if list(self.band_box.children) != band:
            self.band_box.children = band

    def mark_stale(self, stale: bool = True) -> None:
        """Say that the model was changed after this fit (its posterior is not the curve's)."""
        self.stale.value = (
            "<div style='color:#a15c00'>⚠ the model was changed after this fit: these "
            "statistics describe the fit, not the curve drawn now</div>"
            if stale and self.uncertainty is not None
            else ""
        )

    def show(self, source: Uncertainty | FitResult | None) -> None:
        """Show DREAM statistics (a FitResult without them shows a short note)."""
        uncertainty = source.uncertainty if isinstance(source, FitResult) else source
        self.uncertainty = uncertainty
        self.stale.value = ""
        with self.hold_sync():
            self._place_figures()
            if uncertainty is None:
                self.status.value = (
                    "<i>no posterior: uncertainty statistics come from a DREAM fit</i>"
                    if isinstance(source, FitResult)
                    else "<i>no DREAM result to show</i>"
                )
                for box in (self.warnings, self.stats, self.diagnostics, self.correlation_table):
                    box.value = ""
                self.band_choice.options = []
                self._clear_band()
                return
            self._show_status(uncertainty)
            self._show_stats(uncertainty)
            self._show_correlation(uncertainty)
            self._show_diagnostics(uncertainty)
            names = list(uncertainty.bands)
            keep = self.band_choice.value if self.band_choice.value in names else None
            self.band_choice.options = names
            self.band_choice.value = keep or (names[0] if names else None)
            self.band_choice.layout.display = None if len(uncertainty.bands) > 1 else "none"
            self._draw_band()

    # -- parts ---------------------------------------------------------------------------
    def _show_status(self, u: Uncertainty) -> None:
        d = u.diagnostics
        if d.converged:
            self.status.value = (
                "<span class='sd-ok'>✔ DREAM converged</span> "
                f"({d.samples} samples, {d.chains} chains)"
            )
        else:
            self.status.value = (
                "<span class='sd-bad'><b>⚠ DREAM did NOT converge</b></span> — the "
                "intervals below are not yet trustworthy"
            )
        self.warnings.value = "".join(
            f"<div class='sd-warn' style='color:#a15c00'>⚠ {html.escape(text)}</div>"
            for text in d.warnings
        )

    def _show_stats(self, u: Uncertainty) -> None:
        rows = []
        for path, s in u.parameters.items():
            rhat: object = "–" if s.rhat is None else f"{s.rhat:.3f}"
            if s.rhat is not None and s.rhat > RHAT_LIMIT:
                rhat = Markup(f"<span class='sd-bad' style='color:#b00020'>{rhat}</span>")
            rows.append(
                (
                    path,
                    _fmt(s.best),
                    _fmt(s.mean),
                    _fmt(s.median),
                    _fmt(s.std),
                    f"[{_fmt(s.p68[0])}, {_fmt(s.p68[1])}]",
                    f"[{_fmt(s.p95[0])}, {_fmt(s.p95[1])}]",
                    rhat,
                )
            )
        header = ["parameter", "best", "mean", "median", "std", "68 %", "95 %", "R-hat"]
        self.stats.value = table(rows, header)

    def _show_correlation(self, u: Uncertainty) -> None:
        paths = u.paths
        matrix = np.array(
            [[np.nan if v is None else v for v in row] for row in u.correlation], dtype=float
        )
        # a single parameter has no correlations to map (and bqplot refuses 1 × 1): the
        # heat map is then left off the page (_place_figures)
        if len(paths) > 1:
            # row, column and colour are checked against each other: all three at once
            # (one by one, a 2 × 2 map refused its third row)
            with self.heatmap.hold_sync(), self.heatmap.hold_trait_notifications():
                self.heatmap.row = paths
                self.heatmap.column = paths
                self.heatmap.color = np.nan_to_num(matrix, nan=0.0)
        rows = [
            [path, *("–" if v is None else f"{v:+.2f}" for v in row)]
            for path, row in zip(paths, u.correlation, strict=True)
        ]
        self.correlation_table.value = "<b>correlations</b>" + table(rows, ["", *paths])

    def _show_diagnostics(self, u: Uncertainty) -> None:
        d = u.diagnostics
        max_rhat = "–" if d.max_rhat is None else f"{d.max_rhat:.3f} (limit {RHAT_LIMIT:g})"
        rows = [
            ("converged", "yes" if d.converged else "NO"),
            ("largest R-hat", max_rhat),
            ("acceptance rate", f"{d.acceptance_rate:.1%}"),
            ("burn point (K–S test)", "not found" if d.burn_point is None else str(d.burn_point)),
            ("generations (burn-in asked)", f"{d.generations} ({d.burn})"),
            ("posterior samples used", f"{d.samples} ({d.portion:.0%} of the stored chain)"),
            ("chains", str(d.chains)),
        ]
        self.diagnostics.value = "<b>diagnostics</b>" + table(rows)

    def _clear_band(self) -> None:
        for mark in (self.band95, self.band68, self.best):
            mark.x, mark.y = [], []
        self.band_note.value = ""

    def _draw_band(self) -> None:
        u = self.uncertainty
        name = self.band_choice.value
        if u is None or name is None or name not in u.bands:
            self._clear_band()
            return
        band: ProfileBand = u.bands[name]
        depth = np.asarray(band.depth)
        color = dataset_colors(list(u.bands).index(name))[0]  # the data set's own colour
        with self.hold_sync():
            for mark in (self.band95, self.band68):
                mark.colors, mark.fill_colors = [color], [color]
            self.band_legend.value = _band_legend(color)
            self.band95.x, self.band95.y = depth, np.vstack(band.p95)
            self.band68.x, self.band68.y = depth, np.vstack(band.p68)
            self.best.x, self.best.y = depth, np.asarray(band.best)
        self.band_note.value = f"<small>envelopes of {band.draws} posterior profiles</small>"
