"""Persisted jobs on the local backend: results, progress, faults, cancel, other kernels."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import shiftdesk.jobs
from shiftdesk import tracking
from shiftdesk.errors import JobError, JobTimeout, NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.jobs import Job, JobStatus, list_jobs, submit_job
from shiftdesk.storage import Database


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(0.05)


def running(job: Job) -> bool:
    return job.refresh().status is JobStatus.RUNNING


def sleep_job(**spec: Any) -> Job:
    return submit_job("test.sleep", spec, title="sleeping")


def python(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter (another kernel) with this test's environment."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- results and progress -----------------------------------------------------------------


def test_result_comes_back() -> None:
    job = sleep_job(steps=3, delay=0.01)
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE)
    assert job.kind == "test.sleep" and job.title == "sleeping" and job.backend == "local"
    assert job.result(timeout=60) == {"steps": 3}
    assert job.status is JobStatus.DONE
    assert job.finished and job.progress == 1.0
    assert job.error is None
    assert job.spec == {"steps": 3, "delay": 0.01}
    assert job.created_at is not None and job.started_at is not None
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert job.runtime is not None and job.runtime >= 0
    assert job.message == "done"


def test_spare_worker_takes_the_job(with_spare: None) -> None:
    from shiftdesk.jobs import get_backend
    from shiftdesk.storage import get_database

    local = get_backend("local", get_database())
    assert isinstance(local, shiftdesk.jobs.LocalBackend)
    spare = local._spare
    assert spare is not None
    job = sleep_job(steps=3, delay=0.01, fail=True)
    with pytest.raises(JobError, match="failed on purpose"):
        job.result(timeout=60)
    assert job._record.pid == spare.pid  # the pre-started process ran it
    assert local._spare is not None and local._spare.pid != spare.pid  # and was replaced
    # the spare's output went to the job's log once it took the job
    assert "Traceback" in job.logs()
    second = sleep_job(steps=2, delay=0.01)
    assert second.result(timeout=60) == {"steps": 2}


def test_progress_and_metrics_are_visible_while_running() -> None:
    job = sleep_job(steps=40, delay=0.1)
    seen: list[tuple[float, float]] = []

    def progressing() -> bool:
        job.refresh()
        if job.status is JobStatus.RUNNING and job.progress > 0:
            seen.append((job.progress, job.metrics.get("step", 0.0)))
        return len(seen) >= 2 and seen[-1][0] > seen[0][0]

    wait_until(progressing, 60, "progress to grow while the job runs")
    assert not job.finished
    progress, step = seen[-1]
    assert 0 < progress < 1
    assert step >= 1
    assert job.message.startswith("step ")
    assert job.result(timeout=60) == {"steps": 40}


def test_wait_times_out_with_job_timeout() -> None:
    job = sleep_job(steps=100, delay=0.1)
    with pytest.raises(JobTimeout, match=f"job {job.id} is still"):
        job.result(timeout=0.2)
    job.cancel()
    job.wait(timeout=30)


def test_unknown_kind_stores_nothing() -> None:
    with pytest.raises(KeyError, match=r"unknown job kind 'no\.such'"):
        submit_job("no.such", {})
    assert list_jobs() == []


def test_unknown_job_id() -> None:
    with pytest.raises(NotFound):
        Job("0" * 32)


# -- faults -------------------------------------------------------------------------------


def test_killed_worker_fails_with_the_signal_and_keeps_the_log() -> None:
    job = sleep_job(steps=10, delay=0.05, kill=True)
    with pytest.raises(JobError, match="failed"):
        job.result(timeout=60)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "signal 9 (SIGKILL)" in job.error
    logs = job.logs()
    assert "about to die without a word" in logs
    assert "step" not in job.error


def test_crashed_worker_fails_with_its_exit_code() -> None:
    job = sleep_job(steps=10, delay=0.05, crash=True)
    with pytest.raises(JobError, match="code 3"):
        job.result(timeout=60)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "code 3" in job.error


def test_failing_task_reports_the_exception_and_traceback() -> None:
    job = sleep_job(steps=10, delay=0.01, fail=True)
    with pytest.raises(JobError) as info:
        job.result(timeout=60)
    assert job.status is JobStatus.FAILED
    assert job.error == "RuntimeError: the task failed on purpose"
    logs = job.logs()
    assert "Traceback (most recent call last)" in logs
    assert "RuntimeError: the task failed on purpose" in logs
    assert "shiftdesk_testdomain" in logs
    # the error raised to the caller carries the reason and the end of the log
    assert "the task failed on purpose" in str(info.value)
    assert "end of log" in str(info.value)


def test_cancel_a_running_job() -> None:
    job = sleep_job(steps=400, delay=0.05)
    wait_until(lambda: running(job), 60, "the job to start")
    started = time.monotonic()
    job.cancel()
    job.wait(timeout=10)
    assert time.monotonic() - started < 10
    assert job.status is JobStatus.CANCELLED
    assert job.message == "cancelled"
    with pytest.raises(JobError, match="was cancelled"):
        job.result()
    job.cancel()  # cancelling a finished job does nothing
    assert job.refresh().status is JobStatus.CANCELLED


# -- other kernels ------------------------------------------------------------------------


def test_a_second_kernel_sees_the_job() -> None:
    job = sleep_job(steps=30, delay=0.1)
    code = (
        "import json; from shiftdesk.jobs import Job; "
        f"job = Job({job.id!r}); "
        "print(json.dumps({'status': job.status.value, 'owner': job.owner, "
        "'result': job.result(timeout=60) if job.finished else None}))"
    )
    early = json.loads(python(code))
    assert early["status"] in ("queued", "running")
    assert early["result"] is None
    assert job.result(timeout=60) == {"steps": 30}
    late = json.loads(python(code))
    assert late == {"status": "done", "owner": job.owner, "result": {"steps": 30}}


@pytest.fixture
def orphan_pids() -> Iterator[list[int]]:
    """Worker pids a test leaves behind; killed afterwards so nothing keeps running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_worker_killed_while_no_kernel_watches(orphan_pids: list[int]) -> None:
    """Kernel restart: the kernel that started the job is gone when the worker dies."""
    code = (
        "from shiftdesk.jobs import LocalBackend, submit_job; "
        "from shiftdesk.storage import get_database; "
        "job = submit_job('test.sleep', {'steps': 600, 'delay': 0.05}, "
        "backend=LocalBackend(get_database(), spare=False)); "
        "print(job.id)"
    )
    job_id = python(code).strip()
    job = Job(job_id)
    wait_until(lambda: running(job), 60, "the orphaned job to start")
    pid = job._record.pid
    assert pid is not None
    orphan_pids.append(pid)
    assert job.refresh().status is JobStatus.RUNNING  # alive: reconcile leaves it alone

    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not tracking.pid_alive(pid), 10, "the worker to die")

    reopened = Job(job_id).refresh()
    assert reopened.status is JobStatus.FAILED
    assert reopened.error is not None
    assert f"pid {pid}" in reopened.error and "without reporting a result" in reopened.error
    with pytest.raises(JobError, match="failed"):
        reopened.result()
    # and it shows as failed in the list too
    assert [(j.id, j.status) for j in list_jobs()] == [(job_id, JobStatus.FAILED)]


# -- permissions --------------------------------------------------------------------------

ALICE = Identity("alice")
BOB = Identity("bob")
ROOT = Identity("root", admin=True)


def test_other_users_cannot_see_a_job() -> None:
    job = submit_job("test.sleep", {"steps": 1, "delay": 0}, identity=ALICE)
    assert job.owner == "alice"
    assert job.result(timeout=60) == {"steps": 1}

    with pytest.raises(PermissionDenied, match="belongs to 'alice'"):
        Job(job.id, identity=BOB)
    assert list_jobs(identity=BOB) == []
    assert list_jobs(identity=BOB, all_users=True) == []  # not an admin: ignored
    assert [j.id for j in list_jobs(identity=ALICE)] == [job.id]

    assert list_jobs(identity=ROOT) == []  # admins see their own by default
    assert [j.id for j in list_jobs(identity=ROOT, all_users=True)] == [job.id]
    assert Job(job.id, identity=ROOT).result(timeout=10) == {"steps": 1}


def test_list_jobs_filters_by_kind_and_orders_newest_first() -> None:
    first = sleep_job(steps=1, delay=0)
    first.wait(timeout=60)
    second = sleep_job(steps=1, delay=0)
    second.wait(timeout=60)
    assert [j.id for j in list_jobs()] == [second.id, first.id]
    assert [j.id for j in list_jobs(limit=1)] == [second.id]
    assert list_jobs(kind="reflectometry.fit") == []
    assert len(list_jobs(kind="test.sleep")) == 2


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_job_round_trip_on_postgresql(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        job = submit_job("test.sleep", {"steps": 4, "delay": 0.05}, database=db)
        assert job.result(timeout=60) == {"steps": 4}
        again = Job(job.id, database=db)
        assert again.status is JobStatus.DONE
        assert again.progress == 1.0
        assert [j.id for j in list_jobs(database=db)] == [job.id]
        # the default (SQLite) database knows nothing of it
        assert list_jobs() == []
    finally:
        shiftdesk.jobs.shutdown_backends()
        db.dispose()
