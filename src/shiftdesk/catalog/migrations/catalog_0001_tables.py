"""Reference-file catalog: catalogs, files, mapping edges, contexts and their history,
serial counters, locks and file history.

Revision ID: catalog_0001
Revises: 0004 (the core head when the catalog came)
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "catalog_0001"
down_revision = "0004"
branch_labels = ("catalog",)
depends_on = None

_TZ = sa.DateTime(timezone=True)
_OBS = sa.String(32)
_NAME = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "catalog_catalogs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("editor_group", sa.String(255), nullable=False),
        sa.Column("editors", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("observatory"),
    )
    op.create_table(
        "catalog_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("filekind", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha1sum", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("blacklisted", sa.Boolean(), nullable=False),
        sa.Column("derived_from", _NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("deliverer", sa.String(255), nullable=False),
        sa.Column("uploaded_as", _NAME, nullable=False),
        sa.Column("added_at", _TZ, nullable=False),
        sa.Column("delivery_date", _TZ, nullable=True),
        sa.Column("activation_date", _TZ, nullable=True),
        sa.Column("useafter_date", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("observatory", "name", name="uq_catalog_files_name"),
        sa.UniqueConstraint("observatory", "sha1sum", name="uq_catalog_files_sha1sum"),
    )
    op.create_index(
        "ix_catalog_files_browse",
        "catalog_files",
        ["observatory", "instrument", "filekind", "state", "name"],
    )
    op.create_index("ix_catalog_files_added", "catalog_files", ["observatory", "added_at"])
    op.create_index(
        "ix_catalog_files_bad", "catalog_files", ["observatory", "rejected", "blacklisted"]
    )
    op.create_table(
        "catalog_edges",
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("parent", _NAME, nullable=False),
        sa.Column("child", _NAME, nullable=False),
        sa.Column("child_type", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("observatory", "parent", "child"),
    )
    op.create_index("ix_catalog_edges_child", "catalog_edges", ["observatory", "child", "parent"])
    op.create_table(
        "catalog_contexts",
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("context", _NAME, nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("observatory", "kind"),
    )
    op.create_table(
        "catalog_context_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("context", _NAME, nullable=False),
        sa.Column("previous", _NAME, nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_catalog_context_history_at", "catalog_context_history", ["observatory", "kind", "at"]
    )
    op.create_table(
        "catalog_counters",
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("series", _NAME, nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("observatory", "series"),
    )
    op.create_table(
        "catalog_locks",
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("acquired_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("forced_from", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("observatory", "name"),
    )
    op.create_table(
        "catalog_file_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("observatory", _OBS, nullable=False),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_catalog_file_events_name", "catalog_file_events", ["observatory", "name", "at"]
    )
    conn = op.get_bind()
    for table in _TABLES:
        # everyone reads the catalog; only the gate (the table owner) writes it
        boundary.protect_table(conn, table, "shared")


_TABLES = (
    "catalog_catalogs",
    "catalog_files",
    "catalog_edges",
    "catalog_contexts",
    "catalog_context_history",
    "catalog_counters",
    "catalog_locks",
    "catalog_file_events",
)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
