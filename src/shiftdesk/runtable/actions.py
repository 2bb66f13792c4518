"""The run table's gate actions: every change to a run table, made for the verified caller.

Each :class:`~shiftdesk.runtable.table.RunTable` method marked with
:func:`~shiftdesk.gate.forward.through_gate` is an action of the same name
(``runtable.set``, ``runtable.process``, ...). The action opens the table for the
caller the gate verified and calls the method, whose own checks (members read, editors
edit) apply as everywhere else. Jobs it starts are the table owner's, run by the
job-worker service as the owner (see :func:`shiftdesk.runtable.processing.dispatch`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shiftdesk.gate import LocalGate, register
from shiftdesk.gate.actions import ActionContext

METHODS = (
    "save_context",
    "add_user_variable",
    "add_run",
    "add_runs",
    "set_start_time",
    "process",
    "cancel",
    "set",
    "submit",
    "set_people",
    "start_waiting",
)


def to_result(method: str, args: dict[str, Any], value: Any) -> Any:
    """The JSON result of a run-table method (the caller's side rebuilds the object)."""
    from shiftdesk.runtable.processing import RunProcessing
    from shiftdesk.runtable.table import ColumnInfo

    if method == "set":
        return {"run": int(args["run"]), "name": str(args["name"])}
    if isinstance(value, RunProcessing):
        return value.run
    if isinstance(value, ColumnInfo):
        return value.name
    if isinstance(value, list) and value and isinstance(value[0], RunProcessing):
        return [v.run for v in value]
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return [dataclasses.asdict(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | list):
        return value
    raise TypeError(f"a run-table action returned {type(value).__name__}, which has no JSON form")


def _action(method: str) -> Any:
    def run(ctx: ActionContext, table: str, **args: Any) -> Any:
        from shiftdesk.runtable.table import RunTable

        rt = RunTable.open(
            table,
            database=ctx.database,
            identity=ctx.identity,
            gate=LocalGate(ctx.identity, audit=False),
        )
        return to_result(method, args, getattr(rt, method)(**args))

    return run


for _method in METHODS:
    register(
        f"runtable.{_method}",
        _action(_method),
        target=lambda args: f"run table {args.get('table', '?')}",
    )
