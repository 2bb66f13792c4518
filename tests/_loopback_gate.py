"""The gate service without its socket, for tests of actions in one process.

It JSON-encodes what the caller's object sends, builds an ``ActionContext`` with the
identity *it* was given (as the service has it from the hub) and runs the registered
action, so everything but the HTTP hop and the hub's token check is the code the
service runs (those two are tested end to end in tests/e2e/test_boundary.py).
"""

from __future__ import annotations

import json
from typing import Any

from shiftdesk.gate import run_action
from shiftdesk.gate.actions import ActionContext
from shiftdesk.identity import Identity
from shiftdesk.storage import get_database


class LoopbackGate:
    """The gate service without its socket: runs actions as ``identity``."""

    remote = True

    def __init__(self, identity: Identity, resources: dict[str, Any]) -> None:
        self.identity = identity
        self.resources = resources
        self.calls: list[str] = []

    def whoami(self) -> Identity:
        return self.identity

    def call(self, action: str, **args: Any) -> Any:
        self.calls.append(action)
        wire = json.loads(json.dumps(args))  # only JSON crosses the boundary
        ctx = ActionContext(self.identity, get_database(), self.resources)
        return json.loads(json.dumps(run_action(action, wire, ctx, via="gate")))
