"""Neutron reflectometry: data, layer models, evaluation and fits (refl1d + bumps).

>>> from shiftdesk.reflectometry import FitProblem, Layer, Medium, load_data
"""

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
