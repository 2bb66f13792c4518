"""Tasks that exercise the job machinery itself: progress, cancel, and faults on request."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from shiftdesk.jobs.tasks import TaskContext


def sleep_task(spec: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleep in steps, reporting progress; ``crash``/``kill``/``fail`` simulate faults."""
    steps = int(spec.get("steps", 10))
    delay = float(spec.get("delay", 0.05))
    for i in range(steps):
        if ctx.cancelled():
            return {"stopped_at": i}
        if spec.get("fail") and i == steps // 2:
            raise RuntimeError("the task failed on purpose")
        if spec.get("kill") and i == steps // 2:
            ctx.log("about to die without a word")
            os.kill(os.getpid(), signal.SIGKILL)
        if spec.get("crash") and i == steps // 2:
            os._exit(3)
        ctx.progress((i + 1) / steps, f"step {i + 1} of {steps}", step=i + 1)
        time.sleep(delay)
    return {"steps": steps}
