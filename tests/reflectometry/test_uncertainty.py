"""DREAM uncertainty: posterior statistics, correlations, diagnostics, profile band, JSON.

One short DREAM run on the demo data (oversampling off, 1000 samples: a few seconds) is
shared by the tests that need a real posterior; the diagnostics' logic is also checked
on synthetic chains whose answer is known.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from shiftdesk.reflectometry import FitResult
from shiftdesk.reflectometry.demo import starting_problem
from shiftdesk.reflectometry.uncertainty import (
    NOT_CONVERGED,
    RHAT_LIMIT,
    Uncertainty,
    convergence_warnings,
    gelman_rubin,
    profile_band,
)

PATHS = ["film1.thickness", "film2.thickness"]


@pytest.fixture(scope="module")
def result() -> FitResult:
    np.random.seed(20261121)  # bumps' DREAM draws from numpy's global generator
    problem = starting_problem()
    problem.oversampling = None  # DREAM needs thousands of evaluations; keep them cheap
    fitted = problem.fit_now("dream", samples=1000, burn=50)
    assert fitted.uncertainty is not None
    return fitted


def test_intervals_hold_the_best_value_and_95_is_wider(result: FitResult) -> None:
    u = result.uncertainty
    assert u is not None and u.paths == PATHS
    fitted = result.problem.free_parameters()
    for path, s in u.parameters.items():
        assert s.best == pytest.approx(fitted[path].value)  # the fit's own best point
        assert s.p95[0] <= s.best <= s.p95[1]
        assert s.p95[0] < s.p68[0] <= s.median <= s.p68[1] < s.p95[1]
        assert s.p95[1] - s.p95[0] > s.p68[1] - s.p68[0] > 0
        assert s.std > 0 and s.p95[0] <= s.mean <= s.p95[1]
    # the older per-parameter dict is still filled, from the same numbers
    assert result.dream["film1.thickness"]["p68"] == list(u.parameters["film1.thickness"].p68)


def test_correlation_matrix(result: FitResult) -> None:
    u = result.uncertainty
    assert u is not None
    matrix = np.array(u.correlation, dtype=float)
    assert matrix.shape == (2, 2)
    assert np.allclose(np.diag(matrix), 1.0)
    assert np.array_equal(matrix, matrix.T)
    assert np.all(np.abs(matrix) <= 1.0 + 1e-12)
    assert u.correlation_of(*PATHS) == u.correlation_of(*reversed(PATHS))
    assert abs(u.correlation_of(*PATHS)) < 1.0  # two thicknesses are not the same number


def test_diagnostics_are_reported_not_hidden(result: FitResult) -> None:
    u = result.uncertainty
    assert u is not None
    d = u.diagnostics
    assert set(d.rhat) == set(PATHS)
    assert all(v is not None and v > 0.5 for v in d.rhat.values())
    assert d.max_rhat == max(v for v in d.rhat.values() if v is not None)
    assert 0.0 < d.acceptance_rate <= 1.0
    assert d.chains == 10 * len(PATHS)  # bumps' default pop of 10 per parameter
    assert d.burn == 50 and d.generations >= 50
    assert 0 < d.samples <= d.chains * d.generations and 0 < d.portion <= 1
    if d.burn_point is None or (d.max_rhat or 0) > RHAT_LIMIT:
        # a short run: the result must say so, in its warnings and its flag
        assert not d.converged and not result.converged
        assert any(NOT_CONVERGED in w for w in result.warnings)
        assert d.warnings and all(w in result.warnings for w in d.warnings)
        assert "NOT converged" in repr(u)
    else:
        assert d.converged and not d.warnings


def test_profile_band_encloses_the_best_profile(result: FitResult) -> None:
    u = result.uncertainty
    assert u is not None
    band = u.bands[result.problem.dataset_name]
    depth = np.array(band.depth)
    best = np.array(band.best)
    lo68, hi68 = (np.array(v) for v in band.p68)
    lo95, hi95 = (np.array(v) for v in band.p95)
    assert band.draws == 100 and depth.size == best.size == lo95.size
    assert np.all(np.diff(depth) > 0)
    # the grid spans the whole film (about 620 Å) with media on both sides
    assert depth[0] < 0 and depth[-1] > 600
    assert np.all(lo95 <= lo68 + 1e-12) and np.all(hi68 <= hi95 + 1e-12)
    assert np.all(hi95 - lo95 >= hi68 - lo68 - 1e-12)
    assert np.max(hi95 - lo95) > np.max(hi68 - lo68) > 0  # thicknesses vary: interfaces move
    inside = (best >= lo95 - 1e-9) & (best <= hi95 + 1e-9)
    assert inside.mean() >= 0.95
    # the band is the profile of the model: Si substrate deep down, air in front
    assert best[-1] == pytest.approx(2.07, abs=0.01) and best[0] == pytest.approx(0.0, abs=0.01)
    # the same best profile the fitted model itself draws
    curve = result.problem.evaluate()
    z, rho, _ = curve.profile
    assert np.interp(depth[50:-50], z, rho) == pytest.approx(best[50:-50], abs=1e-6)


def test_json_round_trip(result: FitResult) -> None:
    text = json.dumps(result.to_dict(), allow_nan=False)  # strict JSON: no NaN sneaks in
    again = FitResult.from_dict(json.loads(text))
    assert again.uncertainty == result.uncertainty
    assert again.dream == result.dream
    assert Uncertainty.from_dict(json.loads(json.dumps(result.uncertainty.to_dict()))) == (  # type: ignore[union-attr]
        result.uncertainty
    )
    html = result.uncertainty._repr_html_()  # type: ignore[union-attr]
    assert "film2.thickness" in html and "R-hat" in html


def test_results_stored_before_diagnostics_still_load(result: FitResult) -> None:
    old: dict[str, Any] = result.to_dict()
    del old["uncertainty"]
    again = FitResult.from_dict(old)
    assert again.uncertainty is None and again.dream == result.dream


def test_other_fitters_have_no_uncertainty() -> None:
    problem = starting_problem()
    fitted = problem.fit_now("lm")
    assert fitted.uncertainty is None and fitted.dream == {}
    assert FitResult.from_dict(json.loads(json.dumps(fitted.to_dict()))).uncertainty is None


def test_wrong_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not shiftdesk DREAM statistics"):
        Uncertainty.from_dict({"schema": "something else"})


# -- the diagnostics' logic on chains with a known answer ----------------------------------
def test_gelman_rubin_tells_mixed_from_stuck_chains() -> None:
    rng = np.random.default_rng(7)
    mixed = rng.normal(size=(400, 8, 2))
    stuck = mixed.copy()
    stuck[:, :, 1] += np.arange(8)[None, :]  # each chain sits somewhere else
    rhat_mixed = gelman_rubin(mixed)
    rhat_stuck = gelman_rubin(stuck)
    assert all(v is not None and v < 1.05 for v in rhat_mixed)
    assert rhat_stuck[0] is not None and rhat_stuck[0] < 1.05
    assert rhat_stuck[1] is not None and rhat_stuck[1] > 2 * RHAT_LIMIT
    # too short to say: no number rather than a made-up one
    assert gelman_rubin(mixed[:1]) == [None, None]
    # a parameter that never moved says nothing about convergence
    frozen = mixed.copy()
    frozen[:, :, 0] = 3.0
    assert gelman_rubin(frozen)[0] is None
    with pytest.raises(ValueError, match="generations × chains × variables"):
        gelman_rubin(mixed[:, :, 0])


def test_convergence_warnings_say_what_is_wrong() -> None:
    assert convergence_warnings({"a": 1.01, "b": 1.05}, burn_point=10, acceptance_rate=0.3) == []
    stuck = convergence_warnings({"a": 1.01, "b": 1.9}, burn_point=10, acceptance_rate=0.3)
    assert len(stuck) == 1
    assert stuck[0].startswith(NOT_CONVERGED) and "b 1.90" in stuck[0] and "a 1.01" not in stuck[0]
    drifting = convergence_warnings({"a": 1.0}, burn_point=None, acceptance_rate=0.3)
    assert len(drifting) == 1 and NOT_CONVERGED in drifting[0] and "run longer" in drifting[0]
    narrow = convergence_warnings({"a": 1.0}, burn_point=3, acceptance_rate=0.01)
    assert len(narrow) == 1 and "accepted" in narrow[0]


def test_profile_band_quantiles_of_known_profiles() -> None:
    z = np.linspace(0.0, 10.0, 11)
    levels = np.linspace(0.0, 1.0, 101)
    profiles = [(z, np.full_like(z, level)) for level in levels]
    band = profile_band(profiles, (z, np.full_like(z, 0.5)), points=21)
    assert band.depth[0] == 0.0 and band.depth[-1] == 10.0 and len(band.depth) == 21
    assert np.allclose(band.best, 0.5)
    assert np.allclose(band.p68[0], 0.16, atol=0.01) and np.allclose(band.p68[1], 0.84, atol=0.01)
    assert np.allclose(band.p95[0], 0.025, atol=0.01)
    assert np.allclose(band.p95[1], 0.975, atol=0.01)
    # profiles on different depth ranges share one grid; their media continue past the ends
    shifted = profile_band([(z, z), (z + 5.0, z + 5.0)], (z, z), points=31)
    assert shifted.depth[0] == 0.0 and shifted.depth[-1] == 15.0
    with pytest.raises(ValueError, match="at least one"):
        profile_band([], (z, z))


def test_simultaneous_fit_has_a_band_per_data_set(result: FitResult) -> None:
    # (uses the module's DREAM run only to have numba warm)
    from shiftdesk.reflectometry.demo import demo_data

    problem = starting_problem()
    problem.oversampling = None
    other = problem.add_dataset(demo_data(), "copy")
    other.oversampling = None
    for layer in ("film1", "film2"):
        other.layers[layer].thickness.fix()  # the copy's model does not move with the fit
    fitted = problem.fit_now("dream", samples=300, burn=10)
    u = fitted.uncertainty
    assert u is not None
    assert u.paths == ["d1.film1.thickness", "d1.film2.thickness"]  # named per data set
    assert set(u.bands) == {"d1", "copy"}
    moving, fixed = u.bands["d1"], u.bands["copy"]
    assert np.max(np.subtract(moving.p95[1], moving.p95[0])) > 0
    assert np.allclose(fixed.p95[0], fixed.p95[1], rtol=0, atol=1e-9)  # nothing varies
    assert np.allclose(fixed.best, fixed.p68[0])


@pytest.mark.slow  # a worker process, its numba warm-up and a DREAM run
def test_dream_job_stores_the_statistics_as_json() -> None:
    import shiftdesk.jobs
    from shiftdesk.storage import JobRecord, get_database

    problem = starting_problem()
    problem.oversampling = None
    job = problem.fit(method="dream", samples=300, burn=10)
    fitted = job.result(timeout=180)
    assert isinstance(fitted, FitResult) and fitted.uncertainty is not None
    assert fitted.uncertainty.paths == PATHS
    assert set(fitted.uncertainty.bands) == {problem.dataset_name}
    # what the database holds is strict JSON (no pickles, no NaN) and reads back the same
    with get_database().session() as session:
        stored = session.get(JobRecord, job.id).result_json
    assert stored is not None
    state = json.loads(stored, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert Uncertainty.from_dict(state["uncertainty"]) == fitted.uncertainty
    assert [j.id for j in shiftdesk.jobs.list_jobs()] == [job.id]
