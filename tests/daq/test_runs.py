"""Runs: numbering, start/stop confirmed on ECC state, router checks, end-of-run file moves."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests._sshd import SSHServer
from tests.daq._system import daq_system

from shiftdesk.daq.ecc import State
from shiftdesk.daq.errors import CommandFailed, DAQStateError, RunSheetError
from shiftdesk.daq.routers import SSHRouters
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, setup_from
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import RouterView

Cluster = Callable[..., SimulatedCluster]


def _ready(daq) -> None:  # type: ignore[no-untyped-def]
    for step in (daq.describe, daq.prepare, daq.configure):
        step().wait(10)


def _wait_for_graw(folder: Path, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(folder.glob("*.graw")):
        assert time.monotonic() < deadline, f"no GRAW file appeared in {folder}"
        time.sleep(0.02)


def test_a_run_is_opened_when_all_run_and_closed_when_all_stop(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2, mutant=True)
    with daq_system(cluster) as daq:
        _ready(daq)
        assert daq.next_run_number == 1  # runs count from 1
        handle = daq.start("beam on target", "Beam").wait(10)
        assert handle.run_number == 1
        run = daq.current_run
        assert run is not None and run.number == 1 and run.run_class == "Beam"
        assert run.config_names == "cobo0, cobo1, mutant"
        assert all(sim.state is State.RUNNING for sim in cluster)
        assert daq.next_run_number == 2
        assert "run 1 started (Beam: beam on target)" in [e.message for e in daq.log()]
        _wait_for_graw(cluster[0].data_dir)
        with pytest.raises(DAQStateError, match="not possible while the system is Running"):
            daq.configure()
        with pytest.raises(DAQStateError, match="run 1 is open; Stop it first"):
            daq.breakup()
        assert [c.value for c in daq.snapshot().legal] == ["Stop"]
        daq.stop().wait(10)
        assert daq.current_run is None
        closed = daq.runs()[-1]
        assert closed.stopped_at is not None and closed.stopped_at >= closed.started_at
        organize = daq.commands()[0]
        assert organize.command == "Organize files"
        organize.wait(10)
        run_dir = cluster[0].data_dir / "e20009" / "run_0001"
        assert list(run_dir.glob("*.graw"))
        assert not list(cluster[0].data_dir.glob("*.graw"))
        assert all(r.clean for r in daq.snapshot().routers)
        assert daq.runs()[-1].files_organized
        # The config files each server used are backed up with the run.
        steps = {s.name: s for s in organize.steps}
        assert steps["ECC_mutant configs"].status == "done"
        backup = Path(steps["ECC_0 configs"].message.removeprefix("copied to "))
        assert backup.parts[-2:] == ("e20009", "run_0001")
        # (One local backup folder here; on real hosts each ECC host has its own.)
        assert sorted(p.name for p in backup.iterdir()) == sorted(
            f"{kind}-{name}.xcfg"
            for kind in ("describe", "prepare", "configure")
            for name in ("cobo0", "cobo1", "mutant")
        )
        # A second pass moves nothing and loses nothing.
        before = sorted(p.name for p in run_dir.iterdir())
        again = daq.organize_files(1).wait(10)
        assert "0 files moved" in again.message
        assert sorted(p.name for p in run_dir.iterdir()) == before


def test_failed_start_leaves_no_open_run(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2, mutant=True)
    with daq_system(cluster) as daq:
        _ready(daq)
        cluster[1].fail("Start", "Could not connect to 'CoBo' node '1'")
        with pytest.raises(CommandFailed, match="node '1'"):
            daq.start("doomed").wait(10)
        assert daq.current_run is None and daq.runs() == []
        # CoBos go first, so the MuTAnT was never started.
        assert cluster.mutant.state is State.READY
        assert daq.next_run_number == 1


def test_start_is_refused_while_a_router_holds_unsorted_files(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        _ready(daq)
        (cluster[0].data_dir / "leftover_0001.graw").write_bytes(b"x")
        handle = daq.start()
        with pytest.raises(CommandFailed, match="1 unsorted GRAW files"):
            handle.wait(10)
        assert cluster[0].state is State.READY  # Start was never sent
        assert [(s.name, s.status) for s in handle.steps] == [("ECC_0", "skipped")]
        assert daq.runs() == []
        assert daq.snapshot().routers[0].clean is False
        assert "Start" not in [c.value for c in daq.snapshot().legal]


def test_run_numbers_are_shown_before_start_and_must_be_unused(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        _ready(daq)
        daq.set_next_run_number(41)
        assert daq.next_run_number == 41
        daq.start().wait(10)
        daq.stop().wait(10)
        daq.commands()[0].wait(10)
        assert [r.number for r in daq.runs()] == [41]
        assert daq.next_run_number == 42
        with pytest.raises(RunSheetError, match="exists already"):
            daq.set_next_run_number(41)
        with pytest.raises(DAQStateError, match="exists already"):
            daq.start(run_number=41)
        with pytest.raises(RunSheetError, match="whole number"):
            daq.set_next_run_number(-3)


def test_end_of_run_over_real_ssh(ssh_server: SSHServer, ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    folder = ssh_server.shared_folder("router0")
    for i in range(5):
        (folder / f"run_file_{i:04d}.graw").write_bytes(b"g" * 64)
    configs = ssh_server.shared_folder("configs")  # the ECC host's config repository
    for kind in ("describe", "prepare", "configure"):
        (configs / f"{kind}-cobo0.xcfg").write_text(f"<{kind}/>")
    ssh_server.give(folder)
    ssh_server.give(configs)
    routers = SSHRouters(key_filename=str(ssh_server.admin_key),
                         known_hosts=str(ssh_server.known_hosts), user=ssh_server.user,
                         ecc_ssh_port=ssh_server.port,
                         config_backup_root=str(ssh_server.home / "backups"))  # fmt: skip
    try:
        with daq_system(cluster, routers=routers) as daq:
            daq.apply_setup(
                setup_from(
                    [ServerSpec("ECC_0", "127.0.0.1", cluster[0].port,
                                config_root=str(configs))],
                    [RouterSpec("data_0", "127.0.0.1", ssh_host=ssh_server.host,
                                ssh_user=ssh_server.user, ssh_port=ssh_server.port,
                                folder=str(folder))],
                    [SourceSpec("CoBo", "0", "ECC_0", "data_0")],
                )
            )  # fmt: skip
            daq.select_config(cluster.configs[0])
            _ready(daq)
            with pytest.raises(CommandFailed, match="5 unsorted GRAW files"):
                daq.start().wait(10)
            daq.organize_files(7, backup_configs=True).wait(20)
            backup = ssh_server.home / "backups" / "e20009" / "run_0007"
            assert sorted(p.name for p in backup.iterdir()) == [
                "configure-cobo0.xcfg", "describe-cobo0.xcfg", "prepare-cobo0.xcfg"
            ]  # fmt: skip
            assert sorted(p.name for p in (folder / "e20009" / "run_0007").iterdir()) == [
                f"run_file_{i:04d}.graw" for i in range(5)
            ]
            view = daq.snapshot().routers[0]
            assert isinstance(view, RouterView) and view.clean is True
            assert daq.start().wait(10).ok
    finally:
        routers.close()


def test_a_failed_stop_keeps_the_run_open_until_every_server_stopped(
    ecc_servers: Cluster,
) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        _ready(daq)
        daq.start().wait(10)
        cluster[1].fail("Stop", "Error: CoBo[1] does not answer")
        with pytest.raises(CommandFailed, match="does not answer"):
            daq.stop().wait(10)
        assert daq.current_run is not None  # ECC_1 still runs: the run is not over
        assert cluster[1].state is State.RUNNING
        daq.server_command("ECC_1", "Stop").wait(10)
        handle = daq.stop().wait(10)  # everything stopped: confirm and close, send nothing
        assert handle.steps == [] and "run 1 stopped" in handle.message
        assert daq.current_run is None and daq.runs()[0].stopped_at is not None
        assert [r.operation for r in cluster[0].requests].count("Stop") == 1


def test_pause_and_resume_keep_the_run_open(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        _ready(daq)
        daq.start().wait(10)
        daq.command("Pause").wait(10)
        assert cluster[0].state is State.PAUSED and daq.current_run is not None
        daq.command("Resume").wait(10)
        assert cluster[0].state is State.RUNNING and daq.current_run is not None
        daq.stop().wait(10)
        assert daq.current_run is None


def test_runs_count_from_1_and_the_log_has_no_empty_parts(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        _ready(daq)
        assert daq.next_run_number == 1  # no stored default: the first run is run 1
        daq.start().wait(10)  # no title
        assert daq.current_run is not None and daq.current_run.number == 1
        started = [e.message for e in daq.log(source="run")]
        assert started == ["run 1 started (Testing)"]  # not "(Testing: )"
        daq.stop().wait(10)
        daq.commands()[0].wait(10)
        # A crew continuing another numbering may still choose 0 (unused here).
        daq.set_next_run_number(0)
        assert daq.next_run_number == 0


def test_command_and_step_messages_say_each_thing_once(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        handle = daq.describe().wait(10)
        # the views put the command's name in front: "Describe all: done in 0.3 s"
        assert re.fullmatch(r"done in \d+\.\d s", handle.message), handle.message
        for step in handle.steps:
            assert re.fullmatch(r"done in \d+\.\d s", step.message), step
        assert f"Describe: {handle.message}" in [e.message for e in daq.log(source="all")]
        cluster[1].fail("Prepare", "Could not connect to 'CoBo' node '1'")
        failed = daq.prepare()
        with pytest.raises(CommandFailed) as info:
            failed.wait(10)
        error = failed.error or ""
        assert error.startswith("ECC_1: ") and error.endswith("to 'CoBo' node '1'"), error
        assert str(info.value).count("node '1'") == 1, info.value  # said once
        # A server's log: every call with its outcome, a failure once (as the call).
        log = [e.message for e in daq.server_log("ECC_1")]
        assert log[0].startswith("Prepare: failed — ") and log[0].endswith("node '1'"), log
        assert re.fullmatch(r"Describe: done in \d+\.\d s", log[1]), log
        assert sum("node '1'" in m for m in log) == 1, log
        assert [e.message for e in daq.servers["ECC_1"].log()] == log
