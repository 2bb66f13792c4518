"""The shared job-worker service: it runs the jobs of the ``workers`` backend.

A kernel that submits with ``backend="workers"`` (:mod:`shiftdesk.jobs.workers_backend`)
only stores the job: it stays queued until this **job-worker service** claims it. The
service (``python -m shiftdesk.jobs.job_worker_service [--slots N]``, also started as
``python -m shiftdesk.jobs.job_worker_service``; run once for everyone by the hub) takes
the oldest queued job with one conditional ``UPDATE`` (two services never take the same
job, on SQLite or PostgreSQL), runs it in its own process with
:mod:`shiftdesk.jobs.worker` exactly as the local backend does, at most ``N`` at once,
and stops jobs whose cancel was requested. The job keeps its owner; the service reads
and writes jobs as the system identity.

Crash and restart: a claimed job carries the service's host name. When the service
starts, it adopts the workers of such jobs that still run (and watches them until they
end) and puts jobs whose worker is gone without a result back in the queue, up to
:data:`MAX_ATTEMPTS` runs per job. SIGTERM or SIGINT (how the hub stops a service)
stops the workers and puts their jobs back in the queue: nothing is lost, they start
again with the next service.

Accounts: on a hub with per-user accounts the service (run as root) starts each job's
worker as the job's owner: their account, their home and data folder (where the
worker's output goes, readable by them alone), and their own database role, so the job
can read and write nothing its submitter could not (:class:`JobAccounts`, from
``SHIFTDESK_JOB_ACCOUNTS``, ``SHIFTDESK_JOB_HOMES`` and ``SHIFTDESK_JOB_DATABASE``).
The service's own database connection never reaches a worker.

Liveness: every :data:`HEARTBEAT` seconds the service stamps ``heartbeat_at`` on the
queued and running jobs it looks after and rewrites a status file
(``<data dir>/job-workers/<host>.json``); see :func:`service_alive`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import or_, select, update

from shiftdesk import tracking
from shiftdesk.identity import SYSTEM
from shiftdesk.jobs import store
from shiftdesk.jobs.backend import WATCHED
from shiftdesk.jobs.local import LocalBackend, _signal
from shiftdesk.jobs.status import JobStatus
from shiftdesk.jobs.workers_backend import BACKEND_NAME, WAITING
from shiftdesk.storage import Database, JobRecord, data_dir
from shiftdesk.tracking import utcnow

#: Log line added each time a job is put back in the queue after a crash (counted).
RESUMED = "resumed after the job worker restarted"
#: Runs a job gets when the service keeps stopping under it; then it fails.
MAX_ATTEMPTS = 3
#: Seconds between the service's heartbeats.
HEARTBEAT = 10.0
#: A service whose heartbeat is older than this is taken for gone.
STALE = 3 * HEARTBEAT
#: Seconds a stopping service waits for its workers to end.
STOP_TIMEOUT = 10.0


def status_path(folder: Path | None = None) -> Path:
    """The service's status file on this host (in ``folder``, default the data dir)."""
    return (folder or data_dir() / "job-workers") / f"{tracking.HOST}.json"


def service_alive(database: Database, *, folder: Path | None = None) -> bool:
    """Whether a job-worker service showed signs of life in the last :data:`STALE` seconds.

    Either its status file on this host is fresh, or it stamped a heartbeat on a queued
    or running ``workers`` job in the database (any host).
    """
    try:
        stamp = json.loads(status_path(folder).read_text()).get("at", 0.0)
        if time.time() - float(stamp) < STALE:
            return True
    except (OSError, ValueError, AttributeError):
        pass
    since = utcnow() - timedelta(seconds=STALE)
    with database.session() as session:
        found = session.scalar(
            select(JobRecord.id)
            .where(JobRecord.backend == BACKEND_NAME)
            .where(JobRecord.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
            .where(JobRecord.host.is_not(None))
            .where(JobRecord.heartbeat_at >= since)
            .limit(1)
        )
    return found is not None


def requeue(database: Database, job_id: str, reason: str, *, crashed: bool) -> JobStatus | None:
    """Put an unfinished job back in the queue; returns its new status (None: was final).

    ``crashed`` counts the run (a :data:`RESUMED` line in the log): a job whose runs
    keep ending with the service fails after :data:`MAX_ATTEMPTS`. A clean stop of the
    service does not count.
    """
    with database.session() as session:
        record = session.get(JobRecord, job_id, with_for_update=True)
        if record is None or JobStatus(record.status).finished:
            return None
        log = record.log or ""
        if record.cancel_requested:
            record.status = JobStatus.CANCELLED.value
            record.message = "cancelled"
            record.finished_at = utcnow()
            return JobStatus.CANCELLED
        if crashed:
            runs = log.count(f"[shiftdesk] {RESUMED}") + 1
            if runs >= MAX_ATTEMPTS:
                error = (
                    f"the job was started {runs} times and each time the job-worker service "
                    "stopped before it finished (crashed or was killed); it is not started "
                    "again. If the job itself brings the service down (memory?), fix it, "
                    "then run it again with job.resubmit()"
                )
                record.status = JobStatus.FAILED.value
                record.message = "failed"
                record.error = error
                record.finished_at = utcnow()
                record.log = log + f"[shiftdesk] {error}\n"
                return JobStatus.FAILED
            line = f"[shiftdesk] {RESUMED} (run {runs + 1} of at most {MAX_ATTEMPTS}): {reason}\n"
            message = f"{WAITING} ({RESUMED})"
        else:
            line = f"[shiftdesk] back in the queue: {reason}\n"
            message = f"{WAITING} (the job worker stopped; the job starts again)"
        record.status = JobStatus.QUEUED.value
        record.host = None
        record.pid = None
        record.progress = 0.0
        record.started_at = None
        record.message = message
        record.log = log + line
    return JobStatus.QUEUED


@dataclass(frozen=True)
class JobAccounts:
    """How the service runs a job as its owner (hub with per-user accounts).

    Parameters
    ----------
    account : str
        The owner's account, ``{username}`` standing for the job's owner.
    home : str
        The owner's home folder (same placeholder).
    database : str
        The owner's database URL, ``{role}`` standing for the owner.
    """

    account: str
    home: str
    database: str

    @classmethod
    def from_environment(cls) -> JobAccounts | None:
        """From the variables the hub sets for the service, or None without accounts."""
        account = os.environ.get("SHIFTDESK_JOB_ACCOUNTS", "").strip()
        if not account:
            return None
        return cls(
            account,
            os.environ.get("SHIFTDESK_JOB_HOMES", ""),
            os.environ.get("SHIFTDESK_JOB_DATABASE", ""),
        )


class _ServiceBackend(LocalBackend):
    """The local backend's process start and watch, reporting ends to the service."""

    def __init__(
        self,
        service: JobWorkerService,
        database: Database,
        *,
        spare: bool,
        accounts: JobAccounts | None = None,
    ) -> None:
        self.service = service
        self.accounts = accounts
        # a spare worker would run as whoever started it; with accounts each job starts
        # fresh as its owner
        super().__init__(database, spare=spare and accounts is None)

    def submit(self, job_id: str) -> None:
        """Start the job's worker (as its owner, with accounts)."""
        if self.accounts is None:
            super().submit(job_id)
            return
        owner = store.read_job(job_id, self.database, SYSTEM).owner
        proc = self._start_as(owner, job_id, self.accounts)
        with self._lock:
            self._processes[job_id] = proc
            WATCHED.add(job_id)
        store.update_job(self.database, job_id, pid=proc.pid, host=tracking.HOST)
        threading.Thread(
            target=self._watch, args=(job_id, proc), name=f"shiftdesk-job-{job_id[:8]}", daemon=True
        ).start()

    def _start_as(self, owner: str, job_id: str, accounts: JobAccounts) -> subprocess.Popen[bytes]:
        import pwd

        from shiftdesk.hub.accounts import open_private_path
        from shiftdesk.storage.boundary import user_url

        name = accounts.account.format(username=owner)
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            raise OSError(f"the account {name!r} of {owner!r} does not exist") from None
        if account.pw_uid == 0:
            raise OSError(f"refused: the account of {owner!r} is root")
        home = Path(accounts.home.format(username=owner))
        data = home / ".shiftdesk"
        if not data.is_dir():
            raise OSError(f"{owner!r} has no data folder {data} (their server never started)")
        # the folders are the owner's: walk them without following links, so a link
        # planted there cannot make this (root) process write anywhere else
        logs = open_private_path(home, (".shiftdesk", "jobs"), account)
        try:
            fd = os.open(
                f"{job_id}.log",
                os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
                0o600,
                dir_fd=logs,
            )
        finally:
            os.close(logs)
        try:
            os.fchown(fd, account.pw_uid, account.pw_gid)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": os.environ.get("LANG", "C.UTF-8"),
                "HOME": str(home),
                "USER": name,
                "SHIFTDESK_DATA_DIR": str(data),
                "SHIFTDESK_DATABASE_URL": user_url(accounts.database, owner),
                "PYTHONUNBUFFERED": "1",
            }
            marker = os.environ.get("SHIFTDESK_HUB_RUN")
            if marker:
                env["SHIFTDESK_HUB_RUN"] = marker  # the hub stops it with everything else
            return subprocess.Popen(
                [sys.executable, "-m", "shiftdesk.jobs.worker", "--job", job_id],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(home),
                user=account.pw_uid,
                group=account.pw_gid,
                extra_groups=[],
                umask=0o077,
                start_new_session=True,
            )
        finally:
            os.close(fd)

    def _record_exit(self, job_id: str, code: int | None) -> None:
        if self.service.stopping.is_set():
            with contextlib.suppress(Exception):
                requeue(self.database, job_id, "the job-worker service stopped", crashed=False)
            with self._lock:
                self._processes.pop(job_id, None)
        else:
            super()._record_exit(job_id, code)
        self.service.ended(job_id)


class JobWorkerService:
    """Claim queued jobs of the ``workers`` backend and run them, ``slots`` at a time.

    Parameters
    ----------
    database : Database
        The shared job database.
    slots : int
        Most jobs running at once.
    poll : float
        Seconds between looks at the queue.
    spare : bool
        Keep one pre-started worker (faster start of short fits).
    names : tuple of str
        Backend names whose jobs this service runs.
    """

    def __init__(
        self,
        database: Database,
        *,
        slots: int = 2,
        poll: float = 0.5,
        spare: bool = True,
        names: tuple[str, ...] = (BACKEND_NAME,),
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1 (got {slots})")
        self.database = database
        self.slots = slots
        self.poll = poll
        self.names = names
        self.stopping = threading.Event()
        self._running: dict[str, int] = {}  # job id -> worker pid
        self._cancelling: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._last_beat = 0.0
        self.accounts = JobAccounts.from_environment()
        self.backend = _ServiceBackend(self, database, spare=spare, accounts=self.accounts)

    # -- bookkeeping ---------------------------------------------------------------------
    def ended(self, job_id: str) -> None:
        """A worker ended (called from its watcher thread)."""
        with self._lock:
            self._running.pop(job_id, None)
            self._cancelling.discard(job_id)
        self._wake.set()

    @property
    def running(self) -> dict[str, int]:
        """Jobs this service runs now: id → worker pid."""
        with self._lock:
            return dict(self._running)

    # -- start ---------------------------------------------------------------------------
    def recover(self) -> tuple[list[str], list[str]]:
        """Take over from a previous incarnation on this host: adopt or re-queue its jobs.

        Returns
        -------
        adopted, requeued : list of str
            Jobs whose worker still runs, and jobs put back in the queue (or failed after
            :data:`MAX_ATTEMPTS`).
        """
        with self.database.session() as session:
            rows = session.execute(
                select(JobRecord.id, JobRecord.pid)
                .where(JobRecord.backend.in_(self.names))
                .where(JobRecord.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
                .where(JobRecord.host == tracking.HOST)
            ).all()
        adopted: list[str] = []
        requeued: list[str] = []
        for job_id, pid in rows:
            if pid is not None and _is_worker(pid):
                with self._lock:
                    self._running[job_id] = pid
                self.backend.adopt(job_id, pid)
                adopted.append(job_id)
            else:
                requeue(
                    self.database,
                    job_id,
                    "its worker was gone when the job-worker service started again",
                    crashed=True,
                )
                requeued.append(job_id)
        return adopted, requeued

    # -- the loop ------------------------------------------------------------------------
    def claim(self) -> str | None:
        """Take the oldest queued job nobody took yet; None if there is none."""
        for _attempt in range(5):
            with self.database.session() as session:
                job_id = session.scalar(
                    select(JobRecord.id)
                    .where(JobRecord.backend.in_(self.names))
                    .where(JobRecord.status == JobStatus.QUEUED.value)
                    .where(JobRecord.host.is_(None))
                    .where(JobRecord.cancel_requested.is_(False))
                    .order_by(JobRecord.created_at, JobRecord.id)
                    .limit(1)
                )
                if job_id is None:
                    return None
                # the WHERE is re-checked under the row lock: a job another service took
                # between the SELECT and here is not updated (rowcount 0), so try the next
                taken = session.execute(
                    update(JobRecord)
                    .where(JobRecord.id == job_id)
                    .where(JobRecord.status == JobStatus.QUEUED.value)
                    .where(JobRecord.host.is_(None))
                    .values(
                        host=tracking.HOST,
                        message=f"starting on the job worker at {tracking.HOST}",
                        heartbeat_at=utcnow(),
                    )
                )
            if getattr(taken, "rowcount", 0) == 1:
                return job_id
        return None

    def step(self) -> None:
        """One look at the database: cancels, heartbeat, and new jobs for free slots."""
        self._cancel_requested()
        if time.monotonic() - self._last_beat >= HEARTBEAT:
            self.beat()
        while len(self.running) < self.slots and not self.stopping.is_set():
            job_id = self.claim()
            if job_id is None:
                break
            with self._lock:
                self._running[job_id] = 0  # before the start: its watcher may end it at once
            try:
                self.backend.submit(job_id)
            except Exception as exc:  # no process could start (fork limits, disk full)
                self.ended(job_id)
                store.finish_job(
                    self.database,
                    job_id,
                    JobStatus.FAILED,
                    error=f"the job worker could not start a process: {exc}",
                )
                continue
            with self.backend._lock:
                proc = self.backend._processes.get(job_id)
            with self._lock:
                if proc is not None and job_id in self._running:
                    self._running[job_id] = proc.pid

    def _cancel_requested(self) -> None:
        with self.database.session() as session:
            rows = session.execute(
                select(JobRecord.id, JobRecord.host, JobRecord.status)
                .where(JobRecord.backend.in_(self.names))
                .where(JobRecord.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
                .where(JobRecord.cancel_requested.is_(True))
            ).all()
        running = self.running
        for job_id, host, status in rows:
            if status == JobStatus.QUEUED.value and host is None:
                store.finish_job(self.database, job_id, JobStatus.CANCELLED)
            elif job_id in running and job_id not in self._cancelling:
                self._cancelling.add(job_id)
                self.backend.cancel(job_id)  # SIGTERM, then SIGKILL after a grace time

    def beat(self, folder: Path | None = None) -> None:
        """Stamp the jobs this service looks after and rewrite its status file."""
        self._last_beat = time.monotonic()
        running = self.running
        now = utcnow()
        with self.database.session() as session:
            session.execute(
                update(JobRecord)
                .where(JobRecord.backend.in_(self.names))
                .where(
                    or_(
                        (JobRecord.status == JobStatus.QUEUED.value) & JobRecord.host.is_(None),
                        JobRecord.id.in_(list(running)),
                    )
                )
                .values(heartbeat_at=now)
            )
        path = status_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "host": tracking.HOST,
            "slots": self.slots,
            "running": sorted(running),
            "at": time.time(),
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)

    def serve(self) -> None:
        """Recover, then run jobs until :meth:`stop` (or SIGTERM/SIGINT in :func:`serve`)."""
        adopted, requeued = self.recover()
        _say(
            f"job-worker service on {tracking.HOST} (pid {os.getpid()}), {self.slots} slot(s), "
            f"backends {', '.join(self.names)}; adopted {len(adopted)} running job(s), "
            f"re-queued {len(requeued)}"
        )
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception as exc:  # a database hiccup: say so and look again later
                    _say(f"could not look at the queue: {type(exc).__name__}: {exc}")
                self._wake.wait(self.poll)
                self._wake.clear()
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask :meth:`serve` to return (safe from a signal handler)."""
        self.stopping.set()
        self._wake.set()

    def shutdown(self) -> None:
        """Stop the workers and put their jobs back in the queue; stop the spare."""
        self.stopping.set()
        running = self.running
        for pid in running.values():
            if pid > 0:  # 0: not started yet (and killpg(0) would hit this service)
                _signal(pid, signal.SIGKILL)  # SIGTERM would make the worker end it as cancelled
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        for job_id in self.running:  # a watcher that did not get to it in time
            requeue(self.database, job_id, "the job-worker service stopped", crashed=False)
        self.backend.close()
        with contextlib.suppress(OSError):
            status_path().unlink()
        _say(f"job-worker service stopped; {len(running)} job(s) back in the queue")


def _is_worker(pid: int) -> bool:
    """A live shiftdesk worker process (not a recycled pid)."""
    if not tracking.pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"shiftdesk.jobs.worker" in handle.read()
    except OSError:
        return True  # no /proc here: trust the pid


def _say(text: str) -> None:
    print(f"[shiftdesk job-workers] {text}", flush=True)


def _lock_service(folder: Path) -> IO[Any]:
    """One service per host and data folder: a second one would adopt the first's jobs."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / f"{tracking.HOST}.lock", "a+")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        other = handle.read().strip() or "?"
        handle.close()
        raise SystemExit(
            f"another job-worker service (pid {other}) already runs on {tracking.HOST} with the "
            f"data folder {folder.parent}; stop it first"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def serve(database: Database, *, slots: int = 2, poll: float = 0.5, spare: bool = True) -> None:
    """Run the job-worker service in this process until SIGTERM or SIGINT.

    Parameters
    ----------
    database : Database
        The shared job database.
    slots : int
        Most jobs running at once.
    poll : float
        Seconds between looks at the queue.
    spare : bool
        Keep one pre-started worker.
    """
    lock = _lock_service(data_dir() / "job-workers")
    service = JobWorkerService(database, slots=slots, poll=poll, spare=spare)

    def on_signal(_signum: int, _frame: object) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.serve()
    finally:
        lock.close()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        # one line: the hub's log (and its preflight) show the last line of stderr
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _slots(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: at least one job must run")
    return value


def _poll(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.01 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{value} is not between 0.01 and 60 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m shiftdesk.jobs.job_worker_service [--slots N] [--poll S] [--no-spare]``."""
    parser = _Parser(
        prog="python -m shiftdesk.jobs.job_worker_service",
        description="Run the shared job-worker service: jobs submitted with "
        'backend="workers" run here, each in its own process. The database comes from '
        "SHIFTDESK_DATABASE_URL.",
    )
    parser.add_argument(
        "--slots",
        type=_slots,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="most jobs running at once (default: half the CPUs)",
    )
    parser.add_argument("--poll", type=_poll, default=0.5, help="seconds between looks")
    parser.add_argument(
        "--no-spare", dest="spare", action="store_false", help="no pre-started worker"
    )
    args = parser.parse_args(argv)
    from shiftdesk.errors import ShiftdeskError

    try:
        database = Database(os.environ.get("SHIFTDESK_DATABASE_URL"))
    except ShiftdeskError as exc:
        print(f"job-worker service: {exc}", file=sys.stderr)
        return 2
    serve(database, slots=args.slots, poll=args.poll, spare=args.spare)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "JobAccounts",
    "JobWorkerService",
    "main",
    "requeue",
    "serve",
    "service_alive",
    "status_path",
]
