"""The registry of data-session operations, found through entry points.

::

    from shiftdesk.datalab import operations
    operations.available()        # {"median": <Operation median 1.0>, ...}
    operations.get("stack").input_schema
    operations.validate("median", {"input_files": ["a.fits", "b.fits"]})  # defaults filled
    operations.run("median", {"input_files": [...]}, "out/")

Every operation is registered under the entry-point group ``shiftdesk.datalab.operations``
as ``name = "module:OperationClass"`` (a subclass of
:class:`~shiftdesk.datalab.ops.base.Operation`, or an instance of one). An entry point
that fails to load is left out of :func:`available` and reported by :func:`problems`:
one broken plugin must not take every operation away.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shiftdesk.errors import JobError, ShiftdeskError

if TYPE_CHECKING:
    from shiftdesk.datalab.ops.base import Operation, OperationResult

#: the entry-point group operations register under
GROUP = "shiftdesk.datalab.operations"

__all__ = [
    "GROUP",
    "OperationCancelled",
    "OperationInputError",
    "available",
    "get",
    "problems",
    "run",
    "validate",
]


class OperationInputError(ShiftdeskError, ValueError):
    """An operation's inputs are refused: a file, a count, a number, a choice.

    Raised before anything runs (by :func:`validate`) and, for what only the pixels
    show (a frame with no finite pixel), while an operation runs.

    Parameters
    ----------
    field : str or None
        The input the message is about, as the schema names it (``"input_files"``,
        ``"channels[2].zmax"``, ``"operation"``); None when it is about the inputs as
        a whole.
    reason : str
        What is wrong and what to do, without the field name (a form shows it next to
        the field).

    Attributes
    ----------
    field : str or None
    reason : str
    """

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class OperationCancelled(JobError):
    """An operation stopped because its ``cancelled()`` callback said so.

    Files the run had written are removed; nothing is left half-made.
    """


_lock = threading.Lock()
_loaded: tuple[dict[str, Operation], dict[str, str]] | None = None


def _load() -> tuple[dict[str, Operation], dict[str, str]]:
    from shiftdesk.datalab.ops.base import Operation

    found: dict[str, Operation] = {}
    failed: dict[str, str] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in found or ep.name in failed:
            failed[f"{ep.name} ({ep.value})"] = (
                f"another package already registers an operation named {ep.name!r}; "
                "this one is ignored"
            )
            continue
        try:
            op = _instantiate(ep, Operation)
        except Exception as exc:  # a broken plugin is reported, never fatal
            failed[ep.name] = f"{ep.value} could not be loaded: {type(exc).__name__}: {exc}"
            continue
        if op.name != ep.name:
            failed[ep.name] = (
                f"{ep.value} declares the name {op.name!r}, not the entry point's "
                f"{ep.name!r}; fix one of them"
            )
            continue
        found[ep.name] = op
    return found, failed


def _instantiate(ep: EntryPoint, base: type[Operation]) -> Operation:
    obj = ep.load()
    if isinstance(obj, type) and issubclass(obj, base):
        return obj()
    if isinstance(obj, base):
        return obj
    raise TypeError(f"{obj!r} is neither an Operation subclass nor an Operation")


def _registry(refresh: bool) -> tuple[dict[str, Operation], dict[str, str]]:
    global _loaded
    with _lock:
        if _loaded is None or refresh:
            _loaded = _load()
        return _loaded


def available(*, refresh: bool = False) -> dict[str, Operation]:
    """The operations that loaded, by name (sorted).

    Parameters
    ----------
    refresh : bool
        Look the entry points up again (after installing a package in a running
        kernel); otherwise the first look-up is reused.

    Returns
    -------
    dict
        Name -> :class:`~shiftdesk.datalab.ops.base.Operation`, each with ``name``,
        ``title``, ``description``, ``version`` and ``input_schema``.
    """
    return dict(_registry(refresh)[0])


def problems(*, refresh: bool = False) -> dict[str, str]:
    """Entry points of the group that did not give an operation, and why.

    Returns
    -------
    dict
        Entry-point name -> reason (import error, not an Operation, a name clash).
        Empty when every registered operation loaded.
    """
    return dict(_registry(refresh)[1])


def get(name: str) -> Operation:
    """The operation registered as ``name``.

    Raises
    ------
    OperationInputError
        (field ``"operation"``) No such operation; the message lists the available
        ones, or says why a registered one failed to load.
    """
    found, failed = _registry(False)
    op = found.get(name)
    if op is not None:
        return op
    names = ", ".join(found) or "none"
    if name in failed:
        raise OperationInputError(
            "operation", f"{name!r} is registered but failed to load ({failed[name]})"
        )
    raise OperationInputError(
        "operation", f"unknown operation {name!r}; the available ones are: {names}"
    )


def validate(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``inputs`` for the operation ``name``; return them with defaults filled.

    The inputs are JSON values (file paths as strings, numbers, lists); path-like
    objects and numpy numbers are accepted and turned into their JSON form. Files are
    opened to read their headers (is it FITS, does it hold a 2-D image, its filter and
    shape), never their pixels.

    Raises
    ------
    OperationInputError
        Naming the field (and the file) that is wrong.
    """
    return get(name).validate(inputs)


def run(
    name: str,
    inputs: Mapping[str, Any],
    output_dir: str | os.PathLike[str],
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> OperationResult:
    """Validate ``inputs`` and run the operation ``name`` now, in this process.

    Data sessions run operations as persisted jobs; this is the direct call they make
    (and a notebook can make).

    Parameters
    ----------
    name : str
        A name from :func:`available`.
    inputs : mapping
        The operation's inputs (see its ``input_schema``).
    output_dir : path
        Folder for the outputs (created if missing).
    progress : callable, optional
        ``progress(fraction, message)``, fraction in [0, 1].
    cancelled : callable, optional
        Polled between steps; when it returns True the run stops with
        :class:`OperationCancelled` and its files are removed.
    """
    return get(name).run(inputs, Path(output_dir), progress=progress, cancelled=cancelled)
