"""Downloads: a stand-alone refl1d script, parameters as CSV."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from shiftdesk.reflectometry.data import SIGMA_TO_FWHM

if TYPE_CHECKING:
    from shiftdesk.reflectometry.layers import Layer, Medium
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem


def _array(values: np.ndarray) -> str:
    return "np.array([" + ", ".join(repr(float(v)) for v in values) + "])"


def _par(var: str, label: str, param: Parameter) -> list[str]:
    lines = [f"{var} = Parameter({param.value!r}, name={label!r})"]
    if param.free:
        lines.append(f"{var}.range({param.min!r}, {param.max!r})")
    return lines


def refl1d_script(problem: FitProblem) -> str:
    """A refl1d model script with the data inline; run it with ``refl1d script.py``.

    Every name in it comes from validated layer and data-set names (identifiers) and
    every number is written with ``repr``, so the script is plain data and refl1d calls.
    Constraints are written from their parsed form: equalities as
    ``parameter.equals(expression)``, inequalities in ``FitProblem(constraints=[...])``;
    several data sets become one experiment each in one ``FitProblem``.
    """
    from shiftdesk.reflectometry.constraints import to_text

    root = problem._top()
    datasets = root.datasets
    several = len(datasets) > 1
    constraints = root.constraints
    out: list[str] = [
        '"""refl1d model written by shiftdesk.',
        "",
        *[
            f"Model{f' {name}' if several else ''}: {ds.describe()}"
            for name, ds in datasets.items()
        ],
        "Run: refl1d this_file.py --fit=lm --steps=200   (or load it in the refl1d GUI)",
        '"""',
        "import numpy as np",
        "from bumps.names import FitProblem, Parameter",
        "from refl1d.names import SLD, Experiment, QProbe",
    ]
    if constraints:
        out += [
            "from bumps.parameter import max, min  # min/max of parameters",
            "from bumps.pmath import exp, log, sqrt",
        ]
    if any(ds.data is not None and not bool(np.all(ds.fit_mask())) for ds in datasets.values()):
        out += RANGE_EXPERIMENT.splitlines()
    out.append("")
    variables: dict[int, str] = {}
    experiments: list[str] = []
    for name, ds in datasets.items():
        prefix = f"{name}_" if several else ""
        label = f"{name}." if several else ""
        if several:
            out += [f"# -- data set {name} " + "-" * 40, ""]
        out += _dataset_script(ds, prefix, label, variables)
        experiments.append(f"{prefix}experiment")

    def var(node: Any) -> str:
        return variables[id(node.param)]

    relations: list[str] = []
    if constraints:
        out += ["", "# constraints"]
    for constraint in constraints:
        if constraint.problem:
            out.append(f"# not applied ({constraint.problem}): {constraint.text}")
            continue
        right = to_text(constraint.right, var)
        if constraint.equality:
            assert constraint.target is not None
            out.append(f"{var(constraint.target)}.equals({right})  # {constraint.text}")
        else:
            left = to_text(constraint.left, var)
            relations.append(f"({left}) {constraint.relation} ({right})")
    models = experiments[0] if not several else "[" + ", ".join(experiments) + "]"
    extra = ""
    if relations:
        out += ["constraints = [", *[f"    {r}," for r in relations], "]"]
        extra = ", constraints=constraints"
    out += [f"problem = FitProblem({models}{extra})", ""]
    if any("OversampledRegion(" in line for line in out):
        names = out.index("from refl1d.names import SLD, Experiment, QProbe")
        out[names] = "from refl1d.names import SLD, Experiment, OversampledRegion, QProbe"
    return "\n".join(out)


def _dataset_script(
    problem: FitProblem, p: str, label: str, variables: dict[int, str]
) -> list[str]:
    """The lines defining one data set's probe, sample and experiment (names ``p...``)."""

    def par(var: str, name: str, param: Parameter) -> list[str]:
        variables[id(param)] = var
        return _par(var, label + name, param)

    out: list[str] = []
    data = problem.data
    ranged = False
    if data is not None:
        mask = problem.fit_mask()
        ranged = not bool(np.all(mask))
        out += [
            f"# data {data.name!r} ({data.source}): {len(data)} points, "
            f"{int(mask.sum())} in the fit Q range",
            f"{p}Q = {_array(data.q)}",
            f"{p}R = {_array(data.r)}",
            f"{p}dR = {_array(data.dr)}",
            f"{p}dQ_fwhm = {_array(data.dq)}",
            f"{p}dQ = {p}dQ_fwhm / {SIGMA_TO_FWHM!r}  # refl1d wants the 1-sigma width",
        ]
        if ranged:
            lo = "" if problem.q_min is None else f"{problem.q_min:g}"
            hi = "" if problem.q_max is None else f"{problem.q_max:g}"
            flags = ", ".join("True" if m else "False" for m in mask)
            out += [
                "# the model is computed (and resolution-smeared) on every point; only the",
                f"# points in the fit Q range [{lo}, {hi}] 1/Å count in residuals and chi2",
                f"{p}in_range = np.array([{flags}])",
            ]
    else:
        out += [f"{p}Q = np.linspace(0.005, 0.3, 400)", f"{p}dQ = 0.03 * {p}Q / 2.3548200450309493"]
    out.append("")
    slabs: list[tuple[str, Layer | Medium]] = [
        ("front", problem.front),
        *[(layer.name, layer) for layer in problem.layers],
        ("back", problem.back),
    ]
    for key, slab in slabs:
        var = f"{p}m_{key}"
        out += par(f"{var}_rho", f"{key}.sld", slab.sld)
        out += par(f"{var}_irho", f"{key}.isld", slab.isld)
        out.append(f"{var} = SLD(name={slab.name!r}, rho={var}_rho, irho={var}_irho)")
    out.append("")
    out += par(f"{p}back_roughness", "back.roughness", problem.back.roughness)
    parts = [f"{p}m_back(0, {p}back_roughness)"]
    for layer in reversed(list(problem.layers)):
        n = f"{p}{layer.name}"
        out += par(f"{n}_thickness", f"{layer.name}.thickness", layer.thickness)
        out += par(f"{n}_roughness", f"{layer.name}.roughness", layer.roughness)
        parts.append(f"{p}m_{layer.name}({n}_thickness, {n}_roughness)")
    parts.append(f"{p}m_front")
    out += [
        "",
        "# refl1d stacks run from the substrate to the incident medium",
        f"{p}sample = " + " | ".join(parts),
        "",
    ]
    out += par(f"{p}scale", "scale", problem.scale)
    out += par(f"{p}background", "background", problem.background)
    sampling = problem._sampling_for(
        data.q if data is not None else np.zeros(0),
        data.dq_sigma if data is not None else np.zeros(0),
    )
    probe_data = f", R={p}R, dR={p}dR" if data is not None else ""
    regions = ""
    if sampling.regions:
        # the calculation grid shiftdesk smears on: refl1d's convolution on the same
        # points gives the same curve
        out += [
            "# where R is calculated besides Q: (Q_start, Q_end, points) for the resolution",
            f"{p}regions = [",
            *[f"    ({a!r}, {b!r}, {n!r})," for a, b, n in sampling.regions],
            "]",
        ]
        regions = f", oversampled_regions=[OversampledRegion(a, b, n) for a, b, n in {p}regions]"
    out += [
        f"{p}probe = QProbe({p}Q, {p}dQ{probe_data}, intensity={p}scale, "
        f"background={p}background{regions})",
    ]
    if sampling.oversampling:
        out.append(f"{p}probe.oversample({sampling.oversampling}, seed=1)")
    if ranged:
        out += [f"{p}experiment = RangeExperiment({p}in_range, sample={p}sample, probe={p}probe)"]
    else:
        out += [f"{p}experiment = Experiment(sample={p}sample, probe={p}probe)"]
    return out


#: Written into scripts whose data sets have a fit Q range (plain refl1d calls only).
RANGE_EXPERIMENT = '''

class RangeExperiment(Experiment):
    """An Experiment whose residuals cover only the fit Q range.

    refl1d smears the model over every point of the probe (as shiftdesk does); the
    points outside the range are drawn but do not count in chi2.
    """

    def __init__(self, in_range, **kwargs):
        super().__init__(**kwargs)
        self.in_range = np.asarray(in_range, dtype=bool)

    def residuals(self):
        return super().residuals()[self.in_range]

    def numpoints(self):
        return int(self.in_range.sum())
'''


def parameters_csv(problem: FitProblem) -> str:
    """Every parameter: path, value, error, fixed, min, max, units, derived from.

    In a simultaneous fit the paths are qualified by data set (``h2o.A.sld``); a
    derived parameter gives the constraint it follows in the last column.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["parameter", "value", "error", "fixed", "min", "max", "units", "derived from"])
    for path, param in problem.all_parameters().items():
        writer.writerow(
            [
                path,
                repr(param.value),
                "" if param.error is None else repr(param.error),
                "yes" if param.fixed else "no",
                "" if param.min is None else repr(param.min),
                "" if param.max is None else repr(param.max),
                param.units,
                param.constraint.text if param.derived else "",
            ]
        )
    return buffer.getvalue()
