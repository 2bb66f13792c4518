"""The one SSH layer (paramiko): connections, host-key policy, quoting, errors.

Used by the SSH job backend (:mod:`shiftdesk.jobs.ssh`) and the DAQ's hosts
(:mod:`shiftdesk.daq.remote`). See :mod:`shiftdesk.ssh.connection`.
"""

from shiftdesk.ssh.connection import CommandResult, KeyFiles, SSHConnection, open_client, quote
from shiftdesk.ssh.errors import (
    ConnectionLost,
    HostKeyError,
    RemoteCommandError,
    SSHAuthError,
    SSHConnectionError,
    SSHError,
    UnknownHostKeyError,
)

__all__ = [
    "CommandResult",
    "ConnectionLost",
    "HostKeyError",
    "KeyFiles",
    "RemoteCommandError",
    "SSHAuthError",
    "SSHConnection",
    "SSHConnectionError",
    "SSHError",
    "UnknownHostKeyError",
    "open_client",
    "quote",
]
