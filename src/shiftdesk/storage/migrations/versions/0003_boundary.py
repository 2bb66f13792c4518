"""Trust boundary: the audit log, and row-level security on PostgreSQL.

Every table gets row-level security with the policies of its access class (see
``shiftdesk.storage.boundary``); the audit functions stamp the connection's role.
On SQLite only the audit table is created.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from shiftdesk.storage import boundary

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OWNER_TABLES = ("data_files", "saved_models", "jobs")
SHARED_TABLES = (
    "daq_experiments",
    "daq_ecc_servers",
    "daq_data_routers",
    "daq_data_sources",
    "daq_runs",
    "daq_observables",
    "daq_measurements",
    "daq_commands",
    "daq_calls",
    "daq_log",
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = str(conn.execute(text("SELECT current_schema()")).scalar())
    conn.execute(text(boundary.IS_ADMIN_FUNCTION))
    for statement in boundary.audit_functions(schema):
        conn.execute(text(statement))
    for table in OWNER_TABLES:
        boundary.protect_table(conn, table, "owner")
    for table in SHARED_TABLES:
        boundary.protect_table(conn, table, "shared")
    boundary.protect_table(conn, "audit_log", "audit")
    boundary.audit_row_changes(conn, "saved_models", updates="all")
    boundary.audit_row_changes(conn, "data_files")
    boundary.audit_row_changes(
        conn, "jobs", updates="NEW.cancel_requested AND NOT OLD.cancel_requested"
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table in ("saved_models", "data_files", "jobs"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS audit_{table}_rows ON {table}"))
            conn.execute(text(f"DROP TRIGGER IF EXISTS audit_{table}_updates ON {table}"))
        for table in (*OWNER_TABLES, *SHARED_TABLES):
            for policy in ("owner_read", "owner_insert", "owner_update", "owner_delete"):
                conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON {table}"))
            conn.execute(text(f"DROP POLICY IF EXISTS shared_read ON {table}"))
            conn.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP FUNCTION IF EXISTS shiftdesk_audit_row()"))
        conn.execute(text("DROP FUNCTION IF EXISTS shiftdesk_audit(text, text, text, text)"))
        conn.execute(text("DROP FUNCTION IF EXISTS shiftdesk_is_admin()"))
