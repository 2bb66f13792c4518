"""The hub's own PostgreSQL: a private server in the state folder, Unix socket only.

A hub with per-user accounts keeps shared state in PostgreSQL, where each user is a
role that row-level security restricts (:mod:`shiftdesk.storage.boundary`). Unless
``database.url`` names a facility server, ``shiftdesk hub`` runs one itself:

* ``<state>/postgres/data``: the cluster, owned by the service account, mode 0700;
* ``<state>/postgres/socket``: its Unix socket (no TCP port at all);
* authentication by ``peer`` only: PostgreSQL asks the kernel which account opened
  the connection, so nothing a user holds or sets can make them another role. The
  service account and root connect as the owner role ``shiftdesk``; an account made
  from ``accounts.system_user`` connects only as its own hub user, and only while that
  role is a shiftdesk user. Everything else is rejected.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import URL

from shiftdesk.hub.accounts import ident_pattern, private_folder
from shiftdesk.hub.settings import HubStartError

#: the database and the role that owns its tables (the hub and its services use it)
DATABASE = "shiftdesk"
OWNER = "shiftdesk"


def bindir() -> Path:
    """The newest installed PostgreSQL server's programs.

    Raises
    ------
    HubStartError
        PostgreSQL is not installed.
    """
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise HubStartError(
        "a hub with per-user accounts keeps its shared state in PostgreSQL, which is not "
        "installed: run `bash scripts/setup.sh` (or apt-get install postgresql), or set "
        "database.url to a PostgreSQL server"
    )


class EmbeddedPostgres:
    """A PostgreSQL server private to one hub state folder.

    Parameters
    ----------
    folder : Path
        ``<state>/postgres``.
    service_user : str
        The account it runs as (also the owner role's account).
    system_user : str
        The ``accounts.system_user`` template (which accounts map to which users).
    """

    def __init__(self, folder: Path, service_user: str, system_user: str) -> None:
        import pwd

        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "socket"
        self.log = folder / "server.log"
        self.service_user = service_user
        self.system_user = system_user
        self.account = pwd.getpwnam(service_user)
        self.bin = bindir()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({str(self.folder)!r})"

    # -- URLs ----------------------------------------------------------------------------
    def url(self, role: str, database: str = DATABASE) -> str:
        """A SQLAlchemy URL for ``role`` over the socket (peer authentication)."""
        return URL.create(
            "postgresql+psycopg", username=role, database=database, query={"host": str(self.socket)}
        ).render_as_string(hide_password=False)

    @property
    def owner_url(self) -> str:
        """The owner role's URL (for the hub and its services)."""
        return self.url(OWNER)

    def user_url_template(self) -> str:
        """A user's URL with ``{role}`` for the role (filled in per user by the spawner)."""
        return self.url("ROLE").replace("ROLE@", "{role}@", 1)

    # -- life cycle ----------------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", self.service_user, "--", str(self.bin / tool), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode == 0:
            return
        detail = (result.stderr or result.stdout).strip()
        with contextlib.suppress(OSError):
            detail += "\n" + self.log.read_text(errors="replace")[-2000:]
        raise HubStartError(f"the hub's PostgreSQL: {what} failed: {detail}")

    def _configure(self) -> None:
        """Write the server settings and who may connect as whom (every start)."""
        conf = self.data / "shiftdesk.conf"
        conf.write_text(
            "# written by shiftdesk hub at every start\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{self.socket}'\n"
            "unix_socket_permissions = 0777\n"
            "log_connections = on\n"
            "log_line_prefix = '%m [%p] %u@%d '\n"
        )
        main = self.data / "postgresql.conf"
        text = main.read_text()
        if "include_if_exists = 'shiftdesk.conf'" not in text:
            main.write_text(text + "\ninclude_if_exists = 'shiftdesk.conf'\n")
        svc = self.service_user
        (self.data / "pg_hba.conf").write_text(
            "# written by shiftdesk hub: peer authentication only, no TCP\n"
            "local all       postgres          peer map=superuser\n"
            f"local {DATABASE} {OWNER}         peer map=service\n"
            f"local {DATABASE} +shiftdesk_users peer map=users\n"
            "local all       all               reject\n"
        )
        (self.data / "pg_ident.conf").write_text(
            "# written by shiftdesk hub\n"
            "superuser root postgres\n"
            f"superuser {svc} postgres\n"
            f"service root {OWNER}\n"
            f"service {svc} {OWNER}\n"
            f"users {ident_pattern(self.system_user)} \\1\n"
        )
        for path in (conf, self.data / "pg_hba.conf", self.data / "pg_ident.conf"):
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
            os.chmod(path, 0o600)

    def start(self) -> list[str]:
        """Create the cluster on first use, start it, make the owner role and database.

        Returns
        -------
        list of str
            Lines for the start banner.
        """
        private_folder(self.folder, self.account, 0o711)
        private_folder(self.socket, self.account, 0o755)
        created = not (self.data / "PG_VERSION").exists()
        if created:
            private_folder(self.data, self.account, 0o700)
            self._check(
                self._run(
                    "initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                    "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=reject",
                ),
                "initdb",
            )  # fmt: skip
        self._configure()
        if not self.log.exists():
            self.log.touch()
        os.chown(self.log, self.account.pw_uid, self.account.pw_gid)
        os.chmod(self.log, 0o600)
        if (self.data / "postmaster.pid").exists():  # left by a crash: stop what runs
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", timeout=60)
        self._check(
            self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                      "-t", "60"),
            "start",
        )  # fmt: skip
        self._bootstrap()
        return [f"PostgreSQL {self.bin.parent.name} in {self.folder} (Unix socket, peer only)"]

    def _bootstrap(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(
                    host=str(self.socket), user="postgres", dbname="postgres", autocommit=True
                )
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
                conn.execute(f'CREATE ROLE "{OWNER}" LOGIN CREATEROLE')
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{OWNER}"')

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", timeout=60)
