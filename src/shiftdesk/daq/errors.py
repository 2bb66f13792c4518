"""Errors of the DAQ domain API (the ECC client and SSH worker have their own)."""

from __future__ import annotations

from shiftdesk.errors import ShiftdeskError


class DAQError(ShiftdeskError):
    """Base class of the DAQ domain errors."""


class SetupError(DAQError, ValueError):
    """A DAQ setup (servers, routers, sources, experiment) is not valid as given."""


class DAQStateError(DAQError, RuntimeError):
    """The command is not legal in the current state of the DAQ (the message says why)."""


class CommandFailed(DAQError):
    """A command was sent but did not complete on every server (see its steps)."""


class RunSheetError(DAQError, ValueError):
    """A run-sheet edit is refused: unknown run, duplicate observable, value of the wrong type."""
