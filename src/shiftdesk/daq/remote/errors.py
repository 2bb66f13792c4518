"""Errors of the DAQ worker interface (SSH to the data router and ECC hosts).

Every message names the host and says what to do. The classes let callers tell a host
that cannot be reached (retry later, mark it offline) from a setup mistake (wrong key,
unknown host key, wrong folder) and from a remote failure (permissions, conflicts).
"""

from __future__ import annotations

from shiftdesk.ssh.errors import (
    ConnectionLost,
    HostKeyError,
    RemoteCommandError,
    SSHAuthError,
    SSHConnectionError,
    SSHError,
    UnknownHostKeyError,
)

#: Base class of every error the DAQ worker interface raises on purpose (the SSH
#: layer's errors are the connection and command ones below).
WorkerError = SSHError
#: The host cannot be reached over SSH (refused, timed out, not an SSH server).
WorkerConnectionError = SSHConnectionError
#: The SSH server refused the key, or the key file cannot be used.
WorkerAuthError = SSHAuthError
__all__ = [
    "ConnectionLost",
    "DataRouterNotFound",
    "HostKeyError",
    "InvalidNameError",
    "NotADataRouterFolder",
    "OrganizeConflict",
    "RemoteCommandError",
    "RemotePathError",
    "RemotePermissionError",
    "UnknownHostKeyError",
    "WorkerAuthError",
    "WorkerConnectionError",
    "WorkerError",
]


class InvalidNameError(WorkerError, ValueError):
    """An experiment name, run number or path cannot be used as given."""


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
