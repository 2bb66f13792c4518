"""Neutron reflectometry: data, layer models, evaluation and fits (refl1d + bumps).

>>> from shiftdesk.reflectometry import FitProblem, Layer, Medium, load_data

Names load on first use, so loading the domain's declaration stays cheap.
"""

from typing import TYPE_CHECKING

from shiftdesk._lazy import lazy_exports

_EXPORTS = {
    "Constraint": "shiftdesk.reflectometry.constraints",
    "ConstraintError": "shiftdesk.errors",
    "DataServer": "shiftdesk.reflectometry.dataserver",
    "FitProblem": "shiftdesk.reflectometry.problem",
    "FitResult": "shiftdesk.reflectometry.fitting",
    "Layer": "shiftdesk.reflectometry.layers",
    "LayerList": "shiftdesk.reflectometry.layers",
    "Library": "shiftdesk.reflectometry.library",
    "METHODS": "shiftdesk.reflectometry.fitting",
    "Medium": "shiftdesk.reflectometry.layers",
    "Parameter": "shiftdesk.reflectometry.parameter",
    "ReflData": "shiftdesk.reflectometry.data",
    "ReflectivityCurve": "shiftdesk.reflectometry.curve",
    "Uncertainty": "shiftdesk.reflectometry.uncertainty",
    "load_data": "shiftdesk.reflectometry.data",
    "load_run": "shiftdesk.reflectometry.dataserver",
    "method_settings": "shiftdesk.reflectometry.fitting",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "METHODS",
    "Constraint",
    "ConstraintError",
    "DataServer",
    "FitProblem",
    "FitResult",
    "Layer",
    "LayerList",
    "Library",
    "Medium",
    "Parameter",
    "ReflData",
    "ReflectivityCurve",
    "Uncertainty",
    "load_data",
    "load_run",
    "method_settings",
]

if TYPE_CHECKING:
    from shiftdesk.errors import ConstraintError
    from shiftdesk.reflectometry.constraints import Constraint
    from shiftdesk.reflectometry.curve import ReflectivityCurve
    from shiftdesk.reflectometry.data import ReflData, load_data
    from shiftdesk.reflectometry.dataserver import DataServer, load_run
    from shiftdesk.reflectometry.fitting import METHODS, FitResult, method_settings
    from shiftdesk.reflectometry.layers import Layer, LayerList, Medium
    from shiftdesk.reflectometry.library import Library
    from shiftdesk.reflectometry.parameter import Parameter
    from shiftdesk.reflectometry.problem import FitProblem
    from shiftdesk.reflectometry.uncertainty import Uncertainty
