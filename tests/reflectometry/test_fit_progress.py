"""What a fit tells while it runs (steps, χ² so far, DREAM's time left) and why it cannot
start (a reason a view can put in its own words)."""

from __future__ import annotations

import pytest

from shiftdesk.errors import FitError
from shiftdesk.reflectometry.demo import starting_problem
from shiftdesk.reflectometry.fitting import (
    _Pace,
    expected_steps,
    fit_in_process,
    fit_obstacle,
    method_settings,
)


def test_pace_leaves_out_the_first_steps_and_follows_the_recent_ones() -> None:
    pace = _Pace()
    # steps 1-2 carry a one-off cost (9 s): not counted
    assert pace.remaining(1, 100, 0.0) is None
    assert pace.remaining(2, 100, 9.0) is None
    estimates = [pace.remaining(step, 100, 9.0 + 0.5 * (step - 2)) for step in range(3, 10)]
    assert estimates[:3] == [None, None, None]  # too few steps timed yet
    # 0.5 s a step, 91 steps left after step 9
    assert estimates[-1] == pytest.approx(0.5 * 91)
    assert pace.remaining(100, 100, 58.0) == 0.0


def test_fit_obstacle_gives_a_reason_and_check_fittable_the_message() -> None:
    problem = starting_problem()
    assert fit_obstacle(problem) is None
    for param in problem.free_parameters().values():
        param.fix()
    obstacle = fit_obstacle(problem)
    assert obstacle is not None and obstacle.reason == "nothing free"
    with pytest.raises(FitError, match="no parameter is free"):
        problem.check_fittable()
    problem.layers["film1"].thickness.fit(500, 650)
    problem.set_q_range(0.008, 0.00805)
    obstacle = fit_obstacle(problem)
    assert obstacle is not None and obstacle.reason == "too few points"
    assert obstacle.free == 1 and obstacle.points <= 1


def test_dream_reports_step_of_total_and_time_left() -> None:
    problem = starting_problem()
    options = {"samples": 2000, "burn": 20}
    total = expected_steps("dream", {**method_settings("dream"), **options}, 2)
    reports: list[tuple[float, str, dict[str, float]]] = []
    fit_in_process(
        problem,
        "dream",
        options,
        progress=lambda fraction, message, **metrics: reports.append((fraction, message, metrics)),
    )
    stepping = [r for r in reports if r[1].startswith("step ")]
    assert stepping, reports
    for _fraction, message, metrics in stepping:
        assert metrics["steps"] == total and metrics["burn"] == 20
        assert message == f"step {min(int(metrics['step']), total)} of {total}: χ² = " + (
            f"{metrics['chi2']:.4g}"
        )
    left = [m["remaining"] for _f, _t, m in stepping if "remaining" in m]
    assert left, "no estimate of the time left"
    assert left[-1] <= left[len(left) // 2] + 1.0  # it counts down
    assert any(t.startswith("computing the posterior") for _f, t, _m in reports)
    assert reports[-1][0] == 1.0


def test_lm_reports_steps_without_a_total() -> None:
    reports: list[dict[str, float]] = []
    fit_in_process(
        starting_problem(), "lm", {}, progress=lambda _f, _m, **metrics: reports.append(metrics)
    )
    assert all("remaining" not in m and "steps" not in m for m in reports)
    assert any("step" in m and "chi2" in m for m in reports)
