"""The DAQ's gate actions: every change to the DAQ, run by the process that owns it.

Each method of :class:`~shiftdesk.daq.system.DAQSystem` and
:class:`~shiftdesk.daq.runsheet.RunSheet` marked with
:func:`~shiftdesk.gate.forward.through_gate` is an action here of the same name
(``daq.start``, ``daq.runsheet.update``, ...). The action builds the system of the
active experiment for the verified caller, with this process's controller and router
access (one of each per process; on a hub the poll service executes the commands the
gate stores, and the gate stands in only while no poll service runs),
checks that the experiment is the one the caller's system was made for, and calls the
method, whose own checks (operators only, one step at a time, ...) then apply as
everywhere else.
"""

from __future__ import annotations

from typing import Any

from shiftdesk.daq.control import get_controller
from shiftdesk.daq.errors import DAQStateError
from shiftdesk.daq.routers import routers_from_environment
from shiftdesk.gate import LocalGate, register
from shiftdesk.gate.actions import ActionContext

SYSTEM_METHODS = (
    "refresh",
    "apply_setup",
    "refresh_configs",
    "select_config",
    "command",
    "reset",
    "server_command",
    "set_next_run_number",
    "start",
    "stop",
    "organize_files",
)
RUNSHEET_METHODS = (
    "add_observable",
    "remove_observable",
    "reorder",
    "update",
    "same_as_previous",
)


def system_for(ctx: ActionContext, experiment: str) -> Any:
    """The active experiment's system, acting for ``ctx.identity`` in this process.

    Raises
    ------
    DAQStateError
        The active experiment is not ``experiment``.
    """
    from shiftdesk.daq.system import DAQSystem

    system = DAQSystem(
        ctx.database,
        ctx.identity,
        controller=ctx.resource("daq.controller", lambda: get_controller(ctx.database)),
        routers=ctx.resource("daq.routers", routers_from_environment),
        gate=LocalGate(ctx.identity, audit=False),
    )
    if system.experiment_name != experiment:
        raise DAQStateError(
            f"the active experiment is now {system.experiment_name!r}, not {experiment!r}: "
            "reload the dashboard (or make a new DAQSystem) and try again; nothing was sent"
        )
    return system


def to_result(value: Any) -> Any:
    """The JSON result of a DAQ method (the caller's side rebuilds the object)."""
    from shiftdesk.daq.commands import CommandHandle
    from shiftdesk.daq.ecc import ConfigId
    from shiftdesk.daq.runs import Run
    from shiftdesk.daq.runsheet import Observable
    from shiftdesk.daq.snapshot import Snapshot

    if isinstance(value, CommandHandle):
        return {"command_id": value.id}
    if isinstance(value, Snapshot):
        return {"snapshot": True}
    if isinstance(value, Run):
        return {"run": value.number}
    if isinstance(value, Observable):
        return {"observable": value.name}
    if (
        isinstance(value, dict)
        and all(isinstance(v, list) for v in value.values())
        and all(isinstance(c, ConfigId) for v in value.values() for c in v)
    ):
        return {
            "configs": {
                k: [[c.describe, c.prepare, c.configure] for c in v] for k, v in value.items()
            }
        }
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a DAQ action returned {type(value).__name__}, which has no JSON form")


def _system_action(method: str) -> Any:
    def run(ctx: ActionContext, experiment: str, **args: Any) -> Any:
        system = system_for(ctx, experiment)
        if method == "apply_setup":
            from shiftdesk.daq.setup import setup_from_json

            args["setup"] = setup_from_json(args.get("setup"))
        return to_result(getattr(system, method)(**args))

    return run


def _runsheet_action(method: str) -> Any:
    def run(ctx: ActionContext, experiment: str, **args: Any) -> Any:
        sheet = system_for(ctx, experiment).runsheet
        return to_result(getattr(sheet, method)(**args))

    return run


def _create(
    ctx: ActionContext,
    name: str,
    operators: list[str] | None = None,
    operator_group: str | None = None,
) -> None:
    from shiftdesk.daq.experiment import create_experiment

    create_experiment(
        name,
        operators=operators or (),
        operator_group=operator_group,
        database=ctx.database,
        identity=ctx.identity,
    )


def _target(args: dict[str, Any]) -> str:
    return f"experiment {args.get('experiment', '')}"


for _name in SYSTEM_METHODS:
    register(f"daq.{_name}", _system_action(_name), target=_target)
for _name in RUNSHEET_METHODS:
    register(f"daq.runsheet.{_name}", _runsheet_action(_name), target=_target)
register("daq.create", _create, target=lambda args: f"experiment {args.get('name', '')}")
