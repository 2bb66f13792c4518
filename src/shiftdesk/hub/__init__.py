"""Serving shiftdesk through JupyterHub: settings file, generated config, launcher.

``shiftdesk hub --demo --port PORT`` starts a loopback demo with demo logins;
``shiftdesk hub --settings FILE`` starts a deployment described by a TOML settings
file (see ``docs/deployment.md``). Nothing here imports JupyterHub: only the generated
config (through :mod:`shiftdesk.hub._hubside`) runs inside the hub process.
"""

from __future__ import annotations

import os
from pathlib import Path

from shiftdesk.hub.config import RunFolder, render_config, write_run_folder
from shiftdesk.hub.run import Hub, preflight, run_hub
from shiftdesk.hub.settings import (
    DEMO_USERS,
    HubSettings,
    HubSettingsError,
    HubStartError,
    demo_toml,
    load_settings,
    settings_from_dict,
)

__all__ = [
    "DEMO_USERS",
    "Hub",
    "HubSettings",
    "HubSettingsError",
    "HubStartError",
    "RunFolder",
    "demo_banner",
    "demo_toml",
    "load_settings",
    "preflight",
    "render_config",
    "run_hub",
    "settings_from_dict",
    "write_demo_settings",
    "write_run_folder",
]


def write_demo_settings(port: int, state_dir: Path, *, accounts: bool | None = None) -> Path:
    """Write the demo settings file into ``state_dir`` and return its path.

    Parameters
    ----------
    port : int
        Public port on 127.0.0.1.
    state_dir : Path
        The demo's state folder (created).
    accounts : bool, optional
        Per-user accounts (default: when running as root); see :func:`demo_toml`.
    """
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "hub-demo.toml"
    path.write_text(demo_toml(port, state_dir, accounts=accounts), encoding="utf-8")
    os.chmod(path, 0o600)  # demo passwords
    return path


def demo_banner(settings: HubSettings) -> list[str]:
    """Lines telling who can log in to the demo (name, password, groups)."""
    lines = ["demo logins (user / password / groups):"]
    for name, user in settings.auth.demo.users.items():
        groups = ", ".join(user.groups) or "no group"
        lines.append(f"  {name:<9} {user.password:<14} {groups}")
    return lines
