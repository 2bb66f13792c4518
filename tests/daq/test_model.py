"""The stored DAQ model: experiments, easy setup, atomic replacement, snapshots, reprs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.daq._system import daq_system

from shiftdesk.daq.ecc import State
from shiftdesk.daq.errors import DAQStateError, SetupError
from shiftdesk.daq.experiment import create_experiment
from shiftdesk.daq.poller import read_snapshot
from shiftdesk.daq.setup import RouterSpec, ServerSpec, SourceSpec, easy_setup, setup_from
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import Command, legal_commands
from shiftdesk.daq.system import DAQSystem
from shiftdesk.errors import NotFound
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

Cluster = Callable[..., SimulatedCluster]
ALICE = Identity("alice")


@pytest.fixture
def daq() -> DAQSystem:
    db = Database()
    create_experiment("e20009", operators=["alice"], database=db, identity=ALICE)
    return DAQSystem(db, ALICE)


def test_no_active_experiment_is_a_clear_error() -> None:
    with pytest.raises(NotFound, match="create_experiment"):
        DAQSystem(Database(), ALICE)


def test_experiment_names_are_checked(daq: DAQSystem) -> None:
    with pytest.raises(SetupError, match="folder name"):
        create_experiment("e2/0009", database=daq.database, identity=ALICE)
    with pytest.raises(SetupError, match="exists already"):
        create_experiment("e20009", database=daq.database, identity=ALICE)


def test_easy_setup_one_server_for_all(daq: DAQSystem) -> None:
    snap = daq.easy_setup(3, ecc_host="192.168.41.10", router_host="192.168.41.60")
    assert [(s.name, s.url) for s in snap.servers] == [("ECC", "http://192.168.41.10:8083/")]
    assert [src.sender for src in snap.servers[0].sources] == [
        "CoBo[0]", "CoBo[1]", "CoBo[2]", "Mutant[master]"
    ]  # fmt: skip
    assert [(r.name, r.host, r.port) for r in snap.routers] == [
        ("data_0", "192.168.41.60", 46005),
        ("data_1", "192.168.41.61", 46005),
        ("data_2", "192.168.41.62", 46005),
        ("data_mutant", "192.168.41.63", 46005),
    ]
    assert snap.servers[0].has_mutant


def test_easy_setup_one_server_per_cobo_with_incrementing_addresses(daq: DAQSystem) -> None:
    snap = daq.easy_setup(2, ecc_host="10.0.0.254", one_server_per_cobo=True, mutant=True)
    assert [(s.name, s.host) for s in snap.servers] == [
        ("ECC_0", "10.0.0.254"), ("ECC_1", "10.0.0.255"), ("ECC_mutant", "10.0.1.0")
    ]  # fmt: skip
    # The MuTAnT is recognised by its source type, not by the server's name.
    assert [s.has_mutant for s in snap.servers] == [False, False, True]
    by_port = easy_setup(2, ecc_host="127.0.0.1", ecc_port=9000, one_server_per_cobo=True,
                         step="port", mutant=False)  # fmt: skip
    assert [(s.host, s.port) for s in by_port.servers] == [("127.0.0.1", 9000), ("127.0.0.1", 9001)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ecc_host": "300.1.1.1"}, "not an IP address"),
        ({"ecc_host": "daq host"}, "not an IP address"),
        ({"ecc_host": "10.0.0.1", "ecc_port": 70000}, "not a TCP port"),
        ({"ecc_host": "10.0.0.1", "router_port": 0}, "not a TCP port"),
        ({"ecc_host": "10.0.0.1", "router_type": "tcp"}, "not one of"),
        ({"ecc_host": "daq1", "one_server_per_cobo": True}, "must be an IP address to step"),
    ],
)
def test_bad_setups_are_refused_and_the_old_one_stays(
    daq: DAQSystem, kwargs: dict[str, object], message: str
) -> None:
    daq.easy_setup(1, ecc_host="192.168.41.10")
    with pytest.raises(SetupError, match=message):
        daq.easy_setup(2, **kwargs)
    assert [s.host for s in daq.snapshot().servers] == ["192.168.41.10"]


def test_setup_specs_are_checked_as_a_whole(daq: DAQSystem) -> None:
    server = ServerSpec("ECC", "10.0.0.1")
    router = RouterSpec("data0", "10.0.0.2")
    with pytest.raises(SetupError, match="no data router 'data9'"):
        setup_from([server], [router], [SourceSpec("CoBo", "0", "ECC", "data9")])
    with pytest.raises(SetupError, match="two sources are CoBo\\[0\\]"):
        setup_from([server], [router], [SourceSpec("CoBo", "0", "ECC", "data0")] * 2)
    with pytest.raises(SetupError, match="source kind 'AsAd'"):
        setup_from([server], [router], [SourceSpec("AsAd", "0", "ECC", "data0")])
    with pytest.raises(SetupError, match="without sources"):
        setup_from([server, ServerSpec("ECC2", "10.0.0.3")], [router],
                   [SourceSpec("CoBo", "0", "ECC", "data0")])  # fmt: skip


def test_setup_cannot_change_while_a_run_is_open(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        for step in (daq.describe, daq.prepare, daq.configure):
            step().wait(10)
        daq.start().wait(10)
        with pytest.raises(DAQStateError, match="run 1 is open"):
            daq.easy_setup(2, ecc_host="10.0.0.1")
        assert len(daq.snapshot().servers) == 1


def test_snapshot_state_and_legal_commands(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster) as daq:
        snap = daq.refresh()
        assert snap.consistent and snap.state is State.IDLE and snap.overall == "Idle"
        assert snap.legal == [Command.DESCRIBE]
        cluster[1].set_state(State.READY)
        snap = daq.refresh()
        assert not snap.consistent and snap.overall == "Inconsistent" and snap.legal == []
        assert read_snapshot(daq.database).server("ECC_1").state is State.READY
    assert legal_commands(State.RUNNING) == [Command.STOP, Command.PAUSE, Command.BREAKUP]
    assert legal_commands(None) == []


def test_objects_show_themselves(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        handle = daq.describe().wait(10)
        text = repr(daq)
        assert "e20009" in text and "ECC_0" in text and "Described" in text
        html = daq._repr_html_()
        assert "sd-text-fallback" in html and "CoBo[0]" in html and "next run 1" in html
        assert "Describe" in repr(handle) and "done" in repr(handle)
        assert "ECC_0" in handle._repr_html_()


def test_commands_claim_their_servers(daq: DAQSystem) -> None:
    from shiftdesk.daq.commands import CommandHandle, CommandWriter, create_command

    def store(steps: list[str], owner: str = "bob") -> str:
        return create_command(daq.database, daq.experiment_id, "Configure", target="all",
                              owner=owner, timeout_s=60, steps=steps)  # fmt: skip

    first = store(["ECC_0", "ECC_1"])
    # As if another kernel had checked just before the first command was stored:
    with pytest.raises(DAQStateError, match="Configure \\(sent by bob\\) is in flight"):
        store(["ECC_1"], owner="carol")
    other = store(["data_0"])  # other devices are free
    assert daq.snapshot().active_commands == ("Configure", "Configure")
    for command_id in (first, other):
        CommandWriter(daq.database, command_id, daq.experiment_id, "bob").finish(False, "x")
    assert CommandHandle(first, daq.database).status == "failed"
    assert daq.snapshot().active_commands == ()
    store(["ECC_1"], owner="carol")


def test_a_server_shows_busy_until_its_command_has_ended(ecc_servers: Cluster) -> None:
    with daq_system(ecc_servers(1)) as daq:
        _a_server_shows_busy_until_its_command_has_ended(daq)


def _a_server_shows_busy_until_its_command_has_ended(daq: DAQSystem) -> None:
    from shiftdesk.daq.commands import CommandWriter, create_command
    from shiftdesk.daq.records import CommandRecord

    command_id = create_command(daq.database, daq.experiment_id, "Configure", target="all",
                                owner="bob", timeout_s=60, steps=["ECC_0"])  # fmt: skip
    with daq.database.session() as session:
        row = session.get(CommandRecord, command_id)
        assert row is not None
        row.status = "running"
        row.steps_json = '{"ECC_0": {"status": "done"}}'  # its step is over, the command not
    # The buttons read this: had it shown the server free, Start would be offered and
    # then refused by the claim check, which holds the server until the command ends.
    assert daq.snapshot().server("ECC_0").busy_command == "Configure"
    with pytest.raises(DAQStateError, match="in flight"):
        create_command(daq.database, daq.experiment_id, "Start", target="all",
                       owner="bob", timeout_s=60, steps=["ECC_0"])  # fmt: skip
    CommandWriter(daq.database, command_id, daq.experiment_id, "bob").finish(True, "")
    assert daq.snapshot().server("ECC_0").busy_command is None


def test_a_command_whose_process_died_is_closed_as_abandoned(daq: DAQSystem) -> None:
    import subprocess
    import sys

    from shiftdesk.daq.commands import LIVE, CommandHandle, create_command
    from shiftdesk.daq.records import CommandRecord

    command_id = create_command(daq.database, daq.experiment_id, "Configure", target="all",
                                owner="bob", timeout_s=60, steps=["ECC_0"])  # fmt: skip
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with daq.database.session() as session:
        row = session.get(CommandRecord, command_id)
        assert row is not None
        row.pid = int(dead.stdout)  # as if another kernel had sent it and then died
    LIVE.discard(command_id)
    assert daq.snapshot().active_commands == ()
    handle = CommandHandle(command_id, daq.database)
    assert handle.status == "failed" and "abandoned" in (handle.error or "")


@pytest.mark.postgres
def test_the_model_on_postgresql(postgres_url: str, ecc_servers: Cluster) -> None:
    from shiftdesk.daq.control import Controller
    from shiftdesk.daq.demo import cluster_setup
    from shiftdesk.daq.poller import Poller
    from shiftdesk.daq.routers import LocalRouters

    cluster = ecc_servers(2)
    db = Database(postgres_url)
    controller = Controller(db)
    try:
        daq = DAQSystem.create("e20009", operators=["alice"], database=db, identity=ALICE,
                               controller=controller, routers=LocalRouters())  # fmt: skip
        daq.apply_setup(cluster_setup(cluster))
        for i, config in enumerate(cluster.configs):
            daq.select_config(config, server=f"ECC_{i}")
        poller = Poller(db, period=0.5)
        try:
            assert sorted(poller.poll_once().answered) == ["ECC_0", "ECC_1"]
        finally:
            poller.stop()
        for step in (daq.describe, daq.prepare, daq.configure):
            step().wait(10)
        daq.start("pg", "Beam").wait(10)
        daq.stop().wait(10)
        daq.commands()[0].wait(10)
        sheet = daq.runsheet
        sheet.add_observable("Pressure", "integer", units="Torr")
        sheet.update(1, {"Pressure": "150"})
        assert sheet.series("Pressure") == ([1], [150])
        assert daq.runs()[0].files_organized and daq.snapshot().state is State.READY
    finally:
        controller.close(wait=False)
        db.dispose()


@pytest.mark.postgres
def test_racing_commands_on_postgresql_claim_the_servers_once(
    postgres_url: str, ecc_servers: Cluster
) -> None:
    import threading

    from shiftdesk.daq.commands import CommandWriter, create_command
    from shiftdesk.daq.control import Controller
    from shiftdesk.daq.demo import cluster_setup
    from shiftdesk.daq.routers import LocalRouters

    cluster = ecc_servers(2)
    db = Database(postgres_url)
    controllers = [Controller(db), Controller(db)]
    try:
        first = DAQSystem.create("e20009", operators=["alice", "bob"], database=db,
                                 identity=ALICE, controller=controllers[0],
                                 routers=LocalRouters())  # fmt: skip
        first.apply_setup(cluster_setup(cluster))
        for i, config in enumerate(cluster.configs):
            first.select_config(config, server=f"ECC_{i}")
        # Two processes' systems (own controllers, own locks) on the same servers.
        second = DAQSystem(db, Identity("bob"), controller=controllers[1], routers=LocalRouters())

        def race(*actions: Callable[[], object]) -> list[object]:
            barrier = threading.Barrier(len(actions))
            outcomes: list[object] = [None] * len(actions)

            def run(i: int) -> None:
                barrier.wait(10)
                try:
                    outcomes[i] = actions[i]()
                except DAQStateError as exc:
                    outcomes[i] = exc

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            return outcomes

        # The claim itself, raced a few times: each time exactly one command is stored.
        for _round in range(4):
            outcomes = race(*[
                lambda who=who: create_command(
                    db, first.experiment_id, "Describe", target="all", owner=who,
                    timeout_s=30.0, steps=["ECC_0", "ECC_1"],
                )
                for who in ("alice", "bob")
            ])  # fmt: skip
            won = [o for o in outcomes if isinstance(o, str)]
            lost = [o for o in outcomes if isinstance(o, DAQStateError)]
            assert len(won) == 1 and len(lost) == 1, outcomes
            assert "is in flight on the same servers" in str(lost[0])
            CommandWriter(db, won[0], first.experiment_id, "alice").finish(False, "test")
        # Through the API: one Describe goes out, the other is refused clearly.
        first.refresh()
        outcomes = race(first.describe, second.describe)
        handles = [o for o in outcomes if not isinstance(o, DAQStateError)]
        refused = [o for o in outcomes if isinstance(o, DAQStateError)]
        assert len(handles) == 1 and len(refused) == 1, outcomes
        assert "in flight" in str(refused[0])
        assert handles[0].wait(10).ok  # type: ignore[attr-defined]
        assert all([r.operation for r in sim.requests].count("Describe") == 1 for sim in cluster)
    finally:
        for controller in controllers:
            controller.close(wait=False)
        db.dispose()
