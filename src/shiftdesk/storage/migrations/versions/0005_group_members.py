"""Hub group memberships in the database, for row-level security on ``group:NAME`` shares.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_members",
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "member"),
    )
    op.create_index("ix_group_members_member", "group_members", ["member"])
    boundary.protect_table(op.get_bind(), "group_members", "shared")


def downgrade() -> None:
    op.drop_index("ix_group_members_member", table_name="group_members")
    op.drop_table("group_members")
