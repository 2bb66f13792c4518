"""Deliveries to an archive pipeline, and where each catalog delivers (an admin setting).

Revision ID: catalog_0003
Revises: catalog_0002
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "catalog_0003"
down_revision = "catalog_0002"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_delivery_settings",
        sa.Column("observatory", sa.String(32), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(255), nullable=False),
        sa.Column("set_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("observatory"),
    )
    op.create_table(
        "catalog_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("observatory", sa.String(32), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(1), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("submission", sa.String(32), nullable=False),
        sa.Column("delivered_by", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("changed_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("observatory", "serial", name="uq_catalog_deliveries_serial"),
    )
    op.create_index("ix_catalog_deliveries_state", "catalog_deliveries", ["observatory", "state"])
    conn = op.get_bind()
    for table in ("catalog_delivery_settings", "catalog_deliveries"):
        # everyone reads them; only the gate (the table owner) writes them
        boundary.protect_table(conn, table, "shared")


def downgrade() -> None:
    op.drop_index("ix_catalog_deliveries_state", table_name="catalog_deliveries")
    op.drop_table("catalog_deliveries")
    op.drop_table("catalog_delivery_settings")
