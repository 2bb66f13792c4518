"""Fitting a FitProblem with bumps: option checks, progress, cancel, results ± errors."""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shiftdesk.display import escape, html_repr
from shiftdesk.errors import FitError
from shiftdesk.reflectometry.parameter import format_value
from shiftdesk.reflectometry.uncertainty import Uncertainty, dream_uncertainty

if TYPE_CHECKING:
    from shiftdesk.jobs import Job, JobBackend
    from shiftdesk.jobs.tasks import TaskContext
    from shiftdesk.reflectometry.problem import FitProblem

KIND = "reflectometry.fit"

#: The fitters offered, with a label and the options users may set (bumps defaults).
METHODS: dict[str, str] = {
    "lm": "Levenberg–Marquardt",
    "amoeba": "Nelder–Mead simplex (amoeba)",
    "de": "Differential evolution",
    "dream": "DREAM (Bayesian uncertainty)",
    "newton": "Quasi-Newton BFGS",
}


def method_settings(method: str) -> dict[str, Any]:
    """Default options of a fitter, from bumps itself."""
    from bumps.fitters import FITTERS

    if method not in METHODS:
        raise FitError(f"unknown fit method {method!r}; choose one of: {', '.join(METHODS)}")
    for fitclass in FITTERS:
        if fitclass.id == method:
            return dict(fitclass.settings)
    raise FitError(f"this bumps version has no fitter {method!r}")  # pragma: no cover


def check_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate fitter options; returns them converted to the types bumps expects."""
    defaults = method_settings(method)
    clean: dict[str, Any] = {}
    for name, value in options.items():
        if name not in defaults:
            raise FitError(
                f"{method} has no option {name!r}; its options are: "
                + ", ".join(f"{k} (default {v!r})" for k, v in defaults.items())
            )
        default = defaults[name]
        try:
            if isinstance(default, bool):
                converted: Any = (
                    value
                    if isinstance(value, bool)
                    else str(value).lower() in ("1", "true", "yes", "on")
                )
            elif isinstance(default, int):
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                converted = int(value)
            elif isinstance(default, float):
                converted = float(value)
                if not math.isfinite(converted):
                    raise ValueError
            else:
                converted = str(value)
        except (TypeError, ValueError):
            raise FitError(
                f"{method} option {name!r} must be a {type(default).__name__} like "
                f"{default!r}, not {value!r}"
            ) from None
        numeric = isinstance(converted, int | float) and not isinstance(converted, bool)
        # dream's steps=0 means "derive from samples"; other counts must be positive
        zero_allowed = method == "dream" and name == "steps"
        if numeric and (
            converted < 0
            or (name in ("steps", "samples", "pop") and converted == 0 and not zero_allowed)
        ):
            raise FitError(f"{method} option {name!r} must be positive, not {value!r}")
        clean[name] = converted
    return clean


@dataclass(frozen=True)
class FitObstacle:
    """Why a problem cannot be fitted as set up.

    Attributes
    ----------
    reason : str
        One of ``"no data"``, ``"constraint"``, ``"nothing free"``, ``"outside range"``,
        ``"too few points"``: what a view tells its user in its own words.
    message : str
        The explanation for a notebook user (what :class:`FitError` says).
    dataset : str or None
        The data set without data (``"no data"`` in a simultaneous fit).
    path : str or None
        The parameter outside its range, or the broken constraint's text.
    points, free : int
        Data points in the fit Q range and free parameters (``"too few points"``).
    """

    reason: str
    message: str
    dataset: str | None = None
    path: str | None = None
    points: int = 0
    free: int = 0


def fit_obstacle(problem: FitProblem) -> FitObstacle | None:
    """What stops ``problem`` from being fitted (every data set is checked), or None."""
    problem = problem._top()
    for name, ds in problem.datasets.items():
        if ds.data is None:
            where = f" of data set {name!r}" if problem.is_simultaneous else ""
            return FitObstacle(
                "no data",
                f"there is no data to fit{where}: load data first (fp.data = load_data(...))",
                dataset=name if problem.is_simultaneous else None,
            )
    broken = [c for c in problem.constraints if c.problem]
    if broken:
        return FitObstacle(
            "constraint",
            "a constraint cannot be applied: "
            + "; ".join(f"{c.text}: {c.problem}" for c in broken),
            path=broken[0].text,
        )
    free = problem.all_free_parameters()
    if not free:
        return FitObstacle(
            "nothing free",
            "no parameter is free, so there is nothing to fit: make at least one free with "
            "a range, e.g. fp.layers['SiO2'].thickness.fit(50, 150)",
        )
    for path, param in free.items():
        assert param.min is not None and param.max is not None
        if not param.min <= param.value <= param.max:
            return FitObstacle(
                "outside range",
                f"{path} = {param.value:g} is outside its range [{param.min:g}, {param.max:g}]",
                path=path,
            )
    points = sum(int(ds.fit_mask().sum()) for ds in problem.datasets.values())
    if points <= len(free):
        return FitObstacle(
            "too few points",
            f"only {points} data point(s) in the fit Q range for {len(free)} free parameters; "
            "widen the Q range or fix parameters",
            points=points,
            free=len(free),
        )
    return None


def check_fittable(problem: FitProblem) -> None:
    """Refuse a problem that cannot be fitted, saying why (see :func:`fit_obstacle`)."""
    obstacle = fit_obstacle(problem)
    if obstacle is not None:
        raise FitError(obstacle.message)


def fit_spec(problem: FitProblem, method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The JSON a worker needs: model with data, method and options."""
    return {"problem": problem.to_dict(), "method": method, "options": options}


def submit_fit(
    problem: FitProblem,
    method: str = "lm",
    *,
    backend: JobBackend | str | None = None,
    title: str | None = None,
    database: Any = None,
    identity: Any = None,
    **options: Any,
) -> Job:
    """Validate and start a fit job (see :meth:`FitProblem.fit`)."""
    from shiftdesk.jobs import submit_job

    clean = check_options(method, options)
    check_fittable(problem)
    name = title or f"{problem.title or problem.describe()} · {method}"
    return submit_job(
        KIND,
        fit_spec(problem, method, clean),
        title=name,
        backend=backend,
        database=database,
        identity=identity,
    )


def run_fit_task(spec: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Job task: rebuild the problem from JSON, fit it, return the result as JSON."""
    from shiftdesk.reflectometry.problem import FitProblem

    problem = FitProblem.from_dict(spec["problem"])
    method = spec["method"]
    ctx.log(f"fitting {problem.describe()} with {method} {spec.get('options') or ''}".rstrip())
    result = fit_in_process(
        problem,
        method,
        spec.get("options", {}),
        progress=ctx.progress,
        abort=ctx.cancelled,
    )
    ctx.log(f"chi2 = {result.chi2:.6g}; converged: {result.converged}")
    for warning in result.warnings:
        ctx.log(f"warning: {warning}")
    return result.to_dict()


ProgressCallback = Callable[..., None]


def fit_in_process(
    problem: FitProblem,
    method: str,
    options: dict[str, Any],
    *,
    progress: ProgressCallback | None = None,
    abort: Callable[[], bool] | None = None,
) -> FitResult:
    """Fit in this process through ``bumps.fitters.FitDriver``.

    Parameters
    ----------
    problem : FitProblem
        Not modified; the result carries a fitted copy.
    method : str
        One of :data:`METHODS`.
    options : dict
        Fitter options (checked with :func:`check_options`).
    progress : callable, optional
        ``progress(fraction, message, chi2=..., step=...)`` during the fit.
    abort : callable, optional
        Returns True to stop the fit early (the best point so far is kept).
    """
    from bumps import monitor as bumps_monitor
    from bumps.fitters import FITTERS, FitDriver

    from shiftdesk.reflectometry.engine import build_fit_model
    from shiftdesk.reflectometry.engine import violations as constraint_violations

    clean = check_options(method, options)
    problem = problem._top()  # a simultaneous fit always fits every data set
    check_fittable(problem)
    work = problem.copy()
    data = work.data
    assert data is not None
    # one bumps problem for every data set, with the constraints (engine.build_fit_model)
    fit_model = build_fit_model(work)
    bumps_problem = fit_model.problem
    free = fit_model.free
    settings = {**method_settings(method), **clean}
    fitclass = next(f for f in FITTERS if f.id == method)

    counter = {"evaluations": 0}
    original_nllf = bumps_problem.nllf

    def counted_nllf(pvec: Any = None) -> float:
        counter["evaluations"] += 1
        return float(original_nllf(pvec))

    bumps_problem.nllf = counted_nllf  # counts evaluations to tell "ran out of steps"
    total_steps = expected_steps(method, settings, len(free))
    # DREAM always runs all its steps, so the time left can be told from the pace so far
    fixed_length = method == "dream"
    burn = int(settings.get("burn", 0)) if fixed_length else 0
    pace = _Pace()
    start = time.perf_counter()

    class Progress(bumps_monitor.Monitor):
        def config_history(self, history: Any) -> None:
            history.requires(step=1, value=1)

        def __call__(self, history: Any) -> None:
            if progress is None:
                return
            step = int(history.step[0])
            chi2 = float(bumps_problem.chisq(nllf=history.value[0]))
            fraction = min(step / total_steps, 0.99) if total_steps else 0.0
            metrics: dict[str, float] = {"chi2": chi2, "step": float(step)}
            if fixed_length and total_steps:
                shown = min(step, total_steps)
                metrics.update(steps=float(total_steps), burn=float(burn))
                remaining = pace.remaining(step, total_steps, time.perf_counter())
                if remaining is not None:
                    metrics["remaining"] = remaining
                text = f"step {shown} of {total_steps}: χ² = {chi2:.4g}"
            else:
                text = f"step {step}: χ² = {chi2:.4g}"
            progress(fraction, text, **metrics)

    driver = FitDriver(
        fitclass=fitclass,
        problem=bumps_problem,
        monitors=[Progress()],
        abort_test=abort or (lambda: False),
        **settings,
    )
    driver.clip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bumps/scipy chatter; real problems are checked below
        x, _fx = driver.fit()
        if x is None:
            raise FitError(f"the {method} fit failed to find valid parameter values")
        bumps_problem.setp(x)
        dx = driver.stderr()
    elapsed = time.perf_counter() - start
    stopped = bool(abort and abort())
    chi2 = float(bumps_problem.chisq())
    for param, value, error in zip(free, x, dx, strict=True):
        param._value = float(value)  # within range by construction; skip notification
        param.error = float(error) if np.isfinite(error) else None
    if fit_model.derived:
        # derived parameters: value from the constraint, error propagated from the covariance
        fit_model.apply_derived(_covariance(driver))

    messages: list[str] = []
    steps_done = int(driver.monitor_runner.history.step[0])
    converged = not stopped
    if stopped:
        messages.append("the fit was stopped before it finished; values are the best so far")
    elif method in ("lm", "newton", "amoeba", "de") and _ran_out(
        method, settings, steps_done, counter["evaluations"], len(free)
    ):
        converged = False
        messages.append(
            f"{method} used all {settings.get('steps')} steps without meeting its tolerance: "
            "the fit did not converge. Fit again from here or allow more steps"
        )
    dream_stats: dict[str, dict[str, Any]] = {}
    uncertainty: Uncertainty | None = None
    if method == "dream" and driver.fitter is not None and driver.fitter.state is not None:
        band_names = list(work.datasets)  # one SLD band per data set, in model order
        if progress is not None:
            progress(0.99, "computing the posterior statistics and SLD bands", chi2=chi2)

        def profiles(point: Any) -> dict[str, tuple[Any, Any]]:
            bumps_problem.setp(point)
            bands = {}
            for name, compiled in zip(band_names, fit_model.models, strict=True):
                depth, rho, _irho = compiled.profile()
                bands[name] = (depth, rho)
            return bands

        try:
            uncertainty = dream_uncertainty(
                driver.fitter.state,
                [fit_model.names[id(param)] for param in free],  # qualified per data set
                x,
                burn=int(settings.get("burn", 0)),
                profiles=profiles,
            )
        finally:
            bumps_problem.setp(x)  # the band moved the model through posterior draws
        converged = converged and uncertainty.converged
        messages.extend(uncertainty.diagnostics.warnings)
        dream_stats = uncertainty.summary()
    for param in free:
        if param.at_limit:
            messages.append(
                f"{fit_model.names[id(param)]} = {param.value:.6g} sits on its range limit "
                f"[{param.min:g}, {param.max:g}]: the best value may lie outside; widen the range"
            )
    if not np.all(np.isfinite(dx)):
        messages.append("some uncertainties could not be computed (singular covariance)")
    messages.extend(constraint_violations(work))
    if progress is not None:
        progress(1.0, f"finished: χ² = {chi2:.4g}", chi2=chi2, step=float(steps_done))
    return FitResult(
        problem=work,
        method=method,
        options=clean,
        chi2=chi2,
        converged=converged,
        warnings=messages,
        steps=steps_done,
        evaluations=counter["evaluations"],
        elapsed=elapsed,
        dream=dream_stats,
        uncertainty=uncertainty,
    )


def _covariance(driver: Any) -> Any:
    """The fit's covariance matrix (cached by bumps after ``stderr``), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(driver.cov(), dtype=float)
    except Exception:  # a singular or failed covariance only loses the derived errors
        return None


class _Pace:
    """The time left of a fixed-length fit, from the pace of its recent steps.

    The first steps carry one-off costs (compiling, caches), so they are left out, and
    the pace is that of the last :attr:`WINDOW` steps seen, so it follows a machine that
    gets busier or freer.
    """

    #: steps before this one are not timed
    FIRST = 3
    #: steps (reports) the pace is measured over
    WINDOW = 50
    #: reports needed before an estimate is given
    MIN_REPORTS = 4

    def __init__(self) -> None:
        self.seen: deque[tuple[int, float]] = deque(maxlen=self.WINDOW)

    def remaining(self, step: int, total: int, now: float) -> float | None:
        """Seconds left after ``step`` of ``total`` at time ``now``, or None (too early)."""
        if step < self.FIRST:
            return None
        if not self.seen or step > self.seen[-1][0]:
            self.seen.append((step, now))
        if len(self.seen) < self.MIN_REPORTS:
            return None
        (first_step, first_time), (last_step, last_time) = self.seen[0], self.seen[-1]
        per_step = (last_time - first_time) / max(last_step - first_step, 1)
        return max(total - step, 0) * per_step


def expected_steps(method: str, settings: dict[str, Any], n_free: int) -> int:
    """The number of steps a fit takes at most (DREAM: exactly) with these settings.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    settings : dict
        The fitter's full settings (bumps defaults with the options given).
    n_free : int
        Number of free parameters (DREAM's population grows with it).
    """
    if method == "dream":
        pop = int(settings.get("pop", 10)) * n_free
        steps = int(settings.get("steps", 0)) or math.ceil(int(settings["samples"]) / max(pop, 1))
        return steps + int(settings.get("burn", 0))
    return int(settings.get("steps", 0))


def _ran_out(method: str, settings: dict[str, Any], steps: int, evals: int, n_free: int) -> bool:
    limit = int(settings.get("steps", 0))
    if method == "lm" and evals >= limit * (n_free + 1):
        # MPFit's budget counts iterations; each costs about n_free + 1 evaluations
        return True
    return steps >= limit - 1


@dataclass(eq=False)
class FitResult:
    """What a fit found.

    Attributes
    ----------
    problem : FitProblem
        A copy of the model with fitted values, and ``.error`` on free parameters.
    chi2 : float
        Reduced χ² at the best point (bumps normalisation).
    converged : bool
        False when the fitter ran out of steps, was stopped, or DREAM's chains had not
        settled. ``warnings`` says which, and names parameters on a range limit.
    dream : dict
        For DREAM fits, per parameter path: mean, median, best, std, p68, p95.
    uncertainty : Uncertainty or None
        For DREAM fits: those statistics with R-hat, correlations, convergence
        diagnostics and the SLD-profile band (see :mod:`shiftdesk.reflectometry.uncertainty`).
    """

    problem: FitProblem
    method: str
    options: dict[str, Any]
    chi2: float
    converged: bool
    warnings: list[str] = field(default_factory=list)
    steps: int = 0
    evaluations: int = 0
    elapsed: float = 0.0
    dream: dict[str, dict[str, Any]] = field(default_factory=dict)
    uncertainty: Uncertainty | None = None

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """One row per free parameter: path, value, error, min, max, at_limit.

        In a simultaneous fit the paths are qualified by data set (``"h2o.A.sld"``).
        """
        return [
            {
                "path": path,
                "value": p.value,
                "error": p.error,
                "min": p.min,
                "max": p.max,
                "at_limit": p.at_limit,
            }
            for path, p in self.problem.all_free_parameters().items()
        ]

    @property
    def derived(self) -> list[dict[str, Any]]:
        """One row per derived parameter: path, value, error (propagated), constraint."""
        return [
            {"path": path, "value": p.value, "error": p.error, "constraint": p.constraint.text}
            for path, p in self.problem.all_parameters().items()
            if p.derived
        ]

    @property
    def at_limit(self) -> list[str]:
        """Paths of free parameters sitting on a range limit."""
        return [row["path"] for row in self.parameters if row["at_limit"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the worker stores)."""
        return {
            "problem": self.problem.to_dict(),
            "method": self.method,
            "options": self.options,
            "chi2": self.chi2,
            "converged": self.converged,
            "warnings": self.warnings,
            "steps": self.steps,
            "evaluations": self.evaluations,
            "elapsed": self.elapsed,
            "dream": self.dream,
            "uncertainty": None if self.uncertainty is None else self.uncertainty.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict`."""
        from shiftdesk.reflectometry.problem import FitProblem

        return cls(
            problem=FitProblem.from_dict(state["problem"]),
            method=state["method"],
            options=dict(state.get("options", {})),
            chi2=float(state["chi2"]),
            converged=bool(state["converged"]),
            warnings=list(state.get("warnings", [])),
            steps=int(state.get("steps", 0)),
            evaluations=int(state.get("evaluations", 0)),
            elapsed=float(state.get("elapsed", 0.0)),
            dream=dict(state.get("dream", {})),
            # results stored before DREAM diagnostics existed have no "uncertainty"
            uncertainty=(
                Uncertainty.from_dict(state["uncertainty"]) if state.get("uncertainty") else None
            ),
        )

    def __repr__(self) -> str:
        lines = [
            f"FitResult({self.method}: chi2={self.chi2:.4g}, "
            f"{'converged' if self.converged else 'NOT converged'})"
        ]
        for row in self.parameters:
            flag = "  ← on range limit" if row["at_limit"] else ""
            lines.append(f"  {row['path']:<24} {format_value(row['value'], row['error'])}{flag}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_repr("FitResult", self.method, repr(self), self._html_body())

    def _html_body(self) -> str:
        """The rich view's body: χ² and status, fitted and derived values, warnings.

        The dashboard's result panel shows it too, so the two never differ.
        """
        rows = []
        for row in self.parameters:
            value = escape(format_value(row["value"], row["error"]))
            if row["at_limit"]:
                value = f"<span class='sd-warn'>{value} (on limit)</span>"
            rows.append(
                f"<tr><td>{escape(row['path'])}</td><td class='sd-fitted'>{value}</td>"
                f"<td>[{row['min']:g}, {row['max']:g}]</td></tr>"
            )
        for row in self.derived:
            rows.append(
                f"<tr class='sd-derived'><td>{escape(row['path'])}</td>"
                f"<td>{escape(format_value(row['value'], row['error']))} "
                f"<small>({escape(row['constraint'])})</small></td><td>derived</td></tr>"
            )
        header = "<tr><th>parameter</th><th>value ± error</th><th>range</th></tr>"
        status = (
            "<span class='sd-ok'>converged</span>"
            if self.converged
            else "<span class='sd-bad'>did not converge</span>"
        )
        warnings_html = "".join(f"<div class='sd-warn'>⚠ {escape(w)}</div>" for w in self.warnings)
        return (
            f"<div>χ² = {self.chi2:.4g} · {status} · {self.steps} steps · "
            f"{self.elapsed:.2f} s</div>"
            f"<table class='sd-table sd-result-table'>{header}{''.join(rows)}</table>"
            + warnings_html
        )
