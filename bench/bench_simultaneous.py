"""What does shiftdesk add on top of bumps/refl1d for a simultaneous fit of two contrasts?

Problem: the two-layer film of ``bench_fit.py`` measured in two contrasts,
air | film2 44.75 Å, SLD 6.0, σ 5 | film1 577.6 Å, SLD 3.5, σ 8 | Si 2.07, σ 3 and the
same film under D2O (front SLD 6.36), 200 points each (linspace 0.008–0.2 1/Å), dQ = 2 %
of Q (FWHM), 5 % Gaussian noise (fixed seeds). Seven free parameters: the two
thicknesses and two SLDs, shared by both contrasts, the scale of each contrast and the
Si roughness of the D2O contrast.

Compared, side by side in one run, alternating, median of several runs each:

1. shiftdesk: ``fp.add_dataset(d2o)``, ``fp.tie(...)`` for the four shared parameters
   (equality constraints, bumps ``.equals``), then ``fp.fit_now("lm")``;
2. raw bumps built by hand: two refl1d experiments sharing the same four ``Parameter``
   objects in one ``bumps.fitproblem.FitProblem``, ``bumps.fitters.fit(problem,
   method="lm")`` (same start values, ranges, Q, σ and oversampling).

The RATIO is shiftdesk ÷ raw (target ≤ 1.5).

Run: ``.venv/bin/python bench/bench_simultaneous.py``
"""

from __future__ import annotations

import time

import numpy as np

from _common import isolate, machine, median, print_table, ratio_line

NAME = "simultaneous"
TARGET = 1.5
RUNS = 7  # of each, alternating, after one warm-up pair

Q = np.linspace(0.008, 0.2, 200)
DQ_FWHM = 0.02 * Q
SIGMA_TO_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))
FRONT = {"air": 0.0, "d2o": 6.36}
TRUTH = {
    "film2.thickness": 44.75, "film2.sld": 6.0, "film2.roughness": 5.0,
    "film1.thickness": 577.6, "film1.sld": 3.5, "film1.roughness": 8.0,
    "back.roughness": 3.0,
}  # fmt: skip
SHARED = {  # path: (start, min, max), one parameter for both contrasts
    "film2.thickness": (47.0, 20.0, 80.0),
    "film2.sld": (5.7, 4.0, 8.0),
    "film1.thickness": (570.0, 500.0, 650.0),
    "film1.sld": (3.6, 2.0, 5.0),
}
OWN = {  # (contrast, path): (start, min, max), one per contrast
    ("air", "scale"): (0.95, 0.8, 1.2),
    ("d2o", "scale"): (1.04, 0.8, 1.2),
    ("d2o", "back.roughness"): (4.0, 1.0, 10.0),
}


def model(front_sld: float):  # type: ignore[no-untyped-def]
    from shiftdesk.reflectometry import FitProblem, Layer, Medium

    t = TRUTH
    return FitProblem(
        front=Medium("ambient", sld=front_sld),
        layers=[
            Layer("film2", t["film2.thickness"], t["film2.sld"], 0.0, t["film2.roughness"]),
            Layer("film1", t["film1.thickness"], t["film1.sld"], 0.0, t["film1.roughness"]),
        ],
        back=Medium("Si", sld=2.07, roughness=t["back.roughness"]),
    )


def measured(name: str, seed: int):  # type: ignore[no-untyped-def]
    from shiftdesk.reflectometry import ReflData

    r = model(FRONT[name]).evaluate(q=Q, dq=DQ_FWHM).r
    dr = 0.05 * r
    noisy = r + dr * np.random.default_rng(seed).standard_normal(Q.size)
    return ReflData(q=Q, r=noisy, dr=dr, dq=DQ_FWHM, name=name)


def build_shiftdesk(data):  # type: ignore[no-untyped-def]
    fp = model(FRONT["air"])
    fp.dataset_name = "air"
    fp.data = data["air"]
    d2o = fp.add_dataset(data["d2o"], name="d2o")
    d2o.front.sld.value = FRONT["d2o"]
    for path, (start, lo, hi) in SHARED.items():
        fp.parameter(path).value = start
        fp.parameter(path).fit(lo, hi)
        fp.tie(path)
    for (name, path), (start, lo, hi) in OWN.items():
        param = fp.dataset(name).parameter(path)
        param.value = start
        param.fit(lo, hi)
    return fp


def auto_grid(oversampling: int) -> list:  # type: ignore[type-arg]
    """shiftdesk's ``oversampling="auto"`` calculation grid as refl1d regions (none when a
    random oversampling is used): the raw probe then calculates on the same Q."""
    from refl1d.names import OversampledRegion

    from shiftdesk.reflectometry.resolution import calculation_regions

    if oversampling > 0:
        return []
    return [OversampledRegion(*r) for r in calculation_regions(Q, DQ_FWHM / SIGMA_TO_FWHM)]


def build_raw(data, oversampling: dict[str, int]):  # type: ignore[no-untyped-def]
    """The same simultaneous problem written directly in refl1d/bumps; (problem, x0)."""
    from bumps.fitproblem import FitProblem as BumpsProblem
    from bumps.parameter import Parameter
    from refl1d.names import SLD, Experiment, QProbe

    shared = {p: Parameter(s, name=p).range(lo, hi) for p, (s, lo, hi) in SHARED.items()}
    experiments = []
    for name, front in FRONT.items():
        own = {
            path: Parameter(s, name=f"{name}.{path}").range(lo, hi)
            for (which, path), (s, lo, hi) in OWN.items()
            if which == name
        }
        back_roughness = own.get("back.roughness", TRUTH["back.roughness"])
        sample = (
            SLD(name="Si", rho=2.07)(0, back_roughness)
            | SLD(name="film1", rho=shared["film1.sld"])(
                shared["film1.thickness"], TRUTH["film1.roughness"]
            )
            | SLD(name="film2", rho=shared["film2.sld"])(
                shared["film2.thickness"], TRUTH["film2.roughness"]
            )
            | SLD(name="ambient", rho=front)
        )
        d = data[name]
        probe = QProbe(
            Q,
            DQ_FWHM / SIGMA_TO_FWHM,
            R=d.r,
            dR=d.dr,
            intensity=own["scale"],
            oversampled_regions=auto_grid(oversampling[name]),
        )
        if oversampling[name] > 0:
            probe.oversample(oversampling[name], seed=1)
        experiments.append(Experiment(sample=sample, probe=probe))
    problem = BumpsProblem(experiments)
    return problem, problem.getp().copy()


def main() -> None:
    isolate()
    import bumps.fitters

    import shiftdesk.jobs

    print(f"# bench_simultaneous: {machine()}")
    data = {"air": measured("air", 20261121), "d2o": measured("d2o", 20261122)}
    fp = build_shiftdesk(data)
    curves = fp.evaluate_all()
    oversampling = {name: curve.oversampling for name, curve in curves.items()}
    raw_problem, x0 = build_raw(data, oversampling)
    n_free = len(fp.all_free_parameters())
    print(
        f"models: {fp.describe()} and {fp.dataset('d2o').describe()}; 2 x {Q.size} points, "
        f"{n_free} free (raw {len(x0)}), oversampling {oversampling}; constraints: "
        + "; ".join(c.text for c in fp.constraints)
    )
    starts = {path: fp.parameter(path).value for path in fp.all_free_parameters()}

    sd_times: list[float] = []
    raw_times: list[float] = []
    sd_result = raw_result = None
    for run in range(RUNS + 1):  # run 0 warms both up
        for which in ("shiftdesk", "raw") if run % 2 == 0 else ("raw", "shiftdesk"):
            if which == "shiftdesk":
                for path, value in starts.items():  # fit_now leaves fp alone; be sure
                    fp.parameter(path).value = value
                t0 = time.perf_counter()
                sd_result = fp.fit_now("lm")
                elapsed = time.perf_counter() - t0
                if run:
                    sd_times.append(elapsed)
            else:
                raw_problem.setp(x0)
                t0 = time.perf_counter()
                raw_result = bumps.fitters.fit(raw_problem, method="lm")
                elapsed = time.perf_counter() - t0
                if run:
                    raw_times.append(elapsed)
    assert sd_result is not None and raw_result is not None
    fitted = sd_result.problem
    raw_fitted = dict(
        zip(
            [p.name for p in raw_problem._parameters],
            zip(raw_result.x, raw_result.dx, strict=True),
            strict=True,
        )
    )
    rows = []
    for path in SHARED:
        param = fitted.parameter(path)
        raw_value, raw_error = raw_fitted[path]
        rows.append(
            (
                f"{path} (shared)",
                f"{TRUTH[path]:g}",
                f"{param.value:.3f} ± {param.error:.3f}",
                f"{raw_value:.3f} ± {raw_error:.3f}",
            )
        )
    for name, path in OWN:
        param = fitted.dataset(name).parameter(path)
        raw_value, raw_error = raw_fitted[f"{name}.{path}"]
        truth = 1.0 if path == "scale" else TRUTH[path]
        rows.append(
            (
                f"{name}.{path}",
                f"{truth:g}",
                f"{param.value:.3f} ± {param.error:.3f}",
                f"{raw_value:.3f} ± {raw_error:.3f}",
            )
        )
    print()
    print_table(rows, ["parameter", "truth", "shiftdesk fit_now", "raw bumps.fitters.fit"])
    tied = fitted.dataset("d2o").parameter("film1.thickness")
    print(
        f"tied d2o.film1.thickness = {tied.value:.3f} ± {tied.error:.3f} (derived: {tied.derived})"
    )
    print(
        f"chi2: shiftdesk {sd_result.chi2:.4f} ({sd_result.steps} steps, converged: "
        f"{sd_result.converged}); raw {raw_problem.chisq():.4f} ({raw_result.nit} steps)"
    )
    print(
        "runs (s): shiftdesk "
        + ", ".join(f"{t:.3f}" for t in sd_times)
        + "; raw "
        + ", ".join(f"{t:.3f}" for t in raw_times)
    )
    print()
    print_table(
        [
            ("raw bumps.fitters.fit(problem, 'lm')", f"{median(raw_times) * 1e3:.0f}"),
            ("shiftdesk fp.fit_now('lm')", f"{median(sd_times) * 1e3:.0f}"),
        ],
        ["simultaneous fit, wall time", "median ms"],
    )
    ratio = median(sd_times) / median(raw_times)
    shiftdesk.jobs.shutdown_backends()
    print(ratio_line(NAME, ratio, TARGET))


if __name__ == "__main__":
    main()
