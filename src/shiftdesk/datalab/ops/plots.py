"""Plot images of photometry results (light curves, periodograms), with thumbnails.

matplotlib draws them off screen (its Agg canvas, never pyplot: no global figure state
in a kernel that may show other plots).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shiftdesk.datalab.ops.base import Preview, RunContext
from shiftdesk.datalab.ops.images import THUMBNAIL_SIZE


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, ctx: RunContext, stem: str) -> Preview:
    from PIL import Image

    full = ctx.output(f"{stem}.png")
    fig.savefig(full, format="png")
    thumb = ctx.output(f"{stem}_thumb.png")
    with Image.open(full) as image:
        image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
        image.save(thumb, format="PNG")
    return Preview(full, thumb)


def light_curve(
    ctx: RunContext,
    stem: str,
    times: Sequence[float],
    values: Sequence[float],
    errors: Sequence[float],
    title: str,
    ylabel: str = "relative flux",
) -> Preview:
    """Points with error bars over time (MJD)."""
    fig, ax = _figure()
    t = np.asarray(times, dtype=float)
    offset = float(np.floor(t.min())) if t.size else 0.0
    ax.errorbar(t - offset, values, yerr=errors, fmt="o", ms=4, capsize=2, color="#1f5fa8")
    ax.set_xlabel(f"MJD - {offset:.0f}")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, ctx, stem)


def periodogram(
    ctx: RunContext,
    stem: str,
    frequency: np.ndarray,
    power: np.ndarray,
    best_period: float,
    fap: float,
) -> Preview:
    """Lomb-Scargle power against period (log axis), the best period marked."""
    fig, ax = _figure()
    ax.plot(1.0 / frequency, power, color="#1f5fa8", lw=1)
    ax.axvline(best_period, color="#c0392b", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("period (days)")
    ax.set_ylabel("Lomb-Scargle power")
    ax.set_title(f"best period {best_period:.6g} d, false-alarm probability {fap:.3g}")
    ax.grid(alpha=0.3)
    return _save(fig, ctx, stem)


def phased(
    ctx: RunContext,
    stem: str,
    times: np.ndarray,
    values: np.ndarray,
    errors: np.ndarray | None,
    period: float,
) -> Preview:
    """The light curve folded on ``period`` (two cycles shown)."""
    fig, ax = _figure()
    phase = np.mod(times - times.min(), period) / period
    for shift in (0.0, 1.0):
        ax.errorbar(
            phase + shift, values, yerr=errors, fmt="o", ms=3, capsize=0, color="#1f5fa8", alpha=0.8
        )
    ax.set_xlabel(f"phase (period {period:.6g} d)")
    ax.set_ylabel("value")
    ax.set_xlim(0, 2)
    ax.grid(alpha=0.3)
    return _save(fig, ctx, stem)
