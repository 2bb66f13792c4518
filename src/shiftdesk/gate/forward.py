"""Domain methods that change shared state: run here, or sent to the gate as an action.

A domain object (``DAQSystem``, ``RunSheet``) marks each such method with
:func:`through_gate`. The object carries a ``gate``; when it is remote (a hub user's
server), calling the method sends its arguments, as JSON, to the gate service, which
builds the same object for the verified caller and calls the same method there, so the
rules live in one place. Otherwise the method runs in this process and its outcome is
recorded in the audit trail (unless the gate service itself is the caller: it records
the action once, as a whole).

The object supplies two hooks:

``_gate_args()``
    extra arguments naming what the call acts on (e.g. ``{"experiment": "demo"}``);
``_from_gate(action, result)``
    turns the action's JSON result back into what the method returns here.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import numbers
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_depth = threading.local()


def to_json(value: Any) -> Any:
    """A JSON value for a method argument (enums by value, dataclasses as dicts, ranges,
    sets and numpy values as lists and numbers)."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, range | set | frozenset):
        return [
            to_json(v) for v in (sorted(value) if isinstance(value, set | frozenset) else value)
        ]
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if callable(getattr(value, "tolist", None)):  # numpy arrays and scalars, pandas indexes
        return to_json(value.tolist())
    raise TypeError(f"{type(value).__name__} cannot be sent to the gate: give plain values")


def gate_arguments(
    method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``method``'s arguments (without ``self``) as a JSON object."""
    signature = inspect.signature(method)
    bound = signature.bind(None, *args, **kwargs)
    payload: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            payload.update({k: to_json(v) for k, v in value.items()})
        else:
            payload[name] = to_json(value)
    return payload


def through_gate(action: str, *, target: Callable[[Any], str] | None = None) -> Callable[[F], F]:
    """Decorate a method that changes shared state (see the module docstring).

    Parameters
    ----------
    action : str
        The gate action that runs this method for the caller.
    target : callable, optional
        ``target(self)``: what the audit entry names (default: nothing).
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            gate = self.gate
            if gate.remote:
                payload = gate_arguments(method, args, kwargs)
                payload.update(self._gate_args())
                return self._from_gate(action, gate.call(action, **payload))
            if not getattr(gate, "audit", False) or _depth.__dict__.get("n", 0):
                return method(self, *args, **kwargs)
            return _audited(self, action, target, method, args, kwargs)

        wrapper.__gate_action__ = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _audited(
    obj: Any,
    action: str,
    target: Callable[[Any], str] | None,
    method: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    from shiftdesk.audit import record
    from shiftdesk.gate import outcome_of

    where = target(obj) if target is not None else ""
    database = getattr(obj, "database", None)
    identity = getattr(obj, "identity", None)
    actor = getattr(identity, "name", None)
    _depth.n = _depth.__dict__.get("n", 0) + 1
    try:
        result = method(obj, *args, **kwargs)
    except BaseException as exc:
        record(action, where, outcome_of(exc), str(exc), actor=actor, database=database)
        raise
    finally:
        _depth.n -= 1
    try:
        detail = str(gate_arguments(method, args, kwargs))
    except TypeError:
        detail = ""
    record(action, where, "ok", detail[:500], actor=actor, database=database)
    return result
