"""The one SSH layer of shiftdesk (paramiko): host-key policy, connecting, quoting, errors.

:func:`open_client` opens a connection with the one host-key policy (keys checked
against a ``known_hosts`` file; an unknown host refused unless the caller's settings
say to add it) and turns paramiko's and the socket layer's exceptions into the
:mod:`shiftdesk.ssh.errors` hierarchy. :class:`SSHConnection` connects lazily with it,
reuses one transport (and one SFTP session) for every operation and reconnects when the
transport has died. :func:`quote` is the only way an argument reaches a remote shell.
No password or passphrase is ever asked for.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko  # type: ignore[import-untyped,unused-ignore]

from shiftdesk.ssh.errors import (
    ConnectionLost,
    HostKeyError,
    RemoteCommandError,
    SSHAuthError,
    SSHConnectionError,
    UnknownHostKeyError,
)

log = logging.getLogger(__name__)

KeyFiles = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class CommandResult:
    """What a remote command returned."""

    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the command exited with status 0."""
        return self.exit_status == 0


def quote(argument: object) -> str:
    """``argument`` as one word of a remote shell command line."""
    return shlex.quote(str(argument))


class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):  # type: ignore[misc,unused-ignore]
    """Refuse a host whose key is not known, with a message saying how to add it."""

    def __init__(self, known_hosts: str, port: int) -> None:
        self.known_hosts = known_hosts
        self.port = port

    def missing_host_key(self, client: object, hostname: str, key: object) -> None:
        name = getattr(key, "get_name", lambda: "?")()
        host = hostname.split("]")[0].lstrip("[")
        raise UnknownHostKeyError(
            f"the host key of {host}:{self.port} ({name}) is unknown: it is not in "
            f"{self.known_hosts}; the connection was refused and nothing was sent. Check "
            f"the key with the host's administrator and add it (e.g. ssh-keyscan -p "
            f"{self.port} {host} >> {self.known_hosts})"
        )


def open_client(
    host: str,
    user: str,
    port: int = 22,
    *,
    pkey: paramiko.PKey | None = None,
    key_files: list[str] | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    auto_add_host_keys: bool = False,
    timeout: float = 10.0,
    credential: str = "",
) -> paramiko.SSHClient:
    """An SSH connection to ``user@host:port``, with the one host-key policy.

    Parameters
    ----------
    pkey, key_files
        The key (loaded, or files); with neither, the keys in ``~/.ssh`` and the agent.
    known_hosts : path, optional
        The host keys to trust (default: the user's and the system's).
    auto_add_host_keys : bool
        Add an unknown host's key to ``known_hosts`` (created if missing) instead of
        refusing the host.
    credential : str
        What the key is, for messages (default: the key files).

    Raises
    ------
    HostKeyError
        The host key is unknown (:class:`UnknownHostKeyError`) or does not match.
    SSHAuthError
        The server refused the key, or the key cannot be used.
    SSHConnectionError
        Refused, unreachable, timed out, or not an SSH server.
    """
    where = f"{user}@{host}:{port}"
    client = paramiko.SSHClient()
    try:
        if known_hosts is None:
            client.load_system_host_keys()
            known = "~/.ssh/known_hosts"
        else:
            known = os.fspath(known_hosts)
            if auto_add_host_keys and not Path(known).exists():
                Path(known).touch(mode=0o600)
            try:
                client.load_host_keys(known)
            except OSError as exc:
                raise HostKeyError(
                    f"cannot read the known_hosts file {known} ({exc}); create it with the "
                    f"host key of {host} (e.g. ssh-keyscan -p {port} {host})"
                ) from exc
        client.set_missing_host_key_policy(
            paramiko.AutoAddPolicy() if auto_add_host_keys else _RefuseUnknownHost(known, port)
        )
        client.connect(
            host,
            port=port,
            username=user,
            pkey=pkey,
            key_filename=key_files,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            # a given key is the only credential; no agent, no password prompt
            allow_agent=pkey is None and key_files is None,
            look_for_keys=pkey is None and key_files is None,
        )
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"the host key of {host}:{port} does not match the one in {known} (got "
            f"{exc.key.get_name()}): the key changed or someone is in between. Nothing was "
            "sent. Check with the host's administrator before updating known_hosts"
        ) from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        keys = credential or (", ".join(key_files) if key_files else "the keys in ~/.ssh")
        raise SSHAuthError(
            f"{where} refused the login with {keys} ({str(exc).rstrip('.')}); install the "
            f"matching public key in {user}'s ~/.ssh/authorized_keys on {host}"
        ) from exc
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        client.close()
        raise SSHConnectionError(
            f"cannot connect to {where}: connection refused; check that sshd runs "
            f"on {host} and listens on port {port}"
        ) from exc
    except TimeoutError as exc:
        client.close()
        raise SSHConnectionError(
            f"{where} did not answer within {timeout:g} s; check that the host is up and reachable"
        ) from exc
    except socket.gaierror as exc:
        client.close()
        raise SSHConnectionError(
            f"host name {host!r} cannot be resolved ({exc}); check the name"
        ) from exc
    except (paramiko.SSHException, EOFError) as exc:
        client.close()
        raise SSHConnectionError(
            f"SSH to {where} failed: {exc}; check that port {port} is an SSH server"
        ) from exc
    except ValueError as exc:  # unreadable key formats surface as ValueError
        client.close()
        raise SSHAuthError(f"SSH key {key_files or credential} cannot be used: {exc}") from exc
    except OSError as exc:
        client.close()
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise SSHConnectionError(f"cannot connect to {where}: {reason}") from exc
    return client


class SSHConnection:
    """A lazily opened, reusable SSH connection to one account on one host.

    Parameters
    ----------
    host : str
        Host name or IP address.
    user : str
        Account to log in as.
    port : int
        SSH port.
    key_filename : path or sequence of paths, optional
        Private key file(s). When omitted, the keys in ``~/.ssh`` and the SSH agent are
        tried.
    known_hosts : path, optional
        ``known_hosts`` file to check the host key against; default: the user's
        (``~/.ssh/known_hosts``) and the system's.
    connect_timeout : float
        Seconds to wait for the TCP connection, the SSH banner and authentication.
    command_timeout : float
        Seconds a remote command or SFTP request may stay silent before it fails.
    """

    def __init__(
        self,
        host: str,
        user: str,
        port: int = 22,
        *,
        key_filename: KeyFiles | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
    ) -> None:
        if not host or not isinstance(host, str):
            raise SSHConnectionError(f"host {host!r} is not a host name or address")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise SSHConnectionError(f"port {port!r} is not a TCP port (1-65535)")
        self.host = host
        self.user = user
        self.port = port
        if key_filename is None:
            self.key_files: list[str] | None = None
        elif isinstance(key_filename, str | os.PathLike):
            self.key_files = [os.fspath(key_filename)]
        else:
            self.key_files = [os.fspath(k) for k in key_filename]
        self.known_hosts = None if known_hosts is None else os.fspath(known_hosts)
        self.connect_timeout = float(connect_timeout)
        self.command_timeout = float(command_timeout)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        # paramiko's SFTP client is not thread-safe: operations are serialised.
        self.lock = threading.RLock()

    @property
    def where(self) -> str:
        """``user@host:port``, for messages."""
        return f"{self.user}@{self.host}:{self.port}"

    # -- connection -----------------------------------------------------------------------
    @property
    def transport(self) -> paramiko.Transport | None:
        """The live paramiko transport, or ``None`` when not connected."""
        client = self._client
        return None if client is None else client.get_transport()

    @property
    def connected(self) -> bool:
        """Whether the transport is up."""
        transport = self.transport
        return transport is not None and transport.is_active()

    def connect(self) -> None:
        """Open the connection now (operations also open it on first use).

        Raises
        ------
        SSHConnectionError
            Refused, unreachable, timed out, or not an SSH server.
        SSHAuthError
            The key file is missing or unusable, or the server refused it.
        HostKeyError
            The host key is unknown (:class:`UnknownHostKeyError`) or does not match.
        """
        with self.lock:
            if self.connected:
                return
            self.close()
            self._client = self._open()

    def _check_files(self) -> None:
        for key in self.key_files or []:
            if not Path(key).is_file():
                raise SSHAuthError(
                    f"SSH key file {key} does not exist; give the private key that is "
                    f"installed in {self.user}'s authorized_keys on {self.host}"
                )
            try:
                paramiko.PKey.from_path(key)
            except (paramiko.PasswordRequiredException, TypeError) as exc:
                # cryptography reports a protected OpenSSH-format key with a TypeError
                if isinstance(exc, TypeError) and "password" not in str(exc).lower():
                    raise
                raise SSHAuthError(
                    f"SSH key {key} is protected by a passphrase and shiftdesk never asks "
                    f"for one; use a key without passphrase for the DAQ account"
                ) from exc
            except (paramiko.SSHException, ValueError, OSError) as exc:
                raise SSHAuthError(
                    f"{key} is not a usable SSH private key ({exc}); give the private key "
                    f"file (not the .pub)"
                ) from exc
        if self.known_hosts is not None and not Path(self.known_hosts).is_file():
            raise HostKeyError(
                f"known_hosts file {self.known_hosts} does not exist; create it with the "
                f"host key of {self.host} (e.g. ssh-keyscan -p {self.port} {self.host})"
            )

    def _open(self) -> paramiko.SSHClient:
        self._check_files()
        client = open_client(
            self.host,
            self.user,
            self.port,
            key_files=self.key_files,
            known_hosts=self.known_hosts,
            timeout=self.connect_timeout,
        )
        transport = client.get_transport()
        if transport is not None:
            # notice a dead peer during long operations
            transport.set_keepalive(15)
        log.debug("connected to %s", self.where)
        return client

    def close(self) -> None:
        """Close the SFTP session and the connection (safe to call twice)."""
        with self.lock:
            sftp, self._sftp = self._sftp, None
            client, self._client = self._client, None
            for obj in (sftp, client):
                if obj is not None:
                    try:
                        obj.close()
                    except Exception:  # closing a dead connection may raise anything
                        log.debug("error while closing %s", self.where, exc_info=True)

    def lost(self, exc: BaseException, doing: str, advice: str = "") -> ConnectionLost | None:
        """A :class:`ConnectionLost` if ``exc`` means the connection is gone, else ``None``.

        A dropped transport, an SFTP channel that closed, an end of stream or a request
        that got no answer within ``command_timeout`` all count (after a timeout a late
        reply would be mistaken for the next one, so the connection is dropped too).
        The connection is closed; the next operation reconnects.
        """
        sftp = self._sftp
        dead = (
            isinstance(exc, EOFError | TimeoutError)
            or (
                isinstance(exc, paramiko.SSHException)
                and not isinstance(exc, paramiko.ChannelException)
            )
            or not self.connected
            or (sftp is not None and sftp.sock.closed)
        )
        if not dead:
            return None
        self.close()
        why = (
            f"no answer within {self.command_timeout:g} s"
            if isinstance(exc, TimeoutError)
            else f"{type(exc).__name__}: {exc}"
        )
        return ConnectionLost(
            f"the SSH connection to {self.where} was lost while {doing} ({why}); "
            + (advice or "run the operation again once the host is reachable")
        )

    # -- operations -----------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient:
        """The shared SFTP session (opened, and the connection too, on first use)."""
        with self.lock:
            self.connect()
            if self._sftp is None or self._sftp.sock.closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self.transport)
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise self.lost(exc, "opening SFTP") or SSHConnectionError(
                        f"{self.where} refused an SFTP session ({exc}); enable the sftp "
                        f"subsystem in its sshd_config"
                    ) from exc
                self._sftp.get_channel().settimeout(self.command_timeout)
            return self._sftp

    def run(
        self, command: str, *, timeout: float | None = None, check: bool = False
    ) -> CommandResult:
        """Run one command line (already quoted) in the account's shell.

        Parameters
        ----------
        command : str
            The command line. Build it with :func:`shlex.quote`/:func:`shlex.join`:
            every argument that comes from outside must be quoted.
        timeout : float, optional
            Seconds of silence before giving up (default: ``command_timeout``).
        check : bool
            Raise :class:`RemoteCommandError` on a non-zero exit status.
        """
        wait = self.command_timeout if timeout is None else timeout
        with self.lock:
            self.connect()
            transport = self.transport
            assert transport is not None
            t0 = time.perf_counter()
            channel = None
            try:
                channel = transport.open_session(timeout=self.connect_timeout)
                channel.settimeout(wait)
                channel.exec_command(command)
                stdout = channel.makefile("rb").read()
                stderr = channel.makefile_stderr("rb").read()
                status = channel.recv_exit_status()
                channel.close()
                if status == -1 and not self.connected:
                    raise EOFError("no exit status: the connection closed")
            except TimeoutError as exc:
                if channel is not None:
                    channel.close()
                if not self.connected:
                    raise (self.lost(exc, f"running {command!r}") or exc) from exc
                # a slow command does not mean a dead connection: keep the transport
                raise RemoteCommandError(
                    f"{command!r} on {self.where} gave no answer within {wait:g} s",
                    command=command,
                ) from exc
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self.lost(exc, f"running {command!r}") or SSHConnectionError(
                    f"cannot run {command!r} on {self.where}: {exc}"
                ) from exc
        result = CommandResult(
            command,
            status,
            stdout.decode("utf-8", "replace"),
            stderr.decode("utf-8", "replace"),
        )
        log.debug("%s: %r -> %d in %.3f s", self.where, command, status, time.perf_counter() - t0)
        if check and not result.ok:
            raise RemoteCommandError(
                f"{command!r} failed on {self.where} (exit {status}): "
                f"{result.stderr.strip() or result.stdout.strip()}",
                command=command,
                exit_status=status,
                stderr=result.stderr,
            )
        return result
