"""The DREAM uncertainty view, headless: table, correlations, warnings, profile band."""

from __future__ import annotations

import dataclasses
import html
import re

import numpy as np
import pytest

from shiftdesk.reflectometry.demo import starting_problem
from shiftdesk.reflectometry.uncertainty import (
    Diagnostics,
    ParameterStats,
    Uncertainty,
    convergence_warnings,
    profile_band,
)
from shiftdesk_widgets.reflectometry.uncertainty_view import UncertaintyView


def text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def make(rhat_b: float, burn_point: int | None) -> Uncertainty:
    """A two-parameter posterior; ``rhat_b`` and ``burn_point`` decide convergence."""
    rhat = {"A.thickness": 1.01, "B.sld": rhat_b}
    messages = convergence_warnings(rhat, burn_point, 0.25)
    z = np.linspace(-10.0, 110.0, 121)
    profiles = [(z, np.where(z < 50 + shift, 4.0, 2.07)) for shift in np.linspace(-2, 2, 40)]
    return Uncertainty(
        parameters={
            "A.thickness": ParameterStats(
                "A.thickness", 50.2, 50.1, 50.15, 0.8, (49.4, 50.9), (48.6, 51.7), 1.01
            ),
            "B.sld": ParameterStats(
                "B.sld", 3.99, 4.0, 4.0, 0.05, (3.95, 4.05), (3.9, 4.1), rhat_b
            ),
        },
        correlation=[[1.0, -0.62], [-0.62, 1.0]],
        diagnostics=Diagnostics(
            converged=not messages,
            rhat=rhat,
            acceptance_rate=0.25,
            burn_point=burn_point,
            generations=300,
            burn=100,
            portion=0.5,
            samples=2000,
            chains=20,
            warnings=messages,
        ),
        bands={"film": profile_band(profiles, profiles[20])},
    )


def test_converged_posterior() -> None:
    view = UncertaintyView(make(rhat_b=1.02, burn_point=40))
    assert "DREAM converged" in text(view.status.value)
    assert view.warnings.value == ""
    stats = text(view.stats.value)
    for expected in ("A.thickness", "50.2", "[49.4, 50.9]", "[48.6, 51.7]", "1.010", "B.sld"):
        assert expected in stats
    assert "-0.62" in text(view.correlation_table.value)
    assert list(view.heatmap.row) == ["A.thickness", "B.sld"]
    assert np.asarray(view.heatmap.color)[0, 1] == pytest.approx(-0.62)
    diag = text(view.diagnostics.value)
    assert "25.0%" in diag and "2000" in diag and "yes" in diag
    # band: 95 % and 68 % envelopes as filled pairs, best profile on top
    assert np.asarray(view.band95.y).shape == (2, len(view.band95.x))
    lo95, hi95 = np.asarray(view.band95.y)
    lo68, hi68 = np.asarray(view.band68.y)
    assert np.all(lo95 <= lo68) and np.all(hi68 <= hi95) and np.any(hi95 > lo95)
    assert len(view.best.y) == len(view.best.x) > 0
    assert view.band_choice.layout.display == "none"  # one data set: nothing to choose


def test_not_converged_is_shouted() -> None:
    view = UncertaintyView()
    assert "no DREAM result" in text(view.status.value)
    view.show(make(rhat_b=1.8, burn_point=None))
    assert "did NOT converge" in text(view.status.value)
    warnings = text(view.warnings.value)
    assert "DREAM did not converge" in warnings and "B.sld 1.80" in warnings
    assert "sd-bad" in view.stats.value  # the high R-hat is marked
    assert "NO" in text(view.diagnostics.value) and "not found" in text(view.diagnostics.value)


def test_fit_without_posterior() -> None:
    result = starting_problem().fit_now("lm")
    view = UncertaintyView(make(rhat_b=1.0, burn_point=5))
    view.show(result)
    assert "come from a DREAM fit" in text(view.status.value)
    assert view.stats.value == "" and len(view.best.x) == 0


def test_a_larger_posterior_after_a_smaller_one() -> None:
    """Two data sets' DREAM fit (four parameters) after a two-parameter one: the heat map
    takes the new size (it refused the third row when set one trait at a time)."""
    view = UncertaintyView(make(rhat_b=1.02, burn_point=40))
    bigger = make(rhat_b=1.02, burn_point=40)
    stats = bigger.parameters["B.sld"]
    for name in ("C.sld", "D.sld"):
        bigger.parameters[name] = dataclasses.replace(stats, path=name)
    bigger.correlation[:] = np.eye(4).tolist()
    bigger.diagnostics.rhat.update({"C.sld": 1.02, "D.sld": 1.02})
    view.show(bigger)
    assert list(view.heatmap.row) == ["A.thickness", "B.sld", "C.sld", "D.sld"]
    assert np.asarray(view.heatmap.color).shape == (4, 4)
    assert "D.sld" in text(view.stats.value)
    assert len(view.best.x) > 0  # the band is drawn too


def test_keys_are_under_the_figures() -> None:
    """The band's legend and the heat map's colour key sit under their figures: the
    legend inside the band covered the profile's peak, and bqplot's colour axis was a
    10 px stub in a 300 px figure."""
    view = UncertaintyView(make(rhat_b=1.02, burn_point=40))
    assert not any(mark.display_legend for mark in view.band_figure.marks)
    assert all(label in text(view.band_legend.value) for label in ("95 %", "68 %", "best"))
    assert view.band_legend in view.band_box.children
    assert [type(axis).__name__ for axis in view.heatmap_figure.axes] == ["Axis", "Axis"]
    assert "correlation" in text(view.correlation_key.value)
    assert view.heatmap_figure in view.figures
