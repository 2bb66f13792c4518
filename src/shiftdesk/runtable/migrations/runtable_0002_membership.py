"""Run tables: a membership counts only when the table's owner granted it, and rows of a
table are written only by its owner.

Before, any user could insert a ``runtable_members`` row of their own (owner = themselves)
naming another user's table id and so read that table, and insert runs or values of their
own into it. Now a member row counts only if its owner is the table's owner, and a row of
``runtable_members``, ``runtable_variables``, ``runtable_runs`` or ``runtable_values`` may
be written by a user's own connection only into a table that user owns (everyone else's
changes come through the gate, whose connection owns the tables).

Revision ID: runtable_0002
Revises: runtable_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "runtable_0002"
down_revision = "runtable_0001"
branch_labels = None
depends_on = None

#: the child tables of a run table (rows carry ``table_id`` and ``owner``)
_CHILDREN = ("runtable_members", "runtable_variables", "runtable_runs", "runtable_values")

_MEMBER_FUNCTION = """
CREATE OR REPLACE FUNCTION shiftdesk_runtable_member(t integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {members} m JOIN {tables} r ON r.id = m.table_id
                 WHERE m.table_id = t AND m.member IN (session_user::text, '*')
                   AND m.owner = r.owner)
$$
"""
#: whether session_user owns table ``t`` (SECURITY DEFINER for the same reason)
_OWNER_FUNCTION = """
CREATE OR REPLACE FUNCTION shiftdesk_runtable_owner(t integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {tables} r WHERE r.id = t AND r.owner = session_user::text)
$$
"""
_OLD_MEMBER_FUNCTION = """
CREATE OR REPLACE FUNCTION shiftdesk_runtable_member(t integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {members} m
                 WHERE m.table_id = t AND m.member IN (session_user::text, '*'))
$$
"""
_MINE = "owner = session_user::text"


def _names(conn: sa.Connection) -> dict[str, str]:
    schema = (
        '"'
        + str(conn.execute(sa.text("SELECT current_schema()")).scalar()).replace('"', '""')
        + '"'
    )
    return {"members": f"{schema}.runtable_members", "tables": f"{schema}.runtable_tables"}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    names = _names(conn)
    conn.execute(sa.text(_MEMBER_FUNCTION.format(**names)))
    conn.execute(sa.text(_OWNER_FUNCTION.format(**names)))
    writable = f"{_MINE} AND shiftdesk_runtable_owner(table_id)"
    for table in _CHILDREN:
        conn.execute(sa.text(f"DROP POLICY IF EXISTS owner_insert ON {table}"))
        conn.execute(sa.text(f"DROP POLICY IF EXISTS owner_update ON {table}"))
        conn.execute(
            sa.text(f"CREATE POLICY owner_insert ON {table} FOR INSERT WITH CHECK ({writable})")
        )
        conn.execute(
            sa.text(
                f"CREATE POLICY owner_update ON {table} FOR UPDATE "
                f"USING ({_MINE} OR shiftdesk_is_admin()) "
                f"WITH CHECK (({writable}) OR shiftdesk_is_admin())"
            )
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    names = _names(conn)
    for table in _CHILDREN:
        conn.execute(sa.text(f"DROP POLICY IF EXISTS owner_insert ON {table}"))
        conn.execute(sa.text(f"DROP POLICY IF EXISTS owner_update ON {table}"))
        conn.execute(
            sa.text(f"CREATE POLICY owner_insert ON {table} FOR INSERT WITH CHECK ({_MINE})")
        )
        conn.execute(
            sa.text(
                f"CREATE POLICY owner_update ON {table} FOR UPDATE "
                f"USING ({_MINE} OR shiftdesk_is_admin()) "
                f"WITH CHECK ({_MINE} OR shiftdesk_is_admin())"
            )
        )
    conn.execute(sa.text(_OLD_MEMBER_FUNCTION.format(**names)))
    conn.execute(sa.text("DROP FUNCTION IF EXISTS shiftdesk_runtable_owner(integer)"))
