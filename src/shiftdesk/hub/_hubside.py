"""Code that runs inside the JupyterHub process (imported by the generated config only).

Keeping it here, rather than pasted into ``jupyterhub_config.py``, makes it testable
and keeps the generated file a plain list of settings.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

from jupyterhub.auth import Authenticator  # type: ignore[import-untyped]
from jupyterhub.spawner import (  # type: ignore[import-untyped]
    SimpleLocalProcessSpawner,
    SpawnException,
)


def demo_authenticator(passwords: Mapping[str, str]) -> type:
    """An authenticator class that accepts exactly the given demo logins.

    Parameters
    ----------
    passwords : mapping
        User name → password.

    Returns
    -------
    type
        A :class:`jupyterhub.auth.Authenticator` subclass for ``c.JupyterHub.authenticator_class``.
    """
    known = dict(passwords)

    class ShiftdeskDemoAuthenticator(Authenticator):
        """Demo logins with one password each (the hub refuses everybody else)."""

        async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
            name = (data.get("username") or "").strip()
            given = data.get("password") or ""
            expected = known.get(name)
            # compare_digest: no timing hint about how much of the password matched
            if expected is not None and hmac.compare_digest(given.encode(), expected.encode()):
                return name
            self.log.warning("demo login refused for %r", name)
            return None

    return ShiftdeskDemoAuthenticator


def user_environment(state_dir: str) -> dict[str, Callable[[Any], str]]:
    """Per-user entries for ``c.Spawner.environment``, evaluated at each spawn.

    ``SHIFTDESK_DATA_DIR`` is the user's own folder; ``SHIFTDESK_GROUPS`` lists the
    user's hub groups at spawn time, which :func:`shiftdesk.identity.current_identity`
    reads to enforce permissions in the core.
    """

    def data_dir(spawner: Any) -> str:
        # hidden, and not "shiftdesk": a kernel's working folder (the user's home) comes
        # first on sys.path, and a folder named like the package there shadows it as a
        # namespace package when shiftdesk is installed editable (an import hook)
        return f"{state_dir}/users/{spawner.user.name}/.shiftdesk"

    def groups(spawner: Any) -> str:
        return ",".join(sorted(group.name for group in spawner.user.groups))

    return {"SHIFTDESK_DATA_DIR": data_dir, "SHIFTDESK_GROUPS": groups}


def ldap_group_hook(group_map: Mapping[str, str]) -> Callable[[Any, Any, dict[str, Any]], Any]:
    """A ``post_auth_hook`` giving the user the hub groups mapped from their LDAP groups.

    With ``c.Authenticator.manage_groups = True`` the hub then replaces the user's
    groups with these at every login, so hub groups follow LDAP.
    """
    mapping = {dn.lower(): group for dn, group in group_map.items()}

    def hook(authenticator: Any, handler: Any, authentication: dict[str, Any]) -> dict[str, Any]:
        found = (authentication.get("auth_state") or {}).get("ldap_groups") or []
        authentication["groups"] = sorted(
            {mapping[dn.lower()] for dn in found if dn.lower() in mapping}
        )
        return authentication

    return hook


class ServerStartFailed(SpawnException):
    """A user's server cannot start; ``message`` says why and what to do.

    JupyterHub shows ``jupyterhub_message`` as is: on the error page of the spawn
    request, in the progress of the spawn-pending page and on the page of a server
    that failed (instead of an exception's text or a generic "contact admin").
    """

    def __init__(self, message: str, *, reason: str, log_message: str = "") -> None:
        super().__init__(message, reason=reason, log_message=log_message, status_code=500)
        self.jupyterhub_message = message


class ShiftdeskSpawner(SimpleLocalProcessSpawner):
    """The one-machine spawner, with a clear message when a user's server cannot start.

    :class:`~jupyterhub.spawner.SimpleLocalProcessSpawner` ignores a home folder it
    cannot create and then starts a server that dies at once, which the hub only
    notices when the server does not answer within ``http_timeout`` (a minute), and
    reports as "didn't respond". Here the user's folder is checked first, and the
    start waits until the server listens or exits, so the user learns within seconds
    what failed and what to do. Other users' servers are not involved either way.
    """

    def _problem(self, what: str) -> str:
        return (
            f"Your server could not start: {what}. This concerns only your account; other "
            "users can work. Ask the hub administrator to fix it, then open a dashboard "
            "from the start page again."
        )

    def check_home(self) -> None:
        """Create the user's folder if needed and check it can be written.

        Raises
        ------
        ServerStartFailed
            It is not a folder, cannot be created or cannot be written.
        """
        home = self.home_dir
        if os.path.lexists(home) and not os.path.isdir(home):
            reason = f"{home} is a file, not a folder"
        else:
            try:
                os.makedirs(home, 0o755, exist_ok=True)
                # a test write: a read-only or full disk shows here, not as a dead server
                with tempfile.TemporaryFile(dir=home):
                    pass
            except OSError as exc:
                reason = f"{home}: {exc.strerror or exc}"
            else:
                return
        raise ServerStartFailed(
            self._problem(f"its folder cannot be used ({reason})"),
            reason="home-folder",
            log_message=f"{self.user.name}'s folder cannot be used: {reason}",
        )

    async def start(self) -> tuple[str, int]:
        """Check the user's folder, start the server, and return once it listens.

        Raises
        ------
        ServerStartFailed
            The folder is unusable, or the server exited before it listened.
        """
        self.check_home()
        ip, port = await super().start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            status = await self.poll()
            if status is not None:
                raise ServerStartFailed(
                    self._problem(
                        f"it stopped while starting (exit code {status}); the hub's log has "
                        "its error output"
                    ),
                    reason="exited",
                    log_message=(
                        f"{self.user.name}'s server exited with code {status} before it "
                        "listened; its error output is above"
                    ),
                )
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1)
            except (TimeoutError, OSError):
                await asyncio.sleep(0.2)
                continue
            writer.close()
            return ip, port
        return ip, port  # the hub's own start_timeout reports a server that never listens
