"""The demo hub's DAQ service seeding the shared database (real simulated ECC servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiftdesk.daq import DAQSystem
from shiftdesk.daq.errors import SetupError
from shiftdesk.daq.experiment import active_experiment, create_experiment
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.errors import PermissionDenied
from shiftdesk.hub.daq_demo import EXPERIMENT, SERVICE_IDENTITY, seed, start_cluster
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

OPERATOR = Identity("operator", groups=frozenset({"operators-demo", "staff"}))
VIEWER = Identity("viewer")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'shared.sqlite'}")


def test_seed_points_the_demo_experiment_at_the_servers_operated_by_the_group(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "daq"
    cluster = start_cluster(folder, 1, 0.0)
    try:
        seed(cluster, folder, db)
        record = active_experiment(db)
        assert record.name == EXPERIMENT and record.operator_group == "operators-demo"
        op = DAQSystem(db, OPERATOR, routers=LocalRouters())
        snap = op.snapshot()
        assert [s.url for s in snap.servers] == cluster.urls
        assert [s.config for s in snap.servers] == [("cobo0",) * 3, ("mutant",) * 3]
        assert op.can_operate
        viewer = DAQSystem(db, VIEWER, routers=LocalRouters())
        assert not viewer.can_operate
        with pytest.raises(PermissionDenied, match="'viewer' may not send Describe"):
            viewer.describe()
    finally:
        cluster.stop()

    # a restarted service gets new ports: the same experiment follows its new servers
    again = start_cluster(folder, 1, 0.0)
    try:
        seed(again, folder, db)
        snap = DAQSystem(db, OPERATOR, routers=LocalRouters()).snapshot()
        assert [s.url for s in snap.servers] == again.urls
        assert len(snap.servers) == 2
    finally:
        again.stop()


def test_seed_never_touches_a_configured_experiment(db: Database, tmp_path: Path) -> None:
    create_experiment("e20009", database=db, identity=SERVICE_IDENTITY)
    folder = tmp_path / "daq"
    cluster = start_cluster(folder, 1, 0.0)
    try:
        with pytest.raises(SetupError, match="experiment 'e20009' is active"):
            seed(cluster, folder, db)
    finally:
        cluster.stop()
    assert active_experiment(db).name == "e20009"


def test_a_dashboard_in_a_hub_server_watches_the_shared_demo_and_starts_no_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with no poller heartbeat yet (the hub's poller still starting), a dashboard
    in a hub user server watches the seeded system instead of starting its own demo."""
    from shiftdesk.daq.poller import ensure_poller
    from shiftdesk.storage import data_dir, get_database
    from shiftdesk_widgets.daq import DAQDashboard

    folder = tmp_path / "daq"
    cluster = start_cluster(folder, 1, 0.0)
    try:
        seed(cluster, folder, get_database())
        monkeypatch.setenv("SHIFTDESK_DAQ_HUB_DEMO", "1")
        dash = DAQDashboard.start()
        try:
            assert dash.demo is None and dash.state_poller is None
            assert dash.system.experiment_name == EXPERIMENT
            assert [s.url for s in dash.snapshot.servers] == cluster.urls
            assert not dash.can_operate  # the OS user is not in operators-demo
        finally:
            dash.close()
            poller = ensure_poller(get_database())  # the one start() ran while none did
            if poller is not None:
                poller.stop()
    finally:
        cluster.stop()
    assert not (data_dir() / "daq-demo").exists()  # no simulated servers of its own
