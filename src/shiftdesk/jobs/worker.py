"""The worker process: ``python -m shiftdesk.jobs.worker --job ID`` (or ``--standby``).

It reads the job's JSON spec from the database, runs the task for its kind, and writes
progress, log lines and the JSON result back. SIGTERM asks the task to stop.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import time
import traceback
from types import FrameType
from typing import Any

from shiftdesk import tracking
from shiftdesk.identity import SYSTEM
from shiftdesk.jobs import store
from shiftdesk.jobs.context import ThrottledContext
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.tasks import get_kind, preload_modules
from shiftdesk.storage import Database
from shiftdesk.tracking import utcnow


class WorkerContext(ThrottledContext):
    """The task's line back to its job row, with writes throttled.

    Parameters
    ----------
    database : Database
        The job database.
    job_id : str
        The job being run.
    interval : float
        Least seconds between two progress writes.
    """

    def __init__(self, database: Database, job_id: str, interval: float = 0.25) -> None:
        super().__init__(interval)
        self.database = database
        self.job_id = job_id
        self._last_cancel_check = 0.0

    def _report(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        store.update_job(
            self.database,
            self.job_id,
            progress=fraction,
            message=message,
            metrics_json=json.dumps(metrics),
            heartbeat_at=utcnow(),
        )

    def log(self, text: str) -> None:
        """Append a line to the job's log (and to the process output)."""
        print(text, flush=True)
        store.append_log(self.database, self.job_id, text.rstrip("\n") + "\n")

    def cancelled(self) -> bool:
        """True once SIGTERM arrived or the job row asks to stop (checked once a second)."""
        if self._cancel.is_set():
            return True
        now = time.monotonic()
        if now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            record = store.read_job(self.job_id, self.database, SYSTEM)
            if record.cancel_requested:
                self._cancel.set()
        return self._cancel.is_set()


def run_job(job_id: str, database: Database) -> int:
    """Run one stored job to a final state. Returns the process exit code."""
    record = store.read_job(job_id, database, SYSTEM)
    if JobStatus(record.status).finished:
        return 0
    ctx = WorkerContext(database, job_id)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        ctx.request_cancel()

    signal.signal(signal.SIGTERM, on_term)
    if record.cancel_requested:
        store.finish_job(database, job_id, JobStatus.CANCELLED)
        return 0
    store.update_job(
        database,
        job_id,
        status=JobStatus.RUNNING.value,
        pid=os.getpid(),
        host=tracking.HOST,
        started_at=utcnow(),
        heartbeat_at=utcnow(),
        message="running",
    )
    try:
        kind = get_kind(record.kind)
        task = kind.load_run()
        spec: dict[str, Any] = json.loads(record.spec_json)
        result = task(spec, ctx)
    except Exception as exc:
        text = traceback.format_exc()
        print(text, file=sys.stderr, flush=True)
        store.finish_job(
            database,
            job_id,
            JobStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            log=text,
        )
        return 1
    if ctx.cancelled():
        store.finish_job(database, job_id, JobStatus.CANCELLED, result=result)
    else:
        store.finish_job(database, job_id, JobStatus.DONE, result=result)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    parser = argparse.ArgumentParser(prog="python -m shiftdesk.jobs.worker")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--job", help="run this job id")
    group.add_argument(
        "--standby", action="store_true", help="import ahead, then read one job id from stdin"
    )
    args = parser.parse_args(argv)
    job_id = args.job
    # open (and schema-check) the database before waiting: a spare then starts its job at once
    database = Database(os.environ.get("SHIFTDESK_DATABASE_URL"))
    if args.standby:
        for module in preload_modules():
            with contextlib.suppress(ImportError):  # the job reports a missing module itself
                importlib.import_module(module)
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the owner went away before handing over a job
        job_id = line.strip()
        from shiftdesk.jobs.local import log_path

        # from here on, this process's output belongs to the job's log
        fd = os.open(log_path(job_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    return run_job(job_id, database)


if __name__ == "__main__":
    sys.exit(main())
