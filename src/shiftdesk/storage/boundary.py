"""The database side of the hub's trust boundary: one PostgreSQL role per user.

On a hub whose users run under their own operating-system accounts, every user server
connects to PostgreSQL as a role named like the hub user, authenticated by the server
itself (``peer`` authentication over a Unix socket: the kernel tells PostgreSQL which
account opened the connection), never by something the user can choose. Row-level
security then decides what that role sees and changes:

``owner`` tables (data files, saved models, jobs)
    A user sees and changes only rows whose ``owner`` is their role; members of
    :data:`ADMINS_ROLE` see every row and may update or delete them.
``shared`` tables (the DAQ)
    Every user reads them; nobody but the table owner writes them. Changes go through
    the shiftdesk gate service, which checks the caller's hub groups and acts for them.
``member`` tables (run tables)
    Like ``owner`` tables, and members read them too: the migration names a
    ``member_check`` (a SQL condition, usually a ``SECURITY DEFINER`` function of the
    row's table id) that says whether ``session_user`` is a member.
``audit`` (the audit log)
    A user reads their own entries (administrators all of them) and adds entries only
    through :func:`shiftdesk_audit`, which stamps the connection's role as the actor.

Every table declares its class in ``Table.info["access"]``; a migration that adds a
table calls :func:`protect_table` for it, and :func:`secure` refuses to run while any
table lacks row-level security, so a new domain cannot forget it. The table owner (the
role the hub and its services use) is not subject to these policies.

SQLite (one person on a laptop) has no roles: there the checks in the core apply and
this module does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection

from shiftdesk.errors import StorageError

#: group role of every user role: the grants of users are made to it
USERS_ROLE = "shiftdesk_users"
#: members of this role are shiftdesk administrators (hub admins)
ADMINS_ROLE = "shiftdesk_admins"
#: access classes a table may declare in ``Table.info["access"]``
ACCESS_CLASSES = ("owner", "member", "shared", "audit")
#: role names a hub user may never take (PostgreSQL's own and ours)
_RESERVED = re.compile(r"^(pg_.*|postgres|public|none|current_user|session_user|shiftdesk.*)$")


class BoundaryError(StorageError):
    """The database cannot be set up as a trust boundary as asked."""


def _ident(name: str) -> str:
    """A quoted SQL identifier (role names may hold '.', '@', '-')."""
    if not name or "\0" in name:
        raise BoundaryError(f"{name!r} cannot be a database role name")
    return '"' + name.replace('"', '""') + '"'


# -- used by migrations ------------------------------------------------------------------------

IS_ADMIN_FUNCTION = """
CREATE OR REPLACE FUNCTION shiftdesk_is_admin() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_auth_members m
    JOIN pg_roles g ON g.oid = m.roleid
    JOIN pg_roles u ON u.oid = m.member
    WHERE g.rolname = 'shiftdesk_admins' AND u.rolname = session_user)
$$
"""


def audit_functions(schema: str) -> list[str]:
    """SQL creating the audit functions (``shiftdesk_audit`` and the row trigger)."""
    table = f"{_ident(schema)}.audit_log"
    return [
        f"""
CREATE OR REPLACE FUNCTION shiftdesk_audit(p_action text, p_target text, p_outcome text,
                                           p_detail text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE new_id integer;
BEGIN
  IF p_outcome IS NULL OR p_outcome NOT IN ('ok', 'refused', 'failed') THEN
    RAISE EXCEPTION 'audit outcome must be ok, refused or failed, not %', p_outcome;
  END IF;
  INSERT INTO {table} (at, actor, action, target, outcome, detail, via)
  VALUES (now(), session_user, left(coalesce(p_action, ''), 64),
          left(coalesce(p_target, ''), 255), p_outcome, left(coalesce(p_detail, ''), 4000),
          'kernel')
  RETURNING id INTO new_id;
  RETURN new_id;
END $$
""",
        "REVOKE ALL ON FUNCTION shiftdesk_audit(text, text, text, text) FROM PUBLIC",
        f"""
CREATE OR REPLACE FUNCTION shiftdesk_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  what text;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  what := lower(TG_OP);
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'jobs' THEN what := 'cancel'; END IF;
  INSERT INTO {table} (at, actor, action, target, outcome, detail, via)
  VALUES (now(), session_user, TG_TABLE_NAME || '.' || what,
          left(TG_TABLE_NAME || ' ' || r.id::text || ' of ' || r.owner, 255), 'ok', '',
          'database');
  RETURN NULL;
END $$
""",
        "REVOKE ALL ON FUNCTION shiftdesk_audit_row() FROM PUBLIC",
    ]


def protect_table(
    conn: Connection, table: str, access: str, *, member_check: str | None = None
) -> None:
    """Enable row-level security on ``table`` with the policies of its access class.

    Called by migrations (PostgreSQL only; a no-op elsewhere).

    Parameters
    ----------
    conn : Connection
        The migration's connection.
    table : str
        Table name.
    access : str
        ``"owner"``, ``"member"``, ``"shared"`` or ``"audit"`` (see the module docstring).
    member_check : str, optional
        For ``"member"`` tables: the SQL condition that lets a member read a row.
    """
    if conn.dialect.name != "postgresql":
        return
    if access not in ACCESS_CLASSES:
        raise BoundaryError(f"unknown access class {access!r} for table {table!r}")
    t = _ident(table)
    statements = [f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"]
    mine = "owner = session_user::text"
    if access == "member" and not member_check:
        raise BoundaryError(f"member table {table!r} needs a member_check condition")
    if access in ("owner", "member"):
        readers = f"{mine} OR shiftdesk_is_admin()"
        if access == "member":
            readers += f" OR ({member_check})"
        statements += [
            f"CREATE POLICY owner_read ON {t} FOR SELECT USING ({readers})",
            f"CREATE POLICY owner_insert ON {t} FOR INSERT WITH CHECK ({mine})",
            f"CREATE POLICY owner_update ON {t} FOR UPDATE "
            f"USING ({mine} OR shiftdesk_is_admin()) WITH CHECK ({mine} OR shiftdesk_is_admin())",
            f"CREATE POLICY owner_delete ON {t} FOR DELETE USING ({mine} OR shiftdesk_is_admin())",
        ]
    elif access == "shared":
        statements.append(f"CREATE POLICY shared_read ON {t} FOR SELECT USING (true)")
    else:
        statements.append(
            f"CREATE POLICY audit_read ON {t} FOR SELECT "
            "USING (actor = session_user::text OR shiftdesk_is_admin())"
        )
    for statement in statements:
        conn.execute(text(statement))


def audit_row_changes(conn: Connection, table: str, *, updates: str = "") -> None:
    """Record inserts and deletes of ``table`` (and updates, or only ``updates``) in the audit.

    Parameters
    ----------
    conn : Connection
        The migration's connection (PostgreSQL only; a no-op elsewhere).
    table : str
        A table with ``id`` and ``owner`` columns.
    updates : str
        ``"all"`` for every update; a SQL condition on ``OLD``/``NEW`` for some; ``""``
        for none.
    """
    if conn.dialect.name != "postgresql":
        return
    t = _ident(table)
    conn.execute(
        text(
            f"CREATE TRIGGER audit_{table}_rows AFTER INSERT OR DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION shiftdesk_audit_row()"
        )
    )
    if updates == "all":
        conn.execute(
            text(
                f"CREATE TRIGGER audit_{table}_updates AFTER UPDATE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION shiftdesk_audit_row()"
            )
        )
    elif updates:
        conn.execute(
            text(
                f"CREATE TRIGGER audit_{table}_updates AFTER UPDATE ON {t} "
                f"FOR EACH ROW WHEN ({updates}) EXECUTE FUNCTION shiftdesk_audit_row()"
            )
        )


# -- used by the hub (as the table owner, with CREATEROLE) ------------------------------------


def _tables() -> dict[str, str]:
    """Every shiftdesk table and its access class (from ``Table.info``)."""
    from shiftdesk.domains import load_records
    from shiftdesk.storage.models import Base

    load_records()  # every domain's, not only those this process imported
    found: dict[str, str] = {}
    for name, table in Base.metadata.tables.items():
        access = table.info.get("access")
        if access not in ACCESS_CLASSES:
            raise BoundaryError(
                f"table {name!r} does not declare its access class (info={{'access': ...}} "
                f"with one of {', '.join(ACCESS_CLASSES)}): it cannot be exposed to users"
            )
        found[name] = str(access)
    return found


def _role_exists(conn: Connection, name: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
    return found.first() is not None


def _is_member(conn: Connection, member: str, group: str) -> bool:
    row = conn.execute(
        text(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = :g AND u.rolname = :u"
        ),
        {"g": group, "u": member},
    ).first()
    return row is not None


def unprotected_tables(conn: Connection) -> list[str]:
    """Tables of the current schema without row-level security (``alembic_version`` aside)."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND NOT c.relrowsecurity AND c.relname <> 'alembic_version' ORDER BY 1"
        )
    ).all()
    return [r[0] for r in rows]


def secure(database: Any) -> list[str]:
    """Make the database a trust boundary: group roles, grants, checks. Safe to repeat.

    Run by the hub at every start, connected as the owner of the tables (a role with
    CREATEROLE). Users get exactly the privileges of their tables' access classes, the
    database's default privileges for everybody (``PUBLIC``) are withdrawn, and every
    table must have row-level security.

    Parameters
    ----------
    database : shiftdesk.storage.Database
        The migrated database (PostgreSQL).

    Returns
    -------
    list of str
        What was checked, for the start banner.

    Raises
    ------
    BoundaryError
        Not PostgreSQL, the connecting role may not create roles, or a table is unprotected.
    """
    engine = database.engine
    if engine.dialect.name != "postgresql":
        raise BoundaryError(
            "a hub with per-user accounts needs PostgreSQL (SQLite has no roles); set "
            "database.url to a postgresql+psycopg:// URL or leave it empty for the hub's own"
        )
    tables = _tables()
    with engine.begin() as conn:
        me = conn.execute(text("SELECT current_user, current_database()")).one()
        owner, dbname = str(me[0]), str(me[1])
        can = conn.execute(
            text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        if not can:
            raise BoundaryError(
                f"the database role {owner!r} may not create roles, which the hub needs (one "
                f"role per user): ALTER ROLE {owner} CREATEROLE, as a superuser"
            )
        for role in (USERS_ROLE, ADMINS_ROLE):
            if not _role_exists(conn, role):
                conn.execute(text(f"CREATE ROLE {_ident(role)} NOLOGIN"))
        missing = unprotected_tables(conn)
        if missing:
            raise BoundaryError(
                f"tables without row-level security: {', '.join(missing)}. Every table needs "
                "protect_table() in its migration; users are not let in until it has"
            )
        users = _ident(USERS_ROLE)
        db = _ident(dbname)
        statements = [
            f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {db} TO {users}",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {users}",
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {users}",
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC",
            f"GRANT SELECT ON alembic_version TO {users}",
            "REVOKE ALL ON FUNCTION shiftdesk_audit(text, text, text, text) FROM PUBLIC",
            f"GRANT EXECUTE ON FUNCTION shiftdesk_audit(text, text, text, text) TO {users}",
        ]
        for name, access in sorted(tables.items()):
            t = _ident(name)
            if access in ("owner", "member"):
                statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {users}")
            else:
                statements.append(f"GRANT SELECT ON {t} TO {users}")
        sequences = conn.execute(
            text(
                "SELECT s.relname, t.relname FROM pg_class s "
                "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                "JOIN pg_class t ON t.oid = d.refobjid "
                "JOIN pg_namespace n ON n.oid = s.relnamespace "
                "WHERE s.relkind = 'S' AND n.nspname = current_schema()"
            )
        ).all()
        for seq, table in sequences:
            if tables.get(table) in ("owner", "member"):
                statements.append(f"GRANT USAGE ON SEQUENCE {_ident(seq)} TO {users}")
        for statement in statements:
            conn.execute(text(statement))
    return [f"database trust boundary: {len(tables)} tables under row-level security"]


def check_user_name(name: str) -> None:
    """Refuse hub user names that would take a reserved database role.

    Raises
    ------
    BoundaryError
        ``name`` is reserved (``postgres``, ``pg_*``, ``shiftdesk*``).
    """
    if not name or _RESERVED.match(name.lower()):
        raise BoundaryError(
            f"the user name {name!r} is reserved for the database's own roles; this account "
            "cannot use shiftdesk on the hub. Ask the administrator for another user name"
        )


def ensure_user_role(database: Any, name: str, *, admin: bool = False) -> None:
    """Create the login role of hub user ``name`` (if needed) and set its admin membership.

    Parameters
    ----------
    database : shiftdesk.storage.Database
        Connected as the table owner (CREATEROLE).
    name : str
        The hub user name (also the role name).
    admin : bool
        Whether the user is a shiftdesk administrator (hub admin).

    Raises
    ------
    BoundaryError
        The name is reserved, or a role of that name exists and is not a shiftdesk user.
    """
    check_user_name(name)
    role = _ident(name)
    with database.engine.begin() as conn:
        if _role_exists(conn, name):
            if not _is_member(conn, name, USERS_ROLE):
                raise BoundaryError(
                    f"the database already has a role {name!r} that is not a shiftdesk user; "
                    "the hub will not hand it to a user. Rename the hub user or drop the role"
                )
        else:
            conn.execute(text(f"CREATE ROLE {role} LOGIN IN ROLE {_ident(USERS_ROLE)}"))
        powers = conn.execute(
            text(
                "SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = :n"
            ),
            {"n": name},
        ).scalar()
        if powers:
            raise BoundaryError(
                f"the database role {name!r} has superuser, replication or BYPASSRLS rights, "
                "which would put it above row-level security; the hub will not hand it to a "
                f"user. A superuser must take them away (ALTER ROLE ... NOSUPERUSER "
                "NOREPLICATION NOBYPASSRLS)"
            )
        # whatever else it was given by hand: a user role gets nothing beyond its group
        conn.execute(text(f"ALTER ROLE {role} LOGIN NOCREATEDB NOCREATEROLE INHERIT"))
        _set_admin(conn, name, admin)


def _set_admin(conn: Connection, name: str, admin: bool) -> None:
    member = _is_member(conn, name, ADMINS_ROLE)
    if admin and not member:
        conn.execute(text(f"GRANT {_ident(ADMINS_ROLE)} TO {_ident(name)}"))
    elif member and not admin:
        conn.execute(text(f"REVOKE {_ident(ADMINS_ROLE)} FROM {_ident(name)}"))


def set_admin(database: Any, name: str, admin: bool) -> bool:
    """Set one user role's administrator membership; True if it changed."""
    with database.engine.begin() as conn:
        if not _is_member(conn, name, USERS_ROLE):
            return False
        if admin == _is_member(conn, name, ADMINS_ROLE):
            return False
        _set_admin(conn, name, admin)
        return True


def sync_admins(database: Any, admins: Iterable[str]) -> list[str]:
    """Make exactly ``admins`` (of the existing user roles) members of :data:`ADMINS_ROLE`.

    Returns
    -------
    list of str
        What changed (``"+name"``, ``"-name"``).
    """
    wanted = set(admins)
    changed: list[str] = []
    with database.engine.begin() as conn:
        users = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT u.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                    "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = :g"
                ),
                {"g": USERS_ROLE},
            )
        }
        for name in sorted(users):
            admin = name in wanted
            if admin != _is_member(conn, name, ADMINS_ROLE):
                _set_admin(conn, name, admin)
                changed.append(("+" if admin else "-") + name)
    return changed


def sync_groups(database: Any, members: Mapping[str, Iterable[str]]) -> int:
    """Make ``group_members`` say exactly which hub groups the users in ``members`` are in.

    ``members`` maps each user the hub named to their groups; rows of users not named are
    left alone (the caller passes every user when it has the whole list). Returns how many
    rows changed. Works on SQLite too (where nothing reads the table).
    """
    from shiftdesk.storage.models import GroupMemberRecord

    changed = 0
    with database.session() as s:
        for user, groups in members.items():
            wanted = {str(g) for g in groups}
            have = set(
                s.scalars(
                    select(GroupMemberRecord.group_name).where(GroupMemberRecord.member == user)
                )
            )
            for group in have - wanted:
                s.execute(
                    delete(GroupMemberRecord).where(
                        GroupMemberRecord.member == user, GroupMemberRecord.group_name == group
                    )
                )
            for group in sorted(wanted - have):
                s.add(GroupMemberRecord(group_name=group, member=user))
            changed += len(have ^ wanted)
    return changed


def user_url(template: str, name: str) -> str:
    """The database URL of hub user ``name`` from a template with ``{role}``."""
    from urllib.parse import quote

    return template.replace("{role}", quote(name, safe=""))


def connected_role(database: Any) -> str | None:
    """The role this database connection authenticated as, or ``None`` on SQLite."""
    if database.engine.dialect.name != "postgresql":
        return None
    with database.engine.connect() as conn:
        return str(conn.execute(text("SELECT session_user")).scalar())


def is_user_role(database: Any) -> bool:
    """Whether this connection is a hub user's role (subject to row-level security)."""
    if database.engine.dialect.name != "postgresql":
        return False
    with database.engine.connect() as conn:
        return _is_member(conn, str(conn.execute(text("SELECT session_user")).scalar()), USERS_ROLE)
