"""How the SSH job backend reaches a worker account: its settings, connection and errors.

The connection itself (host-key policy, error translation) is the one SSH layer,
:mod:`shiftdesk.ssh`; session keys are :mod:`shiftdesk.jobs.ssh_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko  # type: ignore[import-untyped]

from shiftdesk import ssh
from shiftdesk.errors import JobError
from shiftdesk.jobs import ssh_keys
from shiftdesk.settings import BackendSettings


class SSHBackendError(JobError):
    """The worker host cannot be used (unreachable, refused login, unknown host key, ...)."""


@dataclass(frozen=True)
class SSHConfig:
    """How to reach one worker account (the ``[backends.<name>]`` table of type ssh)."""

    name: str
    host: str
    user: str
    python: str
    bootstrap_key: Path | None = None
    port: int = 22
    known_hosts: Path | None = None
    auto_add_host_keys: bool = False
    from_host: str | None = None
    session_idle_hours: float = 24.0
    connect_timeout: float = 10.0
    spare: bool = True
    env: tuple[tuple[str, str], ...] = ()
    where: str = "the settings"

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> SSHConfig:
        """Build from a checked settings table."""
        opts = dict(settings.options)
        known = opts.pop("known_hosts", None)
        env = tuple(sorted(dict(opts.pop("env", {})).items()))
        return cls(
            env=env,
            name=settings.name,
            bootstrap_key=(
                Path(opts.pop("bootstrap_key")).expanduser() if "bootstrap_key" in opts else None
            ),
            known_hosts=Path(known).expanduser() if known else None,
            where=settings.where(),
            **opts,
        )

    @property
    def target(self) -> str:
        """``user@host:port`` for messages."""
        return f"{self.user}@{self.host}:{self.port}"


def open_client(cfg: SSHConfig, pkey: paramiko.PKey, what: str) -> paramiko.SSHClient:
    """An SSH connection to ``cfg``'s worker account with ``pkey`` (errors say what to do).

    The connection, host-key policy and error translation are the SSH layer's
    (:func:`shiftdesk.ssh.open_client`); this adds the backend's advice.
    """
    try:
        return ssh.open_client(
            cfg.host,
            cfg.user,
            cfg.port,
            pkey=pkey,
            known_hosts=cfg.known_hosts,
            auto_add_host_keys=cfg.auto_add_host_keys,
            timeout=cfg.connect_timeout,
            credential=f"the {what}",
        )
    except ssh.UnknownHostKeyError as exc:
        raise SSHBackendError(f"{exc}, or set auto_add_host_keys = true in {cfg.where}") from exc
    except ssh.HostKeyError as exc:
        raise SSHBackendError(f"{exc}. Fix known_hosts in {cfg.where} if it is wrong") from exc
    except ssh.SSHAuthError as exc:
        raise SSHBackendError(
            f"{exc}. Ask the facility to authorize the bootstrap key for {cfg.user!r}, or fix "
            f"bootstrap_key / user in {cfg.where}"
        ) from exc
    except ssh.SSHConnectionError as exc:
        raise SSHBackendError(
            f"cannot reach the SSH worker {cfg.target} ({exc}): is the host up and are "
            f"host/port right in {cfg.where}?"
        ) from exc


def bootstrap_pkey(cfg: SSHConfig) -> paramiko.PKey:
    """The facility's bootstrap key of ``cfg`` (it installs session keys)."""
    path = cfg.bootstrap_key
    if path is None:
        raise SSHBackendError(
            f"the backend {cfg.name!r} has no bootstrap_key in {cfg.where}: add "
            "it, or use this backend on a hub, where the gate installs session keys"
        )
    try:
        return ssh_keys.pkey_from_file(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise SSHBackendError(
            f"cannot load the bootstrap key {path}: {exc}. Fix bootstrap_key in {cfg.where}"
        ) from exc
