"""Downloads: a stand-alone refl1d script, parameters as CSV."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

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

    Every name in it comes from validated layer names (identifiers) and every number is
    written with ``repr``, so the script is plain data and refl1d calls.
    """
    out: list[str] = [
        '"""refl1d model written by shiftdesk.',
        "",
        f"Model: {problem.describe()}",
        "Run: refl1d this_file.py --fit=lm --steps=200   (or load it in the refl1d GUI)",
        '"""',
        "import numpy as np",
        "from bumps.names import FitProblem, Parameter",
        "from refl1d.names import SLD, Experiment, QProbe",
        "",
    ]
    data = problem.data
    if data is not None:
        mask = problem.fit_mask()
        out += [
            f"# data {data.name!r} ({data.source}); Q range used: {int(mask.sum())} points",
            f"Q = {_array(data.q[mask])}",
            f"R = {_array(data.r[mask])}",
            f"dR = {_array(data.dr[mask])}",
            f"dQ_fwhm = {_array(data.dq[mask])}",
            f"dQ = dQ_fwhm / {SIGMA_TO_FWHM!r}  # refl1d wants the 1-sigma width",
        ]
    else:
        out += ["Q = np.linspace(0.005, 0.3, 400)", "dQ = 0.03 * Q / 2.3548200450309493"]
    out.append("")
    slabs: list[tuple[str, Layer | Medium]] = [
        ("front", problem.front),
        *[(layer.name, layer) for layer in problem.layers],
        ("back", problem.back),
    ]
    for key, slab in slabs:
        var = f"m_{key}"
        out += _par(f"{var}_rho", f"{key}.sld", slab.sld)
        out += _par(f"{var}_irho", f"{key}.isld", slab.isld)
        out.append(f"{var} = SLD(name={slab.name!r}, rho={var}_rho, irho={var}_irho)")
    out.append("")
    out += _par("back_roughness", "back.roughness", problem.back.roughness)
    parts = ["m_back(0, back_roughness)"]
    for layer in reversed(list(problem.layers)):
        out += _par(f"{layer.name}_thickness", f"{layer.name}.thickness", layer.thickness)
        out += _par(f"{layer.name}_roughness", f"{layer.name}.roughness", layer.roughness)
        parts.append(f"m_{layer.name}({layer.name}_thickness, {layer.name}_roughness)")
    parts.append("m_front")
    out += [
        "",
        "# refl1d stacks run from the substrate to the incident medium",
        "sample = " + " | ".join(parts),
        "",
    ]
    out += _par("scale", "scale", problem.scale)
    out += _par("background", "background", problem.background)
    oversampling = problem._oversampling_for(
        data.q[problem.fit_mask()] if data is not None else np.zeros(0),
        data.dq_sigma[problem.fit_mask()] if data is not None else np.zeros(0),
    )
    probe_data = ", R=R, dR=dR" if data is not None else ""
    out += [
        f"probe = QProbe(Q, dQ{probe_data}, intensity=scale, background=background)",
    ]
    if oversampling:
        out.append(f"probe.oversample({oversampling}, seed=1)")
    out += [
        "experiment = Experiment(sample=sample, probe=probe)",
        "problem = FitProblem(experiment)",
        "",
    ]
    return "\n".join(out)


def parameters_csv(problem: FitProblem) -> str:
    """Every parameter: path, value, error, fixed, min, max, units."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["parameter", "value", "error", "fixed", "min", "max", "units"])
    for path, param in problem.parameters().items():
        writer.writerow(
            [
                path,
                repr(param.value),
                "" if param.error is None else repr(param.error),
                "yes" if param.fixed else "no",
                "" if param.min is None else repr(param.min),
                "" if param.max is None else repr(param.max),
                param.units,
            ]
        )
    return buffer.getvalue()
