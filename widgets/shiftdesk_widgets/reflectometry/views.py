"""The views of reflectometry's objects (registered when the domain's views load)."""

from __future__ import annotations

from typing import Any

from shiftdesk.reflectometry import FitProblem, FitResult, ReflData
from shiftdesk_widgets.reflectometry import ReflectivityPlot, ReflectometryDashboard
from shiftdesk_widgets.registry import register_view


def warm(wait: bool = False) -> None:
    """Load refl1d, bumps and refl1d's compiled kernels in the background (as an opened
    dashboard would); with ``wait``, return once they are loaded."""
    from shiftdesk_widgets.reflectometry import _warmup

    _warmup.start()
    if wait:
        _warmup.wait()


@register_view(FitProblem)
def problem_view(problem: FitProblem, **kwargs: Any) -> ReflectometryDashboard:
    """A fit problem opens in the reflectometry dashboard."""
    return ReflectometryDashboard(problem=problem, **kwargs)


@register_view(FitResult)
def result_view(result: FitResult, **kwargs: Any) -> ReflectometryDashboard:
    """A fit result opens in the dashboard of its problem, showing the result."""
    dashboard = ReflectometryDashboard(problem=result.problem, **kwargs)
    dashboard.show_result(result)
    return dashboard


@register_view(ReflData)
def data_view(data: ReflData, **kwargs: Any) -> ReflectivityPlot:
    """A data set shows as its reflectivity plot."""
    plot = ReflectivityPlot(**kwargs)
    plot.show(data=data)
    return plot
