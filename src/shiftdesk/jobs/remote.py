"""The remote worker: ``python -m shiftdesk.jobs.remote`` on an SSH worker host.

It needs no database and no shared folder: everything travels over the SSH channel as
JSON lines. On start it prints ``{"event": "hello", "pid": ...}``, imports the job
kinds' heavy modules, prints ``{"event": "ready"}`` and reads one line
``{"job_id", "kind", "spec"}`` from stdin. While the task runs it prints ``progress``
and ``log`` events, then one ``result`` (or ``error``) event and exits. SIGTERM asks the
task to stop (the result then says ``"cancelled": true``), and so does the end of stdin:
the submitting side closed the connection and can no longer receive the result.

Anything else the task prints goes to stderr, so the protocol stream stays clean; the
submitting side adds stderr to the job's log.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from types import FrameType
from typing import Any, TextIO

from shiftdesk.jobs.tasks import get_kind, preload_modules


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


class RemoteContext:
    """The task's line back to the submitting side (progress writes throttled)."""

    def __init__(self, emit: Emitter, interval: float = 0.25) -> None:
        self.emit = emit
        self.interval = interval
        self._last = 0.0
        self._cancel = threading.Event()

    def request_cancel(self) -> None:
        """Set from the SIGTERM handler."""
        self._cancel.set()

    def progress(self, fraction: float, message: str = "", **metrics: float) -> None:
        """Send progress at most every ``interval`` seconds (and always at 100 %)."""
        now = time.monotonic()
        if now - self._last < self.interval and fraction < 1.0:
            return
        self._last = now
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self.emit(
            "progress",
            fraction=max(0.0, min(1.0, float(fraction))),
            message=message[:500],
            metrics=clean,
        )

    def log(self, text: str) -> None:
        """Send a log line."""
        self.emit("log", text=text.rstrip("\n") + "\n")

    def cancelled(self) -> bool:
        """True once SIGTERM arrived."""
        return self._cancel.is_set()


def _watch_stdin(ctx: RemoteContext) -> None:
    for _line in sys.stdin:
        pass
    ctx.request_cancel()


def main() -> int:
    """Entry point of the remote worker process."""
    # keep the real stdout for the protocol; route everything else printed to stderr
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emit = Emitter(protocol)
    ctx = RemoteContext(emit)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        ctx.request_cancel()

    signal.signal(signal.SIGTERM, on_term)
    emit("hello", pid=os.getpid(), host=socket.gethostname(), python=sys.executable)
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
    except (ValueError, KeyError, TypeError) as exc:
        emit("error", error=f"bad job order from the submitting side: {exc}", traceback="")
        return 2
    emit("started", job_id=job_id)
    # the submitting side keeps stdin open while it follows the job: end of input means
    # it went away (kernel gone, connection lost), so nobody can receive the result
    threading.Thread(target=_watch_stdin, args=(ctx,), daemon=True).start()
    if ctx.cancelled():
        emit("result", result=None, cancelled=True)
        return 0
    try:
        task = get_kind(kind_name).load_run()
        result = task(spec, ctx)
    except Exception as exc:
        text = traceback.format_exc()
        print(text, file=sys.stderr, flush=True)
        emit("error", error=f"{type(exc).__name__}: {exc}", traceback=text)
        return 1
    emit("result", result=result, cancelled=ctx.cancelled())
    return 0


if __name__ == "__main__":
    sys.exit(main())
