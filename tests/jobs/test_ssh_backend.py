"""The SSH backend against a real OpenSSH server on loopback (``ssh_server`` fixture).

The worker account cannot read this test's folders: specs, progress, logs and results
travel over SSH only. ``ssh_server.python`` is an interpreter that can import shiftdesk;
``/usr/bin/python3`` cannot.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests._sshd import SSHServer

from shiftdesk import tracking
from shiftdesk.errors import JobError
from shiftdesk.jobs import Job, JobStatus, end_session, get_backend, submit_job
from shiftdesk.jobs import store as job_store
from shiftdesk.jobs.ssh import SSHBackend
from shiftdesk.storage import get_database

HOSTILE = "x; rm -rf ~"
NUMBA_CACHE = "/tmp/shiftdesk-test-numba-sdworker"


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(0.05)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def configure(
    ssh_server: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., str]:
    """Write a settings file with one ssh backend ``worker`` (options overridable)."""

    def write(**overrides: Any) -> str:
        options: dict[str, Any] = {
            "type": "ssh",
            "host": ssh_server.host,
            "port": ssh_server.port,
            "user": ssh_server.user,
            "python": ssh_server.python,
            "bootstrap_key": str(ssh_server.admin_key),
            "known_hosts": str(ssh_server.known_hosts),
            "spare": False,
            "connect_timeout": 5,
        }
        options.update(overrides)
        lines = ["[backends.worker]"]
        env = options.pop("env", None)
        lines += [f"{k} = {toml_value(v)}" for k, v in options.items() if v is not None]
        if env:
            lines += ["[backends.worker.env]"] + [f"{k} = {toml_value(v)}" for k, v in env.items()]
        path = tmp_path / "settings.toml"
        path.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("SHIFTDESK_SETTINGS", str(path))
        return "worker"

    return write


def backend() -> SSHBackend:
    found = get_backend("worker", get_database())
    assert isinstance(found, SSHBackend)
    return found


def session_lines(server: SSHServer) -> list[str]:
    return [line for line in server.authorized_keys() if "shiftdesk-session-" in line]


def remote_pid_running(job: Job) -> int:
    wait_until(lambda: job.refresh().status is JobStatus.RUNNING, what="the job to run")
    record = job_store.read_job(job.id, job.database)
    assert record.pid is not None
    return record.pid


# -- jobs run remotely ---------------------------------------------------------------------


def test_job_runs_on_the_worker_with_a_session_key(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure()
    job = submit_job("test.sleep", {"steps": 3, "delay": 0.01}, title="remote", backend=name)
    assert job.result(timeout=60) == {"steps": 3}
    assert job.status is JobStatus.DONE and job.backend == "worker" and job.progress == 1.0
    record = job_store.read_job(job.id, job.database)
    assert record.host == ssh_server.host and record.pid is not None
    assert record.pid != os.getpid()
    # the remote process ran as the worker account, not as us
    assert job.metrics == {"step": 3.0}
    # a session key was installed, restricted to our address, with a marker
    lines = session_lines(ssh_server)
    assert len(lines) == 1
    assert lines[0].startswith('from="127.0.0.1",')
    assert "no-port-forwarding" in lines[0]
    key = backend().session_folder / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in job.logs()
    # the admin key is still there, untouched
    assert any("shiftdesk-test-admin" in line for line in ssh_server.authorized_keys())


def test_end_session_removes_only_the_session_key(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure()
    submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name).result(timeout=60)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOther someone"
    with ssh_server.authorized_keys_path.open("a") as handle:
        handle.write(other + "\n")
    before = session_lines(ssh_server)
    assert len(before) == 1
    folder = backend().session_folder
    end_session()
    assert session_lines(ssh_server) == []
    assert other in ssh_server.authorized_keys()
    assert any("shiftdesk-test-admin" in line for line in ssh_server.authorized_keys())
    assert not (folder / "id_ed25519").exists()
    # the next submission starts a new session with a new key
    submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name).result(timeout=60)
    after = session_lines(ssh_server)
    assert len(after) == 1 and after[0] != before[0]


def test_an_idle_session_key_expires(ssh_server: SSHServer, configure: Callable[..., str]) -> None:
    name = configure(session_idle_hours=0.0002)  # 0.72 s
    submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name).result(timeout=60)
    ssh = backend()
    assert len(session_lines(ssh_server)) == 1
    time.sleep(1.0)
    # (the remote process may take a moment to end after its result arrived)
    wait_until(ssh.expire_idle, what="the idle session key to be removed")
    assert session_lines(ssh_server) == []
    assert not (ssh.session_folder / "id_ed25519").exists()


def test_real_fit_with_the_demo_data(ssh_server: SSHServer, configure: Callable[..., str]) -> None:
    from shiftdesk.reflectometry import FitResult, load_data
    from shiftdesk.reflectometry.demo import demo_bytes, starting_problem

    marker = ssh_server.home / "marker"
    marker.write_text("still here")
    # numba's compile cache must outlive the test account's home, which is emptied
    # between tests; the value is quoted like every other remote argument
    name = configure(env={"NUMBA_CACHE_DIR": NUMBA_CACHE, "SHIFTDESK_NOTE": HOSTILE})
    # a data file and a title named like a shell command travel as JSON, never as a command
    problem = starting_problem(load_data(demo_bytes(), filename=HOSTILE))
    problem.title = HOSTILE
    job = problem.fit(method="lm", backend=name)
    result = job.result(timeout=120)
    assert isinstance(result, FitResult)
    assert job.backend == name and job.status is JobStatus.DONE
    assert result.converged and 0.5 < result.chi2 < 2.0
    assert "chi2" in job.metrics
    assert "with lm" in job.logs()
    film1 = result.problem.layers["film1"].thickness
    assert abs(film1.value - 577.6) < 5
    assert HOSTILE in job.title
    assert marker.read_text() == "still here"


def test_spare_worker_takes_the_next_job(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    name = configure(spare=True)
    first = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    first.result(timeout=60)
    ssh = backend()
    wait_until(lambda: ssh._spare is not None and ssh._spare.ready.is_set(), what="a spare")
    assert ssh._spare is not None
    spare_pid = ssh._spare.pid
    second = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    assert second.result(timeout=60) == {"steps": 1}
    # the warm spare launched the job's runner (a fork of it, so its imports were done)
    assert f"started by worker pid {spare_pid})" in second.logs()
    # logout stops the spare and no later job end brings a session key back
    wait_until(lambda: ssh._spare is not None, what="the next spare")
    end_session()
    time.sleep(0.5)
    assert session_lines(ssh_server) == [] and ssh._spare is None


# -- hostile names never reach a shell -----------------------------------------------------


def test_hostile_title_and_spec_are_harmless(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    marker = ssh_server.home / "marker"
    marker.write_text("still here")
    name = configure()
    job = submit_job(
        "test.sleep", {"steps": 1, "delay": 0, "name": HOSTILE}, title=HOSTILE, backend=name
    )
    assert job.result(timeout=60) == {"steps": 1}
    assert job.spec["name"] == HOSTILE
    assert marker.read_text() == "still here"


def test_hostile_python_setting_is_quoted(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    marker = ssh_server.home / "marker"
    marker.write_text("still here")
    name = configure(python=f"/nonexistent/python; touch ~/pwned; {HOSTILE}")
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match="was not found"):
        job.result(timeout=60)
    assert marker.read_text() == "still here"
    assert not (ssh_server.home / "pwned").exists()


def test_worker_that_dies_before_it_gets_the_job_fails_the_job(
    ssh_server: SSHServer, configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong python ends the remote process at once, often before the job is handed
    over; the job must fail with the reason, not stay queued at "connecting"."""
    from shiftdesk.jobs.ssh import RemoteProcess

    original = RemoteProcess.bind

    def bind_late(self: RemoteProcess, *args: Any, **kwargs: Any) -> bool:
        assert self.ended.wait(30), "the remote process should have ended by itself"
        wait_until(lambda: self._end_code is not None, 10, "the reader to see the end")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RemoteProcess, "bind", bind_late)
    name = configure(python="/nonexistent/python3")
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match="was not found"):
        job.result(timeout=60)


# -- bad hosts and bad workers -------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_host_fails_the_job_clearly(configure: Callable[..., str]) -> None:
    name = configure(port=_closed_port())
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match="cannot reach the SSH worker"):
        job.result(timeout=30)
    assert job.status is JobStatus.FAILED and "host/port" in (job.error or "")


def test_refused_login_fails_the_job_clearly(configure: Callable[..., str], tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    name = configure(bootstrap_key=str(stranger))
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match="refused the login"):
        job.result(timeout=30)


def test_unknown_host_key_is_refused_unless_auto_add(
    ssh_server: SSHServer, configure: Callable[..., str], tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    name = configure(known_hosts=str(empty))
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match=r"host key .* is unknown"):
        job.result(timeout=30)
    assert session_lines(ssh_server) == []  # nothing was installed
    from shiftdesk.jobs import shutdown_backends

    shutdown_backends()
    configure(known_hosts=str(empty), auto_add_host_keys=True)
    job = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    assert job.result(timeout=60) == {"steps": 1}
    assert ssh_server.host_key_line.split()[2] in empty.read_text()


def test_worker_python_without_shiftdesk(configure: Callable[..., str]) -> None:
    name = configure(python="/usr/bin/python3")
    job = submit_job("test.sleep", {"steps": 1}, backend=name)
    with pytest.raises(JobError, match="cannot import shiftdesk"):
        job.result(timeout=30)
    assert "/usr/bin/python3" in (job.error or "")


def test_remote_process_that_vanishes_fails_the_job(configure: Callable[..., str]) -> None:
    name = configure()
    job = submit_job("test.sleep", {"steps": 400, "delay": 0.05}, backend=name)
    pid = remote_pid_running(job)
    os.kill(pid, signal.SIGKILL)  # the "remote" host is this machine
    with pytest.raises(JobError, match="ended without reporting a result"):
        job.result(timeout=30)
    assert job.status is JobStatus.FAILED


def test_cancel_kills_the_remote_process(configure: Callable[..., str]) -> None:
    name = configure()
    job = submit_job("test.sleep", {"steps": 400, "delay": 0.05}, backend=name)
    pid = remote_pid_running(job)
    job.cancel()
    job.wait(timeout=30)
    assert job.status is JobStatus.CANCELLED
    wait_until(lambda: not tracking.pid_alive(pid), what="the remote process to end")
    with pytest.raises(JobError, match="cancelled"):
        job.result()
