"""Named backends from the settings file, and clear errors for a wrong file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiftdesk.jobs import LocalBackend, get_backend, submit_job
from shiftdesk.jobs.heartbeat import REMOTE_STALE
from shiftdesk.settings import SettingsError, load_settings, settings_path
from shiftdesk.storage import data_dir, get_database


def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(path))
    return path


def test_no_settings_file_means_local_only() -> None:
    assert settings_path() == data_dir() / "settings.toml"
    assert load_settings().backends == {}
    assert isinstance(get_backend("local", get_database()), LocalBackend)
    with pytest.raises(KeyError, match=r"unknown job backend 'ssh'.*\[backends\.ssh\]"):
        get_backend("ssh", get_database())


def test_settings_in_the_data_folder_are_read() -> None:
    (data_dir() / "settings.toml").write_text('[backends.mine]\ntype = "local"\nspare = false\n')
    settings = load_settings()
    assert settings.path == data_dir() / "settings.toml"
    assert settings.backends["mine"].type == "local"
    assert settings.backends["mine"].options == {"spare": False}


def test_a_named_local_backend_runs_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, monkeypatch, '[backends.mine]\ntype = "local"\nspare = false\n')
    job = submit_job("test.sleep", {"steps": 2, "delay": 0}, backend="mine")
    assert job.result(timeout=60) == {"steps": 2}
    assert job.backend == "mine"
    backend = get_backend("mine", get_database())
    assert isinstance(backend, LocalBackend) and not backend.use_spare


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            '[backends.w]\ntype = "ssh"\nhost = "h"\nuser = "u"\npython = "p"\n'
            'bootstrap_key = "k"\nhots = "typo"\n',
            r"unknown key 'hots' in \[backends\.w\] in .*settings\.toml",
        ),
        ('[backend.w]\ntype = "local"\n', r"unknown key 'backend' in .*settings\.toml"),
        ('[backends.w]\ntype = "slurm"\n', r"\[backends\.w\] .*needs type = one of"),
        ('[backends.w]\ntype = "dask"\n', r"\[backends\.w\] .* is missing 'address'"),
        (
            '[backends.w]\ntype = "dask"\naddress = 8786\n',
            r"'address' in \[backends\.w\].*must be str",
        ),
        ('[backends.w]\ntype = "local"\nspare = 1\n', r"'spare' .* must be bool"),
        (
            '[backends.w]\ntype = "dask"\naddress = "tcp://x:1"\nconnect_timeout = true\n',
            r"'connect_timeout' .* must be int or float",
        ),
        ("[backends.w\n", r"is not valid TOML"),
        (
            '[backends.w]\ntype = "ssh"\nhost = "h"\nuser = "u"\npython = "p"\n'
            'bootstrap_key = "k"\nenv = { "A;B" = "1" }\n',
            r"'A;B' is not an environment variable name",
        ),
        (
            '[backends.w]\ntype = "ssh"\nhost = "h"\nuser = "u"\npython = "p"\n'
            'bootstrap_key = "k"\nenv = { A = 1 }\n',
            r"env\.A in \[backends\.w\] .* must be a string",
        ),
    ],
)
def test_wrong_settings_are_refused_with_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, match: str
) -> None:
    write(tmp_path, monkeypatch, text)
    with pytest.raises(SettingsError, match=match):
        load_settings()
    with pytest.raises(SettingsError, match=match):
        submit_job("test.sleep", {"steps": 1}, backend="w")


def test_a_named_settings_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIFTDESK_SETTINGS", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match=r"missing\.toml does not exist"):
        load_settings()


def _remote_job(heartbeat_age: float, cancel: bool = False) -> str:
    from datetime import timedelta

    from shiftdesk.jobs import store
    from shiftdesk.storage.models import utcnow

    db = get_database()
    job_id = store.create_job("test.sleep", {"steps": 1}, backend="cluster", database=db)
    beat = utcnow() - timedelta(seconds=heartbeat_age)
    store.update_job(
        db, job_id, status="running", started_at=beat, heartbeat_at=beat, cancel_requested=cancel
    )
    return job_id


def test_remote_jobs_nobody_follows_fail_after_the_heartbeat_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shiftdesk.jobs import Job, JobStatus

    write(tmp_path, monkeypatch, '[backends.cluster]\ntype = "dask"\naddress = "tcp://x:1"\n')
    followed = Job(_remote_job(heartbeat_age=5)).refresh()
    orphan = Job(_remote_job(heartbeat_age=REMOTE_STALE + 60)).refresh()
    cancelled = Job(_remote_job(heartbeat_age=REMOTE_STALE + 60, cancel=True)).refresh()
    assert followed.status is JobStatus.RUNNING
    assert orphan.status is JobStatus.FAILED
    assert "no kernel has followed this cluster job" in (orphan.error or "")
    assert cancelled.status is JobStatus.CANCELLED


def test_jobs_of_backends_plugged_in_by_code_are_left_alone() -> None:
    from datetime import timedelta

    from shiftdesk.jobs import Job, JobStatus, store
    from shiftdesk.storage.models import utcnow

    db = get_database()
    job_id = store.create_job("test.sleep", {"steps": 1}, backend="custom", database=db)
    old = utcnow() - timedelta(seconds=REMOTE_STALE * 2)
    store.update_job(db, job_id, status="running", heartbeat_at=old)
    assert Job(job_id).refresh().status is JobStatus.RUNNING
