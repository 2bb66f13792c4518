"""Catalog tables: catalogs, files, mapping edges, context pointers and history, counters,
locks and per-file history.

Every table is ``shared``: everyone reads it, only the gate (standalone: the caller's own
process) writes it. Files are keyed by (observatory, name) and the parent → child edges of
every mapping are stored by name, so "which contexts use this file" and "is this context
blacklisted" are recursive queries over :class:`CatalogEdgeRecord` rather than scans of the
mapping files (and an edge to a mapping that is not in the catalog can be stored and shown
as a defect).

The delivery states and the transitions allowed between them are defined here, once
(:data:`STATES`, :data:`TRANSITIONS`, :func:`check_transition`); so are the deliveries
to an archive pipeline (:class:`CatalogDeliveryRecord`) and where a catalog delivers
(:class:`CatalogDeliverySettingRecord`, an administrator's setting).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.errors import CatalogError
from shiftdesk.storage.models import Base, table_access, utcnow

#: a file's delivery states, as CRDS's server has them
STATES = (
    "uploaded",
    "delivered",
    "submitted",
    "archiving",
    "archived",
    "operational",
    "cancelled",
    "archiving-failed",
)
#: state -> the states a file may move to from it (the one place they are defined)
TRANSITIONS: dict[str, frozenset[str]] = {
    "uploaded": frozenset({"delivered", "cancelled"}),
    "delivered": frozenset({"submitted", "cancelled"}),
    "submitted": frozenset({"archiving", "archiving-failed"}),
    "archiving": frozenset({"archived", "archiving-failed"}),
    # the archive pipeline is retried after a failure, or the delivery is given up
    "archiving-failed": frozenset({"archiving", "cancelled"}),
    "archived": frozenset({"operational"}),
    "operational": frozenset({"archived"}),
    "cancelled": frozenset(),
}
#: states in which a file is part of the catalog's usable content
ACTIVE_STATES = ("archived", "operational")
#: the state of files imported as they are (a CRDS cache, the fixture): already in use
IMPORTED_STATE = "operational"
#: the context pointers a catalog keeps
CONTEXT_KINDS = ("latest", "edit", "build")
FILE_TYPES = ("mapping", "reference")


def check_transition(name: str, old: str, new: str) -> None:
    """Raise :class:`CatalogError` unless file ``name`` may go from state ``old`` to ``new``."""
    if new not in STATES:
        raise CatalogError(f"{new!r} is not a file state; the states are {', '.join(STATES)}")
    if new == old:
        return
    allowed = TRANSITIONS.get(old, frozenset())
    if new not in allowed:
        after = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise CatalogError(
            f"{name} is {old}; it cannot become {new} (from {old} it may become: {after})"
        )


class CatalogRecord(Base):
    """One catalog: an observatory's rules and reference files, and who may change them.

    ``editor_group`` is the hub group whose members change the catalog (default
    ``catalog-<observatory>``); ``editors`` lists users who may too (comma separated).
    ``folder`` is the content store (a folder of the files, written only by the gate).
    """

    __tablename__ = "catalog_catalogs"
    __table_args__ = table_access("shared")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    observatory: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    folder: Mapped[str] = mapped_column(Text)
    editor_group: Mapped[str] = mapped_column(String(255), default="")
    editors: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogFileRecord(Base):
    """A mapping or reference file of a catalog (CRDS's FileBlob, as real columns).

    The index ``ix_catalog_files_browse`` serves the browser's usual question (an
    instrument's files of one type in one state, by name) without sorting.
    """

    __tablename__ = "catalog_files"
    __table_args__ = table_access(
        "shared",
        UniqueConstraint("observatory", "name", name="uq_catalog_files_name"),
        UniqueConstraint("observatory", "sha1sum", name="uq_catalog_files_sha1sum"),
        Index("ix_catalog_files_browse", "observatory", "instrument", "filekind", "state", "name"),
        Index("ix_catalog_files_added", "observatory", "added_at"),
        Index("ix_catalog_files_bad", "observatory", "rejected", "blacklisted"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    observatory: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    #: mapping or reference
    type: Mapped[str] = mapped_column(String(16))
    #: pmap, imap, rmap for mappings; the extension (asdf, fits, ...) for references
    kind: Mapped[str] = mapped_column(String(16), default="")
    instrument: Mapped[str] = mapped_column(String(32), default="")
    filekind: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    sha1sum: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    rejected: Mapped[bool] = mapped_column(Boolean, default=False)
    blacklisted: Mapped[bool] = mapped_column(Boolean, default=False)
    derived_from: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    deliverer: Mapped[str] = mapped_column(String(255), default="")
    uploaded_as: Mapped[str] = mapped_column(String(255), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivery_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    activation_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    useafter_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CatalogEdgeRecord(Base):
    """A mapping naming a file: pmap → imap, imap → rmap, rmap → reference.

    ``child_type`` says whether the child is a mapping (the blacklist follows those edges)
    or a reference. The primary key serves walks down (parent → children); the index on
    the child serves walks up ("uses").
    """

    __tablename__ = "catalog_edges"
    __table_args__ = table_access(
        "shared", Index("ix_catalog_edges_child", "observatory", "child", "parent")
    )

    observatory: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent: Mapped[str] = mapped_column(String(255), primary_key=True)
    child: Mapped[str] = mapped_column(String(255), primary_key=True)
    child_type: Mapped[str] = mapped_column(String(16))


class CatalogContextRecord(Base):
    """Where a context pointer (latest, edit, build) of a catalog points now."""

    __tablename__ = "catalog_contexts"
    __table_args__ = table_access("shared")

    observatory: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    context: Mapped[str] = mapped_column(String(255))
    changed_by: Mapped[str] = mapped_column(String(255), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogContextHistoryRecord(Base):
    """One change of a context pointer: each row starts a period of that context."""

    __tablename__ = "catalog_context_history"
    __table_args__ = table_access(
        "shared", Index("ix_catalog_context_history_at", "observatory", "kind", "at")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    observatory: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    context: Mapped[str] = mapped_column(String(255))
    previous: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    who: Mapped[str] = mapped_column(String(255), default="")
    why: Mapped[str] = mapped_column(Text, default="")


class CatalogCounterRecord(Base):
    """The last serial number given in a name series (e.g. ``roman_wfi_flat`` rmaps)."""

    __tablename__ = "catalog_counters"
    __table_args__ = table_access("shared")

    observatory: Mapped[str] = mapped_column(String(32), primary_key=True)
    series: Mapped[str] = mapped_column(String(255), primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)


class CatalogLockRecord(Base):
    """A lock on an instrument (``instrument:WFI``) or a user (``user:alice``).

    Held by ``holder`` until ``expires_at``; a lapsed lock is taken over only explicitly
    (``forced_from`` says from whom, for the record).
    """

    __tablename__ = "catalog_locks"
    __table_args__ = table_access("shared")

    observatory: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    instrument: Mapped[str] = mapped_column(String(32), default="")
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    forced_from: Mapped[str] = mapped_column(String(255), default="")


class CatalogFileEventRecord(Base):
    """A line of a file's history (added, state changes, marked bad, blacklisted, ...).

    The audit trail has the same events, but on a hub each user reads only their own
    audit entries; a file's history is everyone's to read.
    """

    __tablename__ = "catalog_file_events"
    __table_args__ = table_access(
        "shared", Index("ix_catalog_file_events_name", "observatory", "name", "at")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    observatory: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    who: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class CatalogDeliverySettingRecord(Base):
    """Where a catalog delivers its confirmed files: an administrator's setting.

    ``folder`` is the delivery folder an archive pipeline watches (the directory-rename
    protocol, :mod:`shiftdesk.catalog.delivery`). The gate reads it from here; no caller
    names where the gate writes.
    """

    __tablename__ = "catalog_delivery_settings"
    __table_args__ = table_access("shared")

    observatory: Mapped[str] = mapped_column(String(32), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(32), default="directory-rename")
    folder: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(255), default="")
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CatalogDeliveryRecord(Base):
    """One delivery of files to an archive pipeline, with its own explicit state.

    ``state`` is one of :data:`STATES` (delivered, submitted, archiving, archived,
    archiving-failed or cancelled); its files' states follow it. ``serial`` numbers the
    deliveries of a catalog (the ``delivery_id`` of CRDS's manifest names); ``handle``
    is what the protocol calls it (the manifest's name, ``opus_<serial>_<op>.cat``);
    ``folder`` where it was sent (the setting then). ``files`` holds the names, one a
    line.
    """

    __tablename__ = "catalog_deliveries"
    __table_args__ = table_access(
        "shared",
        UniqueConstraint("observatory", "serial", name="uq_catalog_deliveries_serial"),
        Index("ix_catalog_deliveries_state", "observatory", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    observatory: Mapped[str] = mapped_column(String(32))
    serial: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(1), default="I")
    protocol: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(255))
    folder: Mapped[str] = mapped_column(Text)
    files: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    submission: Mapped[str] = mapped_column(String(32), default="")
    delivered_by: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    #: the last thing worth saying (a pipeline state the catalog could not follow, ...)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: every table of the catalog, in the order they are created
TABLES = (
    "catalog_catalogs",
    "catalog_files",
    "catalog_edges",
    "catalog_contexts",
    "catalog_context_history",
    "catalog_counters",
    "catalog_locks",
    "catalog_file_events",
    "catalog_delivery_settings",
    "catalog_deliveries",
)
