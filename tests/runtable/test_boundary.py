"""Run tables on the hub's PostgreSQL: members read, the owner and editors change through
the gate, and a user's own kernel cannot get around either (real roles and row-level
security; the gate runs in process, see tests/_loopback_gate.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from tests._loopback_gate import LoopbackGate

from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.gate import LocalGate
from shiftdesk.identity import Identity
from shiftdesk.runtable import RunTable
from shiftdesk.storage import Database, reset_default_databases
from shiftdesk.storage.boundary import ensure_user_role, secure

pytestmark = pytest.mark.postgres


@pytest.fixture
def hub(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Database, dict[str, Database], dict[str, Identity]]]:
    """The service's database (the gate's) and connections as alice, bob, dave, mallory."""
    suffix = uuid.uuid4().hex[:6]
    owner = Database(postgres_url)
    secure(owner)
    who = {k: Identity(f"{k}_{suffix}") for k in ("alice", "bob", "dave", "mallory")}
    for identity in who.values():
        ensure_user_role(owner, identity.name)
    host = postgres_url.split("@", 1)[1]
    users = {k: Database(f"postgresql+psycopg://{i.name}@{host}") for k, i in who.items()}
    monkeypatch.setenv("SHIFTDESK_DATABASE_URL", postgres_url)  # the gate's connection
    reset_default_databases()
    try:
        yield owner, users, who
    finally:
        for db in users.values():
            db.dispose()
        owner.dispose()


def as_user(users: dict[str, Database], who: dict[str, Identity], key: str) -> RunTable:
    return RunTable.open("p1", database=users[key], identity=who[key],
                         gate=LoopbackGate(who[key], {}))  # fmt: skip


def test_members_read_editors_edit_through_the_gate_others_see_nothing(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]], tmp_path: Path
) -> None:
    _owner, users, who = hub
    RunTable.create(
        "p1", data=str(tmp_path / "r{run:04d}"), database=users["alice"], identity=who["alice"],
        members=[who["bob"].name], editors=[who["dave"].name],
    )  # fmt: skip
    alice = as_user(users, who, "alice")
    assert alice.add_runs([1, 2], process=False) == [1, 2]
    alice.add_user_variable("sample", "string")
    alice.set(1, "sample", "LaB6")

    bob = as_user(users, who, "bob")
    assert list(bob.table().index) == [1, 2] and bob.table().loc[1, "sample"] == "LaB6"
    with pytest.raises(PermissionDenied, match="may read run table 'p1' but not"):
        bob.set(1, "comment", "bob was here")

    dave = as_user(users, who, "dave")
    dave.set(2, "comment", "dave's note")
    cell = alice.cells([2], ["comment"])[(2, "comment")]
    assert cell.who == who["dave"].name and cell.value == "dave's note"

    # not a member: row-level security hides the table from mallory's own connection
    with pytest.raises(NotFound):
        RunTable.open("p1", database=users["mallory"], identity=who["mallory"],
                      gate=LoopbackGate(who["mallory"], {}))  # fmt: skip
    with users["mallory"].engine.connect() as conn:
        for table in ("runtable_tables", "runtable_runs", "runtable_values", "runtable_variables"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_a_members_own_kernel_cannot_write_around_the_gate(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]], tmp_path: Path
) -> None:
    _owner, users, who = hub
    RunTable.create(
        "p1", data=str(tmp_path / "r{run:04d}"), database=users["alice"], identity=who["alice"],
        members=[who["bob"].name],
    )  # fmt: skip
    alice = as_user(users, who, "alice")
    alice.add_runs([1], process=False)
    alice.set(1, "comment", "alice's")
    # bob builds a table object that claims to be alice and has no gate to stop it
    forged = RunTable.open("p1", database=users["bob"], identity=who["alice"],
                           gate=LocalGate(who["alice"], audit=False))  # fmt: skip
    with pytest.raises(PermissionDenied, match="through the gate"):
        forged.set(1, "comment", "forged")
    with users["bob"].engine.connect() as conn:
        assert conn.execute(text("UPDATE runtable_values SET text = 'x'")).rowcount == 0
        assert conn.execute(text("DELETE FROM runtable_runs")).rowcount == 0
        assert conn.execute(text("UPDATE runtable_tables SET members = '*'")).rowcount == 0
        conn.commit()
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        users["bob"].engine.begin() as conn,
    ):
        conn.execute(
            text(
                "INSERT INTO runtable_members (table_id, member, owner) "
                "SELECT id, :m, owner FROM runtable_tables"
            ),
            {"m": who["mallory"].name},
        )
    assert alice.table().loc[1, "comment"] == "alice's"


def test_the_demo_table_is_made_by_its_first_user_never_by_the_hub(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shiftdesk.runtable import demo, table

    owner, users, who = hub
    assert "first user who opens" in demo.seed_demo(owner, who["alice"])
    assert RunTable.list(database=owner, identity=Identity("hub", admin=True)) == []
    # alice's own server: her database role, her gate
    monkeypatch.setattr(table, "get_gate", lambda: LoopbackGate(who["alice"], {}))
    assert "queued" in demo.seed_demo(users["alice"], who["alice"])
    rt = RunTable.open("demo", database=users["bob"], identity=who["bob"],
                       gate=LoopbackGate(who["bob"], {}))  # fmt: skip
    assert rt.owner == who["alice"].name and len(rt) == demo.RUNS
    assert rt.table().loc[3, "comment"] == "beam lost at 12:03"


def test_plain_python_and_numpy_run_lists_cross_the_gate() -> None:
    import numpy as np

    from shiftdesk.gate.forward import to_json

    assert to_json(range(1, 4)) == [1, 2, 3]
    assert to_json({3, 1}) == [1, 3]
    assert to_json(np.array([4, 5])) == [4, 5] and to_json(np.int64(7)) == 7
    assert to_json(np.float32(0.5)) == 0.5 and to_json(np.bool_(True)) is True
    with pytest.raises(TypeError, match="cannot be sent to the gate"):
        to_json(object())


def test_a_user_cannot_make_themselves_a_member_or_write_into_anothers_table(
    hub: tuple[Database, dict[str, Database], dict[str, Identity]], tmp_path: Path
) -> None:
    """mallory guesses table ids: rows she inserts as their owner (a membership of her
    own, a run, a value) neither let her read alice's table nor appear in it."""
    _owner, users, who = hub
    RunTable.create(
        "p1", data=str(tmp_path / "r{run:04d}"), database=users["alice"], identity=who["alice"],
    )  # fmt: skip
    alice = as_user(users, who, "alice")
    alice.add_runs([1], process=False)
    mallory = who["mallory"].name
    with users["mallory"].engine.connect() as conn:
        for sql in (
            "INSERT INTO runtable_members (table_id, member, owner) VALUES (:t, :m, :m)",
            "INSERT INTO runtable_runs (table_id, run, owner, status, message, seq, created_at, "
            "updated_at) VALUES (:t, 99, :m, 'done', 'injected', 0, now(), now())",
        ):
            for guess in range(1, 200):  # ids are not secret: one insert per guess
                try:
                    with conn.begin_nested():
                        conn.execute(text(sql), {"t": guess, "m": mallory})
                except Exception:  # no such table, or refused: either way not in
                    pass
        conn.commit()
        assert conn.execute(text("SELECT count(*) FROM runtable_tables")).scalar() == 0
    assert list(alice.table().index) == [1]
