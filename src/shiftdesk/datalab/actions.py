"""The data sessions' gate actions: a shared session's files, published by its owner and
fetched by its members (see :mod:`shiftdesk.datalab.sharing`).

``datalab.missing``
    ``session``: the files of the caller's session the gate does not have yet.
``datalab.publish``
    ``session, sha256, size, offset, data``: a piece (base64) of one of them; kept once
    whole and hashing to ``sha256``.
``datalab.fetch``
    ``session, sha256, offset, length``: a piece of a published file of a session the
    caller may read.

Each checks the caller the gate verified against the session's rows, read with the
gate's own connection (what a user's server wrote into its own rows counts only for
sessions it owns).
"""

from __future__ import annotations

from typing import Any

from shiftdesk.gate import register
from shiftdesk.gate.actions import ActionContext


def _missing(ctx: ActionContext, session: Any) -> list[dict[str, Any]]:
    from shiftdesk.datalab.sharing import missing

    return missing(ctx.database, ctx.identity, session)


def _publish(
    ctx: ActionContext, session: Any, sha256: Any, size: Any, offset: Any, data: Any
) -> dict[str, Any]:
    from shiftdesk.datalab.sharing import receive

    return receive(ctx.database, ctx.identity, session, sha256, size=size, offset=offset, data=data)


def _fetch(
    ctx: ActionContext, session: Any, sha256: Any, offset: Any = 0, length: Any = None
) -> dict[str, Any]:
    from shiftdesk.datalab.sharing import CHUNK, serve

    return serve(
        ctx.database,
        ctx.identity,
        session,
        sha256,
        offset=offset,
        length=CHUNK if length is None else length,
    )


def _target(args: dict[str, Any]) -> str:
    sha = str(args.get("sha256") or "")
    return f"data session {args.get('session', '?')}" + (f" file {sha[:12]}" if sha else "")


register("datalab.missing", _missing, target=_target)
register("datalab.publish", _publish, target=_target)
register("datalab.fetch", _fetch, target=_target)
