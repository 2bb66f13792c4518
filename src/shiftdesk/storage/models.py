"""ORM tables. Every change here needs a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shiftdesk.tracking import HeartbeatColumn, TrackedColumns
from shiftdesk.tracking import utcnow as utcnow  # the one clock, importable from here too


def table_access(kind: str, *constraints: Any) -> tuple[Any, ...]:
    """``__table_args__`` declaring a table's access class for the hub's trust boundary.

    ``kind`` is ``owner`` (rows belong to a user), ``member`` (an owner's rows that
    members read too), ``shared`` (everyone reads, only the gate writes) or ``audit``;
    see :mod:`shiftdesk.storage.boundary`.
    """
    return (*constraints, {"info": {"access": kind}})


class Base(DeclarativeBase):
    """Declarative base of every shiftdesk table."""


class DataFileRecord(Base):
    """An uploaded data file, kept byte for byte so it can be re-parsed later."""

    __tablename__ = "data_files"
    __table_args__ = table_access("owner")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(64), default="reflectometry")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    n_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SavedModelRecord(Base):
    """A model saved by a user with a title and notes (JSON in shiftdesk's schema)."""

    __tablename__ = "saved_models"
    __table_args__ = table_access("owner")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    domain: Mapped[str] = mapped_column(String(64), default="reflectometry")
    title: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    model_json: Mapped[str] = mapped_column(Text)
    data_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_files.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class JobRecord(TrackedColumns, HeartbeatColumn, Base):
    """A persisted job: what to run (spec), where, how far it got, and what came out."""

    __tablename__ = "jobs"
    __table_args__ = table_access("owner")

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    backend: Mapped[str] = mapped_column(String(32), default="local")
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    log: Mapped[str] = mapped_column(Text, default="")
    spec_json: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditRecord(Base):
    """One entry of the audit trail: who (as the gate or the database verified it) did or
    tried what, and how it ended.

    ``via`` says who wrote it: ``gate`` (the gate service, for an action it ran or
    refused), ``database`` (a trigger, for a row change), ``kernel`` (the core, for a
    refusal it noticed), ``local`` (standalone, no hub).
    """

    __tablename__ = "audit_log"
    __table_args__ = table_access("audit")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(16), default="local")


class GroupMemberRecord(Base):
    """A user's membership of a hub group, as the hub says (the gate keeps it in step).

    Row-level security reads it where a row is shared with ``group:NAME`` (a data session
    shared with a project), so the database knows who is in a group without trusting
    anything a user's own server says.
    """

    __tablename__ = "group_members"
    __table_args__ = table_access("shared")

    group_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
