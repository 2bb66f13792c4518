"""The seam between jobs and where they run.

A backend starts a stored job somewhere, can stop it and can fetch its logs; its type
knows how to notice one of its jobs that nothing will finish any more (:func:`reconcile`,
called by :meth:`shiftdesk.jobs.Job.refresh`). ``local`` (a process per job on this
machine) and ``workers`` (the queue of the shared job-worker service,
:mod:`shiftdesk.jobs.workers_backend`) are built in. Other names come from the settings
file (:mod:`shiftdesk.settings`): a ``[backends.<name>]`` table says which backend type
(``local``, ``ssh``, ``dask``) runs jobs sent to that name and how to reach it. Code can
also plug in names with :func:`register_backend`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shiftdesk.identity import SYSTEM
from shiftdesk.jobs import store
from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database, JobRecord

if TYPE_CHECKING:
    from shiftdesk.settings import BackendSettings

#: Jobs whose end a thread of this process watches (a local worker's waiter, an SSH
#: follower, a remote job's heartbeat): :func:`reconcile` leaves them to it.
WATCHED: set[str] = set()
#: Seconds a cancelled job gets to stop by itself before it is killed.
CANCEL_GRACE = 5.0


@runtime_checkable
class JobBackend(Protocol):
    """Where jobs run. Jobs are stored first; a backend is handed their id."""

    name: str

    def submit(self, job_id: str) -> None:
        """Start the stored job ``job_id``; return without waiting for it."""

    def cancel(self, job_id: str) -> None:
        """Stop the job; it ends as cancelled."""

    def logs(self, job_id: str) -> str:
        """Everything the job wrote."""


def _within(stored: str, output: str) -> bool:
    """Whether every line of ``stored`` appears in ``output``, in the same order."""
    lines = iter(output.splitlines())
    return all(any(line == seen for seen in lines) for line in stored.splitlines() if line)


class BackendBase:
    """What every built-in backend shares: the cancel preamble, ``logs()``, failing a job."""

    name: str
    database: Database

    def _begin_cancel(self, job_id: str) -> JobRecord | None:
        """Flag the job as asked to stop; its row, or None if it already ended."""
        store.update_job(self.database, job_id, cancel_requested=True)
        record = store.read_job(job_id, self.database, SYSTEM)
        return None if JobStatus(record.status).finished else record

    def _read(self, job_id: str) -> JobRecord:
        return store.read_job(job_id, self.database, SYSTEM)

    def _fail(self, job_id: str, reason: str) -> None:
        """Fail the job with ``reason`` (also added to its log)."""
        store.finish_job(
            self.database, job_id, JobStatus.FAILED, error=reason, log=f"[shiftdesk] {reason}\n"
        )

    def _output(self, job_id: str) -> str:
        """Process output kept outside the database ('' for none)."""
        return ""

    def logs(self, job_id: str) -> str:
        """Messages stored by the task, plus the process output where this side has it."""
        text = self._read(job_id).log or ""
        output = self._output(job_id)
        if not output.strip():
            return text
        if _within(text, output):
            return output  # the worker printed every stored message too: say each once
        return text + ("\n" if text and not text.endswith("\n") else "") + output


def escalate(
    stopped: Callable[[], bool], kill: Callable[[], None], grace: float = CANCEL_GRACE
) -> None:
    """In a thread: give a job asked to stop ``grace`` seconds, then ``kill()`` it."""

    def run() -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if stopped():
                return
            time.sleep(0.1)
        kill()

    threading.Thread(target=run, name="shiftdesk-cancel", daemon=True).start()


BackendFactory = Callable[[Database], JobBackend]
#: A backend type builds a backend from its ``[backends.<name>]`` settings table.
BackendTypeFactory = Callable[["BackendSettings", Database], JobBackend]
#: A backend type's recovery: the row of an unfinished job nobody here watches, after
#: noticing that nothing will finish it (or re-attaching to it).
Reconciler = Callable[[Database, JobRecord], JobRecord]
_factories: dict[str, BackendFactory] = {}
_types: dict[str, BackendTypeFactory] = {}
_name_reconcilers: dict[str, Reconciler] = {}
_type_reconcilers: dict[str, Reconciler] = {}
_instances: dict[tuple[str, str], JobBackend] = {}
_lock = threading.Lock()


def register_backend(
    name: str, factory: BackendFactory, *, reconcile: Reconciler | None = None
) -> None:
    """Make a backend available by name (``factory(database) -> JobBackend``).

    ``reconcile(database, record)`` recovers its unfinished jobs (default: none needed).
    """
    _factories[name] = factory
    if reconcile is not None:
        _name_reconcilers[name] = reconcile


def register_backend_type(
    kind: str, factory: BackendTypeFactory, *, reconcile: Reconciler | None = None
) -> None:
    """Make a backend type usable in settings (``type = "<kind>"``).

    ``reconcile(database, record)`` recovers its unfinished jobs (default: none needed).
    """
    _types[kind] = factory
    if reconcile is not None:
        _type_reconcilers[kind] = reconcile


def reconcile(database: Database, record: JobRecord) -> JobRecord:
    """The job's row, after its backend type noticed that nothing will finish it.

    Jobs that ended, and jobs a thread of this process watches (:data:`WATCHED`), are
    returned as they are; others go to the recovery of their backend's type.
    """
    if JobStatus(record.status).finished or record.id in WATCHED:
        return record
    kind = configured_type(record.backend)
    recover = (
        _type_reconcilers.get(kind) if kind is not None else _name_reconcilers.get(record.backend)
    )
    return record if recover is None else recover(database, record)


_types_cache: tuple[object, dict[str, str]] | None = None


def configured_type(name: str) -> str | None:
    """The type of the ``[backends.<name>]`` table (None: not in the settings).

    The settings file is re-read only when it changes (this runs on every refresh).
    """
    global _types_cache
    from shiftdesk.settings import SettingsError, load_settings, settings_path

    path = settings_path()
    try:
        stamp: object = (path, path.stat().st_mtime_ns)
    except OSError:
        stamp = (path, None)
    if _types_cache is None or _types_cache[0] != stamp:
        try:
            types = {n: b.type for n, b in load_settings().backends.items()}
        except SettingsError:
            types = {}
        _types_cache = (stamp, types)
    return _types_cache[1].get(name)


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


def _local_reconcile(database: Database, record: JobRecord) -> JobRecord:
    from shiftdesk.jobs.local import reconcile

    return reconcile(database, record)


def _workers_factory(database: Database) -> JobBackend:
    from shiftdesk.jobs.workers_backend import WorkersBackend

    return WorkersBackend(database)


def _ssh_type(settings: BackendSettings, database: Database) -> JobBackend:
    from shiftdesk.jobs.ssh import SSHBackend

    return SSHBackend.from_settings(settings, database)


def _ssh_reconcile(database: Database, record: JobRecord) -> JobRecord:
    from shiftdesk.jobs.ssh import reconcile

    return reconcile(database, record)


def _dask_type(settings: BackendSettings, database: Database) -> JobBackend:
    from shiftdesk.jobs.dask_backend import DaskBackend

    return DaskBackend.from_settings(settings, database)


def _remote_reconcile(database: Database, record: JobRecord) -> JobRecord:
    from shiftdesk.jobs.heartbeat import fail_if_unfollowed

    return fail_if_unfollowed(database, record)


register_backend("local", _local_factory, reconcile=_local_reconcile)
register_backend("workers", _workers_factory)
register_backend_type("local", _local_type, reconcile=_local_reconcile)
register_backend_type("ssh", _ssh_type, reconcile=_ssh_reconcile)
register_backend_type("dask", _dask_type, reconcile=_remote_reconcile)
