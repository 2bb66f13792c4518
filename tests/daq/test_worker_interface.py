"""The DAQ end-of-run WorkerInterface against a real OpenSSH server on loopback.

The "dataRouter" and "getEccSoapServer" are harmless ``sleep`` processes started as the
test account with those names (a symlink named like the GET program, exec'd with that
``argv[0]``) in the router folder, so process and working-folder discovery look at real
processes. Files the test writes as root are handed to the account with ``give``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests._sshd import SSHServer

from shiftdesk.daq.remote.paths import check_folder_name, remote_path, run_folder_name
from shiftdesk.daq.remote.processes import PS_COMMAND, parse_cwd, parse_ps
from shiftdesk.daq.worker import (
    ConnectionLost,
    DataRouterNotFound,
    HostKeyError,
    InvalidNameError,
    NotADataRouterFolder,
    OrganizeConflict,
    RemotePathError,
    RemotePermissionError,
    UnknownHostKeyError,
    WorkerAuthError,
    WorkerConnectionError,
    WorkerInterface,
)

HOSTILE = "x; touch pwned; rm -rf ~ #"  # run in the home folder, it would empty it


def graw_name(i: int, asad: int = 0) -> str:
    return f"CoBo_AsAd{asad}_2026-11-21T12:00:00.000_{i:04d}.graw"


def make_graws(folder: Path, count: int) -> dict[str, bytes]:
    """``count`` small GRAW files with distinct contents, by name."""
    files = {graw_name(i): f"graw {i}\n".encode() * 3 for i in range(count)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".graw"}


@pytest.fixture
def worker(ssh_server: SSHServer) -> Iterator[WorkerInterface]:
    with WorkerInterface(
        ssh_server.host,
        ssh_server.user,
        ssh_server.port,
        key_filename=ssh_server.admin_key,
        known_hosts=ssh_server.known_hosts,
        connect_timeout=5,
        command_timeout=10,
    ) as wi:
        yield wi


@pytest.fixture
def start_process(ssh_server: SSHServer) -> Iterator[Callable[[str, Path], int]]:
    """Start a long ``sleep`` named ``name`` as the test account, working in ``folder``."""
    started: list[subprocess.Popen[bytes]] = []
    bin_dir = ssh_server.shared_folder("bin")

    def start(name: str, folder: Path) -> int:
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(shutil.which("sleep") or "/bin/sleep")
        proc = subprocess.Popen(
            ["bash", "-c", 'exec -a "$0" "$1" 600', name, str(link)],
            cwd=folder,
            user=ssh_server.uid,
            group=ssh_server.gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def router(ssh_server: SSHServer, start_process: Callable[[str, Path], int]) -> Path:
    """A router folder with a running "dataRouter" working in it."""
    folder = ssh_server.shared_folder("router")
    start_process("dataRouter", folder)
    return folder


# -- pure helpers -------------------------------------------------------------------------


def test_ps_output_is_matched_by_name_argv0_and_truncated_name() -> None:
    output = "\n".join(
        [
            "    1 systemd",
            "  200 dataRouter",  # the real program
            "  300 sleep",  # exec -a dataRouter sleep
            "  400 getEccSoapServe",  # Linux truncates names to 15 characters
            "  500 dataRouterX",
            "--shiftdesk-args--",
            "    1 /sbin/init",
            "  200 ./dataRouter --port 46005",
            "  300 dataRouter 600",
            "  400 /opt/get/bin/getEccSoapServer --port 8083",
            "  500 dataRouterX",
            "  600 vi dataRouter",
        ]
    )
    found = parse_ps(output, ["dataRouter", "getEccSoapServer"])
    assert found == {"dataRouter": [200, 300], "getEccSoapServer": [400]}
    assert parse_ps("--shiftdesk-args--\n", ["dataRouter"]) == {"dataRouter": []}
    assert "ps -A" in PS_COMMAND
    cwd = "200\t/data/router\n300\t\n400\tlsof: WARNING: cannot stat\n"
    assert parse_cwd(cwd) == {
        200: "/data/router",
        300: None,
        400: None,
    }


def test_run_folder_and_name_rules() -> None:
    assert run_folder_name(7) == "run_0007"
    assert run_folder_name(12345) == "run_12345"
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(InvalidNameError, match="run number"):
            run_folder_name(bad)  # type: ignore[arg-type]
    assert check_folder_name(HOSTILE) == HOSTILE  # quoted everywhere, so allowed
    for bad_name in ("", " ", ".", "..", "a/b", "a\0b"):
        with pytest.raises(InvalidNameError, match="folder name"):
            check_folder_name(bad_name)
    assert remote_path("~/configs") == "configs"
    assert remote_path("~") == "."
    assert remote_path("/abs") == "/abs"
    with pytest.raises(InvalidNameError, match="another account"):
        remote_path("~root/x")


# -- processes and the router folder ------------------------------------------------------


def test_processes_and_router_folder_are_found(
    ssh_server: SSHServer,
    worker: WorkerInterface,
    start_process: Callable[[str, Path], int],
) -> None:
    folder = ssh_server.shared_folder("router")
    status = worker.check_processes()
    assert not status.data_router and not status.ecc_server
    with pytest.raises(DataRouterNotFound, match="no dataRouter process runs"):
        worker.find_data_router()

    router_pid = start_process("dataRouter", folder)
    ecc_pid = start_process("getEccSoapServer", ssh_server.home)
    status = worker.check_processes()
    assert status.data_router_pids == (router_pid,)
    assert status.ecc_server_pids == (ecc_pid,)
    assert [(r.pid, r.folder) for r in worker.data_routers()] == [(router_pid, str(folder))]
    assert worker.find_data_router() == str(folder)
    assert worker.find_data_router("~/router") == str(folder)

    other = ssh_server.shared_folder("not-a-router")
    with pytest.raises(NotADataRouterFolder, match="not a dataRouter folder"):
        worker.find_data_router(str(other))
    with pytest.raises(RemotePathError, match="does not exist"):
        worker.find_data_router(str(ssh_server.home / "missing"))

    # a second router elsewhere: the folder must be named
    start_process("dataRouter", other)
    with pytest.raises(DataRouterNotFound, match="different folders"):
        worker.find_data_router()
    assert worker.find_data_router(str(other)) == str(other)


def test_a_router_of_another_account_is_reported_not_guessed(
    ssh_server: SSHServer, worker: WorkerInterface
) -> None:
    folder = ssh_server.shared_folder("router")
    # running as root: the test account may not read its working folder
    proc = subprocess.Popen(
        ["bash", "-c", "exec -a dataRouter sleep 600"], cwd=folder, stdin=subprocess.DEVNULL
    )
    try:
        assert worker.check_processes().data_router_pids == (proc.pid,)
        assert [(r.pid, r.folder) for r in worker.data_routers()] == [(proc.pid, None)]
        with pytest.raises(DataRouterNotFound, match="cannot read its working folder"):
            worker.find_data_router()
        with pytest.raises(NotADataRouterFolder, match="folders the account cannot read"):
            worker.find_data_router(str(folder))
    finally:
        proc.kill()
        proc.wait(10)


# -- organising files ---------------------------------------------------------------------


def test_organize_moves_every_graw_once_and_again_moves_nothing(
    ssh_server: SSHServer, worker: WorkerInterface, router: Path
) -> None:
    files = make_graws(router, 40)
    (router / "dataRouter.log").write_text("not data\n")
    (router / "subdir.graw").mkdir()  # a folder, not a file
    ssh_server.give(router)
    assert worker.unsorted_files() == sorted(files)
    assert not worker.is_clean(str(router))
    transport = worker.connection.transport

    calls: list[tuple[int, int]] = []
    result = worker.organize_files("e20009", 7, progress=lambda d, t: calls.append((d, t)))

    destination = router / "e20009" / "run_0007"
    assert result.folder == str(router)
    assert result.destination == str(destination)
    assert sorted(result.moved) == sorted(files)
    assert result.in_destination == 40 and result.clean
    assert contents(destination) == files
    assert (router / "dataRouter.log").exists() and (router / "subdir.graw").is_dir()
    assert worker.is_clean()
    assert calls[0] == (0, 40) and calls[-1] == (40, 40)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    again = worker.organize_files("e20009", 7, str(router))
    assert again.moved == () and again.in_destination == 40 and again.clean
    assert contents(destination) == files
    # one connection served every operation
    assert worker.connection.transport is transport


def test_a_taken_name_in_the_run_folder_is_never_overwritten(
    ssh_server: SSHServer, worker: WorkerInterface, router: Path
) -> None:
    files = make_graws(router, 5)
    destination = router / "e1" / "run_0002"
    destination.mkdir(parents=True)
    (destination / graw_name(3)).write_bytes(b"older copy")
    ssh_server.give(router)

    with pytest.raises(OrganizeConflict, match="nothing was overwritten") as info:
        worker.organize_files("e1", 2, str(router))
    assert info.value.conflicts == (graw_name(3),)
    assert (destination / graw_name(3)).read_bytes() == b"older copy"
    assert (router / graw_name(3)).read_bytes() == files[graw_name(3)]
    assert {n for n in contents(destination) if n != graw_name(3)} == set(files) - {graw_name(3)}


def test_a_connection_dropped_mid_move_loses_nothing_and_the_next_pass_finishes(
    ssh_server: SSHServer, worker: WorkerInterface, router: Path
) -> None:
    files = make_graws(router, 300)
    ssh_server.give(router)
    destination = router / "e2" / "run_0010"

    def drop_connection(done: int, total: int) -> None:
        transport = worker.connection.transport
        if done >= 90 and transport is not None and transport.is_active():
            transport.sock.shutdown(socket.SHUT_RDWR)  # as a network failure would

    with pytest.raises(ConnectionLost, match="no file is lost") as info:
        worker.organize_files("e2", 10, str(router), progress=drop_connection)
    assert "organize_files again" in str(info.value)
    left, moved = contents(router), contents(destination)
    assert 90 <= len(moved) < 300
    assert not set(left) & set(moved)
    assert left | moved == files  # every file, intact, in exactly one place

    result = worker.organize_files("e2", 10, str(router))  # reconnects
    assert result.clean and result.in_destination == 300
    assert set(result.moved) == set(left)
    assert contents(destination) == files and contents(router) == {}


def test_hostile_names_stay_names(
    ssh_server: SSHServer, worker: WorkerInterface, router: Path
) -> None:
    marker = ssh_server.home / "marker"
    marker.write_text("still here")
    files = make_graws(router, 3)
    ssh_server.give(router)
    ssh_server.give(marker)

    result = worker.organize_files(HOSTILE, 1, str(router))
    assert contents(router / HOSTILE / "run_0001") == files
    assert result.destination == f"{router}/{HOSTILE}/run_0001"
    with pytest.raises(RemotePathError):
        worker.tail_log(HOSTILE)
    with pytest.raises(NotADataRouterFolder):
        worker.find_data_router(str(router / HOSTILE))
    assert worker.run(["echo", HOSTILE]).stdout == HOSTILE + "\n"
    assert marker.read_text() == "still here"
    assert not (ssh_server.home / "pwned").exists()


def test_folders_the_account_may_not_write_give_a_clear_error_and_move_nothing(
    ssh_server: SSHServer, worker: WorkerInterface, router: Path
) -> None:
    files = make_graws(router, 4)
    ssh_server.give(router)
    locked = router / "e3"
    locked.mkdir(mode=0o755)  # owned by root: the account cannot make run_0001 in it
    with pytest.raises(RemotePermissionError, match=r"may not create .*run_0001.*permission"):
        worker.organize_files("e3", 1, str(router))
    assert contents(router) == files

    (router / "e4").write_text("a file where the experiment folder should be")
    ssh_server.give(router / "e4")
    with pytest.raises(RemotePathError, match="exists but is not a folder"):
        worker.organize_files("e4", 1, str(router))
    with pytest.raises(RemotePathError, match="does not exist"):
        worker.organize_files("e5", 1, str(router / "missing"))
    with pytest.raises(InvalidNameError):
        worker.organize_files("../escape", 1, str(router))
    assert contents(router) == files


# -- configs and logs ---------------------------------------------------------------------


def test_config_backup_copies_the_run_configs(
    ssh_server: SSHServer, worker: WorkerInterface
) -> None:
    configs = ssh_server.shared_folder("configs")
    names = [f"{step}-cobo.xcfg" for step in ("describe", "prepare", "configure")]
    for name in names:
        (configs / name).write_text(f"<{name}/>")
    ssh_server.give(configs)
    paths = [f"~/configs/{name}" for name in names]

    result = worker.backup_configs("e20009", 3, paths, backup_root="~/config_backups")
    backup = ssh_server.home / "config_backups" / "e20009" / "run_0003"
    assert result.destination == str(backup)
    assert sorted(p.name for p in backup.iterdir()) == sorted(names)
    assert all((backup / n).read_text() == f"<{n}/>" for n in names)
    # a second backup of the same run replaces the copies
    (configs / names[0]).write_text("<changed/>")
    worker.backup_configs("e20009", 3, paths, backup_root="~/config_backups")
    assert (backup / names[0]).read_text() == "<changed/>"

    with pytest.raises(RemotePathError, match=r"not found.*missing\.xcfg"):
        worker.backup_configs("e20009", 4, [*paths, "~/configs/missing.xcfg"])
    assert not (ssh_server.home / "config_backups" / "e20009" / "run_0004").exists()


def test_tail_log_returns_the_last_lines(ssh_server: SSHServer, worker: WorkerInterface) -> None:
    log = ssh_server.home / "dataRouter.log"
    log.write_text("".join(f"line {i}\n" for i in range(200)))
    ssh_server.give(log)
    assert worker.tail_log("~/dataRouter.log", lines=3) == "line 197\nline 198\nline 199\n"
    assert worker.tail_log(str(log)).splitlines()[0] == "line 150"
    with pytest.raises(RemotePathError, match="does not exist"):
        worker.tail_log("~/nothing.log")
    os.chmod(log, 0o000)
    os.chown(log, 0, 0)
    with pytest.raises(RemotePermissionError, match="may not read"):
        worker.tail_log("~/dataRouter.log")


# -- connecting ---------------------------------------------------------------------------


def _interface(server: SSHServer, **overrides: object) -> WorkerInterface:
    options: dict[str, object] = {
        "port": server.port,
        "key_filename": server.admin_key,
        "known_hosts": server.known_hosts,
        "connect_timeout": 5,
    }
    options.update(overrides)
    return WorkerInterface(server.host, server.user, **options)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connections_are_clear(ssh_server: SSHServer) -> None:
    wrong_port = _free_port()
    known = ssh_server.folder / "known_hosts_wrong_port"
    known.write_text(ssh_server.host_key_line.replace(str(ssh_server.port), str(wrong_port)))
    with pytest.raises(WorkerConnectionError, match="connection refused"):
        _interface(ssh_server, port=wrong_port, known_hosts=known).check_processes()

    worker = _interface(ssh_server)
    worker.connect()
    ssh_server.stop()
    try:
        worker.close()
        with pytest.raises(WorkerConnectionError, match=r"refused.*sshd runs"):
            worker.check_processes()
    finally:
        ssh_server.start()
    assert not worker.check_processes().data_router  # reconnects once sshd is back
    worker.close()
    with pytest.raises(WorkerConnectionError, match="not a TCP port"):
        _interface(ssh_server, port=70000)


def test_a_port_that_is_not_ssh_gives_a_clear_error(ssh_server: SSHServer) -> None:
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        worker = _interface(ssh_server, port=port, connect_timeout=0.5)
        with pytest.raises(WorkerConnectionError, match="is an SSH server"):
            worker.connect()
    assert not worker.connected


def test_bad_keys_are_refused_clearly(ssh_server: SSHServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(WorkerAuthError, match=r"refused the login.*authorized_keys"):
        _interface(ssh_server, key_filename=stranger).connect()
    with pytest.raises(WorkerAuthError, match="does not exist"):
        _interface(ssh_server, key_filename=tmp_path / "no_such_key").connect()
    garbage = tmp_path / "garbage_key"
    garbage.write_text("not a key\n")
    with pytest.raises(WorkerAuthError, match="not a usable SSH private key"):
        _interface(ssh_server, key_filename=garbage).connect()
    locked = tmp_path / "locked_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True
    )
    with pytest.raises(WorkerAuthError, match="passphrase"):
        _interface(ssh_server, key_filename=locked).connect()


def test_unknown_or_changed_host_keys_are_refused(ssh_server: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    with pytest.raises(UnknownHostKeyError, match=r"not in .*known_hosts_empty.*refused"):
        _interface(ssh_server, known_hosts=empty).connect()
    assert empty.read_text() == ""  # never added

    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = Path(f"{other}.pub").read_text().split()[:2]
    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"[{ssh_server.host}]:{ssh_server.port} {kind} {key}\n")
    with pytest.raises(HostKeyError, match="does not match"):
        _interface(ssh_server, known_hosts=changed).connect()
    with pytest.raises(HostKeyError, match="does not exist"):
        _interface(ssh_server, known_hosts=tmp_path / "missing").connect()
