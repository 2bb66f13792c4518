"""Setting up a hub with per-user accounts: accounts, folders, PostgreSQL, roles.

:class:`HubBoundary` is what ``shiftdesk hub`` does before JupyterHub starts when
``accounts.mode = "system"`` (and undoes after it stops): it checks it runs as root,
makes sure the service account (and, when allowed, the users' accounts) exist and can
run the installation, gives the service account its folders and nobody else, starts
the hub's own PostgreSQL, and after the schema is migrated makes the database a trust
boundary (:func:`shiftdesk.storage.boundary.secure`) with a role for every known user.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from shiftdesk.hub.accounts import (
    account_name,
    can_enter,
    ensure_account,
    is_root,
    private_folder,
    readable_by,
)
from shiftdesk.hub.config import catalog_folder, datalab_folder
from shiftdesk.hub.daqnet import ADDRESS as DAQ_ADDRESS
from shiftdesk.hub.daqnet import DAQNetwork
from shiftdesk.hub.postgres import EmbeddedPostgres
from shiftdesk.hub.settings import HubSettings, HubStartError


def hand_over(folder: Path, account: Any) -> None:
    """Make everything below ``folder`` ``account``'s (links themselves, never followed)."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            left = os.path.join(root, name)
            if os.lstat(left).st_uid != account.pw_uid:
                os.lchown(left, account.pw_uid, account.pw_gid)


class HubBoundary:
    """The per-user-accounts part of one hub start (does nothing in ``shared`` mode).

    Parameters
    ----------
    settings : HubSettings
        The deployment.
    """

    def __init__(self, settings: HubSettings, run_id: str = "check") -> None:
        self.settings = settings
        self.run_id = run_id
        self.postgres: EmbeddedPostgres | None = None
        self.daq_network: DAQNetwork | None = None

    @property
    def active(self) -> bool:
        """Whether users run under their own accounts."""
        return self.settings.accounts.system

    def _known_users(self) -> list[str]:
        s = self.settings
        names = set(s.hub.admin_users)
        if s.auth.type == "demo":
            names |= set(s.auth.demo.users)
        elif s.auth.ldap is not None:
            names |= set(s.auth.ldap.allowed_users)
        return sorted(names)

    def prepare(self) -> list[str]:
        """Accounts, folders and the hub's own PostgreSQL (before the database checks).

        Raises
        ------
        HubStartError
            Not root, an account is missing, the installation is not readable by the
            accounts, or PostgreSQL does not start.
        """
        if not self.active:
            return [
                'accounts.mode = "shared": every user runs as this account, with NO boundary '
                "between them (for one person trying the dashboards, never for several)"
            ]
        s = self.settings
        acc = s.accounts
        if not is_root():
            raise HubStartError(
                f'accounts.mode = "system" in {s.where} runs each user\'s server under their '
                "own account, which needs the hub to run as root. Start it as root, or set "
                'accounts.mode = "shared" to try the dashboards alone (no boundary)'
            )
        service = ensure_account(acc.service_user, create=acc.create, what="the service account")
        if service.pw_uid == 0:
            raise HubStartError("accounts.service_user must not be root")
        for path in (Path(sys.executable), s.spawner.notebook_dir):
            if not readable_by(service, path):
                raise HubStartError(
                    f"the account {acc.service_user!r} cannot read {path}: every account runs "
                    "this installation, so it (and each folder above it) must be readable by "
                    "all (a Python under /root is not; scripts/setup.sh builds .venv on the "
                    "system's Python when run as root)"
                )
        accounts = []
        for name in self._known_users():
            accounts.append(
                ensure_account(
                    account_name(acc.system_user, name), create=acc.create, what=f"hub user {name}"
                ).pw_name
            )
        state = s.hub.state_dir
        state.mkdir(parents=True, exist_ok=True)
        os.chmod(state, 0o711)
        if not can_enter(service, state):
            raise HubStartError(
                f"the state folder {state} is inside a folder other accounts may not pass "
                "through (e.g. /root or a private /tmp folder), so no user could reach their "
                "home in it. Choose hub.state_dir (or --state-dir) elsewhere, e.g. "
                "/var/lib/shiftdesk-hub"
            )
        users = state / "users"
        users.mkdir(exist_ok=True)
        os.chmod(users, 0o711)
        services = private_folder(state / "services", service)
        for sub in ("gate", "wallboard", "daq"):
            private_folder(services / sub, service)
        # what an earlier run left as root (shared mode, the job workers' status) becomes
        # the service account's; the rest is left alone
        hand_over(services, service)
        # the catalogs' files: the gate (the service account) writes, every user reads
        hand_over(private_folder(catalog_folder(s), service, 0o755), service)
        # shared data sessions' files: the gate's alone (members fetch them through it)
        hand_over(private_folder(datalab_folder(s), service, 0o700), service)
        lines = [
            f"per-user accounts: servers run as {acc.system_user} "
            f"({', '.join(accounts) or 'created at first login'}); services as "
            f"{acc.service_user}"
        ]
        if s.services.daq_simulator.enabled:
            network = DAQNetwork(service.pw_uid, self.run_id)
            if network.install():
                self.daq_network = network
                lines.append(
                    f"DAQ network: the simulated ECC servers listen on {DAQ_ADDRESS}, which only "
                    f"root and {acc.service_user} may reach (iptables); users go through the gate"
                )
            else:
                lines.append(
                    f"WARNING: user kernels could send SOAP to the simulated ECC servers on "
                    f"{DAQ_ADDRESS} directly, bypassing the gate: {network.problem}"
                )
        if s.embedded_postgres:
            self.postgres = EmbeddedPostgres(state / "postgres", acc.service_user, acc.system_user)
            lines += self.postgres.start()
        return lines

    def secure(self) -> list[str]:
        """Make the migrated database a trust boundary; a role for every known user."""
        if not self.active:
            return []
        from sqlalchemy.exc import SQLAlchemyError

        from shiftdesk.errors import StorageError
        from shiftdesk.storage import Database
        from shiftdesk.storage.boundary import ensure_user_role, secure

        db = Database(self.settings.database_url(), migrate=False)
        try:
            lines = secure(db)
            admins = set(self.settings.hub.admin_users)
            for name in self._known_users():
                ensure_user_role(db, name, admin=name in admins)
        except (StorageError, SQLAlchemyError) as exc:
            raise HubStartError(
                f"the shiftdesk database cannot be made a trust boundary: "
                f"{getattr(exc, 'orig', exc)}"
            ) from exc
        finally:
            db.dispose()
        return lines

    def stop(self) -> None:
        """Stop the hub's own PostgreSQL (after everything that used it); drop the rules."""
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self.daq_network is not None:
            self.daq_network.remove()
            self.daq_network = None
