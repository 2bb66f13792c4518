"""Aperture photometry against photutils directly, light curves, and the period search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import SigmaClip
from astropy.wcs import WCS
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from tests.datalab._frames import CENTER, sky_positions, write_frame

from shiftdesk.datalab import OperationInputError, OperationResult, operations

SHAPE = (72, 72)
#: the target in the middle, four comparison stars near the corners (pixel x, y, flux)
FIELD = [(36, 36, 20000.0), (14, 14, 30000.0), (58, 15, 25000.0), (15, 57, 40000.0),
         (57, 58, 35000.0)]  # fmt: skip
SKY = sky_positions(FIELD, SHAPE)
TARGET = {"ra": SKY[0][0], "dec": SKY[0][1]}


def _night(folder: Path, times: np.ndarray, amplitude: np.ndarray, **kwargs: object) -> list[str]:
    """Frames at ``times`` (MJD), the target's flux times ``amplitude``, pointing dithered."""
    paths = []
    for i, (t, a) in enumerate(zip(times, amplitude, strict=True)):
        stars = [(SKY[0][0], SKY[0][1], SKY[0][2] * a), *SKY[1:]]
        center = (CENTER[0] + 2e-4 * (i % 3), CENTER[1] - 1.5e-4 * (i % 2))
        path = write_frame(
            folder / f"n{i:02d}.fits", shape=SHAPE, sky_stars=stars, center=center,
            noise=2.0, seed=i, mjd_obs=float(t), exptime=120.0, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        paths.append(str(path))
    return paths


def test_the_target_flux_is_photutils_aperture_photometry(tmp_path: Path) -> None:
    (path,) = _night(tmp_path, np.array([60370.1]), np.array([1.0]))
    result = operations.run(
        "aperture_photometry",
        {"input_files": [path], "target": TARGET, "aperture_radius": 6.0,
         "annulus_inner": 9.0, "annulus_outer": 13.0, "min_comparison_stars": 1},
        tmp_path / "out",
    )  # fmt: skip
    (row,) = result.data["light_curve"]
    data = fits.getdata(path, extname="SCI").astype(float)
    x, y = WCS(fits.getheader(path, extname="SCI")).world_to_pixel_values(
        TARGET["ra"], TARGET["dec"]
    )
    total = aperture_photometry(data, CircularAperture((x, y), r=6.0))["aperture_sum"][0]
    annulus = ApertureStats(
        data, CircularAnnulus((x, y), r_in=9.0, r_out=13.0), sigma_clip=SigmaClip(sigma=3.0)
    )
    expected = total - annulus.median * np.pi * 6.0**2
    assert row["target_flux"] == pytest.approx(expected, rel=1e-4)
    # and the star's known flux: a radius of 6 px holds all but 1e-5 of a FWHM 3 px Gaussian
    assert row["target_flux"] == pytest.approx(FIELD[0][2], rel=0.01)
    assert row["target_flux_error"] > 0
    assert (row["x"], row["y"]) == pytest.approx((float(x), float(y)))
    assert len(result.data["comparison_stars"]) == 4
    assert row["relative_flux"] == pytest.approx(20000 / 130000, rel=0.01)
    assert result.files == ()
    assert {p.name for p in result.images} == {"light_curve.png", "light_curve_thumb.png"}


def test_the_light_curve_follows_the_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    times = np.sort(60370.0 + rng.uniform(0, 0.4, 10))
    amplitude = 1 + 0.15 * np.sin(2 * np.pi * times / 0.21)
    paths = _night(tmp_path, times, amplitude)
    progress: list[float] = []
    result = operations.run(
        "aperture_photometry",
        {"input_files": paths[::-1], "target": TARGET, "min_comparison_stars": 2},
        tmp_path / "out",
        progress=lambda f, _m: progress.append(f),
    )
    rows = result.data["light_curve"]
    assert [row["time"] for row in rows] == pytest.approx(list(times + 60 / 86400))  # mid-exposure
    relative = np.array([row["relative_flux"] for row in rows])
    np.testing.assert_allclose(relative / relative.mean(), amplitude / amplitude.mean(), rtol=0.01)
    errors = np.array([row["relative_flux_error"] for row in rows])
    assert (errors > 0).all() and (errors < 0.01 * relative).all()
    assert result.data["filter"] == "rp"
    assert result.data["excluded"] == []
    assert progress == sorted(progress) and progress[-1] == 1.0
    back = OperationResult.from_json(result.to_json())  # the light curve travels as JSON
    assert back.data["light_curve"][3]["comparison_fluxes"] == rows[3]["comparison_fluxes"]


def test_a_frame_missing_the_target_is_left_out(tmp_path: Path) -> None:
    paths = _night(tmp_path, np.array([60370.1, 60370.2]), np.ones(2))
    away = write_frame(
        tmp_path / "away.fits", shape=SHAPE, sky_stars=SKY[1:], noise=2.0,
        center=(CENTER[0] + 0.01, CENTER[1]), mjd_obs=60370.3,
    )  # fmt: skip
    result = operations.run(
        "aperture_photometry",
        {"input_files": [*paths, str(away)], "target": TARGET, "min_comparison_stars": 2},
        tmp_path / "out",
    )
    assert len(result.data["light_curve"]) == 2
    assert result.data["excluded"] == [
        {"file": "away.fits", "reason": "the target (with its annulus) is outside the frame"}
    ]


def test_too_few_comparison_stars(tmp_path: Path) -> None:
    lonely = write_frame(
        tmp_path / "lonely.fits", shape=SHAPE, sky_stars=SKY[:2], noise=2.0
    )  # target and one other star
    with pytest.raises(OperationInputError) as err:
        operations.run(
            "aperture_photometry", {"input_files": [str(lonely)], "target": TARGET},
            tmp_path / "out",
        )  # fmt: skip
    assert err.value.field == "min_comparison_stars"
    assert "lonely.fits: found 1 usable comparison star(s), at least 3" in str(err.value)


def test_saturated_stars_are_not_comparison_stars(tmp_path: Path) -> None:
    path = write_frame(
        tmp_path / "sat.fits", shape=SHAPE, sky_stars=SKY, noise=2.0, header={"SATURATE": 3500.0}
    )
    result = operations.run(
        "aperture_photometry",
        {"input_files": [str(path)], "target": TARGET, "min_comparison_stars": 1},
        tmp_path / "out",
    )
    # peaks are flux / (2 pi sigma^2) + sky (sigma = 3 / 2.3548 px): 40000 and 35000 reach
    # 4020 and 3530, above 90 % of SATURATE; 30000 and 25000 stay at 3040 and 2550
    ids = sorted(round(c["x"]) for c in result.data["comparison_stars"])
    assert ids == [14, 58]


def test_the_period_of_a_sinusoid_is_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    times = np.sort(rng.uniform(0, 20, 80))
    period = 1.7
    values = 10 + 0.5 * np.sin(2 * np.pi * times / period) + rng.normal(0, 0.05, times.size)
    result = operations.run(
        "period_search",
        {"times": times, "values": values, "errors": np.full(times.size, 0.05)},
        tmp_path / "out",
    )
    data = result.data
    assert data["best_period"] == pytest.approx(period, rel=0.01)
    assert data["false_alarm_probability"] < 1e-10
    assert data["candidates"][0]["period"] == data["best_period"]
    assert len(data["frequency"]) == len(data["power"]) > 100
    assert data["n_points"] == 80
    names = sorted(p.name for p in result.images)
    assert names == ["periodogram.png", "periodogram_thumb.png", "phased.png", "phased_thumb.png"]


def test_noise_has_no_significant_period(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    times = np.sort(rng.uniform(0, 20, 60))
    result = operations.run(
        "period_search",
        {"times": times, "values": rng.normal(0, 1, times.size), "minimum_period": 0.5},
        tmp_path / "out",
    )
    assert result.data["false_alarm_probability"] > 0.01
    shortest = 1 / result.data["frequency"][-1]
    assert 0.5 <= shortest < 0.51


def test_a_period_search_on_a_photometry_result(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    times = np.sort(60370.0 + rng.uniform(0, 1.0, 14))
    period = 0.23
    paths = _night(tmp_path, times, 1 + 0.2 * np.sin(2 * np.pi * times / period))
    photometry = operations.run(
        "aperture_photometry",
        {"input_files": paths, "target": TARGET, "min_comparison_stars": 2},
        tmp_path / "phot",
    )
    for given in (photometry.data, photometry.to_dict()):
        result = operations.run(
            "period_search", {"photometry": given, "minimum_period": 0.05}, tmp_path / "ls"
        )
        assert result.data["best_period"] == pytest.approx(period, rel=0.02)
        assert result.data["false_alarm_probability"] < 0.01
