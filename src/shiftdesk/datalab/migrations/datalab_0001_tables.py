"""Data sessions: sessions, members, inputs, operations and content-addressed results.

Revision ID: datalab_0001
Revises: 0004 (the core head when data sessions came)
"""

import sqlalchemy as sa
from alembic import op

from shiftdesk.storage import boundary

revision = "datalab_0001"
down_revision = "0004"
branch_labels = ("datalab",)
depends_on = None

_TZ = sa.DateTime(timezone=True)

#: whether session_user may read session ``s``. SECURITY DEFINER: the members table's own
#: row-level security must not apply inside the check (the policy would recurse). A
#: member row counts only when its owner is the session's owner, so a user cannot make
#: themselves a member of someone else's session by adding a row of their own.
_SESSION_MEMBER = """
CREATE OR REPLACE FUNCTION shiftdesk_datalab_member(s integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {members} m JOIN {sessions} d
                   ON d.id = m.session_id AND d.owner = m.owner
                 WHERE m.session_id = s AND m.member IN (session_user::text, '*'))
$$
"""

#: whether session_user may read the result (owner, key): a member of one of the owner's
#: sessions whose operations asked for that key (all rows of the owner, checked as above)
_RESULT_MEMBER = """
CREATE OR REPLACE FUNCTION shiftdesk_datalab_result_member(r_owner text, r_key text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {operations} o
                 JOIN {sessions} d ON d.id = o.session_id AND d.owner = o.owner
                 JOIN {members} m ON m.session_id = d.id AND m.owner = d.owner
                 WHERE o.owner = r_owner AND o.cache_key = r_key
                   AND m.member IN (session_user::text, '*'))
$$
"""


def upgrade() -> None:
    op.create_table(
        "datalab_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("shared_with", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("modified_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_datalab_sessions_owner", "datalab_sessions", ["owner"])
    op.create_table(
        "datalab_members",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "member"),
        sa.ForeignKeyConstraint(["session_id"], ["datalab_sessions.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "datalab_inputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("header_json", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "sha256", name="uq_datalab_inputs_content"),
        sa.ForeignKeyConstraint(["session_id"], ["datalab_sessions.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_datalab_inputs_session_id", "datalab_inputs", ["session_id"])
    op.create_index("ix_datalab_inputs_owner", "datalab_inputs", ["owner"])
    op.create_table(
        "datalab_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("hashes_json", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "cache_key", name="uq_datalab_results_key"),
    )
    op.create_index("ix_datalab_results_owner", "datalab_results", ["owner"])
    op.create_index("ix_datalab_results_cache_key", "datalab_results", ["cache_key"])
    op.create_table(
        "datalab_operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("inputs_json", sa.Text(), nullable=False),
        sa.Column("files_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_field", sa.String(255), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("folder", sa.Text(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("finished_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["session_id"], ["datalab_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["result_id"], ["datalab_results.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_datalab_operations_session_id", "datalab_operations", ["session_id"])
    op.create_index("ix_datalab_operations_owner", "datalab_operations", ["owner"])
    op.create_index("ix_datalab_operations_cache_key", "datalab_operations", ["cache_key"])
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        schema = str(conn.execute(sa.text("SELECT current_schema()")).scalar())
        quoted = '"' + schema.replace('"', '""') + '".'
        names = {
            "members": quoted + "datalab_members",
            "sessions": quoted + "datalab_sessions",
            "operations": quoted + "datalab_operations",
        }
        conn.execute(sa.text(_SESSION_MEMBER.format(**names)))
        conn.execute(sa.text(_RESULT_MEMBER.format(**names)))
        boundary.protect_table(
            conn, "datalab_sessions", "member", member_check="shiftdesk_datalab_member(id)"
        )
        for table in ("datalab_members", "datalab_inputs", "datalab_operations"):
            boundary.protect_table(
                conn, table, "member", member_check="shiftdesk_datalab_member(session_id)"
            )
        boundary.protect_table(
            conn,
            "datalab_results",
            "member",
            member_check="shiftdesk_datalab_result_member(owner, cache_key)",
        )


def downgrade() -> None:
    for table in (
        "datalab_operations",
        "datalab_results",
        "datalab_inputs",
        "datalab_members",
        "datalab_sessions",
    ):
        op.drop_table(table)
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP FUNCTION IF EXISTS shiftdesk_datalab_member(integer)"))
        conn.execute(sa.text("DROP FUNCTION IF EXISTS shiftdesk_datalab_result_member(text, text)"))
