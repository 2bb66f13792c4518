"""Turning a shiftdesk model into refl1d objects, and keeping them in step cheaply.

A :class:`CompiledModel` is built once per model *structure* (layers, data, Q grid)
and re-used while only values change: an edit pushes a handful of floats into the
refl1d parameters instead of rebuilding stack, probe and experiment.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from shiftdesk.reflectometry.resolution import Region, calculation_regions, grid_probe

if TYPE_CHECKING:
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem


@dataclass(frozen=True)
class Sampling:
    """Where R(Q) is calculated for the resolution integral of one Q grid.

    Attributes
    ----------
    oversampling : int
        refl1d's random oversampling, points per Q (``probe.oversample(n, seed=1)``);
        only when the problem's ``oversampling`` is set to a number.
    regions : tuple of (float, float, int)
        Evenly spaced calculation regions ``(Q_start, Q_end, n)`` besides the data's Q
        (refl1d ``OversampledRegion``), chosen by ``oversampling="auto"``
        (:func:`~shiftdesk.reflectometry.resolution.calculation_regions`); smeared with
        precomputed weights.
    """

    oversampling: int = 0
    regions: tuple[Region, ...] = ()


def choose_sampling(
    setting: int | str | None, q: NDArray[np.float64], dq_sigma: NDArray[np.float64]
) -> Sampling:
    """The calculation points a problem's ``oversampling`` setting asks for on ``q``.

    ``"auto"`` adds evenly spaced points where the data is sparser than the resolution
    and beyond both ends (none without resolution); a number is refl1d's random
    oversampling, as before; ``None`` or 0 calculates on the data's Q only.
    """
    if setting is None or setting == 0:
        return Sampling()
    if setting == "auto":
        return Sampling(regions=tuple(calculation_regions(q, dq_sigma)))
    return Sampling(oversampling=int(setting))


class CompiledModel:
    """refl1d objects for one model structure on one Q grid.

    Parameters
    ----------
    problem : FitProblem
        The model; its parameters are bound to the refl1d ones.
    q, dq_sigma : ndarray
        The Q grid and its 1-σ resolution (zeros: no smearing).
    r, dr : ndarray, optional
        Data on that grid, when the model is compared or fitted to data.
    sampling : Sampling
        Where R is calculated for the resolution integral (default: on ``q`` only).
    fit_ranges : bool
        Give free parameters their ranges (needed for fitting, not for evaluation).
    label_prefix : str
        Put before every bumps parameter label (a data set's name in a simultaneous
        fit, so that labels do not repeat across data sets).
    fit_mask : ndarray of bool, optional
        Which points count in residuals and χ² (the fit Q range). The model is still
        computed (and resolution-smeared) on every point, as ``evaluate`` does.
    """

    def __init__(
        self,
        problem: FitProblem,
        q: NDArray[np.float64],
        dq_sigma: NDArray[np.float64],
        r: NDArray[np.float64] | None = None,
        dr: NDArray[np.float64] | None = None,
        *,
        sampling: Sampling | None = None,
        fit_ranges: bool = False,
        label_prefix: str = "",
        fit_mask: NDArray[np.bool_] | None = None,
    ) -> None:
        from bumps.parameter import Parameter as BumpsParameter
        from refl1d.experiment import Experiment
        from refl1d.probe import QProbe
        from refl1d.sample.layers import Slab
        from refl1d.sample.material import SLD

        self.bindings: list[tuple[Parameter, Any]] = []
        self.version = 0
        self._pushed: tuple[float, ...] | None = None

        def bind(param: Parameter, label: str) -> Any:
            bumps_param = BumpsParameter(param.value, name=label_prefix + label)
            if fit_ranges and param.free:
                assert param.min is not None and param.max is not None
                bumps_param.range(param.min, param.max)
            self.bindings.append((param, bumps_param))
            return bumps_param

        def material(slab: Any, prefix: str) -> Any:
            return SLD(
                name=slab.name,
                rho=bind(slab.sld, f"{prefix}.sld"),
                irho=bind(slab.isld, f"{prefix}.isld"),
            )

        front, back = problem.front, problem.back
        # refl1d stacks run from the substrate (back) to the incident medium (front);
        # Slab.interface is the roughness on the slab's top (front) side.
        stack = Slab(
            material(back, "back"),
            thickness=0,
            interface=bind(back.roughness, "back.roughness"),
            name=back.name,
        )
        for layer in reversed(list(problem.layers)):
            stack = stack | Slab(
                material(layer, layer.name),
                thickness=bind(layer.thickness, f"{layer.name}.thickness"),
                interface=bind(layer.roughness, f"{layer.name}.roughness"),
                name=layer.name,
            )
        stack = stack | Slab(material(front, "front"), thickness=0, interface=0, name=front.name)

        kwargs: dict[str, Any] = {}
        if r is not None and dr is not None:
            kwargs = {"R": r, "dR": dr}
        sampling = sampling if sampling is not None else Sampling()
        probe_kwargs: dict[str, Any] = {
            "intensity": bind(problem.scale, "scale"),
            "background": bind(problem.background, "background"),
            "name": problem.data.name if problem.data is not None else "model",
            **kwargs,
        }
        if sampling.regions:
            # the same grid as QProbe(oversampled_regions=...), smeared with weights
            # computed once instead of refl1d's convolution on every call
            probe = grid_probe(q, dq_sigma, list(sampling.regions), **probe_kwargs)
        else:
            probe = QProbe(q, dq_sigma, **probe_kwargs)
            if sampling.oversampling > 0:
                probe.oversample(sampling.oversampling, seed=1)
        self.sampling = sampling
        self.oversampling = sampling.oversampling
        #: how many Q the reflectivity is calculated at (data points included)
        self.calc_points = int(np.size(probe.calc_Q))
        self.stack = stack
        self.probe = probe
        if fit_mask is not None and not bool(np.all(fit_mask)):
            self.experiment = _range_experiment(stack, probe, fit_mask)
        else:
            self.experiment = Experiment(sample=stack, probe=probe)

    def push(self, values: tuple[float, ...] | None = None) -> None:
        """Copy current (or given) values into the refl1d parameters, if they changed."""
        if values is None:
            values = tuple(param.value for param, _ in self.bindings)
        if values == self._pushed:
            return
        for (_, bumps_param), value in zip(self.bindings, values, strict=True):
            bumps_param.value = value
        self.experiment.update()
        self._pushed = values
        self.version += 1

    def values(self) -> tuple[float, ...]:
        """The values of the bound shiftdesk parameters, in binding order."""
        return tuple(param.value for param, _ in self.bindings)

    def reflectivity(self, resolution: bool = True) -> NDArray[np.float64]:
        """R on the probe's Q points (with scale and background)."""
        _, r = self.experiment.reflectivity(resolution=resolution)
        return np.asarray(r, dtype=float)

    def profile(self, dz: float = 0.5) -> tuple[NDArray[np.float64], ...]:
        """``(depth, rho, irho)``, depth in Å from the front interface into the sample."""
        z, rho, irho = self.experiment.smooth_profile(dz=dz)
        top = sum(
            float(bumps_param.value)
            for param, bumps_param in self.bindings
            if param.name == "thickness"
        )
        depth = top - np.asarray(z, dtype=float)
        order = np.argsort(depth)
        return depth[order], np.asarray(rho)[order], np.asarray(irho)[order]


def _range_experiment(stack: Any, probe: Any, mask: NDArray[np.bool_]) -> Any:
    """A refl1d experiment whose residuals (and point count) cover only ``mask``."""
    from refl1d.experiment import Experiment

    class RangeExperiment(Experiment):
        # refl1d smears over the whole probe; only the residuals are restricted, so the
        # fit minimises exactly the χ² that evaluate() reports for the Q range
        def residuals(self) -> Any:
            full = super().residuals()
            return full[mask] if full.size == mask.size else full

        def numpoints(self) -> int:
            return int(mask.sum())

    return RangeExperiment(sample=stack, probe=probe)


@dataclass(eq=False)
class FitModel:
    """The bumps problem for a fit of every data set of a problem, with its constraints.

    Attributes
    ----------
    problem : bumps.fitproblem.FitProblem
        One experiment per data set, inequality constraints as bumps constraints.
    free : list of Parameter
        shiftdesk's free parameters in the order of the bumps parameter vector.
    names : dict
        ``id(parameter)`` → its name in results (qualified with the data set's name
        when there are several).
    models : list of CompiledModel
        One per data set, first data set first.
    derived : list of (Parameter, bumps Parameter)
        Parameters set by equality constraints, and their bumps counterparts (which
        follow the constraint's expression).
    """

    problem: Any
    free: list[Parameter]
    names: dict[int, str]
    models: list[CompiledModel]
    derived: list[tuple[Parameter, Any]] = field(default_factory=list)

    def apply_derived(self, covariance: NDArray[np.float64] | None) -> None:
        """Copy the derived values of the current point into shiftdesk's parameters.

        Their errors are propagated from the free parameters' covariance to first
        order (a numerical Jacobian of the constraint expressions).
        """
        if not self.derived:
            return
        x0 = np.asarray(self.problem.getp(), dtype=float)
        values = np.array([float(bp.value) for _, bp in self.derived])
        errors: NDArray[np.float64] | None = None
        if covariance is not None and covariance.shape == (x0.size, x0.size):
            jacobian = np.zeros((values.size, x0.size))
            try:
                for i in range(x0.size):
                    step = 1e-6 * max(abs(x0[i]), math.sqrt(max(covariance[i, i], 0.0)), 1e-9)
                    point = x0.copy()
                    point[i] += step
                    self.problem.setp(point)
                    up = np.array([float(bp.value) for _, bp in self.derived])
                    point[i] -= 2 * step
                    self.problem.setp(point)
                    down = np.array([float(bp.value) for _, bp in self.derived])
                    jacobian[:, i] = (up - down) / (2 * step)
            finally:
                self.problem.setp(x0)
            variance = np.einsum("ij,jk,ik->i", jacobian, covariance, jacobian)
            errors = np.sqrt(np.where(variance >= 0, variance, np.nan))
        for k, (param, _) in enumerate(self.derived):
            value = float(values[k])
            if param.lower_limit is not None and value < param.lower_limit:
                # the fit keeps derived values above their limits up to its tolerance
                value = float(param.lower_limit)
            param._derive(value)
            error = None if errors is None else float(errors[k])
            param.error = error if error is not None and math.isfinite(error) else None


def violations(root: FitProblem) -> list[str]:
    """Messages for the inequalities a fit result does not satisfy."""
    messages = []
    for constraint in root.constraints:
        if not constraint.problem and constraint.satisfied() is False:
            messages.append(
                f"the result does not satisfy {constraint.text}: start inside the "
                "constraint, or use amoeba, de or dream, which treat constraints as hard limits"
            )
    return messages


def build_fit_model(root: FitProblem) -> FitModel:
    """Build the bumps problem that fits every data set of ``root`` at once.

    Equality constraints become bumps expressions (``parameter.equals(...)``): the
    derived parameters leave the fit vector. Inequalities become bumps constraints
    (a penalty outside the feasible region), as do the physical lower limits of derived
    parameters (a derived thickness must not go negative).
    """
    from bumps.fitproblem import FitProblem as BumpsProblem

    from shiftdesk.reflectometry.constraints import Var, to_bumps

    datasets = root.datasets
    several = len(datasets) > 1
    models: list[CompiledModel] = []
    lookup: dict[int, Any] = {}
    names: dict[int, str] = {}
    for name, ds in datasets.items():
        data = ds.data
        assert data is not None
        # every point is computed, as in evaluate(); the Q range only selects residuals
        q, sigma = data.q, data.dq_sigma
        model = CompiledModel(
            ds,
            q,
            sigma,
            data.r,
            data.dr,
            sampling=ds._sampling_for(q, sigma),
            fit_ranges=True,
            label_prefix=f"{name}." if several else "",
            fit_mask=ds.fit_mask(),
        )
        model.push()
        models.append(model)
        for param, bumps_param in model.bindings:
            lookup[id(param)] = bumps_param
            names[id(param)] = f"{name}.{param.path}" if several else param.path

    def bumps_of(param: Parameter) -> Any:
        return lookup[id(param)]

    derived: list[tuple[Parameter, Any]] = []
    relations: list[Any] = []
    constraints = root._constraints
    for constraint in constraints.ordered_equalities():
        target = constraint.target
        assert target is not None
        expression = to_bumps(constraint.right, bumps_of)
        bumps_of(target.param).equals(expression)
        derived.append((target.param, bumps_of(target.param)))
        limit = target.param.lower_limit
        plain_copy = isinstance(constraint.right, Var) and (
            constraint.right.param.lower_limit == limit
        )
        if limit is not None and not plain_copy:
            relations.append(_relation(">=", expression, float(limit)))
    for constraint in constraints:
        if constraint.equality or constraint.problem:
            continue
        left = to_bumps(constraint.left, bumps_of)
        right = to_bumps(constraint.right, bumps_of)
        relations.append(_relation(constraint.relation, left, right))
    experiments = [model.experiment for model in models]
    with warnings.catch_warnings():
        # a fit may start outside an inequality: the fit moves it inside, no need to warn
        warnings.filterwarnings("ignore", message="Unsatisfied constraints")
        problem = BumpsProblem(
            experiments if several else experiments[0], constraints=relations or None
        )
    ours = {id(bp): param for model in models for param, bp in model.bindings}
    free = [ours[id(bp)] for bp in problem._parameters]
    return FitModel(problem=problem, free=free, names=names, models=models, derived=derived)


#: Inequalities are compared as ``k·left`` against ``k·right`` with ``k`` this large over
#: the sides' size. bumps' Levenberg–Marquardt adds a broken constraint as a residual of
#: the squared distance to the boundary (a soft penalty, unlike the other fitters' fixed
#: penalty), so an unscaled constraint would be overridden by χ²; scaled, the fit stays
#: within about 1e-4 (relative) of the boundary.
CONSTRAINT_STIFFNESS = 1e5


def _relation(relation: str, left: Any, right: Any) -> Any:
    try:
        size = max(abs(float(left)), abs(float(right)), 1e-6)
    except (ArithmeticError, ValueError):
        size = 1.0
    k = CONSTRAINT_STIFFNESS / size
    left, right = left * k, right * k
    if relation == "<":
        return left < right
    if relation == "<=":
        return left <= right
    if relation == ">":
        return left > right
    return left >= right
