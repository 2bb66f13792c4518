"""The SSH interface to the DAQ hosts (data routers, ECC hosts): the :class:`WorkerInterface`.

A :class:`WorkerInterface` logs into one DAQ host (a data router or an ECC host) with
a key, checks the host key against ``known_hosts`` (an unknown host is refused), and
reuses one SSH transport and one SFTP session for all its operations:

* :meth:`~WorkerInterface.check_processes` -- are ``getEccSoapServer`` and
  ``dataRouter`` running?
* :meth:`~WorkerInterface.find_data_router` -- the dataRouter's working folder (where
  it writes the GRAW files), or a check that a given folder is that folder;
* :meth:`~WorkerInterface.unsorted_files` / :meth:`~WorkerInterface.is_clean` -- GRAW
  files not yet moved into a run folder (a run must not start while there are any);
* :meth:`~WorkerInterface.organize_files` -- move them into
  ``<folder>/<experiment>/run_NNNN/``;
* :meth:`~WorkerInterface.backup_configs` -- copy the config files a run used into
  ``<backup_root>/<experiment>/run_NNNN/``;
* :meth:`~WorkerInterface.tail_log` -- the last lines of a log file.

Files are moved with SFTP ``rename``, one atomic rename per file on the same file
system, all in one SFTP session (1,000 files take well under a second on a LAN). A
rename never overwrites (OpenSSH's server links then unlinks), so a file already in the
run folder under the same name is reported as a conflict, never replaced. If the
connection drops half way, every file is in exactly one of the two folders; the next
call moves the rest and a call with nothing left to move changes nothing.

Every error is a :class:`~shiftdesk.daq.remote.errors.WorkerError` subclass whose
message names the host and says what to do. Commands run through the account's shell
with every argument quoted with :func:`shlex.quote`; file operations go through SFTP,
where no shell sees the names at all.

Examples
--------
>>> with WorkerInterface("daq1", "daq", key_filename="~/.ssh/daq",
...                      known_hosts="~/.ssh/known_hosts") as worker:   # doctest: +SKIP
...     folder = worker.find_data_router()
...     result = worker.organize_files("e20009", 12, folder)
...     result.moved_count, result.clean
(1000, True)
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import paramiko  # type: ignore[import-untyped,unused-ignore]

from shiftdesk.daq.remote.connection import CommandResult, KeyFiles, SSHConnection
from shiftdesk.daq.remote.errors import (
    ConnectionLost,
    DataRouterNotFound,
    HostKeyError,
    InvalidNameError,
    NotADataRouterFolder,
    OrganizeConflict,
    RemoteCommandError,
    RemotePathError,
    RemotePermissionError,
    UnknownHostKeyError,
    WorkerAuthError,
    WorkerConnectionError,
    WorkerError,
)
from shiftdesk.daq.remote.paths import (
    check_folder_name,
    is_graw,
    join,
    remote_path,
    run_folder_name,
)
from shiftdesk.daq.remote.processes import (
    DATA_ROUTER,
    ECC_SERVER,
    PS_COMMAND,
    cwd_command,
    parse_cwd,
    parse_ps,
)

__all__ = [
    "BackupResult",
    "CommandResult",
    "ConnectionLost",
    "DataRouterNotFound",
    "DataRouterProcess",
    "HostKeyError",
    "InvalidNameError",
    "NotADataRouterFolder",
    "OrganizeConflict",
    "OrganizeResult",
    "ProcessStatus",
    "ProgressCallback",
    "RemoteCommandError",
    "RemotePathError",
    "RemotePermissionError",
    "UnknownHostKeyError",
    "WorkerAuthError",
    "WorkerConnectionError",
    "WorkerError",
    "WorkerInterface",
]

#: ``progress(done, total)``: files moved so far and files to move in this pass.
ProgressCallback = Callable[[int, int], object]

_SFTP_ERRORS = (OSError, EOFError, paramiko.SSHException)


@dataclass(frozen=True)
class DataRouterProcess:
    """A dataRouter process running on the host.

    Attributes
    ----------
    pid : int
        Its process id.
    folder : str or None
        Its working folder (absolute), ``None`` when the SSH account cannot read it
        (the process runs under another account) or it exited meanwhile.
    """

    pid: int
    folder: str | None


@dataclass(frozen=True)
class ProcessStatus:
    """Which GET processes run on the host (pids, empty when none)."""

    ecc_server_pids: tuple[int, ...]
    data_router_pids: tuple[int, ...]

    @property
    def ecc_server(self) -> bool:
        """Whether a ``getEccSoapServer`` process runs."""
        return bool(self.ecc_server_pids)

    @property
    def data_router(self) -> bool:
        """Whether a ``dataRouter`` process runs."""
        return bool(self.data_router_pids)


@dataclass(frozen=True)
class OrganizeResult:
    """What one :meth:`WorkerInterface.organize_files` pass did.

    Attributes
    ----------
    folder : str
        The router folder (absolute).
    destination : str
        The run folder, ``<folder>/<experiment>/run_NNNN`` (absolute).
    moved : tuple of str
        Names of the files this pass moved (empty on a repeated pass).
    in_destination : int
        GRAW files in the run folder after the pass (from earlier passes too).
    left : tuple of str
        GRAW files still in the router folder: those whose name was already taken in
        the run folder (see :class:`OrganizeConflict`), or written meanwhile. Empty
        when the folder is clean.
    """

    folder: str
    destination: str
    moved: tuple[str, ...]
    in_destination: int
    left: tuple[str, ...]

    @property
    def moved_count(self) -> int:
        """How many files this pass moved."""
        return len(self.moved)

    @property
    def clean(self) -> bool:
        """Whether no GRAW file is left in the router folder."""
        return not self.left


@dataclass(frozen=True)
class BackupResult:
    """What :meth:`WorkerInterface.backup_configs` copied, and where."""

    destination: str
    copied: tuple[str, ...]


class WorkerInterface:
    """SSH access to one DAQ host for the end of run (see the module docs).

    Creating one does not connect; the first operation (or ``with``, or
    :meth:`connect`) does, and later operations reuse the connection. When it has
    dropped, the next operation reconnects. One instance may be shared by threads:
    its operations run one at a time.

    Parameters
    ----------
    host : str
        Host name or address of the data router or ECC host.
    user : str
        Account to log in as (the one the dataRouter runs under).
    port : int
        SSH port.
    key_filename : path or sequence of paths, optional
        Private key file(s); when given, no other key, agent or password is tried.
        Default: the keys in ``~/.ssh`` and the SSH agent.
    known_hosts : path, optional
        ``known_hosts`` file holding the host's key; default ``~/.ssh/known_hosts``.
        A host not in it is refused (:class:`UnknownHostKeyError`), never added.
    connect_timeout : float
        Seconds to wait for the connection and the login.
    command_timeout : float
        Seconds a remote command or file request may stay silent.

    Raises
    ------
    WorkerConnectionError
        For a host or port that cannot be one (at once) or cannot be reached (when
        connecting).
    """

    def __init__(
        self,
        host: str,
        user: str,
        port: int = 22,
        *,
        key_filename: KeyFiles | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
    ) -> None:
        if key_filename is not None and isinstance(key_filename, str):
            key_filename = os.path.expanduser(key_filename)
        if known_hosts is not None and isinstance(known_hosts, str):
            known_hosts = os.path.expanduser(known_hosts)
        self.connection = SSHConnection(
            host,
            user,
            port,
            key_filename=key_filename,
            known_hosts=known_hosts,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<WorkerInterface {self.connection.where} ({state})>"

    @property
    def host(self) -> str:
        """The host name or address."""
        return self.connection.host

    @property
    def connected(self) -> bool:
        """Whether the SSH connection is up."""
        return self.connection.connected

    # -- lifecycle ------------------------------------------------------------------------
    def connect(self) -> WorkerInterface:
        """Connect now (operations also connect on first use); returns ``self``.

        Raises
        ------
        WorkerConnectionError
            Refused, unreachable, timed out, or not an SSH server.
        WorkerAuthError
            The key file is missing or unusable, or the server refused it.
        HostKeyError
            The host key is not in ``known_hosts`` or does not match it.
        """
        self.connection.connect()
        return self

    def close(self) -> None:
        """Close the connection (safe to call twice; a later operation reconnects)."""
        self.connection.close()

    def __enter__(self) -> WorkerInterface:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- commands -------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, check: bool = True) -> CommandResult:
        """Run one program on the host, every argument quoted.

        Parameters
        ----------
        argv : sequence of str
            Program and arguments, e.g. ``["ls", "-l", folder]``.
        check : bool
            Raise :class:`RemoteCommandError` when it exits with a non-zero status.
        """
        if isinstance(argv, str) or not argv:
            raise InvalidNameError("argv must be a non-empty list of strings, not one string")
        return self.connection.run(shlex.join(argv), check=check)

    # -- processes ------------------------------------------------------------------------
    def check_processes(self) -> ProcessStatus:
        """Which of ``getEccSoapServer`` and ``dataRouter`` run on the host.

        Raises
        ------
        WorkerConnectionError
            When the host cannot be reached (mark it offline).
        """
        found = self._ps()
        return ProcessStatus(tuple(found[ECC_SERVER]), tuple(found[DATA_ROUTER]))

    def _ps(self) -> dict[str, list[int]]:
        result = self.connection.run(PS_COMMAND)
        if not result.ok or not result.stdout.strip():
            raise RemoteCommandError(
                f"cannot list the processes on {self.host} with ps (exit "
                f"{result.exit_status}): {result.stderr.strip()}",
                command=PS_COMMAND,
                exit_status=result.exit_status,
                stderr=result.stderr,
            )
        return parse_ps(result.stdout, (ECC_SERVER, DATA_ROUTER))

    def data_routers(self) -> list[DataRouterProcess]:
        """The dataRouter processes running on the host, with their working folders.

        The folder comes from ``/proc/<pid>/cwd`` where the host has ``/proc`` and
        from ``lsof`` otherwise.
        """
        pids = self._ps()[DATA_ROUTER]
        if not pids:
            return []
        result = self.connection.run(cwd_command(pids))
        folders = parse_cwd(result.stdout)
        return [DataRouterProcess(pid, folders.get(pid)) for pid in pids]

    def find_data_router(self, folder: str | None = None) -> str:
        """The working folder of the dataRouter running on the host.

        Parameters
        ----------
        folder : str, optional
            A folder the caller expects to be the dataRouter's (e.g. from the setup):
            it is checked, and returned as an absolute path, when some running
            dataRouter works in it.

        Returns
        -------
        str
            The absolute path of the folder the dataRouter writes GRAW files into.

        Raises
        ------
        DataRouterNotFound
            No dataRouter runs on the host, its folder cannot be read by the account,
            or several run in different folders and ``folder`` was not given.
        NotADataRouterFolder
            ``folder`` is not the working folder of any dataRouter on the host.
        RemotePathError
            ``folder`` does not exist on the host.
        """
        with self.connection.lock:
            routers = self.data_routers()
            where = f"{self.connection.where}"
            if not routers:
                raise DataRouterNotFound(
                    f"no dataRouter process runs on {where}; start the data router "
                    f"there (or check that this is the right host)"
                )
            folders = sorted({r.folder for r in routers if r.folder})
            if folder is not None:
                wanted = self._absolute(folder)
                if wanted in folders:
                    return wanted
                raise NotADataRouterFolder(
                    f"{folder} on {self.host} is not a dataRouter folder: no dataRouter "
                    f"works in it (running dataRouters work in "
                    f"{', '.join(folders) or 'folders the account cannot read'}); fix "
                    f"the data router's folder in the setup"
                )
            if not folders:
                pids = ", ".join(str(r.pid) for r in routers)
                raise DataRouterNotFound(
                    f"dataRouter (pid {pids}) runs on {self.host} but {self.connection.user} "
                    f"cannot read its working folder; log in as the account that runs the "
                    f"dataRouter"
                )
            if len(folders) > 1:
                raise DataRouterNotFound(
                    f"{len(routers)} dataRouters run on {self.host} in different folders "
                    f"({', '.join(folders)}); pass the folder of the one you mean"
                )
            return folders[0]

    # -- files ----------------------------------------------------------------------------
    def unsorted_files(self, folder: str | None = None) -> list[str]:
        """Names of the GRAW files in the router folder (not yet moved into a run folder).

        Parameters
        ----------
        folder : str, optional
            The router folder; default: :meth:`find_data_router`.

        Returns
        -------
        list of str
            File names (not paths), sorted. Only files directly in the folder count.
        """
        with self.connection.lock:
            base = self._router_folder(folder)
            return self._graw_names(base)

    def is_clean(self, folder: str | None = None) -> bool:
        """Whether the router folder holds no unsorted GRAW file (a run may start)."""
        return not self.unsorted_files(folder)

    def organize_files(
        self,
        experiment: str,
        run_number: int,
        folder: str | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> OrganizeResult:
        """Move the GRAW files of the router folder into ``<experiment>/run_NNNN/``.

        Every GRAW file directly in ``folder`` is renamed (atomically, never
        overwriting) into ``<folder>/<experiment>/run_NNNN/``, made if missing. Calling
        it again moves nothing and loses nothing; after a dropped connection it moves
        the rest. The run folder is listed afterwards to check every moved file is there.

        Parameters
        ----------
        experiment : str
            The experiment's name: one folder name (no ``/``).
        run_number : int
            The run number (``run_0012`` for 12).
        folder : str, optional
            The router folder; default: :meth:`find_data_router`.
        progress : callable, optional
            ``progress(done, total)`` is called with ``(0, total)`` first, then about
            every 1 % of the files, and with ``(total, total)`` at the end. It runs in
            the calling thread; keep it quick.

        Returns
        -------
        OrganizeResult

        Raises
        ------
        InvalidNameError
            Bad experiment name or run number (nothing is touched).
        OrganizeConflict
            Some files were not moved because the run folder already holds a file of
            that name (nothing is overwritten; ``exc.result`` tells what was moved).
        ConnectionLost
            The connection dropped part way; no file is lost, call again to finish.
        RemotePermissionError
            The account may not create the run folder or move the files.
        RemotePathError
            The folder does not exist, or ``<experiment>`` exists but is a file.
        """
        exp = check_folder_name(experiment)
        run_dir = run_folder_name(run_number)
        with self.connection.lock:
            base = self._router_folder(folder)
            names = self._graw_names(base)
            destination = self._makedirs(base, (exp, run_dir))
            moved = self._move_all(base, destination, names, progress)
            return self._verify(base, destination, moved)

    def _move_all(
        self,
        base: str,
        destination: str,
        names: list[str],
        progress: ProgressCallback | None,
    ) -> list[str]:
        sftp = self.connection.sftp()
        total = len(names)
        step = max(1, total // 100)
        moved: list[str] = []
        if progress is not None:
            progress(0, total)
        for done, name in enumerate(names, start=1):
            source, target = join(base, name), join(destination, name)
            try:
                sftp.rename(source, target)
                moved.append(name)
            except _SFTP_ERRORS as exc:
                lost = self.connection.lost(
                    exc,
                    f"moving file {done} of {total} into {destination}",
                    f"{len(moved)} files were moved; no file is lost (every move is an "
                    f"atomic rename): call organize_files again to move the rest",
                )
                if lost is not None:
                    raise lost from exc
                if self._moved_anyway(source, target, exc):
                    moved.append(name)
            if progress is not None and (done % step == 0 or done == total):
                progress(done, total)
        return moved

    def _moved_anyway(self, source: str, target: str, exc: BaseException) -> bool:
        """After a failed rename: was the file moved after all? Raise for real failures.

        ``False`` means a name conflict (the file stays, reported by :meth:`_verify`).
        """
        source_there = self._exists(source)
        target_there = self._exists(target)
        if not source_there and target_there:
            return True  # moved by an earlier request whose reply was lost
        if source_there and target_there:
            return False
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EACCES:
            raise RemotePermissionError(
                f"{self.connection.user} may not move {source} to {target} on {self.host} "
                f"(permission denied); give the account write permission on both folders"
            ) from exc
        raise WorkerError(f"cannot move {source} to {target} on {self.host}: {exc}") from exc

    def _verify(self, base: str, destination: str, moved: list[str]) -> OrganizeResult:
        left = self._graw_names(base)
        in_destination = {n for n in self._listdir(destination) if is_graw(n)}
        missing = [name for name in moved if name not in in_destination]
        if missing:
            raise WorkerError(
                f"{len(missing)} moved files are not in {destination} on {self.host} "
                f"(e.g. {missing[0]}); something else is moving files there, check the folder"
            )
        result = OrganizeResult(base, destination, tuple(moved), len(in_destination), tuple(left))
        taken = [name for name in left if name in in_destination]
        if taken:
            raise OrganizeConflict(
                f"{len(taken)} GRAW files in {base} on {self.host} were not moved because "
                f"{destination} already holds files of the same name (e.g. {taken[0]}); "
                f"nothing was overwritten. Check which copy to keep, then move or delete "
                f"the other by hand",
                result,
            )
        return result

    def backup_configs(
        self,
        experiment: str,
        run_number: int,
        config_files: Iterable[str],
        backup_root: str = "~/config_backups",
    ) -> BackupResult:
        """Copy the config files a run used into ``<backup_root>/<experiment>/run_NNNN/``.

        Every file is checked before anything is copied, and each copy is written under
        a temporary name then renamed, so a failure leaves no half-written backup.
        Calling it again replaces the backup with fresh copies.

        Parameters
        ----------
        experiment : str
            The experiment's name (one folder name).
        run_number : int
            The run number.
        config_files : iterable of str
            Paths of the config files on the host (e.g. the ``describe-``,
            ``prepare-`` and ``configure-<name>.xcfg`` files); ``~/`` is the home folder.
        backup_root : str
            Folder of the backups on the host; made if missing.

        Raises
        ------
        RemotePathError
            A config file does not exist or is not a file (nothing is copied).
        RemotePermissionError
            The account may not read a file or write the backup folder.
        InvalidNameError
            Bad experiment name or run number, no file, or two files with one name.
        """
        exp = check_folder_name(experiment)
        run_dir = run_folder_name(run_number)
        sources = [remote_path(path) for path in config_files]
        if not sources:
            raise InvalidNameError("no config file given to back up; pass the run's files")
        names = [os.path.basename(path.rstrip("/")) for path in sources]
        if len(set(names)) != len(names):
            raise InvalidNameError(
                f"config files {sources} share a file name; their backups would overwrite "
                f"each other"
            )
        with self.connection.lock:
            missing = [path for path in sources if not self._is_file(path)]
            if missing:
                raise RemotePathError(
                    f"config files not found on {self.host}: {', '.join(missing)}; check "
                    f"the ECC server's config folder"
                )
            root = self._absolute(remote_path(backup_root), must_exist=False)
            destination = self._makedirs(root, (exp, run_dir), make_base=True)
            sftp = self.connection.sftp()
            for source, name in zip(sources, names, strict=True):
                partial = join(destination, f".{name}.partial")
                doing = f"copying {source} to {destination}"
                try:
                    with sftp.open(source, "rb") as handle:
                        data = handle.read()
                    with sftp.open(partial, "wb") as handle:
                        handle.write(data)
                    sftp.posix_rename(partial, join(destination, name))
                except _SFTP_ERRORS as exc:
                    raise self._file_error(exc, doing, source) from exc
            return BackupResult(destination, tuple(names))

    def tail_log(self, path: str, lines: int = 50) -> str:
        """The last ``lines`` lines of a text file on the host (``tail -n``).

        Raises
        ------
        RemotePathError
            The file does not exist.
        RemotePermissionError
            The account may not read it.
        """
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
            raise InvalidNameError(f"lines={lines!r}: give a positive number of lines")
        target = remote_path(path)
        result = self.connection.run(f"tail -n {lines} -- {shlex.quote(target)}")
        if result.ok:
            return result.stdout
        message = result.stderr.strip()
        if "No such file" in message:
            raise RemotePathError(f"log file {path} does not exist on {self.host}")
        if "Permission denied" in message:
            raise RemotePermissionError(
                f"{self.connection.user} may not read {path} on {self.host} (permission denied)"
            )
        raise RemoteCommandError(
            f"cannot read {path} on {self.host}: {message}",
            command=result.command,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )

    # -- SFTP helpers ---------------------------------------------------------------------
    def _file_error(self, exc: BaseException, doing: str, path: str) -> WorkerError:
        lost = self.connection.lost(exc, doing)
        if lost is not None:
            return lost
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EACCES:
            return RemotePermissionError(
                f"{self.connection.user} may not access {path} on {self.host} while {doing} "
                f"(permission denied); fix the folder's permissions"
            )
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
            return RemotePathError(f"{path} does not exist on {self.host} ({doing})")
        return WorkerError(f"{doing} on {self.host} failed: {exc}")

    def _stat(self, path: str) -> paramiko.SFTPAttributes | None:
        sftp = self.connection.sftp()
        try:
            return sftp.stat(path)
        except FileNotFoundError:
            return None
        except _SFTP_ERRORS as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
                return None
            raise self._file_error(exc, f"looking at {path}", path) from exc

    def _exists(self, path: str) -> bool:
        return self._stat(path) is not None

    def _is_file(self, path: str) -> bool:
        attrs = self._stat(path)
        return attrs is not None and stat.S_ISREG(attrs.st_mode or 0)

    def _listdir(self, folder: str) -> list[str]:
        try:
            return list(self.connection.sftp().listdir(folder))
        except _SFTP_ERRORS as exc:
            raise self._file_error(exc, f"listing {folder}", folder) from exc

    def _graw_names(self, folder: str) -> list[str]:
        try:
            entries = self.connection.sftp().listdir_attr(folder)
        except _SFTP_ERRORS as exc:
            raise self._file_error(exc, f"listing {folder}", folder) from exc
        return sorted(
            e.filename for e in entries if is_graw(e.filename) and stat.S_ISREG(e.st_mode or 0)
        )

    def _absolute(self, path: str, *, must_exist: bool = True) -> str:
        """``path`` made absolute on the host (symbolic links resolved when it exists)."""
        target = remote_path(path)
        try:
            absolute = str(self.connection.sftp().normalize(target))
            # some servers resolve a missing last component without complaint
            if must_exist and not self._exists(absolute):
                raise RemotePathError(f"{path} does not exist on {self.host}")
            return absolute
        except _SFTP_ERRORS as exc:
            error = self._file_error(exc, f"resolving {path}", path)
            if isinstance(error, RemotePathError) and not must_exist:
                if target.startswith("/"):
                    return target
                home = str(self.connection.sftp().normalize("."))
                return join(home, target)
            raise error from exc

    def _router_folder(self, folder: str | None) -> str:
        if folder is None:
            return self.find_data_router()
        absolute = self._absolute(folder)
        attrs = self._stat(absolute)
        if attrs is None or not stat.S_ISDIR(attrs.st_mode or 0):
            raise RemotePathError(f"{folder} on {self.host} is not a folder")
        return absolute

    def _makedirs(self, base: str, parts: Sequence[str], *, make_base: bool = False) -> str:
        """Make ``base/part0/part1...`` folder by folder; return its path."""
        sftp = self.connection.sftp()
        if make_base:
            # an absolute base: make its missing ancestors from the top down
            components = [c for c in base.split("/") if c]
            base = "/" if base.startswith("/") else ""
            parts = [*components, *parts]
        path = base
        for part in parts:
            path = join(path, part) if path else part
            attrs = self._stat(path)
            if attrs is not None:
                if not stat.S_ISDIR(attrs.st_mode or 0):
                    raise RemotePathError(
                        f"{path} on {self.host} exists but is not a folder; rename or remove it"
                    )
                continue
            try:
                sftp.mkdir(path)
            except _SFTP_ERRORS as exc:
                if self._exists(path):  # made meanwhile by another pass
                    continue
                error = self._file_error(exc, f"creating {path}", path)
                if isinstance(error, RemotePermissionError):
                    error = RemotePermissionError(
                        f"{self.connection.user} may not create {path} on {self.host} "
                        f"(permission denied); give the account write permission on "
                        f"{os.path.dirname(path)}"
                    )
                raise error from exc
        return path
