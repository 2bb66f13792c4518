"""One remote worker process of the SSH job backend (one exec channel) and its readers.

The process speaks the protocol of :mod:`shiftdesk.jobs.remote` on stdout (``hello``,
``ready``, ``detached``, ``error``); its stderr goes to the job's log. Once it reports
``detached`` the job runs on by itself on the worker and the backend follows its folder.
What the worker says about itself (its numba cache folder and the modules it imported
ahead) is kept on the object; its warnings go to the backend's log, each once.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any

import paramiko  # type: ignore[import-untyped]

from shiftdesk.jobs import store
from shiftdesk.jobs.status import JobStatus

if TYPE_CHECKING:
    from shiftdesk.jobs.ssh import SSHBackend


class RemoteProcess:
    """One remote worker process (one exec channel) and the thread reading it."""

    def __init__(self, backend: SSHBackend, channel: paramiko.Channel) -> None:
        self.backend = backend
        self.channel = channel
        self.pid: int | None = None
        self.job_id: str | None = None
        self.ended = threading.Event()
        self.ready = threading.Event()
        self.finished_job = False  # detached (the follower takes over) or an error event
        self.detached = False
        #: numba's cache folder on the worker (None: it cannot cache there), from hello
        self.numba_cache: str | None = None
        #: the modules the process imported before its job (from ready)
        self.preloaded: list[str] = []
        self._end_code: int | None = None  # set once the end was seen (reported if bound)
        self._stderr: list[str] = []
        self._lock = threading.Lock()
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, name="shiftdesk-ssh-stderr", daemon=True
        )
        self._stderr_thread.start()
        threading.Thread(target=self._read_stdout, name="shiftdesk-ssh-job", daemon=True).start()

    @property
    def alive(self) -> bool:
        return not self.ended.is_set() and not self.channel.closed

    # -- handing over a job ----------------------------------------------------------------
    def bind(self, job_id: str, order: bytes, *, even_if_ended: bool = False) -> bool:
        """Give this process the job; False if it had already ended.

        With ``even_if_ended`` (a process spawned for this very job) the job is bound
        anyway, so a process that died at once (a wrong ``python``) fails the job with
        the reason instead of leaving it queued.
        """
        db = self.backend.database
        with self._lock:
            if self.ended.is_set() and not even_if_ended:
                return False
            self.job_id = job_id
            early = "".join(self._stderr)
            # the reader thread already saw the end with no job bound: report it here
            end_code = self._end_code
        if early.strip():
            store.append_log(db, job_id, early)
        if self.pid is not None:
            store.update_job(db, job_id, pid=self.pid, host=self.backend.config.host)
        if end_code is not None:
            self.backend._process_ended(self, end_code)
            return True
        # if the process died meanwhile, its reader sees the end and says why
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.sendall(order)
        return True

    def stderr_tail(self, lines: int = 15) -> str:
        with self._lock:
            text = "".join(self._stderr)
        return "\n".join(text.strip().splitlines()[-lines:])

    # -- reading -------------------------------------------------------------------------
    def _read_stderr(self) -> None:
        stream = self.channel.makefile_stderr("rb")
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            for raw in stream:
                line = raw.decode("utf-8", errors="replace")
                with self._lock:
                    job_id = self.job_id
                    # kept for diagnosis (bounded), and logged once the job is known
                    self._stderr.append(line)
                    del self._stderr[:-200]
                if job_id is not None:
                    with contextlib.suppress(Exception):
                        store.append_log(self.backend.database, job_id, line)

    def _read_stdout(self) -> None:
        stream = self.channel.makefile("rb")
        try:
            for raw in stream:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue  # not ours (the protocol stream is kept clean; be lenient)
                if isinstance(event, dict):
                    self._handle(event)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            self._on_end()

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        db = self.backend.database
        if kind == "hello":
            self.pid = int(event["pid"])
            cache = event.get("numba_cache")
            self.numba_cache = str(cache) if cache else None
            for warning in event.get("warnings") or ():
                self.backend._warn_once(str(warning))
            with self._lock:
                job_id = self.job_id
            if job_id is not None:
                store.update_job(db, job_id, pid=self.pid, host=self.backend.config.host)
            return
        if kind == "ready":
            self.preloaded = [str(m) for m in event.get("preloaded") or ()]
            self.ready.set()
            return
        job_id = self.job_id
        if job_id is None:
            return
        if kind == "detached":
            # the job now runs on its own on the worker; a follower reads its folder
            self.detached = True
            self.finished_job = True
            self.backend._detached(job_id, int(event["pid"]))
        elif kind == "error":
            self.finished_job = True
            store.finish_job(
                db,
                job_id,
                JobStatus.FAILED,
                error=str(event.get("error", "the remote task failed")),
                log=str(event.get("traceback", "")),
            )

    def _on_end(self) -> None:
        with self._lock:
            self.ended.set()
        self._stderr_thread.join(timeout=5)
        code = self.channel.recv_exit_status() if self.channel.exit_status_ready() else -1
        with self._lock:
            # exactly one of this thread and bind() reports the end of a bound job
            self._end_code = code
            job_id = self.job_id
        if job_id is not None:
            self.backend._process_ended(self, code)
