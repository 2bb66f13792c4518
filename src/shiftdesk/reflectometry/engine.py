"""Turning a shiftdesk model into refl1d objects, and keeping them in step cheaply.

A :class:`CompiledModel` is built once per model *structure* (layers, data, Q grid)
and re-used while only values change: an edit pushes a handful of floats into the
refl1d parameters instead of rebuilding stack, probe and experiment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem

#: Auto oversampling starts when adjacent Q points are further apart than this many σ of
#: the resolution: then the resolution function is not sampled by the data grid itself.
OVERSAMPLE_SPACING_IN_SIGMA = 0.5
#: Oversampling factor used by ``oversampling="auto"`` when it triggers. refl1d draws the
#: extra points at random (seed 1); 21 left a 1.1 % error at the critical edge of the refnx
#: smeared reference curve, 51 stays near 0.1 % (tests/reflectometry/test_reference.py).
AUTO_OVERSAMPLING = 51


def auto_oversampling(q: NDArray[np.float64], dq_sigma: NDArray[np.float64]) -> int:
    """How many points per Q the resolution integral needs (0: none).

    The refl1d QProbe integrates the resolution only over the given Q points, so
    sparse points with a wide dQ give a wrong smeared curve near fringes.
    """
    if q.size < 2 or not np.any(dq_sigma > 0):
        return 0
    spacing = np.diff(q)
    sigma = np.maximum(dq_sigma[1:], np.finfo(float).tiny)
    if float(np.max(spacing / sigma)) > OVERSAMPLE_SPACING_IN_SIGMA:
        return AUTO_OVERSAMPLING
    return 0


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
    oversampling : int
        Points per Q for the resolution integral (0: off).
    fit_ranges : bool
        Give free parameters their ranges (needed for fitting, not for evaluation).
    """

    def __init__(
        self,
        problem: FitProblem,
        q: NDArray[np.float64],
        dq_sigma: NDArray[np.float64],
        r: NDArray[np.float64] | None = None,
        dr: NDArray[np.float64] | None = None,
        *,
        oversampling: int = 0,
        fit_ranges: bool = False,
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
            bumps_param = BumpsParameter(param.value, name=label)
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
        probe = QProbe(
            q,
            dq_sigma,
            intensity=bind(problem.scale, "scale"),
            background=bind(problem.background, "background"),
            name=problem.data.name if problem.data is not None else "model",
            **kwargs,
        )
        if oversampling > 0:
            probe.oversample(oversampling, seed=1)
        self.oversampling = oversampling
        self.stack = stack
        self.probe = probe
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
