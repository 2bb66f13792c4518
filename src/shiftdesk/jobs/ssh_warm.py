"""Warm the SSH backends when the user's server starts, so the first remote job is quick.

The first remote job of a session used to pay for everything at once: connecting, making
and installing the session key, reconnecting with it, and a new worker process importing
refl1d and bumps (3-4 s on a quiet machine, more under load). :func:`warm_backends` does
all of that ahead, in the background: the hub's warm kernels run it when the user's
server starts (:data:`shiftdesk.hub.warm_kernels.DEFAULT_WARM_CODE`), so the dashboard
that gets such a kernel finds a spare worker ready, and every other kernel of the user
finds the session key made. A notebook can call it too, at its top.

This module imports neither paramiko nor the SSH backend unless an SSH backend is
configured to be warmed, so running it on a hub without SSH workers costs a settings read.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shiftdesk.storage import Database

log = logging.getLogger(__name__)


def warm_backends(database: Database | None = None) -> list[str]:
    """Start warming every SSH backend with ``spare = true`` (see ``SSHBackend.warm``).

    Returns at once with the names being warmed. Backends with ``spare = false`` are
    left alone: that setting keeps anything from running on the worker ahead of use.
    Nothing here raises: a bad settings file or an unreachable worker is logged, and
    the first job reports it as usual.
    """
    from shiftdesk.settings import SettingsError, load_settings

    try:
        tables = load_settings().backends
    except SettingsError as exc:
        log.warning("SSH backends not warmed: %s", exc)
        return []
    names = [
        name
        for name, table in sorted(tables.items())
        if table.type == "ssh" and bool(table.options.get("spare", True))
    ]
    if not names:
        return []
    from shiftdesk.jobs.backend import get_backend
    from shiftdesk.jobs.ssh import SSHBackend
    from shiftdesk.storage import get_database

    warmed = []
    try:
        db = database or get_database()
    except Exception as exc:
        log.warning("SSH backends not warmed: the database cannot be opened: %s", exc)
        return []
    for name in names:
        try:
            backend = get_backend(name, db)
        except (KeyError, SettingsError) as exc:
            log.warning("SSH backend %r not warmed: %s", name, exc)
            continue
        if isinstance(backend, SSHBackend):
            backend.warm()
            warmed.append(name)
    return warmed


__all__ = ["warm_backends"]
