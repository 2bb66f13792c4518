"""Resolution smearing on an adaptive calculation grid, with precomputed weights.

The smeared reflectivity at a measured point is the unsmeared reflectivity averaged
over the point's Gaussian Q resolution. refl1d computes it by evaluating R(Q) on a set
of *calculation points* (the probe's ``calc_Q``), joining them by straight lines and
integrating that piecewise-linear curve against the Gaussian, which it truncates where
the Gaussian falls below 10⁻³ of its peak and renormalises to the area kept
(:func:`refl1d.sample.reflectivity.convolve`).

Two things make that slow or inaccurate when used as it comes:

* on the data points alone the resolution is badly sampled wherever the points are
  further apart than σ (the low-Q end of constant-dQ/Q data), and at the two ends half
  of the Gaussian has no calculation points at all;
* random oversampling (``probe.oversample(n)``) fixes that with ``n`` × more points
  everywhere, so every evaluation pays for ``n`` × more reflectivities, and the
  convolution (an ``erf`` per point and segment) is re-done on every call.

Here the calculation grid is the data's Q plus evenly spaced points only where the data
is coarser than σ / :data:`POINTS_PER_SIGMA` (and there only within
:data:`TAIL_IN_SIGMA` σ of a point, the reach of its Gaussian), and beyond both ends out
to :data:`TAIL_IN_SIGMA` σ. Those extra points are plain refl1d
:class:`~refl1d.probe.probe.OversampledRegion` objects, so an exported refl1d script
builds exactly the same grid. The convolution weights depend only on the grid, Q and
dQ, so :class:`GridQProbe` computes them once (a sparse matrix, the same integral
refl1d evaluates) and each evaluation is one matrix–vector product.

How fine the grid must be, from the maths of the piecewise-linear rule: with spacing
``h`` the smeared value is off by about ``h²/12`` times the second derivative of the
*smeared* curve. A fringe of period ``2π/D`` survives smearing with a weight
``exp(−D²σ²/2)``, so that error is at most ``(Dσ)² exp(−(Dσ)²/2) / (12 k²) ≤ 0.74 /
(12 k²)`` of the fringe amplitude for ``h = σ/k``, whatever the film thickness:
:data:`POINTS_PER_SIGMA` = 8 keeps it near 0.1 %, and fringes much narrower than σ are
washed out by the resolution itself. Measured against converged integrals, 8 is at least
as accurate as the old 51× random oversampling on every model tried, 6 was not
(tests/reflectometry/test_resolution.py, bench/bench_smearing.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Largest spacing of the calculation grid where the data is sparse, as σ / this.
POINTS_PER_SIGMA = 8
#: The grid reaches this many σ beyond the first and last Q, past refl1d's resolution
#: window (:data:`WINDOW_IN_SIGMA`), so the end points see their whole Gaussian.
TAIL_IN_SIGMA = 4.0
#: refl1d cuts the Gaussian where it falls to 10⁻³ of its peak (``LOG_RESLIMIT`` in
#: refl1d's convolution): at √(−2 ln 10⁻³) σ ≈ 3.717 σ.
WINDOW_IN_SIGMA = math.sqrt(-2.0 * math.log(1e-3))
#: Neighbouring sparse intervals share one evenly spaced region while their finest
#: needed spacing is within this factor of each other (fewer regions, ≤ 25 % more points).
MERGE_RATIO = 1.25

Region = tuple[float, float, int]


def needs_grid(q: FloatArray, dq_sigma: FloatArray) -> bool:
    """Whether smearing ``q`` with ``dq_sigma`` needs calculation points of its own.

    True when there is any resolution at all: the Gaussian of the first and last points
    reaches past the data, and sparse points sample it badly.
    """
    return q.size >= 2 and bool(np.any(dq_sigma > 0))


def calculation_regions(
    q: FloatArray, dq_sigma: FloatArray, points_per_sigma: int = POINTS_PER_SIGMA
) -> list[Region]:
    """Evenly spaced regions ``(Q_start, Q_end, n)`` to calculate R on, besides ``q``.

    Parameters
    ----------
    q : ndarray
        Measured Q (1/Å), any order.
    dq_sigma : ndarray
        Their 1-σ resolution (1/Å).
    points_per_sigma : int
        The grid spacing is at most σ / this wherever the data is sparser.

    Returns
    -------
    list of (float, float, int)
        ``numpy.linspace(Q_start, Q_end, n)`` for each, as refl1d's
        ``OversampledRegion(Q_start, Q_end, n)``: a tail below the first point, one
        region per run of intervals wider than the needed spacing (or, where an
        interval is wider than both ends' Gaussians reach, one at each end), a tail
        above the last point. Empty when there is no resolution.
    """
    q = np.asarray(q, dtype=float)
    sigma = np.asarray(dq_sigma, dtype=float)
    if not needs_grid(q, sigma):
        return []
    order = np.argsort(q, kind="stable")
    qs, ss = q[order], sigma[order]
    reach = TAIL_IN_SIGMA * ss  # how far each point's Gaussian needs the grid
    spacing = ss / points_per_sigma  # the largest grid step near each point (0: none)
    regions: list[Region] = []

    if ss[0] > 0:
        # below the first point: stop short of Q = 0 (there refl1d would compute the
        # reflectivity from the back side); the window is renormalised to what is left
        regions.append(_region(max(qs[0] - reach[0], 0.1 * qs[0]), qs[0], spacing[0]))

    # an interval is filled evenly at the finer spacing of its two ends when their
    # Gaussians overlap in it; otherwise only the two ends' reaches are filled (the
    # middle, further than the resolution window from both, is never used), which keeps
    # the grid bounded for any σ however small
    ends = np.stack([spacing[:-1], spacing[1:]])
    step = np.where(ends > 0, ends, np.inf).min(axis=0)
    width = np.diff(qs)
    sparse = np.isfinite(step) & (width > step)
    overlap = reach[:-1] + reach[1:] >= width
    i, n_intervals = 0, width.size
    while i < n_intervals:
        if not sparse[i]:
            i += 1
            continue
        if not overlap[i]:
            a, b = qs[i], qs[i + 1]
            if spacing[i] > 0:
                regions.append(_region(a, a + reach[i], spacing[i]))
            if spacing[i + 1] > 0:
                regions.append(_region(b - reach[i + 1], b, spacing[i + 1]))
            i += 1
            continue
        # neighbouring filled intervals share one region while their steps are close
        j, finest, coarsest = i, step[i], step[i]
        while j + 1 < n_intervals and sparse[j + 1] and overlap[j + 1]:
            lo, hi = min(finest, step[j + 1]), max(coarsest, step[j + 1])
            if hi > MERGE_RATIO * lo:
                break
            finest, coarsest, j = lo, hi, j + 1
        regions.append(_region(qs[i], qs[j + 1], finest))
        i = j + 1

    if ss[-1] > 0:
        regions.append(_region(qs[-1], qs[-1] + reach[-1], spacing[-1]))
    return regions


def _region(start: float, end: float, step: float) -> Region:
    n = max(2, math.ceil((end - start) / step) + 1)
    return (float(start), float(end), int(n))


def calculation_grid(q: FloatArray, regions: list[Region]) -> FloatArray:
    """The sorted, unique Q where R is calculated: ``q`` and every region's points.

    The same construction as refl1d's ``QProbe`` with ``oversampled_regions`` (and no
    random oversampling), so both give the identical grid.
    """
    parts = [np.asarray(q, dtype=float)]
    parts += [np.linspace(start, end, n) for start, end, n in regions]
    return np.unique(np.hstack(parts))


def smearing_matrix(grid: FloatArray, q: FloatArray, dq_sigma: FloatArray) -> Any:
    """Weights ``W`` such that ``W @ R(grid)`` is R smeared at ``q``.

    R is taken as piecewise linear between the grid points and integrated against a
    Gaussian of width σ = ``dq_sigma``, cut at :data:`WINDOW_IN_SIGMA` σ (extended to
    the grid points just outside) and renormalised to the Gaussian's area over the span
    used: the integral refl1d's ``convolve`` computes, so that a refl1d script with the
    same grid gives the same curve. Points with σ = 0 get linear interpolation.

    Parameters
    ----------
    grid : ndarray
        Sorted, unique calculation Q (at least two points).
    q, dq_sigma : ndarray
        Where to smear, and the 1-σ resolution there.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(q.size, grid.size)``; each row sums to 1.
    """
    # scipy has no type stubs here (mypy is told so in pyproject.toml)
    from scipy.sparse import csr_matrix
    from scipy.special import erf

    grid = np.asarray(grid, dtype=float)
    q = np.asarray(q, dtype=float)
    sigma = np.asarray(dq_sigma, dtype=float)
    n_grid = grid.size
    if n_grid < 2:
        raise ValueError("the calculation grid needs at least two points")
    limit = WINDOW_IN_SIGMA * sigma
    # first segment: from the last grid point at or below q − limit (else the first);
    # last segment: up to the first grid point at or above q + limit (else the last)
    lo = np.searchsorted(grid, q - limit, side="right") - 1
    lo = np.clip(lo, 0, n_grid - 2)
    hi = np.searchsorted(grid, q + limit, side="left")
    hi = np.clip(hi, lo + 1, n_grid - 1)

    smeared = sigma > 0
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[FloatArray] = []

    if np.any(smeared):
        idx = np.flatnonzero(smeared)
        counts = hi[idx] - lo[idx]  # segments per point
        row = np.repeat(idx, counts)
        first = np.repeat(lo[idx], counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        left = first + offset  # segment [left, left + 1]
        x0, x1 = grid[left], grid[left + 1]
        s = sigma[row]
        centre = q[row]
        z0, z1 = (x0 - centre) / s, (x1 - centre) / s
        # ∫ G over the segment, and ∫ (x − q) G over it, for a unit-area Gaussian G
        mass = 0.5 * (erf(z1 / math.sqrt(2.0)) - erf(z0 / math.sqrt(2.0)))
        moment = s / math.sqrt(2.0 * math.pi) * (np.exp(-0.5 * z0 * z0) - np.exp(-0.5 * z1 * z1))
        h = x1 - x0
        # R is linear on the segment: R0 (x1 − x)/h + R1 (x − x0)/h
        w0 = ((x1 - centre) * mass - moment) / h
        w1 = (moment - (x0 - centre) * mass) / h
        # renormalise each point to the Gaussian's area over its span of segments
        total = np.zeros(q.size)
        np.add.at(total, row, mass)
        norm = 1.0 / total[row]
        rows += [row, row]
        cols += [left, left + 1]
        vals += [w0 * norm, w1 * norm]

    if not np.all(smeared):
        idx = np.flatnonzero(~smeared)
        # linear interpolation (extrapolation past the ends) between the grid points
        # around q: the one at or below it (else the first) and the next
        left = np.clip(np.searchsorted(grid, q[idx], side="right") - 1, 0, n_grid - 2)
        x0, x1 = grid[left], grid[left + 1]
        t = (q[idx] - x0) / (x1 - x0)
        rows += [idx, idx]
        cols += [left, left + 1]
        vals += [1.0 - t, t]

    matrix = csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(q.size, n_grid),
    )
    matrix.sum_duplicates()
    return matrix


def grid_probe(q: FloatArray, dq_sigma: FloatArray, regions: list[Region], **kwargs: Any) -> Any:
    """A refl1d ``QProbe`` on ``q`` that calculates R on ``q`` plus ``regions``.

    It smears with :func:`smearing_matrix` (computed once, on first use) instead of
    refl1d's convolution on every call; the curve is the one a plain ``QProbe(...,
    oversampled_regions=regions)`` gives. ``kwargs`` go to ``QProbe``.
    """
    from refl1d.probe.probe import OversampledRegion

    probe = _grid_probe_class()(
        q,
        dq_sigma,
        oversampled_regions=[OversampledRegion(a, b, n) for a, b, n in regions],
        **kwargs,
    )
    return probe


_GRID_PROBE: type | None = None


def _grid_probe_class() -> type:
    """:class:`GridQProbe`, defined on first use (refl1d is imported lazily)."""
    global _GRID_PROBE
    if _GRID_PROBE is None:
        from refl1d.probe.probe import QProbe

        class GridQProbe(QProbe):
            """A ``QProbe`` that smears with precomputed weights on its calc grid."""

            _weights: Any = None
            _weights_grid: Any = None

            def _apply_resolution(self, Qin: Any, Rin: Any, interpolation: int) -> Any:
                if interpolation == 0 and self.resolution == "normal":
                    weights = self._weights_on(Qin)
                    if weights is not None and not np.iscomplexobj(Rin):
                        return self.Q, weights @ Rin
                # anything else (interpolated plots, complex amplitudes): refl1d's own
                return super()._apply_resolution(Qin, Rin, interpolation)

            def _weights_on(self, grid: Any) -> Any:
                calc = self._calc_Q
                if self._weights_grid is not calc:  # first use, or a new calc grid
                    self._weights = smearing_matrix(calc, self.Q, self.dQ)
                    self._weights_grid = calc
                if grid is calc or (grid.shape == calc.shape and np.array_equal(grid, calc)):
                    return self._weights
                return None  # smearing some other curve: no weights for it

        # importable by name (pickle) through the module's __getattr__
        GridQProbe.__module__ = __name__
        GridQProbe.__qualname__ = "GridQProbe"
        _GRID_PROBE = GridQProbe
    return _GRID_PROBE


def __getattr__(name: str) -> Any:
    # GridQProbe subclasses refl1d's QProbe, which is imported only when first needed
    if name == "GridQProbe":
        return _grid_probe_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
