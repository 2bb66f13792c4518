"""Data sessions: FITS frames, registered operations and their results (issue 13).

::

    from shiftdesk.datalab import DataSession
    s = DataSession.create("M51 night 1")   # DataSession.list(), DataSession.open(id)
    s.add_inputs(["m51_r_001.fits", "m51_r_002.fits.fz"])
    op = s.run("median", input_files=s.inputs)   # a persisted job; cached when identical
    op.result(timeout=60).files

    from shiftdesk.datalab import operations
    operations.available()                  # {name: Operation}
    op = operations.get("median")
    op.input_schema                         # JSON Schema: the page builds its form from it
    values = operations.validate("median", {"input_files": ["a.fits", "b.fits.fz"]})
    result = operations.run("median", values, "out/")   # OperationResult
    result.files, result.images, result.data

Operations are found through the entry-point group ``shiftdesk.datalab.operations``, so
another package adds its own. Names load on first use.
"""

from typing import TYPE_CHECKING

from shiftdesk._lazy import lazy_exports

_EXPORTS = {
    "DataSession": "shiftdesk.datalab.session",
    "SessionInput": "shiftdesk.datalab.session",
    "SessionOperation": "shiftdesk.datalab.session",
    "Operation": "shiftdesk.datalab.ops.base",
    "OperationCancelled": "shiftdesk.datalab.operations",
    "OperationInputError": "shiftdesk.datalab.operations",
    "OperationResult": "shiftdesk.datalab.ops.base",
    "Preview": "shiftdesk.datalab.ops.base",
}

_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> object:
    # the submodule ``operations`` is the registry; ``from shiftdesk.datalab import
    # operations`` imports it anyway, this makes ``shiftdesk.datalab.operations`` work
    # after a bare ``import shiftdesk.datalab`` too
    if name == "operations":
        import importlib

        return importlib.import_module("shiftdesk.datalab.operations")
    return _lazy_getattr(name)


__all__ = [
    "DataSession",
    "Operation",
    "OperationCancelled",
    "OperationInputError",
    "OperationResult",
    "Preview",
    "SessionInput",
    "SessionOperation",
    "operations",
]

if TYPE_CHECKING:
    from shiftdesk.datalab import operations
    from shiftdesk.datalab.operations import OperationCancelled, OperationInputError
    from shiftdesk.datalab.ops.base import Operation, OperationResult, Preview
    from shiftdesk.datalab.session import DataSession, SessionInput, SessionOperation
