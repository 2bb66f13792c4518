"""The seam between jobs and where they run.

A backend starts a stored job somewhere, can say how it is doing, can stop it and can
fetch its logs. ``local`` (a process per job on this machine) and ``workers`` (the
queue of the shared job-worker service, :mod:`shiftdesk.jobs.queue`) are built in. Other names
come from the settings file (:mod:`shiftdesk.settings`): a ``[backends.<name>]`` table
says which backend type (``local``, ``ssh``, ``dask``) runs jobs sent to that name and
how to reach it. Code can also plug in names with :func:`register_backend`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database

if TYPE_CHECKING:
    from shiftdesk.settings import BackendSettings


@runtime_checkable
class JobBackend(Protocol):
    """Where jobs run. Jobs are stored first; a backend is handed their id."""

    name: str

    def submit(self, job_id: str) -> None:
        """Start the stored job ``job_id``; return without waiting for it."""

    def status(self, job_id: str) -> JobStatus:
        """The job's current status."""

    def cancel(self, job_id: str) -> None:
        """Stop the job; it ends as cancelled."""

    def logs(self, job_id: str) -> str:
        """Everything the job wrote."""


BackendFactory = Callable[[Database], JobBackend]
#: A backend type builds a backend from its ``[backends.<name>]`` settings table.
BackendTypeFactory = Callable[["BackendSettings", Database], JobBackend]
_factories: dict[str, BackendFactory] = {}
_types: dict[str, BackendTypeFactory] = {}
_instances: dict[tuple[str, str], JobBackend] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available by name (``factory(database) -> JobBackend``)."""
    _factories[name] = factory


def register_backend_type(kind: str, factory: BackendTypeFactory) -> None:
    """Make a backend type usable in settings (``type = "<kind>"``)."""
    _types[kind] = factory


def get_backend(name: str, database: Database) -> JobBackend:
    """The backend instance for ``name`` on ``database`` (one per process).

    A ``[backends.<name>]`` table in the settings file wins; otherwise a name given to
    :func:`register_backend` (``"local"`` always is).

    Raises
    ------
    KeyError
        No backend has this name.
    shiftdesk.settings.SettingsError
        The settings file is wrong (the message names the file and key).
    """
    from shiftdesk.settings import load_settings

    with _lock:
        key = (name, database.url)
        backend = _instances.get(key)
        if backend is not None:
            return backend
        settings = load_settings()
        configured = settings.backend(name)
        if configured is not None:
            backend = _types[configured.type](configured, database)
        elif name in _factories:
            backend = _factories[name](database)
        else:
            known = sorted(set(_factories) | set(settings.backends))
            where = (
                settings.path
                or "the settings file (SHIFTDESK_SETTINGS or <data dir>/settings.toml)"
            )
            raise KeyError(
                f"unknown job backend {name!r}; available: {', '.join(known)}. Define it "
                f"as a [backends.{name}] table in {where}"
            )
        _instances[key] = backend
        return backend


def shutdown_backends() -> None:
    """Stop spare workers and forget backend instances (tests, interpreter exit)."""
    with _lock:
        for backend in _instances.values():
            close = getattr(backend, "close", None)
            if close is not None:
                close()
        _instances.clear()


def _local_factory(database: Database) -> JobBackend:
    from shiftdesk.jobs.local import LocalBackend

    return LocalBackend(database)


def _local_type(settings: BackendSettings, database: Database) -> JobBackend:
    from shiftdesk.jobs.local import LocalBackend

    backend = LocalBackend(database, spare=bool(settings.options.get("spare", True)))
    backend.name = settings.name
    return backend


def _workers_factory(database: Database) -> JobBackend:
    from shiftdesk.jobs.queue import WorkersBackend

    return WorkersBackend(database)


def _ssh_type(settings: BackendSettings, database: Database) -> JobBackend:
    from shiftdesk.jobs.ssh import SSHBackend

    return SSHBackend.from_settings(settings, database)


def _dask_type(settings: BackendSettings, database: Database) -> JobBackend:
    from shiftdesk.jobs.dask_backend import DaskBackend

    return DaskBackend.from_settings(settings, database)


register_backend("local", _local_factory)
register_backend("workers", _workers_factory)
register_backend_type("local", _local_type)
register_backend_type("ssh", _ssh_type)
register_backend_type("dask", _dask_type)
