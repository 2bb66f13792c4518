"""The local backend: every job runs in its own process on this machine.

A crash, kill or out-of-memory in a fit never touches the kernel. To keep the start
of a short fit fast, the backend keeps one *spare* worker process that has already
imported refl1d and bumps; a job is handed to it on submit and a new spare is started
in its place. Each process still runs exactly one job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from shiftdesk import tracking
from shiftdesk.identity import Identity
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import WATCHED, BackendBase, escalate
from shiftdesk.jobs.status import JobStatus
from shiftdesk.storage import Database, JobRecord, data_dir


def log_path(job_id: str) -> Path:
    """Where a local job's process output goes."""
    folder = data_dir() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{job_id}.log"


def read_local_log(job_id: str) -> str:
    """The process output of a local job ('' if there is none on this machine)."""
    path = log_path(job_id)
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def reconcile(database: Database, record: JobRecord) -> JobRecord:
    """Fail a local job whose worker process vanished without reporting.

    This is how a kernel that did not start the job, or started it before a restart,
    learns that the worker was killed. Only a worker on this host can be checked.
    """
    if tracking.owner_alive(record.host, record.pid) is not False:
        return record
    if record.cancel_requested:
        store.finish_job(database, record.id, JobStatus.CANCELLED)
    else:
        reason = (
            f"the worker process (pid {record.pid}) ended without reporting a result: it "
            "was killed or crashed (out of memory?). See the log"
        )
        store.finish_job(database, record.id, JobStatus.FAILED, error=reason)
    return store.read_job(record.id, database, Identity(record.owner))


class LocalBackend(BackendBase):
    """Run each job in a fresh process on this machine.

    Parameters
    ----------
    database : Database
        Where the jobs are stored; workers open the same database.
    spare : bool
        Keep one pre-started worker ready (faster start of short jobs).
    """

    name = "local"

    def __init__(self, database: Database, *, spare: bool = True) -> None:
        self.database = database
        self.use_spare = spare
        self._spare: subprocess.Popen[bytes] | None = None
        self._spare_log: Path | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        if spare:
            self._start_spare()

    # -- processes -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # the URL travels in the environment, not argv, so passwords stay out of `ps`
        env["SHIFTDESK_DATABASE_URL"] = self.database.url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _popen(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "shiftdesk.jobs.worker", *args],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,  # Ctrl-C in the kernel does not reach the fit
            )

    def _start_spare(self) -> None:
        folder = data_dir() / "jobs"
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"spare-{os.getpid()}-{time.monotonic_ns()}.log"
        try:
            self._spare = self._popen(["--standby"], log)
            self._spare_log = log
        except OSError:
            self._spare = None

    def _take_spare(self) -> tuple[subprocess.Popen[bytes], Path] | None:
        spare, log = self._spare, self._spare_log
        self._spare = self._spare_log = None
        if spare is None or log is None or spare.poll() is not None:
            return None
        return spare, log

    # -- JobBackend ----------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Start the stored job in its own process."""
        with self._lock:
            taken = self._take_spare() if self.use_spare else None
            proc: subprocess.Popen[bytes] | None = None
            if taken is not None:
                proc, spare_log = taken
                try:
                    assert proc.stdin is not None
                    proc.stdin.write(f"{job_id}\n".encode())
                    proc.stdin.close()
                    spare_log.unlink(missing_ok=True)
                except OSError:
                    proc = None
            if proc is None:
                proc = self._popen(["--job", job_id], log_path(job_id))
                if proc.stdin is not None:
                    proc.stdin.close()
            self._processes[job_id] = proc
            WATCHED.add(job_id)
            store.update_job(self.database, job_id, pid=proc.pid, host=tracking.HOST)
            if self.use_spare:
                self._start_spare()
        threading.Thread(
            target=self._watch, args=(job_id, proc), name=f"shiftdesk-job-{job_id[:8]}", daemon=True
        ).start()

    def _watch(self, job_id: str, proc: subprocess.Popen[bytes]) -> None:
        """Wait for the process; a job it left unfinished is marked failed (or cancelled)."""
        try:
            self._record_exit(job_id, proc.wait())
        finally:
            WATCHED.discard(job_id)

    def adopt(self, job_id: str, pid: int, poll: float = 0.5) -> None:
        """Watch a worker this object did not start (e.g. before a restart) until it ends.

        It is not our child, so its exit code is unknown; a job it left unfinished is
        marked failed (or cancelled) as for our own workers.
        """

        def watch() -> None:
            try:
                while tracking.pid_alive(pid):
                    time.sleep(poll)
                self._record_exit(job_id, None)
            finally:
                WATCHED.discard(job_id)

        WATCHED.add(job_id)
        threading.Thread(target=watch, name=f"shiftdesk-job-{job_id[:8]}", daemon=True).start()

    def _record_exit(self, job_id: str, code: int | None) -> None:
        """Store how the worker of ``job_id`` ended (``code`` None: unknown)."""
        with self._lock:
            self._processes.pop(job_id, None)
        try:
            record = self._read(job_id)
        except Exception:  # the database went away with the interpreter; nothing to record
            return
        if JobStatus(record.status).finished:
            return
        if record.cancel_requested:
            store.finish_job(self.database, job_id, JobStatus.CANCELLED)
            return
        if code is None:
            reason = "the worker process ended without reporting a result (killed or crashed)"
        elif code < 0:
            reason = f"the worker process was killed by signal {-code} ({_signal_name(-code)})"
        else:
            reason = f"the worker process exited with code {code} without reporting a result"
        self._fail(job_id, reason)

    def cancel(self, job_id: str) -> None:
        """Ask the worker to stop (SIGTERM), and kill it if it has not within a few seconds."""
        record = self._begin_cancel(job_id)
        if record is None:
            return
        pid = record.pid
        if pid is None or record.host != tracking.HOST:
            if record.status == JobStatus.QUEUED.value:
                store.finish_job(self.database, job_id, JobStatus.CANCELLED)
            return
        _signal(pid, signal.SIGTERM)
        escalate(lambda: not tracking.pid_alive(pid), lambda: _signal(pid, signal.SIGKILL))

    def _output(self, job_id: str) -> str:
        return read_local_log(job_id)

    def close(self) -> None:
        """Stop the spare worker (running jobs go on)."""
        with self._lock:
            spare = self._spare
            log = self._spare_log
            self._spare = self._spare_log = None
        if spare is not None:
            if spare.stdin is not None:
                with contextlib.suppress(OSError):
                    spare.stdin.close()  # EOF: the spare exits by itself
            try:
                spare.wait(timeout=5)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait()
        if log is not None:
            log.unlink(missing_ok=True)

    def __del__(self) -> None:
        spare = getattr(self, "_spare", None)
        if spare is not None and spare.poll() is None:
            spare.kill()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        try:
            os.killpg(pid, sig)  # the worker leads its own session: this reaches its children
        except PermissionError:
            os.kill(pid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"
