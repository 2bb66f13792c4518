"""The database side of the trust boundary, on a real PostgreSQL.

The test server trusts TCP logins (authentication is tested end to end with peer
authentication in tests/e2e/test_boundary.py); here each user connects with their own
role and row-level security, grants and the audit functions decide what they get.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from shiftdesk.audit import entries, record
from shiftdesk.daq.experiment import create_experiment
from shiftdesk.errors import StorageError
from shiftdesk.identity import Identity
from shiftdesk.jobs.store import create_job
from shiftdesk.reflectometry.library import Library
from shiftdesk.storage import Database
from shiftdesk.storage.boundary import (
    BoundaryError,
    connected_role,
    ensure_user_role,
    is_user_role,
    secure,
    sync_admins,
    unprotected_tables,
)
from shiftdesk.storage.models import Base

DATA = "# Q R dR\n0.01 1.0 0.01\n0.02 0.5 0.01\n0.03 0.1 0.01\n"


@pytest.fixture
def boundary(postgres_url: str) -> Iterator[tuple[Database, dict[str, Database], str]]:
    """A secured database and connections as alice, bob and carol (an admin)."""
    suffix = uuid.uuid4().hex[:6]
    names = {k: f"{k}_{suffix}" for k in ("alice", "bob", "carol")}
    owner = Database(postgres_url)
    secure(owner)
    for key, name in names.items():
        ensure_user_role(owner, name, admin=key == "carol")
    host = postgres_url.split("@", 1)[1]
    users = {key: Database(f"postgresql+psycopg://{name}@{host}") for key, name in names.items()}
    try:
        yield owner, users, suffix
    finally:
        for db in users.values():
            db.dispose()
        owner.dispose()


def _ids(suffix: str) -> dict[str, Identity]:
    return {k: Identity(f"{k}_{suffix}") for k in ("alice", "bob", "carol")}


def test_every_table_declares_access_and_has_row_level_security(postgres_url: str) -> None:
    from shiftdesk.domains import load_records

    load_records()
    for name, table in Base.metadata.tables.items():
        assert table.info.get("access") in ("owner", "member", "shared", "audit"), name
    db = Database(postgres_url)
    try:
        with db.engine.connect() as conn:
            assert unprotected_tables(conn) == []
    finally:
        db.dispose()


def test_users_see_and_change_only_their_own_rows(boundary) -> None:  # type: ignore[no-untyped-def]
    owner, users, suffix = boundary
    who = _ids(suffix)
    alice = Library(users["alice"], who["alice"])
    data_id = alice.add_data(DATA.encode(), "a.txt")[0]
    assert connected_role(users["alice"]) == who["alice"].name
    assert is_user_role(users["alice"]) and not is_user_role(owner)

    bob_db = users["bob"]
    with bob_db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM data_files")).scalar() == 0
        # an update or delete of alice's row touches nothing
        assert conn.execute(text("UPDATE data_files SET name = 'x'")).rowcount == 0
        assert conn.execute(text("DELETE FROM data_files")).rowcount == 0
        conn.commit()
    # bob claiming to be alice still writes (or fails to write) as bob
    with pytest.raises(StorageError, match="another user"):
        Library(bob_db, who["alice"]).add_data(DATA.encode(), "forged.txt")
    with owner.engine.connect() as conn:
        names = conn.execute(text("SELECT owner, name FROM data_files")).all()
    assert [tuple(r) for r in names] == [(who["alice"].name, "a.txt")]
    assert data_id

    # the admin role sees everything
    with users["carol"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM data_files")).scalar() == 1


def test_jobs_of_others_cannot_be_seen_or_cancelled(boundary) -> None:  # type: ignore[no-untyped-def]
    owner, users, suffix = boundary
    who = _ids(suffix)
    job_id = create_job(
        "test.sleep", {"seconds": 1}, title="t", database=users["alice"], identity=who["alice"]
    )
    with users["bob"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
        changed = conn.execute(
            text("UPDATE jobs SET cancel_requested = true WHERE id = :i"), {"i": job_id}
        ).rowcount
        conn.commit()
    assert changed == 0
    with owner.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT cancel_requested FROM jobs WHERE id = :i"), {"i": job_id}
            ).scalar()
            is False
        )


def test_shared_daq_tables_are_read_only_for_users(boundary) -> None:  # type: ignore[no-untyped-def]
    owner, users, suffix = boundary
    admin = Identity("hub-service", admin=True)
    create_experiment(f"e{suffix}", operator_group="operators-x", database=owner, identity=admin)
    alice = users["alice"]
    with alice.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM daq_experiments")).scalar() == f"e{suffix}"
    # even claiming admin rights, the account cannot write the shared tables
    with pytest.raises(StorageError, match="gate"):
        create_experiment(
            f"f{suffix}", operator_group="operators-x", database=alice, identity=admin
        )
    with owner.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM daq_experiments")).scalar() == 1


def test_audit_entries_carry_the_connection_role(boundary) -> None:  # type: ignore[no-untyped-def]
    owner, users, suffix = boundary
    who = _ids(suffix)
    record("test.forged", "x", "refused", "claims to be bob", actor=who["bob"].name,
           database=users["alice"])  # fmt: skip
    with users["alice"].engine.connect() as conn, pytest.raises(Exception, match="permission"):
        conn.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, target, outcome, detail, via) "
                "VALUES (now(), 'bob', 'x', '', 'ok', '', 'kernel')"
            )
        )
    mine = entries(database=users["alice"], action="test.forged")
    assert [(e.actor, e.outcome, e.via) for e in mine] == [(who["alice"].name, "refused", "kernel")]
    assert entries(database=users["bob"], action="test.forged") == []
    assert len(entries(database=users["carol"], action="test.forged")) == 1
    # row changes of private tables are audited by the database itself
    Library(users["bob"], who["bob"]).add_data(DATA.encode(), "b.txt")
    inserted = entries(database=owner, action="data_files.insert")
    assert [e.actor for e in inserted] == [who["bob"].name]
    assert inserted[0].via == "database"


def test_admin_membership_follows_the_hub(boundary) -> None:  # type: ignore[no-untyped-def]
    owner, users, suffix = boundary
    who = _ids(suffix)
    Library(users["alice"], who["alice"]).add_data(DATA.encode(), "a.txt")
    changed = sync_admins(owner, [who["bob"].name])
    assert f"+{who['bob'].name}" in changed and f"-{who['carol'].name}" in changed
    with users["bob"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM data_files")).scalar() == 1
    with users["carol"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM data_files")).scalar() == 0


def test_reserved_and_foreign_role_names_are_refused(postgres_url: str) -> None:
    owner = Database(postgres_url)
    try:
        secure(owner)
        for name in ("postgres", "pg_monitor", "shiftdesk", "shiftdesk_admins"):
            with pytest.raises(BoundaryError, match="reserved"):
                ensure_user_role(owner, name)
        stranger = f"stranger_{uuid.uuid4().hex[:6]}"
        with owner.engine.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{stranger}" LOGIN'))
        with pytest.raises(BoundaryError, match="not a shiftdesk user"):
            ensure_user_role(owner, stranger)
    finally:
        owner.dispose()


def test_secure_refuses_an_unprotected_table(postgres_url: str) -> None:
    owner = Database(postgres_url)
    try:
        with owner.engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, owner text)"))
        with pytest.raises(BoundaryError, match="notes"):
            secure(owner)
    finally:
        owner.dispose()


def test_users_cannot_create_objects_or_temporary_tables(boundary) -> None:  # type: ignore[no-untyped-def]
    _owner, users, _suffix = boundary
    with users["alice"].engine.connect() as conn:
        for statement in (
            "CREATE TABLE mine (id int)",
            "CREATE TEMPORARY TABLE mine (id int)",
            "ALTER TABLE data_files DISABLE ROW LEVEL SECURITY",
            "DROP POLICY owner_read ON data_files",
        ):
            with pytest.raises(Exception, match=r"permission denied|must be owner"):
                conn.execute(text(statement))
            conn.rollback()


def test_a_periodic_admin_sync_older_than_a_token_check_does_not_undo_it(
    boundary,  # type: ignore[no-untyped-def]
) -> None:
    """The hub demotes carol; the gate hears it from her token first, then gets a user
    list it asked for before the demotion: the database keeps her demoted."""
    import asyncio
    import time

    from shiftdesk.hub.gate_service import GateState

    owner, users, suffix = boundary
    who = _ids(suffix)
    Library(users["alice"], who["alice"]).add_data(DATA.encode(), "a.txt")

    async def scenario() -> list[str]:  # (other tests' roles share this server)
        gate = GateState("http://127.0.0.1:1/hub/api", "unused", owner, threads=1)
        try:
            asked = time.monotonic()  # the periodic list: asked before the demotion
            stale = {who["carol"].name: True}
            gate._admins = dict(stale)
            carol = Identity(who["carol"].name, admin=False)
            gate._admin_said[carol.name] = (time.monotonic(), False)  # the token check
            gate._sync_one(carol)
            return gate._apply_admins(stale, asked)
        finally:
            gate.pool.shutdown()

    assert f"+{who['carol'].name}" not in asyncio.run(scenario())
    with users["carol"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM data_files")).scalar() == 0


def test_the_gate_keeps_group_members_as_the_hub_says(
    boundary,  # type: ignore[no-untyped-def]
) -> None:
    """The periodic user list writes everyone's groups; a token check newer than the list
    wins for its user (bob left the team after the list was asked for)."""
    import asyncio
    import time

    from shiftdesk.hub.gate_service import GateState

    owner, _users, suffix = boundary
    who = _ids(suffix)
    team = f"team_{suffix}"

    async def scenario() -> None:
        gate = GateState("http://127.0.0.1:1/hub/api", "unused", owner, threads=1)
        try:
            asked = time.monotonic()
            gate._groups_said[who["bob"].name] = time.monotonic()  # a newer token check
            gate._apply_groups({who["bob"].name: frozenset()}, None)
            listed = {who["alice"].name: frozenset({team}), who["bob"].name: frozenset({team})}
            gate._apply_groups(listed, asked)
        finally:
            gate.pool.shutdown()

    asyncio.run(scenario())
    with owner.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT member FROM group_members WHERE group_name = :g"), {"g": team}
        ).all()
    assert [r[0] for r in rows] == [who["alice"].name]
