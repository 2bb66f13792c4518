"""The gate's actions and the forwarding of domain methods, in one process.

The transport (HTTP and the hub's token check) is tested end to end in
tests/e2e/test_boundary.py against a real hub. Here a loopback gate plays the service:
it JSON-encodes what the caller's object sends, builds an :class:`ActionContext` with
the identity *it* was given (as the service has from the hub) and runs the registered
action, so everything but the socket is the code the service runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests._loopback_gate import LoopbackGate

from shiftdesk.audit import entries
from shiftdesk.daq.demo import cluster_setup
from shiftdesk.daq.errors import DAQStateError
from shiftdesk.daq.runsheet import RunSheet
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.gate import LocalGate
from shiftdesk.gate.actions import known_actions
from shiftdesk.identity import Identity

OPERATOR = Identity("olga", groups=frozenset({"operators-g1"}))
VIEWER = Identity("victor")


def _methods(cls: type) -> list[str]:
    return [
        member.__gate_action__
        for _, member in inspect.getmembers(cls)
        if hasattr(member, "__gate_action__")
    ]


def test_every_method_that_changes_the_daq_is_a_registered_action() -> None:
    gated = _methods(DAQSystem) + _methods(RunSheet)
    assert len(gated) >= 15
    assert set(gated) <= set(known_actions())
    assert "daq.create" in known_actions()


@pytest.fixture
def shared_daq(
    ecc_servers: Callable[..., SimulatedCluster],
) -> Iterator[tuple[SimulatedCluster, dict[str, Any]]]:
    """An experiment (operators: hub group operators-g1) set up by a service identity."""
    cluster = ecc_servers(2)
    resources: dict[str, Any] = {}
    service = LoopbackGate(Identity("gate-service", admin=True), resources)
    system = DAQSystem.create(
        "g1", operator_group="operators-g1", gate=LocalGate(audit=False), identity=service.identity
    )
    system.apply_setup(cluster_setup(cluster))
    for i, view in enumerate(system.snapshot().servers):
        system.select_config(cluster.configs[i], server=view.name)
    try:
        yield cluster, resources
    finally:
        controller = resources.get("daq.controller")
        if controller is not None:
            controller.close(wait=False)


def test_an_operator_runs_the_daq_through_the_gate(shared_daq) -> None:  # type: ignore[no-untyped-def]
    _, resources = shared_daq
    gate = LoopbackGate(OPERATOR, resources)
    daq = DAQSystem(gate=gate, identity=OPERATOR)
    daq.describe().wait(30)
    assert gate.calls == ["daq.command"]
    assert daq.snapshot().overall == "Described"
    sheet = daq.runsheet
    observable = sheet.add_observable("beam energy", "float", units="MeV/u")
    assert observable.name == "beam energy"
    assert [e.action for e in entries(action="daq.")][:2] == [
        "daq.runsheet.add_observable",
        "daq.command",
    ]
    last = entries(limit=1)[0]
    assert (last.actor, last.outcome, last.via) == ("olga", "ok", "gate")


def test_the_gate_acts_as_its_caller_whatever_the_object_claims(shared_daq) -> None:  # type: ignore[no-untyped-def]
    _, resources = shared_daq
    # the viewer builds a system that *claims* to be an admin: the gate ignores it
    gate = LoopbackGate(VIEWER, resources)
    daq = DAQSystem(gate=gate, identity=Identity("victor", admin=True))
    with pytest.raises(PermissionDenied, match="'victor' may not send Describe"):
        daq.describe()
    with pytest.raises(PermissionDenied, match="may not edit the run sheet"):
        daq.runsheet.add_observable("x", "float")
    refused = entries(outcome="refused")
    assert [(e.actor, e.action, e.via) for e in refused[:2]] == [
        ("victor", "daq.runsheet.add_observable", "gate"),
        ("victor", "daq.command", "gate"),
    ]
    assert daq.commands() == []  # nothing was sent


def test_a_stale_experiment_and_bad_arguments_are_refused(shared_daq) -> None:  # type: ignore[no-untyped-def]
    _, resources = shared_daq
    gate = LoopbackGate(OPERATOR, resources)
    with pytest.raises(DAQStateError, match="active experiment is now 'g1', not 'other'"):
        gate.call("daq.command", experiment="other", command="Describe")
    with pytest.raises(TypeError):
        gate.call("daq.command", experiment="g1", command="Describe", shell="rm -rf /")
    with pytest.raises(NotFound, match=r"no action 'daq\.format_disk'"):
        gate.call("daq.format_disk", experiment="g1")
    outcomes = [(e.action, e.outcome) for e in entries(limit=2)]
    assert outcomes == [("daq.command", "refused"), ("daq.command", "refused")]


def test_standalone_changes_are_audited_once_with_the_local_user(
    ecc_servers: Callable[..., SimulatedCluster],
) -> None:
    cluster = ecc_servers(2)
    me = Identity("laptop-user")
    daq = DAQSystem.create("solo", operators=["laptop-user"], identity=me)
    daq.apply_setup(cluster_setup(cluster))
    for i, view in enumerate(daq.snapshot().servers):
        daq.select_config(cluster.configs[i], server=view.name)
    daq.runsheet.add_observable("gas", "string")
    actions = [(e.actor, e.action, e.via) for e in entries(action="daq.")]
    assert actions[0] == ("laptop-user", "daq.runsheet.add_observable", "local")
    assert ("laptop-user", "daq.apply_setup", "local") in actions
    # select_config reads the servers' configs (refresh_configs) inside: one entry per call
    assert sum(a == "daq.select_config" for _, a, _ in actions) == 2
    assert not any(a == "daq.refresh_configs" for _, a, _ in actions)
    daq.controller.close(wait=False)


def test_unknown_object_arguments_are_refused_before_sending() -> None:
    from shiftdesk.gate.forward import to_json

    with pytest.raises(TypeError, match="cannot be sent to the gate"):
        to_json(object())
    assert to_json({"a": (1, 2)}) == {"a": [1, 2]}


def test_the_audit_command_lists_entries_oldest_first(capsys: pytest.CaptureFixture[str]) -> None:
    from shiftdesk import cli
    from shiftdesk.audit import record

    record("daq.start", "experiment x", "refused", "not an operator", actor="mallory")
    record("daq.start", "experiment x", "ok", "", actor="olga")
    assert cli.main(["audit", "--action", "daq.", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["mallory", "daq.start"],
        ["olga", "daq.start"],
    ]
    assert lines[0].endswith("refused: not an operator")
    assert cli.main(["audit", "--outcome", "ok"]) == 0
    assert "mallory" not in capsys.readouterr().out
