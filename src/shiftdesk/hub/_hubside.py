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
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator  # type: ignore[import-untyped]
from jupyterhub.spawner import (  # type: ignore[import-untyped]
    LocalProcessSpawner,
    SpawnException,
    set_user_setuid,
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


def user_environment(state_dir: str, *, accounts: bool = False) -> dict[str, Callable[[Any], str]]:
    """Per-user entries for ``c.Spawner.environment``, evaluated at each spawn.

    ``SHIFTDESK_DATA_DIR`` is the user's own folder. Without per-user accounts,
    ``SHIFTDESK_GROUPS`` lists the user's hub groups at spawn time, which
    :func:`shiftdesk.identity.current_identity` reads; with them (``accounts``) the
    gate asks the hub instead, and no group is given to the server at all.
    """

    def data_dir(spawner: Any) -> str:
        # hidden, and not "shiftdesk": a kernel's working folder (the user's home) comes
        # first on sys.path, and a folder named like the package there shadows it as a
        # namespace package when shiftdesk is installed editable (an import hook)
        return f"{state_dir}/users/{spawner.user.name}/.shiftdesk"

    def groups(spawner: Any) -> str:
        return ",".join(sorted(group.name for group in spawner.user.groups))

    if accounts:
        return {"SHIFTDESK_DATA_DIR": data_dir}
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


class ShiftdeskSpawner(LocalProcessSpawner):
    """The one-machine spawner: each user's server as their own account, or all as one.

    With ``account_template`` set (``accounts.mode = "system"``), the server of hub
    user ``alice`` runs as the account the template names (``sd-alice``), in a home
    folder only that account may enter (0700), with files private by default (umask
    077). It connects to the database as the role ``alice``, which PostgreSQL grants by
    peer authentication: the kernel, not the user, says which account connected. The
    role is created (and its administrator membership set from the hub) before the
    server starts. No group or administrator list is given to the server: the gate asks
    the hub. Without a template everything runs as the hub's own account (a demo for
    one person; no boundary between users).

    Either way the user's folder is checked first, and the start waits until the
    server listens or exits, so the user learns within seconds what failed and what to
    do, instead of a "didn't respond" a minute later. Other users' servers are not
    involved.
    """

    # Plain class attributes, set by :func:`shiftdesk_spawner` for one hub run (the
    # generated config passes them there rather than as traitlets config).
    #: the user's home folder ({username})
    home_dir_template: str = "/tmp/{username}"
    #: the account of {username}; empty: the hub's own account
    account_template: str = ""
    #: create missing accounts (useradd)
    create_accounts: bool = False
    #: the database as its owner (to create users' roles)
    owner_database_url: str = ""
    #: the URL user servers connect with; {role} is the user's role
    user_database_url: str = ""
    #: where the gate service listens
    gate_url: str = ""

    _owner_db: Any = None

    @property
    def home_dir(self) -> str:
        """The user's home folder."""
        return str(self.home_dir_template.format(username=self.user.name))

    @property
    def account(self) -> str:
        """The account the server runs as ('' for the hub's own)."""
        if not self.account_template:
            return ""
        return str(self.account_template.format(username=self.user.name))

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        """Become the user's account (when there is one), then enter their folder."""
        home = self.home_dir
        setuid = set_user_setuid(self.account, chdir=False) if self.account else None

        def preexec() -> None:
            if setuid is not None:
                setuid()
                os.umask(0o077)  # what the user creates is theirs alone unless they say
            os.chdir(home)

        return preexec

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        """``USER``, ``HOME`` and ``SHELL`` of the server."""
        env["USER"] = self.account or self.user.name
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    def get_env(self) -> dict[str, str]:
        """The server's environment: with accounts, the user's own database URL and the
        gate, and nothing that names groups or administrators."""
        env: dict[str, str] = super().get_env()
        if self.account:
            for name in ("SHIFTDESK_GROUPS", "SHIFTDESK_ADMINS"):
                env.pop(name, None)
            from shiftdesk.storage.boundary import user_url

            env["SHIFTDESK_DATABASE_URL"] = user_url(self.user_database_url, self.user.name)
            env["SHIFTDESK_GATE_URL"] = self.gate_url
        return env

    def move_certs(self, paths: Any) -> Any:
        """No internal TLS on one machine."""
        return paths

    def _problem(self, what: str) -> str:
        return (
            f"Your server could not start: {what}. This concerns only your account; other "
            "users can work. Ask the hub administrator to fix it, then open a dashboard "
            "from the start page again."
        )

    def check_account(self) -> None:
        """With accounts: the user's account exists (created when allowed), their
        folders belong to it, and their database role exists with the hub's admin flag.

        Raises
        ------
        ServerStartFailed
            The name is reserved, the account is missing or cannot be created, or the
            database refuses the role.
        """
        from shiftdesk.hub.accounts import ensure_account, private_folder, seed_numba_cache
        from shiftdesk.hub.settings import HubStartError
        from shiftdesk.storage import Database
        from shiftdesk.storage.boundary import BoundaryError, ensure_user_role

        home = Path(self.home_dir)
        if os.path.lexists(home) and not os.path.isdir(home):
            self._refuse_home(f"{home} is a file, not a folder")
        try:
            account = ensure_account(
                self.account, create=self.create_accounts, what=f"hub user {self.user.name}"
            )
            if account.pw_uid == 0:
                raise HubStartError(f"the account {self.account!r} is root's")
            private_folder(home, account)
            private_folder(home / ".shiftdesk", account)
            seed_numba_cache(home, account)
            cls = type(self)
            if cls._owner_db is None:
                cls._owner_db = Database(self.owner_database_url, migrate=False)
            ensure_user_role(cls._owner_db, self.user.name, admin=self.user.admin)
        except (HubStartError, BoundaryError, OSError) as exc:
            raise ServerStartFailed(
                self._problem(str(exc)),
                reason="account",
                log_message=f"{self.user.name}'s account cannot be used: {exc}",
            ) from exc

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
        self._refuse_home(reason)

    def _refuse_home(self, reason: str) -> None:
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
        if self.account:
            await asyncio.get_running_loop().run_in_executor(None, self.check_account)
        else:
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


def shiftdesk_spawner(**options: Any) -> type:
    """A :class:`ShiftdeskSpawner` subclass with ``options`` (its class attributes) set.

    Parameters
    ----------
    **options
        ``home_dir_template``, ``account_template``, ``create_accounts``,
        ``owner_database_url``, ``user_database_url``, ``gate_url``.
    """
    known = {
        "home_dir_template",
        "account_template",
        "create_accounts",
        "owner_database_url",
        "user_database_url",
        "gate_url",
    }
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown ShiftdeskSpawner options: {sorted(unknown)}")
    return type("ShiftdeskSpawner", (ShiftdeskSpawner,), dict(options))
