"""Shared fixtures: an isolated data folder for every test and a real, throwaway PostgreSQL.

Every test runs with ``SHIFTDESK_DATA_DIR`` pointing at its own empty folder and without
the environment variables that would point shiftdesk at a real database or a real user,
so no test ever touches a developer's own data.

``postgres_server`` starts a private PostgreSQL server (``initdb`` + ``pg_ctl``) once per
session; ``postgres_url`` gives each test its own fresh database on it. Without the
PostgreSQL binaries those tests are skipped, or fail in CI (see ``tests/_services.py``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._services import service_missing
from tests._sshd import SSHDUnavailable, SSHServer, start_sshd


def pytest_sessionstart(session: pytest.Session) -> None:
    # The test domain (tests/plugins) holds the job kinds that exercise the job machinery
    # and the smallest real domain; scripts/test.sh installs it for the run only.
    from importlib.metadata import entry_points

    if not any(ep.name == "test" for ep in entry_points(group="shiftdesk.domains")):
        pytest.exit(
            "the test domain is not installed: run scripts/test.sh, or "
            ".venv/bin/python -m pip install --no-deps -e tests/plugins/shiftdesk-testdomain "
            "(and uninstall shiftdesk-testdomain before serving a hub or the demo from "
            "this environment: its table would be added to their databases)",
            returncode=4,
        )


PG_USER = "postgres"


@pytest.fixture(autouse=True)
def _isolated_shiftdesk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point shiftdesk at a fresh data folder and forget cached databases around each test."""
    from shiftdesk.storage import reset_default_databases

    data = tmp_path / "shiftdesk-data"
    data.mkdir()
    monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(data))
    for name in (
        "SHIFTDESK_DATABASE_URL",
        "JUPYTERHUB_USER",
        "SHIFTDESK_ADMINS",
        "SHIFTDESK_GROUPS",
        "SHIFTDESK_SETTINGS",
        "SHIFTDESK_EXPERIMENTS",
        "SHIFTDESK_DATA_SERVER_URL",
        "SHIFTDESK_HUB_RUN",
        "SHIFTDESK_DAQ_HUB_DEMO",
    ):
        monkeypatch.delenv(name, raising=False)
    reset_default_databases()
    yield data
    reset_default_databases()


# -- PostgreSQL ---------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    """The folder with initdb/pg_ctl/pg_isready: newest Debian install, else on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PgRunner:
    """Runs PostgreSQL tools as an unprivileged user: postgres refuses to run as root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0

    def prefix(self) -> list[str]:
        return ["runuser", "-u", PG_USER, "--"] if self.as_root else []

    def run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix(), str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _check(result: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if result.returncode == 0:
        return
    details = f"{result.stdout}\n{result.stderr}".strip()
    if log is not None and log.exists():
        details += "\n--- server log ---\n" + log.read_text(errors="replace")
    pytest.fail(f"{what} failed (exit code {result.returncode}):\n{details}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL server for this test session and yield its base URL.

    The URL (``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres``) points at the
    maintenance database; use :func:`postgres_url` for a database of your own.
    """
    bindir = _pg_bindir()
    if bindir is None:
        service_missing(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: run "
            "`bash scripts/setup.sh` or `apt-get install postgresql`"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        service_missing('psycopg is not installed: pip install -e ".[postgres]"')

    runner = _PgRunner(bindir)
    if runner.as_root:
        if shutil.which("runuser") is None:
            service_missing("running as root needs `runuser` to start PostgreSQL as `postgres`")
        try:
            import pwd

            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            service_missing(
                "running as root, PostgreSQL must run as the OS user `postgres`, which does "
                "not exist: apt-get install postgresql creates it"
            )

    base = Path(tempfile.mkdtemp(prefix="shiftdesk-pg-"))
    datadir = base / "data"
    sockdir = base / "sock"
    log = base / "server.log"
    sockdir.mkdir()
    if runner.as_root:
        for path in (base, sockdir):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    started = False
    try:
        _check(
            runner.run(
                "initdb",
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                PG_USER,
                "-E",
                "UTF8",
                "--no-sync",
                timeout=120,
            ),
            "initdb",
        )
        options = (
            f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        result = runner.run(
            "pg_ctl", "start", "-D", str(datadir), "-l", str(log), "-w", "-t", "60", "-o", options
        )
        started = result.returncode == 0
        _check(result, "pg_ctl start", log)
        deadline = time.monotonic() + 30
        while True:
            ready = runner.run("pg_isready", "-h", "127.0.0.1", "-p", str(port), "-t", "2")
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                _check(ready, "waiting for PostgreSQL (pg_isready)", log)
            time.sleep(0.2)
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/postgres"
    finally:
        if started or datadir.joinpath("postmaster.pid").exists():
            runner.run("pg_ctl", "stop", "-D", str(datadir), "-m", "fast", "-w", timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _libpq_url(sqlalchemy_url: str) -> str:
    """psycopg wants a plain libpq URL, without SQLAlchemy's ``+psycopg`` driver part."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    from shiftdesk.storage import reset_default_databases

    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(_libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        reset_default_databases()
        with psycopg.connect(_libpq_url(postgres_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- OpenSSH ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sshd_session() -> Iterator[SSHServer]:
    """A real sshd on a loopback port for the whole run (see ``tests/_sshd.py``)."""
    try:
        server = start_sshd()
    except SSHDUnavailable as exc:
        service_missing(str(exc))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def ssh_server(sshd_session: SSHServer) -> SSHServer:
    """The session's sshd, running, with the test account reset to a clean state."""
    sshd_session.start()
    sshd_session.reset()
    return sshd_session
