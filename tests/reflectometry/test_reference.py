"""The reflectivity calculation against independent reference curves (refnx, see reference/).

The models and tolerances are those of ``reference/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shiftdesk.reflectometry import FitProblem, Layer, Medium, ReflData

REFERENCE = Path(__file__).with_name("reference")


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a / b - 1.0)))


def sio2_on_si() -> FitProblem:
    """air | SiO2 100 Å, SLD 3.47, σ(air/SiO2) 2 | Si SLD 2.07, σ(SiO2/Si) 3."""
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=100.0, sld=3.47, roughness=2.0)],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def test_motofit_curve_without_resolution() -> None:
    q, r_ref = np.loadtxt(REFERENCE / "refnx_theoretical.txt", unpack=True)
    assert q.size == 500
    curve = sio2_on_si().evaluate(q, resolution=False)
    np.testing.assert_allclose(curve.r, r_ref, rtol=1e-9, atol=0)
    assert not curve.resolution and curve.oversampling == 0


def test_wrong_roughness_order_does_not_match() -> None:
    """The reference is sensitive to which interface carries which roughness."""
    q, r_ref = np.loadtxt(REFERENCE / "refnx_theoretical.txt", unpack=True)
    swapped = FitProblem(
        front=Medium("air", sld=0.0),
        layers=[Layer("SiO2", thickness=100.0, sld=3.47, roughness=3.0)],
        back=Medium("Si", sld=2.07, roughness=2.0),
    )
    assert max_rel(swapped.evaluate(q, resolution=False).r, r_ref) > 1e-3


def test_absorbing_layers() -> None:
    r_ref = np.load(REFERENCE / "refnx_refl1d.npy")
    q = np.linspace(0.005, 0.5, 1001)
    fp = FitProblem(
        front=Medium("fronting", sld=2.07),
        layers=[
            # roughness is on each layer's front side
            Layer("L1", thickness=100.0, sld=3.45, isld=0.1, roughness=3.0),
            Layer("L2", thickness=200.0, sld=5.0, isld=0.01, roughness=1.0),
        ],
        back=Medium("backing", sld=6.0, roughness=5.0),
    )
    curve = fp.evaluate(q, resolution=False)
    np.testing.assert_allclose(curve.r, r_ref, rtol=1e-9, atol=0)

    fp.layers["L1"].isld.value = 0.0  # absorption matters
    assert max_rel(fp.evaluate(q, resolution=False).r, r_ref) > 1e-2


def smeared_problem(oversampling: int | str | None) -> tuple[FitProblem, np.ndarray]:
    q, r_ref, dq_fwhm = np.loadtxt(REFERENCE / "refnx_smeared_theoretical.txt", unpack=True)
    data = ReflData(q=q, r=r_ref, dr=0.01 * r_ref, dq=dq_fwhm, name="smeared")
    fp = sio2_on_si()
    fp.data = data
    fp.oversampling = oversampling  # type: ignore[assignment]
    return fp, r_ref


def test_smeared_curve_with_oversampling() -> None:
    fp, r_ref = smeared_problem(51)
    curve = fp.evaluate()
    assert curve.resolution and curve.oversampling == 51
    np.testing.assert_allclose(curve.r, r_ref, rtol=2e-3, atol=0)
    # against its own data the model is almost exact: χ² with 1 % errors is tiny
    assert curve.chi2 is not None and curve.chi2 < 0.01


def test_auto_oversampling_switches_on_for_sparse_points() -> None:
    fp, r_ref = smeared_problem("auto")
    curve = fp.evaluate()
    # "auto" adds an evenly spaced calculation grid (not refl1d's random oversampling)
    assert curve.oversampling == 0 and curve.calc_points > curve.q.size
    assert max_rel(curve.r, r_ref) < 0.01


def test_without_oversampling_the_smeared_curve_is_wrong() -> None:
    """Proves the auto switch matters: the data grid alone samples the resolution badly."""
    fp, r_ref = smeared_problem(None)
    curve = fp.evaluate()
    assert curve.oversampling == 0
    assert max_rel(curve.r, r_ref) > 0.05


def test_auto_oversampling_stays_off_for_dense_points() -> None:
    q = np.linspace(0.01, 0.2, 2000)
    r = np.ones_like(q)
    fp = sio2_on_si()
    fp.data = ReflData(q=q, r=r, dr=r, dq=0.05 * q)  # spacing ≪ σ everywhere
    assert fp.evaluate().oversampling == 0
    fp.data = ReflData(q=q, r=r, dr=r, dq=np.zeros_like(q))  # no resolution at all
    assert fp.evaluate().oversampling == 0


def test_resolution_off_matches_the_unsmeared_reference() -> None:
    fp, _ = smeared_problem("auto")
    q, r_ref = np.loadtxt(REFERENCE / "refnx_theoretical.txt", unpack=True)
    np.testing.assert_array_equal(fp.data.q, q)  # type: ignore[union-attr]
    curve = fp.evaluate(resolution=False)
    np.testing.assert_allclose(curve.r, r_ref, rtol=1e-9)


def test_sld_profile_runs_from_the_front_interface() -> None:
    fp = sio2_on_si()
    depth, sld, isld = fp.evaluate(np.linspace(0.01, 0.1, 10)).profile
    assert np.all(np.diff(depth) > 0)
    # the profile reaches past both interfaces (3σ and more)
    assert depth[0] <= -3 * 2.0 and depth[-1] >= 100 + 3 * 3.0
    # air in front of depth 0, the oxide around 50 Å, silicon past the film
    assert abs(sld[0]) < 1e-3
    assert np.interp(-5.0, depth, sld) < 0.05
    assert np.interp(50.0, depth, sld) == pytest.approx(3.47, abs=1e-6)
    assert sld[-1] == pytest.approx(2.07, abs=5e-3)
    assert np.interp(106.0, depth, sld) == pytest.approx(2.07, abs=0.05)
    # the front interface (roughness 2) is centred on depth 0: half way from air to SiO2
    assert np.interp(0.0, depth, sld) == pytest.approx(3.47 / 2, abs=0.05)
    # the back interface (roughness 3) is centred on depth 100
    assert np.interp(100.0, depth, sld) == pytest.approx((3.47 + 2.07) / 2, abs=0.05)
    assert np.allclose(isld, 0.0)


def test_profile_follows_thickness_changes() -> None:
    fp = sio2_on_si()
    fp.layers["SiO2"].thickness.value = 250.0
    depth, sld, _ = fp.evaluate(np.linspace(0.01, 0.1, 10)).profile
    assert np.interp(200.0, depth, sld) == pytest.approx(3.47, abs=1e-6)
    assert np.interp(250.0, depth, sld) == pytest.approx((3.47 + 2.07) / 2, abs=0.05)
