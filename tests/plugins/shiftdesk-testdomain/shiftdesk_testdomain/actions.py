"""The test domain's gate action: who the gate says the caller is."""

from __future__ import annotations

from typing import Any

from shiftdesk.gate.actions import ActionContext, register


def whoami(ctx: ActionContext) -> dict[str, Any]:
    """The verified caller's name and groups."""
    return {"name": ctx.identity.name, "groups": sorted(ctx.identity.groups)}


register("test.whoami", whoami)
