"""ipywidgets + bqplot views over shiftdesk's domain objects.

Views hold only UI state; the domain objects (and the database) hold the rest.
"""

from __future__ import annotations

from typing import Any

from shiftdesk_widgets.daq import DAQDashboard, RunSheetEditor
from shiftdesk_widgets.jobs import JobView
from shiftdesk_widgets.reflectometry import (
    FitPanel,
    ModelTable,
    ParameterEditor,
    ProfilePlot,
    ReflectivityPlot,
    ReflectometryDashboard,
)

__all__ = [
    "DAQDashboard",
    "FitPanel",
    "JobView",
    "ModelTable",
    "ParameterEditor",
    "ProfilePlot",
    "ReflectivityPlot",
    "ReflectometryDashboard",
    "RunSheetEditor",
    "view",
]


def view(obj: object, **kwargs: Any) -> Any:
    """The interactive view of a shiftdesk object (what ``obj.widget()`` returns)."""
    from shiftdesk.jobs import Job
    from shiftdesk.reflectometry import FitProblem, FitResult, ReflData

    if isinstance(obj, FitProblem):
        return ReflectometryDashboard(problem=obj, **kwargs)
    if isinstance(obj, FitResult):
        dashboard = ReflectometryDashboard(problem=obj.problem, **kwargs)
        dashboard.show_result(obj)
        return dashboard
    if isinstance(obj, ReflData):
        plot = ReflectivityPlot(**kwargs)
        plot.show(data=obj)
        return plot
    if isinstance(obj, Job):
        return JobView(obj, **kwargs)
    from shiftdesk.daq.system import DAQSystem

    if isinstance(obj, DAQSystem):
        return DAQDashboard(obj, **kwargs)
    raise TypeError(f"no widget view for {type(obj).__name__}")
