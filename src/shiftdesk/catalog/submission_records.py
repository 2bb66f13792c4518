"""The table of reference-file submissions (tracked work, shared like the rest of the catalog).

A submission is prepared in the background (checks, official names, new rmaps, imaps and
a pmap, diffs, collisions) and then waits for its submitter to confirm or cancel it.
``status`` is the preparation's tracked life (queued → running → done | failed |
cancelled); ``outcome`` what became of a prepared submission (pending → confirmed |
cancelled). ``plan`` is the JSON the preparation produced; ``staging`` the folder, inside
the catalog's store, holding the uploaded files and the generated ones until confirm.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.storage.models import Base, table_access
from shiftdesk.tracking import TrackedColumns

#: what became of a prepared submission
OUTCOMES = ("pending", "confirmed", "cancelled")


class CatalogSubmissionRecord(TrackedColumns, Base):
    """One submission of reference files to a catalog."""

    __tablename__ = "catalog_submissions"
    __table_args__ = table_access(
        "shared", Index("ix_catalog_submissions_open", "observatory", "outcome", "created_at")
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    observatory: Mapped[str] = mapped_column(String(32))
    instrument: Mapped[str] = mapped_column(String(32), default="")
    submitter: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the context asked for ("edit", "latest" or a pmap) and the pmap it was at the start
    derive_from: Mapped[str] = mapped_column(String(255))
    derived_context: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    plan: Mapped[str] = mapped_column(Text, default="{}")
    staging: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(255), default="")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


TABLES = ("catalog_submissions",)
