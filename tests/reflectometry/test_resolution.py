"""Resolution smearing on the adaptive calculation grid (``oversampling="auto"``).

The smeared curves are checked against the refnx reference and against a converged
resolution integral computed here independently (the unsmeared model on a very dense
grid, integrated against the Gaussian by the trapezoid rule).
"""

from __future__ import annotations

import pickle
import runpy
from pathlib import Path

import numpy as np
import pytest

from shiftdesk.reflectometry import FitProblem, Layer, Medium, ReflData
from shiftdesk.reflectometry.data import SIGMA_TO_FWHM
from shiftdesk.reflectometry.engine import build_fit_model
from shiftdesk.reflectometry.resolution import (
    POINTS_PER_SIGMA,
    TAIL_IN_SIGMA,
    calculation_grid,
    calculation_regions,
    grid_probe,
    smearing_matrix,
)

REFERENCE = Path(__file__).with_name("reference")


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a / b - 1.0)))


def sio2_on_si() -> FitProblem:
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=100.0, sld=3.47, roughness=2.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def converged(fp: FitProblem, q: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """R smeared by the full Gaussian, by brute force: 1601 nodes over ±8 σ per point."""
    sigma = fwhm / SIGMA_TO_FWHM
    x = np.linspace(-8.0, 8.0, 1601)
    weight = np.exp(-0.5 * x * x)
    nodes = (q[:, None] + sigma[:, None] * x[None, :]).ravel()
    r = fp.evaluate(q=nodes, resolution=False).r.reshape(q.size, x.size)
    return np.trapezoid(r * weight, x, axis=1) / np.trapezoid(weight, x)


# -- the grid and the weights -------------------------------------------------------------


def test_no_resolution_no_grid() -> None:
    q = np.linspace(0.01, 0.2, 50)
    assert calculation_regions(q, np.zeros_like(q)) == []
    assert calculation_regions(q[:1], np.ones(1)) == []


def test_grid_is_fine_where_the_data_is_sparse_and_reaches_past_the_ends() -> None:
    q = np.linspace(0.005, 0.3, 300)
    sigma = 0.05 * q / SIGMA_TO_FWHM
    grid = calculation_grid(q, calculation_regions(q, sigma))
    assert np.all(np.isin(q, grid))  # the data's own Q are always calculated
    assert grid[0] == pytest.approx(q[0] - TAIL_IN_SIGMA * sigma[0])
    assert grid[-1] == pytest.approx(q[-1] + TAIL_IN_SIGMA * sigma[-1])
    # between data points the spacing is at most σ/POINTS_PER_SIGMA (σ of the
    # narrower end), or the data's own spacing where that is finer already
    inside = (grid >= q[0]) & (grid <= q[-1])
    g = grid[inside]
    allowed = np.interp(g[:-1], q, sigma) / POINTS_PER_SIGMA
    data_step = np.interp(g[:-1], q[:-1], np.diff(q))
    assert np.all(np.diff(g) <= np.maximum(allowed, data_step) * (1 + 1e-9))
    # dense data needs only the two tails
    dense = np.linspace(0.1, 0.2, 2000)
    regions = calculation_regions(dense, 0.05 * dense / SIGMA_TO_FWHM)
    assert len(regions) == 2


def test_grid_stays_small_for_a_resolution_much_narrower_than_the_spacing() -> None:
    """Only each point's own Gaussian is filled in, so a tiny σ cannot blow the grid up."""
    q = np.linspace(0.01, 0.2, 100)
    sigma = np.full(q.size, 1e-9)
    sigma[10] = 0.0  # a point without resolution needs no grid of its own
    regions = calculation_regions(q, sigma)
    grid = calculation_grid(q, regions)
    per_point = 2 * TAIL_IN_SIGMA * POINTS_PER_SIGMA + 2
    assert grid.size <= q.size * per_point
    assert not any(a <= q[10] + 1e-12 and q[10] - 1e-12 <= b for a, b, _ in regions[1:-1])
    assert all(b - a <= TAIL_IN_SIGMA * 1e-9 * (1 + 1e-6) for a, b, _ in regions)
    # and the smeared value at a point is then the unsmeared one
    values = np.cos(200 * grid)
    smeared = smearing_matrix(grid, q, sigma) @ values
    np.testing.assert_allclose(smeared, np.cos(200 * q), rtol=1e-9, atol=1e-12)


def test_grid_is_refl1ds_own_oversampled_regions() -> None:
    from refl1d.names import OversampledRegion, QProbe

    q = np.geomspace(0.008, 0.25, 120)
    sigma = 0.03 * q / SIGMA_TO_FWHM
    regions = calculation_regions(q, sigma)
    probe = QProbe(q, sigma, oversampled_regions=[OversampledRegion(*r) for r in regions])
    np.testing.assert_array_equal(calculation_grid(q, regions), probe.calc_Q)
    ours = grid_probe(q, sigma, regions)
    np.testing.assert_array_equal(ours.calc_Q, probe.calc_Q)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weights_give_refl1ds_convolution(seed: int) -> None:
    """W @ R is the integral refl1d's convolve computes on the same calculation grid."""
    from refl1d.sample.reflectivity import convolve

    rng = np.random.default_rng(seed)
    grid = np.unique(np.concatenate([rng.uniform(0.0, 1.0, 300), [0.0, 1.0]]))
    values = np.exp(-3 * grid) * (1.5 + np.cos(40 * grid)) + rng.uniform(0, 0.1, grid.size)
    q = np.sort(rng.uniform(0.0, 1.0, 80))
    sigma = rng.uniform(0.0, 0.05, q.size)
    sigma[::7] = 0.0  # no resolution: linear interpolation
    sigma[3] = 1e-5  # narrower than the grid spacing
    weights = smearing_matrix(grid, q, sigma)
    np.testing.assert_allclose(weights.sum(axis=1).A1, 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        weights @ values, convolve(grid, values, q, sigma), rtol=1e-11, atol=1e-14
    )


def test_grid_probe_pickles() -> None:
    q = np.linspace(0.01, 0.1, 20)
    sigma = 0.05 * q / SIGMA_TO_FWHM
    probe = grid_probe(q, sigma, calculation_regions(q, sigma))
    copy = pickle.loads(pickle.dumps(probe))
    np.testing.assert_array_equal(copy.calc_Q, probe.calc_Q)


# -- accuracy -------------------------------------------------------------------------------


def smeared_reference() -> tuple[FitProblem, np.ndarray, np.ndarray, np.ndarray]:
    q, r_ref, dq_fwhm = np.loadtxt(REFERENCE / "refnx_smeared_theoretical.txt", unpack=True)
    fp = sio2_on_si()
    fp.data = ReflData(q=q, r=r_ref, dr=0.01 * r_ref, dq=dq_fwhm, name="smeared")
    return fp, q, r_ref, dq_fwhm


def test_smeared_reference_on_the_auto_grid() -> None:
    fp, q, r_ref, dq_fwhm = smeared_reference()
    curve = fp.evaluate()
    assert curve.oversampling == 0 and q.size < curve.calc_points < 6 * q.size
    exact = converged(sio2_on_si(), q, dq_fwhm)
    # against the converged integral: well inside the old 51× random oversampling's
    # 1.7e-3 on this curve
    assert max_rel(curve.r, exact) < 5e-4
    # the reference itself (refnx, 13-point Gauss–Legendre over ±3.5 σ) is off the
    # converged integral by more than 2e-3 at one point, the critical edge
    # (Q = 0.00995, Qc = 0.0102), where the reflectivity has a kink
    edge = int(np.argmin(np.abs(q - 0.00995)))
    assert abs(r_ref[edge] / exact[edge] - 1) > 2e-3
    assert max_rel(np.delete(exact, edge), np.delete(r_ref, edge)) < 1.5e-3
    # everywhere else the curve is within the reference tolerance
    assert max_rel(np.delete(curve.r, edge), np.delete(r_ref, edge)) < 2e-3
    assert abs(curve.r[edge] / r_ref[edge] - 1) < 3.5e-3


@pytest.mark.parametrize(
    ("layers", "fraction"),
    [
        # a thick film (fringes of period 0.006 1/Å, comparable to σ) at 5 % and 2 %
        ([Layer("Ni", thickness=1000.0, sld=9.4, roughness=5.0)], 0.05),
        ([Layer("Ni", thickness=1000.0, sld=9.4, roughness=5.0)], 0.02),
        # absorbing layers
        (
            [
                Layer("L1", thickness=100.0, sld=3.45, isld=0.1, roughness=3.0),
                Layer("L2", thickness=200.0, sld=5.0, isld=0.01, roughness=1.0),
            ],
            0.05,
        ),
    ],
)
def test_other_models_match_the_converged_integral(layers: list[Layer], fraction: float) -> None:
    fp = FitProblem(
        front=Medium("air", sld=0.0), layers=layers, back=Medium("Si", sld=2.07, roughness=3.0)
    )
    q = np.linspace(0.008, 0.25, 200)
    fwhm = fraction * q
    curve = fp.evaluate(q=q, dq=fwhm)
    assert curve.calc_points > q.size
    assert max_rel(curve.r, converged(fp, q, fwhm)) < 2e-3


# -- one curve for evaluate, fits and the script ----------------------------------------------


def demo_problem() -> FitProblem:
    q = np.geomspace(0.008, 0.2, 150)
    fp = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("film2", thickness=44.75, sld=6.0, roughness=5.0),
            Layer("film1", thickness=577.6, sld=3.5, roughness=8.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )
    r = fp.evaluate(q=q, dq=0.04 * q).r
    fp.data = ReflData(q=q, r=r * 1.01, dr=0.05 * r, dq=0.04 * q, name="film")
    fp.layers["film1"].thickness.fit(550, 600)
    return fp


def test_the_fit_optimises_the_curve_evaluate_shows() -> None:
    fp = demo_problem()
    curve = fp.evaluate()
    model = build_fit_model(fp)
    np.testing.assert_array_equal(model.models[0].reflectivity(), curve.r)
    assert model.models[0].calc_points == curve.calc_points
    # ... and follows edits the same way
    fp.layers["film1"].thickness.value = 560.0
    point = np.asarray(model.problem.getp(), dtype=float)
    point[0] = 560.0
    model.problem.setp(point)
    np.testing.assert_array_equal(model.models[0].reflectivity(), fp.evaluate().r)


def test_exported_script_reproduces_the_curve(tmp_path: Path) -> None:
    fp = demo_problem()
    script = fp.to_refl1d_script()
    assert "oversampled_regions=" in script and "oversample(" not in script
    path = tmp_path / "model.py"
    path.write_text(script)
    namespace = runpy.run_path(str(path))
    experiment = namespace["experiment"]
    assert type(experiment.probe).__name__ == "QProbe"  # plain refl1d, its own convolution
    _, r = experiment.reflectivity()
    np.testing.assert_allclose(r, fp.evaluate().r, rtol=1e-10)
    assert namespace["problem"].chisq() == pytest.approx(fp.evaluate().chi2, rel=1e-9)
