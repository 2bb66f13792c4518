"""The remote worker: ``python -m shiftdesk.jobs.remote`` on an SSH worker host.

It needs no database and no shared folder. On start it chooses numba's compile cache
folder (:func:`prepare_numba_cache`), prints ``{"event": "hello", "pid": ...,
"numba_cache": ...}`` on stdout, imports the job kinds' heavy modules, prints
``{"event": "ready", "preloaded": [...]}`` and reads one line ``{"job_id", "kind",
"spec"}`` from stdin (so a warm spare starts a short fit at once). A process whose job
order is already waiting on stdin (one started for that job, or a spare taken before its
imports were done) stops importing for every kind and imports only what the job's kind
needs: the job starts seconds sooner.

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
import select
import signal
import stat
import sys
import tempfile
import threading
import traceback
from collections.abc import MutableMapping, Sequence
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
#: The environment variable numba reads its compile cache folder from.
NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"


def default_numba_cache(
    environ: MutableMapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """The worker account's own numba cache: ``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``.

    It is the folder numba itself falls back to when it cannot write next to the
    installed sources, so caches numba made there before are used as they are.
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else (home or Path.home()) / ".cache"
    return root / "numba"


def _cache_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold this account's numba cache (None: it can).

    It is made (0700) if missing. numba loads pickles from it, so it must be this
    account's own and writable by no one else; and numba must be able to write in it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if not stat.S_ISDIR(info.st_mode):
            return "not a folder"
        if info.st_uid != os.getuid():
            return f"owned by uid {info.st_uid}, not by this account (uid {os.getuid()})"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"writable by other accounts (mode {stat.S_IMODE(info.st_mode):o})"
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def prepare_numba_cache(
    environ: MutableMapping[str, str] | None = None, home: Path | None = None
) -> tuple[str | None, list[str]]:
    """Choose numba's compile cache folder for this worker process and its runners.

    ``NUMBA_CACHE_DIR`` from the backend's ``env`` table wins when the folder is usable
    (``~`` and relative paths are taken from the account's home); otherwise, and by
    default, :func:`default_numba_cache`. The choice is written to ``NUMBA_CACHE_DIR``
    (numba reads it when first imported, so this runs before any job module is), and a
    cold worker process loads refl1d's compiled kernels instead of compiling them again
    (tens of seconds). Returns the folder (None: numba cannot cache here) and warnings saying
    what was wrong and what was used instead.
    """
    env = os.environ if environ is None else environ
    home = home or Path.home()
    default = default_numba_cache(env, home)
    warnings: list[str] = []
    configured = env.get(NUMBA_CACHE_ENV, "").strip()
    if configured:
        folder = Path(configured).expanduser()
        folder = folder if folder.is_absolute() else home / folder
        problem = _cache_problem(folder)
        if problem is None:
            env[NUMBA_CACHE_ENV] = str(folder)
            return str(folder), warnings
        warnings.append(
            f"the numba cache folder {NUMBA_CACHE_ENV}={configured} on {HOST} cannot be used "
            f"({problem}); using {default} instead. Fix env.{NUMBA_CACHE_ENV} in the backend's "
            "settings"
        )
    problem = _cache_problem(default)
    if problem is None:
        env[NUMBA_CACHE_ENV] = str(default)
        return str(default), warnings
    env.pop(NUMBA_CACHE_ENV, None)
    warnings.append(
        f"numba cannot keep compiled code in {default} on {HOST} ({problem}): every new "
        "worker process may compile refl1d's kernels again (tens of seconds). Set "
        f"env.{NUMBA_CACHE_ENV} in the backend's settings to a folder of the worker account"
    )
    return None, warnings


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


def _run_detached(
    folder: Path, kind_name: str, spec: Any, launcher: int, notes: Sequence[str] = ()
) -> int:
    """The runner's body (in the forked child, already in its own session)."""
    ctx = RemoteContext(folder)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        ctx.request_cancel()

    signal.signal(signal.SIGTERM, on_term)
    ctx.log(f"[shiftdesk] runner pid {os.getpid()} on {HOST} (started by worker pid {launcher})")
    for note in notes:  # what the worker warned about on start (the job's log keeps it)
        ctx.log(f"[shiftdesk] {note}")
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


def _detach(
    emit: Emitter,
    protocol_fd: int,
    job_id: str,
    kind_name: str,
    spec: Any,
    notes: list[str] | None = None,
) -> int:
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
            code = _run_detached(folder, kind_name, spec, launcher, notes or [])
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
    write_atomic(folder / "pid", f"{child}\n")
    emit("detached", pid=child, folder=str(folder))
    return 0


def _order_waiting(timeout: float = 0.0) -> bool:
    """Whether stdin has something to read (the job order, or its end) within ``timeout``."""
    try:
        readable, _, _ = select.select([sys.stdin], [], [], timeout)
    except (OSError, ValueError):
        return False
    return bool(readable)


def _preload(modules: list[str], stop_early: bool) -> list[str]:
    """Import ``modules`` in turn; with ``stop_early``, stop once a job order is waiting."""
    done = []
    for module in modules:
        if stop_early and _order_waiting():
            break
        with contextlib.suppress(ImportError):  # the job reports a missing module itself
            importlib.import_module(module)
        done.append(module)
    return done


def _kind_modules(kind_name: str) -> list[str]:
    """The modules job kind ``kind_name`` preloads ([] for an unknown kind: the job says)."""
    try:
        return list(get_kind(kind_name).preload)
    except KeyError:
        return []


def main() -> int:
    """Entry point of the remote worker process."""
    # keep the real stdout for the protocol; route everything else printed to stderr
    protocol_fd = os.dup(1)
    protocol = os.fdopen(protocol_fd, "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emit = Emitter(protocol)
    # before anything imports numba (the job kinds' modules do)
    numba_cache, warnings = prepare_numba_cache()
    for warning in warnings:
        print(f"[shiftdesk] {warning}", file=sys.stderr, flush=True)
    emit(
        "hello",
        pid=os.getpid(),
        host=HOST,
        python=sys.executable,
        numba_cache=numba_cache,
        warnings=warnings,
    )
    # a spare imports for every kind; once its job order is waiting, only for that kind
    everything = preload_modules()
    preloaded = _preload(everything, stop_early=True)
    warm = len(preloaded) == len(everything)
    if warm:
        emit("ready", preloaded=preloaded)
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
    if not warm:
        wanted = [m for m in _kind_modules(str(kind_name)) if m not in preloaded]
        emit("ready", preloaded=preloaded + _preload(wanted, stop_early=False))
    try:
        return _detach(emit, protocol_fd, str(job_id), str(kind_name), spec, warnings)
    except OSError as exc:
        emit("error", error=f"could not start the job on {HOST}: {exc}", traceback="")
        return 1


if __name__ == "__main__":
    sys.exit(main())
