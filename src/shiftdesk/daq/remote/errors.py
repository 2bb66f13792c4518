"""Errors of the DAQ worker interface (SSH to the data router and ECC hosts).

Every message names the host and says what to do. The classes let callers tell a host
that cannot be reached (retry later, mark it offline) from a setup mistake (wrong key,
unknown host key, wrong folder) and from a remote failure (permissions, conflicts).
"""

from __future__ import annotations

from shiftdesk.errors import ShiftdeskError


class WorkerError(ShiftdeskError):
    """Base class of every error the DAQ worker interface raises on purpose."""


class WorkerConnectionError(WorkerError, ConnectionError):
    """The host cannot be reached over SSH (refused, timed out, not an SSH server)."""


class ConnectionLost(WorkerConnectionError):
    """The SSH connection dropped in the middle of an operation.

    For file moves nothing is lost (each move is an atomic rename); run the operation
    again to finish it.
    """


class WorkerAuthError(WorkerError, PermissionError):
    """The SSH server refused the key, or the key file cannot be used."""


class HostKeyError(WorkerError):
    """The host's key is not in ``known_hosts`` or does not match it."""


class UnknownHostKeyError(HostKeyError):
    """The host's key is not in ``known_hosts`` (the connection is refused, never trusted)."""


class InvalidNameError(WorkerError, ValueError):
    """An experiment name, run number or path cannot be used as given."""


class RemoteCommandError(WorkerError):
    """A command run on the host failed.

    Attributes
    ----------
    command : str
        The command line that ran.
    exit_status : int
        Its exit status.
    stderr : str
        What it printed on standard error.
    """

    def __init__(self, message: str, command: str = "", exit_status: int = -1, stderr: str = ""):
        super().__init__(message)
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr


class RemotePathError(WorkerError, FileNotFoundError):
    """A remote file or folder does not exist, or is not what it should be."""


class RemotePermissionError(WorkerError, PermissionError):
    """The SSH account may not read or write a remote file or folder."""


class DataRouterNotFound(WorkerError, LookupError):
    """No dataRouter process runs on the host (or its folder cannot be found)."""


class NotADataRouterFolder(WorkerError, ValueError):
    """A folder is not the working folder of any dataRouter running on the host."""


class OrganizeConflict(WorkerError):
    """Some GRAW files were not moved because the run folder already holds a file of that name.

    Nothing was overwritten and nothing was lost; the files named in :attr:`conflicts`
    are still in the router folder. :attr:`result` is the :class:`OrganizeResult` of
    the pass.
    """

    def __init__(self, message: str, result: object):
        super().__init__(message)
        self.result = result

    @property
    def conflicts(self) -> tuple[str, ...]:
        """Names of the files left in the router folder."""
        return tuple(getattr(self.result, "left", ()))
