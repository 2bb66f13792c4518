"""FitProblem: a layer model, its data and fit settings; evaluate it, fit it, save it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from shiftdesk.display import Markup, escape, html_repr, table
from shiftdesk.errors import ConstraintError, ModelError, ShiftdeskError
from shiftdesk.reflectometry import datasets as _datasets
from shiftdesk.reflectometry import serialisation as _serialisation
from shiftdesk.reflectometry.constraints import Constraint, ConstraintSet
from shiftdesk.reflectometry.curve import Curves, ReflectivityCurve
from shiftdesk.reflectometry.data import DEFAULT_DQ_FRACTION, SIGMA_TO_FWHM, ReflData
from shiftdesk.reflectometry.engine import CompiledModel, Sampling, choose_sampling
from shiftdesk.reflectometry.layers import Layer, LayerList, Medium, _Slab
from shiftdesk.reflectometry.parameter import Parameter, _finite, format_value
from shiftdesk.reflectometry.serialisation import FIRST_DATASET, SCHEMA, SCHEMA_V1

__all__ = ["FIRST_DATASET", "MODEL_GRID", "SCHEMA", "SCHEMA_V1", "FitProblem"]

if TYPE_CHECKING:
    from shiftdesk.jobs import Job, JobBackend
    from shiftdesk.reflectometry.fitting import FitResult
    from shiftdesk.reflectometry.tools import SLDResult

Listener = Callable[[str], None]
#: Called with no arguments when :meth:`FitProblem.curves` would give new curves.
CurvesListener = Callable[[], None]
#: Q grid (1/Å) on which a data set without data is drawn (:meth:`FitProblem.curves`).
MODEL_GRID = np.linspace(0.005, 0.3, 300)
Oversampling = int | str | None


class FitProblem:
    """A reflectometry model of front medium, layers and back medium, with data.

    Parameters
    ----------
    front, back : Medium
        The incident (front) and substrate (back) media.
    layers : list of Layer
        Layers listed from the front medium towards the back medium.
    data : ReflData, optional
        Data to compare and fit to.
    scale, background : float
        Intensity scale factor and constant background (fixed unless made free).
    q_min, q_max : float, optional
        The Q range used for χ² and fitting (inclusive); the whole data by default.
    oversampling : "auto", int or None
        Where R is calculated for the resolution integral. ``"auto"`` (default) adds
        evenly spaced points where the Q points are sparser than dQ, and beyond both
        ends (:mod:`~shiftdesk.reflectometry.resolution`); a number is refl1d's random
        oversampling (points per Q); ``None`` or 0 uses the Q points only.
    title, notes : str
        Free text kept with saved models.

    Notes
    -----
    *Constraints* (:meth:`constrain`) tie parameters together: ``B.sld = A.sld`` makes
    ``B.sld`` derived, ``A.roughness < A.thickness / 4`` restricts a fit.

    *Simultaneous fits*: :meth:`add_dataset` adds another data set with its own copy of
    the model; :meth:`tie` shares a parameter between data sets. Each data set has a name
    (:attr:`dataset_name`, the first is ``"d1"`` unless renamed); constraints name another
    data set's parameters as ``name.Layer.param`` (e.g. ``h2o.film.thickness``), and
    :meth:`all_parameters` and fit results use these names once there are several data
    sets. One fit (one job) fits all data sets together.

    Examples
    --------
    >>> fp = FitProblem(front=Medium("air", sld=0.0),
    ...                 layers=[Layer("SiO2", thickness=100, sld=3.47, roughness=2)],
    ...                 back=Medium("Si", sld=2.07, roughness=3))
    >>> fp.layers["SiO2"].thickness.fit(50, 150).free
    True
    """

    def __init__(
        self,
        front: Medium | None = None,
        layers: list[Layer] | None = None,
        back: Medium | None = None,
        data: ReflData | None = None,
        *,
        scale: float = 1.0,
        background: float = 0.0,
        q_min: float | None = None,
        q_max: float | None = None,
        oversampling: Oversampling = "auto",
        title: str = "",
        notes: str = "",
    ) -> None:
        self._listeners: list[Listener] = []
        # curves(): computed once per revision (any change of any data set bumps the
        # first data set's revision), and who wants to hear when they change
        self._revision = 0
        self._curves: Curves | None = None
        self._curve_listeners: list[CurvesListener] = []
        self._compiled: dict[tuple[Any, ...], CompiledModel] = {}
        self._muted = False
        # simultaneous fits: the first data set (the root) keeps the others and the
        # constraints; every other data set points back to it
        self._root: FitProblem | None = None
        self._dataset_name = FIRST_DATASET
        self._children: list[FitProblem] = []
        self._constraints = ConstraintSet(self)
        self._applying = False
        self.front = front if front is not None else Medium("air", sld=0.0)
        self.back = back if back is not None else Medium("Si", sld=2.07)
        for medium, side in ((self.front, "front"), (self.back, "back")):
            if not isinstance(medium, Medium):
                raise ModelError(f"{side} must be a Medium, not {type(medium).__name__}")
        if self.front.name == self.back.name:
            raise ModelError(
                f"front and back media are both named {self.front.name!r}; give them "
                "different names"
            )
        if self.front.roughness.value != 0 or self.front.roughness.free:
            raise ModelError(
                "the front medium has no roughness of its own: the roughness of the front "
                "interface belongs to the first layer (or to the back medium if there are "
                "no layers)"
            )
        self.front._set_side("front")
        self.back._set_side("back")
        self.scale = Parameter("scale", scale, lower_limit=0.0)
        self.background = Parameter("background", background, lower_limit=0.0)
        self.layers = LayerList(self)
        for slab in (self.front, self.back):
            self._attach(slab)
        for param in (self.scale, self.background):
            param.observe(self._on_parameter)
        self.layers._replace_all(list(layers or []))
        self._data: ReflData | None = None
        self._q_min: float | None = None
        self._q_max: float | None = None
        self._oversampling: Oversampling = "auto"
        self.data = data
        self.set_q_range(q_min, q_max)
        self.oversampling = oversampling
        self.title = title
        self.notes = notes

    # -- structure bookkeeping ----------------------------------------------------------
    def _slabs(self) -> list[_Slab]:
        return [self.front, *self.layers, self.back]

    def _check_unique(self, name: str, ignore: _Slab | None = None) -> None:
        for slab in self._slabs():
            if slab is not ignore and slab.name == name:
                raise ModelError(f"the name {name!r} is already used in this model")

    def _free_name(self, stem: str) -> str:
        taken = {slab.name for slab in self._slabs()}
        i = 1
        while f"{stem}{i}" in taken:
            i += 1
        return f"{stem}{i}"

    def _attach(self, slab: _Slab) -> None:
        slab._owner = self
        for param in slab.parameters():
            param.observe(self._on_parameter)

    def _detach(self, slab: _Slab) -> None:
        slab._owner = None
        for param in slab.parameters():
            param.unobserve(self._on_parameter)

    def _on_parameter(self, _param: Parameter, what: str) -> None:
        self._changed("range" if what == "range" else "values")

    def _changed(self, what: str) -> None:
        if what in ("structure", "data", "settings"):
            self._compiled.clear()
        self._top()._revision += 1  # (muted too: the cached curves are stale either way)
        if self._muted:
            return
        if self._root is not None:
            for listener in list(self._listeners):
                listener(what)
            self._root._changed(what)  # the root keeps derived values in step
            return
        if what in ("values", "structure") and len(self._constraints) and not self._applying:
            self._apply_constraints()
        for listener in list(self._listeners):
            listener(what)
        if what != "range":  # (free/fixed and limits leave R, the profile and χ² alone)
            for curves_listener in list(self._curve_listeners):
                curves_listener()

    def _apply_constraints(self) -> None:
        """Recompute derived parameters (their own change events are held back)."""
        datasets = list(self.datasets.values())
        self._applying = True
        muted = [ds._muted for ds in datasets]
        for ds in datasets:
            ds._muted = True
        try:
            self._constraints.update()
        finally:
            for ds, was in zip(datasets, muted, strict=True):
                ds._muted = was
            self._applying = False

    def observe(self, listener: Listener) -> None:
        """Call ``listener(what)`` after every change.

        ``what`` is ``"values"`` (a parameter value), ``"range"`` (fixed/free/min/max),
        ``"structure"`` (layers added, removed, moved, renamed), ``"data"`` or
        ``"settings"`` (Q range, oversampling).
        """
        self._listeners.append(listener)

    def unobserve(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def observe_curves(self, listener: CurvesListener) -> None:
        """Call ``listener()`` whenever an edit of any data set changes :meth:`curves`.

        The listener is called after derived parameters were updated; it calls
        :meth:`curves` when it wants them (computed once, however many listen).
        Changing only whether parameters are free, or their limits, does not call it.
        """
        self._top()._curve_listeners.append(listener)

    def unobserve_curves(self, listener: CurvesListener) -> None:
        """Stop calling ``listener`` (see :meth:`observe_curves`)."""
        listeners = self._top()._curve_listeners
        if listener in listeners:
            listeners.remove(listener)

    def rename(self, slab: _Slab | str, new_name: str) -> None:
        """Rename a layer or medium (by object or current name)."""
        target = self._slab(slab) if isinstance(slab, str) else slab
        target.name = new_name

    def use_sld(
        self, layer: str | Layer | Medium, sld: SLDResult | float, isld: float | None = None
    ) -> Layer | Medium:
        """Set a layer's (or medium's) SLD, e.g. from the SLD calculator.

        Parameters
        ----------
        layer : str or Layer or Medium
            The layer, or its name (``"front"`` and ``"back"`` name the media).
        sld : SLDResult or float
            A calculator result (:func:`shiftdesk.reflectometry.tools.sld`): its SLD and
            iSLD, rounded to 4 and 6 decimals; or the SLD in 10⁻⁶/Å².
        isld : float, optional
            With a number for ``sld``: the iSLD too (default: left as it is).

        Returns
        -------
        Layer or Medium
            The changed layer.

        Raises
        ------
        ModelError
            For an unknown layer, a value that is not a finite number or is refused by
            the parameter; :class:`~shiftdesk.errors.ConstraintError` when a parameter
            to set is derived (follows a constraint). Nothing is changed then.
        """
        slab = self._layer_of(layer)
        if isinstance(sld, int | float | np.number) and not isinstance(sld, bool):
            values = [(slab.sld, _finite(sld, "the SLD"))]
            if isld is not None:
                values.append((slab.isld, _finite(isld, "the iSLD")))
        elif hasattr(sld, "sld") and hasattr(sld, "isld"):
            if isld is not None:
                raise ModelError("give isld only with a number for sld, not with an SLD result")
            values = [
                (slab.sld, round(_finite(sld.sld, "the SLD"), 4)),
                (slab.isld, round(_finite(sld.isld, "the iSLD"), 6)),
            ]
        else:
            raise ModelError(
                f"sld must be a number or an SLD result (tools.sld), not {type(sld).__name__}"
            )
        derived = [p for p, _ in values if p.derived]
        if derived:
            raise ConstraintError(
                f"{', '.join(p.path for p in derived)} follows a constraint "
                f"({'; '.join(p.constraint.text for p in derived if p.constraint)}); "
                "remove it first"
            )
        old = [(param, param.value, param.error) for param, _ in values]
        muted, self._muted = self._muted, True  # one change event for both values
        try:
            for param, value in values:
                param.value = value
        except ShiftdeskError:
            for param, value, error in old:  # nothing half-applied
                param.value = value
                param.error = error
            raise
        finally:
            self._muted = muted
        self._changed("values")
        return slab

    def _layer_of(self, layer: str | Layer | Medium) -> Layer | Medium:
        slabs = [slab for slab in self._slabs() if isinstance(slab, Layer | Medium)]
        if isinstance(layer, str):
            for slab in slabs:
                if slab.name == layer:
                    return slab
            if layer in ("front", "back"):
                return self.front if layer == "front" else self.back
            raise ModelError(
                f"no layer {layer!r} in the model; pick one of {', '.join(s.name for s in slabs)}"
            )
        if any(slab is layer for slab in slabs):
            return layer
        raise ModelError(
            f"{getattr(layer, 'name', layer)!r} is not a layer of this model; pick one of "
            f"{', '.join(s.name for s in slabs)}"
        )

    def _slab(self, name: str) -> _Slab:
        if name == "front":
            return self.front
        if name == "back":
            return self.back
        for slab in self._slabs():
            if slab.name == name:
                return slab
        raise KeyError(f"no layer or medium named {name!r}")

    # -- data and settings --------------------------------------------------------------
    @property
    def data(self) -> ReflData | None:
        """The data set (``None`` to model without data)."""
        return self._data

    @data.setter
    def data(self, data: ReflData | None) -> None:
        self._data = _checked_data(data)
        self._changed("data")

    def set_data(
        self, data: ReflData | None, q_min: float | None = None, q_max: float | None = None
    ) -> None:
        """Use other data, with the fit Q range ``[q_min, q_max]`` (default: all of it).

        Unlike assigning :attr:`data` (which keeps the Q range), the range starts anew:
        it belongs to the data it was chosen for. Nothing changes when the data or the
        range is refused (:class:`~shiftdesk.errors.ModelError`).
        """
        checked = _checked_data(data)
        lo, hi = _checked_q_range(q_min, q_max, checked)
        self._data = checked
        self._q_min, self._q_max = lo, hi
        self._changed("data")

    @property
    def q_min(self) -> float | None:
        """Lower end of the fit Q range (``None``: from the first point)."""
        return self._q_min

    @property
    def q_max(self) -> float | None:
        """Upper end of the fit Q range (``None``: to the last point)."""
        return self._q_max

    def set_q_range(self, q_min: float | None = None, q_max: float | None = None) -> None:
        """Set the Q range used for χ² and fitting; ``None`` leaves that end open.

        Raises :class:`~shiftdesk.errors.ModelError` (and changes nothing) for limits
        that are not finite, negative, or not increasing, or that leave no data point.
        """
        self._q_min, self._q_max = _checked_q_range(q_min, q_max, self._data)
        self._changed("settings")

    def fit_mask(self) -> NDArray[np.bool_]:
        """Which data points are inside the fit Q range."""
        return _q_mask(self._data, self._q_min, self._q_max)

    @property
    def oversampling(self) -> Oversampling:
        """``"auto"``, a number of points per Q, or ``None`` (off)."""
        return self._oversampling

    @oversampling.setter
    def oversampling(self, value: Oversampling) -> None:
        if value not in (None, "auto") and not (
            isinstance(value, int | np.integer) and 0 <= int(value) <= 1000
        ):
            raise ModelError(
                f"oversampling must be 'auto', None or a whole number 0–1000, not {value!r}"
            )
        self._oversampling = None if value in (None, 0) else value
        self._changed("settings")

    def _sampling_for(self, q: NDArray[np.float64], dq_sigma: NDArray[np.float64]) -> Sampling:
        return choose_sampling(self._oversampling, q, dq_sigma)

    # -- parameters ---------------------------------------------------------------------
    def parameters(self) -> dict[str, Parameter]:
        """Every parameter by path: ``front.sld``, ``SiO2.thickness``, ``back.roughness``, ..."""
        params: dict[str, Parameter] = {}
        for slab in self._slabs():
            for param in slab.parameters():
                params[param.path] = param
        params["scale"] = self.scale
        params["background"] = self.background
        return params

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters().values())

    def free_parameters(self) -> dict[str, Parameter]:
        """The parameters a fit will vary."""
        return {path: p for path, p in self.parameters().items() if p.free}

    def parameter(self, path: str) -> Parameter:
        """Look a parameter up by path (``"SiO2.thickness"``, or ``"h2o.SiO2.thickness"``)."""
        params = self.parameters()
        if path in params:
            return params[path]
        head, _, rest = path.partition(".")
        datasets = self.datasets
        if rest and head in datasets and rest in datasets[head].parameters():
            return datasets[head].parameters()[rest]
        raise KeyError(f"no parameter {path!r}; known: {', '.join(params)}")

    def all_parameters(self) -> dict[str, Parameter]:
        """The parameters of every data set's model.

        With one data set the same as :meth:`parameters`; with several, each path is
        qualified by its data set's name (``"d1.SiO2.thickness"``,
        ``"h2o.SiO2.thickness"``) so no two collide.
        """
        datasets = self._top().datasets
        if len(datasets) == 1:
            return self._top().parameters()
        return {
            f"{name}.{path}": param
            for name, ds in datasets.items()
            for path, param in ds.parameters().items()
        }

    def all_free_parameters(self) -> dict[str, Parameter]:
        """The parameters a (simultaneous) fit varies, named as in :meth:`all_parameters`."""
        return {path: p for path, p in self.all_parameters().items() if p.free}

    # -- constraints --------------------------------------------------------------------
    def constrain(self, text: str) -> Constraint:
        """Add a constraint written as text, e.g. ``"B.thickness = 0.08 * A.thickness"``.

        ``=`` (or ``==``) makes the parameter on the left derived: it follows the
        right-hand side and is not fitted. ``<``, ``<=``, ``>``, ``>=`` restrict fits.
        Expressions use parameter names, numbers, ``+ - * / **``, parentheses and
        ``min``, ``max``, ``abs``, ``sqrt``, ``exp``, ``log``. Unqualified names belong
        to this data set; ``name.Layer.param`` names another data set's parameter.

        Returns
        -------
        Constraint
            The constraint as stored (``.text`` shows it with canonical names).

        Raises
        ------
        ConstraintError
            For syntax errors (with the column), unknown parameters, a constant
            right-hand side, a parameter constrained twice, cycles, a free derived
            parameter, or anything outside the grammar. Nothing is changed then.
        """
        root = self._top()
        constraint = root._constraints.add(text, default=self)
        root._changed("values")
        return constraint

    @property
    def constraints(self) -> list[Constraint]:
        """The constraints of the problem (shared by all its data sets)."""
        return list(self._top()._constraints)

    def unconstrain(self, which: int | str | Constraint) -> Constraint:
        """Remove a constraint (by position, text or object); a derived parameter is freed."""
        root = self._top()
        constraint = root._constraints.remove(which)
        root._changed("range")
        return constraint

    def clear_constraints(self) -> None:
        """Remove every constraint."""
        root = self._top()
        root._constraints.clear()
        root._changed("range")

    def constraint_violations(self) -> list[str]:
        """Inequalities that do not hold with the current values, and constraints that
        cannot be applied (e.g. a layer they name was removed)."""
        return self._top()._constraints.violations()

    # -- data sets (simultaneous fits) ----------------------------------------------------
    def _top(self) -> FitProblem:
        return self._root if self._root is not None else self

    @property
    def dataset_name(self) -> str:
        """This data set's name within a simultaneous fit (``"d1"`` for the first)."""
        return self._dataset_name

    @dataset_name.setter
    def dataset_name(self, name: str) -> None:
        _datasets.rename(self, name)

    def _check_dataset_name(self, name: object) -> str:
        return _datasets.check_name(self._top(), name)

    @property
    def datasets(self) -> dict[str, FitProblem]:
        """Every data set's model by name, the first (this problem's root) first."""
        return _datasets.by_name(self._top())

    def dataset(self, name: str) -> FitProblem:
        """One data set's model by name."""
        datasets = self.datasets
        if name not in datasets:
            raise KeyError(f"no data set {name!r}; data sets are: {', '.join(datasets)}")
        return datasets[name]

    @property
    def is_simultaneous(self) -> bool:
        """True when the problem has more than one data set."""
        return len(self._top()._children) > 0

    def add_dataset(
        self, data: ReflData, name: str | None = None, *, model: FitProblem | None = None
    ) -> FitProblem:
        """Add a data set to fit together with the others; returns its model.

        Parameters
        ----------
        data : ReflData
            The data.
        name : str, optional
            Its name in constraints and results (letters, digits, _); ``d2``, ``d3``, ...
            by default.
        model : FitProblem, optional
            The model to use for it; default a copy of the first data set's model
            (same layers, values and free parameters, no constraints).

        Returns
        -------
        FitProblem
            The new data set's model; edit it like any model. Fitting it fits all
            data sets.
        """
        return _datasets.add(self._top(), data, name, model)

    def remove_dataset(self, name: str) -> FitProblem:
        """Remove a data set added with :meth:`add_dataset` (not the first one)."""
        return _datasets.remove(self._top(), name)

    def tie(self, path: str, *datasets: str) -> list[Constraint]:
        """Share a parameter between data sets: they all follow the first data set's.

        Parameters
        ----------
        path : str
            Parameter path within a model, e.g. ``"film.thickness"``.
        *datasets : str
            Which data sets: none, every other data set follows the first data set;
            one name, that data set follows the first data set; two or more names,
            the first named data set is the source and the others follow it.

        Returns
        -------
        list of Constraint
            One equality per tied data set, e.g. ``h2o.film.thickness = film.thickness``.
            A tied parameter that was free is fixed first (it follows the source now).
        """
        return _datasets.tie(self._top(), path, datasets)

    # -- evaluation ---------------------------------------------------------------------
    def _compiled_for(
        self,
        key: tuple[Any, ...],
        q: NDArray[np.float64],
        dq_sigma: NDArray[np.float64],
        r: NDArray[np.float64] | None,
        dr: NDArray[np.float64] | None,
        resolution: bool,
    ) -> CompiledModel:
        model = self._compiled.get(key)
        if model is None:
            if len(self._compiled) > 8:
                self._compiled.clear()
            # the calculation grid is chosen once per structure and Q grid, not per call
            sampling = self._sampling_for(q, dq_sigma) if resolution else Sampling()
            model = self._compiled[key] = CompiledModel(self, q, dq_sigma, r, dr, sampling=sampling)
        return model

    def evaluate(
        self,
        q: NDArray[np.float64] | list[float] | None = None,
        *,
        resolution: bool = True,
        dq: NDArray[np.float64] | float | None = None,
    ) -> ReflectivityCurve:
        """Compute the model reflectivity, its SLD profile and χ².

        Parameters
        ----------
        q : array, optional
            Q values (1/Å). Default: the data's Q (then χ² is computed).
        resolution : bool
            Smear with the Q resolution (the data's dQ, or ``dq``).
        dq : array or float, optional
            Resolution (FWHM, 1/Å) for a custom ``q``. Default: the data's relative
            resolution, else 3 % of Q.

        Returns
        -------
        ReflectivityCurve
            ``.q``, ``.r``, ``.profile``, and ``.chi2`` when computed on the data.
        """
        data = self._data
        r_data: NDArray[np.float64] | None
        dr_data: NDArray[np.float64] | None
        if q is None:
            if data is None:
                raise ModelError(
                    "this model has no data: pass q=numpy.linspace(...) to evaluate it on a "
                    "Q grid, or set fp.data = load_data(...)"
                )
            qv = data.q
            sigma = data.dq_sigma if resolution else np.zeros_like(qv)
            key: tuple[Any, ...] = ("data", resolution)
            r_data, dr_data = data.r, data.dr
        else:
            qv = np.asarray(q, dtype=float)
            if qv.ndim != 1 or qv.size == 0 or not np.all(np.isfinite(qv)) or np.any(qv <= 0):
                raise ModelError("q must be a 1-D array of positive, finite Q values")
            if resolution:
                if dq is None:
                    fraction = (
                        float(np.median(data.dq / data.q))
                        if data is not None
                        else DEFAULT_DQ_FRACTION
                    )
                    fwhm = fraction * qv
                else:
                    fwhm = np.broadcast_to(np.asarray(dq, dtype=float), qv.shape).copy()
                sigma = fwhm / SIGMA_TO_FWHM
            else:
                sigma = np.zeros_like(qv)
            key = ("grid", qv.tobytes(), sigma.tobytes())
            r_data = dr_data = None
        model = self._compiled_for(key, qv, sigma, r_data, dr_data, resolution)
        values = model.values()
        model.push(values)
        r = model.reflectivity(resolution=resolution)

        def profile() -> tuple[NDArray[np.float64], ...]:
            model.push(values)
            return model.profile()

        chi2 = None
        mask = None
        if q is None and data is not None:
            mask = self.fit_mask()
            resid = ((data.r - r) / data.dr)[mask]
            dof = max(int(mask.sum()) - len(self.free_parameters()), 1)
            chi2 = float(np.dot(resid, resid) / dof)
        return ReflectivityCurve(
            q=qv,
            r=r,
            data=data if q is None else None,
            chi2=chi2,
            in_range=mask,
            resolution=resolution,
            oversampling=model.oversampling,
            calc_points=model.calc_points,
            _profile_source=profile,  # type: ignore[arg-type]
        )

    def evaluate_all(self, *, resolution: bool = True) -> dict[str, ReflectivityCurve]:
        """Evaluate every data set's model on its data (a grid when it has none).

        Returns
        -------
        dict
            Data set name → :class:`ReflectivityCurve`, first data set first.
        """
        if resolution:
            return dict(self.curves())
        return self._evaluate_datasets(resolution=False)

    def curves(self) -> Curves:
        """Every data set's model curve, computed once per edit of the problem.

        Each data set is evaluated on its data (χ² included), or on :data:`MODEL_GRID`
        when it has none, with the Q resolution. The result is kept until the problem
        (any data set, parameter, constraint, data or setting) changes; views that show
        it subscribe with :meth:`observe_curves`. Called on any data set, it gives the
        curves of the whole problem.

        Returns
        -------
        Curves
            Data set name → :class:`ReflectivityCurve` (``.q``, ``.r``, ``.data``,
            ``.residuals``, ``.profile``, ``.chi2``), first data set first.

        Raises
        ------
        ModelError
            When a model cannot be evaluated (nothing is cached then).
        """
        root = self._top()
        cached = root._curves
        revision = root._revision
        if cached is not None and cached.revision == revision:
            return cached
        result = Curves(revision, root._evaluate_datasets(resolution=True))
        if root._revision == revision:
            root._curves = result
        return result

    def _evaluate_datasets(self, *, resolution: bool) -> dict[str, ReflectivityCurve]:
        curves: dict[str, ReflectivityCurve] = {}
        for name, ds in self.datasets.items():
            if ds.data is not None:
                curves[name] = ds.evaluate(resolution=resolution)
            else:
                curves[name] = ds.evaluate(q=MODEL_GRID, resolution=resolution)
        return curves

    # -- fitting ------------------------------------------------------------------------
    def check_fittable(self) -> None:
        """Raise :class:`~shiftdesk.errors.FitError` if a fit cannot start as set up."""
        from shiftdesk.reflectometry.fitting import check_fittable

        check_fittable(self._top())

    def fit(
        self,
        method: str = "lm",
        *,
        backend: JobBackend | str | None = None,
        title: str | None = None,
        **options: Any,
    ) -> Job:
        """Start a fit as a persisted job and return at once.

        Parameters
        ----------
        method : {"lm", "amoeba", "de", "dream", "newton"}
            The bumps fitter.
        backend : JobBackend or str, optional
            Where to run; default the local backend (a process per fit).
        title : str, optional
            Shown in "my fits".
        **options
            Fitter options (``steps``, ``burn``, ``samples``, ``pop``, ...).

        Returns
        -------
        Job
            ``job.result(timeout=...)`` returns a :class:`FitResult`.
        """
        from shiftdesk.reflectometry.fitting import submit_fit

        return submit_fit(self._top(), method, backend=backend, title=title, **options)

    def fit_now(self, method: str = "lm", **options: Any) -> FitResult:
        """Run a fit in this process and wait for it (blocks: for scripts, not dashboards)."""
        from shiftdesk.reflectometry.fitting import fit_in_process

        return fit_in_process(self._top(), method, options)

    def apply_result(self, result: FitResult) -> None:
        """Copy fitted values and errors from ``result`` into every data set's model."""
        root = self._top()
        fitted_sets = result.problem.datasets
        datasets = root.datasets
        if len(fitted_sets) == 1 and len(datasets) == 1:
            pairs = [(root, result.problem)]
        else:
            pairs = [
                (ds, fitted_sets[name]) for name, ds in datasets.items() if name in fitted_sets
            ]
        for ds in datasets.values():
            ds._muted = True
        try:
            for ds, fitted_ds in pairs:
                fitted = fitted_ds.parameters()
                for path, param in ds.parameters().items():
                    if path in fitted:
                        param.update_from_dict(fitted[path].to_dict())
        finally:
            for ds in datasets.values():
                ds._muted = False
        # derived values come from the fit: keep their propagated errors
        errors = {id(p): p.error for p in root.all_parameters().values() if p.derived}
        root._changed("values")
        for param in root.all_parameters().values():
            if param.derived and param.error is None:
                param.error = errors.get(id(param))

    # -- transformations ----------------------------------------------------------------
    def reverse(self) -> FitProblem:
        """Swap the media and reverse the layers (measure through the substrate).

        Interface roughnesses stay at their interfaces. Returns ``self``.
        """
        layers = list(self.layers)
        roughness = [layer.roughness.to_dict() for layer in layers] + [
            self.back.roughness.to_dict()
        ]
        self._muted = True
        try:
            self._detach(self.front)
            self._detach(self.back)
            front, back = self.back, self.front
            self.front, self.back = front, back
            self.layers._replace_all(list(reversed(layers)))
            front.roughness.update_from_dict({"value": 0.0, "fixed": True})
            front._set_side("front")
            back._set_side("back")
            # interface k (from the new front) is interface n-k of the old order
            new_rough = list(reversed(roughness))
            for layer, state in zip(self.layers, new_rough[:-1], strict=True):
                layer.roughness.update_from_dict(state)
            back.roughness.update_from_dict(new_rough[-1])
            self._attach(self.front)
            self._attach(self.back)
        finally:
            self._muted = False
        self._changed("structure")
        return self

    def copy(self, *, data: ReflData | bool | None = True) -> FitProblem:
        """An independent copy; ``data=other`` applies this model to other data.

        The copy of a first data set carries the other data sets (with their data) and
        the constraints; the copy of another data set's model is that model alone.
        """
        if self._root is not None:
            copy = FitProblem._from_model_state(self._model_dict(include_data=False))
        else:
            copy = FitProblem.from_dict(self.to_dict(include_data=False, child_data=False))
            for name, child in self.datasets.items():
                if child is not self:
                    copy.dataset(name)._data = child._data
        if data is True:
            copy.data = self._data
        elif isinstance(data, ReflData):
            copy.set_data(data)
        return copy

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self, *, include_data: bool = True, child_data: bool = True) -> dict[str, Any]:
        """JSON-ready state in shiftdesk's model schema (what travels to workers).

        ``include_data=False`` leaves out the first data set's data (saved models keep
        it as a file reference); the data of further data sets is always included
        (unless ``child_data=False``) since they have no other home. Called on another
        data set's model, returns the whole problem.
        """
        return _serialisation.to_dict(self, include_data=include_data, child_data=child_data)

    def _model_dict(self, *, include_data: bool = True) -> dict[str, Any]:
        return _serialisation.model_dict(self, include_data=include_data)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FitProblem:
        """Build a problem from :meth:`to_dict` output, validating everything.

        Reads both schema versions (``/1``: one data set, no constraints).
        """
        return _serialisation.from_dict(cls, state)

    @classmethod
    def _from_model_state(cls, state: dict[str, Any]) -> FitProblem:
        """One model (no data sets, no constraints) from its JSON state."""
        return _serialisation.from_model_state(cls, state)

    def to_json(self, *, include_data: bool = True, indent: int | None = 2) -> str:
        """The model as JSON text (download, save)."""
        return _serialisation.to_json(self, include_data=include_data, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> FitProblem:
        """Inverse of :meth:`to_json`."""
        return _serialisation.from_json(cls, text)

    # -- exports ------------------------------------------------------------------------
    def to_refl1d_script(self) -> str:
        """A refl1d model script that runs on its own (``refl1d model.py``)."""
        from shiftdesk.reflectometry.export import refl1d_script

        return refl1d_script(self)

    def parameters_csv(self) -> str:
        """Parameters as CSV: path, value, error, fixed, min, max, units."""
        from shiftdesk.reflectometry.export import parameters_csv

        return parameters_csv(self)

    # -- display ------------------------------------------------------------------------
    def describe(self) -> str:
        """The layer sequence, e.g. ``air | SiO2 | Si``."""
        return " | ".join(slab.name for slab in self._slabs())

    def __repr__(self) -> str:
        lines = [f"FitProblem({self.describe()})"]
        for path, param in self.parameters().items():
            state = "fixed" if param.fixed else f"free [{param.min:g}, {param.max:g}]"
            lines.append(f"  {path:<24} {param.format():<24} {state}")
        if self._data is not None:
            lines.append(f"  data: {self._data!r}")
        if self._root is None:
            for name, child in self.datasets.items():
                if child is not self:
                    lines.append(f"  data set {name}: {child.describe()}, data: {child.data!r}")
            lines.extend(f"  constraint: {c.text}" for c in self._constraints)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for slab in self._slabs():
            label = "front" if slab is self.front else "back" if slab is self.back else "layer"
            cells: list[object] = [label, slab.name]
            for attr in ("thickness", "sld", "isld", "roughness"):
                param = getattr(slab, attr, None)
                if param is None or param not in slab.parameters():
                    cells.append("")
                    continue
                text = escape(format_value(param.value, param.error))
                if param.free:
                    text += f" <small>[{param.min:g}, {param.max:g}]</small>"
                cells.append(Markup(f"<b>{text}</b>" if param.free else text))
            rows.append(cells)
        body = table(rows, ["", "name", "thickness (Å)", "SLD", "iSLD", "roughness (Å)"])
        extra = [
            ("scale", self.scale.format()),
            ("background", self.background.format()),
            ("data", repr(self._data) if self._data is not None else "none"),
            ("free parameters", str(len(self.free_parameters()))),
        ]
        if self.is_simultaneous:
            extra.append(("data sets", ", ".join(self.datasets)))
        extra += [("constraint", c.text) for c in self.constraints]
        return html_repr(
            "FitProblem", self.title or self.describe(), repr(self), body + table(extra)
        )

    def widget(self) -> Any:
        """The interactive model editor and plots (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)


def _checked_data(data: object) -> ReflData | None:
    if data is not None and not isinstance(data, ReflData):
        raise ModelError(f"data must be ReflData (see load_data), not {type(data).__name__}")
    return data


def _checked_q_range(
    q_min: object, q_max: object, data: ReflData | None
) -> tuple[float | None, float | None]:
    """The Q range as floats, checked against ``data``; raises ModelError."""
    limits: list[float | None] = []
    for value, end in ((q_min, "Q min"), (q_max, "Q max")):
        if value is None:
            limits.append(None)
            continue
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ModelError(f"{end} must be a number, not {value!r}") from None
        if not np.isfinite(number):
            raise ModelError("the Q range limits must be finite numbers")
        if number < 0:
            raise ModelError(f"{end} ({number:g}) cannot be negative: Q is above 0")
        limits.append(number)
    lo, hi = limits
    if lo is not None and hi is not None and lo >= hi:
        raise ModelError(f"Q min ({lo:g}) must be below Q max ({hi:g})")
    if data is not None and not _q_mask(data, lo, hi).any():
        raise ModelError(
            f"no data point lies in the Q range [{lo}, {hi}]; the data covers "
            f"{data.q[0]:.4g} – {data.q[-1]:.4g} 1/Å"
        )
    return lo, hi


def _q_mask(data: ReflData | None, lo: float | None, hi: float | None) -> NDArray[np.bool_]:
    if data is None:
        return np.zeros(0, dtype=bool)
    q = data.q
    mask = np.ones(q.size, dtype=bool)
    if lo is not None:
        mask &= q >= lo
    if hi is not None:
        mask &= q <= hi
    return mask
