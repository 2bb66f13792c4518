"""Code that runs inside the JupyterHub process (imported by the generated config only).

Keeping it here, rather than pasted into ``jupyterhub_config.py``, makes it testable
and keeps the generated file a plain list of settings.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from jupyterhub.auth import Authenticator  # type: ignore[import-untyped]


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
        return f"{state_dir}/users/{spawner.user.name}/shiftdesk"

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
