"""The poller: concurrent GetState sweeps into the database, offline and stale marking."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from tests.daq._system import daq_system
from tests.daq._system import until as _until

from shiftdesk.cli import main
from shiftdesk.daq.ecc import State, Transition
from shiftdesk.daq.poller import Poller, read_snapshot
from shiftdesk.daq.simulator import SimulatedCluster

Cluster = Callable[..., SimulatedCluster]


def test_a_sweep_stores_every_servers_state(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(3)
    cluster[2].set_state(State.PREPARED)
    with daq_system(cluster, select=False) as daq:
        poller = Poller(daq.database, period=5.0)  # long: "fresh" must not race the clock
        try:
            sweep = poller.poll_once()
        finally:
            poller.stop()
        assert sorted(sweep.answered) == ["ECC_0", "ECC_1", "ECC_2"] and not sweep.failed
        snap = read_snapshot(daq.database)
        assert [s.state for s in snap.servers] == [State.IDLE, State.IDLE, State.PREPARED]
        assert all(s.online and not s.stale for s in snap.servers)
        assert snap.poller_alive and snap.poll_period_s == 5.0
        assert snap.overall == "Inconsistent" and snap.legal == []


def test_a_hung_server_is_marked_offline_without_delaying_the_others(
    ecc_servers: Cluster,
) -> None:
    cluster = ecc_servers(3)
    with daq_system(cluster, select=False) as daq:
        cluster[1].inject("hang", "GetState", times=None)
        cluster[0].set_state(State.DESCRIBED)
        poller = Poller(daq.database, period=1.0, timeout=1.0)
        try:
            poller.poll_once()
            snap = read_snapshot(daq.database)
            assert snap.server("ECC_0").state is State.DESCRIBED
            assert snap.server("ECC_2").state is State.IDLE
            assert snap.server("ECC_1").status == "Offline"
            assert snap.server("ECC_1").error
            # The next sweep does not pile a second call onto the hung server.
            cluster[1].release()
            cluster[1].clear_failures()
            _until(lambda: "ECC_1" not in poller.poll_once().skipped)
            _until(lambda: read_snapshot(daq.database).server("ECC_1").online)
        finally:
            poller.stop()
        assert any("offline" in e.message for e in daq.log())


def test_a_stopped_server_goes_offline_and_its_reading_turns_stale(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster, select=False) as daq:
        poller = Poller(daq.database, period=0.1, timeout=0.5)
        try:
            poller.poll_once()
            cluster[1].stop()
            poller.poll_once()
        finally:
            poller.stop()
        snap = read_snapshot(daq.database)
        assert snap.server("ECC_1").status == "Offline"
        assert snap.server("ECC_1").state is State.IDLE  # last reading kept, flagged
        assert snap.overall == "Offline"
        time.sleep(0.25)  # more than two poll periods without a sweep
        snap = read_snapshot(daq.database)
        assert snap.server("ECC_0").stale and snap.server("ECC_0").status.startswith("Stale")
        assert not snap.poller_alive and snap.overall in ("Offline", "Stale")


def test_a_state_change_shows_in_the_stored_state(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq, Poller(daq.database, period=0.2):
        _until(lambda: read_snapshot(daq.database).state is State.IDLE)
        cluster[0].hold()
        daq.server_command("ECC_0", "Describe")
        _until(lambda: read_snapshot(daq.database).server("ECC_0").transition
               is Transition.DESCRIBING)  # fmt: skip
        assert read_snapshot(daq.database).server("ECC_0").transitioning
        cluster[0].release()
        _until(lambda: read_snapshot(daq.database).server("ECC_0").state is State.DESCRIBED)


def test_poll_command_line(ecc_servers: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster, select=False):
        assert main(["daq", "poll", "--once", "--period", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "1 answered, 0 failed" in out and "Idle" in out


def test_a_dashboard_process_polls_only_when_nobody_else_does(ecc_servers: Cluster) -> None:
    from shiftdesk.daq.demo import seed_demo
    from shiftdesk.daq.poller import ensure_poller
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

    cluster = ecc_servers(1, mutant=True)
    db = Database()
    daq = seed_demo(cluster, database=db, identity=Identity("alice"))
    assert [s.config for s in daq.snapshot().servers] == [
        ("cobo0", "cobo0", "cobo0"), ("mutant", "mutant", "mutant")
    ]  # fmt: skip
    assert [o.name for o in daq.runsheet.observables()] == ["Beam current", "Gas", "Pressure"]
    poller = ensure_poller(db, period=0.2)
    try:
        assert poller is not None and poller.running
        assert ensure_poller(db, period=0.2) is poller  # one per process
        _until(lambda: read_snapshot(db).poller_alive and read_snapshot(db).state is State.IDLE)
    finally:
        assert poller is not None
        poller.stop()
    # Another process's poller (its heartbeat is fresh) means this one stays out.
    other = Poller(db, period=5.0)
    try:
        other.poll_once()
        assert ensure_poller(db) is None
    finally:
        other.stop()


def test_the_poller_checks_the_data_routers(ecc_servers: Cluster) -> None:
    from shiftdesk.daq.routers import LocalRouters

    cluster = ecc_servers(2)
    with daq_system(cluster, select=False) as daq:
        (cluster[1].data_dir / "CoBo_0001.graw").write_bytes(b"x")
        cluster[0].data_dir.rmdir()  # a router whose folder is gone
        poller = Poller(daq.database, period=0.5, routers=LocalRouters(), router_period=0.0)
        try:
            poller.poll_once()
            _until(lambda: all(r.checked_at for r in read_snapshot(daq.database).routers))
        finally:
            poller.stop()
        routers = {r.name: r for r in read_snapshot(daq.database).routers}
        assert routers["data_1"].status == "Unsorted files" and routers["data_1"].online
        assert routers["data_0"].status == "Offline" and "does not exist" in (
            routers["data_0"].error or ""
        )
        assert "Start" not in [c.value for c in read_snapshot(daq.database).legal]


def test_the_dashboard_poller_checks_the_routers_the_way_its_system_does(
    ecc_servers: Cluster,
) -> None:
    from shiftdesk.daq.poller import ensure_poller
    from shiftdesk.daq.routers import LocalRouters
    from shiftdesk.daq.snapshot import RouterView

    cluster = ecc_servers(2)
    # The system reaches its routers through local folders: so does the dashboard's poller.
    with daq_system(cluster, select=False, routers=LocalRouters()) as daq:
        (cluster[1].data_dir / "CoBo_0001.graw").write_bytes(b"x")
        poller = ensure_poller(daq.database, period=0.2)
        try:
            assert poller is not None and isinstance(poller.routers, LocalRouters)

            def routers() -> dict[str, RouterView]:
                return {r.name: r for r in read_snapshot(daq.database).routers}

            _until(lambda: all(r.checked_at for r in routers().values()))
            found = routers()
            assert found["data_0"].status == "Clean" and found["data_0"].online
            assert found["data_1"].status == "Unsorted files"
            # Files sorted away: the next router check shows the router clean.
            (cluster[1].data_dir / "CoBo_0001.graw").unlink()
            _until(lambda: routers()["data_1"].status == "Clean")
        finally:
            assert poller is not None
            poller.stop()
