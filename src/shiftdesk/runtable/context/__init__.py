"""The context engine: context files (DAMNIT's syntax) executed per run in their own process.

- :mod:`.api`: what a context file writes (:class:`Variable`, :class:`Cell`,
  :func:`Group`, :class:`Skip`) and the :class:`Run` its variables receive;
- :mod:`.summary`: the table value of a result (:class:`CellSummary`);
- :mod:`.engine`: the parent side: :func:`validate_context`, :func:`read_variables`,
  :func:`run_context`;
- :mod:`.contextfile` and :mod:`.runner`: what runs in the context process.
"""

from shiftdesk.runtable.context.api import Cell, DependencyError, Group, Run, Skip, Variable
from shiftdesk.runtable.context.engine import (
    ContextInvalid,
    ContextProblem,
    RunOutcome,
    VariableMeta,
    read_variables,
    run_context,
    validate_context,
)
from shiftdesk.runtable.context.summary import CellSummary

__all__ = [
    "Cell",
    "CellSummary",
    "ContextInvalid",
    "ContextProblem",
    "DependencyError",
    "Group",
    "Run",
    "RunOutcome",
    "Skip",
    "Variable",
    "VariableMeta",
    "read_variables",
    "run_context",
    "validate_context",
]
