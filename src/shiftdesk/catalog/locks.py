"""Locks on a catalog's instruments: one submitter per instrument, one instrument per user.

A lock is two rows of :class:`~shiftdesk.catalog.records.CatalogLockRecord`, as CRDS's
server keeps them: ``instrument:<NAME>`` (who holds the instrument) and ``user:<name>``
(which instrument a user holds). Both expire; a lapsed lock is taken over only
explicitly, and the takeover is recorded in the audit trail.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from shiftdesk.catalog.records import CatalogLockRecord
from shiftdesk.errors import CatalogError
from shiftdesk.gate.forward import through_gate
from shiftdesk.storage.models import AuditRecord
from shiftdesk.tracking import as_utc, utcnow

if TYPE_CHECKING:
    from shiftdesk.identity import Identity
    from shiftdesk.storage import Database

__all__ = ["Lock", "LocksMixin"]


@dataclass(frozen=True)
class Lock:
    """A lock on an instrument of a catalog, held by one user until it expires."""

    instrument: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    forced_from: str = ""

    @property
    def expired(self) -> bool:
        """Whether the lock has lapsed (a teammate may then take it over)."""
        return utcnow() >= self.expires_at

    def __str__(self) -> str:
        state = "lapsed" if self.expired else "held"
        until = f"{self.expires_at:%Y-%m-%d %H:%M}"
        return f"{self.instrument}: {state} by {self.holder} until {until} UTC"

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Lock:
        """The lock of an action's JSON result."""
        return cls(
            value["instrument"],
            value["holder"],
            datetime.fromisoformat(value["acquired_at"]),
            datetime.fromisoformat(value["expires_at"]),
            value.get("forced_from", ""),
        )

    def to_json(self) -> dict[str, Any]:
        """The lock as JSON (for the gate)."""
        return {
            "instrument": self.instrument,
            "holder": self.holder,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "forced_from": self.forced_from,
        }


def _target(catalog: Any) -> str:
    return f"catalog {catalog.observatory}"


def _aware(when: datetime) -> datetime:
    return as_utc(when)  # type: ignore[return-value]


class LocksMixin:
    """The lock methods of :class:`~shiftdesk.catalog.catalog.Catalog`."""

    if TYPE_CHECKING:
        observatory: str
        database: Database
        identity: Identity
        _via: str

        def _require_editor(self, what: str) -> None: ...

        def _begin_write(self, s: Session) -> None: ...

    @through_gate("catalog.lock", target=_target)
    def lock(self, instrument: str, *, minutes: float = 60.0, force: bool = False) -> Lock:
        """Lock ``instrument`` for the current user (renewed if they hold it already).

        A user holds one instrument at a time: locking another releases theirs. A lock
        someone else holds is refused until it lapses; a lapsed lock is taken over only
        with ``force=True``, which is recorded.

        Raises
        ------
        CatalogError
            Another user holds the lock, or it lapsed and ``force`` was not given.
        """
        self._require_editor("lock instruments")
        instrument = str(instrument).strip().upper()
        if not instrument or "," in instrument:
            raise CatalogError(f"{instrument!r} is not an instrument name (e.g. 'WFI')")
        if not 0 < minutes <= 24 * 60:
            raise CatalogError(f"a lock lasts more than 0 and at most 1440 minutes, not {minutes}")
        who = self.identity.name
        now = utcnow()
        with self.database.session() as s:
            self._begin_write(s)
            key = f"instrument:{instrument}"
            held = s.get(CatalogLockRecord, (self.observatory, key))
            forced_from = ""
            if held is not None and held.holder != who:
                expires = as_utc(held.expires_at)
                assert expires is not None
                if expires > now:
                    raise CatalogError(
                        f"{instrument} is locked by {held.holder} until "
                        f"{expires:%Y-%m-%d %H:%M} UTC; "
                        "ask them to release it (cat.release()), or wait until it lapses"
                    )
                if not force:
                    raise CatalogError(
                        f"{held.holder}'s lock on {instrument} lapsed at {expires:%Y-%m-%d %H:%M} "
                        f"UTC; take it over with cat.lock({instrument!r}, force=True) (recorded)"
                    )
                forced_from = held.holder
            mine = s.get(CatalogLockRecord, (self.observatory, f"user:{who}"))
            if mine is not None and mine.instrument != instrument:
                other = s.get(
                    CatalogLockRecord, (self.observatory, f"instrument:{mine.instrument}")
                )
                if other is not None and other.holder == who:
                    s.delete(other)
            expires_at = now + timedelta(minutes=minutes)
            for name in (key, f"user:{who}"):
                row = s.get(CatalogLockRecord, (self.observatory, name))
                if row is None:
                    row = CatalogLockRecord(observatory=self.observatory, name=name)
                    s.add(row)
                    row.acquired_at = now
                elif row.holder != who or row.instrument != instrument:
                    row.acquired_at = now
                row.holder, row.instrument, row.expires_at = who, instrument, expires_at
                row.forced_from = forced_from if name == key else ""
            if forced_from:
                s.execute(
                    insert(AuditRecord),
                    [
                        {
                            "at": now,
                            "actor": who,
                            "action": "catalog.lock_forced",
                            "target": f"{self.observatory} {instrument}",
                            "outcome": "ok",
                            "detail": f"taken over from {forced_from}, whose lock had lapsed",
                            "via": self._via,
                        }
                    ],
                )
            acquired = as_utc(s.get(CatalogLockRecord, (self.observatory, key)).acquired_at)  # type: ignore[union-attr]
        return Lock(instrument, who, acquired or now, expires_at, forced_from)

    def locks(self) -> builtins.list[Lock]:
        """The instrument locks, lapsed ones included (see :attr:`Lock.expired`)."""
        with self.database.session() as s:
            rows = s.scalars(
                select(CatalogLockRecord)
                .where(
                    CatalogLockRecord.observatory == self.observatory,
                    CatalogLockRecord.name.like("instrument:%"),
                )
                .order_by(CatalogLockRecord.name)
            ).all()
            return [
                Lock(
                    r.instrument,
                    r.holder,
                    _aware(r.acquired_at),
                    _aware(r.expires_at),
                    r.forced_from,
                )
                for r in rows
            ]

    @through_gate("catalog.release", target=_target)
    def release(self, instrument: str | None = None) -> builtins.list[str]:
        """Release the current user's lock (administrators: anyone's lock on
        ``instrument``); the instruments released."""
        who = self.identity.name
        released = []
        with self.database.session() as s:
            self._begin_write(s)
            rows = s.scalars(
                select(CatalogLockRecord).where(CatalogLockRecord.observatory == self.observatory)
            ).all()
            for row in rows:
                if instrument is not None and row.instrument != str(instrument).upper():
                    continue
                if row.holder == who or (instrument is not None and self.identity.admin):
                    if row.name.startswith("instrument:"):
                        released.append(row.instrument)
                    s.delete(row)
        return sorted(released)

    def holds_lock(self, instrument: str) -> bool:
        """Whether the current user holds an unexpired lock on ``instrument``."""
        return any(
            lock.instrument == instrument.upper()
            and lock.holder == self.identity.name
            and not lock.expired
            for lock in self.locks()
        )
