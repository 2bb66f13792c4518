"""Data sessions shared with a project (``group:NAME``) readable on PostgreSQL.

A member row ``group:NAME`` now counts for every user the hub has in group NAME (the
``group_members`` table the gate keeps in step with the hub; core revision 0005). Before,
row-level security matched only user names and ``*``, so a session shared with a
project was readable on SQLite but not on a hub.

Revision ID: datalab_0002
Revises: datalab_0001, 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "datalab_0002"
# after the core's group_members table (0005), which the functions read
down_revision = ("datalab_0001", "0005")
branch_labels = None
depends_on = None

#: a member row counts for session_user: its name, '*', or a group it is in
_ME = (
    "(m.member IN (session_user::text, '*') OR (m.member LIKE 'group:%' AND EXISTS "
    "(SELECT 1 FROM {groups} g WHERE g.member = session_user::text "
    "AND 'group:' || g.group_name = m.member)))"
)
_SESSION_MEMBER = """
CREATE OR REPLACE FUNCTION shiftdesk_datalab_member(s integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {members} m JOIN {sessions} d
                   ON d.id = m.session_id AND d.owner = m.owner
                 WHERE m.session_id = s AND ME)
$$
"""
_RESULT_MEMBER = """
CREATE OR REPLACE FUNCTION shiftdesk_datalab_result_member(r_owner text, r_key text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM {operations} o
                 JOIN {sessions} d ON d.id = o.session_id AND d.owner = o.owner
                 JOIN {members} m ON m.session_id = d.id AND m.owner = d.owner
                 WHERE o.owner = r_owner AND o.cache_key = r_key AND ME)
$$
"""


def _names(conn: sa.Connection) -> dict[str, str]:
    schema = str(conn.execute(sa.text("SELECT current_schema()")).scalar())
    quoted = '"' + schema.replace('"', '""') + '"'
    return {
        table: f"{quoted}.datalab_{table}" for table in ("members", "sessions", "operations")
    } | {"groups": f"{quoted}.group_members"}


def _create(conn: sa.Connection, me: str) -> None:
    names = _names(conn)
    for function in (_SESSION_MEMBER, _RESULT_MEMBER):
        conn.execute(sa.text(function.replace("ME", me).format(**names)))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _create(conn, _ME)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _create(conn, "m.member IN (session_user::text, '*')")
