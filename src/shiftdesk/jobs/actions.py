"""The jobs' gate actions: session keys on SSH workers, installed by the gate.

The SSH backend logs in to a worker account with a per-session key, which the facility's
*bootstrap key* installs first (:mod:`shiftdesk.jobs.ssh_keys`). Whoever can read the
bootstrap key can log in as the worker account. On a hub it is therefore the gate's
alone (in the gate's own settings file, ``<state_dir>/services/gate/settings.toml``, or
what ``SHIFTDESK_SETTINGS`` names in the gate's environment), and a user's server asks
the gate to install its session's public key:

``jobs.ssh_authorize``
    ``backend``, ``host``, ``port``, ``user``, ``public_key``: the backend must be one of
    the gate's, for the same worker account; the key goes in with ``from="<this host>"``
    and the usual restrictions, marked with the caller's name. Returns the marker.
``jobs.ssh_revoke``
    ``backend``, ``marker``: remove a key the caller installed (their own markers only).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from shiftdesk.errors import PermissionDenied
from shiftdesk.gate import register
from shiftdesk.gate.actions import ActionContext
from shiftdesk.settings import SettingsError, load_settings

#: what a session's public key must look like (ed25519, as the backend makes them)
_PUBLIC_KEY = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/]{40,100}={0,2}$")
_SAFE_NAME = re.compile(r"[^a-z0-9]+")


def _backend(name: str) -> Any:
    from shiftdesk.jobs.ssh import SSHBackendError, SSHConfig

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SSHBackendError(f"the gate's settings cannot be read: {exc}") from exc
    found = settings.backends.get(name)
    if found is None or found.type != "ssh":
        raise PermissionDenied(
            f"the gate knows no SSH backend {name!r}: only the hub's own backends get session "
            f"keys (it has: {', '.join(sorted(settings.backends)) or 'none'})"
        )
    config = SSHConfig.from_settings(found)
    if config.bootstrap_key is None:
        raise SSHBackendError(f"the gate's backend {name!r} has no bootstrap_key")
    return config


def _marker_prefix(who: str) -> str:
    from shiftdesk.jobs.ssh_keys import MARKER_PREFIX

    return f"{MARKER_PREFIX}{_SAFE_NAME.sub('-', who.lower()).strip('-')}-"


def _edit(ctx: ActionContext, backend: str, change: Any) -> Any:
    """Run ``change(config, sftp, origin)`` logged in with the gate's bootstrap key."""
    from shiftdesk.jobs.ssh import bootstrap_pkey, open_client

    config = _backend(backend)
    admin = open_client(config, bootstrap_pkey(config), f"bootstrap key {config.bootstrap_key}")
    try:
        transport = admin.get_transport()
        assert transport is not None and transport.sock is not None
        origin = config.from_host or transport.sock.getsockname()[0]
        sftp = admin.open_sftp()
        try:
            return change(config, sftp, origin)
        finally:
            sftp.close()
    finally:
        admin.close()


def _authorize(
    ctx: ActionContext, backend: str, host: str, port: int, user: str, public_key: str
) -> str:
    from shiftdesk.jobs import ssh_keys

    if not isinstance(public_key, str) or not _PUBLIC_KEY.match(public_key.strip()):
        raise ValueError("public_key must be one ssh-ed25519 public key (type and base64 only)")

    def install(config: Any, sftp: Any, origin: str) -> str:
        if (config.host, config.port, config.user) != (host, port, user):
            raise PermissionDenied(
                f"the hub's backend {backend!r} is {config.target}, not {user}@{host}:{port}: "
                "use the hub's settings for it"
            )
        marker = _marker_prefix(ctx.identity.name) + uuid.uuid4().hex
        line = f'from="{origin}",{ssh_keys.KEY_OPTIONS} {public_key.strip()} {marker}'
        ssh_keys.install_key(sftp, line, marker)
        return marker

    return str(_edit(ctx, backend, install))


def _revoke(ctx: ActionContext, backend: str, marker: str) -> None:
    from shiftdesk.jobs import ssh_keys

    if not isinstance(marker, str) or not marker.startswith(_marker_prefix(ctx.identity.name)):
        raise PermissionDenied(f"{marker!r} is not a session key of {ctx.identity.name!r}")

    def remove(config: Any, sftp: Any, origin: str) -> None:
        ssh_keys.remove_key(sftp, marker)

    _edit(ctx, backend, remove)


register("jobs.ssh_authorize", _authorize, target=lambda a: f"SSH backend {a.get('backend')}")
register("jobs.ssh_revoke", _revoke, target=lambda a: f"SSH backend {a.get('backend')}")
