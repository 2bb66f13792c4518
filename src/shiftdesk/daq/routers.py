"""How the DAQ looks into data-router folders: unsorted GRAW files and the end-of-run move.

The control loop asks a :class:`RouterAccess` two things: which GRAW files are still
unsorted in a router's folder (a run may not start while there are any), and to move them
into ``<experiment>/run_NNNN/`` at the end of a run. :class:`SSHRouters` does it on the DAQ
hosts through :class:`~shiftdesk.daq.ssh_hosts.WorkerInterface`; :class:`LocalRouters` does
the same on folders of this machine (a router on the analysis host, or tests without SSH).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from shiftdesk.daq.errors import SetupError
from shiftdesk.daq.snapshot import RouterView, ServerView

#: ``progress(done, total)`` while files move.
Progress = Callable[[int, int], object]


def run_folder(run_number: int) -> str:
    """``run_0012``: the per-run folder name attpc-daq uses."""
    return f"run_{run_number:04d}"


@runtime_checkable
class RouterAccess(Protocol):
    """What the control loop needs from a data router's host."""

    def unsorted_files(self, router: RouterView) -> list[str]:
        """Names of the GRAW files waiting in the router's folder."""

    def organize(
        self, router: RouterView, experiment: str, run_number: int, progress: Progress
    ) -> tuple[int, bool]:
        """Move them into ``<experiment>/run_NNNN/``; returns (files moved, folder clean)."""


class LocalRouters:
    """Routers whose working folders are on this machine (``router.folder``).

    Parameters
    ----------
    config_backup_root : str or Path, optional
        Where :meth:`backup_configs` copies a run's config files
        (``<root>/<experiment>/run_NNNN/``); default ``config_backups`` in shiftdesk's
        data folder.
    """

    def __init__(self, config_backup_root: str | Path | None = None) -> None:
        if config_backup_root is None:
            from shiftdesk.storage import data_dir

            config_backup_root = data_dir() / "config_backups"
        self.config_backup_root = Path(config_backup_root).expanduser()

    def backup_configs(
        self, server: ServerView, experiment: str, run_number: int, files: list[str]
    ) -> str:
        """Copy the run's config files (all or none) and return the backup folder."""
        sources = [Path(f).expanduser() for f in files]
        missing = [str(p) for p in sources if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"ECC server {server.name}: config files not found: {', '.join(missing)}; "
                "check its config_root in the setup"
            )
        destination = self.config_backup_root / experiment / run_folder(run_number)
        destination.mkdir(parents=True, exist_ok=True)
        for source in sources:
            shutil.copy2(source, destination / source.name)
        return str(destination)

    def _folder(self, router: RouterView) -> Path:
        if not router.folder:
            raise SetupError(
                f"data router {router.name} has no folder set: local access needs the "
                "router's working folder (set it in the setup)"
            )
        folder = Path(router.folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"data router {router.name}: folder {folder} does not exist")
        return folder

    def unsorted_files(self, router: RouterView) -> list[str]:
        """GRAW files directly in the router folder, sorted."""
        folder = self._folder(router)
        return sorted(
            e.name for e in os.scandir(folder) if e.is_file() and e.name.endswith(".graw")
        )

    def organize(
        self, router: RouterView, experiment: str, run_number: int, progress: Progress
    ) -> tuple[int, bool]:
        """Rename every GRAW file into the run folder; never overwrites, safe to repeat."""
        folder = self._folder(router)
        names = self.unsorted_files(router)
        destination = folder / experiment / run_folder(run_number)
        destination.mkdir(parents=True, exist_ok=True)
        progress(0, len(names))
        moved = 0
        for i, name in enumerate(names, 1):
            target = destination / name
            if not target.exists():  # never replace a file already sorted
                os.rename(folder / name, target)
                moved += 1
            progress(i, len(names))
        return moved, not self.unsorted_files(router)


class SSHRouters:
    """Routers reached over SSH with :class:`~shiftdesk.daq.ssh_hosts.WorkerInterface`.

    One interface (one SSH transport) per host and user is kept and reused.

    Parameters
    ----------
    key_filename : str, optional
        Private key for the router accounts.
    known_hosts : str, optional
        ``known_hosts`` holding the router hosts' keys (unknown hosts are refused).
    user : str, optional
        Account used when a router has no ``ssh_user``.
    connect_timeout : float
        Seconds to wait for a connection.
    config_backup_root : str
        Backup folder for config files on the ECC hosts (reached as ``user``).
    ecc_ssh_port : int
        SSH port of the ECC hosts.
    """

    def __init__(
        self,
        *,
        key_filename: str | None = None,
        known_hosts: str | None = None,
        user: str | None = None,
        connect_timeout: float = 5.0,
        config_backup_root: str = "~/config_backups",
        ecc_ssh_port: int = 22,
    ) -> None:
        self.config_backup_root = config_backup_root
        self.ecc_ssh_port = ecc_ssh_port
        self.key_filename = key_filename
        self.known_hosts = known_hosts
        self.user = user
        self.connect_timeout = connect_timeout
        self._workers: dict[tuple[str, str, int], object] = {}
        self._lock = threading.Lock()

    def worker(self, router: RouterView) -> object:
        """The (cached) WorkerInterface for a router's host."""
        from shiftdesk.daq.ssh_hosts import WorkerInterface

        host = router.ssh_host or router.host
        user = router.ssh_user or self.user
        if not user:
            raise SetupError(
                f"data router {router.name} has no SSH user: set ssh_user in the setup"
            )
        key = (host, user, router.ssh_port)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                worker = self._workers[key] = WorkerInterface(
                    host,
                    user,
                    router.ssh_port,
                    key_filename=self.key_filename,
                    known_hosts=self.known_hosts,
                    connect_timeout=self.connect_timeout,
                )
        return worker

    def unsorted_files(self, router: RouterView) -> list[str]:
        """Ask the host which GRAW files wait in the router folder."""
        worker = self.worker(router)
        return list(worker.unsorted_files(router.folder))  # type: ignore[attr-defined]

    def organize(
        self, router: RouterView, experiment: str, run_number: int, progress: Progress
    ) -> tuple[int, bool]:
        """Move the files on the host (idempotent; see ``WorkerInterface.organize_files``)."""
        worker = self.worker(router)
        result = worker.organize_files(  # type: ignore[attr-defined]
            experiment, run_number, router.folder, progress=progress
        )
        return int(result.moved_count), bool(result.clean)

    def backup_configs(
        self, server: ServerView, experiment: str, run_number: int, files: list[str]
    ) -> str:
        """Copy the run's config files on the ECC host into the backup folder there."""
        from shiftdesk.daq.ssh_hosts import WorkerInterface

        if not self.user:
            raise SetupError(
                f"no SSH user for ECC host {server.host}: pass SSHRouters(user=...) to back up "
                "config files"
            )
        key = (server.host, self.user, self.ecc_ssh_port)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                worker = self._workers[key] = WorkerInterface(
                    server.host,
                    self.user,
                    self.ecc_ssh_port,
                    key_filename=self.key_filename,
                    known_hosts=self.known_hosts,
                    connect_timeout=self.connect_timeout,
                )
        result = worker.backup_configs(  # type: ignore[attr-defined]
            experiment, run_number, files, self.config_backup_root
        )
        return str(result.destination)

    def close(self) -> None:
        """Close every SSH connection."""
        with self._lock:
            for worker in self._workers.values():
                worker.close()  # type: ignore[attr-defined]
            self._workers.clear()


#: how a DAQ service reaches the data routers: ``local`` folders, or ``ssh`` (default)
ROUTERS_ENV = "SHIFTDESK_DAQ_ROUTERS"


def routers_from_environment() -> RouterAccess:
    """The router access a DAQ service is told to use (:data:`ROUTERS_ENV`)."""
    return LocalRouters() if os.environ.get(ROUTERS_ENV) == "local" else SSHRouters()
