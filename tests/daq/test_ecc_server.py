"""One ECC server as an object: DAQSystem.servers, its state, configs, calls and commands."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.daq._system import VISITOR, daq_system

from shiftdesk.daq import ECCServer
from shiftdesk.daq.ecc import State, Transition
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.snapshot import Command
from shiftdesk.errors import PermissionDenied

Cluster = Callable[..., SimulatedCluster]


def test_the_system_gives_its_servers_as_objects(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2, mutant=True)
    with daq_system(cluster) as daq:
        daq.refresh()
        servers = daq.servers
        assert list(servers) == ["ECC_0", "ECC_1", "ECC_mutant"]
        cobo, mutant = servers["ECC_0"], servers["ECC_mutant"]
        assert isinstance(cobo, ECCServer) and daq.server("ECC_0").name == "ECC_0"
        assert (cobo.role, mutant.role) == ("CoBo", "MuTAnT")
        assert cobo.address == f"127.0.0.1:{cluster[0].port}" and cobo.port == cluster[0].port
        assert [s.sender for s in cobo.sources] == ["CoBo[0]"]
        assert cobo.state is State.IDLE and cobo.transition is Transition.NONE
        assert cobo.online and cobo.status == "Idle"
        assert cobo.config == cluster.configs[0]
        assert cluster.configs[0] in cobo.config_choices
        assert cobo.legal == [Command.DESCRIBE]
        with pytest.raises(KeyError, match="no ECC server named 'nope'"):
            daq.server("nope")


def test_a_server_steps_through_its_own_transitions(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(2)
    with daq_system(cluster, select=False) as daq:
        daq.refresh()
        cobo = daq.servers["ECC_0"]
        assert cobo.config is None
        assert cobo.describe(cluster.configs[0]).wait(10).ok  # selects, then describes
        assert cobo.config == cluster.configs[0]
        cobo.prepare().wait(10)
        handle = cobo.configure().wait(10)
        assert handle.target == "ECC_0" and cobo.state is State.READY
        assert cluster[0].state is State.READY and cluster[1].state is State.IDLE
        assert [c.operation for c in cobo.calls] == ["Configure", "Prepare", "Describe"]
        assert all(c.ok and c.owner == "alice" for c in cobo.calls)
        assert [c.command for c in cobo.commands()][:1] == ["Configure"]
        cobo.start().wait(10)
        cobo.pause().wait(10)
        cobo.resume().wait(10)
        cobo.stop().wait(10)
        cobo.breakup().wait(10)
        cobo.reset().wait(10)  # Prepared → Described
        cobo.undo().wait(10)
        assert cobo.state is State.IDLE
        assert "ECC server ECC_0 (CoBo)" in repr(cobo)
        page = cobo._repr_html_()
        assert "ECC server" in page and "Breakup" in page and "CoBo[0]" in page


def test_only_operators_command_a_server(ecc_servers: Cluster) -> None:
    cluster = ecc_servers(1)
    with daq_system(cluster) as operator:
        operator.refresh()
        from shiftdesk.daq.system import DAQSystem

        visitor = DAQSystem(operator.database, VISITOR, controller=operator.controller)
        server = visitor.servers["ECC_0"]
        assert not server.can_operate and server.state is State.IDLE  # reading is free
        with pytest.raises(PermissionDenied):
            server.describe()
        with pytest.raises(PermissionDenied):
            server.select_config(cluster.configs[0])
        assert cluster[0].state is State.IDLE and operator.commands() == []
