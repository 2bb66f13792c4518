"""Data sessions on the hub's PostgreSQL: a user's own kernel (its own role, under
row-level security) cannot see or change another user's session, frames, operations or
stored results, nor be served another user's result by asking the same thing; a session
shared with a user is read, not changed, and its results are served to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError
from tests.datalab._frames import write_frame
from tests.datalab.test_session import slow_op  # noqa: F401  (a fixture)

from shiftdesk.datalab import DataSession
from shiftdesk.datalab.cache import find_result
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.identity import Identity
from shiftdesk.jobs import shutdown_backends
from shiftdesk.storage import Database, reset_default_databases
from shiftdesk.storage.boundary import ensure_user_role, secure, unprotected_tables

pytestmark = pytest.mark.postgres

TABLES = ("datalab_sessions", "datalab_members", "datalab_inputs", "datalab_operations",
          "datalab_results")  # fmt: skip


@pytest.fixture
def hub(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Database, dict[str, Database], dict[str, Identity]]]:
    """The tables' owner and connections as alice, bob and mallory (their own roles)."""
    suffix = uuid.uuid4().hex[:6]
    owner = Database(postgres_url)
    secure(owner)
    who = {k: Identity(f"{k}_{suffix}") for k in ("alice", "bob", "mallory")}
    for identity in who.values():
        ensure_user_role(owner, identity.name)
    host = postgres_url.split("@", 1)[1]
    users = {k: Database(f"postgresql+psycopg://{i.name}@{host}") for k, i in who.items()}
    monkeypatch.setenv("SHIFTDESK_DATABASE_URL", postgres_url)
    reset_default_databases()
    try:
        yield owner, users, who
    finally:
        shutdown_backends()  # the spare workers of each user's local backend
        for db in users.values():
            db.dispose()
        owner.dispose()


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                for t in TABLES}  # fmt: skip


def test_another_users_kernel_sees_and_changes_nothing_and_is_served_nothing(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]], tmp_path: Path
) -> None:
    owner, users, who = hub
    with owner.engine.connect() as conn:
        assert unprotected_tables(conn) == []
    frames = [write_frame(tmp_path / f"f{i}.fits", stars=[(20, 20, 900 + i)]) for i in range(2)]
    alice = DataSession.create("alice's", database=users["alice"], identity=who["alice"])
    alice.add_inputs(frames)
    done = alice.run("median", input_files=alice.inputs)
    files = done.result(timeout=120).files
    assert all(c > 0 for t, c in _counts(users["alice"]).items() if t != "datalab_members")

    # mallory's own connection: nothing of alice's is there
    with pytest.raises(NotFound):
        DataSession.open(alice.id, database=users["mallory"], identity=who["mallory"])
    assert set(_counts(users["mallory"]).values()) == {0}
    with users["mallory"].engine.begin() as conn:
        for table in TABLES:
            assert conn.execute(text(f"DELETE FROM {table}")).rowcount == 0
        assert conn.execute(text("UPDATE datalab_sessions SET shared_with = '*'")).rowcount == 0
        assert conn.execute(text("UPDATE datalab_results SET folder = '/tmp'")).rowcount == 0
        # a member row of her own for alice's session does not make her a member
        conn.execute(
            text("INSERT INTO datalab_members (session_id, member, owner) VALUES (:s, :m, :m)"),
            {"s": alice.id, "m": who["mallory"].name},
        )
    assert _counts(users["mallory"])["datalab_sessions"] == 0
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        users["mallory"].engine.begin() as conn,
    ):
        conn.execute(
            text("INSERT INTO datalab_members (session_id, member, owner) VALUES (:s, :m, :o)"),
            {"s": alice.id, "m": who["mallory"].name, "o": who["alice"].name},
        )
    # the identical request in her own session is not served alice's result
    mine = DataSession.create("mallory's", database=users["mallory"], identity=who["mallory"])
    mine.add_inputs(frames)
    with users["mallory"].session() as s:
        assert find_result(s, who["mallory"], done.key) is None
    theirs = mine.run("median", input_files=mine.inputs)
    assert not theirs.cached and theirs.key == done.key
    theirs.cancel()
    with users["mallory"].engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM datalab_results WHERE owner = :o"), {"o": who["alice"].name}
        )
        assert rows.scalar() == 0
    assert alice.refresh().shared_with == () and len(alice.inputs) == 2

    # shared with bob: he reads it (not changes it) and is served its result
    alice.share(who["bob"].name)
    seen = DataSession.open(alice.id, database=users["bob"], identity=who["bob"])
    assert seen.read_only and len(seen.inputs) == 2
    assert seen.operations[0].result().files == files
    with pytest.raises(PermissionDenied):
        seen.run("median", input_files=seen.inputs)
    with users["bob"].engine.begin() as conn:
        assert conn.execute(text("UPDATE datalab_inputs SET name = 'x'")).rowcount == 0
        assert conn.execute(text("DELETE FROM datalab_operations")).rowcount == 0
    bobs = DataSession.create("bob's", database=users["bob"], identity=who["bob"])
    bobs.add_inputs(frames)
    served = bobs.run("median", input_files=bobs.inputs)
    assert served.cached and served.result().files == files
    # mallory is still out
    assert _counts(users["mallory"])["datalab_results"] == 0

    # unshared: bob's connection no longer sees alice's session, nor is served its result
    alice.unshare()
    assert _counts(users["bob"])["datalab_sessions"] == 1  # his own
    with pytest.raises(NotFound):
        DataSession.open(alice.id, database=users["bob"], identity=who["bob"])
    with users["bob"].session() as s:
        assert find_result(s, who["bob"], done.key) is None
    assert [o.status for o in alice.operations] == ["done"]


def test_a_session_shared_with_a_project_is_read_by_its_members_as_the_hub_says(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]], tmp_path: Path
) -> None:
    """Shared with ``project="m51-team"``: the database lets in whom ``group_members``
    (kept by the gate from the hub) puts in that group, and nobody who merely claims it."""
    from shiftdesk.storage.boundary import sync_groups

    owner, users, who = hub
    team = f"m51-{uuid.uuid4().hex[:6]}"
    frames = [write_frame(tmp_path / f"f{i}.fits", stars=[(20, 20, 900 + i)]) for i in range(2)]
    alice = DataSession.create("alice's", database=users["alice"], identity=who["alice"])
    alice.add_inputs(frames)
    alice.share(project=team)
    bob_in_team = Identity(who["bob"].name, groups=frozenset({team}))
    mallory_claims = Identity(who["mallory"].name, groups=frozenset({team}))

    # the hub has nobody in the group yet: bob's connection sees nothing
    assert _counts(users["bob"])["datalab_sessions"] == 0
    sync_groups(owner, {who["bob"].name: [team]})  # what the gate writes for the hub
    seen = DataSession.open(alice.id, database=users["bob"], identity=bob_in_team)
    assert seen.read_only and len(seen.inputs) == 2
    # mallory's identity object says she is in the team; the database does not agree
    with pytest.raises(NotFound):
        DataSession.open(alice.id, database=users["mallory"], identity=mallory_claims)
    with users["mallory"].engine.begin() as conn, pytest.raises(ProgrammingError):
        conn.execute(
            text("INSERT INTO group_members (group_name, member) VALUES (:g, :m)"),
            {"g": team, "m": who["mallory"].name},
        )
    # bob leaves the group on the hub: the gate's next sync shuts him out
    sync_groups(owner, {who["bob"].name: []})
    with pytest.raises(NotFound):
        DataSession.open(alice.id, database=users["bob"], identity=who["bob"])


def test_a_member_follows_a_running_operation_through_its_row_under_rls(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]],
    tmp_path: Path,
    slow_op: str,  # noqa: F811
) -> None:
    """alice's job (her own role) keeps the operation's row; bob's connection (a member,
    who may not read the job) sees it run and end; mallory's sees no row at all."""
    from tests.datalab.test_member_progress import member_follows_and_is_served

    _owner, users, who = hub
    frames = [write_frame(tmp_path / "f0.fits", stars=[(20, 20, 900)])]
    alice = DataSession.create("alice's", database=users["alice"], identity=who["alice"])
    alice.add_inputs(frames)
    alice.share(who["bob"].name)
    seen = DataSession.open(alice.id, database=users["bob"], identity=who["bob"])
    member_follows_and_is_served(alice, seen, slow_op, steps=40)
    with users["bob"].engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
        # the member reads the row, and cannot write it
        assert conn.execute(text("UPDATE datalab_operations SET progress = 0")).rowcount == 0
    assert _counts(users["mallory"])["datalab_operations"] == 0


def test_two_kernels_settling_one_key_at_once_store_one_result(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request and the one that joined its job, settled by two kernels at the same
    moment (SSH and Dask jobs, whose workers have no database): the second's insert of
    the key's result meets the first's; it is served that result, not an error."""
    from shiftdesk.datalab import cache, state
    from shiftdesk.datalab.records import DataSessionRecord, OperationRecord, ResultRecord

    owner, _users, _who = hub
    user, key = f"carol_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex * 2
    with owner.session() as s:
        session = DataSessionRecord(owner=user, name="race")
        s.add(session)
        s.flush()
        rows = [OperationRecord(session_id=session.id, owner=user, operation="median",
                                version="1", cache_key=key, inputs_json="{}",
                                status="running", cached=joined)
                for joined in (False, True)]  # fmt: skip
        s.add_all(rows)
        s.flush()
        first_id, joined_id = (r.id for r in rows)
    folders = [tmp_path / name for name in ("first", "joined")]
    for folder in folders:
        folder.mkdir()
        (folder / "out.fits").write_bytes(b"x")
    raws = [{"folder": str(f), "result": {"files": ["out.fits"]}, "hashes": {}} for f in folders]

    real_tree_size = cache.tree_size

    def first_kernel_settles_meanwhile(paths: object) -> int:
        # the joined request's kernel has looked (no result yet) and is about to insert:
        # the first request's kernel stores the key's result right now, from its own side
        monkeypatch.setattr(cache, "tree_size", real_tree_size)
        assert state.settle(owner, first_id, status="done", raw=raws[0]) is not None
        return 0

    monkeypatch.setattr(cache, "tree_size", first_kernel_settles_meanwhile)
    joined = state.settle(owner, joined_id, status="done", raw=raws[1])

    with owner.session() as s:
        [stored] = s.scalars(select(ResultRecord).where(ResultRecord.cache_key == key)).all()
        first = s.get(OperationRecord, first_id)
        assert first is not None and first.result_id == stored.id
    assert joined is not None and joined.status == "done" and joined.result_id == stored.id
    assert stored.folder == str(folders[0]) and not folders[1].exists()
