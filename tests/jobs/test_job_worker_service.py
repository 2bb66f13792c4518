"""The ``workers`` backend and the job-worker service, with real processes.

The service runs as ``python -m shiftdesk.jobs.job_worker_service`` in a subprocess against a
temporary SQLite database and its own data folder (as the hub runs it); jobs are
submitted from the test process as a user, with ``backend="workers"``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shiftdesk import tracking
from shiftdesk.identity import Identity
from shiftdesk.jobs import Job, JobStatus, store, submit_job, workers_backend
from shiftdesk.jobs import job_worker_service as jws
from shiftdesk.storage import Database

SERVICE = (sys.executable, "-m", "shiftdesk.jobs.job_worker_service")
ALICE = Identity("alice")
BOB = Identity("bob")


class Service:
    """One job-worker service process; ``start()`` again after it died."""

    def __init__(self, url: str, folder: Path, slots: int) -> None:
        self.url = url
        self.folder = folder
        self.slots = slots
        self.output = folder / "service.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> Service:
        env = dict(os.environ, SHIFTDESK_DATABASE_URL=self.url, SHIFTDESK_DATA_DIR=str(self.folder))
        seen = self.text().count("job-worker service on")
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(
                [*SERVICE, "--slots", str(self.slots), "--poll", "0.1", "--no-spare"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.started.append(self.proc)
        wait_for(lambda: self.text().count("job-worker service on") > seen, 30, self.text)
        return self

    def text(self) -> str:
        try:
            return self.output.read_text()
        except OSError:
            return ""


def wait_for(check: Callable[[], object], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; {why()}")
        time.sleep(0.05)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")


@pytest.fixture
def service(db: Database, tmp_path: Path) -> Iterator[Callable[[int], Service]]:
    made: list[Service] = []

    def make(slots: int) -> Service:
        folder = tmp_path / "service"
        folder.mkdir(exist_ok=True)
        made.append(Service(db.url, folder, slots).start())
        return made[-1]

    yield make
    for svc in made:
        for proc in svc.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for record in store.list_jobs(db, Identity("admin", admin=True), all_users=True):
        if record.pid is not None and jws._is_worker(record.pid):
            os.kill(record.pid, signal.SIGKILL)


def submit(db: Database, who: Identity = ALICE, **spec: object) -> Job:
    return submit_job("test.sleep", dict(spec), backend="workers", database=db, identity=who)


def running(job: Job) -> bool:
    return job.refresh().status is JobStatus.RUNNING and job._record.pid is not None


def test_a_job_runs_on_the_service_as_its_owner(
    db: Database, service: Callable[[int], Service], tmp_path: Path
) -> None:
    svc = service(2)
    job = submit(db, BOB, steps=4, delay=0.05)
    assert job.backend == "workers"
    assert job.result(timeout=30) == {"steps": 4}
    assert job.owner == "bob"
    assert job._record.host == tracking.HOST
    assert jws.service_alive(db, folder=svc.folder / "job-workers")
    # a second service on the same host and data folder would adopt the first one's jobs
    env = dict(os.environ, SHIFTDESK_DATABASE_URL=db.url, SHIFTDESK_DATA_DIR=str(svc.folder))
    second = subprocess.run(
        [sys.executable, "-m", "shiftdesk.jobs.job_worker_service"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert second.returncode != 0
    assert "another job-worker service" in second.stderr


def test_jobs_wait_for_a_service_and_a_free_slot(
    db: Database, service: Callable[[int], Service]
) -> None:
    first = submit(db, steps=8, delay=0.05)
    second = submit(db, steps=8, delay=0.05)
    assert first.refresh().status is JobStatus.QUEUED
    assert first.message == workers_backend.WAITING
    service(1)
    assert first.result(timeout=30) == second.result(timeout=30) == {"steps": 8}
    assert first.started_at is not None and first.finished_at is not None
    assert second.started_at is not None
    assert second.started_at >= first.finished_at  # one slot: one after the other


def test_cancel_queued_and_running(db: Database, service: Callable[[int], Service]) -> None:
    service(1)
    long = submit(db, steps=400, delay=0.05)
    waiting = submit(db, steps=2)
    wait_for(lambda: running(long), 30, lambda: long.message)
    waiting.cancel()
    assert waiting.refresh().status is JobStatus.CANCELLED  # at once: nobody had taken it
    long.cancel()
    wait_for(lambda: long.refresh().finished, 15, lambda: long.message)
    assert long.status is JobStatus.CANCELLED
    worker = long._record.pid or 0
    wait_for(lambda: not tracking.pid_alive(worker), 10, lambda: f"worker {worker} still runs")


def test_a_killed_service_adopts_or_resumes_its_jobs(
    db: Database, service: Callable[[int], Service]
) -> None:
    svc = service(2)
    adopted = submit(db, steps=200, delay=0.05)  # long enough to outlive the restart
    orphan = submit(db, steps=40, delay=0.05)
    wait_for(lambda: running(adopted) and running(orphan), 30, lambda: svc.text())
    assert svc.proc is not None
    svc.proc.kill()
    svc.proc.wait()
    # while the service is down, the orphan's worker dies too (as in a machine-wide OOM)
    os.killpg(orphan._record.pid or 0, signal.SIGKILL)
    wait_for(lambda: not tracking.pid_alive(orphan._record.pid or 0), 10, lambda: "worker")
    svc.start()
    assert "adopted 1 running job(s), re-queued 1" in svc.text()
    assert adopted.result(timeout=40) == {"steps": 200}
    assert jws.RESUMED not in adopted.logs()
    assert orphan.result(timeout=30) == {"steps": 40}
    assert jws.RESUMED in orphan.logs()
    assert orphan.owner == "alice"


def test_sigterm_stops_cleanly_and_requeues(
    db: Database, service: Callable[[int], Service]
) -> None:
    svc = service(1)
    job = submit(db, steps=60, delay=0.05)
    wait_for(lambda: running(job), 30, lambda: svc.text())
    worker = job._record.pid or 0
    assert svc.proc is not None
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=20) == 0
    assert not tracking.pid_alive(worker)
    job.refresh()
    assert job.status is JobStatus.QUEUED
    assert job._record.host is None
    assert "1 job(s) back in the queue" in svc.text()
    assert jws.RESUMED not in job.logs()  # a clean stop does not count as a failed run
    svc.start()  # nothing was lost: the next service runs it
    assert job.result(timeout=30) == {"steps": 60}


def test_a_job_that_keeps_losing_its_service_fails_after_max_attempts(db: Database) -> None:
    job = submit(db, steps=1)
    for _run in range(jws.MAX_ATTEMPTS - 1):
        store.update_job(db, job.id, host=tracking.HOST, status="running")
        assert jws.requeue(db, job.id, "test", crashed=True) is JobStatus.QUEUED
    store.update_job(db, job.id, host=tracking.HOST, status="running")
    assert jws.requeue(db, job.id, "test", crashed=True) is JobStatus.FAILED
    assert f"started {jws.MAX_ATTEMPTS} times" in (job.refresh().error or "")


def test_bad_slots_is_one_clear_line() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "shiftdesk.jobs.job_worker_service", "--slots", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--slots" in lines[0] and "at least one" in lines[0]


def test_fit_panel_offers_workers_when_the_hub_runs_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shiftdesk_widgets.reflectometry.fit_panel import backend_choices

    monkeypatch.delenv(workers_backend.ENV_VAR, raising=False)
    assert "workers" not in [name for _label, name in backend_choices()[0]]
    monkeypatch.setenv(workers_backend.ENV_VAR, "1")
    assert "workers" in [name for _label, name in backend_choices()[0]]
