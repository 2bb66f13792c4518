"""Errors of the one SSH layer: every message names the host and says what to do.

The classes tell a host that cannot be reached (retry later) from a setup mistake (key,
unknown or changed host key) and from a remote command that failed. Domains keep their
own names for them (:mod:`shiftdesk.daq.remote.errors`) or translate them
(:class:`shiftdesk.jobs.ssh_connection.SSHBackendError`).
"""

from __future__ import annotations

from shiftdesk.errors import ShiftdeskError


class SSHError(ShiftdeskError):
    """Base class of every error the SSH layer raises on purpose."""


class SSHConnectionError(SSHError, ConnectionError):
    """The host cannot be reached over SSH (refused, timed out, not an SSH server)."""


class ConnectionLost(SSHConnectionError):
    """The SSH connection dropped in the middle of an operation."""


class SSHAuthError(SSHError, PermissionError):
    """The SSH server refused the key, or the key file cannot be used."""


class HostKeyError(SSHError):
    """The host's key is not in ``known_hosts`` or does not match it."""


class UnknownHostKeyError(HostKeyError):
    """The host's key is not in ``known_hosts`` (the connection is refused, never trusted)."""


class RemoteCommandError(SSHError):
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
