"""Those who read a shared session follow its running operations through the operation's
own row, which the job keeps (they cannot read the job): status, progress and message
while it runs, at a bounded rate, then how it ended, whether or not the owner's kernel
looks. SQLite here; the same on PostgreSQL with each user's own role in
test_session_postgres.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from tests.datalab._frames import write_frame
from tests.datalab.test_session import ALICE, BOB, MALLORY, frames, slow_op  # noqa: F401

from shiftdesk.datalab import DataSession, OperationInputError, SessionOperation
from shiftdesk.datalab import state as row_state
from shiftdesk.datalab.records import OperationRecord, ResultRecord
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.storage import Database, get_database


def follow(op: SessionOperation, timeout: float = 120) -> list[tuple[str, float, str]]:
    """Refresh ``op`` until it ends; the distinct (status, progress, message) seen."""
    seen: list[tuple[str, float, str]] = []
    deadline = time.monotonic() + timeout
    while not op.refresh().finished:
        state = (op.status, op.progress, op.message)
        if not seen or seen[-1] != state:
            seen.append(state)
        assert time.monotonic() < deadline, f"still {op!r}; seen {seen[-3:]}"
        time.sleep(0.05)
    return seen


def member_follows_and_is_served(
    owner_session: DataSession, member_session: DataSession, slow: str, steps: int = 50
) -> None:
    """The owner starts a slow operation and never looks again; the member sees it run
    and end, with its result (shared by test_session_postgres.py)."""
    started = owner_session.run(slow, input_files=owner_session.inputs, steps=steps)
    theirs = member_session.operation(started.id)
    with pytest.raises((PermissionDenied, NotFound)):  # NotFound under row-level security
        _ = theirs.job  # only the owner reads the job
    seen = follow(theirs)
    running = [s for s in seen if s[0] == "running"]
    assert len(running) >= 3, seen  # progress as it goes, not only at the end
    fractions = [p for _, p, _ in running]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1, seen
    assert any(m.startswith("step ") for _, _, m in running), seen
    # settled by the job itself: the owner's handle was never refreshed
    assert theirs.status == "done" and theirs.progress == 1.0
    assert theirs.result().data == {"steps": steps}
    with owner_session.database.session() as s:
        stored = s.scalar(select(ResultRecord).where(ResultRecord.cache_key == started.key))
        assert stored is not None and stored.job_id == started.job_id
    # the owner's kernel comes back: the same state, nothing settled twice
    mine = owner_session.operation(started.id)
    assert mine.status == "done" and mine.result().data == {"steps": steps}


def test_a_member_follows_a_running_operation_without_the_owners_kernel(
    frames: list[Path],  # noqa: F811
    slow_op: str,  # noqa: F811
) -> None:
    alice = DataSession.create("shared run", identity=ALICE)
    alice.add_inputs(frames[:1])
    alice.share(project="m51-team")
    seen = DataSession.open(alice.id, identity=BOB)
    member_follows_and_is_served(alice, seen, slow_op)
    # mallory, not a member, reads none of it
    with pytest.raises(PermissionDenied):
        DataSession.open(alice.id, identity=MALLORY)


def test_the_job_settles_failures_and_cancels_for_the_members(
    frames: list[Path],  # noqa: F811
    slow_op: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    alice = DataSession.create("shared failures", identity=ALICE)
    blank = write_frame(tmp_path / "blank.fits", np.full((48, 64), np.nan))
    alice.add_inputs([frames[0], blank])
    alice.share("bob")
    seen = DataSession.open(alice.id, identity=BOB)

    # a failure only the pixels show: the member reads the field and the reason
    failing = alice.run("median", input_files=alice.inputs)
    theirs = seen.operation(failing.id)
    follow(theirs)
    assert theirs.status == "failed" and theirs.error_field == "input_files"
    assert "no finite pixel" in (theirs.error or "")
    with pytest.raises(OperationInputError):
        theirs.result()

    # a cancel: the member sees it cancelled, how far it got kept
    slow = alice.run(slow_op, input_files=alice.inputs[:1], steps=400)
    theirs = seen.operation(slow.id)
    deadline = time.monotonic() + 60
    while not (theirs.refresh().status == "running" and theirs.progress > 0):
        assert time.monotonic() < deadline, repr(theirs)
        time.sleep(0.05)
    job = slow.job
    assert job is not None
    job.cancel()  # the owner's job, cancelled; the owner's operation handle never looks
    follow(theirs, timeout=60)
    assert theirs.status == "cancelled" and 0 < theirs.progress < 1


KEY = "k" * 64


class _Ctx:
    def __init__(self, database: Database, job_id: str | None) -> None:
        self.database = database
        self.job_id = job_id


def test_progress_reaches_the_row_at_a_bounded_rate_and_never_reopens_an_ended_one(
    frames: list[Path],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shiftdesk.datalab import cache

    s = DataSession.create("rate", identity=ALICE)
    s.add_inputs(frames[:2])
    db = get_database()
    with db.session() as session:
        row = OperationRecord(
            session_id=s.id, owner="alice", operation="median", version="1", cache_key=KEY,
            inputs_json="{}", files_json="[]", status="queued", progress=0.0, message="queued",
            cached=False,
        )  # fmt: skip
        session.add(row)
        session.flush()
        op_id = row.id
    spec: dict[str, Any] = {
        "key": KEY,
        "folder": str(cache.result_folder("alice", KEY, op_id)),
    }
    assert row_state.operation_id_of(spec) == op_id
    assert row_state.operation_id_of({"key": KEY, "folder": "/x/other.7"}) is None

    writes: list[float] = []
    real = row_state.write_progress

    def counting(*args: Any, **kwargs: Any) -> int:
        writes.append(kwargs["progress"])
        return real(*args, **kwargs)

    monkeypatch.setattr(row_state, "write_progress", counting)
    task_row = row_state.OperationRow(spec, _Ctx(db, "job-1"), interval=0.2)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 1.0:
        n += 1
        task_row.report(min(0.99, n / 10_000), f"step {n}")
        time.sleep(0.001)
    task_row.report(1.0, "hashing the outputs")
    assert n > 100 and 4 <= len(writes) <= 8, (n, writes)  # one write per 0.2 s, and 100 %
    with db.session() as session:
        got = session.get(OperationRecord, op_id)
        assert got is not None and (got.status, got.progress) == ("running", 1.0)

    # another job's report does not land on this row; an ended row takes no report
    other = row_state.OperationRow(spec, _Ctx(db, "job-2"), interval=0)
    with db.session() as session:
        got = session.get(OperationRecord, op_id)
        assert got is not None
        got.job_id = "job-1"
    assert real(db, op_id, progress=0.1, message="x", key=KEY, job_id="job-2") == 0
    other.report(0.2, "not mine")
    with db.session() as session:
        got = session.get(OperationRecord, op_id)
        assert got is not None and (got.progress, got.message) == (1.0, "hashing the outputs")
    ended = row_state.settle(db, op_id, status="failed", error="stopped", progress=0.5)
    assert ended is not None and ended.status == "failed"
    assert real(db, op_id, progress=0.7, message="late", key=KEY, job_id="job-1") == 0
    with db.session() as session:
        got = session.get(OperationRecord, op_id)
        assert got is not None and (got.status, got.progress, got.error) == (
            "failed",
            0.5,
            "stopped",
        )
    # settling again leaves the first outcome
    again = row_state.settle(db, op_id, status="cancelled")
    assert again is not None and again.status == "failed"


def test_a_task_without_the_database_writes_no_row() -> None:
    """SSH and Dask workers have no database: the owner's kernel copies the progress."""

    class Remote:
        job_id = "abc"

    spec = {"key": KEY, "folder": f"/x/{'k' * 64}.3"}
    task_row = row_state.OperationRow(spec, Remote())
    assert not task_row.active
    task_row.report(0.5, "half")  # no error, nothing written
    assert task_row.settle("done", raw={}) is None
