"""The SSH backend: run jobs on a configured worker host over SSH (paramiko).

Nothing is shared with the worker but the SSH connection: the job's JSON spec goes to
the remote worker's stdin (see :mod:`shiftdesk.jobs.remote`), which forks a detached
runner in its own session under ``~/.shiftdesk/jobs/<job id>/`` and reports its pid. The
job then no longer depends on this kernel: closing the connection does not stop it. A
follower thread reads the job folder over SFTP and makes the same job row updates a
local worker makes, so :class:`~shiftdesk.jobs.Job` works unchanged. Any kernel of the
owner re-attaches (:meth:`SSHBackend.attach`), can cancel by pid, and fails the job if its
runner is gone without a result (:func:`reconcile`, this backend type's recovery). The
folder is removed once the result is stored.

To keep the start of a short fit fast, the backend holds one SSH connection and keeps
one *spare* remote worker that has already imported refl1d and bumps; each remote
process still runs exactly one job. A used spare is replaced when its job ends, not
while it runs, so the next spare's imports do not slow the fit down on a small worker.
:meth:`SSHBackend.warm` gets all of that ready before the first job: the hub's warm
kernels call :func:`shiftdesk.jobs.ssh_warm.warm_backends` when the user's server starts,
so the first remote fit of a session is taken by a spare at once. A job submitted while
the spare is still on its way waits for it rather than starting a second process; a
process started for one job imports only what that job's kind needs.

Logins use a per-session key (:mod:`shiftdesk.jobs.ssh_keys`): made and installed with
the configured bootstrap key on first use, removed by :func:`end_session` (logout) or
after ``session_idle_hours`` without use. Host keys are checked against the configured
``known_hosts``; unknown hosts are refused unless ``auto_add_host_keys = true``. Every
remote command argument goes through :func:`shiftdesk.ssh.quote`; job titles, data file names
and specs never reach a shell at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import paramiko  # type: ignore[import-untyped]

from shiftdesk import ssh
from shiftdesk.errors import ShiftdeskError
from shiftdesk.gate import Gate, get_gate
from shiftdesk.identity import SYSTEM, Identity
from shiftdesk.jobs import ssh_keys, store
from shiftdesk.jobs.backend import WATCHED, BackendBase, escalate, get_backend
from shiftdesk.jobs.heartbeat import Heartbeat, fail_if_unfollowed
from shiftdesk.jobs.ssh_connection import SSHBackendError, SSHConfig, bootstrap_pkey, open_client
from shiftdesk.jobs.ssh_process import RemoteProcess
from shiftdesk.jobs.status import JobStatus
from shiftdesk.settings import BackendSettings
from shiftdesk.storage import Database, JobRecord, data_dir
from shiftdesk.tracking import utcnow

log = logging.getLogger(__name__)

#: How often a backend looks for an idle session key to remove.
IDLE_CHECK_INTERVAL = 600.0
REMOTE_MODULE = "shiftdesk.jobs.remote"
#: The job folders on the worker, relative to the account's home (see remote.py).
JOBS_FOLDER = ".shiftdesk/jobs"
#: Seconds between two reads of a followed job's folder.
POLL_INTERVAL = 0.25
#: Seconds between attempts while the worker cannot be reached.
RETRY_INTERVAL = 5.0


# -- the backend -------------------------------------------------------------------------


def reconcile(database: Database, record: JobRecord) -> JobRecord:
    """An SSH job nothing in this process follows: re-attach to it, or fail it.

    A job that reached its worker runs detached there: any kernel of the owner follows
    it again (a thread reads its folder: progress, or the result, or that the process is
    gone) and this returns at once with the stored row. A job that never reached its
    worker is followed only by the kernel that submitted it (its heartbeat).
    """
    if record.pid is None:
        return fail_if_unfollowed(database, record)
    from shiftdesk.settings import SettingsError

    try:
        backend = get_backend(record.backend, database)
    except (KeyError, SettingsError):
        return record  # the backend is no longer configured here: nothing to ask
    if not isinstance(backend, SSHBackend):
        return record
    backend.attach(record.id)
    return store.read_job(record.id, database, Identity(record.owner))


class SSHBackend(BackendBase):
    """Run jobs on a worker host over SSH.

    Parameters
    ----------
    config : SSHConfig
        Host, account, worker Python, keys (usually from the settings file).
    database : Database
        Where the jobs are stored (only this side writes it).
    """

    def __init__(self, config: SSHConfig, database: Database) -> None:
        self._lock = threading.Lock()
        self.config = config
        self.name = config.name
        self.database = database
        self._client: paramiko.SSHClient | None = None
        self._retired: list[paramiko.SSHClient] = []
        self._spare: RemoteProcess | None = None
        # set while a thread starts the next spare (guarded by _lock; see _take_spare)
        self._spare_coming = False
        self._spare_changed = threading.Condition(self._lock)
        self._warned: set[str] = set()
        # job id -> its process (None while it is being started)
        self._processes: dict[str, RemoteProcess | None] = {}
        self._conn_lock = threading.RLock()
        self._closed = threading.Event()
        # set while the user works with the backend; cleared by logout and close
        self._active = threading.Event()
        self._session: ssh_keys.SessionKey | None = None
        # job id -> the thread copying its remote folder into the job row
        self._followers: dict[str, threading.Thread] = {}
        self._sftp_lock = threading.Lock()
        self._sftp_client: paramiko.SFTPClient | None = None
        self._sftp_owner: paramiko.SSHClient | None = None
        self._heartbeat = Heartbeat(database)
        threading.Thread(target=self._idle_loop, name="shiftdesk-ssh-idle", daemon=True).start()

    @classmethod
    def from_settings(cls, settings: BackendSettings, database: Database) -> SSHBackend:
        """The backend for a ``[backends.<name>]`` table of type ``ssh``."""
        return cls(SSHConfig.from_settings(settings), database)

    # -- keys and connections --------------------------------------------------------------
    @property
    def session_folder(self) -> Path:
        """Where this backend's session key pair is kept (in the data folder)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.config.name)
        return data_dir() / "ssh-sessions" / safe

    def _open(self, pkey: paramiko.PKey, what: str) -> paramiko.SSHClient:
        return open_client(self.config, pkey, what)

    def _bootstrap_pkey(self) -> paramiko.PKey:
        return bootstrap_pkey(self.config)

    def _new_session(self) -> ssh_keys.SessionKey:
        """Make a fresh key pair and install it on the worker with the bootstrap key.

        On a hub (remote gate) the gate installs it: the bootstrap key, which may log in
        as the worker account, is the gate's, never readable by users.
        """
        cfg = self.config
        gate = get_gate()
        if gate.remote:
            return self._new_session_through(gate)
        admin = self._open(self._bootstrap_pkey(), f"bootstrap key {cfg.bootstrap_key}")
        try:
            transport = admin.get_transport()
            assert transport is not None and transport.sock is not None
            origin = cfg.from_host or transport.sock.getsockname()[0]
            ssh_keys.delete_local(self.session_folder)
            key = ssh_keys.create_session(self.session_folder, cfg.host, cfg.port, cfg.user)
            try:
                sftp = admin.open_sftp()
                try:
                    ssh_keys.install_key(sftp, ssh_keys.authorized_line(key, origin), key.marker)
                finally:
                    sftp.close()
            except (OSError, paramiko.SSHException, ValueError) as exc:
                ssh_keys.delete_local(self.session_folder)
                raise SSHBackendError(
                    f"could not install the session key on {cfg.target}: {exc}"
                ) from exc
            log.info("installed session key %s on %s", key.marker, cfg.target)
            return key
        finally:
            admin.close()

    def _new_session_through(self, gate: Gate) -> ssh_keys.SessionKey:
        cfg = self.config
        ssh_keys.delete_local(self.session_folder)
        key = ssh_keys.create_session(self.session_folder, cfg.host, cfg.port, cfg.user)
        try:
            marker = gate.call(
                "jobs.ssh_authorize",
                backend=cfg.name,
                host=cfg.host,
                port=cfg.port,
                user=cfg.user,
                public_key=key.public,
            )
        except BaseException:
            ssh_keys.delete_local(self.session_folder)
            raise
        key.marker = str(marker)
        key.touch()
        log.info("the gate installed session key %s on %s", key.marker, cfg.target)
        return key

    def _session_key(self) -> ssh_keys.SessionKey:
        cfg = self.config
        key = ssh_keys.load_session(self.session_folder)
        if key is not None and not key.matches(cfg.host, cfg.port, cfg.user):
            self._remove_session(key)
            key = None
        if key is not None and key.idle() > cfg.session_idle_hours * 3600:
            self._remove_session(key)
            key = None
        return key or self._new_session()

    def connect(self) -> paramiko.SSHClient:
        """The backend's SSH connection (opened, and the session key made, on first use)."""
        with self._conn_lock:
            if self._closed.is_set():
                # a thread of a closed backend must not make (or replace) a session key
                raise SSHBackendError(f"the SSH backend {self.name!r} was closed")
            client = self._client
            transport = client.get_transport() if client is not None else None
            if client is not None and transport is not None and transport.is_active():
                return client
            for kept in self._retired:
                # after logout, jobs still followed use their authenticated connection
                transport = kept.get_transport()
                if transport is not None and transport.is_active() and not self._active.is_set():
                    return kept
            if client is not None:
                client.close()
                self._client = None
            folder = self.session_folder
            # other kernels of the user share the key: one of them makes it
            with ssh_keys.session_lock(folder):
                key = self._session_key()
            try:
                client = self._open(key.pkey(), "session key")
            except SSHBackendError as exc:
                if not isinstance(exc.__cause__, ssh.SSHAuthError):
                    raise
                # the worker forgot our key (admin cleanup): start a new session once,
                # unless another kernel already did
                with ssh_keys.session_lock(folder):
                    current = ssh_keys.load_session(folder)
                    if current is None or current.marker == key.marker:
                        ssh_keys.delete_local(folder)
                        current = self._new_session()
                    key = current
                client = self._open(key.pkey(), "session key")
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(30)
            self._client, self._session = client, key
            key.touch()
            return client

    def _remove_session(self, key: ssh_keys.SessionKey) -> None:
        """Remove ``key`` from the worker (best effort) and delete the local pair."""
        try:
            try:
                client = self._open(key.pkey(), "session key")
            except SSHBackendError:
                gate = get_gate()
                if gate.remote:
                    gate.call("jobs.ssh_revoke", backend=self.config.name, marker=key.marker)
                    return
                client = self._open(self._bootstrap_pkey(), "bootstrap key")
            try:
                sftp = client.open_sftp()
                try:
                    ssh_keys.remove_key(sftp, key.marker)
                finally:
                    sftp.close()
            finally:
                client.close()
        except (ShiftdeskError, OSError, paramiko.SSHException) as exc:
            log.warning("could not remove session key %s from %s: %s", key.marker, key.host, exc)
        finally:
            ssh_keys.delete_local(key.folder)

    def end_session(self) -> None:
        """Log out: stop the spare, remove the session key from the worker, delete it here.

        Jobs still running keep their (already authenticated) connection until they end.
        """
        self._active.clear()
        self._drop_spare()
        with self._conn_lock:
            if self._client is not None:
                if self._running():
                    self._retired.append(self._client)
                else:
                    self._client.close()
                self._client = None
            self._session = None
            with ssh_keys.session_lock(self.session_folder):
                key = ssh_keys.load_session(self.session_folder)
                if key is not None:
                    self._remove_session(key)

    def expire_idle(self) -> bool:
        """Remove the session key if unused for ``session_idle_hours``; True if removed."""
        key = ssh_keys.load_session(self.session_folder)
        if key is None or self._running():
            return False
        if key.idle() <= self.config.session_idle_hours * 3600:
            return False
        self.end_session()
        return True

    def _idle_loop(self) -> None:
        while not self._closed.wait(IDLE_CHECK_INTERVAL):
            with contextlib.suppress(Exception):
                self.expire_idle()

    def _running(self) -> bool:
        with self._lock:
            return bool(self._processes or self._followers)

    # -- remote processes ------------------------------------------------------------------
    def _command(self) -> str:
        """The remote command line; every configured value is quoted for the shell."""
        env = "".join(f"{ssh.quote(f'{k}={v}')} " for k, v in self.config.env)
        prefix = f"env {env}" if env else ""
        return f"exec {prefix}{ssh.quote(self.config.python)} -m {ssh.quote(REMOTE_MODULE)}"

    def _spawn(self) -> RemoteProcess:
        client = self.connect()
        transport = client.get_transport()
        assert transport is not None
        try:
            channel = transport.open_session(timeout=self.config.connect_timeout)
            channel.exec_command(self._command())
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHBackendError(
                f"could not start a worker process on {self.config.target}: {exc}"
            ) from exc
        return RemoteProcess(self, channel)

    def _take_spare(self, wait: float = 0.0) -> RemoteProcess | None:
        """The spare, taken; if one is on its way, wait up to ``wait`` s for it.

        Waiting is never slower than starting a process of our own: that would need the
        same connection, and two processes importing at once slow each other down.
        """
        deadline = time.monotonic() + wait
        with self._spare_changed:
            while self._spare is None and self._spare_coming:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._spare_changed.wait(left)
            spare, self._spare = self._spare, None
        return spare if spare is not None and spare.alive else None

    def _reserve_spare(self) -> bool:
        """Claim the start of the next spare; False if none is wanted, here or coming."""
        with self._lock:
            if (
                not self.config.spare
                # not after logout: a spare would connect, and so make a new session key
                or not self._active.is_set()
                or self._closed.is_set()
                or self._spare is not None
                or self._spare_coming
            ):
                return False
            self._spare_coming = True
            return True

    def _make_spare(self) -> None:
        """Start the spare claimed with :meth:`_reserve_spare` (connecting first if needed)."""
        spare: RemoteProcess | None = None
        try:
            spare = self._spawn()
        finally:
            with self._lock:
                self._spare_coming = False
                keep = spare is not None and self._active.is_set() and self._spare is None
                if keep:
                    self._spare = spare
                self._spare_changed.notify_all()
            if spare is not None and not keep:  # logged out or closed meanwhile
                with contextlib.suppress(Exception):
                    spare.channel.shutdown_write()
                    spare.channel.close()

    def _refill_spare(self) -> None:
        if not self._reserve_spare():
            return
        try:
            self._make_spare()
        except Exception as exc:  # the next job connects itself and says what is wrong
            log.debug("no spare worker on %s: %s", self.config.target, exc)

    def _drop_spare(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(Exception):
                spare.channel.shutdown_write()  # EOF: the spare exits by itself
                spare.channel.close()

    def _warn_once(self, message: str) -> None:
        """Log what a worker process warned about (each message once per backend)."""
        with self._lock:
            if message in self._warned:
                return
            self._warned.add(message)
        log.warning("SSH backend %r (%s): %s", self.name, self.config.target, message)

    def warm(self) -> None:
        """Get the first job's way ready, in the background; returns at once.

        Makes and installs the session key if there is none, connects, and starts a
        spare worker that imports the job kinds' modules (with ``spare = true``), so that
        the next :meth:`submit` hands its job over at once. Called for every SSH backend
        when the user's server starts (:func:`shiftdesk.jobs.ssh_warm.warm_backends`);
        harmless to call again. A failure is logged; the first job then says it too.
        """
        self._active.set()
        make = self._reserve_spare()

        def run() -> None:
            try:
                if make:
                    self._make_spare()  # connects first
                else:
                    self.connect()
            except Exception as exc:
                log.warning(
                    "could not warm the SSH backend %r (%s): %s", self.name, self.config.target, exc
                )

        threading.Thread(target=run, name="shiftdesk-ssh-warm", daemon=True).start()

    # -- JobBackend ----------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Hand the stored job to a remote worker; returns at once (connects in a thread)."""
        self._active.set()
        store.update_job(
            self.database,
            job_id,
            host=self.config.host,
            message="connecting",
            heartbeat_at=utcnow(),
        )
        self._heartbeat.add(job_id)
        threading.Thread(
            target=self._start, args=(job_id,), name=f"shiftdesk-ssh-{job_id[:8]}", daemon=True
        ).start()

    def _start(self, job_id: str) -> None:
        db = self.database
        try:
            record = store.read_job(job_id, db, SYSTEM)
            if record.cancel_requested:
                self._heartbeat.discard(job_id)
                store.finish_job(db, job_id, JobStatus.CANCELLED)
                return
            order = (
                f'{{"job_id": {json.dumps(job_id)}, "kind": {json.dumps(record.kind)}, '
                f'"spec": {record.spec_json}}}\n'
            ).encode()
            with self._lock:
                self._processes[job_id] = None  # reserved: cancel() waits for the process
            # (a spare on its way, from warm() or the last job's end, is waited for)
            proc = self._take_spare(wait=3 * self.config.connect_timeout)
            if proc is None or not proc.bind(job_id, order):
                proc = self._spawn()
                proc.bind(job_id, order, even_if_ended=True)
            with self._lock:
                if job_id in self._processes:  # (it may have ended already)
                    self._processes[job_id] = proc
            if self._session is not None:
                with contextlib.suppress(OSError):
                    self._session.touch()
            if store.read_job(job_id, db, SYSTEM).cancel_requested:
                self.cancel(job_id)  # asked while we were starting it
        except Exception as exc:
            with self._lock:
                self._processes.pop(job_id, None)
            self._heartbeat.discard(job_id)
            reason = str(exc)
            if not isinstance(exc, SSHBackendError):
                reason = (
                    f"could not start the job on {self.config.target}: {type(exc).__name__}: {exc}"
                )
            self._fail(job_id, reason)

    def _process_ended(self, proc: RemoteProcess, code: int) -> None:
        """A remote process ended: record why, if its job did not say so itself."""
        job_id = proc.job_id
        if job_id is None:
            return
        with self._lock:
            self._processes.pop(job_id, None)
        if proc.detached:
            return  # the job runs on; its follower reports how it ends
        self._heartbeat.discard(job_id)
        self._job_over()
        if proc.finished_job:
            return
        db = self.database
        try:
            record = store.read_job(job_id, db, SYSTEM)
        except Exception:
            return
        if JobStatus(record.status).finished:
            return
        if record.cancel_requested:
            store.finish_job(db, job_id, JobStatus.CANCELLED)
            return
        self._fail(job_id, self._explain(proc, code))

    def _explain(self, proc: RemoteProcess, code: int) -> str:
        cfg = self.config
        tail = proc.stderr_tail()
        if "No module named" in tail and "shiftdesk" in tail:
            return (
                f"the worker's Python {cfg.python!r} on {cfg.host} cannot import shiftdesk "
                f"({tail.splitlines()[-1].strip()}). Install shiftdesk there, or set python "
                f"to an interpreter that has it in {cfg.where}"
            )
        if code == 127 or ("No such file" in tail and proc.pid is None):
            return (
                f"the worker's Python {cfg.python!r} was not found on {cfg.host} (exit {code}). "
                f"Fix python in {cfg.where}"
            )
        transport = self._client.get_transport() if self._client is not None else None
        if proc.pid is not None and (transport is None or not transport.is_active()):
            return (
                f"lost the SSH connection to {cfg.target} while the job ran (remote pid "
                f"{proc.pid}); submit it again when the host is reachable"
            )
        where = f"pid {proc.pid} on {cfg.host}" if proc.pid else f"on {cfg.host}"
        status = "no exit status: killed by a signal" if code < 0 else f"exit code {code}"
        return (
            f"the remote worker process ({where}) ended without reporting a result ({status}): "
            "it was killed or crashed (out of memory?). See the log"
        )

    def cancel(self, job_id: str) -> None:
        """Stop the remote job: SIGTERM to its process group, SIGKILL after a grace time.

        Works from any kernel of the owner: the pid is in the job row (and in the job's
        folder on the worker); a follower in this process then stores how it ended.
        """
        record = self._begin_cancel(job_id)
        if record is None:
            return
        pid = record.pid
        if pid is None:
            with self._lock:
                starting = job_id in self._processes
            if not starting:
                store.finish_job(self.database, job_id, JobStatus.CANCELLED)
            # else: _detached sees cancel_requested and stops the runner at once
            return
        self._stop_runner(job_id, pid)
        self.attach(job_id)

    def _stop_runner(self, job_id: str, pid: int) -> None:
        self._kill(pid, "TERM")
        escalate(
            lambda: JobStatus(self._read(job_id).status).finished,
            lambda: self._kill(pid, "KILL"),
        )

    def _exec(self, command: str) -> str:
        """Run a (fully quoted) command on the worker and return its stdout."""
        client = self.connect()
        try:
            _stdin, stdout, _stderr = client.exec_command(
                command, timeout=self.config.connect_timeout
            )
            text = stdout.read().decode("utf-8", errors="replace")
            stdout.channel.recv_exit_status()
        except (TimeoutError, paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHBackendError(f"SSH command on {self.config.target} failed: {exc}") from exc
        return str(text)

    def _kill(self, pid: int, sig: str) -> None:
        """Signal the remote runner's process group (it leads its own session)."""
        group = ssh.quote(f"-{int(pid)}")
        single = ssh.quote(str(int(pid)))
        command = f"kill -{sig} -- {group} 2>/dev/null || kill -{sig} {single}"
        try:
            self._exec(command)
        except SSHBackendError as exc:
            log.warning("could not signal remote pid %s on %s: %s", pid, self.config.host, exc)

    # -- following detached jobs ---------------------------------------------------------
    def _detached(self, job_id: str, pid: int) -> None:
        """The launcher reports the job's runner pid: store it and follow the job."""
        db = self.database
        store.update_job(
            db,
            job_id,
            status=JobStatus.RUNNING.value,
            pid=pid,
            host=self.config.host,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            message="running",
        )
        self._heartbeat.discard(job_id)
        self._follow(job_id)
        if store.read_job(job_id, db, SYSTEM).cancel_requested:
            self._stop_runner(job_id, pid)  # asked while we were starting it

    def attach(self, job_id: str) -> None:
        """Follow a running job that no thread of this process follows (re-attach).

        Starts a thread that reads the job's folder on the worker at once and then
        keeps following it, storing progress and the result in the database. Called by
        :func:`reconcile` when any kernel of the owner looks at the job; it returns at
        once, because that look may come from a dashboard's poll on the kernel's event
        loop, and connecting to a slow or unreachable worker must not freeze the page
        (the thread records "cannot reach the worker" and retries).
        """
        if self._closed.is_set():
            return
        with self._lock:
            if job_id in self._followers or job_id in self._processes:
                return
        record = store.read_job(job_id, self.database, SYSTEM)
        if JobStatus(record.status).finished or record.pid is None:
            return
        self._follow(job_id)

    def _follow(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._followers or self._closed.is_set():
                return
            thread = threading.Thread(
                target=self._follow_loop,
                args=(job_id,),
                name=f"shiftdesk-ssh-follow-{job_id[:8]}",
                daemon=True,
            )
            self._followers[job_id] = thread
        WATCHED.add(job_id)
        thread.start()

    def _follow_loop(self, job_id: str) -> None:
        finished = False
        try:
            while not self._closed.is_set():
                try:
                    if self._sync(job_id):
                        finished = True
                        return
                    delay = POLL_INTERVAL
                except SSHBackendError as exc:
                    # the worker is unreachable for now: the job runs on; try again
                    with contextlib.suppress(Exception):
                        store.update_job(
                            self.database, job_id, message=f"cannot reach the worker: {exc}"[:500]
                        )
                    delay = RETRY_INTERVAL
                except Exception:
                    log.exception("following SSH job %s failed", job_id)
                    return
                self._closed.wait(delay)
        finally:
            with self._lock:
                if self._followers.get(job_id) is threading.current_thread():
                    del self._followers[job_id]
            WATCHED.discard(job_id)
            if finished:
                self._job_over()

    def _job_over(self) -> None:
        """A job ended: start the next spare; close connections kept for it after logout."""
        if self._spare is None:
            threading.Thread(target=self._refill_spare, daemon=True).start()
        with self._lock:
            if not self._processes and not self._followers and self._retired:
                retired, self._retired = self._retired, []
            else:
                retired = []
        for client in retired:
            client.close()

    def _sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on the current connection (callers hold ``_sftp_lock``)."""
        client = self.connect()
        if self._sftp_client is None or self._sftp_owner is not client:
            if self._sftp_client is not None:
                with contextlib.suppress(Exception):
                    self._sftp_client.close()
            try:
                self._sftp_client = client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._sftp_client = None
                raise SSHBackendError(f"SFTP to {self.config.target} failed: {exc}") from exc
            self._sftp_owner = client
        return self._sftp_client

    def _read_files(self, job_id: str) -> dict[str, str | None]:
        """The job folder's files (None for those missing)."""
        folder = f"{JOBS_FOLDER}/{job_id}"
        found: dict[str, str | None] = {}
        with self._sftp_lock:
            sftp = self._sftp()
            try:
                for name in ("result.json", "status.json", "log.txt", "pid"):
                    try:
                        with sftp.open(f"{folder}/{name}", "r") as handle:
                            found[name] = handle.read().decode("utf-8", errors="replace")
                    except FileNotFoundError:
                        found[name] = None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._sftp_client = None
                raise SSHBackendError(f"SFTP to {self.config.target} failed: {exc}") from exc
        return found

    def _remote_alive(self, pid: int) -> bool:
        """Whether ``pid`` runs on the worker (a zombie counts as gone)."""
        q = ssh.quote(str(int(pid)))
        command = (
            f"if kill -0 {q} 2>/dev/null; then s=$(ps -o stat= -p {q} 2>/dev/null); "
            'case "$s" in Z*) echo gone;; *) echo alive;; esac; else echo gone; fi'
        )
        return self._exec(command).strip() != "gone"

    def _sync(self, job_id: str) -> bool:
        """Copy the job folder's state into the job row; True once the job is final."""
        db = self.database
        record = store.read_job(job_id, db, SYSTEM)
        if JobStatus(record.status).finished:
            return True
        files = self._read_files(job_id)
        if files["result.json"] is None and files["pid"] is None:
            # no folder: another kernel stored the result and removed it, or it was lost
            if JobStatus(store.read_job(job_id, db, SYSTEM).status).finished:
                return True
            return self._lost(job_id, record.pid, "", folder_gone=True)
        log_text = files["log.txt"] or ""
        if files["result.json"] is None:
            self._store_status(job_id, record.log or "", files["status.json"], log_text)
            pid = record.pid or int((files["pid"] or "0").strip() or 0)
            if pid and self._remote_alive(pid):
                return False
            files = self._read_files(job_id)  # it may have written its result and ended
            if files["result.json"] is None:
                return self._lost(job_id, pid, files["log.txt"] or log_text)
        self._store_result(job_id, str(files["result.json"]), files["log.txt"] or log_text)
        return True

    def _store_status(self, job_id: str, old_log: str, status: str | None, log_text: str) -> None:
        fields: dict[str, Any] = {}
        if status:
            with contextlib.suppress(ValueError, TypeError):
                data = json.loads(status)
                fields = {
                    "progress": float(data.get("progress", 0.0)),
                    "message": str(data.get("message", ""))[:500],
                    "metrics_json": json.dumps(data.get("metrics") or {}),
                }
        if log_text and not old_log.endswith(log_text[-store.MAX_LOG_CHARS :]):
            fields["log"] = log_text[-store.MAX_LOG_CHARS :]
        if fields:
            store.update_job(self.database, job_id, heartbeat_at=utcnow(), **fields)

    def _store_result(self, job_id: str, text: str, log_text: str) -> None:
        db = self.database
        try:
            outcome = json.loads(text)
            state = str(outcome.get("status"))
        except (ValueError, AttributeError):
            outcome, state = {}, "failed"
        if isinstance(outcome.get("metrics"), dict):
            store.update_job(db, job_id, metrics_json=json.dumps(outcome["metrics"]))
        cancelled = state == "cancelled" or store.read_job(job_id, db, SYSTEM).cancel_requested
        if state == "failed":
            store.finish_job(
                db,
                job_id,
                JobStatus.FAILED,
                error=str(outcome.get("error") or "the remote job wrote an unreadable result"),
                replace_log=log_text,
            )
        else:
            result = outcome.get("result")
            store.finish_job(
                db,
                job_id,
                JobStatus.CANCELLED if cancelled else JobStatus.DONE,
                result=result if isinstance(result, dict) else None,
                replace_log=log_text,
            )
        self._remove_folder(job_id)

    def _lost(self, job_id: str, pid: int | None, log_text: str, folder_gone: bool = False) -> bool:
        """The runner is gone without a result: fail (or, if asked, cancel) the job."""
        db = self.database
        cfg = self.config
        if store.read_job(job_id, db, SYSTEM).cancel_requested:
            store.finish_job(db, job_id, JobStatus.CANCELLED, replace_log=log_text or None)
        else:
            if folder_gone:
                reason = (
                    f"the job's folder ~/{JOBS_FOLDER}/{job_id} on {cfg.host} is gone and no "
                    "result was stored (removed by hand, or the worker's home was reset); "
                    "resubmit it (job.resubmit())"
                )
            else:
                reason = (
                    f"the remote job process (pid {pid} on {cfg.host}) ended without reporting "
                    "a result: it was killed or crashed (out of memory?), or the worker "
                    "rebooted. See the log; resubmit it (job.resubmit())"
                )
            store.finish_job(
                db,
                job_id,
                JobStatus.FAILED,
                error=reason,
                replace_log=(log_text + f"[shiftdesk] {reason}\n") if log_text else None,
                log="" if log_text else f"[shiftdesk] {reason}\n",
            )
        if not folder_gone:
            self._remove_folder(job_id)
        return True

    def _remove_folder(self, job_id: str) -> None:
        """Delete the job's folder on the worker (its log is in the database now)."""
        folder = ssh.quote(f"{JOBS_FOLDER}/{job_id}")
        try:
            self._exec(f"rm -rf -- {folder}")
        except SSHBackendError as exc:
            log.warning("could not remove %s on %s: %s", folder, self.config.host, exc)

    def close(self) -> None:
        """Stop the spare and following, close the connection; remote jobs run on.

        Another backend instance (this kernel later, or another kernel of the owner)
        picks the jobs up again through :meth:`attach`.
        """
        self._closed.set()
        self._active.clear()
        self._heartbeat.stop()
        self._drop_spare()
        with self._lock:
            followed = dict(self._followers)
        for job_id, thread in followed.items():
            WATCHED.discard(job_id)
            # let a read in progress finish (it may be storing a result right now)
            thread.join(timeout=self.config.connect_timeout)
        with self._conn_lock:
            for client in [self._client, *self._retired]:
                if client is not None:
                    client.close()
            self._client = None
            self._retired = []
            self._sftp_client = None


def end_session(database: Database | None = None) -> None:
    """Log out of every SSH backend in the settings: remove session keys here and remotely.

    The hub calls this when the user logs out; it is safe to call when no session exists.
    """
    from shiftdesk.settings import load_settings
    from shiftdesk.storage import get_database

    db = database or get_database()
    for name, table in load_settings().backends.items():
        if table.type == "ssh":
            backend = get_backend(name, db)
            if isinstance(backend, SSHBackend):
                backend.end_session()


__all__ = [
    "RemoteProcess",
    "SSHBackend",
    "SSHBackendError",
    "SSHConfig",
    "bootstrap_pkey",
    "end_session",
    "open_client",
    "reconcile",
]
