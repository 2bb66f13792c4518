"""DAMNIT's context-file module name, for context files written for DAMNIT.

The context engine puts this folder on the context process's ``sys.path``, so
``from damnit_ctx import Variable, Cell, Group, Skip`` works unchanged; the names are
shiftdesk's own (:mod:`shiftdesk.runtable.context.api`).
"""

from shiftdesk.runtable.context.api import Cell, DependencyError, Group, Skip, Variable

__all__ = ["Cell", "DependencyError", "Group", "Skip", "Variable"]
