"""Data-session tables: sessions, who they are shared with, their inputs, operations and
the content-addressed results.

Every row carries its ``owner`` (the trust boundary's row-level security reads it). A
session shared with a project is read by the project's members (``datalab_members``
lists them as row-level security checks them); a result is read by its owner and by the
members of any of the owner's sessions that used it. Results are keyed by
``(owner, cache_key)``: the same request by another user never finds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.storage.models import Base, table_access, utcnow

#: the rows of ``datalab_operations`` that run a job of their own (queued or running, not
#: served from the store nor joined to another): at most one per owner and key
RUNNING_WHERE = "status IN ('queued', 'running') AND NOT cached"


class DataSessionRecord(Base):
    """A data session: a named set of frames and the operations run on them.

    ``shared_with`` is a comma-separated list of user names and ``group:NAME`` entries
    (hub groups) who may read the session; ``*`` lets everyone read.
    """

    __tablename__ = "datalab_sessions"
    __table_args__ = table_access("member")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    shared_with: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DataSessionMemberRecord(Base):
    """Who may read a session, one entry a row (what row-level security checks)."""

    __tablename__ = "datalab_members"
    __table_args__ = table_access("member")

    session_id: Mapped[int] = mapped_column(
        ForeignKey("datalab_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    member: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))


class SessionInputRecord(Base):
    """A frame added to a session: its name, content hash, stored copy and header facts.

    ``header_json`` holds what a gallery shows (``DATE-OBS``, ``FILTER``, ``OBJECT``,
    ``EXPTIME``, ``shape``), read from the header only.
    """

    __tablename__ = "datalab_inputs"
    __table_args__ = table_access(
        "member", UniqueConstraint("session_id", "sha256", name="uq_datalab_inputs_content")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("datalab_sessions.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    header_json: Mapped[str] = mapped_column(Text, default="{}")
    position: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ResultRecord(Base):
    """A stored result, found by its content key: what an identical request is served.

    ``folder`` is where its files are (absolute; the owner's results folder),
    ``result_json`` the :class:`~shiftdesk.datalab.OperationResult` with paths relative
    to it, ``hashes_json`` each output file's SHA-256 (so outputs chain into later
    requests by content).
    """

    __tablename__ = "datalab_results"
    __table_args__ = table_access(
        "member", UniqueConstraint("owner", "cache_key", name="uq_datalab_results_key")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    folder: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str] = mapped_column(Text)
    hashes_json: Mapped[str] = mapped_column(Text, default="{}")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OperationRecord(Base):
    """One request of a session: the operation, its inputs, its job and how it ended.

    ``inputs_json`` is what was validated (file paths, numbers); ``files_json`` says for
    each input file its field, name, content hash and the operation of the session that
    made it (``made_by``, None for a frame added to the session). ``status`` follows the
    job (queued, running, done, failed, cancelled) and is settled from it once it ends;
    ``cached`` is True when a stored result was served without running anything, or
    when the request joined an identical one of the same owner that was running (it
    follows that request's job, ``job_id``, and ends with its result).

    At most one request per owner and key runs its own job at a time: the partial unique
    index ``uq_datalab_operations_running`` covers the rows that are queued or running
    and not ``cached`` (see :data:`RUNNING_WHERE`), so two identical requests made at
    once cannot both start one (the second joins the first).
    """

    __tablename__ = "datalab_operations"
    __table_args__ = table_access(
        "member",
        Index(
            "uq_datalab_operations_running",
            "owner",
            "cache_key",
            unique=True,
            sqlite_where=text(RUNNING_WHERE),
            postgresql_where=text(RUNNING_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("datalab_sessions.id", ondelete="CASCADE"), index=True
    )
    owner: Mapped[str] = mapped_column(String(255), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    inputs_json: Mapped[str] = mapped_column(Text)
    files_json: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_field: Mapped[str | None] = mapped_column(String(255), nullable=True)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    folder: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("datalab_results.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
