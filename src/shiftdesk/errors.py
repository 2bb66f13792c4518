"""Exception types shared by every part of shiftdesk.

Each error message says what is wrong and what to do about it; the classes let
callers (and widgets) tell user mistakes from system faults.
"""

from __future__ import annotations


class ShiftdeskError(Exception):
    """Base class of every error shiftdesk raises on purpose."""


class DataError(ShiftdeskError, ValueError):
    """A data file or data array cannot be used as given."""


class ModelError(ShiftdeskError, ValueError):
    """A model (layers, parameters, ranges) is not valid."""


class FitError(ShiftdeskError, ValueError):
    """A fit cannot be started as asked (no free parameter, unknown option, ...)."""


class StorageError(ShiftdeskError):
    """The database cannot be opened, read or written."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer shiftdesk than this one."""


class PermissionDenied(ShiftdeskError, PermissionError):
    """The current user may not see or change this object."""


class NotFound(ShiftdeskError, LookupError):
    """No object with this id exists (or the user may not know it exists)."""


class JobError(ShiftdeskError):
    """A job failed, was cancelled, or its result is not available."""


class JobTimeout(JobError, TimeoutError):
    """A job did not finish within the time the caller was willing to wait."""


class ExpressionError(ShiftdeskError, ValueError):
    """Expression text is refused (syntax, a construct outside the grammar, ...).

    ``column`` is the 1-based position in the text the message refers to, when there
    is one. :mod:`shiftdesk.expressions` raises it; domains raise their own kinds of it.
    """

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class ConstraintError(ModelError, ExpressionError):
    """A constraint between parameters is refused (syntax, unknown name, cycle, ...).

    ``column`` is the 1-based position in the constraint text the message refers to,
    when there is one.
    """


class CatalogError(ShiftdeskError, ValueError):
    """A reference-file catalog refuses a file, mapping, context or action as given.

    The message names the file (and line, for mapping text) and says what to do.
    """
