"""The Dask backend on a real LocalCluster (two worker processes on loopback)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shiftdesk.errors import JobError
from shiftdesk.identity import Identity
from shiftdesk.jobs import JobStatus, list_jobs, shutdown_backends, submit_job


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cluster(port: int = 0, n_workers: int = 2):  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        scheduler_port=port,
        dashboard_address=":0",  # a free port: two clusters never clash on 8787
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """One two-worker cluster for the module (worker processes take seconds to start)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.close()


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str) -> str:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[backends.cluster]\ntype = "dask"\naddress = "{address}"\nconnect_timeout = 3\n'
    )
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(path))
    return "cluster"


@pytest.fixture
def backend_name(cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield configure(tmp_path, monkeypatch, cluster.scheduler_address)  # type: ignore[attr-defined]
    shutdown_backends()


def test_job_runs_on_the_cluster(backend_name: str) -> None:
    job = submit_job("test.sleep", {"steps": 3, "delay": 0.01}, title="d", backend=backend_name)
    assert job.result(timeout=60) == {"steps": 3}
    assert job.status is JobStatus.DONE and job.backend == "cluster" and job.progress == 1.0
    assert job.started_at is not None and job.runtime is not None
    record_host = job._record.host or ""
    assert record_host.startswith("tcp://127.0.0.1:")


def test_progress_comes_back_while_running(backend_name: str) -> None:
    job = submit_job("test.sleep", {"steps": 60, "delay": 0.05}, backend=backend_name)
    wait_until(lambda: 0 < job.refresh().progress < 1, what="progress from the worker")
    assert job.status is JobStatus.RUNNING
    assert job.message.startswith("step ")
    assert job.result(timeout=60) == {"steps": 60}


def test_real_fit_and_log(backend_name: str) -> None:
    from shiftdesk.reflectometry import FitResult
    from shiftdesk.reflectometry.demo import starting_problem

    job = starting_problem().fit(method="lm", backend=backend_name)
    result = job.result(timeout=120)
    assert isinstance(result, FitResult)
    assert result.converged and 0.5 < result.chi2 < 2.0
    assert "with lm" in job.logs() and "chi2 =" in job.logs()
    assert abs(result.problem.layers["film1"].thickness.value - 577.6) < 5


def test_task_failure_is_reported(backend_name: str) -> None:
    job = submit_job("test.sleep", {"steps": 4, "delay": 0, "fail": True}, backend=backend_name)
    with pytest.raises(JobError, match="the task failed on purpose"):
        job.result(timeout=60)
    assert "RuntimeError" in job.logs()


def test_cancel(backend_name: str) -> None:
    job = submit_job("test.sleep", {"steps": 400, "delay": 0.05}, backend=backend_name)
    wait_until(lambda: job.refresh().status is JobStatus.RUNNING, what="the job to run")
    job.cancel()
    job.wait(timeout=30)
    assert job.status is JobStatus.CANCELLED


def test_other_users_do_not_see_my_dask_jobs(backend_name: str) -> None:
    mine = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=backend_name)
    mine.result(timeout=60)
    assert [j.id for j in list_jobs()] == [mine.id]
    assert list_jobs(identity=Identity("somebody-else")) == []


def test_unreachable_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = configure(tmp_path, monkeypatch, f"tcp://127.0.0.1:{free_port()}")
    try:
        job = submit_job("test.sleep", {"steps": 1}, backend=name)
        with pytest.raises(JobError, match="cannot reach the Dask scheduler"):
            job.result(timeout=60)
    finally:
        shutdown_backends()


def test_scheduler_lost_mid_fit_then_resubmitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    name = configure(tmp_path, monkeypatch, f"tcp://127.0.0.1:{port}")
    doomed = start_cluster(port, n_workers=1)
    try:
        job = submit_job("test.sleep", {"steps": 400, "delay": 0.05}, backend=name)
        wait_until(lambda: job.refresh().status is JobStatus.RUNNING, what="the job to run")
    finally:
        doomed.close()
    with pytest.raises(JobError, match="lost the connection to the Dask scheduler"):
        job.result(timeout=60)
    assert job.status is JobStatus.FAILED
    revived = start_cluster(port, n_workers=1)
    try:
        again = job.resubmit()
        assert again.id != job.id and again.spec == job.spec and again.backend == name
        # running again shows the backend reconnected to the scheduler
        wait_until(lambda: again.refresh().status is JobStatus.RUNNING, what="the rerun")
        again.cancel()
        again.wait(timeout=60)
        assert again.status is JobStatus.CANCELLED
    finally:
        shutdown_backends()
        revived.close()
