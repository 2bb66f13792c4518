"""Start and stop a hub deployment: checks first, then JupyterHub in the foreground.

Everything the hub starts (proxy, user servers, kernels, services) carries the run's
marker in its environment (``SHIFTDESK_HUB_RUN``). After JupyterHub exits, the run's
processes get a few seconds to exit by themselves (kernels follow their server out);
any still carrying the marker then is stopped, so nothing is orphaned and no port stays
taken even when a user server ignores its shutdown.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

from shiftdesk.hub.boundary import HubBoundary
from shiftdesk.hub.config import (
    RUN_MARKER,
    SERVICE_SLOTS,
    RunFolder,
    find_proxy,
    free_port,
    service_command,
    write_run_folder,
)
from shiftdesk.hub.config import _venv_bin as venv_bin
from shiftdesk.hub.settings import HubSettings, HubStartError
from shiftdesk.tracking import pid_alive as _alive

# -- checks before start ---------------------------------------------------------------------


def check_port_free(ip: str, port: int, what: str) -> None:
    """Raise :class:`HubStartError` when ``ip:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            reason = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise HubStartError(
                f"cannot listen on {ip}:{port} ({what}): {reason}. Stop what uses it or "
                "choose another port."
            ) from exc


def _with_connect_timeout(url: str, seconds: int = 10) -> str:
    """A PostgreSQL URL that gives up connecting after ``seconds`` (libpq waits forever)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict({"connect_timeout": str(seconds)}).render_as_string(
        hide_password=False
    )


def check_database(settings: HubSettings) -> str:
    """Open the shiftdesk database the user servers will share; create it when allowed.

    The default SQLite file in the state folder is created on first start, as is any
    database when ``database.create`` is true. A configured database that is missing,
    unreachable or at an old schema stops the start with a message saying what to do.

    Returns
    -------
    str
        A description of the database (no password).
    """
    from sqlalchemy.engine import make_url

    from shiftdesk.errors import StorageError
    from shiftdesk.storage import Database

    url = _with_connect_timeout(settings.database_url())
    configured = bool(settings.database.url)
    create = settings.database.create or not configured
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.exists() and not create:
            raise HubStartError(
                f"the shiftdesk database {path} does not exist (database.url in "
                f"{settings.where}). Fix the path, or create it once with "
                f"`SHIFTDESK_DATABASE_URL={url} shiftdesk db upgrade`, or set "
                "database.create = true."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = Database(url, migrate=create)
    except StorageError as exc:
        raise HubStartError(
            f"the shiftdesk database (database.url in {settings.where}) cannot be used: {exc}"
        ) from exc
    described = repr(db)
    db.dispose()
    return described


def check_hub_database(settings: HubSettings) -> None:
    """Check JupyterHub's own database is reachable when it is a server (PostgreSQL)."""
    if not settings.hub.db_url or settings.hub.db_url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(_with_connect_timeout(settings.hub.db_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        safe = engine.url.render_as_string(hide_password=True)
        raise HubStartError(
            f"cannot open JupyterHub's database {safe} (hub.db_url in {settings.where}): "
            f"{getattr(exc, 'orig', exc)}".strip()
        ) from exc
    finally:
        engine.dispose()


def check_ldap(settings: HubSettings) -> None:
    """Check the LDAP server's TCP port answers, so a bad address fails now, not at login."""
    ldap = settings.auth.ldap
    if settings.auth.type != "ldap" or ldap is None:
        return
    try:
        with socket.create_connection(
            (ldap.server_address, ldap.server_port), timeout=ldap.connect_timeout
        ):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise HubStartError(
            f"cannot reach the LDAP server {ldap.server_address}:{ldap.server_port} "
            f"({reason}). Check auth.ldap.server_address and auth.ldap.server_port in "
            f"{settings.where}, and that this machine may connect to it."
        ) from exc


def check_services(settings: HubSettings) -> None:
    """Enabled service slots must have a program that runs (``<command> --help`` works)."""
    for slot, (name, _) in SERVICE_SLOTS.items():
        if not getattr(settings.services, slot).enabled:
            continue
        command = service_command(settings, slot)
        if not command:
            raise HubStartError(
                f"services.{slot} is enabled in {settings.where} but has no command, and this "
                f"shiftdesk has no default program for the {name!r} service. Add "
                f"services.{slot}.command or set enabled = false."
            )
        try:
            probe = subprocess.run(
                [*command, "--help"], capture_output=True, text=True, timeout=120
            )
            problem = probe.stderr.strip().splitlines()[-1:] if probe.returncode else None
        except OSError as exc:
            problem = [exc.strerror or str(exc)]
        if problem is not None:
            raise HubStartError(
                f"services.{slot} is enabled in {settings.where}, but its command "
                f"{' '.join(command)!r} does not run ({' '.join(problem) or 'no output'}). "
                f"Fix services.{slot}.command or set enabled = false."
            )


def _running_hub_pid(settings: HubSettings) -> int | None:
    pid_file = settings.hub.state_dir / "run" / "jupyterhub.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def preflight(settings: HubSettings, boundary: HubBoundary | None = None) -> list[str]:
    """Every check that must pass before the hub starts.

    Parameters
    ----------
    settings : HubSettings
        The deployment.
    boundary : HubBoundary, optional
        The per-user-accounts set-up of this start (its PostgreSQL already running);
        without one, a check-only run sets it up and stops it again.

    Returns
    -------
    list of str
        One line per check, for the start banner.

    Raises
    ------
    HubStartError
        The first problem found, with what to do about it.
    """
    if boundary is None and settings.accounts.system:
        check = HubBoundary(settings)
        try:
            lines = check.prepare()
            return lines + preflight(settings, check)
        finally:
            check.stop()
    pid = _running_hub_pid(settings)
    if pid is not None:
        raise HubStartError(
            f"a hub from the state folder {settings.hub.state_dir} is already running "
            f"(pid {pid}). Stop it first (kill -TERM {pid})."
        )
    proxy = find_proxy(settings)
    check_port_free(settings.hub.ip, settings.hub.port, "hub.port")
    for key in ("hub_port", "proxy_api_port"):
        port = getattr(settings.hub, key)
        if port:
            check_port_free("127.0.0.1", port, f"hub.{key}")
    check_services(settings)
    check_ldap(settings)
    check_hub_database(settings)
    db = check_database(settings)
    lines = [f"proxy: {' '.join(proxy)}", f"shiftdesk database: {db}"]
    if boundary is not None:
        lines += boundary.secure()
    if settings.auth.type == "ldap" and settings.auth.ldap is not None:
        ldap = settings.auth.ldap
        lines.append(f"LDAP server {ldap.server_address}:{ldap.server_port} answers")
    return lines


# -- processes -------------------------------------------------------------------------------


def marked_processes(run_id: str) -> list[int]:
    """PIDs of live processes whose environment carries this run's marker (Linux ``/proc``)."""
    needle = f"{RUN_MARKER}={run_id}".encode()
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def _wait_unmarked(run_id: str, timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for the run's processes to exit; returns those left.

    The run is scanned again each time, so a process started meanwhile (a kernel's
    own child) is waited for as well.
    """
    deadline = time.monotonic() + timeout
    left = marked_processes(run_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = marked_processes(run_id)
    return left


def _stop_pids(pids: list[int], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL whatever is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Hub:
    """One run of a hub deployment: JupyterHub plus everything it starts.

    Parameters
    ----------
    settings : HubSettings
        The deployment.
    log : file, optional
        Where JupyterHub's output goes (default: this process's stdout/stderr).
    prepare : callable, optional
        Called with the settings after the checks passed and before JupyterHub starts
        (e.g. to seed demo data into the shared database); the lines it returns are
        added to :attr:`checks`.

    Examples
    --------
    >>> hub = Hub(load_settings("hub.toml"))  # doctest: +SKIP
    >>> hub.start(); hub.wait_ready()  # doctest: +SKIP
    >>> hub.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: HubSettings,
        *,
        log: TextIO | None = None,
        prepare: Callable[[HubSettings], list[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.prepare = prepare
        self.run_id = uuid.uuid4().hex
        self.proc: subprocess.Popen[bytes] | None = None
        self.run: RunFolder | None = None
        self.checks: list[str] = []
        self.boundary = HubBoundary(settings, self.run_id)

    @property
    def url(self) -> str:
        """The public URL users open."""
        host = self.settings.hub.ip
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.settings.hub.port}/"

    def start(self) -> None:
        """Run the checks, write the run folder and start JupyterHub (returns at once).

        Raises
        ------
        HubStartError
            A check failed; nothing was started.
        """
        try:
            self.checks = self.boundary.prepare()
            self.checks += preflight(self.settings, self.boundary)
            if self.prepare is not None:
                self.checks += self.prepare(self.settings)
        except BaseException:
            self.boundary.stop()
            raise
        hub = self.settings.hub
        self.run = write_run_folder(
            self.settings,
            run_id=self.run_id,
            hub_port=hub.hub_port or free_port(),
            proxy_api_port=hub.proxy_api_port or free_port(),
            gate_port=free_port() if self.boundary.active else 0,
        )
        env = dict(os.environ, **{RUN_MARKER: self.run_id, "PYTHONUNBUFFERED": "1"})
        # the hub's own children must not think they are in another user's server
        for name in ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "SHIFTDESK_GROUPS"):
            env.pop(name, None)
        out = self.log if self.log is not None else None
        self.proc = subprocess.Popen(
            [venv_bin("jupyterhub"), "-f", str(self.run.config)],
            cwd=self.run.config.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            # own session: a terminal's Ctrl-C reaches us, and we stop the hub in order
            start_new_session=True,
            # with per-user accounts, what the hub (and every server and service it
            # starts) creates is private unless made otherwise: tokens, databases, logs
            umask=0o077 if self.boundary.active else -1,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the hub answers through the proxy.

        Raises
        ------
        HubStartError
            JupyterHub exited or did not answer within ``timeout`` seconds.
        """
        assert self.proc is not None, "start() first"
        url = self.url + "hub/api/"
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                self.stop()
                raise HubStartError(
                    f"JupyterHub exited with code {code} while starting; its log above says why."
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise HubStartError(f"JupyterHub did not answer {url} within {timeout:g} s")
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0, grace: float = 5.0) -> list[int]:
        """Stop JupyterHub (SIGTERM: it stops user servers, services and the proxy), wait,
        then stop anything of this run still alive.

        Parameters
        ----------
        timeout : float
            Seconds JupyterHub gets to exit before it is killed.
        grace : float
            Seconds the run's remaining processes (kernels of stopped user servers)
            get to exit by themselves after JupyterHub exited, before they are stopped.

        Returns
        -------
        list of int
            PIDs that had to be stopped after the grace period (normally none).
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # kernels notice their server is gone ("Parent appears to have exited") and exit
        # within a few seconds: give them that time, and kill only what does not exit
        left = _wait_unmarked(self.run_id, grace)
        if left:
            _stop_pids(left, timeout=10)
        if self.run is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.run.config.parent / "jupyterhub.pid").unlink()
        self.boundary.stop()
        return left


def run_hub(
    settings: HubSettings,
    *,
    banner: list[str] | None = None,
    prepare: Callable[[HubSettings], list[str]] | None = None,
) -> int:
    """Start the hub in the foreground until SIGTERM or Ctrl-C; then stop everything.

    Parameters
    ----------
    settings : HubSettings
        The deployment.
    banner : list of str, optional
        Extra lines printed once the hub answers (e.g. the demo logins).
    prepare : callable, optional
        Run after the checks, before JupyterHub starts (see :class:`Hub`).

    Returns
    -------
    int
        0 after a requested stop, else JupyterHub's exit code.
    """
    hub = Hub(settings, prepare=prepare)
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if hub.proc is not None and hub.proc.poll() is None:
            # a second Ctrl-C kills the hub outright; leftovers are cleaned below either way
            hub.proc.send_signal(signal.SIGKILL if stopping else signal.SIGTERM)
        stopping = True

    old = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        hub.start()
        for line in hub.checks:
            print(f"shiftdesk hub: {line}")
        sys.stdout.flush()
        try:
            hub.wait_ready()
        except HubStartError:
            if stopping:
                return 0
            raise
        print(f"shiftdesk hub: ready at {hub.url} (config {hub.run.config if hub.run else ''})")
        for line in banner or []:
            print(f"shiftdesk hub: {line}")
        print("shiftdesk hub: Ctrl-C or SIGTERM stops the hub and everything it started")
        sys.stdout.flush()
        while hub.proc is not None and hub.proc.poll() is None:
            time.sleep(0.2)
        code = hub.proc.returncode if hub.proc is not None else 0
    finally:
        left = hub.stop()
        if left:
            print(f"shiftdesk hub: stopped {len(left)} leftover process(es): {left}")
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if stopping:
        print("shiftdesk hub: stopped")
        return 0
    print(f"shiftdesk hub: JupyterHub exited unexpectedly (code {code})", file=sys.stderr)
    return code or 1
