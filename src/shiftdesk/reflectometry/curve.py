"""The result of evaluating a model: R(Q), the SLD profile and χ² against data.

:class:`ReflectivityCurve` is one model on one Q grid; :class:`Curves` holds every data
set's curve of a problem, as :meth:`FitProblem.curves` computes (and keeps) them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from shiftdesk.display import html_repr, table
from shiftdesk.reflectometry.data import ReflData

FloatArray = NDArray[np.float64]
Profile = tuple[FloatArray, FloatArray, FloatArray]


@dataclass(eq=False)
class ReflectivityCurve:
    """Model reflectivity on a Q grid, with the SLD profile and χ² when data was given.

    Attributes
    ----------
    q, r : ndarray
        Q (1/Å) and model reflectivity.
    data : ReflData or None
        The data the curve was computed on (``None`` for a custom Q grid).
    chi2 : float or None
        Σ((R − R_model)/dR)² / (N − free parameters) over the points inside the fit
        Q range, the normalisation bumps reports.
    in_range : ndarray of bool or None
        Which data points are inside the fit Q range.
    resolution : bool
        Whether the curve is smeared by the Q resolution.
    oversampling : int
        refl1d's random oversampling (points per Q) when the problem's
        ``oversampling`` is a number; 0 otherwise.
    calc_points : int
        How many Q the reflectivity was calculated at for this curve: the Q points,
        plus the resolution grid of ``oversampling="auto"`` or the random oversampling.
    """

    q: FloatArray
    r: FloatArray
    data: ReflData | None = None
    chi2: float | None = None
    in_range: NDArray[np.bool_] | None = None
    resolution: bool = True
    oversampling: int = 0
    calc_points: int = 0
    _profile_source: Callable[[], Profile] | None = field(default=None, repr=False)
    _profile: Profile | None = field(default=None, repr=False)

    @property
    def residuals(self) -> FloatArray | None:
        """(R − R_model)/dR at every data point, or ``None`` without data."""
        if self.data is None:
            return None
        return (self.data.r - self.r) / self.data.dr

    @property
    def profile(self) -> Profile:
        """``(depth, sld, isld)``: depth in Å from the front interface, SLD in 10⁻⁶/Å²."""
        if self._profile is None:
            if self._profile_source is None:
                raise ValueError("this curve carries no SLD profile")
            self._profile = self._profile_source()
            self._profile_source = None
        return self._profile

    def to_text(self) -> str:
        """Columns Q R_model (and R dR dQ residual when there is data), for download."""
        buffer = io.StringIO()
        if self.data is None:
            np.savetxt(buffer, np.column_stack([self.q, self.r]), header="Q R_model", fmt="%.10g")
        else:
            residuals = self.residuals
            assert residuals is not None
            columns = [self.q, self.data.r, self.data.dr, self.data.dq, self.r, residuals]
            header = (
                f"data: {self.data.name}; chi2 = {self.chi2:.6g}\n"
                "Q R dR dQ(FWHM) R_model (R-R_model)/dR"
            )
            np.savetxt(buffer, np.column_stack(columns), header=header, fmt="%.10g")
        return buffer.getvalue()

    def __repr__(self) -> str:
        chi2 = f", chi2={self.chi2:.4g}" if self.chi2 is not None else ""
        return f"<ReflectivityCurve {self.q.size} points{chi2}>"

    def _repr_html_(self) -> str:
        rows = [
            ("points", self.q.size),
            ("Q range", f"{self.q[0]:.4g} – {self.q[-1]:.4g} 1/Å"),
            ("resolution", "on" if self.resolution else "off"),
        ]
        if self.chi2 is not None:
            rows.append(("χ²", f"{self.chi2:.4g}"))
        title = self.data.name if self.data is not None else "model"
        return html_repr("ReflectivityCurve", title, repr(self), table(rows))


@dataclass(frozen=True, eq=False)
class Curves(Mapping[str, ReflectivityCurve]):
    """Every data set's model curve, by data set name (first data set first).

    Returned by :meth:`~shiftdesk.reflectometry.FitProblem.curves`, which computes it
    once per ``revision`` of the problem (every edit makes a new revision).
    """

    revision: int
    by_name: dict[str, ReflectivityCurve]

    def __getitem__(self, name: str) -> ReflectivityCurve:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    @property
    def first(self) -> ReflectivityCurve:
        """The first data set's curve."""
        return next(iter(self.by_name.values()))

    @property
    def chi2(self) -> dict[str, float | None]:
        """χ² of each data set (``None`` for one without data)."""
        return {name: curve.chi2 for name, curve in self.by_name.items()}

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {curve!r}" for name, curve in self.by_name.items())
        return f"<Curves revision {self.revision}: {parts}>"

    def _repr_html_(self) -> str:
        rows = [
            (
                name,
                curve.data.name if curve.data is not None else "model only",
                curve.q.size,
                f"{curve.chi2:.4g}" if curve.chi2 is not None else "",
            )
            for name, curve in self.by_name.items()
        ]
        body = table(rows, ["data set", "data", "points", "χ²"])
        return html_repr("Curves", f"revision {self.revision}", repr(self), body)
