"""Fitting: recovering a known film from noisy data, fit checks, warnings, jobs, DREAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shiftdesk.jobs
from shiftdesk.errors import FitError
from shiftdesk.jobs import JobStatus
from shiftdesk.reflectometry import FitProblem, FitResult, Layer, Medium, ReflData, load_data

TRUE_FILM1 = 577.6
TRUE_FILM2 = 44.75
SEED = 20240611


def true_model() -> FitProblem:
    """air | film2 | film1 | Si, as the synthetic data were made."""
    return FitProblem(
        front=Medium("air", sld=0.0),
        layers=[
            Layer("film2", thickness=TRUE_FILM2, sld=6.0, roughness=5.0),
            Layer("film1", thickness=TRUE_FILM1, sld=3.5, roughness=8.0),
        ],
        back=Medium("Si", sld=2.07, roughness=3.0),
    )


def write_synthetic(folder: Path, oversampling: str | None = "auto") -> Path:
    """200 points 0.008–0.2 1/Å, dQ 2 % FWHM, 5 % Gaussian noise (fixed seed), 4 columns."""
    q = np.linspace(0.008, 0.2, 200)
    dq = 0.02 * q
    model = true_model()
    model.oversampling = oversampling
    r = model.evaluate(q, dq=dq).r
    dr = 0.05 * r
    noisy = r + np.random.default_rng(SEED).normal(size=q.size) * dr
    path = folder / "film.txt"
    np.savetxt(path, np.column_stack([q, noisy, dr, dq]), header="Q R dR dQ(FWHM)")
    return path


def start_model(data: ReflData, oversampling: str | None = "auto") -> FitProblem:
    fp = true_model()
    fp.oversampling = oversampling
    fp.data = data
    fp.layers["film1"].thickness.value = 560.0
    fp.layers["film1"].thickness.fit(500, 650)
    fp.layers["film2"].thickness.value = 40.0
    fp.layers["film2"].thickness.fit(20, 70)
    return fp


@pytest.fixture
def problem(tmp_path: Path) -> FitProblem:
    data = load_data(write_synthetic(tmp_path))
    assert len(data) == 200
    return start_model(data)


def assert_recovered(result: FitResult) -> None:
    for name, truth in (("film1", TRUE_FILM1), ("film2", TRUE_FILM2)):
        param = result.problem.layers[name].thickness
        assert param.error is not None and param.error > 0, name
        assert abs(param.value - truth) < 3 * param.error, (name, param.value, param.error)


@pytest.mark.parametrize("method", ["lm", "amoeba"])
def test_fit_recovers_both_thicknesses(problem: FitProblem, method: str) -> None:
    start = problem.evaluate().chi2
    assert start is not None and start > 20  # the starting point is clearly wrong
    result = problem.fit_now(method)
    assert result.method == method
    assert result.converged, result.warnings
    assert result.warnings == []
    assert_recovered(result)
    # 5 % noise on 5 % error bars: reduced χ² near 1
    assert 0.6 < result.chi2 < 1.5
    assert result.problem.evaluate().chi2 == pytest.approx(result.chi2, rel=1e-6)
    assert result.steps > 0
    assert result.at_limit == []


def test_fit_now_leaves_the_problem_unchanged_and_apply_result_copies(
    problem: FitProblem,
) -> None:
    before = problem.to_dict()
    events: list[str] = []
    problem.observe(events.append)
    result = problem.fit_now("lm")
    assert problem.to_dict() == before
    assert events == []
    assert problem.layers["film1"].thickness.value == 560.0
    assert problem.layers["film1"].thickness.error is None

    problem.apply_result(result)
    for name in ("film1", "film2"):
        mine = problem.layers[name].thickness
        fitted = result.problem.layers[name].thickness
        assert mine.value == fitted.value
        assert mine.error == fitted.error and mine.error is not None
        assert mine.free and mine.bounds == fitted.bounds
    assert events == ["values"]
    assert problem.evaluate().chi2 == pytest.approx(result.chi2, rel=1e-9)


def test_fit_as_a_job(problem: FitProblem) -> None:
    job = problem.fit(method="lm")
    result = job.result(timeout=120)
    assert isinstance(result, FitResult)
    assert job.status is JobStatus.DONE
    assert job.kind == "reflectometry.fit"
    assert job.progress == 1.0
    assert "chi2" in job.metrics
    assert result.converged
    film1 = result.problem.layers["film1"].thickness
    assert film1.error is not None and film1.error > 0
    assert abs(film1.value - TRUE_FILM1) < 3 * film1.error
    assert 0.6 < result.chi2 < 1.5
    assert result.chi2 == pytest.approx(job.metrics["chi2"], rel=1e-9)
    assert "fitting air | film2 | film1 | Si with lm" in job.logs()
    # the submitted model is untouched
    assert problem.layers["film1"].thickness.value == 560.0
    assert [j.id for j in shiftdesk.jobs.list_jobs()] == [job.id]


# -- refused before any job exists --------------------------------------------------------


def _refused(fp: FitProblem, match: str, method: str = "lm", **options: object) -> None:
    with pytest.raises(FitError, match=match):
        fp.fit(method=method, **options)
    with pytest.raises(FitError, match=match):
        fp.fit_now(method, **options)
    assert shiftdesk.jobs.list_jobs() == []


def test_no_free_parameter_is_refused(problem: FitProblem) -> None:
    for param in problem.free_parameters().values():
        param.fix()
    _refused(problem, "no parameter is free")


def test_no_data_is_refused(problem: FitProblem) -> None:
    problem.data = None
    _refused(problem, "no data to fit")


def test_unknown_method_is_refused(problem: FitProblem) -> None:
    _refused(problem, "unknown fit method 'bogus'", method="bogus")


def test_unknown_option_is_refused(problem: FitProblem) -> None:
    _refused(problem, "lm has no option 'bogus'", bogus=1)


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("lm", {"steps": "abc"}, "'steps' must be a int like 200, not 'abc'"),
        ("lm", {"steps": 2.5}, "'steps' must be a int"),
        ("lm", {"ftol": "tiny"}, "'ftol' must be a float"),
        ("lm", {"ftol": float("nan")}, "'ftol' must be a float"),
        ("amoeba", {"steps": 0}, "'steps' must be positive"),
        ("dream", {"samples": -5}, "'samples' must be positive"),
    ],
)
def test_bad_option_values_are_refused(
    problem: FitProblem, method: str, options: dict[str, object], match: str
) -> None:
    _refused(problem, match, method=method, **options)


def test_too_few_points_for_the_free_parameters(problem: FitProblem) -> None:
    assert problem.data is not None
    q = problem.data.q
    problem.set_q_range(q[10], q[11])  # 2 points, 2 free parameters
    _refused(problem, "only 2 data point")


# -- warnings -----------------------------------------------------------------------------


def test_parameter_on_its_range_limit_is_reported(problem: FitProblem) -> None:
    problem.layers["film1"].thickness.fit(500, 570)  # the truth, 577.6, is outside
    result = problem.fit_now("lm")
    assert result.at_limit == ["film1.thickness"]
    assert result.problem.layers["film1"].thickness.value == pytest.approx(570, abs=0.1)
    assert any(
        "film1.thickness" in w and "sits on its range limit" in w for w in result.warnings
    ), result.warnings
    assert not any("film2" in w for w in result.warnings)
    assert "on range limit" in repr(result)


def test_amoeba_out_of_steps_is_not_converged(problem: FitProblem) -> None:
    result = problem.fit_now("amoeba", steps=3)
    assert result.converged is False
    assert any("did not converge" in w and "3 steps" in w for w in result.warnings)
    assert "NOT converged" in repr(result)


def test_lm_out_of_steps_is_not_converged(problem: FitProblem) -> None:
    result = problem.fit_now("lm", steps=2)
    assert result.converged is False
    assert any("did not converge" in w for w in result.warnings)


def test_result_json_round_trip(problem: FitProblem) -> None:
    result = problem.fit_now("lm")
    again = FitResult.from_dict(result.to_dict())
    assert again.chi2 == result.chi2 and again.converged == result.converged
    assert again.parameters == result.parameters


@pytest.mark.slow
def test_dream_reports_statistics(tmp_path: Path) -> None:
    # no oversampling here (data made the same way): DREAM needs thousands of evaluations
    data = load_data(write_synthetic(tmp_path, oversampling=None))
    fp = start_model(data, oversampling=None)
    result = fp.fit_now("dream", samples=2000, burn=20)
    assert set(result.dream) == {"film1.thickness", "film2.thickness"}
    for path, truth in (("film1.thickness", TRUE_FILM1), ("film2.thickness", TRUE_FILM2)):
        stats = result.dream[path]
        assert set(stats) >= {"mean", "median", "p68", "p95", "std", "best"}
        lo68, hi68 = stats["p68"]
        lo95, hi95 = stats["p95"]
        assert lo95 <= lo68 <= stats["median"] <= hi68 <= hi95
        assert stats["std"] > 0
        # a short chain, but it is in the right place
        assert abs(stats["median"] - truth) < 5, (path, stats)
    assert result.steps > 0
    if not result.converged:
        assert any("DREAM did not converge" in w for w in result.warnings)


def test_fit_with_a_q_range_minimises_the_chi2_that_evaluate_reports(
    problem: FitProblem,
) -> None:
    problem.set_q_range(0.02, 0.15)
    result = problem.fit_now("lm")
    assert result.problem.evaluate().chi2 == pytest.approx(result.chi2, rel=1e-6)
    # also without oversampling, where smearing over the range only was 40 % off
    problem.oversampling = None
    result = problem.fit_now("lm")
    assert result.problem.evaluate().chi2 == pytest.approx(result.chi2, rel=1e-6)
