"""System-wide and per-server transitions against simulated ECC servers over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.daq._system import daq_system

from shiftdesk.daq.ecc import State
from shiftdesk.daq.errors import CommandFailed, DAQStateError, SetupError
from shiftdesk.daq.records import CallRecord, ECCServerRecord
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, setup_from
from shiftdesk.daq.simulator import SimulatedCluster

Cluster = Callable[..., SimulatedCluster]


def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _calls(daq, operation):  # type: ignore[no-untyped-def]
    with daq.database.session() as session:
        rows = session.scalars(select(CallRecord).where(CallRecord.operation == operation)).all()
        return {r.server: (r.started_at, r.duration_s, r.ok) for r in rows}


def test_full_sequence_reaches_ready_and_back(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2, mutant=True)
    with daq_system(cluster) as daq:
        assert daq.refresh().state is State.IDLE
        for step, state in (
            (daq.describe, State.DESCRIBED),
            (daq.prepare, State.PREPARED),
            (daq.configure, State.READY),
        ):
            handle = step().wait(10)
            assert handle.ok
            assert {s.state for s in daq.snapshot().servers} == {state}
            assert all(sim.state is state for sim in cluster)
        # Reset steps back exactly one state each time.
        daq.reset().wait(10)
        assert all(sim.state is State.PREPARED for sim in cluster)
        daq.reset().wait(10)
        assert all(sim.state is State.DESCRIBED for sim in cluster)


def test_configure_sends_each_servers_data_links(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        for step in (daq.describe, daq.prepare, daq.configure):
            step().wait(10)
        for i, sim in enumerate(cluster):
            configure = [r for r in sim.requests if r.operation == "Configure"][-1]
            links = configure.params["table"]
            assert f'id="CoBo[{i}]"' in links
            assert f'port="{46005 + i}"' in links and 'type="TCP"' in links


def test_prepare_goes_to_the_mutant_first_and_configure_to_the_cobos_first(
    ecc_servers: Cluster,
) -> None:
    cluster = ecc_servers(2, mutant=True, durations=0.15)
    with daq_system(cluster) as daq:
        daq.describe().wait(10)
        daq.prepare().wait(10)
        daq.configure().wait(10)
        prepare = _calls(daq, "Prepare")
        mutant_end = prepare["ECC_mutant"][0].timestamp() + prepare["ECC_mutant"][1]
        assert all(prepare[f"ECC_{i}"][0].timestamp() >= mutant_end for i in (0, 1))
        configure = _calls(daq, "Configure")
        cobos_end = max(configure[f"ECC_{i}"][0].timestamp() + configure[f"ECC_{i}"][1]
                        for i in (0, 1))  # fmt: skip
        assert configure["ECC_mutant"][0].timestamp() >= cobos_end


def test_transitions_run_in_parallel_and_the_caller_is_not_blocked(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(4)
    with daq_system(cluster) as daq:
        daq.describe().wait(10)
        daq.prepare().wait(10)
        for sim in cluster:
            sim.hold()
        handle = daq.configure()  # returns while every server is still configuring
        # Every server is in its Configure at the same time: the calls run in parallel.
        for sim in cluster:
            sim.wait_transitioning(5)
        assert not handle.refresh().finished
        assert daq.snapshot().overall == "Busy"
        with pytest.raises(DAQStateError, match="in flight"):
            daq.breakup()
        for sim in cluster:
            sim.release()
        assert handle.wait(10).ok
        assert all(sim.state is State.READY for sim in cluster)


def test_system_commands_need_every_server_to_agree(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        cluster[1].set_state(State.DESCRIBED)
        with pytest.raises(DAQStateError, match="do not agree"):
            daq.describe()
        assert cluster[0].state is State.IDLE  # nothing was sent
        # The expert per-server command brings them together.
        daq.server_command("ECC_0", "Describe").wait(10)
        assert daq.refresh().state is State.DESCRIBED


def test_one_step_at_a_time(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        with pytest.raises(DAQStateError, match="one step at a time"):
            daq.configure()
        with pytest.raises(DAQStateError, match="Reset refused"):
            daq.reset()
        with pytest.raises(DAQStateError, match="not possible on ECC_0"):
            daq.server_command("ECC_0", "Start")
        assert cluster[0].state is State.IDLE


def test_a_server_error_fails_the_command_and_stops_later_phases(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2, mutant=True)
    with daq_system(cluster) as daq:
        daq.describe().wait(10)
        cluster.mutant.fail("Prepare", "Could not connect to 'Mutant' node 'master'")
        handle = daq.prepare()
        with pytest.raises(CommandFailed, match="Could not connect"):
            handle.wait(10)
        steps = {s.name: s.status for s in handle.steps}
        assert steps == {"ECC_mutant": "failed", "ECC_0": "skipped", "ECC_1": "skipped"}
        assert all(sim.state is State.DESCRIBED for sim in cluster)
        assert any("Could not connect" in e.message for e in daq.log())


def test_an_unreachable_server_refuses_system_commands(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        cluster[1].stop()
        with pytest.raises(DAQStateError, match="Offline"):
            daq.describe()
        assert daq.snapshot().server("ECC_1").status == "Offline"


def test_configs_are_checked_against_the_servers_config_set(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster, select=False) as daq:
        with pytest.raises(DAQStateError, match="no config selected"):
            daq.describe()
        with pytest.raises(SetupError, match="has no config nosuch"):
            daq.select_config("nosuch")
        daq.select_config(cluster.configs[0])
        assert daq.snapshot().server("ECC_0").config == ("cobo0", "cobo0", "cobo0")
        assert ("cobo0", "cobo0", "cobo0") in daq.snapshot().server("ECC_0").available_configs


def test_ordering_follows_source_types_on_coupled_hardware(ecc_servers: Cluster) -> None:
    # A CoBo cannot Prepare before the MuTAnT, the MuTAnT cannot Start before every CoBo.
    cluster = ecc_servers(2, mutant=True, enforce_mutant_order=True)
    with daq_system(cluster, select=False) as daq:
        for sim in cluster:
            sim.data_dir.mkdir(parents=True, exist_ok=True)
        # Names that say nothing: the MuTAnT must be found by its source's type.
        names = ["crate_a", "crate_b", "crate_c"]
        kinds = [("CoBo", "0"), ("CoBo", "1"), ("MuTAnT", "master")]
        daq.apply_setup(
            setup_from(
                [
                    ServerSpec(n, "127.0.0.1", sim.port)
                    for n, sim in zip(names, cluster, strict=True)
                ],
                [
                    RouterSpec(f"r{i}", "127.0.0.1", 46005 + i, folder=str(sim.data_dir))
                    for i, sim in enumerate(cluster)
                ],
                [
                    SourceSpec(k, inst, n, f"r{i}")
                    for i, (n, (k, inst)) in enumerate(zip(names, kinds, strict=True))
                ],
            )
        )
        for name, config in zip(names, cluster.configs, strict=True):
            daq.select_config(config, server=name)
        for step in (daq.describe, daq.prepare, daq.configure):
            step().wait(10)
        assert daq.start().wait(10).ok
        assert all(sim.state is State.RUNNING for sim in cluster)
        daq.stop().wait(10)
        assert all(sim.state is State.READY for sim in cluster)


def test_describe_must_name_the_servers_own_sources(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        daq.select_config(cluster.configs[1], server="ECC_0")  # describes CoBo[1]
        handle = daq.describe()
        with pytest.raises(CommandFailed, match=r"has data senders \['CoBo\[1\]'\].*CoBo\[0\]"):
            handle.wait(10)
        assert {s.name: s.status for s in handle.steps} == {"ECC_0": "failed", "ECC_1": "done"}


def test_every_command_call_is_audited(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        daq.describe().wait(10)
        cluster[0].fail("Prepare", "Error: no such prepare file")
        with pytest.raises(CommandFailed):
            daq.prepare().wait(10)
        calls = daq.calls("ECC_0")
        assert [(c.operation, c.ok, c.owner) for c in calls] == [
            ("Prepare", False, "alice"), ("Describe", True, "alice")
        ]  # fmt: skip
        assert calls[0].error_code == 2 and "no such prepare file" in calls[0].message
        wire = [c for c in daq.wire_history("ECC_0") if c.operation == "Prepare"]
        assert wire and "<Prepare" in (wire[-1].request or "")
        assert "no such prepare file" in (wire[-1].response or "")


def _requests(sim: object, operation: str) -> int:
    return [r.operation for r in sim.requests].count(operation)  # type: ignore[attr-defined]


def test_a_hung_server_does_not_block_the_caller_and_states_are_verified_first(
    ecc_servers: Cluster,
) -> None:
    from shiftdesk.daq.poller import Poller

    cluster = ecc_servers(3)
    # A long state timeout: the hung server is released well before it gives up.
    with daq_system(cluster, state_timeout=30.0) as daq:
        poller = Poller(daq.database, period=30.0)  # one sweep: a fresh stored reading
        try:
            poller.poll_once()
        finally:
            poller.stop()
        hung = cluster[1]
        hung.inject("hang", "GetState")
        before = _requests(hung, "GetState")
        handle = daq.describe()  # judged on the stored state: no call to the hung server
        # The background check reaches the hung server and waits there; nothing is sent.
        _until(lambda: _requests(hung, "GetState") > before)
        assert not handle.refresh().finished
        assert all(_requests(sim, "Describe") == 0 for sim in cluster)
        hung.release()
        assert handle.wait(10).ok
        assert all(sim.state is State.DESCRIBED for sim in cluster)


def test_a_command_fails_clearly_when_the_live_state_differs_from_the_stored_one(
    ecc_servers: Cluster,
) -> None:
    from shiftdesk.daq.poller import Poller

    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        poller = Poller(daq.database, period=30.0)
        try:
            poller.poll_once()
        finally:
            poller.stop()
        cluster[1].set_state(State.DESCRIBED)  # behind the stored reading's back
        handle = daq.describe()
        with pytest.raises(CommandFailed, match="ECC_1 is Described, not Idle"):
            handle.wait(10)
        assert "not sent" in (handle.error or "")
        assert all(_requests(sim, "Describe") == 0 for sim in cluster)
        # The check stored what it read: the next command is refused at once.
        assert daq.snapshot().server("ECC_1").state is State.DESCRIBED
        with pytest.raises(DAQStateError, match="do not agree"):
            daq.describe()


def test_a_stale_stored_state_is_read_live_before_judging(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        daq.refresh()
        with daq.database.session() as session:  # the reading is now an hour old
            for row in session.scalars(select(ECCServerRecord)):
                row.polled_at = row.seen_at = row.polled_at - timedelta(hours=1)
        cluster[1].set_state(State.DESCRIBED)
        with pytest.raises(DAQStateError, match="do not agree"):
            daq.describe()
        assert all(_requests(sim, "Describe") == 0 for sim in cluster)
