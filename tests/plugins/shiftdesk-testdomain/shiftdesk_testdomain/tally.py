"""A tally: a named count that belongs to one user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from shiftdesk.display import html_repr, table
from shiftdesk.errors import NotFound
from shiftdesk.identity import Identity, current_identity
from shiftdesk.storage import Database, get_database
from shiftdesk_testdomain.records import TallyRecord


class Tally:
    """A named count owned by the user who created it.

    Use :meth:`create` or :meth:`open`; :meth:`add` counts up.
    """

    def __init__(self, record: TallyRecord, database: Database, identity: Identity) -> None:
        self.id = record.id
        self.name = record.name
        self.owner = record.owner
        self.count = record.count
        self.database = database
        self.identity = identity

    @classmethod
    def create(
        cls, name: str, *, database: Database | None = None, identity: Identity | None = None
    ) -> Tally:
        """A new tally at 0, owned by the current user."""
        if not name.strip():
            raise ValueError("a tally needs a name: Tally.create('beam hours')")
        db = database or get_database()
        who = identity or current_identity()
        with db.session() as session:
            record = TallyRecord(owner=who.name, name=name.strip(), count=0)
            session.add(record)
            session.flush()
            return cls(record, db, who)

    @classmethod
    def open(
        cls, tally_id: int, *, database: Database | None = None, identity: Identity | None = None
    ) -> Tally:
        """The current user's tally ``tally_id``.

        Raises
        ------
        NotFound
            No such tally of this user (another user's tallies are not visible).
        """
        db = database or get_database()
        who = identity or current_identity()
        with db.session() as session:
            record = session.scalars(
                select(TallyRecord).where(TallyRecord.id == tally_id, TallyRecord.owner == who.name)
            ).first()
            if record is None:
                raise NotFound(f"{who.name} has no tally {tally_id}; Tally.list() shows yours")
            return cls(record, db, who)

    @classmethod
    def list(
        cls, *, database: Database | None = None, identity: Identity | None = None
    ) -> list[Tally]:
        """The current user's tallies, oldest first."""
        db = database or get_database()
        who = identity or current_identity()
        with db.session() as session:
            records = session.scalars(
                select(TallyRecord).where(TallyRecord.owner == who.name).order_by(TallyRecord.id)
            ).all()
            return [cls(record, db, who) for record in records]

    def add(self, n: int = 1) -> int:
        """Count up by ``n`` (in the database, so concurrent adds all count); the new count."""
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"a tally counts up by a whole number ≥ 0, not {n!r}")
        with self.database.session() as session:
            session.execute(
                update(TallyRecord)
                .where(TallyRecord.id == self.id, TallyRecord.owner == self.identity.name)
                .values(count=TallyRecord.count + n)
            )
            record = session.get(TallyRecord, self.id)
            assert record is not None
            self.count = record.count
        return self.count

    def __repr__(self) -> str:
        return f"<Tally {self.name!r} = {self.count} ({self.owner})>"

    def _repr_html_(self) -> str:
        rows = [("count", str(self.count)), ("owner", self.owner)]
        return html_repr("Tally", self.name, repr(self), table(rows))

    def widget(self) -> Any:
        """The count with a +1 button (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)
