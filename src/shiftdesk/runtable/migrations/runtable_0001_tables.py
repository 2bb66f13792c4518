"""Run tables: tables, members, variables, runs, values and per-user view settings.

Revision ID: runtable_0001
Revises: 0004 (the core head when the run table came)
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "runtable_0001"
down_revision = "0004"
branch_labels = ("runtable",)
depends_on = None

_TZ = sa.DateTime(timezone=True)

#: whether session_user may read table ``t`` (SECURITY DEFINER: the members table's own
#: row-level security must not apply inside the check, or the policy would recurse). It
#: only tells a user whether they are a member, so every role may call it.
_MEMBER_FUNCTION = """
CREATE OR REPLACE FUNCTION shiftdesk_runtable_member(t integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {members} m
                 WHERE m.table_id = t AND m.member IN (session_user::text, '*'))
$$
"""


def upgrade() -> None:
    op.create_table(
        "runtable_tables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("experiment", sa.String(128), nullable=True),
        sa.Column("data_template", sa.Text(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("context_text", sa.Text(), nullable=False),
        sa.Column("context_version", sa.Integer(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("editors", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("concurrent_jobs", sa.Integer(), nullable=False),
        sa.Column("time_limit_s", sa.Float(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_runtable_tables_owner", "runtable_tables", ["owner"])
    op.create_index("ix_runtable_tables_experiment", "runtable_tables", ["experiment"])
    fk = sa.ForeignKeyConstraint(["table_id"], ["runtable_tables.id"], ondelete="CASCADE")
    op.create_table(
        "runtable_members",
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("table_id", "member"),
        fk,
    )
    op.create_table(
        "runtable_variables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("units", sa.String(64), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.Column("type", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("table_id", "name", name="uq_runtable_variables_name"),
        sa.ForeignKeyConstraint(["table_id"], ["runtable_tables.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_runtable_variables_table_id", "runtable_variables", ["table_id"])
    op.create_table(
        "runtable_runs",
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("start_time", _TZ, nullable=True),
        sa.Column("added_at", _TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("requested_json", sa.Text(), nullable=False),
        sa.Column("status_at", _TZ, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("table_id", "run"),
        sa.ForeignKeyConstraint(["table_id"], ["runtable_tables.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_runtable_runs_seq", "runtable_runs", ["table_id", "seq"])
    op.create_table(
        "runtable_values",
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("blob", sa.LargeBinary(), nullable=True),
        sa.Column("max_diff", sa.Float(), nullable=True),
        sa.Column("attributes_json", sa.Text(), nullable=False),
        sa.Column("provenance", sa.String(128), nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("table_id", "run", "name"),
        sa.ForeignKeyConstraint(["table_id"], ["runtable_tables.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_runtable_values_seq", "runtable_values", ["table_id", "seq"])
    op.create_table(
        "runtable_view_settings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("settings_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "table_id", name="uq_runtable_view_settings"),
        sa.ForeignKeyConstraint(["table_id"], ["runtable_tables.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_runtable_view_settings_owner", "runtable_view_settings", ["owner"])
    op.create_index("ix_runtable_view_settings_table_id", "runtable_view_settings", ["table_id"])
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        schema = str(conn.execute(sa.text("SELECT current_schema()")).scalar())
        members = '"' + schema.replace('"', '""') + '".runtable_members'
        conn.execute(sa.text(_MEMBER_FUNCTION.format(members=members)))
        boundary.protect_table(
            conn, "runtable_tables", "member", member_check="shiftdesk_runtable_member(id)"
        )
        for table in ("runtable_members", "runtable_variables", "runtable_runs", "runtable_values"):
            boundary.protect_table(
                conn, table, "member", member_check="shiftdesk_runtable_member(table_id)"
            )
        boundary.protect_table(conn, "runtable_view_settings", "owner")


def downgrade() -> None:
    for table in (
        "runtable_view_settings",
        "runtable_values",
        "runtable_runs",
        "runtable_variables",
        "runtable_members",
        "runtable_tables",
    ):
        op.drop_table(table)
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP FUNCTION IF EXISTS shiftdesk_runtable_member(integer)"))
