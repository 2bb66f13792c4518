"""The remote worker: ``python -m shiftdesk.jobs.remote`` on an SSH worker host.

It needs no database and no shared folder. On start it prints ``{"event": "hello",
"pid": ...}`` on stdout, imports the job kinds' heavy modules, prints ``{"event":
"ready"}`` and reads one line ``{"job_id", "kind", "spec"}`` from stdin (so a warm spare
starts a short fit at once).

Then it *detaches*: the job gets a folder ``~/.shiftdesk/jobs/<job id>/`` and a forked
runner in a new session (its own process group), with stdin from ``/dev/null`` and its
output going to the folder's ``log.txt``. The first process writes the runner's pid to
``pid``, prints ``{"event": "detached", "pid": ...}`` and exits, so closing the SSH
connection (the notebook's kernel going away) does not stop the job. The runner writes,
each atomically (a temporary file renamed into place):

``status.json``
    ``{"state": "running", "progress", "message", "metrics"}``, refreshed as the task
    reports progress.
``log.txt``
    The task's log lines and anything it prints (appended).
``result.json``
    At the end: ``{"status": "done" | "cancelled" | "failed", "result", "error",
    "traceback"}``.

Any kernel of the owner reads these files over SSH to follow the job and removes the
folder once the result is stored. SIGTERM to the runner's process group asks the task to
stop (the result then says ``"cancelled"``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from shiftdesk.jobs.context import ThrottledContext
from shiftdesk.jobs.tasks import get_kind, preload_modules
from shiftdesk.tracking import HOST

#: Where job folders live, relative to the worker account's home.
JOBS_FOLDER = ".shiftdesk/jobs"
#: Job ids are uuid hex strings; anything else is refused before it becomes a path.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Emitter:
    """Writes protocol events (one JSON object per line) to a private copy of stdout."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields})
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def job_folder(job_id: str, home: Path | None = None) -> Path:
    """The folder of job ``job_id`` on this host (``~/.shiftdesk/jobs/<job id>``)."""
    if not JOB_ID.fullmatch(job_id):
        raise ValueError(f"bad job id {job_id!r}: expected letters, digits, _ or -")
    return (home or Path.home()) / JOBS_FOLDER / job_id


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RemoteContext(ThrottledContext):
    """The task's line back to the job folder (progress writes throttled)."""

    def __init__(self, folder: Path, interval: float = 0.25) -> None:
        super().__init__(interval)
        self.folder = folder
        self.last_metrics: dict[str, float] = {}

    def write_status(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        """Replace ``status.json``."""
        self.last_metrics = metrics
        status = {"state": "running", "progress": fraction, "message": message}
        write_atomic(self.folder / "status.json", json.dumps({**status, "metrics": metrics}))

    def _report(self, fraction: float, message: str, metrics: dict[str, float]) -> None:
        self.write_status(fraction, message, metrics)

    def log(self, text: str) -> None:
        """Append a line to the job's log (stderr is ``log.txt``)."""
        print(text.rstrip("\n"), file=sys.stderr, flush=True)


def _run_detached(folder: Path, kind_name: str, spec: Any, launcher: int) -> int:
    """The runner's body (in the forked child, already in its own session)."""
    ctx = RemoteContext(folder)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        ctx.request_cancel()

    signal.signal(signal.SIGTERM, on_term)
    ctx.log(f"[shiftdesk] runner pid {os.getpid()} on {HOST} (started by worker pid {launcher})")
    ctx.write_status(0.0, "running", {})
    outcome: dict[str, Any]
    try:
        task = get_kind(kind_name).load_run()
        result = task(spec, ctx)
        status = "cancelled" if ctx.cancelled() else "done"
        outcome = {"status": status, "result": result}
        code = 0
    except Exception as exc:
        text = traceback.format_exc()
        print(text, file=sys.stderr, flush=True)
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": text}
        code = 1
    outcome["metrics"] = ctx.last_metrics  # the latest numbers, even if not yet read
    try:
        payload = json.dumps(outcome)
    except (TypeError, ValueError) as exc:
        payload = json.dumps({"status": "failed", "error": f"the task's result is not JSON: {exc}"})
        code = 1
    write_atomic(folder / "result.json", payload)
    return code


def _detach(emit: Emitter, protocol_fd: int, job_id: str, kind_name: str, spec: Any) -> int:
    folder = job_folder(job_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(
        folder / "spec.json", json.dumps({"job_id": job_id, "kind": kind_name, "spec": spec})
    )
    launcher = os.getpid()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            # a new session: no SIGHUP from the SSH session, and a process group to kill
            os.setsid()
            log_fd = os.open(folder / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            # the SSH channel must see no open end of ours, or it would wait for the job
            for fd in (null, log_fd, protocol_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            code = _run_detached(folder, kind_name, spec, launcher)
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
    write_atomic(folder / "pid", f"{child}\n")
    emit("detached", pid=child, folder=str(folder))
    return 0


def main() -> int:
    """Entry point of the remote worker process."""
    # keep the real stdout for the protocol; route everything else printed to stderr
    protocol_fd = os.dup(1)
    protocol = os.fdopen(protocol_fd, "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emit = Emitter(protocol)
    emit("hello", pid=os.getpid(), host=HOST, python=sys.executable)
    for module in preload_modules():
        with contextlib.suppress(ImportError):  # the job reports a missing module itself
            importlib.import_module(module)
    emit("ready")
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the submitting side went away before handing over a job
    try:
        order = json.loads(line)
        job_id, kind_name, spec = order["job_id"], order["kind"], order["spec"]
        job_folder(str(job_id))
    except (ValueError, KeyError, TypeError) as exc:
        emit("error", error=f"bad job order from the submitting side: {exc}", traceback="")
        return 2
    try:
        return _detach(emit, protocol_fd, str(job_id), str(kind_name), spec)
    except OSError as exc:
        emit("error", error=f"could not start the job on {HOST}: {exc}", traceback="")
        return 1


if __name__ == "__main__":
    sys.exit(main())
