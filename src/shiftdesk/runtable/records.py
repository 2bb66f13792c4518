"""Run-table tables: tables, their runs, variables and cell values, long and narrow.

Values are one row per (table, run, variable): a new variable needs no schema change.
Every write transaction of a table first bumps ``runtable_tables.seq`` and stamps the
rows it writes with the new number, so "what changed since N" is one indexed read and
writers of one table take turns on that row (SQLite's writer lock is taken by that
first statement, so a writer never has to upgrade a read snapshot: no "database is
locked" from a lost upgrade race).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.storage.models import Base, table_access, utcnow


class RunTableRecord(Base):
    """A run table: where its runs' data are, its context file, who may see and edit it.

    ``members`` and ``editors`` are comma-separated user names or ``group:NAME`` (a hub
    group); ``*`` among the members lets everyone read.
    """

    __tablename__ = "runtable_tables"
    __table_args__ = table_access("member")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    owner: Mapped[str] = mapped_column(String(255), index=True)
    experiment: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    data_template: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(Text)
    context_text: Mapped[str] = mapped_column(Text, default="")
    context_version: Mapped[int] = mapped_column(Integer, default=0)
    members: Mapped[str] = mapped_column(Text, default="")
    editors: Mapped[str] = mapped_column(Text, default="")
    backend: Mapped[str] = mapped_column(String(64), default="local")
    concurrent_jobs: Mapped[int] = mapped_column(Integer, default=15)
    time_limit_s: Mapped[float] = mapped_column(Float, default=600.0)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunTableMemberRecord(Base):
    """Who may read a table, expanded to user names (what row-level security checks)."""

    __tablename__ = "runtable_members"
    __table_args__ = table_access("member")

    table_id: Mapped[int] = mapped_column(
        ForeignKey("runtable_tables.id", ondelete="CASCADE"), primary_key=True
    )
    member: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))


class RunTableVariableRecord(Base):
    """A column: a context variable, a user variable (typed) or submitted values."""

    __tablename__ = "runtable_variables"
    __table_args__ = table_access(
        "member", UniqueConstraint("table_id", "name", name="uq_runtable_variables_name")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_id: Mapped[int] = mapped_column(
        ForeignKey("runtable_tables.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    units: Mapped[str] = mapped_column(String(64), default="")
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    #: None for computed variables; boolean, integer, number or string for user variables
    type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: context, user or submitted
    source: Mapped[str] = mapped_column(String(16), default="context")
    summary: Mapped[str | None] = mapped_column(String(32), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class RunRecord(Base):
    """A run of a table: when it started and where its processing is."""

    __tablename__ = "runtable_runs"
    __table_args__ = table_access("member", Index("ix_runtable_runs_seq", "table_id", "seq"))

    table_id: Mapped[int] = mapped_column(
        ForeignKey("runtable_tables.id", ondelete="CASCADE"), primary_key=True
    )
    run: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: "" (never processed), queued, submitted, running, done, failed, cancelled
    status: Mapped[str] = mapped_column(String(16), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: what the queued processing should compute: {"variables": [...], "params": {...}}
    requested_json: Mapped[str] = mapped_column(Text, default="{}")
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class RunValueRecord(Base):
    """One cell: its table value, summary kind, display attributes and provenance."""

    __tablename__ = "runtable_values"
    __table_args__ = table_access("member", Index("ix_runtable_values_seq", "table_id", "seq"))

    table_id: Mapped[int] = mapped_column(
        ForeignKey("runtable_tables.id", ondelete="CASCADE"), primary_key=True
    )
    run: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    max_diff: Mapped[float | None] = mapped_column(Float, nullable=True)
    attributes_json: Mapped[str] = mapped_column(Text, default="{}")
    provenance: Mapped[str] = mapped_column(String(128), default="context")
    who: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class RunTableSettingsRecord(Base):
    """One user's view of one table: column order, hidden columns, filters, sort."""

    __tablename__ = "runtable_view_settings"
    __table_args__ = table_access(
        "owner", UniqueConstraint("owner", "table_id", name="uq_runtable_view_settings")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    table_id: Mapped[int] = mapped_column(
        ForeignKey("runtable_tables.id", ondelete="CASCADE"), index=True
    )
    settings_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
