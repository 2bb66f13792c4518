"""ipywidgets + bqplot views over shiftdesk's domain objects.

Views hold only UI state; the domain objects (and the database) hold the rest.
"""

from __future__ import annotations

import sys
from typing import Any

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
    "preload",
    "view",
]


def __getattr__(name: str) -> Any:
    # The DAQ views load the ECC client (zeep): only when asked for, so a reflectometry
    # notebook does not pay for them.
    if name in ("DAQDashboard", "RunSheetEditor"):
        from shiftdesk_widgets import daq

        return getattr(daq, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def preload(engine: bool = True, wait: bool = False) -> None:
    """Load what the dashboards need before one is opened (a warm kernel runs this).

    Imports the dashboards' modules (the DAQ views and the ECC client too) and opens the
    default database (its schema check), so a dashboard opened in this kernel builds at
    once. With ``engine`` it also loads refl1d, bumps and refl1d's compiled kernels in a
    background thread, as an opened reflectometry dashboard would; with ``wait`` it
    returns only once that is done (a warm kernel is then fully warm: a dashboard
    opened in it draws its model curve at once).
    """
    from shiftdesk.storage import get_database
    from shiftdesk_widgets import daq  # noqa: F401  (the DAQ dashboard and zeep)
    from shiftdesk_widgets.reflectometry import _warmup

    get_database()
    if engine:
        _warmup.start()
        if wait:
            _warmup.wait()


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
    # An object can only be a DAQSystem once its module is loaded: no import otherwise.
    daq_system = sys.modules.get("shiftdesk.daq.system")
    if daq_system is not None and isinstance(obj, daq_system.DAQSystem):
        from shiftdesk_widgets.daq import DAQDashboard

        return DAQDashboard(obj, **kwargs)
    raise TypeError(f"no widget view for {type(obj).__name__}")
