"""The run table: per-run variables computed from a context file, live (DAMNIT's workflow).

::

    from shiftdesk.runtable import RunTable
    rt = RunTable.create("p4507", data="/data/p4507/raw/r{run:04d}", context="context.py")
    rt.process([1, 2, 3])          # one persisted job per run
    rt.add_run(7)                  # what the DAQ and the folder watcher call
    rt.table()                     # a pandas DataFrame, one row per run
    rt[3]                          # RunMetadata
    rt[3, "xgm_energy"].read()     # the full result

A context file is a Python file of ``@Variable`` functions; DAMNIT's files work as they
are (``from damnit_ctx import Variable, Cell, Group, Skip``). Names load on first use.
"""

from typing import TYPE_CHECKING

from shiftdesk._lazy import lazy_exports

_EXPORTS = {
    "Cell": "shiftdesk.runtable.context.api",
    "CellValue": "shiftdesk.runtable.values",
    "Changes": "shiftdesk.runtable.table",
    "ColumnInfo": "shiftdesk.runtable.table",
    "ContextInvalid": "shiftdesk.runtable.context.engine",
    "ContextProblem": "shiftdesk.runtable.context.engine",
    "Group": "shiftdesk.runtable.context.api",
    "RunMetadata": "shiftdesk.runtable.metadata",
    "RunProcessing": "shiftdesk.runtable.processing",
    "RunState": "shiftdesk.runtable.table",
    "RunTable": "shiftdesk.runtable.table",
    "Skip": "shiftdesk.runtable.context.api",
    "ValueTypeError": "shiftdesk.runtable.values",
    "Variable": "shiftdesk.runtable.context.api",
    "VariableData": "shiftdesk.runtable.metadata",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "Cell",
    "CellValue",
    "Changes",
    "ColumnInfo",
    "ContextInvalid",
    "ContextProblem",
    "Group",
    "RunMetadata",
    "RunProcessing",
    "RunState",
    "RunTable",
    "Skip",
    "ValueTypeError",
    "Variable",
    "VariableData",
]

if TYPE_CHECKING:
    from shiftdesk.runtable.context.api import Cell, Group, Skip, Variable
    from shiftdesk.runtable.context.engine import ContextInvalid, ContextProblem
    from shiftdesk.runtable.metadata import RunMetadata, VariableData
    from shiftdesk.runtable.processing import RunProcessing
    from shiftdesk.runtable.table import Changes, ColumnInfo, RunState, RunTable
    from shiftdesk.runtable.values import CellValue, ValueTypeError
