"""What a DREAM run says about the parameters: posterior statistics, correlations,
convergence diagnostics and an SLD-profile band.

Everything here is plain JSON-ready data, so it travels back from a fit worker and is
stored with the fit result; the bumps ``MCMCDraw`` state itself never leaves the worker.
The numbers come from bumps' own tools (``var_stats`` for intervals, ``gelman`` for
R-hat, ``burn_point`` for the Kolmogorov–Smirnov burn-in test, ``form_quantiles`` for
the profile envelopes), applied to the same posterior portion bumps reports from.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shiftdesk.display import Markup, escape, html_repr, table

SCHEMA = "shiftdesk.reflectometry.uncertainty/1"
#: Chains whose Gelman–Rubin R-hat exceeds this have not mixed (Gelman et al. suggest 1.1–1.2).
RHAT_LIMIT = 1.2
#: Posterior draws used for the SLD-profile band.
BAND_DRAWS = 100
#: Points of the common depth grid of the band.
BAND_POINTS = 300
#: Message start that callers and tests look for when DREAM has not converged.
NOT_CONVERGED = "DREAM did not converge"

FloatArray = NDArray[np.float64]
#: ``profiles(point) -> {model name: (depth, rho)}`` at a parameter vector.
ProfileFunction = Callable[[FloatArray], Mapping[str, tuple[FloatArray, FloatArray]]]


def _finite(value: Any) -> float | None:
    """A JSON-safe float: NaN and inf become None (JSON has no NaN)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _pair(values: Sequence[Any]) -> tuple[float, float]:
    return float(values[0]), float(values[1])


@dataclass(frozen=True)
class ParameterStats:
    """Posterior summary of one fitted parameter.

    Attributes
    ----------
    path : str
        The parameter (``"SiO2.thickness"``).
    best : float
        The best point the fit found (the fitted value).
    mean, median, std : float
        Of the posterior sample.
    p68, p95 : (float, float)
        Central 68 % and 95 % credible intervals.
    rhat : float or None
        Gelman–Rubin statistic over the chains (≈ 1 when they agree).
    """

    path: str
    best: float
    mean: float
    median: float
    std: float
    p68: tuple[float, float]
    p95: tuple[float, float]
    rhat: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "best": self.best,
            "mean": self.mean,
            "median": self.median,
            "std": self.std,
            "p68": list(self.p68),
            "p95": list(self.p95),
            "rhat": self.rhat,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ParameterStats:
        """Inverse of :meth:`to_dict`."""
        rhat = state.get("rhat")
        return cls(
            path=str(state["path"]),
            best=float(state["best"]),
            mean=float(state["mean"]),
            median=float(state["median"]),
            std=float(state["std"]),
            p68=_pair(state["p68"]),
            p95=_pair(state["p95"]),
            rhat=None if rhat is None else float(rhat),
        )


@dataclass(frozen=True)
class Diagnostics:
    """Whether the DREAM chains can be trusted.

    Attributes
    ----------
    converged : bool
        The burn-in test found a burn point and every R-hat is below :data:`RHAT_LIMIT`.
    rhat : dict
        Gelman–Rubin R-hat per parameter (None where it cannot be computed).
    acceptance_rate : float
        Mean fraction (0–1) of proposals accepted over the analysed generations.
    burn_point : int or None
        Stored generation where the chains settled (K–S test); None when none was found.
    generations : int
        Generations run, burn-in included.
    burn : int
        Burn-in generations asked for.
    portion : float
        Fraction of the stored chain used for the statistics.
    samples : int
        Posterior points the statistics are computed from.
    chains : int
        Number of Markov chains (population).
    warnings : list of str
        What is wrong, in words; empty when converged.
    """

    converged: bool
    rhat: dict[str, float | None]
    acceptance_rate: float
    burn_point: int | None
    generations: int
    burn: int
    portion: float
    samples: int
    chains: int
    warnings: list[str] = field(default_factory=list)

    @property
    def max_rhat(self) -> float | None:
        """The largest R-hat (None when none was computed)."""
        values = [v for v in self.rhat.values() if v is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "converged": self.converged,
            "rhat": dict(self.rhat),
            "acceptance_rate": self.acceptance_rate,
            "burn_point": self.burn_point,
            "generations": self.generations,
            "burn": self.burn,
            "portion": self.portion,
            "samples": self.samples,
            "chains": self.chains,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Diagnostics:
        """Inverse of :meth:`to_dict`."""
        burn_point = state.get("burn_point")
        return cls(
            converged=bool(state["converged"]),
            rhat={k: None if v is None else float(v) for k, v in state["rhat"].items()},
            acceptance_rate=float(state["acceptance_rate"]),
            burn_point=None if burn_point is None else int(burn_point),
            generations=int(state["generations"]),
            burn=int(state.get("burn", 0)),
            portion=float(state["portion"]),
            samples=int(state["samples"]),
            chains=int(state["chains"]),
            warnings=[str(w) for w in state.get("warnings", [])],
        )


@dataclass(frozen=True)
class ProfileBand:
    """SLD profile envelopes from posterior draws, on a common depth grid.

    Depth is in Å from the front (incident-medium) interface into the sample, as in
    :meth:`FitProblem.evaluate`'s profile; SLD in 10⁻⁶/Å².

    Attributes
    ----------
    depth : list of float
        The common grid.
    best : list of float
        The profile at the best point.
    p68, p95 : (list of float, list of float)
        Lower and upper envelopes holding 68 % and 95 % of the drawn profiles.
    draws : int
        Number of posterior profiles behind the envelopes.
    """

    depth: list[float]
    best: list[float]
    p68: tuple[list[float], list[float]]
    p95: tuple[list[float], list[float]]
    draws: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "depth": self.depth,
            "best": self.best,
            "p68": [self.p68[0], self.p68[1]],
            "p95": [self.p95[0], self.p95[1]],
            "draws": self.draws,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ProfileBand:
        """Inverse of :meth:`to_dict`."""

        def floats(values: Sequence[Any]) -> list[float]:
            return [float(v) for v in values]

        return cls(
            depth=floats(state["depth"]),
            best=floats(state["best"]),
            p68=(floats(state["p68"][0]), floats(state["p68"][1])),
            p95=(floats(state["p95"][0]), floats(state["p95"][1])),
            draws=int(state["draws"]),
        )


@dataclass(frozen=True)
class Uncertainty:
    """The posterior of a DREAM fit, in a form that survives JSON.

    Attributes
    ----------
    parameters : dict of str to ParameterStats
        Per free parameter, in fit order.
    correlation : list of list of float or None
        Pearson correlation matrix of the posterior, rows and columns in the order of
        ``parameters`` (None where a parameter did not vary).
    diagnostics : Diagnostics
        Convergence tests and their warnings.
    bands : dict of str to ProfileBand
        SLD-profile band per model (one per data set), keyed by data set name.
    """

    parameters: dict[str, ParameterStats]
    correlation: list[list[float | None]]
    diagnostics: Diagnostics
    bands: dict[str, ProfileBand] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """Shortcut for ``diagnostics.converged``."""
        return self.diagnostics.converged

    @property
    def paths(self) -> list[str]:
        """Parameter paths in fit order (the order of the correlation matrix)."""
        return list(self.parameters)

    def correlation_of(self, a: str, b: str) -> float | None:
        """The correlation between two parameters by path."""
        paths = self.paths
        return self.correlation[paths.index(a)][paths.index(b)]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per-parameter mean, median, best, std, p68, p95 (the older ``FitResult.dream``)."""
        return {
            path: {
                "mean": s.mean,
                "median": s.median,
                "best": s.best,
                "std": s.std,
                "p68": list(s.p68),
                "p95": list(s.p95),
            }
            for path, s in self.parameters.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no NaN: missing values are None)."""
        return {
            "schema": SCHEMA,
            "parameters": [s.to_dict() for s in self.parameters.values()],
            "correlation": self.correlation,
            "diagnostics": self.diagnostics.to_dict(),
            "bands": {name: band.to_dict() for name, band in self.bands.items()},
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Uncertainty:
        """Inverse of :meth:`to_dict`."""
        if state.get("schema") != SCHEMA:
            raise ValueError(
                f"not shiftdesk DREAM statistics (schema {state.get('schema')!r}, "
                f"expected {SCHEMA!r})"
            )
        stats = [ParameterStats.from_dict(item) for item in state["parameters"]]
        return cls(
            parameters={s.path: s for s in stats},
            correlation=[
                [None if v is None else float(v) for v in row] for row in state["correlation"]
            ],
            diagnostics=Diagnostics.from_dict(state["diagnostics"]),
            bands={
                str(name): ProfileBand.from_dict(band)
                for name, band in state.get("bands", {}).items()
            },
        )

    def __repr__(self) -> str:
        d = self.diagnostics
        status = "converged" if d.converged else "NOT converged"
        lines = [
            f"Uncertainty(DREAM, {status}: {d.samples} samples from {d.chains} chains, "
            f"acceptance {d.acceptance_rate:.0%})"
        ]
        for path, s in self.parameters.items():
            rhat = "" if s.rhat is None else f"  R-hat {s.rhat:.3f}"
            lines.append(
                f"  {path:<24} best {s.best:.6g}  median {s.median:.6g}  "
                f"68% [{s.p68[0]:.6g}, {s.p68[1]:.6g}]  95% [{s.p95[0]:.6g}, {s.p95[1]:.6g}]" + rhat
            )
        lines.extend(f"  warning: {w}" for w in d.warnings)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for path, s in self.parameters.items():
            rhat = "" if s.rhat is None else f"{s.rhat:.3f}"
            if s.rhat is not None and s.rhat > RHAT_LIMIT:
                rhat = Markup(f"<span class='sd-bad'>{escape(rhat)}</span>")
            rows.append(
                (
                    path,
                    f"{s.best:.6g}",
                    f"{s.mean:.6g}",
                    f"{s.median:.6g}",
                    f"[{s.p68[0]:.6g}, {s.p68[1]:.6g}]",
                    f"[{s.p95[0]:.6g}, {s.p95[1]:.6g}]",
                    rhat,
                )
            )
        d = self.diagnostics
        status = (
            "<span class='sd-ok'>converged</span>"
            if d.converged
            else "<span class='sd-bad'>NOT converged</span>"
        )
        body = (
            f"<div>{status} · {d.samples} samples · {d.chains} chains · acceptance "
            f"{d.acceptance_rate:.0%}</div>"
            + table(rows, ["parameter", "best", "mean", "median", "68 %", "95 %", "R-hat"])
            + "".join(f"<div class='sd-warn'>⚠ {escape(w)}</div>" for w in d.warnings)
        )
        return html_repr("Uncertainty", "DREAM posterior", repr(self), body)


# -- computing it ------------------------------------------------------------------------
def gelman_rubin(chains: FloatArray) -> list[float | None]:
    """R-hat per variable of ``chains`` (generations × chains × variables), by bumps.

    Fewer than two generations or chains give None (the statistic is undefined).
    """
    from bumps.dream.gelman import gelman

    chains = np.asarray(chains, dtype=float)
    if chains.ndim != 3:
        raise ValueError("chains must be a generations × chains × variables array")
    if chains.shape[0] < 2 or chains.shape[1] < 2:
        return [None] * chains.shape[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = gelman(chains, portion=1.0)
    # a parameter that never moved has 0/0 = NaN: not a convergence statement either way
    return [_finite(v) if float(v) >= 0 else None for v in values]


def convergence_warnings(
    rhat: Mapping[str, float | None],
    burn_point: int | None,
    acceptance_rate: float,
    *,
    limit: float = RHAT_LIMIT,
) -> list[str]:
    """Say in words what the diagnostics mean; empty when the chains can be trusted."""
    messages: list[str] = []
    if burn_point is None:
        messages.append(
            f"{NOT_CONVERGED} (the chains still drift): run longer (more samples or "
            "burn) before trusting the uncertainties"
        )
    high = {path: value for path, value in rhat.items() if value is not None and value > limit}
    if high:
        listed = ", ".join(f"{path} {value:.2f}" for path, value in high.items())
        prefix = "" if messages else f"{NOT_CONVERGED}: "
        messages.append(
            f"{prefix}the chains disagree (Gelman–Rubin R-hat above {limit:g}: {listed}); "
            "run longer (more samples or burn) before trusting these intervals"
        )
    if acceptance_rate < 0.05:
        messages.append(
            f"only {acceptance_rate:.1%} of DREAM's proposals were accepted: the posterior "
            "is very narrow or the ranges very wide; narrow the parameter ranges"
        )
    return messages


def profile_band(
    profiles: Sequence[tuple[FloatArray, FloatArray]],
    best: tuple[FloatArray, FloatArray],
    points: int = BAND_POINTS,
) -> ProfileBand:
    """68 % and 95 % envelopes of SLD profiles interpolated onto one depth grid.

    Parameters
    ----------
    profiles : list of (depth, rho)
        Profiles at posterior draws (depth increasing).
    best : (depth, rho)
        The profile at the best point (the grid covers it too).
    points : int
        Grid points.
    """
    from bumps.plotutil import form_quantiles

    if not profiles:
        raise ValueError("a profile band needs at least one posterior profile")
    every = [*profiles, best]
    lo = min(float(z[0]) for z, _ in every)
    hi = max(float(z[-1]) for z, _ in every)
    grid = np.linspace(lo, hi, points)
    # beyond a profile's ends its media continue, so holding the end values is exact
    matrix = np.vstack([np.interp(grid, z, rho) for z, rho in profiles])
    _, values = form_quantiles(matrix, [68, 95])  # values: contour × (low, high) × depth
    return ProfileBand(
        depth=grid.tolist(),
        best=np.interp(grid, best[0], best[1]).tolist(),
        p68=(values[0][0].tolist(), values[0][1].tolist()),
        p95=(values[1][0].tolist(), values[1][1].tolist()),
        draws=len(profiles),
    )


def dream_uncertainty(
    state: Any,
    paths: Sequence[str],
    best: Sequence[float],
    *,
    burn: int = 0,
    profiles: ProfileFunction | None = None,
    band_draws: int = BAND_DRAWS,
    seed: int = 0,
) -> Uncertainty:
    """Summarise a finished DREAM run.

    Parameters
    ----------
    state : bumps.dream.state.MCMCDraw
        The sampler state (``FitDriver.fitter.state``).
    paths : list of str
        Parameter paths in the order of the state's variables.
    best : sequence of float
        The best point (the fit's result).
    burn : int
        Burn-in generations that were asked for (reported only).
    profiles : callable, optional
        ``profiles(point) -> {name: (depth, rho)}``; when given, a band per name from
        ``band_draws`` posterior points. The caller restores its model afterwards.
    band_draws : int
        Posterior points for the band (fewer if the sample is smaller).
    seed : int
        Seeds the choice of band draws (so the same run gives the same band).
    """
    from bumps.dream.convergence import burn_point as ks_burn_point
    from bumps.dream.stats import var_stats

    paths = list(paths)
    draw = state.draw()  # the portion bumps trusts (trimmed at its burn point)
    if draw.points.shape[1] != len(paths):
        raise ValueError(
            f"the DREAM state has {draw.points.shape[1]} variables for {len(paths)} paths"
        )
    portion = float(state.portion)

    _, chains, _ = state.chains()
    start = int((1 - portion) * len(chains))
    rhat_values = gelman_rubin(chains[start:, state._good_chains, :])
    rhat = dict(zip(paths, rhat_values, strict=True))
    _, accept = state.acceptance_rate(portion)
    # bumps stores acceptance in percent per generation
    acceptance = float(np.mean(accept)) / 100.0 if len(accept) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # burn_point warns "Did not converge!"; we say why
        index = int(ks_burn_point(state))
    burn_at = index if index >= 0 else None
    messages = convergence_warnings(rhat, burn_at, acceptance)

    stats: dict[str, ParameterStats] = {}
    for path, vstats, value in zip(paths, var_stats(draw), best, strict=True):
        stats[path] = ParameterStats(
            path=path,
            best=float(value),
            mean=float(vstats.mean),
            median=float(vstats.median),
            std=float(vstats.std),
            p68=_pair(vstats.p68),
            p95=_pair(vstats.p95),
            rhat=rhat[path],
        )

    points = np.asarray(draw.points, dtype=float)
    if points.shape[0] > 1 and points.shape[1] > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.atleast_2d(np.corrcoef(points, rowvar=False))
        # exactly symmetric with a unit diagonal (corrcoef leaves last-bit asymmetries)
        matrix = (matrix + matrix.T) / 2
        np.fill_diagonal(matrix, np.where(np.isfinite(np.diag(matrix)), 1.0, np.nan))
    else:
        matrix = np.full((len(paths), len(paths)), np.nan)
    correlation = [[_finite(v) for v in row] for row in matrix]

    bands: dict[str, ProfileBand] = {}
    if profiles is not None and points.shape[0] > 0:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(points.shape[0], size=min(band_draws, points.shape[0]), replace=False)
        drawn = [profiles(points[i]) for i in chosen]
        at_best = profiles(np.asarray(best, dtype=float))
        for name, best_profile in at_best.items():
            bands[name] = profile_band([d[name] for d in drawn], best_profile)

    diagnostics = Diagnostics(
        converged=burn_at is not None and not _rhat_high(rhat),
        rhat=rhat,
        acceptance_rate=acceptance,
        burn_point=burn_at,
        generations=int(state.total_generations),
        burn=int(burn),
        portion=portion,
        samples=int(points.shape[0]),
        chains=int(state.Npop),
        warnings=messages,
    )
    return Uncertainty(
        parameters=stats, correlation=correlation, diagnostics=diagnostics, bands=bands
    )


def _rhat_high(rhat: Mapping[str, float | None]) -> bool:
    return any(v is not None and v > RHAT_LIMIT for v in rhat.values())
