"""Test domain: the tallies table.

Revision ID: test_0001
Revises: 0003 (the core revision that introduced row-level security)
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "test_0001"
down_revision = "0003"
branch_labels = ("test",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_tallies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_test_tallies_owner", "test_tallies", ["owner"])
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        boundary.protect_table(conn, "test_tallies", "owner")


def downgrade() -> None:
    op.drop_table("test_tallies")
