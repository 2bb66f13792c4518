"""The audit trail: who did or tried what, as the gate or the database verified it.

Entries come from three places. The gate service records every action it runs or
refuses, with the identity the hub gave it for the caller's token. The database records
row changes of users' own tables (saved models, data files, job submissions and
cancels), with the role of the connection. The core records refusals it notices in a
user's process (an identity claimed in environment variables that the gate contradicts,
another user's object asked for) through :func:`record`, which on a hub's database
stamps the connection's role as the actor, whatever the caller says.

A user reads their own entries, administrators every entry::

    from shiftdesk.audit import entries
    entries(limit=20)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text

from shiftdesk.display import html_repr, table
from shiftdesk.storage import Database, get_database
from shiftdesk.storage.models import AuditRecord, utcnow

OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry.

    Parameters
    ----------
    at : datetime
        When it happened (UTC).
    actor : str
        Who, as verified (the hub user; a service's own name for its own actions).
    action : str
        What, e.g. ``daq.start``, ``saved_models.insert``, ``identity``.
    target : str
        On what (an experiment, a job id, a model).
    outcome : str
        ``ok``, ``refused`` or ``failed``.
    detail : str
        The message shown to the caller, or what changed.
    via : str
        Who wrote the entry: ``gate``, ``database``, ``kernel`` or ``local``.
    """

    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: str
    via: str

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target} "
            f"{self.outcome}" + (f": {self.detail}" if self.detail else "")
        )


_user_roles: dict[str, bool] = {}


def _uses_role(database: Database) -> bool:
    """Whether ``database`` connects as a hub user's role (asked once per URL: the role
    a URL logs in as does not change)."""
    from shiftdesk.storage.boundary import is_user_role

    known = _user_roles.get(database.url)
    if known is not None:
        return known
    try:
        known = is_user_role(database)
    except Exception:  # an unreachable database is reported by the write below
        return False
    _user_roles[database.url] = known
    return known


def record(
    action: str,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
    *,
    actor: str | None = None,
    via: str = "local",
    database: Database | None = None,
) -> None:
    """Add an audit entry.

    On a hub's PostgreSQL, a user's connection writes through ``shiftdesk_audit()``:
    the actor is the connection's role, ``actor`` is ignored. The gate and other
    services (table owners) and standalone use (SQLite) write ``actor`` as given
    (default: the current user).

    Parameters
    ----------
    action, target, outcome, detail : str
        What happened; ``outcome`` is ``ok``, ``refused`` or ``failed``.
    actor : str, optional
        Who (services give the verified caller).
    via : str
        ``gate``, ``kernel`` or ``local``.
    database : Database, optional
        Default: the default database.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    db = database or get_database()
    if _uses_role(db):
        with db.session() as session:
            session.execute(
                text("SELECT shiftdesk_audit(:a, :t, :o, :d)"),
                {"a": action, "t": target, "o": outcome, "d": detail},
            )
        return
    if actor is None:
        from shiftdesk.identity import current_identity

        actor = current_identity().name
    with db.session() as session:
        session.add(
            AuditRecord(
                at=utcnow(),
                actor=actor[:255],
                action=action[:64],
                target=target[:255],
                outcome=outcome,
                detail=detail[:4000],
                via=via,
            )
        )


def refused(action: str, target: str, message: str, *, database: Database | None = None) -> None:
    """Record a refusal noticed in this process (another user's object asked for).

    Best effort: the refusal itself stands when the audit trail cannot be written.
    """
    import contextlib

    with contextlib.suppress(Exception):
        record(action, target, "refused", message, via="kernel", database=database)


def entries(
    limit: int = 50,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    database: Database | None = None,
) -> AuditTrail:
    """The newest audit entries, newest first (on a hub: your own; administrators: all).

    Parameters
    ----------
    limit : int
        At most this many.
    actor, action, outcome : str, optional
        Only entries with this actor, action (a prefix ending in ``.`` matches a
        family, e.g. ``"daq."``) or outcome.
    database : Database, optional
        Default: the default database.
    """
    db = database or get_database()
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(max(1, int(limit)))
    if actor is not None:
        query = query.where(AuditRecord.actor == actor)
    if action is not None:
        query = query.where(
            AuditRecord.action.startswith(action)
            if action.endswith(".")
            else AuditRecord.action == action
        )
    if outcome is not None:
        query = query.where(AuditRecord.outcome == outcome)
    with db.session() as session:
        rows = session.scalars(query).all()
        return AuditTrail(
            AuditEntry(r.at, r.actor, r.action, r.target, r.outcome, r.detail, r.via) for r in rows
        )


class AuditTrail(list[AuditEntry]):
    """A list of entries that shows itself as a table in a notebook."""

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self) or "(no audit entries)"

    def _repr_html_(self) -> str:
        rows = [
            [f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, e.outcome, e.detail]
            for e in self
        ]
        header = ["when (UTC)", "who", "action", "target", "outcome", "detail"]
        return html_repr("Audit trail", f"{len(self)} entries", str(self), table(rows, header))
