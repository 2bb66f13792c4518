"""The seam between jobs and where they run.

A backend starts a stored job somewhere, can say how it is doing, can stop it and can
fetch its logs. ``local`` (a process per job on this machine) is built in; SSH and
Dask backends plug in through :func:`register_backend`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database


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
_factories: dict[str, BackendFactory] = {}
_instances: dict[tuple[str, str], JobBackend] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available by name (``factory(database) -> JobBackend``)."""
    _factories[name] = factory


def get_backend(name: str, database: Database) -> JobBackend:
    """The backend instance for ``name`` on ``database`` (one per process)."""
    with _lock:
        key = (name, database.url)
        backend = _instances.get(key)
        if backend is None:
            if name not in _factories:
                raise KeyError(
                    f"unknown job backend {name!r}; available: {', '.join(sorted(_factories))}"
                )
            backend = _instances[key] = _factories[name](database)
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


register_backend("local", _local_factory)
