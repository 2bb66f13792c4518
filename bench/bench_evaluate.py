"""How much does shiftdesk add on top of refl1d when evaluating a model?

Model: air | top 40 Å | middle 250 Å | oxide 15 Å | Si, on 200 Q points
(geomspace 0.008–0.25 1/Å) with a Gaussian resolution of dQ = 2.5 % of Q (FWHM), and
synthetic data (5 % noise, fixed seed) attached, so ``evaluate()`` also computes χ².

Compared, side by side in one run (alternating blocks, median per call):

* shiftdesk ``fp.evaluate()`` after a value edit (one thickness changes each call, so
  refl1d really recomputes) -- the figure that matters for the RATIO;
* raw refl1d ``expt.update(); expt.reflectivity()`` on a ``QProbe`` with the same Q,
  σ = FWHM / 2.3548 and the same oversampling (``probe.oversample(n, seed=1)``), with
  the same thickness edit, and exactly as in the brief without the edit;
* shiftdesk ``fp.evaluate()`` with nothing changed (shiftdesk then skips
  ``experiment.update()`` and refl1d returns its cached curve: shown for information,
  it is *not* the same work).

Then the value-edit loop a widget drives: change a thickness, ``evaluate()``, read
``curve.profile`` (target ≤ 50 ms per edit), and a refnx comparison when refnx is
importable.

Run: ``.venv/bin/python bench/bench_evaluate.py``
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from _common import (
    interleaved,
    isolate,
    machine,
    median,
    percentile,
    print_table,
    ratio_line,
)

NAME = "evaluate"
TARGET = 1.5
EDIT_TARGET_MS = 50.0
TABLE_BUDGET_S = 40.0  # roughly how long the side-by-side table may take

Q = np.geomspace(0.008, 0.25, 200)
DQ_FWHM = 0.025 * Q
SIGMA_TO_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))  # 2.3548...

# (name, thickness Å, SLD 1e-6/Å², roughness Å) from the front (air) to the back (Si)
LAYERS = [("top", 40.0, 1.0, 4.0), ("middle", 250.0, 4.5, 6.0), ("oxide", 15.0, 3.47, 3.0)]
SI_SLD, SI_ROUGHNESS = 2.07, 2.0
EDITED = "middle"  # the layer whose thickness the loops change
EDIT_VALUES = (250.0, 251.0)  # alternated, so every call sees a new value


def build_shiftdesk():  # type: ignore[no-untyped-def]
    from shiftdesk.reflectometry import FitProblem, Layer, Medium, ReflData

    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer(n, thickness=t, sld=s, roughness=r) for n, t, s, r in LAYERS],
        back=Medium("Si", sld=SI_SLD, roughness=SI_ROUGHNESS),
    )
    truth = fp.evaluate(q=Q, dq=DQ_FWHM).r
    rng = np.random.default_rng(12345)
    dr = 0.05 * truth
    data = ReflData(
        q=Q, r=truth + dr * rng.standard_normal(Q.size), dr=dr, dq=DQ_FWHM, name="synthetic"
    )
    fp.data = data
    return fp


def build_raw(fp, oversampling: int):  # type: ignore[no-untyped-def]
    """The same model in plain refl1d; returns (experiment, edited thickness parameter)."""
    from bumps.parameter import Parameter
    from refl1d.names import SLD, Experiment, QProbe

    data = fp.data
    stack = SLD(name="Si", rho=SI_SLD)(0, SI_ROUGHNESS)
    edited = None
    for name, thickness, sld, roughness in reversed(LAYERS):
        t = Parameter(thickness, name=f"{name}.thickness")
        if name == EDITED:
            edited = t
        stack = stack | SLD(name=name, rho=sld)(t, roughness)
    stack = stack | SLD(name="air", rho=0.0)
    probe = QProbe(
        Q,
        DQ_FWHM / SIGMA_TO_FWHM,
        R=data.r,
        dR=data.dr,
        oversampled_regions=auto_grid(oversampling),
    )
    if oversampling > 0:
        probe.oversample(oversampling, seed=1)
    return Experiment(sample=stack, probe=probe), edited


def auto_grid(oversampling: int) -> list:  # type: ignore[type-arg]
    """shiftdesk's ``oversampling="auto"`` calculation grid as refl1d regions (none when a
    random oversampling is used): the raw probe then calculates on the same Q."""
    from refl1d.names import OversampledRegion

    from shiftdesk.reflectometry.resolution import calculation_regions

    if oversampling > 0:
        return []
    return [OversampledRegion(*r) for r in calculation_regions(Q, DQ_FWHM / SIGMA_TO_FWHM)]


def refnx_available() -> bool:
    return importlib.util.find_spec("refnx") is not None


def refnx_per_call(data) -> float:  # type: ignore[no-untyped-def]  # pragma: no cover
    """Median seconds per refnx model evaluation with the same structure (if installed)."""
    from refnx.reflect import SLD as RSLD
    from refnx.reflect import ReflectModel

    air, si = RSLD(0.0, name="air"), RSLD(SI_SLD, name="Si")
    structure = air(0, 0)
    for name, thickness, sld, roughness in LAYERS:
        structure = structure | RSLD(sld, name=name)(thickness, roughness)
    structure = structure | si(0, SI_ROUGHNESS)
    model = ReflectModel(structure, bkg=0.0, dq_type="pointwise")
    dq = data.dq  # refnx takes FWHM
    model(Q, x_err=dq)
    times = interleaved({"refnx": lambda: model(Q, x_err=dq)}, rounds=10, per_round=100)
    return median(times["refnx"])


def main() -> None:
    isolate()
    import shiftdesk.jobs

    print(f"# bench_evaluate: {machine()}")
    fp = build_shiftdesk()
    curve = fp.evaluate()
    n_over = curve.oversampling
    expt, raw_edit = build_raw(fp, n_over)
    expt.update()
    _, raw_r = expt.reflectivity()
    mismatch = float(np.max(np.abs(raw_r - curve.r) / curve.r))
    print(
        f"model: {fp.describe()}; {Q.size} Q points, dQ 2.5 % FWHM, "
        f"oversampling chosen by shiftdesk: {n_over}; chi2 = {curve.chi2:.3f}"
    )
    print(f"max relative difference shiftdesk vs raw refl1d R: {mismatch:.1e}")

    thickness = fp.layers[EDITED].thickness
    state = {"i": 0}

    def sd_edit() -> None:
        state["i"] ^= 1
        thickness.value = EDIT_VALUES[state["i"]]
        fp.evaluate()

    def sd_same() -> None:
        fp.evaluate()

    def raw_edit_call() -> None:
        state["i"] ^= 1
        raw_edit.value = EDIT_VALUES[state["i"]]
        expt.update()
        expt.reflectivity()

    def raw_plain() -> None:
        expt.update()
        expt.reflectivity()

    variants = {
        "shiftdesk evaluate(), thickness edited": sd_edit,
        "raw refl1d: edit + update() + reflectivity()": raw_edit_call,
        "raw refl1d: update() + reflectivity()": raw_plain,
        "shiftdesk evaluate(), nothing changed (cached)": sd_same,
    }
    warm = interleaved(variants, rounds=2, per_round=20)  # warm up, and size the run
    per_call = max(median(warm["raw refl1d: update() + reflectivity()"]), 1e-5)
    rounds = 20
    per_round = max(5, min(100, int(TABLE_BUDGET_S / (rounds * len(variants) * per_call))))
    times = interleaved(variants, rounds=rounds, per_round=per_round)
    med = {name: median(t) for name, t in times.items()}
    raw = med["raw refl1d: edit + update() + reflectivity()"]
    rows = [
        (
            name,
            f"{med[name] * 1e6:.0f}",
            f"{percentile(t, 0.9) * 1e6:.0f}",
            f"{med[name] / raw:.2f}",
            len(t),
        )
        for name, t in times.items()
    ]
    print()
    print_table(rows, ["per call", "median µs", "p90 µs", "÷ raw", "calls"])
    ratio = med["shiftdesk evaluate(), thickness edited"] / raw

    # -- what one widget edit costs kernel-side ------------------------------------------
    edit_times = []
    for i in range(300):
        t0 = time.perf_counter()
        thickness.value = 240.0 + (i % 21)
        c = fp.evaluate()
        _ = c.profile
        edit_times.append(time.perf_counter() - t0)
    edit_times = edit_times[20:]  # first ones warm the profile code up
    t0 = time.perf_counter()
    fp.layers.add("extra", thickness=10.0, sld=2.0, roughness=2.0)
    c = fp.evaluate()
    _ = c.profile
    structure_edit = time.perf_counter() - t0
    fp.layers.remove("extra")
    print()
    print_table(
        [
            (
                "value edit: set thickness, evaluate(), .profile",
                f"{median(edit_times) * 1e3:.2f}",
                f"{percentile(edit_times, 0.95) * 1e3:.2f}",
                f"{max(edit_times) * 1e3:.2f}",
            ),
            (
                "structure edit: add layer, evaluate(), .profile (rebuild)",
                f"{structure_edit * 1e3:.2f}",
                "",
                "",
            ),
        ],
        ["kernel-side cost", "median ms", "p95 ms", "max ms"],
    )
    print(
        f"value-edit target: median <= {EDIT_TARGET_MS:g} ms -> "
        f"{'OK' if median(edit_times) * 1e3 <= EDIT_TARGET_MS else 'OVER'}"
    )

    print()
    if refnx_available():  # pragma: no cover - refnx is not a dependency
        per = refnx_per_call(fp.data)
        print(
            f"refnx ReflectModel (pointwise dQ): {per * 1e6:.0f} µs per call "
            f"(shiftdesk edited / refnx = "
            f"{med['shiftdesk evaluate(), thickness edited'] / per:.2f})"
        )
    else:
        print("refnx comparison: skipped (refnx is not installed)")

    shiftdesk.jobs.shutdown_backends()
    print(ratio_line(NAME, ratio, TARGET))


if __name__ == "__main__":
    main()
