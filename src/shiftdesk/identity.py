"""Who is using shiftdesk right now.

Standalone (one person, no hub) the user is the operating-system login, or
``JUPYTERHUB_USER`` when a hub without per-user accounts started the process, with the
groups and administrators named in ``SHIFTDESK_GROUPS`` and ``SHIFTDESK_ADMINS``: the
person who runs the process may set them, and nothing is shared with anyone else.

In a hub user server with a gate (``SHIFTDESK_GATE_URL``), those variables decide
nothing: the gate service asks the hub whose token the server holds, with the hub's
live groups. A variable that claims otherwise (another ``JUPYTERHUB_USER``, any
``SHIFTDESK_GROUPS`` or ``SHIFTDESK_ADMINS``) is refused and reported to the audit trail.
Permissions are checked in the core against this identity, never in the UI.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from dataclasses import dataclass, field

from shiftdesk.errors import PermissionDenied


def _split(value: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Identity:
    """A user as shiftdesk sees them.

    Parameters
    ----------
    name : str
        The user name (hub user name or OS login).
    groups : frozenset of str
        Groups the user belongs to (hub groups when served by JupyterHub).
    admin : bool
        Administrators may list and open every user's objects.
    """

    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("an identity needs a non-empty user name")

    def can_read(self, owner: str) -> bool:
        """Whether this user may see an object owned by ``owner``."""
        return self.admin or owner == self.name

    def __str__(self) -> str:
        return self.name + (" (admin)" if self.admin else "")


#: The system itself (job backends and workers): reads and writes any job it runs.
SYSTEM = Identity("shiftdesk-system", admin=True)

#: variables a hub user server never gets from the hub: setting one is a claim
CLAIM_VARIABLES = ("SHIFTDESK_GROUPS", "SHIFTDESK_ADMINS")


class IdentityRefused(PermissionDenied):
    """An environment variable claims an identity the hub does not confirm."""


def current_identity() -> Identity:
    """Return the identity of the user running this process.

    In a hub user server with a gate: the hub's answer for this server's token (see
    the module docstring). Otherwise :func:`local_identity`.

    Raises
    ------
    IdentityRefused
        On a hub, an environment variable claims another user, groups or admin rights.
    """
    from shiftdesk.gate import get_gate

    gate = get_gate()
    if not gate.remote:
        return local_identity()
    from shiftdesk.gate.client import GateUnavailable

    try:
        who = gate.whoami()
    except GateUnavailable:
        fallback = _database_identity()
        if fallback is None:
            raise
        who = fallback
    claims = []
    claimed_user = os.environ.get("JUPYTERHUB_USER")
    if claimed_user and claimed_user != who.name:
        claims.append(f"JUPYTERHUB_USER={claimed_user!r}")
    claims += [f"{var}={os.environ[var]!r}" for var in CLAIM_VARIABLES if os.environ.get(var)]
    if claims:
        message = (
            f"refused: this server belongs to {who.name!r} (as the hub says), but "
            f"{', '.join(claims)} claims otherwise. On the hub, who you are and your groups "
            "come from the hub, never from environment variables; unset them (or restart "
            "the kernel) to go on. Nothing was done, and this was recorded."
        )
        _report(gate, "identity", claimed_user or who.name, message)
        raise IdentityRefused(message)
    return who


def _database_identity() -> Identity | None:
    """The name the database verified for this connection (no groups), when there is one."""
    try:
        from shiftdesk.storage import get_database
        from shiftdesk.storage.boundary import connected_role, is_user_role

        db = get_database()
        if is_user_role(db):
            name = connected_role(db)
            return Identity(name) if name else None
    except Exception:  # no database either: the caller reports the gate being down
        return None
    return None


def _report(gate: object, action: str, target: str, detail: str) -> None:
    report = getattr(gate, "report", None)
    if report is None:
        return
    # the refusal stands even when the audit cannot be reached
    with contextlib.suppress(Exception):
        report(action, target, detail)


def local_identity() -> Identity:
    """Return the identity of the user running this process, from its environment.

    ``JUPYTERHUB_USER`` wins over the OS user. ``SHIFTDESK_ADMINS`` (comma
    separated user names) marks administrators and ``SHIFTDESK_GROUPS`` (comma
    separated) lists the user's groups. Under ``shiftdesk hub`` the spawner sets
    both for every user server and its kernels: the user's hub groups at spawn time
    (e.g. ``operators-<experiment>``, ``staff``) and the hub's admin users. Outside
    the hub they can be set by hand.
    """
    name = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    admins = _split(os.environ.get("SHIFTDESK_ADMINS"))
    groups = _split(os.environ.get("SHIFTDESK_GROUPS"))
    return Identity(name=name, groups=groups, admin=name in admins)
