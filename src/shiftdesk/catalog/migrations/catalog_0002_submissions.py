"""Reference-file submissions: prepared in the background, then confirmed or cancelled.

Revision ID: catalog_0002
Revises: catalog_0001
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "catalog_0002"
down_revision = "catalog_0001"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_submissions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("observatory", sa.String(32), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("submitter", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("derive_from", sa.String(255), nullable=False),
        sa.Column("derived_context", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("staging", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=False),
        sa.Column("decided_at", _TZ, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("started_at", _TZ, nullable=True),
        sa.Column("finished_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_catalog_submissions_status", "catalog_submissions", ["status"])
    op.create_index(
        "ix_catalog_submissions_open",
        "catalog_submissions",
        ["observatory", "outcome", "created_at"],
    )
    boundary.protect_table(op.get_bind(), "catalog_submissions", "shared")


def downgrade() -> None:
    op.drop_index("ix_catalog_submissions_open", table_name="catalog_submissions")
    op.drop_index("ix_catalog_submissions_status", table_name="catalog_submissions")
    op.drop_table("catalog_submissions")
