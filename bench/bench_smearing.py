"""Resolution-smeared reflectivity: shiftdesk against refnx's quadrature, side by side.

Model: the refnx reference (air | SiO₂ 100 Å, SLD 3.47, σ 2 | Si 2.07, σ 3) on the 500
Q points of ``tests/reflectometry/reference/refnx_smeared_theoretical.txt`` with
dQ = 5 % of Q (FWHM). Every timed call first edits the SiO₂ thickness (100 ↔ 100.5 Å), so
no cached curve serves it:

* shiftdesk ``fp.evaluate(q=q, dq=dq)`` (``oversampling="auto"``: the adaptive
  calculation grid of :mod:`shiftdesk.reflectometry.resolution`) — the RATIO figure;
* refnx ``ReflectModel(structure, dq_type="pointwise")(q, x_err=dq)`` (its Gaussian
  quadrature), with refnx's default threads and with one thread; the RATIO divides by the
  faster of the two;
* raw refl1d, ``QProbe(q, σ)`` without oversampling: ``expt.update(); expt.reflectivity()``,
  and with shiftdesk's calculation grid as ``oversampled_regions`` (the same curve, with
  refl1d's own convolution on every call);
* shiftdesk with ``oversampling=51`` (refl1d's random oversampling, what "auto" chose
  before): for information.

Accuracy: each curve's max relative difference against the smeared reference, and
against a converged resolution integral computed here by brute force (the unsmeared
model on 1601 nodes over ±8 σ per point, trapezoid rule). The reference itself (refnx,
13-point Gauss–Legendre over ±3.5 σ) is off that integral by 2.6e-3 at one point, the
critical edge (Q = 0.00995), so that point is also shown separately.

Then an LM fit and a DREAM run (bumps defaults) of the demo film
(``shiftdesk.reflectometry.demo.starting_problem()``), each in its own process, with the
code as it is, then with the code of :data:`BEFORE_COMMIT` (``git archive`` of ``src/``
into a temporary folder, put first on ``PYTHONPATH``), then as it is again (the two
"after" runs bracket the old one, so a change of load shows), one after the other.

Run: ``.venv/bin/python bench/bench_smearing.py`` (about 3–4 min; ``--no-fits`` skips the
fits, ``--no-before`` the old code). refnx is a bench-only peer (``pip install refnx``);
without it the script says so and exits 0 without a RATIO line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, interleaved, isolate, machine, median, percentile, print_table, ratio_line

NAME = "smearing_vs_refnx"
TARGET = 1.0
#: The last commit whose ``oversampling="auto"`` was refl1d's 51× random oversampling.
BEFORE_COMMIT = "1be1d13"
REFERENCE = ROOT / "tests" / "reflectometry" / "reference" / "refnx_smeared_theoretical.txt"
SIGMA_TO_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))
EDIT_VALUES = (100.0, 100.5)  # SiO2 thickness, alternated: every call sees a new value
CRITICAL_EDGE_Q = 0.00995
LM_REPEATS = 9  # an LM fit of the demo takes well under a second: median of several


def sio2_on_si():  # type: ignore[no-untyped-def]
    from shiftdesk.reflectometry import FitProblem, Layer, Medium

    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=100.0, sld=3.47, roughness=2.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def converged(q: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """The smeared curve by brute force: 1601 nodes over ±8 σ per point."""
    sigma = fwhm / SIGMA_TO_FWHM
    x = np.linspace(-8.0, 8.0, 1601)
    weight = np.exp(-0.5 * x * x)
    nodes = (q[:, None] + sigma[:, None] * x[None, :]).ravel()
    r = sio2_on_si().evaluate(q=nodes, resolution=False).r.reshape(q.size, x.size)
    return np.trapezoid(r * weight, x, axis=1) / np.trapezoid(weight, x)


def smearing(q: np.ndarray, r_ref: np.ndarray, dq: np.ndarray) -> float:
    """The side-by-side table; returns shiftdesk ÷ refnx (median per call)."""
    from bumps.parameter import Parameter
    from refl1d.names import SLD, Experiment, OversampledRegion, QProbe
    from refnx.reflect import SLD as RSLD
    from refnx.reflect import ReflectModel

    from shiftdesk.reflectometry.resolution import calculation_regions

    state = {"i": 0}

    def flip() -> float:
        state["i"] ^= 1
        return EDIT_VALUES[state["i"]]

    fp = sio2_on_si()
    sd_thickness = fp.layers["SiO2"].thickness
    old = sio2_on_si()
    old.oversampling = 51
    old_thickness = old.layers["SiO2"].thickness

    structure = RSLD(0.0)(0, 0) | RSLD(3.47)(100.0, 2.0) | RSLD(2.07)(0, 3.0)
    refnx_model = ReflectModel(structure, bkg=0.0, dq_type="pointwise")
    refnx_one = ReflectModel(structure, bkg=0.0, dq_type="pointwise", threads=1)
    refnx_thickness = structure[1].thick

    raw_thickness = Parameter(100.0, name="SiO2 thickness")
    sample = SLD(rho=2.07)(0, 3.0) | SLD(rho=3.47)(raw_thickness, 2.0) | SLD(rho=0.0)
    raw = Experiment(sample=sample, probe=QProbe(q, dq / SIGMA_TO_FWHM))
    # the same calculation grid in plain refl1d (its own convolution, every call)
    regions = [OversampledRegion(*r) for r in calculation_regions(q, dq / SIGMA_TO_FWHM)]
    raw_grid = Experiment(
        sample=sample, probe=QProbe(q, dq / SIGMA_TO_FWHM, oversampled_regions=regions)
    )

    def sd_call() -> None:
        sd_thickness.value = flip()
        fp.evaluate(q=q, dq=dq)

    def old_call() -> None:
        old_thickness.value = flip()
        old.evaluate(q=q, dq=dq)

    def refnx_call() -> None:
        refnx_thickness.value = flip()
        refnx_model(q, x_err=dq)

    def refnx_one_call() -> None:
        refnx_thickness.value = flip()
        refnx_one(q, x_err=dq)

    def raw_call() -> None:
        raw_thickness.value = flip()
        raw.update()
        raw.reflectivity()

    def raw_grid_call() -> None:
        raw_thickness.value = flip()
        raw_grid.update()
        raw_grid.reflectivity()

    # -- accuracy, at the reference's thickness ---------------------------------------
    sd_curve = fp.evaluate(q=q, dq=dq)
    curves = {
        "shiftdesk evaluate(), auto grid": sd_curve.r,
        "refnx pointwise quadrature": np.asarray(refnx_model(q, x_err=dq)),
        "raw refl1d, no oversampling": np.asarray(raw.reflectivity()[1]),
        "raw refl1d, same grid (its convolve)": np.asarray(raw_grid.reflectivity()[1]),
        "shiftdesk, oversampling=51 (before)": old.evaluate(q=q, dq=dq).r,
    }
    exact = converged(q, dq)
    edge = int(np.argmin(np.abs(q - CRITICAL_EDGE_Q)))
    rest = np.arange(q.size) != edge

    def rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a / b - 1.0)

    print(
        f"model: {fp.describe()}; {q.size} Q points {q[0]:g}–{q[-1]:g} 1/Å, dQ 5 % FWHM; "
        f"shiftdesk calculates R at {sd_curve.calc_points} Q (the old 51× at "
        f"{51 * q.size})"
    )
    print()
    rows = [
        (
            name,
            f"{rel(r, r_ref).max():.1e}",
            f"{rel(r, r_ref)[rest].max():.1e}",
            f"{rel(r, exact).max():.1e}",
        )
        for name, r in curves.items()
    ]
    rows.append(
        ("(the reference itself)", "", "", f"{rel(r_ref, exact).max():.1e}"),
    )
    print_table(
        rows,
        [
            "max relative difference",
            "vs reference",
            f"vs reference without Q={q[edge]:g}",
            "vs converged integral",
        ],
    )
    print(
        f"at the critical edge Q = {q[edge]:g}: reference {r_ref[edge]:.6f}, converged "
        f"{exact[edge]:.6f}, shiftdesk {sd_curve.r[edge]:.6f} (the reference's 13-point "
        "quadrature is off there)"
    )

    # -- time per smeared evaluation after an edit --------------------------------------
    variants = {
        "shiftdesk evaluate(), edit + auto grid": sd_call,
        "refnx ReflectModel, edit (default threads)": refnx_call,
        "refnx ReflectModel, edit (threads=1)": refnx_one_call,
        "raw refl1d, edit, no oversampling": raw_call,
        "raw refl1d, edit, same grid (its convolve)": raw_grid_call,
    }
    interleaved(variants, rounds=2, per_round=20)  # warm up
    times = interleaved(variants, rounds=20, per_round=50)
    times.update(interleaved({"shiftdesk, oversampling=51 (before)": old_call}, 5, 10))
    med = {name: median(t) for name, t in times.items()}
    # the peer is refnx as fast as it ran here: on 2 busy cores its default threads are
    # sometimes slower than one thread
    peer = min(
        med["refnx ReflectModel, edit (default threads)"],
        med["refnx ReflectModel, edit (threads=1)"],
    )
    print()
    print_table(
        [
            (
                name,
                f"{med[name] * 1e3:.3f}",
                f"{percentile(t, 0.9) * 1e3:.3f}",
                f"{med[name] / peer:.2f}",
                len(t),
            )
            for name, t in times.items()
        ],
        ["per smeared evaluation", "median ms", "p90 ms", "÷ refnx (faster)", "calls"],
    )
    return med["shiftdesk evaluate(), edit + auto grid"] / peer


# -- fits of the demo film, before and after ---------------------------------------------------


def fit_times() -> dict[str, object]:
    """Run in a child process: time an LM fit and a DREAM run of the demo film."""
    import shiftdesk.reflectometry as refl
    from shiftdesk.reflectometry.demo import starting_problem

    problem = starting_problem()
    curve = problem.evaluate()
    out: dict[str, object] = {
        "source": str(Path(refl.__file__).resolve().parents[2]),
        "calc_points": int(getattr(curve, "calc_points", 0) or 51 * curve.q.size),
    }
    problem.fit_now("lm")  # warm-up (numba, imports)
    for method, repeats in (("lm", LM_REPEATS), ("dream", 1)):
        elapsed = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = problem.fit_now(method)
            elapsed.append(time.perf_counter() - t0)
        out[method] = median(elapsed)
        out[f"{method}_chi2"] = result.chi2
        out[f"{method}_evaluations"] = result.evaluations
        out[f"{method}_values"] = {row["path"]: row["value"] for row in result.parameters}
    import shiftdesk.jobs

    shiftdesk.jobs.shutdown_backends()
    return out


def run_fits(source: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, __file__, "--fit-child"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fit child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fits(before: bool) -> None:
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="shiftdesk-before-") as folder:
        if before:
            archive = subprocess.run(
                f"git -C {ROOT} archive {BEFORE_COMMIT} src | tar -x -C {folder}",
                shell=True,
                capture_output=True,
                text=True,
                check=False,
            )
            if archive.returncode == 0:
                # the new code before and after the old one: shows how far the load moved
                results["after (auto grid), 1st"] = run_fits(None)
                results[f"before ({BEFORE_COMMIT}, 51× random)"] = run_fits(Path(folder) / "src")
                results["after (auto grid), 2nd"] = run_fits(None)
            else:
                print(f"before: skipped (git archive {BEFORE_COMMIT} failed: {archive.stderr})")
        if not results:
            results["after (auto grid)"] = run_fits(None)
    print()
    rows = []
    for name, res in results.items():
        values = res["dream_values"]
        assert isinstance(values, dict)
        rows.append(
            (
                name,
                res["calc_points"],
                f"{res['lm']:.2f}",
                f"{res['lm_chi2']:.3f}",
                f"{res['dream']:.1f}",
                res["dream_evaluations"],
                ", ".join(f"{k} {v:.2f}" for k, v in values.items()),
            )
        )
    print_table(
        rows,
        [
            "demo film fits",
            "calc Q",
            f"LM s (median of {LM_REPEATS})",
            "LM χ²",
            "DREAM s",
            "DREAM evals",
            "DREAM best",
        ],
    )
    if len(results) == 3:
        first, before_res, second = results.values()

        def speedup(key: str) -> str:
            old = float(before_res[key])  # type: ignore[arg-type]
            new = (float(first[key]) + float(second[key])) / 2  # type: ignore[arg-type]
            return f"{old / new:.1f}×"

        print(
            f"before ÷ after (mean of the two after runs): LM fit {speedup('lm')}, "
            f"DREAM run {speedup('dream')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fits", action="store_true", help="skip the demo LM/DREAM fits")
    parser.add_argument("--no-before", action="store_true", help="skip the old code's fits")
    parser.add_argument("--fit-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    isolate()
    if args.fit_child:
        print(json.dumps(fit_times()))
        return
    print(f"# bench_smearing: {machine()}")
    if importlib.util.find_spec("refnx") is None:
        print(
            "refnx is not installed, so there is nothing to compare with: "
            "`.venv/bin/pip install refnx` (a bench-only peer, not a shiftdesk dependency). "
            "No RATIO line."
        )
        return
    q, r_ref, dq = np.loadtxt(REFERENCE, unpack=True)
    ratio = smearing(q, r_ref, dq)
    if not args.no_fits:
        fits(before=not args.no_before)
    import shiftdesk.jobs

    shiftdesk.jobs.shutdown_backends()
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    # as the issue states the target ("<= 1.0"); ratio_line would write "<= 1"
    print(ratio_line(NAME, ratio, TARGET).replace(f"<= {TARGET:g})", f"<= {TARGET:.1f})"))


if __name__ == "__main__":
    main()
