"""The DAQ's SSH connection: the one SSH layer, :mod:`shiftdesk.ssh` (kept for imports)."""

from shiftdesk.ssh.connection import CommandResult, KeyFiles, SSHConnection

__all__ = ["CommandResult", "KeyFiles", "SSHConnection"]
