"""The gate: the one way shared state is changed, by whoever the hub says you are.

On a JupyterHub deployment with per-user accounts, a user's own server is code the user
controls, so it cannot be trusted with who the user is or with other people's data.
Changes to shared state (the DAQ, its run sheet, experiments; later run tables, the
catalog, shared sessions) are therefore *actions* sent to the **gate service**, which
learns the caller's identity from their hub token (asking the hub, with the hub's live
groups), runs the action with that identity and records it in the audit trail, refused
or not. Each user's own rows are reached directly, with a database role that only sees
them (:mod:`shiftdesk.storage.boundary`).

Code calls the gate the same way everywhere::

    from shiftdesk.gate import get_gate
    get_gate().call("daq.start", experiment="demo", title="beam on", run_class="Beam")

:func:`get_gate` returns a :class:`~shiftdesk.gate.client.RemoteGate` in a hub user's
server (``SHIFTDESK_GATE_URL`` set by the spawner) and a :class:`LocalGate` elsewhere:
one person on a laptop runs actions in their own process, with their own identity.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from shiftdesk.gate.actions import ActionContext, get_action, register
from shiftdesk.identity import Identity

#: set by the hub's spawner in every user server: where the gate service listens
GATE_ENV = "SHIFTDESK_GATE_URL"

__all__ = [
    "GATE_ENV",
    "ActionContext",
    "Gate",
    "LocalGate",
    "get_gate",
    "register",
    "run_action",
]


class Gate(Protocol):
    """How actions are run: in this process (:class:`LocalGate`) or by the gate service."""

    #: True when actions run in another process, with an identity verified there
    remote: bool

    def call(self, action: str, **args: Any) -> Any:
        """Run ``action`` with ``args`` (JSON) for the current user; return its JSON result."""
        ...

    def whoami(self) -> Identity:
        """The current user as the gate knows them."""
        ...


def run_action(
    name: str, args: dict[str, Any], ctx: ActionContext, *, via: str, audit: bool = True
) -> Any:
    """Run action ``name`` for ``ctx.identity`` and record the outcome in the audit trail.

    Parameters
    ----------
    name : str
        The action.
    args : dict
        Its JSON arguments.
    ctx : ActionContext
        Verified identity, database and process resources.
    via : str
        Who runs it (``gate`` or ``local``), for the audit trail.
    audit : bool
        Record the outcome (``ok``, ``refused`` for a permission or state refusal,
        ``failed`` otherwise).
    """
    action = get_action(name)
    try:
        target = action.target(args)
    except Exception:  # a malformed argument shows in the action's own error
        target = ""
    try:
        result = action.run(ctx, **args)
    except BaseException as exc:
        if audit:
            _audit(ctx, name, target, outcome_of(exc), str(exc), via)
        raise
    if audit:
        _audit(ctx, name, target, "ok", _summary(args), via)
    return result


def outcome_of(exc: BaseException) -> str:
    """The audit outcome of an action that raised ``exc``: ``refused`` when a rule said
    no (rights, state, a bad argument), ``failed`` for anything else."""
    from shiftdesk.errors import ShiftdeskError

    return "refused" if isinstance(exc, ShiftdeskError | ValueError | TypeError) else "failed"


def _summary(args: dict[str, Any]) -> str:
    import json

    text = json.dumps(args, default=str, sort_keys=True)
    return text if len(text) <= 500 else text[:497] + "..."


def _audit(ctx: ActionContext, name: str, target: str, outcome: str, detail: str, via: str) -> None:
    from shiftdesk.audit import record

    record(name, target, outcome, detail, actor=ctx.identity.name, via=via, database=ctx.database)


class LocalGate:
    """Actions in this process, as the current user (standalone, no hub).

    Parameters
    ----------
    identity : Identity, optional
        Who acts (default: :func:`~shiftdesk.identity.local_identity` at each call).
    audit : bool
        Record outcomes in the audit trail (the gate service records them itself).
    """

    remote = False

    def __init__(self, identity: Identity | None = None, *, audit: bool = True) -> None:
        self.identity = identity
        self.audit = audit
        self._resources: dict[str, Any] = {}

    def whoami(self) -> Identity:
        """The identity actions run as."""
        from shiftdesk.identity import local_identity

        return self.identity or local_identity()

    def call(self, action: str, **args: Any) -> Any:
        """Run ``action`` here."""
        from shiftdesk.storage import get_database

        ctx = ActionContext(self.whoami(), get_database(), self._resources)
        return run_action(action, args, ctx, via="local", audit=self.audit)


_remote_cache: dict[tuple[str, str], Gate] = {}


def get_gate() -> Gate:
    """The gate of this process: the hub's gate service when configured, else local."""
    url = os.environ.get(GATE_ENV, "").strip()
    if not url:
        return _LOCAL
    from shiftdesk.gate.client import RemoteGate

    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    key = (url, token)
    gate = _remote_cache.get(key)
    if gate is None:
        gate = _remote_cache[key] = RemoteGate(url, token)
    return gate


_LOCAL = LocalGate()
