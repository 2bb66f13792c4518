"""shiftdesk.tracking: the one clock, owner liveness and the tracked handle."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from shiftdesk import tracking
from shiftdesk.errors import JobTimeout
from shiftdesk.storage.models import utcnow


def test_one_clock_and_stored_times_read_as_utc() -> None:
    assert utcnow is tracking.utcnow
    assert tracking.utcnow().tzinfo is UTC
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert tracking.as_utc(naive) == naive.replace(tzinfo=UTC)
    assert tracking.as_utc(None) is None


def test_owner_liveness() -> None:
    assert tracking.pid_alive(os.getpid())
    assert tracking.owner_alive(tracking.HOST, os.getpid()) is True
    assert tracking.owner_alive("elsewhere", os.getpid()) is None
    assert tracking.owner_alive(tracking.HOST, None) is None
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not tracking.pid_alive(proc.pid)
    assert tracking.owner_alive(tracking.HOST, proc.pid) is False


@dataclass
class _Row:
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    reads: list[str] = field(default_factory=list)


class _Handle(tracking.TrackedHandle[_Row]):
    def __init__(self, states: list[str]) -> None:
        self.id = "abc123"
        self.states = states
        self._record = _Row()

    def _read(self) -> _Row:
        status = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return _Row(status=status, progress=0.5, message="half")

    def _label(self) -> str:
        return f"thing {self.id}"


def test_wait_refreshes_until_finished_and_times_out_with_a_message() -> None:
    handle = _Handle(["queued", "running", "done"]).wait(timeout=5)
    assert handle.finished
    assert repr(handle) == "<thing abc123 done 50%: half>"
    with pytest.raises(
        JobTimeout, match=r"thing abc123 is still running after 0.05 s \(50%: half\)"
    ):
        _Handle(["running"]).wait(timeout=0.05)
