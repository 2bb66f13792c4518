"""ipywidgets + bqplot views over shiftdesk's domain objects.

Views hold only UI state; the domain objects (and the database) hold the rest. Each
domain's widget module registers its views (:func:`register_view`); :func:`view` finds
the one for an object along its class's MRO, loading that domain's views on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shiftdesk_widgets.jobs import JobView
    from shiftdesk_widgets.registry import register_view, view

__all__ = [
    "DAQDashboard",
    "FitPanel",
    "JobView",
    "ModelTable",
    "ParameterEditor",
    "ProfilePlot",
    "ReflectivityPlot",
    "ReflectometryDashboard",
    "RunMetadataView",
    "RunSheetEditor",
    "RunTableView",
    "preload",
    "register_view",
    "view",
]

# Views load when first asked for: a reflectometry notebook does not pay for the DAQ's
# (and its SOAP client), nor the other way round, and a dashboard's page
# (shiftdesk_widgets.page) shows before any of them (or SQLAlchemy) is imported.
_LAZY = {
    "DAQDashboard": "shiftdesk_widgets.daq",
    "RunSheetEditor": "shiftdesk_widgets.daq",
    "FitPanel": "shiftdesk_widgets.reflectometry",
    "JobView": "shiftdesk_widgets.jobs",
    "ModelTable": "shiftdesk_widgets.reflectometry",
    "ParameterEditor": "shiftdesk_widgets.reflectometry",
    "ProfilePlot": "shiftdesk_widgets.reflectometry",
    "ReflectivityPlot": "shiftdesk_widgets.reflectometry",
    "ReflectometryDashboard": "shiftdesk_widgets.reflectometry",
    "RunTableView": "shiftdesk_widgets.runtable.view",
    "RunMetadataView": "shiftdesk_widgets.runtable.view",
    "register_view": "shiftdesk_widgets.registry",
    "view": "shiftdesk_widgets.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def preload(engine: bool = True, wait: bool = False) -> None:
    """Load what the dashboards need before one is opened (a warm kernel runs this).

    Imports every domain's views (the DAQ's and its ECC client too) and opens the
    default database (its schema check), so a dashboard opened in this kernel builds at
    once. With ``engine`` each views module that has a ``warm(wait)`` function loads its
    engine too (reflectometry: refl1d, bumps and their compiled kernels, in a
    background thread); with ``wait`` it returns only once that is done (a warm kernel
    is then fully warm: a dashboard opened in it draws its model curve at once).
    """
    import importlib

    from shiftdesk.domains import all_domains
    from shiftdesk.storage import get_database

    modules = [importlib.import_module(d.views) for d in all_domains().values() if d.views]
    get_database()
    if engine:
        for module in modules:
            warm = getattr(module, "warm", None)
            if warm is not None:
                warm(wait)
