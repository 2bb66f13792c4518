"""Reflectometry views: parameter editors, model table, plots, fit panel, dashboard."""

from shiftdesk_widgets.reflectometry.constraints_editor import ConstraintsEditor
from shiftdesk_widgets.reflectometry.dashboard import ReflectometryDashboard, default_problem
from shiftdesk_widgets.reflectometry.datasets_panel import DatasetsPanel
from shiftdesk_widgets.reflectometry.fit_panel import FitPanel
from shiftdesk_widgets.reflectometry.model_table import ModelTable
from shiftdesk_widgets.reflectometry.parameter_editor import ParameterEditor
from shiftdesk_widgets.reflectometry.plots import ProfilePlot, ReflectivityPlot

__all__ = [
    "ConstraintsEditor",
    "DatasetsPanel",
    "FitPanel",
    "ModelTable",
    "ParameterEditor",
    "ProfilePlot",
    "ReflectivityPlot",
    "ReflectometryDashboard",
    "default_problem",
]
