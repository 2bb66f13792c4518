"""In-flight deduplication: an identical request of the same user made while the first
still runs joins it (one job, the same result) instead of running again; threads racing
start one job (SQLite and PostgreSQL, the database's unique index decides); another
user's request is never joined; a failed, cancelled or dead first request does not leave
the joined one hanging; a first request whose job never got recorded is taken over."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from tests.datalab._frames import write_frame
from tests.datalab._support import registered_operation, user_database

from shiftdesk.datalab import DataSession, OperationCancelled, OperationInputError
from shiftdesk.datalab import cache as cache_module
from shiftdesk.datalab.records import OperationRecord, ResultRecord
from shiftdesk.errors import JobError
from shiftdesk.identity import Identity
from shiftdesk.jobs import list_jobs
from shiftdesk.storage import Database, get_database
from shiftdesk.tracking import utcnow

ALICE = Identity("alice")
BOB = Identity("bob", groups=frozenset({"m51-team"}))
MALLORY = Identity("mallory")

_OP = """
import time
from shiftdesk.datalab.operations import OperationInputError
from shiftdesk.datalab.ops.base import Operation, files_field, number_field, object_schema


class Counting(Operation):
    name = "inflight_test"
    title = "Counting"
    description = "Counts slowly, failing on request, for the tests."
    version = "1.0"
    outputs = ("data",)
    schema = object_schema(
        {
            "input_files": files_field("Frames", "Any frames."),
            "steps": number_field("Steps", "How many.", default=400, minimum=1, integer=True),
            "fail_at": number_field(
                "Fail at", "Step to fail at (0: never).", default=0, minimum=0, integer=True
            ),
        },
        ["input_files"],
    )

    def execute(self, values, ctx):
        for i in range(values["steps"]):
            if values["fail_at"] and i + 1 == values["fail_at"]:
                raise OperationInputError("fail_at", f"failed on purpose at step {i + 1}")
            ctx.report(i / values["steps"], f"step {i + 1}")
            time.sleep(0.05)
        return self.result(data={"steps": values["steps"]})
"""


@pytest.fixture
def counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An operation ``inflight_test`` (0.05 s a step; ``fail_at`` fails it with an input
    error at that step), registered through a distribution of its own (on this process's
    path and its workers')."""
    yield from registered_operation(tmp_path / "plugin", monkeypatch, "inflight_test",
                                    "inflight_test_op", "Counting", _OP)  # fmt: skip


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "frames"
    folder.mkdir()
    return [
        write_frame(folder / "a.fits", stars=[(20, 20, 900)], noise=2, seed=1),
        write_frame(folder / "b.fits", stars=[(20, 20, 1100)], noise=2, seed=2),
    ]


def _session(name: str, frames: list[Path], identity: Identity = ALICE, **kw: Any) -> DataSession:
    s = DataSession.create(name, identity=identity, **kw)
    s.add_inputs(frames)
    return s


def _wait_running(op: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (op.refresh().status == "running" and op.progress > 0):
        assert not op.finished, f"ended before it could be joined: {op!r}"
        assert time.monotonic() < deadline, f"never started: {op!r}"
        time.sleep(0.05)


def _jobs(identity: Identity, db: Database | None = None) -> int:
    return len(list_jobs(identity=identity, database=db, limit=1000))


def _race(sessions: list[DataSession], op: str, **inputs: Any) -> list[Any]:
    """``run`` in one thread per session, all let go at once; the handles in order."""
    barrier = threading.Barrier(len(sessions))
    out: list[Any] = [None] * len(sessions)

    def go(i: int) -> None:
        barrier.wait()
        try:
            out[i] = sessions[i].run(op, input_files=sessions[i].inputs, **inputs)
        except BaseException as exc:  # shown by the assertion below
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(isinstance(o, BaseException) for o in out), out
    return out


def _check_one_job(handles: list[Any], *, fresh: bool = True) -> Any:
    """Exactly one handle ran a job; the others joined it (``fresh``: as ``run`` returned
    them, saying so); all end with its result."""
    leaders = [h for h in handles if not h.cached]
    assert len(leaders) == 1, [repr(h) for h in handles]
    leader = leaders[0]
    assert {h.job_id for h in handles} == {leader.job_id} and leader.job_id is not None
    for h in handles:
        if h is not leader and fresh:
            assert h.message == f"joined a running identical request (#{leader.id})"
    results = [h.result(timeout=120) for h in handles]
    assert all(r.data == results[0].data for r in results)
    assert [h.status for h in handles] == ["done"] * len(handles)
    assert len({h._record.result_id for h in handles}) == 1
    return leader


# -- joining -------------------------------------------------------------------------------


def test_an_identical_request_while_the_first_runs_joins_it(
    frames: list[Path], counting: str
) -> None:
    first_session = _session("night 1", frames)
    second_session = _session("night 1 again", frames)  # another session of the same user
    first = first_session.run(counting, input_files=first_session.inputs, steps=60)
    _wait_running(first)
    jobs = _jobs(ALICE)

    joined = second_session.run(counting, input_files=second_session.inputs, steps=60)
    assert joined.cached and joined.job_id == first.job_id and joined.key == first.key
    assert not joined.finished and _jobs(ALICE) == jobs
    assert "joined a running identical request" in joined.message
    # it follows the first's job: status and progress while it runs
    deadline = time.monotonic() + 60
    while not (joined.refresh().status == "running" and joined.progress > 0):
        assert time.monotonic() < deadline, repr(joined)
        time.sleep(0.05)
    # a double click in the same session joins as well
    again = first_session.run(counting, input_files=first_session.inputs, steps=60)
    assert again.cached and again.job_id == first.job_id
    _check_one_job([first, joined, again], fresh=False)
    assert _jobs(ALICE) == jobs
    with get_database().session() as s:
        assert s.scalar(select(func.count()).select_from(ResultRecord)) == 1
    # once stored, the next identical request is served from the store (no job at all)
    served = second_session.run(counting, input_files=second_session.inputs, steps=60)
    assert served.cached and served.job_id is None and served.status == "done"
    history = second_session.operations
    assert [(o.status, o.cached, o.job_id is None) for o in history] == [
        ("done", True, False),  # joined: the first's job
        ("done", True, True),  # served from the store
    ]


@pytest.mark.parametrize(
    "db_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_threads_racing_start_one_job(
    db_kind: str,
    frames: list[Path],
    counting: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db: Database | None = None
    who = ALICE
    if db_kind == "postgresql":
        db, who = user_database(request, monkeypatch)
    sessions = [_session(f"s{i}", frames, identity=who, database=db) for i in range(2)]
    # four threads: two calls in each of two sessions
    handles = _race([sessions[0], sessions[1], sessions[0], sessions[1]], counting, steps=20)
    _check_one_job(handles)
    assert _jobs(who, db) == 1
    with (db or get_database()).session() as s:
        assert s.scalar(select(func.count()).select_from(OperationRecord)) == 4


def test_the_database_refuses_a_second_runner_even_when_both_looked_first(
    frames: list[Path], counting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique index is the guard: with the look-up made blind the first time in each
    thread (both threads see no running request), one insert is refused and its
    request looks again and joins."""
    real = cache_module.running_request
    blind = threading.local()

    def first_time_blind(*args: Any) -> Any:
        if not getattr(blind, "done", False):
            blind.done = True
            return None
        return real(*args)

    monkeypatch.setattr(cache_module, "running_request", first_time_blind)
    sessions = [_session(f"s{i}", frames) for i in range(3)]
    handles = _race(sessions, counting, steps=20)
    _check_one_job(handles)
    assert _jobs(ALICE) == 1


# -- scope: only the caller's own requests ---------------------------------------------------


def test_another_users_identical_running_request_is_never_joined(
    frames: list[Path], counting: str
) -> None:
    alices = _session("alice's", frames)
    first = alices.run(counting, input_files=alices.inputs, steps=60)
    _wait_running(first)

    mallorys = _session("mallory's", frames, identity=MALLORY)
    theirs = mallorys.run(counting, input_files=mallorys.inputs, steps=60)
    assert not theirs.cached and theirs.job_id not in (None, first.job_id)
    assert theirs.key == first.key

    # a member of a project alice shares the session with is not joined either (the job
    # is alice's alone to read); once alice's result is stored it is served to them
    alices.share(project="m51-team")
    bobs = _session("bob's", frames, identity=BOB)
    running = bobs.run(counting, input_files=bobs.inputs, steps=60)
    assert not running.cached and running.job_id not in (None, first.job_id)
    running.cancel()
    first.result(timeout=120)
    served = bobs.run(counting, input_files=bobs.inputs, steps=60)
    assert served.cached and served.job_id is None
    assert served.result().data == first.result().data
    theirs.cancel()
    assert _jobs(ALICE) == 1


# -- the first fails, is cancelled, dies -------------------------------------------------------


def test_when_the_first_fails_the_joined_one_fails_with_its_reason(
    frames: list[Path], counting: str
) -> None:
    s = _session("failing", frames)
    first = s.run(counting, input_files=s.inputs, steps=200, fail_at=40)
    _wait_running(first)
    joined = s.run(counting, input_files=s.inputs, steps=200, fail_at=40)
    assert joined.cached and joined.job_id == first.job_id
    for op in (joined, first):
        with pytest.raises(OperationInputError, match="failed on purpose at step 40") as err:
            op.result(timeout=120)
        assert err.value.field == "fail_at"
        assert op.status == "failed" and op.error_field == "fail_at"
    with get_database().session() as s_:
        assert s_.scalar(select(func.count()).select_from(ResultRecord)) == 0
    # nothing failed is served or joined afterwards: the same request runs again
    retry = s.run(counting, input_files=s.inputs, steps=200, fail_at=40)
    assert not retry.cached and retry.job_id not in (first.job_id, None)
    retry.cancel()


def test_when_the_first_is_cancelled_the_joined_one_ends_cancelled(
    frames: list[Path], counting: str
) -> None:
    s = _session("cancelled", frames)
    first = s.run(counting, input_files=s.inputs)
    _wait_running(first)
    joined = s.run(counting, input_files=s.inputs)
    first.cancel()
    with pytest.raises(OperationCancelled):
        joined.result(timeout=60)
    assert joined.status == "cancelled" and first.refresh().status == "cancelled"
    again = s.run(counting, input_files=s.inputs, steps=1)
    assert not again.cached and again.result(timeout=120).data == {"steps": 1}


def test_a_first_request_whose_worker_died_unseen_is_not_joined(
    frames: list[Path], counting: str
) -> None:
    s = _session("killed", frames)
    first = s.run(counting, input_files=s.inputs)
    _wait_running(first)
    job = first.job
    assert job is not None and job.refresh()._record.pid
    os.kill(int(job._record.pid), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not job.refresh().finished:  # the job system sees it; the operation is not read
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with get_database().session() as db:
        assert db.get(OperationRecord, first.id).status in ("queued", "running")  # type: ignore[union-attr]
    fresh = s.run(counting, input_files=s.inputs, steps=1)
    assert not fresh.cached and fresh.job_id != first.job_id
    assert fresh.result(timeout=120).data == {"steps": 1}
    assert first.refresh().status == "failed"  # settled when the second looked at it
    with pytest.raises(JobError):
        first.result()


def test_a_first_request_whose_job_never_got_recorded_is_waited_for_then_taken_over(
    frames: list[Path], counting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _session("stuck", frames)
    probe = s.run(counting, input_files=s.inputs, steps=1)  # its key, then out of the way
    probe.cancel()
    probe.wait(60)
    with get_database().session() as db:
        db.execute(sa.delete(ResultRecord))
        stuck = OperationRecord(
            session_id=s.id,
            owner=ALICE.name,
            operation=counting,
            version="1.0",
            cache_key=probe.key,
            inputs_json=probe._record.inputs_json,
            files_json=probe._record.files_json,
            status="queued",
            progress=0.0,
            message="queued",
            cached=False,
            created_at=utcnow(),
        )
        db.add(stuck)
        db.flush()
        stuck_id = stuck.id
    monkeypatch.setattr(cache_module, "JOIN_WAIT_S", 0.5)
    started = time.monotonic()
    op = s.run(counting, input_files=s.inputs, steps=1)
    assert 0.5 <= time.monotonic() - started < 30
    assert not op.cached and op.job_id is not None
    assert op.result(timeout=120).data == {"steps": 1}
    taken = s.operation(stuck_id)
    assert taken.status == "failed" and "was not started within 0.5 s" in (taken.error or "")


# -- the migration ----------------------------------------------------------------------------


def test_the_migration_keeps_rows_of_two_requests_running_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    db = Database(url)
    try:
        db.downgrade("datalab_0002")
        now = utcnow()
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO datalab_sessions (id, owner, name, description, shared_with, "
                    "created_at, modified_at) VALUES (1, 'alice', 's', '', '', :t, :t)"
                ),
                {"t": now},
            )
            for status in ("queued", "running", "done", "queued"):
                conn.execute(
                    sa.text(
                        "INSERT INTO datalab_operations (session_id, owner, operation, version, "
                        "cache_key, inputs_json, files_json, status, progress, message, cached, "
                        "created_at) VALUES (1, 'alice', 'median', '1', :k, '{}', '[]', :s, 0, "
                        "'', :c, :t)"
                    ),
                    {"k": "k" * 64, "s": status, "c": False, "t": now},
                )
        db.upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, status, cached FROM datalab_operations ORDER BY id")
            ).all()
        assert [(r[1], bool(r[2])) for r in rows] == [
            ("queued", False),  # the oldest keeps running its own job
            ("running", True),
            ("done", False),
            ("queued", True),
        ]
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE datalab_operations SET cached = 0 WHERE id = :i"),
                {"i": rows[1][0]},
            )
    finally:
        db.dispose()
