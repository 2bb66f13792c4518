"""The catalog's gate actions: every change to a catalog, made for the verified caller.

Each :class:`~shiftdesk.catalog.catalog.Catalog` method marked with
:func:`~shiftdesk.gate.forward.through_gate` is an action here (``catalog.mark_bad``,
``catalog.set_context``, ...). The action opens the catalog for the caller the gate
verified and calls the method, whose own checks (editors change, administrators repair,
the latest context guards its files) apply as everywhere else. ``catalog.create`` makes a
catalog.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shiftdesk.gate import LocalGate, register
from shiftdesk.gate.actions import ActionContext

#: action name -> method of Catalog
METHODS = {
    "add_files": "_add_uploads",
    "set_context": "set_context",
    "mark_bad": "mark_bad",
    "unmark_bad": "unmark_bad",
    "set_state": "set_state",
    "next_name": "next_name",
    "lock": "lock",
    "release": "release",
    "repair": "repair",
    "start_submission": "_start_submission",
    "confirm_submission": "_confirm_submission",
    "cancel_submission": "_cancel_submission",
    "set_delivery_folder": "set_delivery_folder",
    "deliver": "_deliver",
    "poll_deliveries": "_poll_deliveries",
    "cancel_delivery": "_cancel_delivery",
}


def to_result(value: Any) -> Any:
    """The JSON result of a catalog method (the caller's side rebuilds the object)."""
    from shiftdesk.catalog.catalog import Lock

    if isinstance(value, Lock):
        return value.to_json()
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return [dataclasses.asdict(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | list):
        return value
    raise TypeError(f"a catalog action returned {type(value).__name__}, which has no JSON form")


def _action(method: str) -> Any:
    def run(ctx: ActionContext, observatory: str, **args: Any) -> Any:
        from shiftdesk.catalog.catalog import Catalog

        catalog = Catalog.open(
            observatory,
            database=ctx.database,
            identity=ctx.identity,
            gate=LocalGate(ctx.identity, audit=False),
            via="gate",
        )
        return to_result(getattr(catalog, method)(**args))

    return run


def _create(ctx: ActionContext, observatory: str, **args: Any) -> None:
    from shiftdesk.catalog.catalog import Catalog
    from shiftdesk.errors import PermissionDenied

    if args.get("folder") is not None and not ctx.identity.admin:
        # where the gate writes is the gate's to decide: a caller's folder could be one of
        # the gate's own
        raise PermissionDenied(
            "only administrators choose where a catalog keeps its files; leave folder= out"
        )

    Catalog.create(
        observatory,
        database=ctx.database,
        identity=ctx.identity,
        gate=LocalGate(ctx.identity, audit=False),
        **args,
    )


def _target(args: dict[str, Any]) -> str:
    return f"catalog {args.get('observatory', '?')}"


for _name, _method in METHODS.items():
    register(f"catalog.{_name}", _action(_method), target=_target)
register("catalog.create", _create, target=_target)
