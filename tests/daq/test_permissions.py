"""Only the experiment's operators (group, configured list, admins) may act; others read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.daq._system import OPERATOR, daq_system

from shiftdesk.daq.ecc import State
from shiftdesk.daq.experiment import activate_experiment, create_experiment, set_operators
from shiftdesk.daq.runs import RunClass, close_run, open_run
from shiftdesk.daq.setup import easy_setup
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.errors import PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

Cluster = Callable[..., SimulatedCluster]
VISITOR = Identity("mallory", groups=frozenset({"operators-other"}))
GROUP_MEMBER = Identity("bob", groups=frozenset({"operators-e20009"}))
ADMIN = Identity("root", admin=True)


def test_visitors_read_but_cannot_command(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        visitor = DAQSystem(daq.database, VISITOR, controller=daq.controller)
        assert not visitor.can_operate
        assert visitor.refresh().state is State.IDLE  # reading is open to everyone
        for attempt in (
            visitor.describe,
            visitor.reset,
            lambda: visitor.server_command("ECC_0", "Describe"),
            lambda: visitor.start("sneaky"),
            visitor.stop,
            lambda: visitor.select_config(cluster.configs[0]),
            lambda: visitor.easy_setup(2, ecc_host="10.0.0.1"),
            lambda: visitor.set_next_run_number(5),
            lambda: visitor.organize_files(0),
        ):
            with pytest.raises(PermissionDenied, match="operators-e20009"):
                attempt()
        assert cluster[0].state is State.IDLE and cluster[0].requests[-1].operation == "GetState"
        assert [c.command for c in daq.commands()] == []


def test_group_members_and_admins_operate(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as daq:
        for who in (GROUP_MEMBER, ADMIN):
            system = DAQSystem(daq.database, who, controller=daq.controller)
            assert system.can_operate
        member = DAQSystem(daq.database, GROUP_MEMBER, controller=daq.controller)
        handle = member.describe().wait(10)
        assert handle.owner == "bob" and cluster[0].state is State.DESCRIBED
        DAQSystem(daq.database, ADMIN, controller=daq.controller).undo().wait(10)
        assert cluster[0].state is State.IDLE


def test_the_run_sheet_is_read_only_for_visitors() -> None:
    db = Database()
    create_experiment("e20009", operators=[OPERATOR.name], database=db, identity=OPERATOR)
    daq = DAQSystem(db, OPERATOR)
    open_run(db, daq.experiment_id, 1, title="t", run_class=RunClass.BEAM,
             config_names="", user="alice")  # fmt: skip
    close_run(db, daq.experiment_id)
    daq.runsheet.add_observable("Gas", "string")
    daq.runsheet.update(1, {"Gas": "P10"})
    sheet = DAQSystem(db, VISITOR).runsheet
    assert sheet.run(1).values == {"Gas": "P10"} and "Gas" in sheet.to_csv()
    for attempt in (
        lambda: sheet.add_observable("Field", "float"),
        lambda: sheet.update(1, {"Gas": "He"}),
        lambda: sheet.same_as_previous(1),
        lambda: sheet.remove_observable("Gas"),
        lambda: sheet.reorder(["Gas"]),
    ):
        with pytest.raises(PermissionDenied, match="may not edit the run sheet"):
            attempt()
    assert sheet.run(1).values == {"Gas": "P10"}


def test_configured_operator_list_and_experiment_management() -> None:
    db = Database()
    create_experiment("e20009", operators=["alice"], database=db, identity=OPERATOR)
    daq = DAQSystem(db, Identity("carol"))
    assert not daq.can_operate
    with pytest.raises(PermissionDenied):
        set_operators(["carol"], database=db, identity=Identity("carol"))
    with pytest.raises(PermissionDenied):
        create_experiment("e21000", database=db, identity=Identity("carol"))
    set_operators(["alice", "carol"], database=db, identity=OPERATOR)
    assert daq.can_operate
    daq.apply_setup(easy_setup(2, ecc_host="10.0.0.1"))
    create_experiment("e21000", operators=["dave"], activate=False, database=db, identity=OPERATOR)
    with pytest.raises(PermissionDenied):
        activate_experiment("e21000", database=db, identity=Identity("carol"))
    activate_experiment("e21000", database=db, identity=Identity("dave"))
    assert DAQSystem(db, Identity("dave")).experiment_name == "e21000"
