"""The first remote job of a session: warming ahead, the spare on its way, numba's cache.

Against the real OpenSSH server on loopback (``ssh_server``), like the other SSH tests:
the worker is this machine, so the tests can look at the worker processes (their
environment in ``/proc``) and at the worker account's home. The last tests need no sshd:
the worker's choice of numba cache folder, and warming with bad settings.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tests.jobs.test_ssh_backend as ssh_tests
from tests._sshd import SSHServer
from tests.jobs.test_ssh_backend import (
    NUMBA_CACHE,
    backend,
    remote_pid_running,
    session_lines,
    wait_until,
)

from shiftdesk.jobs import JobStatus, ssh_keys, submit_job
from shiftdesk.jobs import ssh as ssh_module
from shiftdesk.jobs.remote import default_numba_cache, prepare_numba_cache
from shiftdesk.jobs.ssh import RemoteProcess, SSHBackend, SSHConfig
from shiftdesk.jobs.ssh_warm import warm_backends
from shiftdesk.settings import load_settings
from shiftdesk.storage import get_database

# the settings fixture of the SSH backend tests (one ssh backend named "worker")
configure = ssh_tests.configure
LONG = {"steps": 400, "delay": 0.05}
#: numba's cache outlives the test account's home (emptied between tests)
KEEP_NUMBA = {"NUMBA_CACHE_DIR": NUMBA_CACHE}


class Recorder:
    """Counts the backend's logins, key installs and worker processes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, spawn_delay: float = 0.0) -> None:
        self.logins: list[str] = []
        self.installs = 0
        self.spawned: list[RemoteProcess] = []
        open_client, install_key = ssh_module.open_client, ssh_keys.install_key
        spawn = SSHBackend._spawn

        def counting_open(cfg: SSHConfig, pkey: Any, what: str) -> Any:
            self.logins.append(what)
            return open_client(cfg, pkey, what)

        def counting_install(*args: Any) -> None:
            self.installs += 1
            install_key(*args)

        def recording_spawn(backend: SSHBackend) -> RemoteProcess:
            time.sleep(spawn_delay)
            proc = spawn(backend)
            self.spawned.append(proc)
            return proc

        monkeypatch.setattr(ssh_module, "open_client", counting_open)
        monkeypatch.setattr(ssh_keys, "install_key", counting_install)
        monkeypatch.setattr(SSHBackend, "_spawn", recording_spawn)


def runner_environment(pid: int) -> dict[str, str]:
    """The environment of a worker process (this machine is the worker; we are root)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


# -- warming when the user's server starts ---------------------------------------------


def test_after_warming_the_first_job_goes_to_the_ready_spare(
    ssh_server: SSHServer, configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = configure(spare=True, env=KEEP_NUMBA)
    calls = Recorder(monkeypatch)
    assert warm_backends() == [name]
    ssh = backend()
    wait_until(lambda: ssh._spare is not None and ssh._spare.ready.is_set(), 120, "a warm spare")
    spare = ssh._spare
    assert spare is not None and spare.pid is not None
    # the session key is made and installed before any job: private, restricted, once
    assert calls.installs == 1 and calls.logins[-1] == "session key"
    assert len(session_lines(ssh_server)) == 1
    key = ssh.session_folder / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # the spare imported every kind's modules ahead (the fit's too)
    assert {"refl1d.names", "bumps.fitters"} <= set(spare.preloaded)
    logins = len(calls.logins)

    job = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    assert job.result(timeout=60) == {"steps": 1}
    # taken by the warm spare: no new login, no key install, no process of its own
    assert f"started by worker pid {spare.pid})" in job.logs()
    assert len(calls.logins) == logins and calls.installs == 1
    assert calls.spawned[0] is spare
    assert len(session_lines(ssh_server)) == 1


def test_a_job_submitted_while_the_spare_is_on_its_way_waits_for_it(
    ssh_server: SSHServer, configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = configure(spare=True, env=KEEP_NUMBA)
    calls = Recorder(monkeypatch, spawn_delay=1.0)  # a slow worker: the job comes first
    assert warm_backends() == [name]
    job = submit_job("test.sleep", LONG, backend=name)
    remote_pid_running(job)
    # one process: the spare the warm-up started took the job, none was started for it
    assert len(calls.spawned) == 1
    wait_until(lambda: "started by worker pid" in job.logs(), what="the runner's first line")
    assert f"started by worker pid {calls.spawned[0].pid})" in job.logs()
    job.cancel()
    job.wait(timeout=30)


def test_backends_without_a_spare_are_not_warmed(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    configure(spare=False)
    assert warm_backends() == []
    time.sleep(0.5)
    assert session_lines(ssh_server) == []


def test_the_hub_warm_kernels_warm_the_ssh_backends(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    from shiftdesk.hub.warm_kernels import DEFAULT_WARM_CODE

    name = configure(spare=True, env=KEEP_NUMBA)
    # what a pooled kernel runs first (the dashboards' preload after it is not needed here)
    lines = [line for line in DEFAULT_WARM_CODE.splitlines() if "ssh_warm" in line]
    assert lines, DEFAULT_WARM_CODE
    exec("\n".join(lines), {})
    ssh = backend()
    assert ssh.name == name
    wait_until(lambda: ssh._spare is not None and ssh._spare.ready.is_set(), 120, "a warm spare")
    assert len(session_lines(ssh_server)) == 1


def test_kernels_starting_a_session_at_once_make_one_key(
    ssh_server: SSHServer, configure: Callable[..., str]
) -> None:
    """A warm kernel and a notebook's kernel of the same user share the session key."""
    configure()
    settings = load_settings().backends["worker"]
    kernels = [SSHBackend.from_settings(settings, get_database()) for _ in range(3)]
    start = threading.Barrier(len(kernels))
    errors: list[BaseException] = []

    def connect(kernel: SSHBackend) -> None:
        start.wait()
        try:
            kernel.connect()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(k,)) for k in kernels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert len(session_lines(ssh_server)) == 1
        assert len({k._session.marker for k in kernels if k._session is not None}) == 1
    finally:
        kernels[0].end_session()
        for kernel in kernels:
            kernel.close()
    assert session_lines(ssh_server) == []


# -- a process started for one job ------------------------------------------------------


def test_a_process_started_for_a_job_imports_only_what_its_kind_needs(
    configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = configure(spare=False)
    calls = Recorder(monkeypatch)
    job = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    assert job.result(timeout=60) == {"steps": 1}
    (proc,) = calls.spawned
    assert proc.ready.is_set()
    # test.sleep preloads nothing: no refl1d, bumps or jsonschema before the job started
    assert proc.preloaded == []


# -- numba's compile cache on the worker ---------------------------------------------------


def test_the_configured_numba_cache_reaches_the_worker(
    configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = configure(env=KEEP_NUMBA)
    calls = Recorder(monkeypatch)
    job = submit_job("test.sleep", LONG, backend=name)
    pid = remote_pid_running(job)
    assert runner_environment(pid)["NUMBA_CACHE_DIR"] == NUMBA_CACHE
    assert calls.spawned[0].numba_cache == NUMBA_CACHE
    job.cancel()
    job.wait(timeout=30)


def test_by_default_the_worker_keeps_numba_s_cache_in_its_home(
    ssh_server: SSHServer, configure: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = configure()
    calls = Recorder(monkeypatch)
    job = submit_job("test.sleep", LONG, backend=name)
    pid = remote_pid_running(job)
    folder = ssh_server.home / ".cache" / "numba"
    # (set by the worker itself, so not in /proc/<pid>/environ, which is the exec's)
    assert calls.spawned[0].numba_cache == str(folder)
    assert pid != calls.spawned[0].pid
    info = folder.stat()
    assert info.st_uid == ssh_server.uid and not info.st_mode & 0o022
    assert "numba" not in job.logs()  # no warning
    job.cancel()
    job.wait(timeout=30)


def test_an_unusable_numba_cache_is_logged_and_replaced(
    ssh_server: SSHServer,
    configure: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    forbidden = tmp_path / "numba"  # under root's 0700 tmp folder: the worker cannot
    name = configure(env={"NUMBA_CACHE_DIR": str(forbidden)})
    calls = Recorder(monkeypatch)
    caplog.set_level("WARNING", logger="shiftdesk.jobs.ssh")
    job = submit_job("test.sleep", {"steps": 1, "delay": 0}, backend=name)
    assert job.result(timeout=60) == {"steps": 1}  # the job runs anyway
    default = str(ssh_server.home / ".cache" / "numba")
    assert calls.spawned[0].numba_cache == default
    # said in the job's log and in this kernel's log, with what to fix
    for text in (job.logs(), caplog.text):
        assert f"NUMBA_CACHE_DIR={forbidden}" in text
        assert "cannot be used" in text and f"using {default} instead" in text
        assert "env.NUMBA_CACHE_DIR" in text
    assert job.status is JobStatus.DONE


# -- the worker's choice of folder, without sshd ------------------------------------------


def test_numba_cache_choice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env: dict[str, str] = {}
    folder, warnings = prepare_numba_cache(env, home)
    assert folder == str(home / ".cache" / "numba") == env["NUMBA_CACHE_DIR"]
    assert warnings == [] and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert default_numba_cache({"XDG_CACHE_HOME": "/var/cache/x"}, home) == Path(
        "/var/cache/x/numba"
    )

    configured = tmp_path / "scratch" / "numba"
    env = {"NUMBA_CACHE_DIR": str(configured)}
    assert prepare_numba_cache(env, home) == (str(configured), [])
    assert configured.is_dir()

    env = {"NUMBA_CACHE_DIR": "relative/numba"}  # taken from the account's home
    assert prepare_numba_cache(env, home)[0] == str(home / "relative" / "numba")


@pytest.mark.parametrize("problem", ["not a folder", "writable by other accounts"])
def test_an_unusable_numba_cache_falls_back_with_a_warning(tmp_path: Path, problem: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if problem == "not a folder":
        (tmp_path / "file").write_text("")
        bad = tmp_path / "file" / "numba"  # mkdir fails: a file is in the way
    else:
        bad = tmp_path / "shared"
        bad.mkdir()
        bad.chmod(0o777)  # numba loads pickles from it: anyone could plant one
    env = {"NUMBA_CACHE_DIR": str(bad)}
    folder, warnings = prepare_numba_cache(env, home)
    assert folder == str(home / ".cache" / "numba") == env["NUMBA_CACHE_DIR"]
    (warning,) = warnings
    assert f"NUMBA_CACHE_DIR={bad}" in warning and "cannot be used" in warning
    if problem == "writable by other accounts":
        assert "writable by other accounts" in warning


def test_no_usable_numba_cache_at_all_is_said(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("")  # not a folder: nothing can be made under it
    env = {"NUMBA_CACHE_DIR": "/proc/no-such-place"}
    folder, warnings = prepare_numba_cache(env, home)
    assert folder is None and "NUMBA_CACHE_DIR" not in env
    assert "every new worker process may compile" in warnings[-1]


def test_the_remote_worker_chooses_the_cache_before_numba_is_imported() -> None:
    """numba reads NUMBA_CACHE_DIR once, when first imported: the worker's own imports
    (and the job kinds' list) must not import it before the folder is chosen."""
    code = (
        "import sys, shiftdesk.jobs.remote as r\n"
        "from shiftdesk.jobs.tasks import preload_modules\n"
        "preload_modules()\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numba_uses_the_folder_the_worker_chose(tmp_path: Path) -> None:
    code = (
        "import shiftdesk.jobs.remote as r\n"
        "r.prepare_numba_cache()\n"
        "import numba\n"
        "print(numba.config.CACHE_DIR)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == str(tmp_path / ".cache" / "numba")


def test_warming_with_broken_settings_logs_and_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[backends.worker]\ntype = 'ssh'\nhots = 'typo'\n")
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(settings))
    caplog.set_level("WARNING", logger="shiftdesk.jobs.ssh_warm")
    assert warm_backends() == []
    assert "not warmed" in caplog.text and "hots" in caplog.text
