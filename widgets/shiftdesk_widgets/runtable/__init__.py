"""The run table's views: the grid, columns and filters, plots, the context editor,
processing controls and export.

Each panel works on plain data and callbacks (tested without the core);
:class:`RunTableView` (in :mod:`shiftdesk_widgets.runtable.view`) composes them over a
:class:`shiftdesk.runtable.RunTable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shiftdesk_widgets.runtable.cells import Cell, Column, RowState
from shiftdesk_widgets.runtable.columns import ColumnsPanel
from shiftdesk_widgets.runtable.editor import ContextEditor, Problem
from shiftdesk_widgets.runtable.export import ExportPanel
from shiftdesk_widgets.runtable.grid import RunGrid
from shiftdesk_widgets.runtable.processing import LogView, ProcessingPanel, ReprocessDialog

if TYPE_CHECKING:
    from shiftdesk_widgets.runtable.plots import PlotPanel

__all__ = [
    "Cell",
    "Column",
    "ColumnsPanel",
    "ContextEditor",
    "ExportPanel",
    "LogView",
    "PlotPanel",
    "Problem",
    "ProcessingPanel",
    "ReprocessDialog",
    "RowState",
    "RunGrid",
]


def __getattr__(name: str) -> Any:
    # the plots bring bqplot, which the dashboard's first screen does not need (its Plot
    # panel is built when first opened): imported when first asked for
    if name == "PlotPanel":
        from shiftdesk_widgets.runtable.plots import PlotPanel

        return PlotPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
