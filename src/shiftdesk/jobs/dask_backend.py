"""The Dask backend: run jobs on a dask.distributed cluster given by scheduler address.

This is how fits outgrow one machine (and reach Slurm through dask-jobqueue, whose
scheduler is just another address). Workers need shiftdesk installed but no access to
the jobs database: the task gets the job's JSON spec as a string, reports progress and
log lines as Dask *events* (``Worker.log_event`` on one shiftdesk topic, which the
backend subscribes to and sorts into the job rows), and returns its JSON result (with
the full log) as the future's result. Cancel sets a named :class:`distributed.Event`
that the task polls, then cancels the future. If the scheduler goes away, the job fails
with a message saying so, and :meth:`shiftdesk.jobs.Job.resubmit` starts it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from shiftdesk.errors import JobError
from shiftdesk.identity import SYSTEM
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import BackendBase, escalate
from shiftdesk.jobs.context import ThrottledContext
from shiftdesk.jobs.heartbeat import Heartbeat
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.tasks import get_kind
from shiftdesk.storage import Database
from shiftdesk.tracking import utcnow

if TYPE_CHECKING:
    from distributed import Client, Future

    from shiftdesk.settings import BackendSettings


class DaskBackendError(JobError):
    """The Dask scheduler cannot be used (unreachable, refused)."""


#: The event topic progress travels on; one for all jobs keeps the scheduler's event
#: log bounded (it keeps a short history per topic).
TOPIC = "shiftdesk-jobs"


def cancel_event_for(job_id: str) -> str:
    """The name of the distributed Event that asks a job to stop."""
    return f"shiftdesk-cancel-{job_id}"


# -- on the worker ----------------------------------------------------------------------


class DaskTaskContext(ThrottledContext):
    """The task's line back to the submitting client, via worker events."""

    def __init__(self, job_id: str, cancel_name: str, interval: float = 0.25) -> None:
        from distributed import get_worker

        super().__init__(interval)
        self.worker = get_worker()
        self.job_id = job_id
        self.cancel_name = cancel_name
        self.lines: list[str] = []
        # the first check waits a second: most short fits never ask the scheduler
        self._last_check = time.monotonic()
        self._event: Any = None
        self._cancelled = False

    def emit(self, event: str, **fields: Any) -> None:
        """Send an event to the client (best effort: the result carries the full log)."""
        with contextlib.suppress(Exception):
            self.worker.log_event(TOPIC, {"job": self.job_id, "event": event, **fields})

    def _report(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        self.emit("progress", fraction=fraction, message=message, metrics=metrics)

    def log(self, text: str) -> None:
        """Keep a log line (returned with the result) and send it at once."""
        line = text.rstrip("\n") + "\n"
        self.lines.append(line)
        self.emit("log", text=line)

    def cancelled(self) -> bool:
        """True once the client set the job's cancel event (checked once a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= 1.0:
            self._last_check = now
            from distributed import Event

            with contextlib.suppress(Exception):
                if self._event is None:
                    self._event = Event(self.cancel_name)
                self._cancelled = self._event.is_set()
        return self._cancelled


def run_on_worker(job_id: str, kind: str, spec_json: str) -> str:
    """The Dask task: run the job kind's function on the JSON spec; returns JSON."""
    ctx = DaskTaskContext(job_id, cancel_event_for(job_id))
    ctx.emit("started", pid=os.getpid(), worker=ctx.worker.address)
    try:
        task = get_kind(kind).load_run()
        result = task(json.loads(spec_json), ctx)
    except Exception as exc:
        return json.dumps(
            {
                "error": f"{type(exc).__name__}: {exc}",
                "log": "".join(ctx.lines) + traceback.format_exc(),
            }
        )
    return json.dumps({"result": result, "cancelled": ctx.cancelled(), "log": "".join(ctx.lines)})


def _event_kind(event: Any) -> str | None:
    return event.get("event") if isinstance(event, dict) else None


def _is_progress(event: Any) -> bool:
    return _event_kind(event) == "progress"


# -- in the kernel ------------------------------------------------------------------------


class DaskBackend(BackendBase):
    """Run jobs on a dask.distributed scheduler.

    Parameters
    ----------
    name : str
        The backend's name (jobs record it).
    address : str
        The scheduler, e.g. ``tcp://scheduler:8786``.
    database : Database
        Where the jobs are stored (only this side writes it).
    connect_timeout : float
        Seconds to wait for the scheduler (and to wait for it to come back).
    """

    def __init__(
        self, name: str, address: str, database: Database, *, connect_timeout: float = 10.0
    ) -> None:
        self.name = name
        self.address = address
        self.database = database
        self.connect_timeout = connect_timeout
        self.where = f"the settings of backend {name!r}"
        self._client: Client | None = None
        self._futures: dict[str, Future] = {}
        self._queues: dict[str, queue.Queue[tuple[str, Any]]] = {}
        self._lock = threading.RLock()
        self._heartbeat = Heartbeat(database)

    @classmethod
    def from_settings(cls, settings: BackendSettings, database: Database) -> DaskBackend:
        """The backend for a ``[backends.<name>]`` table of type ``dask``."""
        backend = cls(
            settings.name,
            str(settings.options["address"]),
            database,
            connect_timeout=float(settings.options.get("connect_timeout", 10.0)),
        )
        backend.where = settings.where()
        return backend

    def client(self) -> Client:
        """The connection to the scheduler (made again if it was lost)."""
        from distributed import Client

        with self._lock:
            client = self._client
            if client is not None and client.status == "running":
                return client
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=2)
                self._client = None
            try:
                client = Client(
                    self.address,
                    timeout=self.connect_timeout,
                    set_as_default=False,
                )
            except (OSError, TimeoutError) as exc:
                raise DaskBackendError(
                    f"cannot reach the Dask scheduler at {self.address} ({exc}): is it "
                    f"running, and is address right in {self.where}?"
                ) from exc
            self._client = client
            return client

    def _dispatch(self, event: Any) -> None:
        """Event handler (on the client's loop): hand the event to its job's watcher."""
        message = event[1] if isinstance(event, tuple | list) and len(event) == 2 else event
        if not isinstance(message, dict):
            return
        found = self._queues.get(str(message.get("job")))
        if found is not None:
            found.put(("event", message))

    # -- JobBackend ----------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Send the stored job to the cluster; returns at once (connects in a thread)."""
        self._heartbeat.add(job_id)
        threading.Thread(
            target=self._run, args=(job_id,), name=f"shiftdesk-dask-{job_id[:8]}", daemon=True
        ).start()

    def _run(self, job_id: str) -> None:
        try:
            self._follow(job_id)
        finally:
            self._queues.pop(job_id, None)
            self._heartbeat.discard(job_id)

    def _follow(self, job_id: str) -> None:
        db = self.database
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._queues[job_id] = events
        try:
            record = store.read_job(job_id, db, SYSTEM)
            if record.cancel_requested:
                store.finish_job(db, job_id, JobStatus.CANCELLED)
                return
            client = self.client()
            # (again for every job: a client that reconnected to a restarted scheduler
            # has lost its subscriptions there; subscribing twice is harmless)
            client.subscribe_topic(TOPIC, self._dispatch)
            future = client.submit(
                run_on_worker,
                job_id,
                record.kind,
                record.spec_json,
                key=f"shiftdesk-{job_id}",
                pure=False,
            )
            with self._lock:
                self._futures[job_id] = future
            future.add_done_callback(lambda _f: events.put(("done", None)))
        except Exception as exc:
            reason = (
                str(exc)
                if isinstance(exc, DaskBackendError)
                else (
                    f"could not send the job to the Dask scheduler at {self.address}: "
                    f"{type(exc).__name__}: {exc}"
                )
            )
            self._fail(job_id, reason)
            return
        try:
            done = False
            while not done:
                batch = [events.get()]
                with contextlib.suppress(queue.Empty):
                    while True:
                        batch.append(events.get_nowait())
                done = any(what == "done" for what, _ in batch)
                # several progress events waiting: only the newest is worth a write (and
                # none once the result is in, which also repeats the log lines)
                last_progress = max(
                    (i for i, (_, e) in enumerate(batch) if _is_progress(e)), default=-1
                )
                for i, (what, event) in enumerate(batch):
                    if what == "done" or (_is_progress(event) and i != last_progress):
                        continue
                    if done and _event_kind(event) in ("progress", "log"):
                        continue
                    self._handle_event(job_id, event)
            # events sent just before the result may still be on their way; they only
            # carry progress and log lines that the result repeats
            self._finish(job_id, future)
        finally:
            with self._lock:
                self._futures.pop(job_id, None)

    def _handle_event(self, job_id: str, event: Any) -> None:
        if not isinstance(event, dict):
            return
        db = self.database
        kind = event.get("event")
        with contextlib.suppress(Exception):  # a late event for a finished job
            if kind == "started":
                store.update_job(
                    db,
                    job_id,
                    status=JobStatus.RUNNING.value,
                    started_at=utcnow(),
                    heartbeat_at=utcnow(),
                    message="running",
                    pid=int(event.get("pid") or 0) or None,
                    host=str(event.get("worker", ""))[:255],
                )
            elif kind == "progress":
                store.update_job(
                    db,
                    job_id,
                    progress=float(event.get("fraction", 0.0)),
                    message=str(event.get("message", ""))[:500],
                    metrics_json=json.dumps(event.get("metrics") or {}),
                    heartbeat_at=utcnow(),
                )
            elif kind == "log":
                store.append_log(db, job_id, str(event.get("text", "")))

    def _finish(self, job_id: str, future: Future) -> None:
        db = self.database
        record = store.read_job(job_id, db, SYSTEM)
        if JobStatus(record.status).finished:
            return
        try:
            raw = future.result(timeout=5)
        except Exception as exc:
            if record.cancel_requested:
                store.finish_job(db, job_id, JobStatus.CANCELLED)
                return
            self._fail(job_id, self._explain(exc))
            return
        answer = json.loads(raw)
        # the result carries the whole log: it replaces the lines streamed live (some of
        # which may still be on their way)
        log = str(answer.get("log", ""))
        if "error" in answer:
            store.finish_job(
                db, job_id, JobStatus.FAILED, error=str(answer["error"]), replace_log=log
            )
        elif answer.get("cancelled") or record.cancel_requested:
            store.finish_job(
                db, job_id, JobStatus.CANCELLED, result=answer.get("result"), replace_log=log
            )
        else:
            store.finish_job(
                db, job_id, JobStatus.DONE, result=answer.get("result"), replace_log=log
            )

    def _explain(self, exc: BaseException) -> str:
        client = self._client
        lost = client is None or client.status != "running"
        text = f"{type(exc).__name__}: {exc}".strip()
        if lost or "CancelledError" in type(exc).__name__:
            return (
                f"lost the connection to the Dask scheduler at {self.address} while the job "
                f"ran ({text}); the scheduler stopped or became unreachable. Resubmit the "
                "job (job.resubmit()) once it is back"
            )
        return f"the Dask task failed: {text}"

    def cancel(self, job_id: str) -> None:
        """Ask the task to stop (a distributed Event it polls); cancel its future after a grace."""
        from distributed import Event

        record = self._begin_cancel(job_id)
        if record is None:
            return
        with self._lock:
            future = self._futures.get(job_id)
        if future is None:
            if record.status == JobStatus.QUEUED.value or job_id not in self._futures:
                store.finish_job(self.database, job_id, JobStatus.CANCELLED)
            return
        try:
            Event(cancel_event_for(job_id), client=self.client()).set()
        except Exception:
            future.cancel()
            return
        escalate(future.done, future.cancel)

    def close(self) -> None:
        """Close the connection to the scheduler (running tasks go on there)."""
        self._heartbeat.stop()
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=2)
