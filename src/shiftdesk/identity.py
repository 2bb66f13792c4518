"""Who is using shiftdesk right now.

The user comes from ``JUPYTERHUB_USER`` (set by the hub's spawner for every
single-user server and kernel), else from the operating system. Permissions are
checked in the core against this identity, never in the UI.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field


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


def current_identity() -> Identity:
    """Return the identity of the user running this process.

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
