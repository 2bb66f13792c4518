"""SSH jobs run detached on the worker: they outlive the kernel that submitted them.

"The kernel goes away" is ``shutdown_backends()``: the SSH connection closes and no
thread of this process follows the job any more. A fresh backend instance (as in a new
kernel of the same user) then re-attaches through ``Job.refresh()``/``wait()``/
``result()``/``cancel()``. The worker is this machine, so the tests see the runner's pid
and its job folder in the worker account's home.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import tests.jobs.test_ssh_backend as ssh_tests
from tests._sshd import SSHServer
from tests.jobs.test_ssh_backend import HOSTILE, backend, remote_pid_running, wait_until

from shiftdesk import tracking
from shiftdesk.errors import JobError
from shiftdesk.jobs import Job, JobStatus, shutdown_backends, submit_job
from shiftdesk.jobs.backend import WATCHED
from shiftdesk.storage import get_database

# the settings fixture of the SSH backend tests (one ssh backend named "worker")
configure = ssh_tests.configure
LONG = {"steps": 400, "delay": 0.05}


def job_folder(server: SSHServer, job: Job) -> Path:
    return server.home / ".shiftdesk" / "jobs" / job.id


def remote_step(server: SSHServer, job: Job) -> float:
    """The step the runner last wrote to its status file (read as root)."""
    try:
        status = json.loads((job_folder(server, job) / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return 0.0
    return float(status.get("metrics", {}).get("step", 0.0))


def test_job_survives_the_kernel_and_a_new_one_gets_the_result(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure()
    job = submit_job("test.sleep", {"steps": 40, "delay": 0.05}, backend=name)
    pid = remote_pid_running(job)
    shutdown_backends()  # the kernel goes away: connection closed, nobody follows
    assert job.id not in WATCHED
    step = remote_step(ssh_server, job)
    wait_until(lambda: remote_step(ssh_server, job) > step, what="the runner to go on")
    assert tracking.pid_alive(pid)
    # the job row was not failed meanwhile, and a fresh backend picks the job up
    again = Job(job.id, get_database())
    assert again.status is not JobStatus.FAILED
    assert again.result(timeout=60) == {"steps": 40}
    assert again.status is JobStatus.DONE and again.metrics == {"step": 40.0}
    assert "started by worker pid" in again.logs()
    # the folder on the worker is gone once the result is stored; the log stayed here
    wait_until(lambda: not job_folder(ssh_server, job).exists(), what="the folder removal")
    assert backend() is not None


def test_cancel_a_detached_job_from_a_fresh_backend(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure()
    job = submit_job("test.sleep", LONG, title=HOSTILE, backend=name)
    pid = remote_pid_running(job)
    shutdown_backends()
    assert tracking.pid_alive(pid)
    Job(job.id, get_database()).cancel()
    again = Job(job.id, get_database()).wait(timeout=30)
    assert again.status is JobStatus.CANCELLED
    wait_until(lambda: not tracking.pid_alive(pid), what="the runner to stop")
    wait_until(lambda: not job_folder(ssh_server, job).exists(), what="the folder removal")
    with pytest.raises(JobError, match="cancelled"):
        again.result()


def test_vanished_runner_of_a_detached_job_is_reported(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure()
    job = submit_job("test.sleep", LONG, backend=name)
    pid = remote_pid_running(job)
    shutdown_backends()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not tracking.pid_alive(pid), what="the runner to die")
    again = Job(job.id, get_database())
    with pytest.raises(JobError, match=rf"pid {pid} .*ended without reporting a result"):
        again.result(timeout=30)
    assert again.status is JobStatus.FAILED
    assert "killed or crashed" in (again.error or "")
    wait_until(lambda: not job_folder(ssh_server, job).exists(), what="the folder removal")
